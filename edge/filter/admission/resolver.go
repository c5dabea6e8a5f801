package admission

import (
	"crypto/subtle"
	"encoding/binary"
	"time"

	"github.com/zeebo/xxh3"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// Resolver maps API keys to tenants with the keys of one filterconfig.Config. Build a new one
// on every configuration push (NewResolver and NewResolverWithCache are cheap: they index the
// config, they hash nothing); it is safe for concurrent use and holds no reference to secrets
// it was given.
//
// A key resolves when it has the registry's format ([filterconfig.ParseKeyPrefix]), one of the
// candidates configured for its prefix has Hash = SHA-256(Salt || key) (compared with
// subtle.ConstantTimeCompare; every candidate of the prefix is hashed and compared, so the time
// taken depends on the number of candidates, which is public, not on the secret), and that
// candidate is active ([filterconfig.Key.ActiveAt]) at the time of the lookup.
//
// Resolved keys are cached in a [KeyCache], so that a client's later requests skip SHA-256.
// Resolvers built with [NewResolverWithCache] share one, which survives configuration pushes;
// [NewResolver] gives the Resolver a cache of its own. The cache remembers, per key, the salt
// and hash of the configured key it matched, and a hit counts only when the Resolver's own
// configuration has, among the candidates of the key's prefix, one with exactly that salt and
// hash (the hash compared in constant time): its tenant and NotAfter are then the ones of this
// configuration, checked on every hit. So a key moved to another tenant resolves to the new
// one, a key given a NotAfter stops resolving at it even while cached, and a key removed or
// rehashed (a new salt or hash) by a push is checked again with SHA-256, like a key never seen
// (a success replaces the entry; after a failure, the entry stays, unused by this Resolver,
// until a success replaces it or eviction drops it). Only successes are cached; a wrong key
// costs SHA-256 per candidate every time.
type Resolver struct {
	byPrefix map[string][]candidate
	quotas   map[string]filterconfig.Quotas
	cache    *KeyCache
}

// candidate is one configured key of a prefix.
type candidate struct {
	tenant   string
	salt     []byte
	hash     [filterconfig.HashLen]byte
	notAfter *time.Time
}

func (c *candidate) activeAt(t time.Time) bool { return c.notAfter == nil || t.Before(*c.notAfter) }

// NewResolver indexes cfg's keys by prefix and its tenants' quotas by ID, with a KeyCache of
// its own: NewResolverWithCache(cfg, nil).
func NewResolver(cfg *filterconfig.Config) *Resolver { return NewResolverWithCache(cfg, nil) }

// NewResolverWithCache indexes cfg's keys by prefix and its tenants' quotas by ID, and caches
// resolved keys in cache, which other Resolvers (of earlier or later configurations) may share;
// a nil cache means a new one of the Resolver's own. cfg must have passed Parse (or Validate):
// a key whose hash is not [filterconfig.HashLen] bytes long is left out. The Resolver keeps
// references to cfg's salts; cfg must not be modified afterwards.
func NewResolverWithCache(cfg *filterconfig.Config, cache *KeyCache) *Resolver {
	if cache == nil {
		cache = NewKeyCache()
	}
	r := &Resolver{
		byPrefix: make(map[string][]candidate, len(cfg.Keys)),
		quotas:   make(map[string]filterconfig.Quotas, len(cfg.Tenants)),
		cache:    cache,
	}
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
	h := xxh3.HashString128Seed(key, r.cache.seed)
	sh := r.cache.shard(h)
	var c *candidate
	if e, hit := sh.get(h); hit {
		c = cachedCandidate(cands, &e)
	}
	if c == nil { // not cached, or cached by a configuration whose key this one no longer has
		sh.misses.Add(1)
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

// cachedCandidate returns the candidate of cands with the salt and hash of e, or nil. Like the
// SHA-256 check, it compares every candidate (the last match wins) and the hashes in constant
// time; salts are not secret.
func cachedCandidate(cands []candidate, e *cacheEntry) *candidate {
	var c *candidate
	for i := range cands {
		if hashEqual(&cands[i].hash, &e.hash) && string(cands[i].salt) == e.salt {
			c = &cands[i]
		}
	}
	return c
}

// hashEqual reports whether a and b are equal in a time that does not depend on their content,
// like subtle.ConstantTimeCompare, a word at a time.
func hashEqual(a, b *[filterconfig.HashLen]byte) bool {
	var v uint64
	for i := 0; i < len(a); i += 8 {
		v |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	return subtle.ConstantTimeEq(int32(v>>32|v&0xffffffff), 0) == 1
}

// Quotas returns the quotas of tenant in the configuration the Resolver was built from; ok is
// false for a tenant the configuration does not know.
func (r *Resolver) Quotas(tenant string) (q filterconfig.Quotas, ok bool) {
	q, ok = r.quotas[tenant]
	return q, ok
}

// cached returns the number of keys in the Resolver's cache, for tests.
func (r *Resolver) cached() int { return r.cache.Len() }
