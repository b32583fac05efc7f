package main

// The Agent Platform half of the gateway image: the Duo Workflow Service, a
// gRPC server on PORT (50052) run next to the gateway by the image's runner
// (docker/self_hosted/Dockerfile: ENABLE_DUO_WORKFLOW_SERVICE=true). The
// stand-in serves only grpc.health.v1.Health/Check, over plaintext HTTP/2.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// servingFrame is a framed HealthCheckResponse{status: SERVING (1)}.
var servingFrame = []byte{0, 0, 0, 0, 2, 0x08, 0x01}

// consoleLog prints a structlog console line as the Duo Workflow Service
// writes them (not JSON: the log viewer must take both shapes).
func consoleLog(level, msg string) {
	fmt.Printf("%s [%-9s] %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), level, msg)
}

// serveAgentPlatform runs the Duo Workflow Service stand-in on port.
//
// DUOBOX_FAKE_AGENT_KEYS_UNREACHABLE=1 plays its failed start: the
// authentication interceptor cannot fetch the JWKS, logs "Could not prefetch
// keys" (logger.fatal) and then "Failed to initialize OIDC auth provider:
// Could not prefetch keys", and raises, so the service never listens
// (duo_workflow_service/interceptors/authentication_interceptor.py), while the
// gateway's HTTP side keeps running.
func serveAgentPlatform(port string) {
	if os.Getenv("DUOBOX_FAKE_AGENT_KEYS_UNREACHABLE") != "" {
		consoleLog("critical", "Could not prefetch keys")
		consoleLog("critical", "Failed to initialize OIDC auth provider: Could not prefetch keys")
		return
	}
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		consoleLog("error", "duo-workflow-service: cannot listen: "+err.Error())
		return
	}
	mux := http.NewServeMux()
	// duo_workflow_service/server.py serve: health.aio.HealthServicer, "" and
	// the DuoWorkflow service set to SERVING.
	mux.HandleFunc("POST /grpc.health.v1.Health/Check", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(servingFrame)
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// gRPC's answer to an unknown method: trailers-only, UNIMPLEMENTED (12).
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "12")
		w.Header().Set("Grpc-Message", "Method not found!")
		w.WriteHeader(http.StatusOK)
	})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	consoleLog("info", "Duo Workflow Service listening on port "+port)
	srv := &http.Server{Handler: mux, Protocols: &protocols}
	if err := srv.Serve(l); err != nil {
		consoleLog("error", "duo-workflow-service: "+err.Error())
	}
}
