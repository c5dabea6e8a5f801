package hopauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"
)

// The header and its parameters.
const (
	// Header carries the signature of a hop, in Go's canonical form. It starts with the edge's
	// internal header prefix (x-ingest-), so the edge strips client copies.
	Header = "X-Ingest-Hop-Auth"
	// Version starts every signature this package makes and accepts.
	Version = "v1"
	// MinKeyBytes is the shortest key NewKey accepts; MaxKeyBytes the longest.
	MinKeyBytes = 32
	MaxKeyBytes = 1024
	// DefaultMaxSkew is how far a signature's time may be from the verifier's clock, either way,
	// when NewVerifier is given 0.
	DefaultMaxSkew = 5 * time.Minute
	// MaxHeaderLen bounds the header ParseHeader accepts; a signature is about 70 bytes.
	MaxHeaderLen = 128
	// MaxClaimLen bounds each claim (audience, tenant, count), in bytes.
	MaxClaimLen = 255
)

// The audiences: which hop a signature is for, so that one cannot be replayed on the other.
const (
	// AudienceNormalizer is the edge → normalizer hop.
	AudienceNormalizer = "normalizer"
	// AudienceSinkWriter is the normalizer → sink writer hop.
	AudienceSinkWriter = "sinkwriter"
)

const (
	keyIDLen = 8  // hex of 4 bytes
	macLen   = 43 // unpadded base64url of 32 bytes
)

// Kinds of verification failure, matched with errors.Is. Verify returns them unwrapped (it
// does not allocate); each is also a bounded metric label (Cause).
var (
	// ErrMissing is returned for a request without a signature.
	ErrMissing = errors.New("no signature")
	// ErrMalformed is returned for a header that is not v1.<unix>.<key id>.<mac>, or claims
	// longer than MaxClaimLen.
	ErrMalformed = errors.New("malformed signature")
	// ErrUnknownKey is returned for a signature by a key the verifier does not hold.
	ErrUnknownKey = errors.New("signature by an unknown key")
	// ErrBadSignature is returned when the MAC does not match the claims.
	ErrBadSignature = errors.New("signature does not match the request")
	// ErrExpired is returned for a valid signature whose time is further than the allowed
	// skew from the verifier's clock.
	ErrExpired = errors.New("signature time outside the allowed clock skew")
)

// Cause returns a short, bounded label for a verification error: missing, malformed,
// unknown_key, bad_signature, expired, or other.
func Cause(err error) string {
	switch {
	case errors.Is(err, ErrMissing):
		return "missing"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrExpired):
		return "expired"
	}
	return "other"
}

// Claims are what a signature vouches for: the internal headers the receiver trusts.
type Claims struct {
	// Audience is the hop: AudienceNormalizer or AudienceSinkWriter.
	Audience string
	// Tenant is the tenant id of the request.
	Tenant string
	// Count is the event count (edge → normalizer) or record count (normalizer → sink writer)
	// header exactly as sent; "" when the request carries none.
	Count string
	// Shadow is true on a batch of mirrored shadow traffic (normalizer → sink writer).
	Shadow bool
}

// Key is one HMAC-SHA256 key. It is safe for concurrent use.
type Key struct {
	id     string
	secret []byte
	pool   sync.Pool // *macState
}

// macState is the scratch space of one MAC computation.
type macState struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
	enc [macLen]byte
}

// NewKey returns the key of secret, MinKeyBytes to MaxKeyBytes bytes; it keeps a copy.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < MinKeyBytes || len(secret) > MaxKeyBytes {
		return nil, fmt.Errorf("cannot use a hop key of %d bytes: want %d to %d random bytes", len(secret), MinKeyBytes, MaxKeyBytes)
	}
	s := append([]byte(nil), secret...)
	id := sha256.Sum256(append([]byte("ingest-hop-key-id\x00"), s...))
	k := &Key{id: hex.EncodeToString(id[:keyIDLen/2]), secret: s}
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, s), msg: make([]byte, 0, 64+3*MaxClaimLen)} }
	return k, nil
}

// Secret returns a copy of the key material: for the control plane, which sends the signing
// key to the edge filters (filterconfig.Config.HopKey). Never log it.
func (k *Key) Secret() []byte { return append([]byte(nil), k.secret...) }

// ID returns the key's id: 8 hex digits derived from the key, safe to log.
func (k *Key) ID() string { return k.id }

// mac computes the MAC of the canonical encoding into st.enc; false when a claim is too long.
func (k *Key) mac(st *macState, unix int64, c Claims) bool {
	if len(c.Audience) > MaxClaimLen || len(c.Tenant) > MaxClaimLen || len(c.Count) > MaxClaimLen {
		return false
	}
	var num [20]byte
	m := append(st.msg[:0], "ingest-hop"...)
	m = appendField(m, Version)
	m = appendFieldBytes(m, strconv.AppendInt(num[:0], unix, 10))
	m = appendField(m, k.id)
	m = appendField(m, c.Audience)
	m = appendField(m, c.Tenant)
	m = appendField(m, c.Count)
	if c.Shadow {
		m = appendField(m, "1")
	} else {
		m = appendField(m, "0")
	}
	st.msg = m
	st.h.Reset()
	st.h.Write(m)
	st.h.Sum(st.sum[:0])
	base64.RawURLEncoding.Encode(st.enc[:], st.sum[:])
	return true
}

// appendField appends s prefixed by its length (at most 255).
func appendField(m []byte, s string) []byte { return append(append(m, byte(len(s))), s...) }

func appendFieldBytes(m, b []byte) []byte { return append(append(m, byte(len(b))), b...) }

// Sign returns the Header value that vouches for c at now, signed with k. It fails only for a
// claim longer than MaxClaimLen.
func Sign(k *Key, now time.Time, c Claims) (string, error) {
	st := k.pool.Get().(*macState)
	defer k.pool.Put(st)
	unix := now.Unix()
	if !k.mac(st, unix, c) {
		return "", fmt.Errorf("cannot sign claims: a claim is longer than %d bytes", MaxClaimLen)
	}
	out := make([]byte, 0, len(Version)+1+20+1+keyIDLen+1+macLen)
	out = append(out, Version...)
	out = append(out, '.')
	out = strconv.AppendInt(out, unix, 10)
	out = append(out, '.')
	out = append(out, k.id...)
	out = append(out, '.')
	out = append(out, st.enc[:]...)
	return string(out), nil
}

// Parsed is a header split into its parts by ParseHeader.
type Parsed struct {
	Unix  int64  // the signing time, unix seconds
	KeyID string // 8 lower-case hex digits
	MAC   string // 43 characters of unpadded base64url
}

// ParseHeader splits a Header value "v1.<unix>.<key id>.<mac>": unix is 1 to 18 decimal
// digits without leading zeros, the key id 8 lower-case hex digits, the MAC 43 base64url characters. Anything
// else, or a value longer than MaxHeaderLen, is ErrMalformed (ErrMissing when empty). It does
// not allocate and is safe on untrusted input of any length.
func ParseHeader(h string) (Parsed, error) {
	if h == "" {
		return Parsed{}, ErrMissing
	}
	if len(h) > MaxHeaderLen || len(h) < len(Version)+1 || h[:len(Version)] != Version || h[len(Version)] != '.' {
		return Parsed{}, ErrMalformed
	}
	rest := h[len(Version)+1:]
	var p Parsed
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		p.Unix = p.Unix*10 + int64(rest[i]-'0')
		i++
		if i > 18 {
			return Parsed{}, ErrMalformed
		}
	}
	if i == 0 || i >= len(rest) || rest[i] != '.' || (rest[0] == '0' && i > 1) { // no leading zeros: one header per signature
		return Parsed{}, ErrMalformed
	}
	rest = rest[i+1:]
	if len(rest) != keyIDLen+1+macLen || rest[keyIDLen] != '.' {
		return Parsed{}, ErrMalformed
	}
	p.KeyID, p.MAC = rest[:keyIDLen], rest[keyIDLen+1:]
	for i := 0; i < len(p.KeyID); i++ {
		if c := p.KeyID[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return Parsed{}, ErrMalformed
		}
	}
	for i := 0; i < len(p.MAC); i++ {
		if c := p.MAC[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Parsed{}, ErrMalformed
		}
	}
	return p, nil
}

// Verifier checks signatures against one or more keys (the current and the previous ones,
// for rotation). It is safe for concurrent use.
type Verifier struct {
	keys []*Key
	skew int64 // seconds
}

// NewVerifier returns a Verifier accepting signatures by any of keys within maxSkew of its
// clock, either way; 0 means DefaultMaxSkew. It needs at least one key.
func NewVerifier(keys []*Key, maxSkew time.Duration) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, errors.New("cannot create a hop verifier: no keys")
	}
	if maxSkew < 0 {
		return nil, fmt.Errorf("cannot create a hop verifier: max skew %v is negative", maxSkew)
	}
	if maxSkew == 0 {
		maxSkew = DefaultMaxSkew
	}
	return &Verifier{keys: append([]*Key(nil), keys...), skew: int64(maxSkew / time.Second)}, nil
}

// Verify checks that header (a Header value) signs exactly c, with one of the verifier's
// keys, at a time within the skew of now. It returns nil, or one of ErrMissing, ErrMalformed,
// ErrUnknownKey, ErrBadSignature, ErrExpired, unwrapped. It does not allocate.
func (v *Verifier) Verify(header string, now time.Time, c Claims) error {
	p, err := ParseHeader(header)
	if err != nil {
		return err
	}
	var k *Key
	for _, kk := range v.keys {
		if kk.id == p.KeyID {
			k = kk
			break
		}
	}
	if k == nil {
		return ErrUnknownKey
	}
	st := k.pool.Get().(*macState)
	defer k.pool.Put(st)
	if !k.mac(st, p.Unix, c) {
		return ErrMalformed
	}
	var diff byte
	for i := 0; i < macLen; i++ { // constant time: the length is public
		diff |= st.enc[i] ^ p.MAC[i]
	}
	if diff != 0 {
		return ErrBadSignature
	}
	if d := now.Unix() - p.Unix; d > v.skew || d < -v.skew {
		return ErrExpired
	}
	return nil
}
