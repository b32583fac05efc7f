package stack

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
)

// EnsureKeys creates, for every JWT key file the spec reads that does not
// exist yet, an RSA 2048 private key (PKCS#8 PEM, as 'openssl genrsa' writes)
// in a 0600 file. Existing keys are kept. It returns the files it created.
func EnsureKeys(s Spec) ([]string, error) {
	var created []string
	for _, c := range s.Containers {
		for _, se := range c.SecretEnv {
			if !strings.HasSuffix(se.File, ".key") {
				continue
			}
			if _, err := os.Stat(se.File); err == nil {
				continue
			}
			if err := writeRSAKey(se.File); err != nil {
				return created, app.Environment(err, "check that the secrets folder is writable", "cannot create the key %s: %v", se.File, err)
			}
			created = append(created, se.File)
		}
	}
	return created, nil
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// ReadSecrets reads the values of c's secret variables. Each file must exist
// and be readable by its owner only (0600), or the read is refused.
func ReadSecrets(c Container) (map[string]string, error) {
	out := map[string]string{}
	for _, se := range c.SecretEnv {
		st, err := os.Stat(se.File)
		if err != nil {
			return nil, app.Environment(err, "run 'duobox init' again to create it, or restore the file",
				"the secret file %s for %s is missing", se.File, se.Name)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, app.Environment(nil, fmt.Sprintf("run 'chmod 600 %s'", se.File),
				"the secret file %s can be read by other users (mode %o)", se.File, st.Mode().Perm())
		}
		b, err := os.ReadFile(se.File)
		if err != nil {
			return nil, app.Environment(err, "check the file's owner and mode", "cannot read the secret file %s: %v", se.File, err)
		}
		out[se.Name] = strings.TrimRight(string(b), "\r\n")
	}
	return out, nil
}

// MintGatewayToken signs a short-lived RS256 JWT with the gateway's
// self-signed key (PEM), for DuoBox's own test calls to the gateway without
// turning auth bypass on. The claims the real gateway checks beyond the
// signature are UNCONFIRMED (facts §8).
func MintGatewayToken(keyPEM []byte, subject string, ttl time.Duration) (string, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return "", errors.New("mint token: the key is not PEM")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return "", errors.New("mint token: the key is not RSA")
		}
		key = rk
	} else if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	now := time.Now()
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "gitlab_ai_gateway_signing_key"})
	claims, _ := json.Marshal(map[string]any{"iss": "gitlab-ai-gateway", "aud": "gitlab-ai-gateway", "sub": subject,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix()})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
