// Package secrets is the one check every secret file DuoBox reads goes
// through (the HF token, the JWT signing keys, the GitLab token), and the
// shape checks for what is stored in them.
package secrets

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/duobox/duobox/app"
)

// MaxSize caps a secret file: a 4096-bit PEM key is about 3.3 KB, a token
// well under 1 KB.
const MaxSize = 64 << 10

// Read returns the content of the secret file at path, trimmed of
// surrounding white space, after checking that it is a regular file that
// only its owner can read or write (0600 or stricter), in a folder that
// other users cannot write to, at most MaxSize bytes of text. what names the
// secret in messages ("the Hugging Face token"). A missing file returns an
// error wrapping os.ErrNotExist.
func Read(path, what string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", &app.Problem{Kind: app.KindEnvironment, Err: err,
				What: fmt.Sprintf("%s file %s is missing", what, path), Fix: "run 'duobox init' again to create it, or restore the file"}
		}
		return "", app.Environment(err, "check the file's owner and mode", "cannot read %s file %s: %v", what, path, err)
	}
	if !st.Mode().IsRegular() {
		return "", app.Environment(nil, "put the secret in a regular file (mode 0600)", "%s file %s is not a regular file (%s)", what, path, st.Mode().Type())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", app.Environment(nil, fmt.Sprintf("run 'chmod 600 %s'", path),
			"%s file %s can be read or changed by other users (mode %04o)", what, path, st.Mode().Perm())
	}
	dir := filepath.Dir(path)
	if dst, err := os.Stat(dir); err == nil && dst.Mode().Perm()&0o022 != 0 && dst.Mode()&os.ModeSticky == 0 {
		return "", app.Environment(nil, fmt.Sprintf("run 'chmod 700 %s'", dir),
			"the folder %s holding %s can be written by other users (mode %04o), who could replace the secret", dir, what, dst.Mode().Perm())
	}
	if st.Size() > MaxSize {
		return "", app.Environment(nil, "put only the secret in the file",
			"%s file %s is %d bytes, more than a secret can be (at most %d)", what, path, st.Size(), MaxSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", app.Environment(err, "check the file's owner and mode", "cannot read %s file %s: %v", what, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return "", app.Environment(err, "check the file's owner and mode", "cannot read %s file %s: %v", what, path, err)
	}
	if len(data) > MaxSize || !IsText(data) {
		return "", app.Environment(nil, "put only the secret, as text, in the file",
			"%s file %s is not text (binary data or too long)", what, path)
	}
	return strings.TrimSpace(string(data)), nil
}

// IsText reports whether data is UTF-8 without control characters other than
// tab, CR and LF.
func IsText(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for _, r := range string(data) {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

// CheckHFToken reports whether tok looks like a Hugging Face access token:
// one word of printable ASCII, 8 to 512 characters (hub tokens are "hf_"
// followed by 34 letters; older ones start with "api_").
func CheckHFToken(tok string) error {
	if len(tok) < 8 || len(tok) > 512 {
		return fmt.Errorf("a Hugging Face token is 8 to 512 characters (hf_…), this is %d", len(tok))
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return errors.New("a Hugging Face token is one word of printable ASCII (hf_…); this has spaces, line breaks or other characters")
		}
	}
	return nil
}

// CheckRSAPrivateKeyPEM reports whether data is a PEM RSA private key
// (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY") of at least 2048 bits,
// what the gateway signs its self-signed tokens with (RS256).
func CheckRSAPrivateKeyPEM(data []byte) error {
	block, rest := pem.Decode(data)
	if block == nil {
		return errors.New("it is not a PEM key (-----BEGIN PRIVATE KEY-----)")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return errors.New("it holds more than one PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return fmt.Errorf("it is a PEM %q, not an RSA private key", block.Type)
	}
	if err != nil {
		return fmt.Errorf("it does not parse as a private key: %v", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return fmt.Errorf("it is a %T key; the gateway signs with RSA (RS256)", key)
	}
	if rk.N.BitLen() < 2048 {
		return fmt.Errorf("the RSA key has %d bits; use at least 2048", rk.N.BitLen())
	}
	return nil
}
