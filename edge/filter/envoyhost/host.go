package envoyhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// DefaultBufferLimit is Envoy's default per_connection_buffer_limit_bytes (1 MiB): the largest
// body the host buffers for a filter when Decode is given no limit.
const DefaultBufferLimit = 1 << 20

// chunkSize is how much body the host reads at a time, and so the largest chunk a streaming
// filter sees in one DecodeData call.
const chunkSize = 64 << 10

// Filter is a filter to run: Envoy's factory for the plugin and the config its parser returned
// (see [ParseConfig]). The host calls Factory once per request.
type Filter struct {
	Factory api.StreamFilterFactory
	Config  interface{}
}

// LocalReply is the answer a filter (or the host, for a too-large body or a filter bug) sent
// instead of forwarding the request, built as Envoy builds it.
type LocalReply struct {
	// Status is the HTTP status to write: the filter's code, or 200 for a gRPC request.
	Status int
	// Body is the body to write; empty for a gRPC request and for a HEAD request.
	Body []byte
	// Header holds the reply's headers (canonical keys), without Content-Length.
	Header http.Header
	// Details is Envoy's response code details: the filter's details argument, or
	// "request_payload_too_large", "golang_filter_panic" or "golang_filter_protocol_error" for
	// replies the host made.
	Details string
}

// Result is the outcome of decoding one request through a filter. Exactly one of Local and the
// forwarded request (Method, Path, Host, Header, Body, Trailer) is meaningful. A Result must be
// finished with [Result.Finish] once its response is complete.
type Result struct {
	// Local is the local reply that ended the request, or nil if the request is to be forwarded.
	Local *LocalReply
	// Method, Path and Host are the :method, :path and :authority pseudo-headers after the
	// filter (a filter may change them with SetMethod, SetPath, SetHost).
	Method, Path, Host string
	// Header holds the request headers to forward (canonical keys): without pseudo-headers,
	// Content-Length and Transfer-Encoding.
	Header http.Header
	// Body is the whole request body to forward, as the filter left it.
	Body []byte
	// Trailer holds the request trailers (canonical keys), or is nil when there are none.
	Trailer http.Header
	// RouteRefreshed reports whether the filter called RefreshRouteCache or ClearRouteCache:
	// the caller's router must then match the route again on the changed headers.
	RouteRefreshed bool

	s      *stream
	pooled atomic.Pointer[[]byte] // the body's buffer, until ReleaseBody gives it back
}

// ReleaseBody gives the buffer that holds the request body back for reuse by later requests.
// Call it once nothing reads Body (nor data the filter was given) any more: after the upstream
// exchange, its retries and any mirrored copy have closed their bodies. Without the call the
// buffer is left to the garbage collector; a second call does nothing. Safe for concurrent use.
func (r *Result) ReleaseBody() {
	if r == nil {
		return
	}
	if b := r.pooled.Swap(nil); b != nil {
		putBody(b)
	}
}

// Finish ends the request as Envoy does once the response is complete or the request is
// reset: it calls the filter's OnStreamComplete, OnLog (with the request headers and trailers
// as forwarded and the response headers) and OnDestroy(Normal), each guarded against panics.
// status is the response status written (0 if none was, for example when the upstream request
// failed without an answer) and header its headers; for a local reply pass Local.Status and
// Local.Header. Finish is idempotent and safe to call from any goroutine; calls after the first
// do nothing.
func (r *Result) Finish(status int, header http.Header) {
	if r == nil || r.s == nil {
		return
	}
	r.s.finish(status, header, api.Normal)
}

// SetUpstreamCluster records the upstream cluster the caller's router chose for the request,
// as Envoy's router sets the stream's upstream cluster info: from then on the filter's
// StreamInfo().UpstreamClusterName() returns it (ok false while it is ""). Call it before
// [Result.EncodeHeaders]. Safe to call from any goroutine.
func (r *Result) SetUpstreamCluster(name string) {
	if r == nil || r.s == nil {
		return
	}
	r.s.mu.Lock()
	r.s.cluster = name
	r.s.mu.Unlock()
}

// EncodeHeaders calls the filter's EncodeHeaders with the response headers, as Envoy does
// when the response of a forwarded request starts (the upstream's answer, or a reply of the
// router such as 503 no healthy upstream). status and header are the response's; endStream
// reports a response without body. The filter sees a read-only header map (writes panic with
// Envoy's "invalid phase" message and the panic is logged), and the host logs a status other
// than Continue as unsupported: the response goes on unchanged. StreamInfo().ResponseCode()
// returns status from then on. Call it at most once, before [Result.Finish]; it does nothing
// for a local reply or after Finish.
func (r *Result) EncodeHeaders(status int, header http.Header, endStream bool) {
	if r == nil || r.s == nil || r.Local != nil {
		return
	}
	s := r.s
	s.mu.Lock()
	if s.finished || s.filter == nil {
		s.mu.Unlock()
		return
	}
	s.respCode = uint32(status)
	f := s.filter
	s.mu.Unlock()
	h := newResponseHeaderMap(s, status, header)
	s.guard("EncodeHeaders", func() {
		if st := f.EncodeHeaders(h, endStream); st != api.Continue {
			s.host.log.Error("golang filter returned a status the host does not support in EncodeHeaders; the response goes on",
				"status", int(st))
		}
	})
}

// Host runs filters written for Envoy's golang HTTP filter. Its zero value is not usable; call
// [New]. A Host is safe for concurrent use.
type Host struct {
	log *slog.Logger
}

// New returns a host that sends the filters' callbacks.Log lines and its own reports of
// filter bugs and panics to log. A nil log discards them.
func New(log *slog.Logger) *Host {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Host{log: log}
}

// Decode runs the decoding side of one request through a new instance of f, as Envoy's golang
// filter does (see the package documentation for the exact semantics), reading r's body and
// trailers. bufferLimit bounds the body the host holds, in bytes (Envoy's
// per_connection_buffer_limit_bytes); zero or less means [DefaultBufferLimit]. A body above it
// is answered with Envoy's 413 local reply.
//
// Decode waits for a filter that answers asynchronously (Running) until ctx is done. It
// returns an error, and finishes the request itself (OnStreamComplete, OnLog, OnDestroy), only
// when the request cannot go on: ctx is done, or reading the body fails (the client went away).
// Otherwise it returns a Result, which the caller must finish with [Result.Finish] once the
// response is written: the filter may hold resources until then (the edge filter holds the
// request's in-flight bytes).
func (h *Host) Decode(ctx context.Context, f Filter, r *http.Request, bufferLimit int64) (*Result, error) {
	if f.Factory == nil {
		return nil, errors.New("cannot decode request: filter factory is nil")
	}
	if bufferLimit <= 0 {
		bufferLimit = DefaultBufferLimit
	}
	s := newStream(h, r)
	s.create(f)
	res, err := s.decode(ctx, bufferLimit)
	if err != nil {
		reason := api.Normal
		if s.inGo() {
			reason = api.Terminate
		}
		s.finish(0, nil, reason)
		return nil, err
	}
	return res, nil
}

// dataMode is how the host hands body data to the filter, after Envoy's FilterState.
type dataMode int

const (
	waitingData    dataMode = iota // call DecodeData with each chunk (streaming)
	waitingAllData                 // buffer until the end of the body, then call DecodeData once
)

// decode runs the phases of one request.
func (s *stream) decode(ctx context.Context, limit int64) (*Result, error) {
	endStream := noBody(s.req)
	d, err := s.runPhase(ctx, api.DecodeHeaderPhase, func(f api.StreamFilter) api.StatusType {
		st := f.DecodeHeaders(s.headers, endStream)
		if endStream && (st == api.StopAndBuffer || st == api.StopAndBufferWatermark) {
			// Envoy's shim panics here, and the panic becomes a 500.
			panic("received wait data status when there is no data, please fix the returned status")
		}
		return st
	})
	if err != nil {
		return nil, err
	}
	if d.local != nil {
		return s.localResult(d.local), nil
	}
	var mode dataMode
	switch d.status {
	case api.Continue:
		s.continueHeaders()
		mode = waitingData
	case api.StopAndBuffer:
		mode = waitingAllData
	case api.StopAndBufferWatermark:
		mode = waitingData
	default:
		return s.localResult(s.protocolError(fmt.Sprintf("DecodeHeaders returned unexpected status %d", d.status))), nil
	}
	if endStream {
		return s.forwardResult(), nil
	}

	rd := readers.Get().(*reader)
	defer readers.Put(rd)
	rd.br.Reset(s.req.Body)
	defer rd.br.Reset(nil)
	br, chunk := rd.br, rd.chunk
	var buffered []byte // Envoy's data_buffer_: data the filter asked to hold
	// size is the most the buffer needs: the declared length (within the limit), else the
	// limit. A declared length up to eagerBuffer gets its whole buffer at once (a typical
	// batch: no growing and copying as it arrives); a larger one only initialBuffer (a client
	// that declares 60 MB and stalls must not pin 60 MB), growing as the body arrives, never
	// past it.
	size := limit
	if s.req.ContentLength > 0 {
		size = min(s.req.ContentLength, limit)
	}
	if mode == waitingAllData && s.req.ContentLength > 0 {
		if size <= eagerBuffer {
			buffered, s.pooled = getBody(size)
		} else {
			buffered = make([]byte, 0, min(size, initialBuffer))
		}
	}
	var total int64
	trailers := false
	for last := false; !last; {
		// While the filter buffers the whole body, read straight into the buffer when it has
		// room for a whole chunk: one copy of the body fewer.
		into := chunk
		direct := mode == waitingAllData && cap(buffered)-len(buffered) >= chunkSize
		if direct {
			into = buffered[len(buffered) : len(buffered)+chunkSize]
		}
		n, rerr := io.ReadFull(br, into)
		switch {
		case rerr == nil:
			if _, perr := br.Peek(1); perr == io.EOF {
				last = true
			} else if perr != nil {
				return nil, fmt.Errorf("cannot read request body: %w", perr)
			}
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			last = true
		default:
			return nil, fmt.Errorf("cannot read request body: %w", rerr)
		}
		total += int64(n)
		if total > limit {
			return s.localResult(s.payloadTooLarge()), nil
		}
		if last {
			trailers = s.loadTrailers()
		}
		end := last && !trailers
		data := into[:n]

		var input []byte
		switch mode {
		case waitingAllData:
			if direct {
				buffered = buffered[:len(buffered)+n]
			} else {
				buffered = appendBody(buffered, data, size)
			}
			if !last {
				continue
			}
			input, buffered = buffered, nil
		default: // waitingData
			input = appendBody(buffered, data, size)
			buffered = nil
		}
		if len(input) == 0 && trailers {
			// Envoy goes straight to the trailers when no data waits.
			break
		}
		buf := s.newBuffer(input)
		d, err := s.runPhase(ctx, api.DecodeDataPhase, func(f api.StreamFilter) api.StatusType {
			return f.DecodeData(buf, end)
		})
		if err != nil {
			return nil, err
		}
		if d.local != nil {
			return s.localResult(d.local), nil
		}
		switch d.status {
		case api.Continue:
			s.forward(buf.take())
			if !trailers {
				s.continueHeaders()
			}
			mode = waitingData
		case api.StopAndBuffer, api.StopAndBufferWatermark, api.StopNoBuffer:
			if end {
				return s.localResult(s.protocolError(fmt.Sprintf("DecodeData returned status %d (wait for more data) with endStream=true", d.status))), nil
			}
			if trailers {
				// Envoy lets the data pass and goes on with the trailers.
				s.forward(buf.take())
				break
			}
			switch d.status {
			case api.StopAndBuffer:
				buffered, mode = buf.take(), waitingAllData
			case api.StopAndBufferWatermark:
				buffered, mode = buf.take(), waitingData
			default: // StopNoBuffer drops the data.
				buf.take()
				mode = waitingData
			}
		default:
			return s.localResult(s.protocolError(fmt.Sprintf("DecodeData returned unexpected status %d", d.status))), nil
		}
	}
	if trailers {
		d, err := s.runPhase(ctx, api.DecodeTrailerPhase, func(f api.StreamFilter) api.StatusType {
			return f.DecodeTrailers(s.trailers)
		})
		if err != nil {
			return nil, err
		}
		if d.local != nil {
			return s.localResult(d.local), nil
		}
		if d.status != api.Continue {
			return s.localResult(s.protocolError(fmt.Sprintf("DecodeTrailers returned unexpected status %d", d.status))), nil
		}
		s.continueTrailers()
		s.continueHeaders()
	}
	return s.forwardResult(), nil
}

// appendBody appends data to a body buffer that needs at most size bytes. It grows the buffer
// by a quarter (at least to initialBuffer), never past size when the body fits in it, so a
// body with a content-length ends in a buffer of exactly its length, and one being read holds
// at most a quarter more than its bytes (plus initialBuffer): the filter reserves the bytes,
// and the slack of append's doubling would be held beyond them.
func appendBody(buf, data []byte, size int64) []byte {
	need := len(buf) + len(data)
	if need <= cap(buf) {
		return append(buf, data...)
	}
	c := max(need, cap(buf)+cap(buf)/4, initialBuffer)
	if int64(need) <= size {
		c = min(c, int(size))
	}
	grown := make([]byte, len(buf), c)
	copy(grown, buf)
	return append(grown, data...)
}

// reader reads a body in chunks; readers are pooled.
type reader struct {
	br    *bufio.Reader
	chunk []byte
}

// initialBuffer bounds the body buffer a request gets before its body arrives (it grows as
// the body does, up to the buffer limit).
const initialBuffer = 64 << 10

// eagerBuffer is the largest declared body length whose buffer is allocated whole before the
// body arrives.
const eagerBuffer = 1 << 20

// Buffers of declared bodies up to eagerBuffer are reused across requests (Result.ReleaseBody):
// allocating and clearing one per request, and the garbage collections those allocations
// caused, were a fifth of the Go edge's CPU (make bench-ack). bodyPools[i] holds buffers of
// (i+1) × bodyClass bytes; a body of size bytes takes the smallest class that holds it, so a
// buffer holds at most bodyClass - 1 bytes more than its body.
const bodyClass = 64 << 10

var bodyPools [eagerBuffer / bodyClass]sync.Pool // of *[]byte

// getBody returns an empty buffer of capacity size (0 < size <= eagerBuffer) and the pooled
// array behind it.
func getBody(size int64) ([]byte, *[]byte) {
	class := (size + bodyClass - 1) / bodyClass
	b, ok := bodyPools[class-1].Get().(*[]byte)
	if !ok {
		a := make([]byte, class*bodyClass)
		b = &a
	}
	return (*b)[:0:size], b
}

// putBody gives a buffer from getBody back.
func putBody(b *[]byte) {
	if class := len(*b) / bodyClass; class >= 1 && class <= len(bodyPools) && len(*b)%bodyClass == 0 {
		bodyPools[class-1].Put(b)
	}
}

var readers = sync.Pool{New: func() any {
	return &reader{br: bufio.NewReaderSize(nil, chunkSize), chunk: make([]byte, chunkSize)}
}}

// noBody reports whether r has neither body nor trailers: Envoy's endStream on the headers.
func noBody(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
}

// localResult finishes decoding with a local reply.
func (s *stream) localResult(lr *LocalReply) *Result {
	s.mu.Lock()
	s.local = lr
	s.respCode, s.respDetails = uint32(lr.Status), lr.Details
	s.mu.Unlock()
	res := &Result{Local: lr, RouteRefreshed: s.refreshed(), s: s}
	res.pooled.Store(s.pooled)
	return res
}

// forwardResult finishes decoding with the request to forward.
func (s *stream) forwardResult() *Result {
	res := &Result{RouteRefreshed: s.refreshed(), s: s}
	res.pooled.Store(s.pooled)
	hs := s.headers.snapshot()
	res.Header = make(http.Header, len(hs))
	for k, vs := range hs {
		switch {
		case k == ":method":
			res.Method = vs[0]
		case k == ":path":
			res.Path = vs[0]
		case k == ":authority":
			res.Host = vs[0]
		case strings.HasPrefix(k, ":"), k == "content-length", k == "transfer-encoding":
		default:
			res.Header[http.CanonicalHeaderKey(k)] = vs
		}
	}
	if s.trailers != nil {
		ts := s.trailers.snapshot()
		res.Trailer = make(http.Header, len(ts))
		for k, vs := range ts {
			res.Trailer[http.CanonicalHeaderKey(k)] = vs
		}
	}
	s.mu.Lock()
	res.Body = s.out
	s.mu.Unlock()
	if res.Body == nil {
		res.Body = []byte{}
	}
	return res
}
