package envoyhost

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// The panic values of Envoy's shim when a C API call is refused (pkg/http/type.go).
const (
	errRequestFinished = "request has been finished"
	errFilterDestroyed = "golang filter has been destroyed"
	errNotInGo         = "not proccessing Go"
	errInvalidPhase    = "invalid phase, maybe headers/buffer already continued"
)

// Details of the local replies the host makes itself.
const (
	detailsPayloadTooLarge = "request_payload_too_large"
	detailsPanic           = "golang_filter_panic"
	detailsProtocolError   = "golang_filter_protocol_error"
	panicBody              = "error happened in filter\r\n"
)

// decision is the outcome of one phase: a status (Continue, StopAndBuffer...) or a local reply.
type decision struct {
	status api.StatusType
	local  *LocalReply
}

// stream is one request: the state Envoy keeps in its golang filter and processor states. It
// implements api.FilterCallbackHandler.
type stream struct {
	host  *Host
	req   *http.Request
	start time.Time
	grpc  bool // a gRPC request: local replies are trailers-only gRPC answers
	head  bool // a HEAD request: local replies have no body

	filter   api.StreamFilter // nil when the factory failed
	headers  *headerMap
	trailers *headerMap // nil unless the request has trailers
	dec, enc processState
	info     streamInfo

	mu                sync.Mutex
	phase             api.EnvoyRequestPhase // the phase processing in Go; 0 when none
	seq               uint64                // number of the current or last phase
	decided           bool                  // the current phase has its Continue or local reply
	ch                chan decision         // the current phase's decision
	pendingPanic      bool                  // a panic recovered outside a phase: answer 500 at the next
	headersContinued  bool
	trailersContinued bool
	routeRefreshed    bool
	out               []byte  // body data passed on
	pooled            *[]byte // the body buffer from bodyPools, for Result.ReleaseBody; nil: none
	local             *LocalReply
	respCode          uint32
	respDetails       string
	cluster           string // the upstream cluster the caller's router chose (SetUpstreamCluster)
	finished          bool
	destroyed         bool
	filterState       map[string]string
	metadata          map[string]map[string]interface{}
}

func newStream(h *Host, r *http.Request) *stream {
	s := &stream{
		host:  h,
		req:   r,
		start: time.Now(),
		grpc:  grpcwire.IsGRPC(r.Header.Get("Content-Type")),
		head:  r.Method == http.MethodHead,
	}
	s.dec = processState{s: s}
	s.enc = processState{s: s, encoding: true}
	s.info = streamInfo{s: s}
	s.headers = newHeaderMap(s, mapRequestHeaders, requestHeaders(r))
	return s
}

// requestHeaders builds Envoy's request header map from r: lower-cased names, pseudo-headers.
func requestHeaders(r *http.Request) map[string][]string {
	h := make(map[string][]string, len(r.Header)+5)
	for k, vs := range r.Header {
		k = strings.ToLower(k)
		h[k] = append(h[k], vs...)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h[":method"] = []string{r.Method}
	h[":path"] = []string{r.URL.RequestURI()}
	h[":authority"] = []string{r.Host}
	h[":scheme"] = []string{scheme}
	if r.ContentLength > 0 {
		h["content-length"] = []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	return h
}

// create makes the request's filter instance, as Envoy does at the first call into Go.
func (s *stream) create(f Filter) {
	defer func() {
		if e := recover(); e != nil {
			s.host.log.Error("golang filter factory panicked", "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
			s.filter = nil
		}
	}()
	s.filter = f.Factory(f.Config, s)
	if s.filter == nil {
		s.host.log.Error("golang filter factory returned no filter")
	}
}

// runPhase calls into the filter for one decode phase and returns the phase's decision: the
// status the filter returned (or, after Running, passed to Continue) or the local reply that
// ends the request. It returns an error only when ctx ends while the filter is deciding
// asynchronously; the phase then stays open (Envoy's DestroyReason Terminate).
func (s *stream) runPhase(ctx context.Context, ph api.EnvoyRequestPhase, fn func(api.StreamFilter) api.StatusType) (decision, error) {
	if s.filter == nil {
		return decision{local: s.panicReply()}, nil
	}
	s.mu.Lock()
	if s.pendingPanic {
		// Envoy answers a panic it could not answer when it happened at the next call into Go.
		s.mu.Unlock()
		return decision{local: s.panicReply()}, nil
	}
	s.phase = ph
	s.seq++
	s.decided = false
	s.ch = make(chan decision, 1)
	ch := s.ch
	s.mu.Unlock()

	status, panicked := s.call(fn)
	var d decision
	switch {
	case panicked:
		select {
		case d = <-ch:
		default:
			d = decision{local: s.panicReply()}
		}
	case status == api.Running:
		select {
		case d = <-ch:
		case <-ctx.Done():
			return decision{}, fmt.Errorf("cannot finish %s: the filter did not decide before the request ended: %w", ph, ctx.Err())
		}
	case status == api.LocalReply:
		select {
		case d = <-ch:
			if d.local == nil {
				d = decision{local: s.protocolError(fmt.Sprintf("%s called Continue(%d) and returned LocalReply", ph, d.status))}
			}
		default:
			d = decision{local: s.protocolError(fmt.Sprintf("%s returned LocalReply without calling SendLocalReply", ph))}
		}
	default:
		s.mu.Lock()
		already := s.decided
		s.decided = true
		s.mu.Unlock()
		if !already {
			d = decision{status: status}
			break
		}
		d = <-ch
		if d.local == nil {
			d = decision{local: s.protocolError(fmt.Sprintf("%s called Continue(%d) and returned %d: call exactly one of them", ph, d.status, status))}
		} else {
			s.host.log.Error("golang filter returned a status after SendLocalReply; the local reply stands", "phase", ph.String(), "status", int(status))
		}
	}
	if d.local == nil && (d.status == api.Running || d.status == api.LocalReply) {
		d = decision{local: s.protocolError(fmt.Sprintf("%s continued with status %d", ph, d.status))}
	}
	s.mu.Lock()
	s.phase = 0
	s.mu.Unlock()
	return d, nil
}

// call runs fn on the filter and recovers a panic as Envoy's shim does (RecoverPanic).
func (s *stream) call(fn func(api.StreamFilter) api.StatusType) (st api.StatusType, panicked bool) {
	defer func() {
		if e := recover(); e != nil {
			panicked = true
			s.recovered(e, debug.Stack())
		}
	}()
	return fn(s.filter), false
}

// recovered handles a recovered panic like Envoy's processState.RecoverPanic.
func (s *stream) recovered(e any, stack []byte) {
	switch e {
	case errRequestFinished, errFilterDestroyed:
		s.host.log.Info("golang filter panicked after its request ended (the client may have cancelled it)",
			"panic", fmt.Sprint(e), "stack", string(stack))
		return
	}
	s.host.log.Error("golang filter panicked", "panic", fmt.Sprint(e), "stack", string(stack))
	if e != errNotInGo && s.tryDecide(decision{local: s.panicReply()}) {
		return
	}
	s.mu.Lock()
	s.pendingPanic = true
	s.mu.Unlock()
}

// checkDecision panics like Envoy's C API when a Continue or local reply cannot be taken now.
// The caller holds s.mu.
func (s *stream) checkDecision() {
	switch {
	case s.destroyed:
		panic(errFilterDestroyed)
	case s.phase == 0 || s.decided:
		panic(errNotInGo)
	}
}

// decide records the current phase's decision, made by a filter callback.
func (s *stream) decide(d decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkDecision()
	s.decided = true
	s.ch <- d
}

// tryDecide records a decision if a phase waits for one.
func (s *stream) tryDecide(d decision) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.phase == 0 || s.decided {
		return false
	}
	s.decided = true
	s.ch <- d
	return true
}

// checkAlive panics like Envoy's C API once the filter is destroyed.
func (s *stream) checkAlive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		panic(errFilterDestroyed)
	}
}

func (s *stream) inGo() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase != 0
}

func (s *stream) refreshed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routeRefreshed
}

func (s *stream) continueHeaders() {
	s.mu.Lock()
	s.headersContinued = true
	s.mu.Unlock()
}

func (s *stream) continueTrailers() {
	s.mu.Lock()
	s.trailersContinued = true
	s.mu.Unlock()
}

// forward passes body data on; the stream takes ownership of data.
func (s *stream) forward(data []byte) {
	s.mu.Lock()
	if s.out == nil {
		s.out = data
	} else {
		s.out = append(s.out, data...)
	}
	s.mu.Unlock()
}

// loadTrailers builds the trailer map once the body was read to its end and reports whether
// the request has trailers.
func (s *stream) loadTrailers() bool {
	t := map[string][]string{}
	for k, vs := range s.req.Trailer {
		if len(vs) > 0 {
			k = strings.ToLower(k)
			t[k] = append(t[k], vs...)
		}
	}
	if len(t) == 0 {
		return false
	}
	s.trailers = newHeaderMap(s, mapRequestTrailers, t)
	return true
}

// finish ends the stream: OnStreamComplete, OnLog, OnDestroy, once.
func (s *stream) finish(status int, header http.Header, reason api.DestroyReason) {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	if status > 0 {
		s.respCode = uint32(status)
	}
	f := s.filter
	if f == nil {
		s.destroyed = true
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()

	s.guard("OnStreamComplete", f.OnStreamComplete)
	reqHeaders := s.headers.readOnlyCopy()
	var reqTrailers api.RequestTrailerMap
	if s.trailers != nil {
		reqTrailers = s.trailers.readOnlyCopy()
	}
	var respHeaders api.ResponseHeaderMap
	if status > 0 {
		respHeaders = newResponseHeaderMap(s, status, header)
	}
	s.guard("OnLog", func() { f.OnLog(reqHeaders, reqTrailers, respHeaders, nil) })

	s.mu.Lock()
	s.destroyed = true // Envoy marks the filter destroyed before it calls OnDestroy.
	s.mu.Unlock()
	s.guard("OnDestroy", func() { f.OnDestroy(reason) })
}

// guard calls a filter method outside the decode phases, logging a panic as Envoy does.
func (s *stream) guard(name string, fn func()) {
	defer func() {
		if e := recover(); e != nil {
			s.host.log.Error("golang filter panicked in "+name, "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// panicReply is Envoy's answer to a filter panic.
func (s *stream) panicReply() *LocalReply {
	return s.buildLocalReply(http.StatusInternalServerError, panicBody, nil, 0, detailsPanic)
}

// protocolError reports a filter bug on which Envoy would stall and answers 500.
func (s *stream) protocolError(msg string) *LocalReply {
	s.host.log.Error("golang filter broke the filter protocol; answering 500", "error", msg)
	return s.buildLocalReply(http.StatusInternalServerError, panicBody, nil, 0, detailsProtocolError)
}

// payloadTooLarge is Envoy's answer to a body above the buffer limit.
func (s *stream) payloadTooLarge() *LocalReply {
	return s.buildLocalReply(http.StatusRequestEntityTooLarge, "Payload Too Large", nil,
		httpToGRPCStatus(http.StatusRequestEntityTooLarge), detailsPayloadTooLarge)
}

// buildLocalReply builds a local reply like Envoy's Utility::sendLocalReply (without a local
// reply config).
func (s *stream) buildLocalReply(code int, body string, headers map[string][]string, grpcStatus int64, details string) *LocalReply {
	if code < 200 || code > 599 {
		return s.protocolError(fmt.Sprintf("SendLocalReply with status code %d, want 200 to 599", code))
	}
	h := http.Header{}
	for k, vs := range headers {
		for _, v := range vs {
			if v != "" {
				h.Add(k, v)
			}
		}
	}
	h.Del("Content-Length")
	if s.grpc {
		h.Set("Content-Type", "application/grpc")
		if h.Get("Grpc-Status") == "" {
			h.Set("Grpc-Status", strconv.FormatInt(grpcStatus, 10))
		}
		if body != "" && !s.head {
			h.Set("Grpc-Message", grpcwire.EncodeMessage(body))
		}
		return &LocalReply{Status: http.StatusOK, Header: h, Details: details}
	}
	lr := &LocalReply{Status: code, Header: h, Details: details}
	if body == "" {
		h.Del("Content-Type")
		return lr
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain")
	}
	if !s.head {
		lr.Body = []byte(body)
	}
	return lr
}

// httpToGRPCStatus is Envoy's Grpc::Utility::httpToGrpcStatus.
func httpToGRPCStatus(code int) int64 {
	switch code {
	case 400:
		return 13 // Internal
	case 401:
		return 16 // Unauthenticated
	case 403:
		return 7 // PermissionDenied
	case 404:
		return 12 // Unimplemented
	case 429, 502, 503, 504:
		return 14 // Unavailable
	}
	return 2 // Unknown
}

// processState implements api.DecoderFilterCallbacks and api.EncoderFilterCallbacks.
type processState struct {
	s        *stream
	encoding bool
}

var _ api.DecoderFilterCallbacks = (*processState)(nil)

// Continue ends the current phase with status (for a filter that returned Running).
func (p *processState) Continue(status api.StatusType) {
	if p.encoding {
		p.s.checkAlive()
		panic(errNotInGo)
	}
	p.s.decide(decision{status: status})
}

// SendLocalReply ends the request with a local reply.
func (p *processState) SendLocalReply(code int, body string, headers map[string][]string, grpcStatus int64, details string) {
	if p.encoding {
		p.s.checkAlive()
		panic(errNotInGo)
	}
	p.s.canDecide()
	lr := p.s.buildLocalReply(code, body, headers, grpcStatus, details)
	p.s.decide(decision{local: lr})
}

// canDecide panics unless a phase waits for a decision.
func (s *stream) canDecide() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkDecision()
}

// RecoverPanic recovers a panic in a goroutine of the filter and, like Envoy, answers 500 if a
// phase waits for a decision (else at the next phase).
func (p *processState) RecoverPanic() {
	if e := recover(); e != nil {
		p.s.recovered(e, debug.Stack())
	}
}

// AddData adds body data while processing headers or trailers.
func (p *processState) AddData(data []byte, _ bool) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.destroyed:
		panic(errFilterDestroyed)
	case p.encoding || s.phase == 0:
		panic(errNotInGo)
	case s.phase == api.DecodeDataPhase:
		panic(errInvalidPhase) // Envoy: use BufferInstance.Append instead
	}
	s.out = append(s.out, data...)
}

// api.FilterCallbackHandler

func (s *stream) StreamInfo() api.StreamInfo                         { return &s.info }
func (s *stream) DecoderFilterCallbacks() api.DecoderFilterCallbacks { return &s.dec }
func (s *stream) EncoderFilterCallbacks() api.EncoderFilterCallbacks { return &s.enc }

// ClearRouteCache records that the route must be matched again.
func (s *stream) ClearRouteCache() { s.clearRouteCache() }

// RefreshRouteCache records that the route must be matched again.
func (s *stream) RefreshRouteCache() { s.clearRouteCache() }

func (s *stream) clearRouteCache() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		panic(errFilterDestroyed)
	}
	s.routeRefreshed = true
}

// Log sends a filter's log line to the host's logger.
func (s *stream) Log(level api.LogType, msg string) {
	s.host.log.Log(context.Background(), slogLevel(level), msg, "source", "golang-filter")
}

// LogLevel is the most verbose level the host's logger accepts.
func (s *stream) LogLevel() api.LogType {
	for _, l := range []api.LogType{api.Trace, api.Debug, api.Info, api.Warn, api.Error} {
		if s.host.log.Enabled(context.Background(), slogLevel(l)) {
			return l
		}
	}
	return api.Critical
}

func slogLevel(l api.LogType) slog.Level {
	switch l {
	case api.Trace:
		return slog.LevelDebug - 4
	case api.Debug:
		return slog.LevelDebug
	case api.Info:
		return slog.LevelInfo
	case api.Warn:
		return slog.LevelWarn
	case api.Error:
		return slog.LevelError
	}
	return slog.LevelError + 4
}

// GetProperty returns the request attributes request.path, request.url_path, request.host,
// request.scheme, request.method, request.referer, request.useragent, request.id,
// request.protocol, request.time, source.address, source.port, destination.address,
// destination.port, response.code and response.code_details; others are api.ErrValueNotFound.
func (s *stream) GetProperty(key string) (string, error) {
	s.checkAlive()
	get := func(name string) (string, error) {
		if v, ok := s.headers.Get(name); ok {
			return v, nil
		}
		return "", api.ErrValueNotFound
	}
	switch key {
	case "request.path":
		return get(":path")
	case "request.url_path":
		p, err := get(":path")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p, err
	case "request.host":
		return get(":authority")
	case "request.scheme":
		return get(":scheme")
	case "request.method":
		return get(":method")
	case "request.referer":
		return get("referer")
	case "request.useragent":
		return get("user-agent")
	case "request.id":
		return get("x-request-id")
	case "request.protocol":
		if p, ok := s.info.Protocol(); ok {
			return p, nil
		}
	case "request.time":
		return s.start.Format("2006-01-02T15:04:05.000000-07:00"), nil
	case "source.address":
		return s.req.RemoteAddr, nil
	case "source.port":
		if _, port, err := net.SplitHostPort(s.req.RemoteAddr); err == nil {
			return port, nil
		}
	case "destination.address":
		if a := s.info.DownstreamLocalAddress(); a != "" {
			return a, nil
		}
	case "destination.port":
		if _, port, err := net.SplitHostPort(s.info.DownstreamLocalAddress()); err == nil {
			return port, nil
		}
	case "response.code":
		if c, ok := s.info.ResponseCode(); ok {
			return strconv.FormatUint(uint64(c), 10), nil
		}
	case "response.code_details":
		if d, ok := s.info.ResponseCodeDetails(); ok {
			return d, nil
		}
	}
	return "", api.ErrValueNotFound
}
