package filterconfig

import (
	"crypto/sha256"
	"strings"
)

// API key format, shared by the control plane's registry that issues keys and the edge filter
// that checks them: "ik_" + an 8-character public prefix + "_" + a secret of at least
// MinKeySecretLen characters, both in lowercase RFC 4648 base32 (a-z, 2-7) without padding. The
// prefix is public: it is the key of [Config.Keys]. Only SHA-256(salt || full key) is stored.
const (
	// KeyScheme starts every API key.
	KeyScheme = "ik_"
	// KeyPrefixLen is the length of the public prefix.
	KeyPrefixLen = 8
	// MinKeySecretLen is the shortest secret [ParseKeyPrefix] accepts.
	MinKeySecretLen = 32
	// MaxKeyLen bounds the length of a key [ParseKeyPrefix] accepts, so untrusted input costs
	// little.
	MaxKeyLen = 256
)

// HashKey returns SHA-256(salt || key), the hash stored for an API key ([Key.Hash]). The edge
// computes the same over the key a client presents, with the salt of each candidate key found
// by prefix. It does not allocate when len(salt)+len(key) <= [MaxSaltLen]+[MaxKeyLen], and it
// clears its copy of the key before it returns.
func HashKey(salt []byte, key string) [HashLen]byte {
	var buf [MaxSaltLen + MaxKeyLen]byte
	if len(salt)+len(key) > len(buf) {
		h := sha256.New()
		h.Write(salt)
		h.Write([]byte(key))
		var sum [HashLen]byte
		h.Sum(sum[:0])
		return sum
	}
	n := copy(buf[:], salt)
	n += copy(buf[n:], key)
	sum := sha256.Sum256(buf[:n])
	clear(buf[:n])
	return sum
}

// ParseKeyPrefix returns the public prefix of an API key in the format above
// ("ik_<8 chars>_<at least 32 chars>", lowercase base32, at most [MaxKeyLen] bytes). ok is false
// for anything else; it never allocates and is safe on untrusted input of any length.
func ParseKeyPrefix(key string) (prefix string, ok bool) {
	if len(key) > MaxKeyLen || !strings.HasPrefix(key, KeyScheme) {
		return "", false
	}
	rest := key[len(KeyScheme):]
	if len(rest) < KeyPrefixLen+1+MinKeySecretLen || rest[KeyPrefixLen] != '_' {
		return "", false
	}
	for i := 0; i < len(rest); i++ {
		if i == KeyPrefixLen {
			continue
		}
		if c := rest[i]; !(c >= 'a' && c <= 'z') && !(c >= '2' && c <= '7') {
			return "", false
		}
	}
	return rest[:KeyPrefixLen], true
}
