package filterconfig_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

func TestHashKeyIsSHA256OfSaltAndKey(t *testing.T) {
	for _, tc := range []struct{ salt, key string }{
		{"0123456789abcdef", "ik_abcd2345_" + strings.Repeat("q", 52)},
		{"", ""},
		{strings.Repeat("s", filterconfig.MaxSaltLen), strings.Repeat("k", filterconfig.MaxKeyLen)},
		{strings.Repeat("s", filterconfig.MaxSaltLen), strings.Repeat("k", 10*filterconfig.MaxKeyLen)}, // past the buffer
	} {
		if got, want := filterconfig.HashKey([]byte(tc.salt), tc.key), sha256.Sum256([]byte(tc.salt+tc.key)); got != want {
			t.Errorf("HashKey(%d-byte salt, %d-byte key) = %x, want %x", len(tc.salt), len(tc.key), got, want)
		}
	}
	salt, key := []byte("0123456789abcdef"), "ik_abcd2345_"+strings.Repeat("q", 52)
	if n := testing.AllocsPerRun(100, func() { filterconfig.HashKey(salt, key) }); n != 0 {
		t.Errorf("HashKey allocates %v times", n)
	}
	k := filterconfig.Key{Salt: salt, Hash: func() []byte { h := filterconfig.HashKey(salt, key); return h[:] }()}
	if !k.Matches(key) || k.Matches(key+"x") {
		t.Error("Key.Matches does not agree with HashKey")
	}
}

func TestParseKeyPrefix(t *testing.T) {
	secret := strings.Repeat("a", filterconfig.MinKeySecretLen)
	for key, want := range map[string]string{
		"ik_abcd2345_" + secret:       "abcd2345",
		"ik_abcd2345_" + secret[1:]:   "",
		"ik_abcd1345_" + secret:       "",
		"ik_abcd2345_" + secret + "A": "",
		"":                            "",
	} {
		if prefix, ok := filterconfig.ParseKeyPrefix(key); prefix != want || ok != (want != "") {
			t.Errorf("ParseKeyPrefix(%q) = %q, %v; want %q", key, prefix, ok, want)
		}
	}
}
