package admission

import (
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// resolveCounting returns r's answer for key at the given time and whether its cache answered
// it (no SHA-256 check: the cache's Misses did not move).
func resolveCounting(t *testing.T, r *Resolver, key string, at time.Time) (tenant string, ok, cached bool) {
	t.Helper()
	before := r.cache.Misses()
	tenant, ok = r.Resolve(key, at)
	return tenant, ok, r.cache.Misses() == before
}

func TestKeyCacheSurvivesAPush(t *testing.T) {
	cache := NewKeyCache()
	cfg1, acme, globexOld, globexNew := testConfig()
	r1 := NewResolverWithCache(cfg1, cache)
	for _, key := range []string{acme, globexOld} {
		if _, ok, cached := resolveCounting(t, r1, key, t0); !ok || cached {
			t.Fatalf("first Resolve(%q) = ok %v, cached %v; want a SHA-256 check that succeeds", key, ok, cached)
		}
	}
	// A push: a new configuration with the same keys (new slices, new pointers) and other quotas.
	cfg2, _, _, _ := testConfig()
	cfg2.Tenants[0].Quotas.EventsPerSecond = 5
	r2 := NewResolverWithCache(cfg2, cache)
	for key, want := range map[string]string{acme: "acme", globexOld: "globex"} {
		if tenant, ok, cached := resolveCounting(t, r2, key, t0); !ok || tenant != want || !cached {
			t.Errorf("Resolve(%q) after the push = %q, %v, cached %v; want %q from the cache", key, tenant, ok, cached, want)
		}
	}
	if q, _ := r2.Quotas("acme"); q.EventsPerSecond != 5 {
		t.Errorf("quotas of the new config: %+v", q)
	}
	// A key first seen under the new config is checked once, then cached for both.
	if _, ok, cached := resolveCounting(t, r2, globexNew, t0); !ok || cached {
		t.Errorf("first Resolve(globexNew) = ok %v, cached %v", ok, cached)
	}
	if _, ok, cached := resolveCounting(t, r1, globexNew, t0); !ok || !cached {
		t.Errorf("Resolve(globexNew) in the old Resolver = ok %v, cached %v; want a hit", ok, cached)
	}
	if n := cache.Len(); n != 3 {
		t.Errorf("%d keys cached, want 3", n)
	}
	// A Resolver with a cache of its own shares nothing.
	if _, ok, cached := resolveCounting(t, NewResolver(cfg2), acme, t0); !ok || cached {
		t.Errorf("Resolve(acme) with a private cache = ok %v, cached %v; want a SHA-256 check", ok, cached)
	}
}

func TestKeyRemovedByAPushDoesNotResolveFromTheCache(t *testing.T) {
	cache := NewKeyCache()
	cfg1, acme, globexOld, globexNew := testConfig()
	r1 := NewResolverWithCache(cfg1, cache)
	for _, key := range []string{acme, globexOld, globexNew} {
		if _, ok := r1.Resolve(key, t0); !ok {
			t.Fatalf("Resolve(%q) under the first config fails", key)
		}
	}
	// acme's key is removed from a prefix that keeps another key; globex22 loses its only key.
	cfg2, _, _, _ := testConfig()
	cfg2.Keys["shared22"] = cfg2.Keys["shared22"][1:]
	delete(cfg2.Keys, "globex22")
	r2 := NewResolverWithCache(cfg2, cache)
	for range 2 { // a failure is not cached: the second round is checked again
		for _, key := range []string{acme, globexNew} {
			if tenant, ok := r2.Resolve(key, t0); ok {
				t.Errorf("removed key %q resolves to %q after the push", key, tenant)
			}
		}
		if tenant, ok, cached := resolveCounting(t, r2, globexOld, t0); !ok || tenant != "globex" || !cached {
			t.Errorf("Resolve(globexOld) = %q, %v, cached %v; want globex from the cache", tenant, ok, cached)
		}
	}
	if _, ok, cached := resolveCounting(t, r2, acme, t0); ok || cached {
		t.Errorf("Resolve(removed key) = ok %v, cached %v; want a SHA-256 check that fails", ok, cached)
	}
}

func TestKeyChangedByAPushIsJudgedByTheNewConfig(t *testing.T) {
	_, acme, _, _ := testConfig()
	other := apiKey("shared22", 50) // another secret with acme's prefix
	past := t0.Add(-time.Second)
	for _, tc := range []struct {
		name string
		edit func(k *filterconfig.Key) // acme's configured key in the new config
		// want is acme's tenant under the new config ("": refused); cached whether the cache
		// answers.
		want   string
		cached bool
	}{
		{"unchanged", func(k *filterconfig.Key) {}, "acme", true},
		{"moved to another tenant", func(k *filterconfig.Key) { k.Tenant = "globex" }, "globex", true},
		{"past NotAfter", func(k *filterconfig.Key) { k.NotAfter = &past }, "", true},
		{"future NotAfter", func(k *filterconfig.Key) { end := t0.Add(time.Minute); k.NotAfter = &end }, "acme", true},
		{"rotated to another secret", func(k *filterconfig.Key) { *k = keyFor("acme", other, 50, nil) }, "", false},
		{"new salt, same hash", func(k *filterconfig.Key) { k.Salt = []byte("another-salt") }, "", false},
		{"same salt, hash of another secret", func(k *filterconfig.Key) {
			h := filterconfig.HashKey(k.Salt, other)
			k.Hash = h[:]
		}, "", false},
		{"same secret rehashed with a new salt", func(k *filterconfig.Key) { *k = keyFor("acme", acme, 60, nil) }, "acme", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := NewKeyCache()
			cfg1, _, _, _ := testConfig()
			if _, ok := NewResolverWithCache(cfg1, cache).Resolve(acme, t0); !ok {
				t.Fatal("acme does not resolve under the first config")
			}
			cfg2, _, _, _ := testConfig()
			tc.edit(&cfg2.Keys["shared22"][0])
			r2 := NewResolverWithCache(cfg2, cache)
			tenant, ok, cached := resolveCounting(t, r2, acme, t0)
			if tenant != tc.want || ok != (tc.want != "") || cached != tc.cached {
				t.Errorf("Resolve(acme) after the push = %q, %v, cached %v; want %q, cached %v", tenant, ok, cached, tc.want, tc.cached)
			}
			// Whatever the cache holds now, the new config keeps giving the same answer.
			if tenant, ok := r2.Resolve(acme, t0); tenant != tc.want || ok != (tc.want != "") {
				t.Errorf("second Resolve(acme) = %q, %v; want %q", tenant, ok, tc.want)
			}
		})
	}
}

func TestResolversSharingACacheConcurrently(t *testing.T) {
	cache := NewKeyCache()
	cfg1, acme, globexOld, _ := testConfig()
	cfg2, _, _, _ := testConfig()
	cfg2.Keys["shared22"][0].Tenant = "globex"                      // acme's key moves
	cfg2.Keys["shared22"][1] = keyFor("globex", globexOld, 70, nil) // globexOld is re-salted
	rs := []*Resolver{NewResolverWithCache(cfg1, cache), NewResolverWithCache(cfg2, cache)}
	wants := []string{"acme", "globex"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				n := (g + i) % 2
				for key, want := range map[string]string{acme: wants[n], globexOld: "globex"} {
					if tenant, ok := rs[n].Resolve(key, t0); !ok || tenant != want {
						t.Errorf("Resolver %d: Resolve(%q) = %q, %v; want %q", n+1, key, tenant, ok, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestHashEqual(t *testing.T) {
	var a [filterconfig.HashLen]byte
	for i := range a {
		a[i] = byte(i * 7)
	}
	if b := a; !hashEqual(&a, &b) {
		t.Fatal("equal hashes compare unequal")
	}
	for i := range a {
		for bit := range 8 {
			b := a
			b[i] ^= 1 << bit
			if hashEqual(&a, &b) {
				t.Fatalf("hashes differing in bit %d of byte %d compare equal", bit, i)
			}
		}
	}
}
