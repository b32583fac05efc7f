// Command fakehttp is a test-only multi-call binary for scratch images: as
// "curl" it does the GET DuoBox's ContainerFetcher asks curl for (-w
// '\n%{http_code}'); otherwise it serves GitLab's OpenID discovery and keys
// on :8080, like a GitLab instance on the gateway's network.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if filepath.Base(os.Args[0]) == "curl" {
		curl(os.Args[len(os.Args)-1])
		return
	}
	http.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "http://" + r.Host, "jwks_uri": "http://" + r.Host + "/oauth/discovery/keys"})
	})
	http.HandleFunc("/oauth/discovery/keys", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"xyz","e":"AQAB"}]}`)
	})
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func curl(url string) {
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "curl: (7) %v\n", err)
		os.Exit(7)
	}
	defer res.Body.Close()
	_, _ = io.Copy(os.Stdout, res.Body)
	fmt.Printf("\n%d", res.StatusCode)
}
