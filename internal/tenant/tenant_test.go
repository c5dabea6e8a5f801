package tenant_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/internal/tenant"
)

// The rule's cases, gathered from the tests of every stage that had its own copy.
var validCases = map[string]bool{
	"acme": true, "a": true, "0-x": true, "acme-prod": true, "a-": true, "9": true,
	strings.Repeat("a", 63): true,
	"":                      false, "-a": false, "-": false, "Acme": false, "ACME": false, "a_b": false, "a.b": false,
	"a b": false, "Acme Corp": false, "Acme!": false, "a/b": false, "é": false, "a\x00": false,
	strings.Repeat("a", 64): false,
}

func TestValid(t *testing.T) {
	for s, want := range validCases {
		if got := tenant.Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
		if got := tenant.ID(s).Valid(); got != want {
			t.Errorf("ID(%q).Valid() = %v, want %v", s, got, want)
		}
	}
}

func TestValidateSaysTheRuleAndQuotesTheID(t *testing.T) {
	for s, want := range validCases {
		err := tenant.Validate(s)
		if (err == nil) != want {
			t.Errorf("Validate(%q) = %v, want valid %v", s, err, want)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, tenant.ErrInvalid) {
			t.Errorf("Validate(%q) = %v, does not wrap ErrInvalid", s, err)
		}
		if msg := err.Error(); !strings.Contains(msg, tenant.Rule) || !strings.Contains(msg, "a-z, 0-9") || !strings.Contains(msg, "tenant id") {
			t.Errorf("Validate(%q) = %q, does not say the rule", s, msg)
		}
		if err := tenant.ID(s).Validate(); err == nil {
			t.Errorf("ID(%q).Validate() = nil", s)
		}
	}
	if msg := tenant.Validate(strings.Repeat("x", 500)).Error(); len(msg) > 200 {
		t.Errorf("Validate of a 500-byte id says %d bytes: the id is not truncated", len(msg))
	}
}

func TestValidDoesNotAllocate(t *testing.T) {
	id := strings.Repeat("a", 30) + "-prod"
	ok := true
	if n := testing.AllocsPerRun(100, func() { ok = tenant.Valid(id) && ok }); n != 0 {
		t.Errorf("Valid allocates %v times", n)
	}
	if !ok {
		t.Errorf("Valid(%q) = false", id)
	}
}

func TestTopicReplacesTenant(t *testing.T) {
	if got := tenant.Topic("", "acme"); got != "ingest.acme" {
		t.Errorf("default topic of acme = %q", got)
	}
	if got := tenant.Topic("t-{tenant}-v2", "acme"); got != "t-acme-v2" {
		t.Errorf("topic of acme = %q", got)
	}
	if got := tenant.Topic(tenant.DefaultTopicPattern, "acme"); got != "ingest.acme" {
		t.Errorf("topic of acme under the default pattern = %q", got)
	}
}

func FuzzValid(f *testing.F) {
	for s := range validCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) >= 1 && len(s) <= 63 && s[0] != '-' &&
			strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
		if tenant.Valid(s) != want {
			t.Fatalf("Valid(%q) = %v, want %v", s, !want, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	id := "acme-production-eu-west-1"
	b.SetBytes(int64(len(id)))
	b.ReportAllocs()
	for b.Loop() {
		if !tenant.Valid(id) {
			b.Fatal("invalid")
		}
	}
}
