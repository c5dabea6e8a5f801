package admission

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"time"

	"github.com/zeebo/xxh3"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// Cache bounds of a Resolver.
const (
	// ResolverCacheSize bounds the number of keys a Resolver remembers as resolved.
	ResolverCacheSize = 10_000
	// resolverShards splits the cache to keep concurrent misses from queueing on one lock.
	resolverShards = 16
)

// Resolver maps API keys to tenants with the keys of one filterconfig.Config. Build a new one
// on every configuration push (NewResolver is cheap: it indexes the config, it hashes nothing);
// it is safe for concurrent use and holds no reference to secrets it was given.
//
// A key resolves when it has the registry's format ([filterconfig.ParseKeyPrefix]), one of the
// candidates configured for its prefix has Hash = SHA-256(Salt || key) (compared with
// subtle.ConstantTimeCompare; every candidate of the prefix is hashed and compared, so the time
// taken depends on the number of candidates, which is public, not on the secret), and that
// candidate is active ([filterconfig.Key.ActiveAt]) at the time of the lookup.
//
// Resolved keys are cached, up to [ResolverCacheSize] of them, so that a client's later
// requests skip SHA-256. The cache is keyed by a 128-bit xxh3 hash of the key seeded with 64
// random bits per Resolver, never by the key itself, and maps to the matching candidate, whose
// NotAfter is checked again on every hit: a key revoked by a rotation stops resolving at its
// NotAfter even while cached. Only successes are cached; a wrong key costs SHA-256 per
// candidate every time. When the cache is full, a random entry makes room.
type Resolver struct {
	byPrefix map[string][]candidate
	quotas   map[string]filterconfig.Quotas
	seed     uint64
	shards   [resolverShards]cacheShard
}

// candidate is one configured key of a prefix.
type candidate struct {
	tenant   string
	salt     []byte
	hash     [filterconfig.HashLen]byte
	notAfter *time.Time
}

func (c *candidate) activeAt(t time.Time) bool { return c.notAfter == nil || t.Before(*c.notAfter) }

// cacheShard is one part of the cache of resolved keys.
type cacheShard struct {
	mu sync.RWMutex
	m  map[xxh3.Uint128]*candidate
	_  [32]byte // keeps neighbouring shards' locks off one cache line
}

// NewResolver indexes cfg's keys by prefix and its tenants' quotas by ID. cfg must have passed
// Parse (or Validate): a key whose hash is not [filterconfig.HashLen] bytes long is left out.
// The Resolver keeps references to cfg's salts; cfg must not be modified afterwards.
func NewResolver(cfg *filterconfig.Config) *Resolver {
	r := &Resolver{
		byPrefix: make(map[string][]candidate, len(cfg.Keys)),
		quotas:   make(map[string]filterconfig.Quotas, len(cfg.Tenants)),
	}
	var seed [8]byte
	rand.Read(seed[:]) // never fails (crypto/rand, Go 1.24+)
	r.seed = binary.LittleEndian.Uint64(seed[:])
	for _, t := range cfg.Tenants {
		r.quotas[t.ID] = t.Quotas
	}
	for prefix, keys := range cfg.Keys {
		cands := make([]candidate, 0, len(keys))
		for _, k := range keys {
			if len(k.Hash) != filterconfig.HashLen {
				continue
			}
			c := candidate{tenant: k.Tenant, salt: k.Salt, notAfter: k.NotAfter}
			copy(c.hash[:], k.Hash)
			cands = append(cands, c)
		}
		if len(cands) > 0 {
			r.byPrefix[prefix] = cands
		}
	}
	for i := range r.shards {
		r.shards[i].m = make(map[xxh3.Uint128]*candidate)
	}
	return r
}

// Resolve returns the tenant of key at time now; ok is false when the key is unknown, wrong or
// no longer active. It never allocates once the key is cached, and is safe for concurrent use.
// key is the credential as the client sent it (the bearer token or x-api-key value).
func (r *Resolver) Resolve(key string, now time.Time) (tenant string, ok bool) {
	prefix, ok := filterconfig.ParseKeyPrefix(key)
	if !ok {
		return "", false
	}
	cands := r.byPrefix[prefix]
	if len(cands) == 0 {
		return "", false
	}
	h := xxh3.HashString128Seed(key, r.seed)
	sh := &r.shards[h.Lo%resolverShards]
	sh.mu.RLock()
	c := sh.m[h]
	sh.mu.RUnlock()
	if c == nil {
		for i := range cands {
			sum := filterconfig.HashKey(cands[i].salt, key)
			if subtle.ConstantTimeCompare(sum[:], cands[i].hash[:]) == 1 {
				c = &cands[i]
			}
		}
		if c == nil {
			return "", false
		}
		sh.add(h, c)
	}
	if !c.activeAt(now) {
		return "", false
	}
	return c.tenant, true
}

// add caches a resolved key, evicting a random entry when the shard is full.
func (sh *cacheShard) add(h xxh3.Uint128, c *candidate) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= ResolverCacheSize/resolverShards {
		for k := range sh.m { // map iteration starts at a random entry
			delete(sh.m, k)
			break
		}
	}
	sh.m[h] = c
}

// Quotas returns the quotas of tenant in the configuration the Resolver was built from; ok is
// false for a tenant the configuration does not know.
func (r *Resolver) Quotas(tenant string) (q filterconfig.Quotas, ok bool) {
	q, ok = r.quotas[tenant]
	return q, ok
}

// cached returns the number of cached keys, for tests.
func (r *Resolver) cached() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
