package secrets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
)

// TestRead_OneCheckForEverySecretFile: the check every secret read goes
// through (HF token for `weights pull` and `up`, JWT keys, GitLab token):
// a 0644 file, a file in a 0777 folder, a folder, a 100 KB file and a
// binary file are refused with the fix; a 0600 text file is read.
func TestRead_OneCheckForEverySecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := write("good", []byte("hf_abcdefghijklmnopqrstuvwxyz012345\n"), 0o600)
	if v, err := Read(good, "the token"); err != nil || v != "hf_abcdefghijklmnopqrstuvwxyz012345" {
		t.Fatalf("good file: %q %v", v, err)
	}
	open := filepath.Join(t.TempDir(), "world")
	os.MkdirAll(open, 0o777)
	os.Chmod(open, 0o777)
	inOpen := filepath.Join(open, "tok")
	os.WriteFile(inOpen, []byte("hf_abcdefghij"), 0o600)
	cases := map[string]struct {
		path, want string
	}{
		"0644":          {write("loose", []byte("hf_abcdefghij"), 0o644), "chmod 600"},
		"0777 folder":   {inOpen, "chmod 700"},
		"a folder":      {dir, "not a regular file"},
		"100 KB":        {write("big", []byte(strings.Repeat("a", 100<<10)), 0o600), "more than a secret"},
		"binary":        {write("bin", []byte{0x7f, 'E', 'L', 'F', 0, 1, 2}, 0o600), "not text"},
		"missing":       {filepath.Join(dir, "none"), "missing"},
		"invalid utf-8": {write("latin", []byte{0xff, 0xfe, 'a'}, 0o600), "not text"},
	}
	for name, c := range cases {
		_, err := Read(c.path, "the token")
		if err == nil || !strings.Contains(err.Error(), c.want) || app.KindOf(err) != app.KindEnvironment {
			t.Errorf("%s: got %v, want an environment problem with %q", name, err, c.want)
		}
	}
	if _, err := Read(filepath.Join(dir, "none"), "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file does not wrap ErrNotExist: %v", err)
	}
}

func TestCheckHFToken(t *testing.T) {
	for _, ok := range []string{"hf_abcdefghijklmnopqrstuvwxyz012345", "api_org_0123456789"} {
		if err := CheckHFToken(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "short", "hf_abc def", "hf_abc\ndef1234", strings.Repeat("x", 600), "hf_\x00\x01\x02\x03\x04\x05", "hf_ümlautsecret"} {
		if CheckHFToken(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckRSAPrivateKeyPEM(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(rk)
	good := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := CheckRSAPrivateKeyPEM(good); err != nil {
		t.Fatalf("good key refused: %v", err)
	}
	if err := CheckRSAPrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})); err != nil {
		t.Errorf("PKCS#1 refused: %v", err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eder, _ := x509.MarshalPKCS8PrivateKey(ek)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	sder, _ := x509.MarshalPKCS8PrivateKey(small)
	pub, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	for name, bad := range map[string][]byte{
		"garbage":     []byte("garbage"),
		"empty":       nil,
		"ec key":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: eder}),
		"1024 bits":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: sder}),
		"public key":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"broken body": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}),
		"two blocks":  append(append([]byte{}, good...), good...),
	} {
		if CheckRSAPrivateKeyPEM(bad) == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
