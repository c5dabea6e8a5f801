// Package gzipsize sizes the buffer a gzip body inflates into, from the size its trailer
// claims, for the edge filter and the normalizer alike: an honest body gets one exact
// allocation, and a lie costs at most what deflate can produce from the body, or the limit.
package gzipsize

// MaxDeflateRatio bounds how many bytes deflate can produce per byte of input (a length-258
// match in about two bits: 1032, rounded up). A size claimed by a gzip trailer beyond it is a
// lie.
const MaxDeflateRatio = 1040

// Hint returns the decompressed size that body's gzip trailer claims (ISIZE, the last
// member's size modulo 2^32), within what len(body) can possibly inflate to and within limit,
// plus one byte for the read that sees EOF; 0 when body is too short to hold a trailer.
func Hint(body []byte, limit int64) int64 {
	if len(body) < 18 { // a gzip header (10) and trailer (8)
		return 0
	}
	t := body[len(body)-4:]
	isize := int64(t[0]) | int64(t[1])<<8 | int64(t[2])<<16 | int64(t[3])<<24
	return min(isize, int64(len(body))*MaxDeflateRatio, limit) + 1
}
