package hopauth_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/internal/hopauth"
)

// FuzzParseHeader feeds untrusted header values to ParseHeader and Verify: they never panic,
// every value ParseHeader accepts renders back to itself, and nothing but a real signature
// verifies.
func FuzzParseHeader(f *testing.F) {
	k := newKey(f, 1)
	v := newVerifier(f, k)
	good := sign(f, k, t0, claims)
	for _, s := range []string{good, "", "v1.", "v1.1.abcdef01.", "v2.1700000000.abcdef01." + strings.Repeat("A", 43), strings.Repeat("9", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		p, err := hopauth.ParseHeader(h)
		if err == nil {
			if back := "v1." + strconv.FormatInt(p.Unix, 10) + "." + p.KeyID + "." + p.MAC; back != h {
				t.Errorf("ParseHeader(%q) = %+v, which renders as %q", h, p, back)
			}
		} else if !errors.Is(err, hopauth.ErrMalformed) && !errors.Is(err, hopauth.ErrMissing) {
			t.Errorf("ParseHeader(%q): %v", h, err)
		}
		if err := v.Verify(h, t0, claims); err == nil && h != good {
			t.Errorf("Verify accepted %q", h)
		}
	})
}
