package registry_test

import (
	"strings"
	"testing"

	"github.com/ingestdev/ingest/controlplane/registry"
)

func TestParseKeyPrefix(t *testing.T) {
	secret := strings.Repeat("a", registry.MinKeySecretLen)
	for _, tc := range []struct {
		key    string
		prefix string
		ok     bool
	}{
		{"ik_abcd2345_" + secret, "abcd2345", true},
		{"ik_abcd2345_" + secret + "xyz", "abcd2345", true},
		{"ik_abcd2345_" + secret[1:], "", false},  // secret too short
		{"ik_abcd2345-" + secret, "", false},      // separator
		{"ik_abcd1345_" + secret, "", false},      // '1' is not base32
		{"ik_ABCD2345_" + secret, "", false},      // upper case
		{"ik_abcd234_" + secret + "a", "", false}, // short prefix
		{"xk_abcd2345_" + secret, "", false},
		{"ik_abcd2345_" + secret + "_", "", false},
		{"ik_abcd2345_" + strings.Repeat("a", 300), "", false}, // too long
		{"", "", false},
	} {
		prefix, ok := registry.ParseKeyPrefix(tc.key)
		if prefix != tc.prefix || ok != tc.ok {
			t.Errorf("ParseKeyPrefix(%q) = %q, %v; want %q, %v", tc.key, prefix, ok, tc.prefix, tc.ok)
		}
	}
}

func FuzzParseKeyPrefix(f *testing.F) {
	f.Add("ik_abcd2345_" + strings.Repeat("q", 52))
	f.Add("ik_")
	f.Add("ik_abcd2345_")
	f.Fuzz(func(t *testing.T, key string) {
		prefix, ok := registry.ParseKeyPrefix(key)
		if !ok {
			if prefix != "" {
				t.Fatalf("prefix %q without ok", prefix)
			}
			return
		}
		if len(prefix) != registry.KeyPrefixLen || !strings.HasPrefix(key, "ik_"+prefix+"_") {
			t.Fatalf("ParseKeyPrefix(%q) = %q", key, prefix)
		}
	})
}

func FuzzParseStage(f *testing.F) {
	for _, s := range []string{"legacy", "shadow", "canary:10", "v2", "canary:", "canary:100", "canary:+5", "canary:05"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := registry.ParseStage(s)
		if err != nil {
			return
		}
		// A parsed stage renders to a text that parses back to the same stage.
		back, err := registry.ParseStage(st.String())
		if err != nil || back != st {
			t.Fatalf("ParseStage(%q) = %+v; its text %q parses to %+v, %v", s, st, st.String(), back, err)
		}
		if st.Kind == registry.StageCanary && (st.Percent < 1 || st.Percent > 99) {
			t.Fatalf("ParseStage(%q) = %+v out of range", s, st)
		}
	})
}
