package normalizer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fastjson"

	"github.com/ingestdev/ingest/internal/grpcwire"
	"github.com/ingestdev/ingest/internal/gzipsize"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/internal/tenant"
	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/record"
)

// Internal headers. The edge sets them and strips client copies; a normalizer with a hop
// verifier (WithHopAuth) trusts the tenant and event count only under the edge's signature
// (hopauth.Header).
const (
	// HeaderTenant names the tenant the edge resolved from the credentials. Required.
	HeaderTenant = "X-Tenant-Id"
	// HeaderVersion is "v2" on traffic routed to this pipeline (informational here).
	HeaderVersion = "X-Ingest-Version"
	// HeaderEventCount is the event count the edge accounted; a difference from the decoded
	// count is counted in ingest_normalizer_edge_count_mismatch_total.
	HeaderEventCount = "X-Ingest-Event-Count"
	// HeaderRequestID identifies the request across stages; echoed in the response.
	HeaderRequestID = "X-Request-Id"
)

// ShadowAuthoritySuffix ends the host of the authority of a mirrored request: Envoy's request
// mirror (and the Go edge's) appends it to the authority of the copy it sends to ingest-v2 for
// a tenant in the shadow stage. The control plane rewrites the authority of every request it
// routes to ingest-v2 (xds.V2Authority), so a client cannot choose it: a request whose
// authority ends with it is the edge's mirror, and its batch goes to the shadow topic and
// tables (record.Batch.Shadow), never to the live ones.
const ShadowAuthoritySuffix = "-shadow"

// isShadow reports whether r is a mirrored shadow request (see ShadowAuthoritySuffix).
func isShadow(r *http.Request) bool {
	host := r.Host // without its port; no net.SplitHostPort: it allocates an error per portless host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	return strings.HasSuffix(host, ShadowAuthoritySuffix)
}

// defaultRetryAfter is the Retry-After of a sink error that does not carry one.
const defaultRetryAfter = time.Second

// endpoint is one ingest route and how its body is decoded.
type endpoint struct {
	name   string // logs, metrics, traces, events: the endpoint label
	signal string // signal label for rejections: log, metric, span, or event (NDJSON: mixed)
	otlp   bool   // OTLP (protobuf or JSON, partial_success answers) or NDJSON
	// grpcPath is the OTLP/gRPC Export method of the signal ("" for NDJSON); grpc is set on
	// the copy of the endpoint that serves it (see grpc.go).
	grpcPath string
	grpc     bool
	// decode decodes body in the given format into e.
	decode func(s *Server, body []byte, f otlpFormat, e *emitter) error
	// response builds an OTLP ExportResponse with partial success for the format.
	response func(f otlpFormat, rejected int64, msg string) ([]byte, error)
}

// Server is the normalizer's HTTP service. It is safe for concurrent use.
type Server struct {
	cfg     Config
	sink    Sink
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	// routes are the served paths, matched exactly as the client spelled them (see route).
	routes map[string]http.Handler

	emitters sync.Pool // *emitter
	parsers  fastjson.ParserPool
	buffers  sync.Pool // *bytes.Buffer
	gzips    sync.Pool // *gzip.Reader

	inflight    atomic.Int64 // bytes held by requests in progress
	tenants     tenantBytes  // the same bytes per tenant, bounded by max_inflight_bytes × tenant_share
	draining    atomic.Bool
	sinkHealthy atomic.Bool

	rep *report.Reporter  // parity reports of shadow requests; nil: none
	hop *hopauth.Verifier // nil: the internal headers are trusted as they come
}

// WithHopAuth makes the Server refuse (401 err-ingest-internal-auth) every ingest request
// without a valid edge signature (package hopauth, audience normalizer) over its tenant and
// event count headers; nothing of such a request is read or reaches the sink. Without it the
// Server trusts the headers of whoever reaches it: NewService always sets it unless
// hop_auth.insecure_internal_hops.
func WithHopAuth(v *hopauth.Verifier) Option { return func(s *Server) { s.hop = v } }

// Option configures a Server.
type Option func(*Server)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithReporter makes the Server report every shadow request it answers (a mirrored request of
// a tenant in the shadow stage, see ShadowAuthoritySuffix) to rep, the parity report stream:
// V2Requests, V2AcceptedEvents, V2ServerErrors (5xx answers) and the latency. Live requests
// are not reported. A nil rep reports nothing; the caller closes rep.
func WithReporter(rep *report.Reporter) Option { return func(s *Server) { s.rep = rep } }

// New returns a Server that writes accepted events to sink and registers its metrics with reg.
func New(cfg Config, sink Sink, reg prometheus.Registerer, log *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create normalizer: invalid config: %w", err)
	}
	if sink == nil {
		return nil, errors.New("cannot create normalizer: nil sink")
	}
	s := &Server{cfg: cfg.withDefaults(), sink: sink, log: log, now: time.Now, routes: map[string]http.Handler{}}
	s.sinkHealthy.Store(true)
	for _, o := range opts {
		o(s)
	}
	m, err := newMetrics(reg, func() float64 { return float64(s.inflight.Load()) })
	if err != nil {
		return nil, fmt.Errorf("cannot register normalizer metrics: %w", err)
	}
	s.metrics = m
	for _, ep := range endpoints {
		s.routes[ep.path()] = s.ingestHandler(ep)
		if ep.grpcPath != "" {
			g := *ep
			g.grpc = true
			s.routes[ep.grpcPath] = s.ingestHandler(&g)
		}
	}
	s.routes["/healthz"] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	s.routes["/readyz"] = http.HandlerFunc(s.readyz)
	return s, nil
}

// Handler returns the HTTP handler of every endpoint. /metrics is served by the caller, which
// owns the registry. A path is served only when the request spells it exactly (see route);
// any other gets 404 err-ingest-unknown-path.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.route) }

// route serves the request whose path is exactly one of s.routes as sent: no percent-encoding
// (r.URL.RawPath is empty only when the path needs none and has none), no repeated or trailing
// slashes, no dot segments. The edge decides a body's format, and so how many events it charges
// the tenant, from the path it forwards (normalized like Envoy's normalize_path and
// merge_slashes); a path it does not count, such as /v1/%6Cogs or /v1//logs, must not be served
// as /v1/logs here, which http.ServeMux would do (it decodes, cleans and redirects).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawPath == "" {
		if h, ok := s.routes[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
	}
	s.unknownPath(w, r)
}

// unknownPath answers 404 err-ingest-unknown-path: a google.rpc.Status to a protobuf request
// (an OTLP exporter), a JSON error object to any other.
func (s *Server) unknownPath(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get(HeaderRequestID); id != "" {
		w.Header().Set(HeaderRequestID, id)
	}
	err := newRequestError(reason.UnknownPath,
		"path %.100q is not an ingest endpoint: send to /v1/logs, /v1/metrics, /v1/traces or /v1/events exactly as spelled, or to OTLP/gRPC's Export methods", r.URL.EscapedPath())
	ep := &endpoint{name: unknownEndpoint, grpc: grpcwire.IsGRPC(r.Header.Get("Content-Type"))}
	if f, ferr := requestFormat(&endpoint{otlp: true}, r.Header.Get("Content-Type")); ferr == nil && f == otlpProto {
		ep.otlp = true
	}
	code := s.writeError(w, ep, otlpProto, err)
	s.metrics.requests.WithLabelValues(unknownEndpoint, strconv.Itoa(code)).Inc()
}

// Drain makes /readyz fail so that load balancers stop sending new requests; in-flight requests
// complete. Call it before shutting the HTTP server down.
func (s *Server) Drain() { s.draining.Store(true) }

// readinessChecker is implemented by sinks that can say whether they accept writes.
type readinessChecker interface {
	Ready(ctx context.Context) error
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	if rc, ok := s.sink.(readinessChecker); ok {
		if err := rc.Ready(r.Context()); err != nil {
			http.Error(w, "sink not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready\n")
}

// requestFormat is what the request's Content-Type says.
func requestFormat(ep *endpoint, contentType string) (otlpFormat, error) {
	if ep.grpc {
		return grpcFormat(contentType)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		mt = ""
	}
	if ep.otlp {
		switch mt {
		case "application/x-protobuf", "application/protobuf":
			return otlpProto, nil
		case "application/json":
			return otlpJSON, nil
		}
		return 0, newRequestError(ReasonUnsupportedMediaType,
			"content type %q is not supported here: send OTLP as application/x-protobuf or application/json", contentType)
	}
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/json":
		return otlpJSON, nil
	}
	return 0, newRequestError(ReasonUnsupportedMediaType,
		"content type %q is not supported here: send native events as application/x-ndjson", contentType)
}

func (s *Server) ingestHandler(ep *endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		code, accepted := s.serveIngest(ep, w, r)
		s.metrics.requests.WithLabelValues(ep.name, strconv.Itoa(code)).Inc()
		// A request refused for its signature (the only 401 the normalizer answers) is not
		// the edge's: its tenant header is anyone's, so it counts in no tenant's parity.
		if s.rep.Enabled() && isShadow(r) && code != ReasonInternalAuth.Status() {
			s.reportShadow(r, code, accepted, s.now().Sub(start))
		}
	})
}

// reportShadow adds a shadow request's answer to the parity reports of its tenant; a request
// without a valid tenant cannot be attributed and is not reported.
func (s *Server) reportShadow(r *http.Request, code, accepted int, latency time.Duration) {
	id := r.Header.Get(HeaderTenant)
	if !tenant.Valid(id) {
		return
	}
	d := report.Delta{V2Requests: 1, V2Latency: latency}
	if code >= 200 && code <= 299 {
		d.V2AcceptedEvents = uint64(accepted)
	}
	if code >= 500 {
		d.V2ServerErrors = 1
	}
	s.rep.Add(id, d)
}

// serveIngest handles one ingest request and returns the status code it answered and, for a
// 200, the events it accepted.
func (s *Server) serveIngest(ep *endpoint, w http.ResponseWriter, r *http.Request) (int, int) {
	if id := r.Header.Get(HeaderRequestID); id != "" {
		w.Header().Set(HeaderRequestID, id)
	}
	format := otlpJSON
	fail := func(err error) (int, int) { return s.writeError(w, ep, format, err), 0 }
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(newRequestError(ReasonMethodNotAllowed, "method %s is not allowed: use POST", r.Method))
	}
	tenantID := r.Header.Get(HeaderTenant)
	if err := s.authenticate(r, tenantID); err != nil {
		return fail(err)
	}
	if tenantID == "" {
		return fail(newRequestError(ReasonMissingTenant,
			"no %s header: requests must come through the edge, which sets it from the API key", HeaderTenant))
	}
	if !tenant.Valid(tenantID) {
		return fail(newRequestError(ReasonInvalidTenant, "tenant id %.70q is not a valid tenant id", tenantID))
	}
	f, err := requestFormat(ep, r.Header.Get("Content-Type"))
	if err != nil {
		return fail(err)
	}
	format = f
	enc, err := requestEncoding(ep, r.Header)
	if err != nil {
		return fail(err)
	}

	body, release, err := s.readBody(r, tenantID, enc)
	defer release()
	if err != nil {
		s.countShed(tenantID, err)
		return fail(err)
	}

	e := s.getEmitter()
	defer s.emitters.Put(e)
	e.reset(&s.cfg, tenantID, s.now())
	start := time.Now()
	if err := ep.decode(s, body, format, e); err != nil {
		return fail(err)
	}
	s.metrics.decodeSeconds.WithLabelValues(ep.name, formatName(ep, format)).Observe(time.Since(start).Seconds())
	s.checkEdgeCount(r, tenantID, e)

	if e.accepted() > 0 {
		b := e.batch.Batch()
		b.Shadow = isShadow(r)
		if err := s.writeSink(r.Context(), b); err != nil {
			s.countShed(tenantID, err)
			s.countOutcome(tenantID, ep, e, err)
			return fail(err)
		}
	}
	s.countOutcome(tenantID, ep, e, nil)
	code := s.writeResult(w, ep, format, e)
	if code != http.StatusOK {
		return code, 0
	}
	return code, e.accepted()
}

// authenticate checks the edge's signature over the tenant and event count headers, when the
// Server verifies (WithHopAuth). A failure is counted by cause only: the tenant it claims is
// not authenticated, so it is no label.
func (s *Server) authenticate(r *http.Request, tenantID string) error {
	if s.hop == nil {
		return nil
	}
	err := s.hop.Verify(r.Header.Get(hopauth.Header), s.now(), hopauth.Claims{
		Audience: hopauth.AudienceNormalizer,
		Tenant:   tenantID,
		Count:    r.Header.Get(HeaderEventCount),
	})
	if err != nil {
		s.metrics.authFailures.WithLabelValues(hopauth.Cause(err)).Inc()
		return newRequestError(ReasonInternalAuth,
			"the request has no valid %s signature (%v): send through the edge, which signs the tenant it resolved from the API key", hopauth.Header, err)
	}
	return nil
}

// readBody reads the request body within the size bounds, decompressing gzip. It reserves the
// bytes it holds against max_inflight_bytes as they arrive, never the declared length ahead
// of them: a request that declares a large body and stalls holds only what it sent.
// release returns them and the buffers. A gRPC body's message is returned, decompressed when
// its flag says so (with grpc-encoding gzip), within the same bounds as a gzip body.
func (s *Server) readBody(r *http.Request, tenant string, enc bodyEncoding) (body []byte, release func(), err error) {
	var held int64
	var bufs []*bytes.Buffer
	release = func() {
		s.tenants.release(tenant, held)
		s.inflight.Add(-held)
		for _, b := range bufs {
			s.putBuffer(b)
		}
	}
	reserve := func(n int64) error {
		if err := s.tenants.reserve(tenant, n, held, s.tenantMaxBytes()); err != nil {
			return err
		}
		if s.inflight.Add(n) > s.cfg.MaxInflightBytes {
			s.inflight.Add(-n)
			s.tenants.release(tenant, n)
			return shed.Full(string(ReasonNormalizerFull), defaultRetryAfter,
				fmt.Errorf("%d bytes in flight, the bound is %d", s.inflight.Load(), s.cfg.MaxInflightBytes))
		}
		held += n
		return nil
	}
	max := s.cfg.MaxBodyBytes
	if r.ContentLength > max {
		return nil, release, errBodyTooLarge(r.ContentLength, max)
	}
	raw := s.getBuffer()
	bufs = append(bufs, raw)
	if r.ContentLength > 0 {
		raw.Grow(int(min(r.ContentLength, readChunk))) // more only as the body arrives
	}
	n, err := raw.ReadFrom(&reservingReader{r: io.LimitReader(r.Body, max+1), reserve: reserve})
	if err != nil {
		return nil, release, readError(err)
	}
	if n > max {
		return nil, release, errBodyTooLarge(n, max)
	}
	s.metrics.requestBytes.WithLabelValues(tenant, "raw").Add(float64(n))
	data, gz := raw.Bytes(), enc == encodingGzip
	var compressed io.Reader = raw // the gzip body, read from the buffer without a copy
	if enc == encodingGRPC || enc == encodingGRPCGzip {
		if data, gz, err = grpcMessage(data, enc); err != nil {
			return nil, release, err
		}
		compressed = bytes.NewReader(data)
	}
	if !gz {
		return data, release, nil
	}
	zr, err := s.getGzip(compressed)
	if err != nil {
		return nil, release, errMalformed("cannot read gzip body: %v", err)
	}
	defer s.gzips.Put(zr)
	dmax := s.cfg.MaxDecompressedBytes
	out, err := inflate(zr, gzipsize.Hint(data, dmax), dmax, reserve)
	if err != nil {
		var se *shed.Error
		if errors.As(err, &se) {
			return nil, release, err
		}
		return nil, release, errMalformed("cannot decompress gzip body: %v", err)
	}
	n = int64(len(out))
	if n > dmax {
		return nil, release, newRequestError(ReasonDecompressedTooLarge,
			"gzip body decompresses to more than the %s limit; send smaller batches", formatBytes(dmax))
	}
	s.metrics.requestBytes.WithLabelValues(tenant, "decompressed").Add(float64(n))
	return out, release, nil
}

// inflate decompresses zr into one buffer of at most limit+1 bytes, reserving every byte of
// buffer against max_inflight_bytes before it is allocated: the buffer is first sized to hint
// (an honest single-member body is decompressed into one exact allocation) and then grows
// geometrically, never past limit+1, so a gzip bomb holds at most limit+1 bytes, all of them
// reserved. A reservation that does not fit stops decompression with its error.
func inflate(zr io.Reader, hint, limit int64, reserve func(int64) error) ([]byte, error) {
	lr := io.LimitedReader{R: zr, N: limit + 1}
	var out []byte
	want := hint
	if want <= 0 {
		want = readChunk
	}
	for {
		if len(out) == cap(out) {
			if lr.N == 0 { // limit+1 bytes: too large
				return out, nil
			}
			if cap(out) > 0 {
				want = 2 * int64(cap(out))
			}
			want = max(min(want, limit+1), int64(cap(out))+1)
			// The old buffer is garbage once copied: reserve only the growth.
			if err := reserve(want - int64(cap(out))); err != nil {
				return out, err
			}
			grown := make([]byte, len(out), want)
			copy(grown, out)
			out = grown[:len(out):want]
		}
		n, err := lr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// readChunk bounds the buffer a request gets before its body arrives.
const readChunk = 64 << 10

// reservingReader reserves the bytes of each Read against max_inflight_bytes once they are
// read; a Read whose bytes do not fit fails with the reservation's error.
type reservingReader struct {
	r       io.Reader
	reserve func(n int64) error
}

func (rr *reservingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if n > 0 {
		if rerr := rr.reserve(int64(n)); rerr != nil {
			return 0, rerr
		}
	}
	return n, err
}

// readError is the refusal of a body that could not be read: 429 when its bytes did not fit
// in max_inflight_bytes, 408 when it sent nothing for body_idle_timeout, else 400.
func readError(err error) error {
	var se *shed.Error
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, service.ErrBodyIdle):
		return &requestError{reason: ReasonBodyTimeout,
			msg: fmt.Sprintf("cannot read request body: %v; send the whole body without pauses", err)}
	}
	return errMalformed("cannot read request body: %v", err)
}

func errBodyTooLarge(n, max int64) *requestError {
	return newRequestError(ReasonBodyTooLarge,
		"body of %s exceeds the %s limit; send smaller batches", formatBytes(n), formatBytes(max))
}

// formatBytes renders n bytes for messages: "9.1 MiB".
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func (s *Server) writeSink(ctx context.Context, b record.Batch) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SinkTimeout)
	defer cancel()
	start := time.Now()
	err := s.sink.Write(ctx, b)
	s.metrics.sinkSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		if !s.sinkHealthy.Swap(true) {
			s.log.Info("sink accepts writes again")
		}
		return nil
	}
	if s.sinkHealthy.Swap(false) {
		s.log.Warn("sink refused a write; answering 429/503 until it recovers", "err", err)
	}
	var se *shed.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return shed.Unavailable(string(ReasonSinkUnavailable), defaultRetryAfter,
			fmt.Errorf("sink did not answer within %s", s.cfg.SinkTimeout))
	}
	return shed.Unavailable(string(ReasonSinkUnavailable), defaultRetryAfter, err)
}

func (s *Server) checkEdgeCount(r *http.Request, tenant string, e *emitter) {
	v := r.Header.Get(HeaderEventCount)
	if v == "" {
		return
	}
	if n, err := strconv.Atoi(v); err != nil || n != e.accepted()+e.rejected() {
		s.metrics.countMismatches.WithLabelValues(tenant).Inc()
	}
}

// countOutcome counts a request's events. When the sink refused the batch (sinkErr), the events
// that would have been accepted count as rejected with the shed's reason: the client got 429/503
// and sends them again.
func (s *Server) countOutcome(tenant string, ep *endpoint, e *emitter, sinkErr error) {
	if sinkErr != nil {
		reason := string(ReasonSinkUnavailable)
		var se *shed.Error
		if errors.As(sinkErr, &se) && se.Reason != "" {
			reason = se.Reason
		}
		s.metrics.eventsRejected.WithLabelValues(tenant, ep.signal, reason).Add(float64(e.accepted()))
	} else {
		for sig, n := range e.acceptedBy {
			if n > 0 {
				s.metrics.eventsAccepted.WithLabelValues(tenant, record.Signal(sig).String()).Add(float64(n))
			}
		}
	}
	for reason, n := range e.rejectedBy {
		s.metrics.eventsRejected.WithLabelValues(tenant, ep.signal, string(reason)).Add(float64(n))
	}
	if e.unknownUnits > 0 {
		s.metrics.unknownUnits.WithLabelValues(tenant).Add(float64(e.unknownUnits))
	}
}

// countShed counts a request of tenant refused with err in ingest_normalizer_shed_total when
// err is a shed (429 or 503 with Retry-After). tenant is a valid tenant id (tenant.Valid), one
// the edge admitted, which bounds the label's values by the tenant registry.
func (s *Server) countShed(tenant string, err error) {
	var se *shed.Error
	if errors.As(err, &se) {
		_, id, _ := statusOf(err)
		s.metrics.shed.WithLabelValues(tenant, string(id)).Inc()
	}
}

// statusOf maps an error to its HTTP status, reason and retry delay: the one place that does.
// A refusal's status is its reason's in the catalogue (internal/reason), so that every stage
// answers an id with the same status; a shed's is its kind's (429 full, 503 unavailable).
func statusOf(err error) (status int, reason Reason, retryAfter time.Duration) {
	var re *requestError
	var se *shed.Error
	switch {
	case errors.As(err, &re):
		return re.status(), re.reason, 0
	case errors.As(err, &se):
		status = http.StatusServiceUnavailable
		if errors.Is(se.Kind, shed.ErrFull) {
			status = http.StatusTooManyRequests
		}
		return status, Reason(se.Reason), se.RetryAfter
	}
	return ReasonInternal.Status(), ReasonInternal, 0
}

// writeError answers a refused request: for OTLP a google.rpc.Status in the request's format,
// for NDJSON a JSON error object. 429 and 503 carry Retry-After.
func (s *Server) writeError(w http.ResponseWriter, ep *endpoint, f otlpFormat, err error) int {
	status, reason, retryAfter := statusOf(err)
	if status == http.StatusInternalServerError {
		s.log.Error("unexpected error", "endpoint", ep.name, "err", err)
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", shed.RetryAfterSeconds(retryAfter))
	}
	msg := err.Error()
	var re *requestError
	if errors.As(err, &re) {
		msg = string(re.reason) + ": " + re.msg
	}
	if ep.grpc {
		writeGRPCStatus(w, status, msg, retryAfter)
		return status
	}
	if ep.otlp {
		body, ctype := otlpStatus(f, status, msg)
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		w.Write(body)
		return status
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"reason": string(reason), "message": msg}})
	return status
}

// ndjsonResult is the answer to a well-formed NDJSON request.
// Rejected counts every rejected line; Errors lists the first max_rejections_in_response of
// them and ErrorsOmitted how many more there are.
type ndjsonResult struct {
	Accepted      int         `json:"accepted"`
	Rejected      int         `json:"rejected"`
	Errors        []Rejection `json:"errors,omitempty"`
	ErrorsOmitted int         `json:"errors_omitted,omitempty"`
}

// writeResult answers a well-formed request with 200: OTLP with partial_success when events were
// rejected, NDJSON with the first max_rejections_in_response rejections and the count of the rest.
func (s *Server) writeResult(w http.ResponseWriter, ep *endpoint, f otlpFormat, e *emitter) int {
	if !ep.otlp {
		res := ndjsonResult{Accepted: e.accepted(), Rejected: e.rejected(), Errors: e.rejections}
		if max := s.cfg.MaxRejectionsInResponse; len(res.Errors) > max {
			res.Errors, res.ErrorsOmitted = res.Errors[:max], len(res.Errors)-max
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
		return http.StatusOK
	}
	var msg string
	if n := e.rejected(); n > 0 {
		msg = rejectionSummary(e.rejections, s.cfg.MaxRejectionsInMessage)
	}
	body, err := ep.response(f, int64(e.rejected()), msg)
	if err != nil {
		return s.writeError(w, ep, f, err)
	}
	if ep.grpc {
		writeGRPCMessage(w, body)
		return http.StatusOK
	}
	w.Header().Set("Content-Type", formatContentType(f))
	w.Write(body)
	return http.StatusOK
}

// rejectionSummary spells out the first max rejections for an OTLP partial_success message.
func rejectionSummary(rs []Rejection, max int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rejected", len(rs))
	for i, r := range rs {
		if i == max {
			fmt.Fprintf(&b, "; and %d more", len(rs)-max)
			break
		}
		fmt.Fprintf(&b, "; item %d: %s: %s", r.Index, r.Reason, r.Message)
	}
	return b.String()
}

func formatContentType(f otlpFormat) string {
	if f == otlpProto {
		return "application/x-protobuf"
	}
	return "application/json"
}

func formatName(ep *endpoint, f otlpFormat) string {
	switch {
	case !ep.otlp:
		return "ndjson"
	case ep.grpc:
		return "grpc"
	case f == otlpProto:
		return "protobuf"
	}
	return "json"
}

func (s *Server) getEmitter() *emitter {
	if e, ok := s.emitters.Get().(*emitter); ok {
		return e
	}
	return &emitter{}
}

// maxPooledBuffer is the largest buffer returned to the pool; bigger ones are left to the GC so
// that one large request does not pin memory.
const maxPooledBuffer = 4 << 20

func (s *Server) getBuffer() *bytes.Buffer {
	if b, ok := s.buffers.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

func (s *Server) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		s.buffers.Put(b)
	}
}

func (s *Server) getGzip(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := s.gzips.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			s.gzips.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}
