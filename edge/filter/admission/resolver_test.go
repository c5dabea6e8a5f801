package admission

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// apiKey returns a key in the registry's format with the given 8-character prefix; n varies
// the secret.
func apiKey(prefix string, n int) string {
	return fmt.Sprintf("ik_%s_%s%s", prefix, strings.Repeat("a", 40), base32ish(n))
}

// base32ish spells n with the key alphabet.
func base32ish(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	s := []byte{'b'}
	for ; n > 0; n /= 32 {
		s = append(s, alphabet[n%32])
	}
	return string(s)
}

// keyFor returns the configuration entry of key for tenant, with a salt derived from n.
func keyFor(tenant, key string, n int, notAfter *time.Time) filterconfig.Key {
	salt := []byte(fmt.Sprintf("salt-%08d", n))
	h := filterconfig.HashKey(salt, key)
	return filterconfig.Key{ID: fmt.Sprint(n), Tenant: tenant, Salt: salt, Hash: h[:], NotAfter: notAfter}
}

// testConfig has tenants acme and globex; acme's key and a rotating key of globex share the
// prefix "shared22", whose rotation ends at t0 + 1h.
func testConfig() (cfg *filterconfig.Config, acme, globexOld, globexNew string) {
	acme, globexOld, globexNew = apiKey("shared22", 1), apiKey("shared22", 2), apiKey("globex22", 3)
	end := t0.Add(time.Hour)
	cfg = &filterconfig.Config{
		Tenants: []filterconfig.Tenant{
			{ID: "acme", Quotas: filterconfig.Quotas{EventsPerSecond: 100}},
			{ID: "globex", Quotas: filterconfig.Quotas{BytesPerSecond: 1000}},
		},
		Keys: map[string][]filterconfig.Key{
			"shared22": {keyFor("acme", acme, 1, nil), keyFor("globex", globexOld, 2, &end)},
			"globex22": {keyFor("globex", globexNew, 3, nil)},
		},
	}
	return cfg, acme, globexOld, globexNew
}

func TestResolveFindsTheTenantOfEachKey(t *testing.T) {
	cfg, acme, globexOld, globexNew := testConfig()
	r := NewResolver(cfg)
	for range 2 { // the second round is served from the cache
		for key, want := range map[string]string{acme: "acme", globexOld: "globex", globexNew: "globex"} {
			if tenant, ok := r.Resolve(key, t0); !ok || tenant != want {
				t.Errorf("Resolve(%q) = %q, %v; want %q", key, tenant, ok, want)
			}
		}
	}
	if n := r.cached(); n != 3 {
		t.Errorf("%d keys cached, want 3", n)
	}
}

func TestResolveRefusesWrongAndMalformedKeys(t *testing.T) {
	cfg, acme, _, _ := testConfig()
	r := NewResolver(cfg)
	r.Resolve(acme, t0) // cached now: the cache must not answer for the keys below
	for _, key := range []string{
		apiKey("shared22", 99),        // right prefix, wrong secret
		acme[:len(acme)-1] + "z",      // one character off
		acme + "a",                    // one character more
		apiKey("unknown2", 1),         // unknown prefix
		strings.ToUpper(acme),         // not the format
		"Bearer " + acme,              // the header value, not the key
		"", "ik_", "ik_shared22_abcd", // too short
		acme + strings.Repeat("a", 300), // too long
	} {
		if tenant, ok := r.Resolve(key, t0); ok || tenant != "" {
			t.Errorf("Resolve(%q) = %q, %v; want no tenant", key, tenant, ok)
		}
	}
	if n := r.cached(); n != 1 {
		t.Errorf("%d keys cached, want 1: wrong keys are not cached", n)
	}
}

func TestResolveHonoursNotAfterEvenWhenCached(t *testing.T) {
	cfg, _, globexOld, globexNew := testConfig()
	r := NewResolver(cfg)
	end := t0.Add(time.Hour)
	if _, ok := r.Resolve(globexOld, end.Add(-time.Nanosecond)); !ok {
		t.Fatal("the rotating key does not resolve before its NotAfter")
	}
	for _, at := range []time.Time{end, end.Add(time.Second)} {
		if tenant, ok := r.Resolve(globexOld, at); ok {
			t.Errorf("Resolve(rotated key) at %v = %q; want no tenant from NotAfter on", at, tenant)
		}
	}
	if _, ok := r.Resolve(globexNew, end.Add(time.Second)); !ok {
		t.Error("the new key does not resolve")
	}
	// Revoked before it was ever cached.
	r = NewResolver(cfg)
	if _, ok := r.Resolve(globexOld, end); ok {
		t.Error("the rotated key resolves at its NotAfter on a cold cache")
	}
}

func TestResolverCacheIsBounded(t *testing.T) {
	const n = ResolverCacheSize + 2000
	cfg := &filterconfig.Config{Tenants: []filterconfig.Tenant{{ID: "acme"}}, Keys: map[string][]filterconfig.Key{}}
	keys := make([]string, n)
	for i := range keys {
		prefix := (base32ish(i) + "aaaaaaaa")[:8]
		keys[i] = apiKey(prefix, i)
		cfg.Keys[prefix] = []filterconfig.Key{keyFor("acme", keys[i], i, nil)}
	}
	r := NewResolver(cfg)
	for range 2 {
		for _, key := range keys {
			if tenant, ok := r.Resolve(key, t0); !ok || tenant != "acme" {
				t.Fatalf("Resolve(%q) = %q, %v", key, tenant, ok)
			}
		}
	}
	if got := r.cached(); got > ResolverCacheSize || got < ResolverCacheSize*9/10 {
		t.Errorf("%d keys cached after resolving %d; the bound is %d", got, n, ResolverCacheSize)
	}
}

func TestResolveConcurrently(t *testing.T) {
	cfg, acme, globexOld, globexNew := testConfig()
	r := NewResolver(cfg)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				var key, want string
				switch (g + i) % 4 {
				case 0:
					key, want = acme, "acme"
				case 1:
					key, want = globexOld, "globex"
				case 2:
					key, want = globexNew, "globex"
				case 3:
					key = apiKey("shared22", 1000+i%50) // wrong
				}
				if tenant, ok := r.Resolve(key, t0); tenant != want || ok != (want != "") {
					t.Errorf("Resolve(%q) = %q, %v; want %q", key, tenant, ok, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestResolveCachedDoesNotAllocate(t *testing.T) {
	cfg, acme, _, _ := testConfig()
	r := NewResolver(cfg)
	r.Resolve(acme, t0)
	if n := testing.AllocsPerRun(100, func() { r.Resolve(acme, t0) }); n != 0 {
		t.Errorf("a cached Resolve allocates %v times", n)
	}
	wrong := apiKey("shared22", 77)
	if n := testing.AllocsPerRun(100, func() { r.Resolve(wrong, t0) }); n != 0 {
		t.Errorf("a refused Resolve allocates %v times", n)
	}
	// A hit in a Resolver of a later config that shares the cache.
	cfg2, _, _, _ := testConfig()
	r2 := NewResolverWithCache(cfg2, r.cache)
	if n := testing.AllocsPerRun(100, func() { r2.Resolve(acme, t0) }); n != 0 {
		t.Errorf("a Resolve cached by another Resolver allocates %v times", n)
	}
}

func TestResolverQuotas(t *testing.T) {
	cfg, _, _, _ := testConfig()
	r := NewResolver(cfg)
	if q, ok := r.Quotas("acme"); !ok || q.EventsPerSecond != 100 {
		t.Errorf("Quotas(acme) = %+v, %v", q, ok)
	}
	if _, ok := r.Quotas("initech"); ok {
		t.Error("Quotas of an unknown tenant")
	}
}
