package admission

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// Bounds of a KeyCache.
const (
	// ResolverCacheSize bounds the number of keys a KeyCache (and so the Resolvers that share
	// it) remembers as resolved.
	ResolverCacheSize = 10_000
	// resolverShards splits the cache to keep concurrent misses from queueing on one lock.
	resolverShards = 16
)

// KeyCache remembers the keys that Resolvers resolved, so that a client's later requests skip
// SHA-256, and outlives the Resolvers that share it: one KeyCache serves a process (the filter
// keeps it in its Shared state), and every Resolver built on a configuration push with
// [NewResolverWithCache] starts warm. It is safe for concurrent use.
//
// An entry is keyed by a 128-bit xxh3 hash of the key, seeded with 64 random bits drawn once
// per KeyCache, never by the key itself, and holds the identity of the configured key that
// matched: its salt and hash (SHA-256(salt || key)), not the key, its tenant or its NotAfter,
// which every Resolver takes from its own configuration (see [Resolver]). Only successes are
// cached. It holds at most [ResolverCacheSize] entries; when it is full, a random entry makes
// room.
type KeyCache struct {
	seed   uint64
	shards [resolverShards]cacheShard
}

// cacheShard is one part of a KeyCache.
type cacheShard struct {
	mu sync.RWMutex
	m  map[xxh3.Uint128]cacheEntry
	// misses counts the lookups of this shard that the cache did not answer (see Misses).
	misses atomic.Uint64
	_      [24]byte // keeps neighbouring shards' locks off one cache line
}

// cacheEntry identifies the configured key that a cached key matched, by content, so that it
// means the same in every configuration: salt is a copy of its salt, hash its hash.
type cacheEntry struct {
	hash [filterconfig.HashLen]byte
	salt string
}

// NewKeyCache returns an empty cache with a fresh random seed.
func NewKeyCache() *KeyCache {
	c := &KeyCache{}
	var seed [8]byte
	rand.Read(seed[:]) // never fails (crypto/rand, Go 1.24+)
	c.seed = binary.LittleEndian.Uint64(seed[:])
	for i := range c.shards {
		c.shards[i].m = make(map[xxh3.Uint128]cacheEntry)
	}
	return c
}

// Len returns the number of cached keys.
func (c *KeyCache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Misses returns the number of lookups, by every Resolver sharing c, that the cache did not
// answer, each of which checked the key with SHA-256 against the candidates of its prefix: the
// first request of a key, every request of a wrong key, and a key whose cached identity is not
// in the Resolver's configuration. Keys without a configured prefix are not counted.
func (c *KeyCache) Misses() uint64 {
	var n uint64
	for i := range c.shards {
		n += c.shards[i].misses.Load()
	}
	return n
}

// shard returns the shard of h.
func (c *KeyCache) shard(h xxh3.Uint128) *cacheShard { return &c.shards[h.Lo%resolverShards] }

// get returns the entry of h.
func (sh *cacheShard) get(h xxh3.Uint128) (e cacheEntry, ok bool) {
	sh.mu.RLock()
	e, ok = sh.m[h]
	sh.mu.RUnlock()
	return e, ok
}

// add caches the identity of c for h, replacing any entry of h and evicting a random entry
// when the shard is full.
func (sh *cacheShard) add(h xxh3.Uint128, c *candidate) {
	e := cacheEntry{hash: c.hash, salt: string(c.salt)} // a copy: the entry outlives the config
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[h]; !ok && len(sh.m) >= ResolverCacheSize/resolverShards {
		for k := range sh.m { // map iteration starts at a random entry
			delete(sh.m, k)
			break
		}
	}
	sh.m[h] = e
}
