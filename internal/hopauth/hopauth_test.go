package hopauth_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/testkit"
)

var t0 = time.Unix(1_700_000_000, 0)

func newKey(t testing.TB, fill byte) *hopauth.Key {
	t.Helper()
	k, err := hopauth.NewKey(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newVerifier(t testing.TB, keys ...*hopauth.Key) *hopauth.Verifier {
	t.Helper()
	v, err := hopauth.NewVerifier(keys, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t testing.TB, k *hopauth.Key, at time.Time, c hopauth.Claims) string {
	t.Helper()
	s, err := hopauth.Sign(k, at, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var claims = hopauth.Claims{Audience: hopauth.AudienceNormalizer, Tenant: "acme", Count: "12"}

func TestVerifyAcceptsWhatWasSignedWithinTheSkew(t *testing.T) {
	k := newKey(t, 1)
	v := newVerifier(t, k)
	for _, d := range []time.Duration{0, 5 * time.Minute, -5 * time.Minute, 299 * time.Second} {
		if err := v.Verify(sign(t, k, t0, claims), t0.Add(d), claims); err != nil {
			t.Errorf("verified %v later: %v", d, err)
		}
	}
	h := sign(t, k, t0, claims)
	if !strings.HasPrefix(h, "v1.1700000000."+k.ID()+".") || len(h) != len("v1.1700000000.")+8+1+43 {
		t.Errorf("header %q is not v1.<unix>.<key id>.<mac>", h)
	}
}

func TestVerifyRefusesEveryChangedClaim(t *testing.T) {
	k := newKey(t, 1)
	v := newVerifier(t, k)
	h := sign(t, k, t0, claims)
	for name, c := range map[string]hopauth.Claims{
		"tenant":   {Audience: claims.Audience, Tenant: "other", Count: claims.Count},
		"count":    {Audience: claims.Audience, Tenant: claims.Tenant, Count: "13"},
		"no count": {Audience: claims.Audience, Tenant: claims.Tenant},
		"audience": {Audience: hopauth.AudienceSinkWriter, Tenant: claims.Tenant, Count: claims.Count},
		"shadow":   {Audience: claims.Audience, Tenant: claims.Tenant, Count: claims.Count, Shadow: true},
		// the length prefixes keep "acme"+"12" apart from "acme1"+"2"
		"boundary": {Audience: claims.Audience, Tenant: "acme1", Count: "2"},
	} {
		if err := v.Verify(h, t0, c); !errors.Is(err, hopauth.ErrBadSignature) {
			t.Errorf("%s changed: %v, want ErrBadSignature", name, err)
		}
	}
}

func TestVerifyRefusesExpiredForgedAndUnknown(t *testing.T) {
	k, other := newKey(t, 1), newKey(t, 2)
	v := newVerifier(t, k)
	h := sign(t, k, t0, claims)
	changedTime := strings.Replace(h, "1700000000", "1700000001", 1)
	mac := h[strings.LastIndexByte(h, '.')+1:]
	flipped := h[:len(h)-len(mac)] + string(mac[0]^1) + mac[1:]
	for name, tc := range map[string]struct {
		header string
		now    time.Time
		want   error
	}{
		"old":          {h, t0.Add(5*time.Minute + time.Second), hopauth.ErrExpired},
		"future":       {h, t0.Add(-5*time.Minute - time.Second), hopauth.ErrExpired},
		"missing":      {"", t0, hopauth.ErrMissing},
		"garbage":      {"x-tenant-id: acme", t0, hopauth.ErrMalformed},
		"other key":    {sign(t, other, t0, claims), t0, hopauth.ErrUnknownKey},
		"changed time": {changedTime, t0, hopauth.ErrBadSignature},
		"flipped mac":  {flipped, t0, hopauth.ErrBadSignature},
	} {
		if err := v.Verify(tc.header, tc.now, claims); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestVerifierAcceptsEveryKeyOfARotation(t *testing.T) {
	oldKey, newK := newKey(t, 1), newKey(t, 2)
	v := newVerifier(t, newK, oldKey)
	for _, k := range []*hopauth.Key{oldKey, newK} {
		if err := v.Verify(sign(t, k, t0, claims), t0, claims); err != nil {
			t.Errorf("key %s: %v", k.ID(), err)
		}
	}
}

func TestVerifyDoesNotAllocate(t *testing.T) {
	if testkit.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop items: allocations are not the code's")
	}
	k := newKey(t, 1)
	v := newVerifier(t, k)
	h := sign(t, k, t0, claims)
	if n := testing.AllocsPerRun(100, func() {
		if err := v.Verify(h, t0, claims); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Verify allocates %v times", n)
	}
}

func TestParseKeys(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	b64Key := "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
	keys, err := hopauth.ParseKeys([]byte("# current\n" + hexKey + "\n\n  " + b64Key + "  \n"))
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParseKeys = %d keys, %v; want 2", len(keys), err)
	}
	if keys[0].ID() == keys[1].ID() {
		t.Error("two keys have one id")
	}
	for name, content := range map[string]string{
		"empty":     "# nothing\n",
		"short":     strings.Repeat("ab", 31),
		"not a key": "correct horse battery staple",
		"duplicate": hexKey + "\n" + hexKey,
	} {
		_, err := hopauth.ParseKeys([]byte(content))
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), hexKey) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
}

func TestConfigIsSecureByDefault(t *testing.T) {
	err := hopauth.Config{}.Validate("hop_auth")
	if err == nil || !strings.Contains(err.Error(), "hop_auth.key_file") || !strings.Contains(err.Error(), "insecure_internal_hops") {
		t.Errorf("Validate of the zero config = %v, want an error naming hop_auth.key_file and the opt-out", err)
	}
	if err := (hopauth.Config{InsecureInternalHops: true}).Validate("hop_auth"); err != nil {
		t.Errorf("the explicit opt-out: %v", err)
	}
	file := filepath.Join(t.TempDir(), "hop.key")
	content, err := hopauth.GenerateKeyFile(rand.Read)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	k, v, err := hopauth.Config{KeyFile: file}.Load()
	if err != nil || k == nil || v == nil {
		t.Fatalf("Load = %v, %v, %v", k, v, err)
	}
	if err := v.Verify(sign(t, k, time.Now(), claims), time.Now(), claims); err != nil {
		t.Error(err)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := newKey(b, 1)
	v := newVerifier(b, newKey(b, 2), k)
	h := sign(b, k, t0, claims)
	b.ReportAllocs()
	b.SetBytes(int64(len(h)))
	for b.Loop() {
		if err := v.Verify(h, t0, claims); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	k := newKey(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hopauth.Sign(k, t0, claims); err != nil {
			b.Fatal(err)
		}
	}
}
