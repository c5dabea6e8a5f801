package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"time"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// API key format: "ik_" + 8-character public prefix + "_" + 52-character secret, both in
// lowercase RFC 4648 base32 (a-z, 2-7) without padding. The prefix holds 40 random bits and is
// unique in the registry (it is also the key's ID); the secret holds 256 random bits from
// crypto/rand. Only the prefix, a 16-byte random salt and SHA-256(salt || full key) are stored.
//
// The format, the hash and the prefix parser are defined in edge/filter/filterconfig, which the
// edge filter shares; the names here are aliases.
const (
	// KeyScheme starts every API key.
	KeyScheme = filterconfig.KeyScheme
	// KeyPrefixLen is the length of the public prefix.
	KeyPrefixLen = filterconfig.KeyPrefixLen
	// KeySecretLen is the length of the secret part of keys this registry creates. Parsing
	// accepts secrets of at least MinKeySecretLen characters.
	KeySecretLen = 52
	// MinKeySecretLen is the shortest secret ParseKeyPrefix accepts.
	MinKeySecretLen = filterconfig.MinKeySecretLen
	// SaltLen is the length of a key's salt in bytes.
	SaltLen = 16
)

// keyEncoding is lowercase base32 without padding.
var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// HashKey returns SHA-256(salt || key), the hash stored for an API key. The edge computes the
// same over the key a client presents, with the salt of each candidate key found by prefix.
func HashKey(salt []byte, key string) []byte {
	h := filterconfig.HashKey(salt, key)
	return h[:]
}

// ParseKeyPrefix returns the public prefix of an API key in the format this registry issues
// ("ik_<8 chars>_<at least 32 chars>", lowercase base32). ok is false for anything else; it
// never allocates and is safe on untrusted input of any length.
func ParseKeyPrefix(key string) (prefix string, ok bool) {
	return filterconfig.ParseKeyPrefix(key)
}

// Verify reports, in constant time for keys of the same length, whether key is this
// credential. It does not look at RevokedAt: see ActiveAt.
func (k APIKey) Verify(key string) bool {
	return len(k.Hash) == sha256.Size && subtle.ConstantTimeCompare(HashKey(k.Salt, key), k.Hash) == 1
}

// ActiveAt reports whether the key is accepted at t: it is not revoked, or its revocation
// (the end of a rotation's grace period) is still in the future.
func (k APIKey) ActiveAt(t time.Time) bool { return k.RevokedAt == nil || t.Before(*k.RevokedAt) }

// NewKey is an API key as created: the full key, shown once, and what is stored of it.
type NewKey struct {
	Key    string // the full key; never stored, never shown again
	APIKey APIKey // stored metadata: ID (= Prefix), Prefix, Salt, Hash, CreatedAt
}

// generateKey makes a new key from random bytes read from rnd.
func generateKey(rnd io.Reader, now time.Time) (NewKey, error) {
	var buf [5 + 32 + SaltLen]byte
	if _, err := io.ReadFull(rnd, buf[:]); err != nil {
		return NewKey{}, fmt.Errorf("cannot read random bytes for an API key: %w", err)
	}
	prefix := keyEncoding.EncodeToString(buf[:5])
	secret := keyEncoding.EncodeToString(buf[5:37])
	salt := append([]byte(nil), buf[37:]...)
	key := KeyScheme + prefix + "_" + secret
	return NewKey{Key: key, APIKey: APIKey{
		ID:        prefix,
		Prefix:    prefix,
		Salt:      salt,
		Hash:      HashKey(salt, key),
		CreatedAt: now,
	}}, nil
}
