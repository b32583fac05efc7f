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
	"github.com/duobox/duobox/app/secrets"
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
			if _, err := os.Lstat(se.File); err == nil {
				// an existing key must be usable: garbage is refused here, before anything starts
				v, err := secrets.Read(se.File, "the JWT key "+se.Name)
				if err != nil {
					return created, err
				}
				if err := CheckSecretValue(se, v); err != nil {
					return created, err
				}
				continue
			}
			if err := writeRSAKey(se.File); err != nil {
				if full := app.DiskFull(err, filepath.Dir(se.File)); full != nil {
					return created, full
				}
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

// ReadSecrets reads the values of c's secret variables through the one
// secret-file check (secrets.Read: a regular 0600 file of text, capped in
// size, in a folder others cannot write to), and checks each value's shape:
// a JWT key must be a PEM RSA private key, the HF token must look like one.
func ReadSecrets(c Container) (map[string]string, error) {
	out := map[string]string{}
	for _, se := range c.SecretEnv {
		v, err := secrets.Read(se.File, "the secret "+se.Name)
		if err != nil {
			return nil, err
		}
		if err := CheckSecretValue(se, v); err != nil {
			return nil, err
		}
		out[se.Name] = v
	}
	if t := c.DownloadToken; t != nil { // mounted or kept for exports: checked the same way, never in the env
		v, err := secrets.Read(t.File, "the secret "+t.Name)
		if err != nil {
			return nil, err
		}
		if err := CheckSecretValue(*t, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CheckSecretValue checks a secret's shape by what it is: a key file must
// hold a PEM RSA private key, HF_TOKEN a token.
func CheckSecretValue(se SecretEnv, v string) error {
	switch {
	case strings.HasSuffix(se.File, ".key"):
		if err := secrets.CheckRSAPrivateKeyPEM([]byte(v)); err != nil {
			return app.Environment(err, fmt.Sprintf("remove %s and run 'duobox up' to generate a new key pair (or put an RSA private key in PEM there)", se.File),
				"the JWT key %s for %s is not usable: %v", se.File, se.Name, err)
		}
	case se.Name == "HF_TOKEN":
		if err := secrets.CheckHFToken(v); err != nil {
			return app.Environment(err, "run 'duobox init --force --hf-token-file FILE' with the token from https://huggingface.co/settings/tokens",
				"the Hugging Face token in %s is not a token: %v", se.File, err)
		}
	}
	return nil
}

// ReadSecretFile is ReadSecret for exports: the same check as ReadSecrets.
func ReadSecretFile(path string) ([]byte, error) {
	v, err := secrets.Read(path, "the secret")
	return []byte(v), err
}

// GatewayServiceName is the gateway's Cloud Connector service name
// (AIGW_CLOUD_CONNECTOR_SERVICE_NAME, "gitlab-ai-gateway" in the images): the
// audience the gateway decodes tokens with and the issuer of self-signed tokens
// (movax01h/ai-gateway docs/auth.md; gitlab_cloud_connector TokenAuthority.encode,
// in-tree until f73a3b07d as ai_gateway/cloud_connector/token_authority.py).
const GatewayServiceName = "gitlab-ai-gateway"

// GatewaySigningKeyID is the key id the gateway publishes for the public half
// of AIGW_SELF_SIGNED_JWT__SIGNING_KEY: "<service name>_signing_key"
// (LocalAuthProvider.load_jwks, ai_gateway/cloud_connector/providers.py before
// f73a3b07d; the library moved out of the tree with the same rule).
const GatewaySigningKeyID = GatewayServiceName + "_signing_key"

// GatewayClaims are the claims of a self-signed gateway token beyond iss, aud
// and the times. The gateway compares each non-empty one with its header
// (gitlab_cloud_connector auth._validate_headers): Subject with
// X-Gitlab-Global-User-Id (the issuer is the gateway itself), Realm with
// X-Gitlab-Realm, InstanceID with X-Gitlab-Instance-Id; and it allows a unit
// primitive only when Scopes lists it (CloudConnectorUser.can).
type GatewayClaims struct {
	Subject    string
	Realm      string // gitlab_realm; "" leaves the claim out
	InstanceID string // gitlab_instance_id; "" leaves the claim out
	Scopes     []string
}

// MintGatewayToken signs a short-lived RS256 JWT with the gateway's
// self-signed key (PEM), for DuoBox's own test calls to the gateway without
// turning auth bypass on. It carries what the gateway's TokenAuthority puts in
// its own self-signed tokens: iss = aud = gitlab-ai-gateway, sub, the realm and
// instance id when given, scopes, iat/nbf/exp and a jti.
func MintGatewayToken(keyPEM []byte, c GatewayClaims, ttl time.Duration) (string, error) {
	if c.Subject == "" {
		return "", errors.New("mint token: no subject (the gateway compares it with X-Gitlab-Global-User-Id)")
	}
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
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": GatewaySigningKeyID})
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	m := map[string]any{"iss": GatewayServiceName, "aud": GatewayServiceName, "sub": c.Subject, "scopes": scopes,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": fmt.Sprintf("%x", jti)}
	if c.Realm != "" {
		m["gitlab_realm"] = c.Realm
	}
	if c.InstanceID != "" {
		m["gitlab_instance_id"] = c.InstanceID
	}
	claims, _ := json.Marshal(m)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
