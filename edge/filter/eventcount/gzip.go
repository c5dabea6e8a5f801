package eventcount

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"

	"github.com/ingestdev/ingest/internal/gzipsize"
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

// Budget is a bound that a Gunzip reserves its decompression buffer against while it counts,
// e.g. the edge's in-flight bytes (*admission.Inflight implements it). It must be safe for
// concurrent use.
type Budget interface {
	// Acquire reserves n bytes and reports whether they fit; false reserves nothing.
	Acquire(n int64) bool
	// Release returns n bytes reserved by Acquire.
	Release(n int64)
}

// BudgetExceededError reports a gzip body whose decompression buffer did not fit in the
// Gunzip's Budget: decompression stopped there. The filter answers it with 503
// (err-ingest-edge-full).
type BudgetExceededError struct {
	// Kind is the body's format.
	Kind Kind
	// Want is the buffer size in bytes that did not fit; Held what the call had reserved.
	Want, Held int64
}

// Error returns e.g. "cannot count events of ndjson body: a decompression buffer of 8388608
// bytes does not fit in the in-flight bound (1048576 bytes held)".
func (e *BudgetExceededError) Error() string {
	return fmt.Sprintf("cannot count events of %s body: a decompression buffer of %d bytes does not fit in the in-flight bound (%d bytes held)",
		e.Kind, e.Want, e.Held)
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
	// Budget, when not nil, is reserved the decompression buffer of each call before it is
	// filled (the part a retained buffer already has) or allocated (what it grows by), and
	// given back when the call returns; a buffer that does not fit stops decompression with a
	// *BudgetExceededError. Nil reserves nothing.
	Budget Budget
	held   int64 // reserved from Budget in this call
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
//
// A gRPC kind's body (with grpc-encoding gzip) is one length-prefixed message: a compressed
// one is decompressed as above and counted, an uncompressed one (a client may send either) is
// counted as it is; decompressed is then the message's size.
func (g *Gunzip) Count(k Kind, body []byte, maxDecompressed int64) (events int, decompressed int64, err error) {
	if k.GRPC() {
		msg, compressed, err := unframe(k, body)
		if err != nil {
			return 0, 0, err
		}
		if !compressed {
			n, err := countMessage(k, msg)
			return n, int64(len(msg)), err
		}
		body = msg
	}
	out, err := g.decompress(k, body, maxDecompressed)
	defer g.release()
	defer g.unreserve()
	if err != nil {
		return 0, int64(len(out)), err
	}
	n, err := Count(k.message(), out)
	if me, ok := err.(*MalformedError); ok {
		me.Kind = k
	}
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
	// The first buffer is what the trailer claims, so that an honest body is decompressed
	// into one exact allocation; a body that inflates further grows it geometrically. Only
	// the part reserved (fill) is filled, even of a larger retained buffer.
	want, fill := gzipsize.Hint(body, limit), int64(0)
	if want == 0 {
		want = 32 << 10
	}
	for {
		if int64(len(out)) == fill {
			if lr.N == 0 { // limit+1 bytes: too large
				break
			}
			if fill > 0 {
				// Grow geometrically, from about 4 times the compressed size, never past the limit.
				want = max(2*fill, 4*int64(len(body)), 32<<10)
			}
			want = max(min(want, limit+1), fill+1)
			if err := g.reserve(k, want); err != nil {
				return out, err
			}
			if int64(cap(out)) < want {
				grown := make([]byte, len(out), want)
				copy(grown, out)
				out = grown
			}
			fill = want
		}
		n, err := lr.Read(out[len(out):fill])
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

// reserve brings the call's reservation from the Budget up to n bytes (the buffer it fills);
// a reservation that does not fit is a *BudgetExceededError.
func (g *Gunzip) reserve(k Kind, n int64) error {
	if g.Budget == nil || n <= g.held {
		return nil
	}
	if !g.Budget.Acquire(n - g.held) {
		return &BudgetExceededError{Kind: k, Want: n, Held: g.held}
	}
	g.held = n
	return nil
}

// unreserve gives the call's reservation back to the Budget.
func (g *Gunzip) unreserve() {
	if g.held > 0 {
		g.Budget.Release(g.held)
		g.held = 0
	}
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
	g := Gunzip{MaxRetainedBytes: math.MaxInt} // the caller's buffer is kept, however large
	if scratch != nil {
		g.buf = *scratch
	}
	events, decompressed, err = g.Count(k, body, maxDecompressed)
	if scratch != nil {
		*scratch = g.buf
	}
	return events, decompressed, err
}
