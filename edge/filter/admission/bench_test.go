package admission

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// BenchmarkAdmitParallel measures admission decisions across all cores: 100 tenants, every
// goroutine walks through them. "admitted": quotas high enough that every request passes
// (refill, take); "limited": quotas that refuse most requests (refill, compute Retry-After).
// Each call reads the clock (time.Now), as the filter does once per request, except in
// "admitted-clock-outside", which reads it every 64 calls to show the limiter's own cost.
func BenchmarkAdmitParallel(b *testing.B) {
	tenants := make([]string, 100)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("tenant-%03d", i)
	}
	for _, bc := range []struct {
		name       string
		q          filterconfig.Quotas
		clockEvery int
		share      float64 // this edge's share of the quota (AdmitShare); 0: Admit
	}{
		{"admitted", filterconfig.Quotas{EventsPerSecond: 1e12, BytesPerSecond: 1e15}, 1, 0},
		{"limited", filterconfig.Quotas{EventsPerSecond: 1000, BytesPerSecond: 1e6}, 1, 0},
		{"admitted-clock-outside", filterconfig.Quotas{EventsPerSecond: 1e12, BytesPerSecond: 1e15}, 64, 0},
		{"admitted-share", filterconfig.Quotas{EventsPerSecond: 1e12, BytesPerSecond: 1e15}, 1, 0.3},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := NewLimiter()
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(37))
				now := time.Now()
				for pb.Next() {
					i++
					if i%bc.clockEvery == 0 {
						now = time.Now()
					}
					if bc.share > 0 {
						l.AdmitShare(tenants[i%len(tenants)], bc.q, bc.share, 100, 50_000, now)
					} else {
						l.Admit(tenants[i%len(tenants)], bc.q, 100, 50_000, now)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// benchKeys returns a config of 100 keys, each of its own prefix, and the keys.
func benchKeys() (*filterconfig.Config, []string) {
	cfg := &filterconfig.Config{Tenants: []filterconfig.Tenant{{ID: "acme"}}, Keys: map[string][]filterconfig.Key{}}
	keys := make([]string, 100)
	for i := range keys {
		prefix := (base32ish(i) + "aaaaaaaa")[:8]
		keys[i] = apiKey(prefix, i)
		cfg.Keys[prefix] = []filterconfig.Key{keyFor("acme", keys[i], i, nil)}
	}
	return cfg, keys
}

// BenchmarkResolveCached measures Resolve of keys already in the cache, across all cores.
func BenchmarkResolveCached(b *testing.B) {
	cfg, keys := benchKeys()
	r := NewResolver(cfg)
	now := time.Now()
	for _, k := range keys {
		if _, ok := r.Resolve(k, now); !ok {
			b.Fatal("key does not resolve")
		}
	}
	benchResolveParallel(b, r, keys, now)
}

// BenchmarkResolveCachedAfterPush measures, across all cores, Resolve of keys cached by the
// Resolver of an earlier config that shares the KeyCache: the hit path after a push.
func BenchmarkResolveCachedAfterPush(b *testing.B) {
	cfg1, keys := benchKeys()
	cache := NewKeyCache()
	now := time.Now()
	r1 := NewResolverWithCache(cfg1, cache)
	for _, k := range keys {
		if _, ok := r1.Resolve(k, now); !ok {
			b.Fatal("key does not resolve")
		}
	}
	cfg2, _ := benchKeys()
	r2 := NewResolverWithCache(cfg2, cache)
	misses := cache.Misses()
	benchResolveParallel(b, r2, keys, now)
	if cache.Misses() != misses {
		b.Fatal("the new Resolver checked cached keys with SHA-256")
	}
}

func benchResolveParallel(b *testing.B, r *Resolver, keys []string, now time.Time) {
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(13))
		for pb.Next() {
			i++
			if _, ok := r.Resolve(keys[i%len(keys)], now); !ok {
				b.Fatal("key does not resolve")
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolutions/s")
}

// BenchmarkResolveMiss measures the first Resolve of a key, or any Resolve of a wrong key:
// one SHA-256 per candidate of the prefix (here one).
func BenchmarkResolveMiss(b *testing.B) {
	cfg, _, _, _ := testConfig()
	r := NewResolver(cfg)
	wrong := apiKey("globex22", 999)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Resolve(wrong, t0); ok {
			b.Fatal("wrong key resolves")
		}
	}
}

func BenchmarkInflightParallel(b *testing.B) {
	f := NewInflight(1 << 40)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if f.Acquire(50_000) {
				f.Release(50_000)
			}
		}
	})
}
