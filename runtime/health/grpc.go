package health

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// AgentProbeName is the probe of the Agent Platform's gRPC health.
const AgentProbeName = "agent_platform_grpc"

// The gRPC health protocol (grpc.health.v1, grpc/grpc doc/health-checking.md):
// HealthCheckResponse.ServingStatus values.
const (
	grpcUnknown        = 0
	grpcServing        = 1
	grpcNotServing     = 2
	grpcServiceUnknown = 3
)

var grpcStatusNames = map[uint64]string{grpcUnknown: "UNKNOWN", grpcServing: "SERVING", grpcNotServing: "NOT_SERVING", grpcServiceUnknown: "SERVICE_UNKNOWN"}

// AgentPlatform calls grpc.health.v1.Health/Check (service "") on the Agent
// Platform's port at addr (host:port), in plaintext HTTP/2 as GitLab dials it
// when the service is not secure. The Duo Workflow Service registers that
// health service and sets "" to SERVING once it serves
// (duo_workflow_service/server.py, serve → set_health_status); when its start
// fails ("Could not prefetch keys", interceptors/authentication_interceptor.py)
// nothing answers there, while the gateway's HTTP side keeps running.
func (p Prober) AgentPlatform(ctx context.Context, addr string) Probe {
	url := "http://" + addr + "/grpc.health.v1.Health/Check"
	pr := Probe{Name: AgentProbeName, URL: "grpc://" + addr + "/grpc.health.v1.Health/Check"}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true) // prior-knowledge h2c, as gRPC without TLS
	timeout := 5 * time.Second
	if p.Client != nil && p.Client.Timeout > 0 {
		timeout = p.Client.Timeout
	}
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{Protocols: &protocols}}
	// An empty HealthCheckRequest (service "") is a zero-length message:
	// the 5-byte frame header alone (not compressed, length 0).
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("\x00\x00\x00\x00\x00"))
	if err != nil {
		pr.Detail = err.Error()
		return pr
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	start := time.Now()
	resp, err := hc.Do(req)
	pr.Latency = time.Since(start)
	if err != nil {
		d, fix := explainTransport(err)
		if strings.Contains(d, "connection refused") {
			pr.Detail = "nothing listens on the Agent Platform port: the Duo Workflow Service is not running inside the gateway container"
			pr.Fix = "read the gateway's log ('duobox logs gateway --level warning'): the service logs why it stopped"
		} else if e := err.Error(); strings.Contains(e, "http2") || strings.Contains(e, "EOF") || strings.Contains(e, "malformed") ||
			// A peer that accepted the connection and then closed it on the
			// HTTP/2 preface (an HTTP/1 server): which of these the client
			// sees depends on when the close lands while it writes.
			strings.Contains(e, "broken pipe") || strings.Contains(e, "connection reset") {
			pr.Connected = true
			pr.Detail = "the Agent Platform port does not speak plaintext gRPC: " + err.Error()
			pr.Fix = "if the service runs with TLS, GitLab needs the secure setting on; otherwise something else holds the port"
		} else {
			pr.Detail, pr.Fix = "the Agent Platform did not answer: "+d, fix
		}
		return pr
	}
	defer resp.Body.Close()
	pr.Connected, pr.Status = true, resp.StatusCode
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		pr.Detail = fmt.Sprintf("the Agent Platform port answered HTTP %d (%s), not gRPC", resp.StatusCode, resp.Header.Get("Content-Type"))
		pr.Fix = "another server holds the Agent Platform port; check the gateway's agent port in DuoBox's config"
		return pr
	}
	// grpc-status comes in the trailers, or in the headers of a trailers-only answer.
	code := resp.Trailer.Get("Grpc-Status")
	msg := resp.Trailer.Get("Grpc-Message")
	if code == "" {
		code, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if code != "0" {
		pr.Detail = fmt.Sprintf("the health check failed with gRPC status %s %s", code, msg)
		if code == "12" {
			pr.Detail = "the Agent Platform port serves gRPC without the health service (UNIMPLEMENTED)"
		}
		pr.Fix = "read the gateway's log ('duobox logs gateway --level warning')"
		return pr
	}
	status, err := servingStatus(body)
	if err != nil {
		pr.Detail = "the health answer is not a HealthCheckResponse: " + err.Error()
		return pr
	}
	if status != grpcServing {
		pr.Detail = "the Duo Workflow Service reports " + grpcStatusNames[status] + " (it sets NOT_SERVING while it shuts down)"
		pr.Fix = "wait a moment; if it stays, read 'duobox logs gateway --level warning'"
		return pr
	}
	pr.OK, pr.Detail = true, "SERVING"
	return pr
}

// servingStatus decodes a framed HealthCheckResponse: field 1 (status, a
// varint enum); an empty message is UNKNOWN.
func servingStatus(frame []byte) (uint64, error) {
	if len(frame) < 5 {
		return 0, fmt.Errorf("short frame (%d bytes)", len(frame))
	}
	if frame[0] != 0 {
		return 0, fmt.Errorf("compressed message")
	}
	n := binary.BigEndian.Uint32(frame[1:5])
	msg := frame[5:]
	if uint32(len(msg)) < n {
		return 0, fmt.Errorf("message cut short")
	}
	msg = msg[:n]
	var status uint64
	for len(msg) > 0 {
		key, k := binary.Uvarint(msg)
		if k <= 0 {
			return 0, fmt.Errorf("bad field key")
		}
		msg = msg[k:]
		if key&7 != 0 { // only varints in this message
			return 0, fmt.Errorf("unexpected wire type %d", key&7)
		}
		v, k := binary.Uvarint(msg)
		if k <= 0 {
			return 0, fmt.Errorf("bad varint")
		}
		msg = msg[k:]
		if key>>3 == 1 {
			status = v
		}
	}
	return status, nil
}
