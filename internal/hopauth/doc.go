// Package hopauth authenticates the internal hops of the pipeline (edge → normalizer →
// sink writer) with a keyed signature over the internal headers the receiver trusts.
//
// # Contract
//
// The sender computes [Sign] over [Claims] (the hop's audience, the tenant, the event or
// record count header as sent, the shadow flag) and the current time, and sends the result in
// the [Header] header:
//
//	v1.<unix seconds>.<key id>.<base64url HMAC-SHA256, unpadded>
//
// The MAC covers a canonical encoding of the version, the time, the key id and every claim,
// each field prefixed by its length, so that no two different claim sets encode alike. The
// receiver calls [Verifier.Verify] with the claims it read from the request's own headers: the
// signature holds only if every one of them is what the sender signed, the key id names one
// of its keys, the MAC matches (compared in constant time), and the time is within the
// verifier's skew (default ±5 min, [DefaultMaxSkew]) of its clock. Verify does not allocate.
//
// # Keys and rotation
//
// A key is at least [MinKeyBytes] (32) random bytes. A key file ([LoadKeys]) holds one key per
// line, hex or base64 (standard or URL alphabet, padded or not); blank lines and lines
// starting with # are skipped. The first key signs; every key verifies. A key's id is derived
// from the key (the first 4 bytes of a SHA-256, in hex): it names the key, it reveals nothing
// of it. To rotate: append the new key to every service's file and restart them (they accept
// both), then move it first (the senders sign with it), then remove the old one.
//
// # Threat model
//
// It protects against any caller that can reach an internal port without the key: it cannot
// choose a tenant (no quota bypass, no topics of arbitrary tenants, no unbounded metric
// labels), an event or record count, or the shadow flag, nor move a signature from one hop to
// the other (the audience is signed). It does not protect the confidentiality of internal
// traffic nor the body: someone who can read that traffic can replay a signature, with any
// body, for the same tenant and claims within the skew window. Keep the internal network
// isolated (or use TLS between the hops) for that; the signature is the authentication that
// holds even when isolation fails open.
package hopauth
