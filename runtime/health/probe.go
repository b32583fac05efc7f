package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Probe is one HTTP check and its outcome.
type Probe struct {
	Name      string        `json:"name"` // gateway_healthz, model_health, model_served_name
	URL       string        `json:"url"`
	OK        bool          `json:"ok"`
	Status    int           `json:"http_status,omitempty"`
	Latency   time.Duration `json:"latency_ns"`
	Detail    string        `json:"detail,omitempty"`
	Fix       string        `json:"fix,omitempty"`
	Connected bool          `json:"connected"` // a TCP connection was made
}

// Prober runs the HTTP probes. The zero value uses a client with a 5 s timeout.
type Prober struct {
	Client *http.Client
}

func (p Prober) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return &http.Client{Timeout: 5 * time.Second}
}

// Gateway checks GET <base>/monitoring/healthz (unauthenticated liveness;
// facts: gitlab-ai-gateway.md §5).
func (p Prober) Gateway(ctx context.Context, base string) Probe {
	pr, body := p.get(ctx, "gateway_healthz", strings.TrimRight(base, "/")+"/monitoring/healthz")
	if pr.Connected && !pr.OK {
		pr.Detail = fmt.Sprintf("the gateway answered %d: %s", pr.Status, snippet(body))
		pr.Fix = "read the gateway's log ('duobox logs gateway --level warning')"
	}
	return pr
}

// Model checks GET <base>/health and GET <base>/v1/models, and that the
// served name GitLab will use is among the models.
func (p Prober) Model(ctx context.Context, base, servedName string) []Probe {
	base = strings.TrimRight(base, "/")
	h, body := p.get(ctx, "model_health", base+"/health")
	if h.Connected && !h.OK {
		h.Detail = fmt.Sprintf("the model server answered %d: %s", h.Status, snippet(body))
		h.Fix = "the model may still be loading; otherwise read 'duobox logs model --level warning'"
	}
	m, body := p.get(ctx, "model_served_name", base+"/v1/models")
	if m.OK {
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			m.OK, m.Detail = false, fmt.Sprintf("/v1/models did not return an OpenAI model list: %v", err)
		} else {
			var ids []string
			for _, d := range list.Data {
				ids = append(ids, d.ID)
			}
			if !contains(ids, servedName) {
				m.OK = false
				m.Detail = fmt.Sprintf("the model server serves %q, not %q", strings.Join(ids, `", "`), servedName)
				m.Fix = "redeploy so the served model name matches the name in DuoBox's config (and in GitLab's model identifier custom_openai/<name>)"
			} else {
				m.Detail = "serves " + servedName
			}
		}
	} else if m.Connected {
		m.Detail = fmt.Sprintf("/v1/models answered %d: %s", m.Status, snippet(body))
	}
	return []Probe{h, m}
}

func (p Prober) get(ctx context.Context, name, url string) (Probe, []byte) {
	pr := Probe{Name: name, URL: url}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		pr.Detail = err.Error()
		return pr, nil
	}
	start := time.Now()
	resp, err := p.client().Do(req)
	pr.Latency = time.Since(start)
	if err != nil {
		pr.Detail, pr.Fix = explainTransport(err)
		return pr, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	pr.Connected, pr.Status, pr.OK = true, resp.StatusCode, resp.StatusCode == http.StatusOK
	return pr, body
}

// explainTransport says what a failed connection means.
func explainTransport(err error) (detail, fix string) {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens there (the container is not running, still starting, or listens on another port)",
			"check 'duobox health'; if the container runs, read its log ('duobox logs')"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "no route to the address (the container's network is not reachable from here, for example under rootless Docker)",
			"run the check from the same machine as the engine, or rely on the gateway's model check"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "no answer in time: the server accepted the connection but hangs (overloaded, or still loading)",
			"wait for the model to finish loading; if it persists, read 'duobox logs'"
	case strings.Contains(err.Error(), "no such host"):
		return "the host name does not resolve", "check the host address in DuoBox's config"
	}
	return err.Error(), ""
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
