package hopauth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ParseKeys decodes a key file: one key per line, hex (tried first) or base64 (standard or
// URL alphabet, padded or not), each MinKeyBytes to MaxKeyBytes bytes once decoded. Blank
// lines and lines starting with # are skipped. The first key is the one that signs. It
// reports every bad line at once, by number, never the key material; no key at all, or the
// same key twice, is an error.
func ParseKeys(data []byte) ([]*Key, error) {
	var keys []*Key
	var errs []error
	seen := map[string]int{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		secret, err := decodeKey(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
			continue
		}
		k, err := NewKey(secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
			continue
		}
		if j, dup := seen[k.id]; dup {
			errs = append(errs, fmt.Errorf("line %d: the same key as line %d (id %s)", i+1, j, k.id))
			continue
		}
		seen[k.id] = i + 1
		keys = append(keys, k)
	}
	if len(errs) == 0 && len(keys) == 0 {
		errs = append(errs, errors.New("no key: want one key per line, hex or base64, at least 32 bytes each (e.g. `openssl rand -hex 32`)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return keys, nil
}

// decodeKey decodes one line of a key file.
func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not a hex or base64 key")
}

// LoadKeys reads and parses the key file at path (see ParseKeys). The error names the file.
func LoadKeys(path string) ([]*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read hop key file: %w", err)
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("cannot use hop key file %q: %w", path, err)
	}
	return keys, nil
}

// GenerateKeyFile returns the content of a new key file: one random 32-byte key in hex.
// (Used by the dev stack and tests; operators may use `openssl rand -hex 32`.)
func GenerateKeyFile(random func([]byte) (int, error)) ([]byte, error) {
	b := make([]byte, MinKeyBytes)
	if _, err := random(b); err != nil {
		return nil, fmt.Errorf("cannot generate a hop key: %w", err)
	}
	return []byte(hex.EncodeToString(b) + "\n"), nil
}
