package eventcount

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
)

// DecompressedTooLargeError reports a gzip body that decompresses to more than the limit. The
// normalizer answers such a body with 413 (err-ingest-decompressed-too-large) when its own
// limit is the same.
type DecompressedTooLargeError struct {
	// Kind is the body's format.
	Kind Kind
	// Limit is the bound in bytes that the decompressed body exceeds.
	Limit int64
}

// Error returns e.g. "cannot count events of ndjson body: gzip body decompresses to more than
// the 8388608-byte limit".
func (e *DecompressedTooLargeError) Error() string {
	return fmt.Sprintf("cannot count events of %s body: gzip body decompresses to more than the %d-byte limit", e.Kind, e.Limit)
}

// Gunzip counts the events of gzip bodies with a decompressor and a buffer that it keeps from
// call to call, so that a warm Gunzip allocates almost nothing (compress/flate still allocates
// small Huffman tables for some blocks: about 20 KB per MB of output). It is not safe for
// concurrent use: keep one per worker, or a sync.Pool of them. The zero value is ready to use.
type Gunzip struct {
	zr  *gzip.Reader
	src bytes.Reader
	buf []byte
	// MaxRetainedBytes bounds the buffer kept between calls, in bytes: a larger one, grown for
	// an unusually large body, is dropped after the call. Zero means 8 MiB.
	MaxRetainedBytes int
}

// Count decompresses body (gzip, concatenated members allowed, as the normalizer reads it with
// compress/gzip) into the Gunzip's buffer, at most maxDecompressed bytes, and counts the events
// of the result as [Count] does. decompressed is the number of bytes decompressed (up to
// maxDecompressed+1 when the body is too large).
//
// Errors: a *DecompressedTooLargeError when the body decompresses to more than
// maxDecompressed bytes (decompression stops there, so a gzip bomb costs at most
// maxDecompressed bytes of work); a *MalformedError when body is not gzip, is truncated or
// corrupt (Err holds the decompressor's error), or when the decompressed body cannot be
// walked (see Count).
func (g *Gunzip) Count(k Kind, body []byte, maxDecompressed int64) (events int, decompressed int64, err error) {
	out, err := g.decompress(k, body, maxDecompressed)
	defer g.release()
	if err != nil {
		return 0, int64(len(out)), err
	}
	n, err := Count(k, out)
	return n, int64(len(out)), err
}

// decompress reads body into g.buf as the normalizer does (io.LimitReader(zr, max+1)).
func (g *Gunzip) decompress(k Kind, body []byte, limit int64) ([]byte, error) {
	malformed := func(err error) error {
		return &MalformedError{Kind: k, Offset: -1, Reason: "cannot decompress gzip body", Err: err}
	}
	g.src.Reset(body)
	if g.zr == nil {
		zr, err := gzip.NewReader(&g.src)
		if err != nil {
			return nil, malformed(err)
		}
		g.zr = zr
	} else if err := g.zr.Reset(&g.src); err != nil {
		return nil, malformed(err)
	}
	limit = min(max(limit, 0), math.MaxInt64-1)
	lr := io.LimitedReader{R: g.zr, N: limit + 1}
	out := g.buf[:0]
	for {
		if len(out) == cap(out) {
			// Grow geometrically, from about 4 times the compressed size, never past the limit.
			want := int64(max(2*cap(out), 4*len(body), 32<<10))
			want = max(min(want, limit+1), int64(cap(out))+1)
			grown := make([]byte, len(out), want)
			copy(grown, out)
			out = grown
		}
		n, err := lr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		g.buf = out
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, malformed(err)
		}
	}
	if int64(len(out)) > limit {
		return out, &DecompressedTooLargeError{Kind: k, Limit: limit}
	}
	return out, nil
}

// release drops a buffer grown past MaxRetainedBytes.
func (g *Gunzip) release() {
	keep := g.MaxRetainedBytes
	if keep == 0 {
		keep = 8 << 20
	}
	if cap(g.buf) > keep {
		g.buf = nil
	}
}

// CountGzip is Gunzip.Count with a fresh decompressor and the caller's buffer: scratch is used
// for the decompressed body and updated to the grown buffer. A decompressor costs about 40 KiB
// of allocation, so a hot path should keep Gunzips in a sync.Pool instead.
func CountGzip(k Kind, body []byte, maxDecompressed int64, scratch *[]byte) (events int, decompressed int64, err error) {
	var g Gunzip
	if scratch != nil {
		g.buf = *scratch
	}
	out, err := g.decompress(k, body, maxDecompressed)
	if scratch != nil {
		*scratch = g.buf
	}
	if err != nil {
		return 0, int64(len(out)), err
	}
	n, err := Count(k, out)
	return n, int64(len(out)), err
}
