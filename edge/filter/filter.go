package filter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/edge/filter/eventcount"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/grpcwire"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/migration/report"
)

// DefaultMaxDecompressedBytes bounds a gzip body after decompression when the filter counts its
// events (64 MiB): the normalizer's default max_decompressed_bytes, so that both refuse the
// same bodies. The filter configuration does not carry this bound yet.
const DefaultMaxDecompressedBytes = 64 << 20

// Shared is the filter's state that outlives configuration pushes: the tenants' token buckets,
// the edge's in-flight bytes, the cache of resolved API keys, and a pool of gzip decompressors.
// One Shared serves a process (the .so, or one Go edge); it is safe for concurrent use.
type Shared struct {
	limiter  *admission.Limiter
	inflight *admission.Inflight
	keys     *admission.KeyCache
	gunzips  sync.Pool // of *eventcount.Gunzip
	now      func() time.Time
	sheds    shedCounts

	// reporter sends the parity reports (every admitted request's answer); its endpoint comes with each
	// configuration (applied is the last one applied), and it starts sending at the first
	// configuration with a report_url.
	reporter *report.Reporter
	applied  atomic.Pointer[report.Endpoint]
	// shares is this edge's part of each tenant's quota, from the control plane's replies to
	// the reports (docs/edge.md, "Global quotas").
	shares admission.Shares
}

// NewShared returns the state for one process. now is the clock (nil means time.Now).
func NewShared(now func() time.Time) *Shared {
	if now == nil {
		now = time.Now
	}
	s := &Shared{limiter: admission.NewLimiter(), inflight: admission.NewInflight(0), keys: admission.NewKeyCache(), now: now}
	// A decompressor reserves its buffer from the edge's in-flight bytes while it counts.
	s.gunzips.New = func() any { return &eventcount.Gunzip{Budget: s.inflight} }
	// New fails only on bad options or metrics registration, neither of which exists here; a
	// nil reporter counts nothing.
	s.reporter, _ = report.New(report.Options{Source: report.SourceEdge, OnQuotaReply: func(r *report.QuotaReply) {
		s.shares.Set(r.Edges, r.Shares, time.Duration(r.GraceMs)*time.Millisecond, s.now())
	}})
	return s
}

// QuotaShares returns this edge's share of every tenant's quota the control plane assigned,
// the live edges it counted and whether the assignment holds (or the grace passed, and every
// tenant has 1/edges): the Go edge exports them as ingest_edge_quota_share{tenant}.
func (s *Shared) QuotaShares() (map[string]float64, int, admission.ShareState) {
	return s.shares.Snapshot(s.now())
}

// ConfigParser returns the config parser to register with s.FilterFactory: the configurations
// it parses resolve API keys through s's key cache, which outlives them, so that a key resolved
// under one configuration is not checked with SHA-256 again under the next (as long as the
// next configures it with the same salt and hash; its tenant and NotAfter come from the
// configuration that serves the request).
func (s *Shared) ConfigParser() ConfigParser { return ConfigParser{keys: s.keys} }

// Reporter returns the parity reporter; it is nil-safe and idle until a configuration with a
// report_url arrives.
func (s *Shared) Reporter() *report.Reporter { return s.reporter }

// Close stops the parity reporter after a final report, within ctx. The Go edge calls it at
// shutdown; Envoy never unloads the .so, whose reporter ends with the process.
func (s *Shared) Close(ctx context.Context) error { return s.reporter.Close(ctx) }

// InflightBytes returns the request bytes the filter holds now, across all requests.
func (s *Shared) InflightBytes() int64 { return s.inflight.InUse() }

// SetTenantShare sets the fraction of limits.max_in_flight_bytes that one tenant's requests may
// hold together (default admission.DefaultTenantShare, 0.25): a request that would take its
// tenant over it gets 503 err-ingest-edge-tenant-share-full with Retry-After while other tenants
// are still admitted, unless the tenant holds nothing (a tenant may always have one request in
// flight that fits in the edge). share must be in (0, 1]; 1 bounds a tenant by the edge's bound
// only. It applies to the next request and keeps what is held. The share is not part of the
// control plane's filter configuration: Envoy's .so uses the default, the Go edge its
// tenant_share key.
func (s *Shared) SetTenantShare(share float64) error {
	if !(share > 0 && share <= 1) {
		return fmt.Errorf("tenant share %v is not in (0, 1]", share)
	}
	s.inflight.SetTenantShare(share)
	return nil
}

// FilterFactory is the filter's api.StreamFilterFactory: it makes the filter of one request
// with config, the *ParsedConfig from ConfigParser.Parse or Merge, and applies the config's
// in-flight bound to the shared in-flight bytes. A config of another type gives a filter that
// answers 500 (err-ingest-edge-filter-unconfigured).
func (s *Shared) FilterFactory(config interface{}, callbacks api.FilterCallbackHandler) api.StreamFilter {
	c, _ := config.(*ParsedConfig)
	if c != nil {
		if max := c.cfg.Limits.MaxInFlightBytes; s.inflight.Max() != max {
			s.inflight.SetMax(max)
		}
		if ep := c.endpoint; ep != nil && s.applied.Load() != ep {
			s.applied.Store(ep)
			_ = s.reporter.SetEndpoint(*ep) // Parse validated it
		}
	}
	return &filter{cb: callbacks, cfg: c, shared: s}
}

// filter is the filter of one request. Envoy calls it from one worker thread at a time.
type filter struct {
	api.PassThroughStreamFilter

	cb     api.FilterCallbackHandler
	cfg    *ParsedConfig
	shared *Shared

	headers  api.RequestHeaderMap
	now      time.Time
	tenant   string
	kind     eventcount.Kind // 0: not an ingest format, passed through uncounted
	gzip     bool
	grpc     bool  // a gRPC request: refusals are gRPC statuses
	decided  bool  // admitted or refused
	held     int64 // in-flight bytes to release at the end of the stream
	declared int64 // the body's content-length (-1: none)

	observed bool // admitted while reporting is on: its answer goes to the parity reporter
	events   int  // the events accounted
}

// DecodeHeaders authenticates the request and stamps it with its tenant; see the package
// documentation. Once the key is accepted it removes the authorization and x-api-key headers,
// so that the API key is never forwarded upstream (by Envoy or by the Go edge alike).
func (f *filter) DecodeHeaders(h api.RequestHeaderMap, endStream bool) api.StatusType {
	if f.cfg == nil {
		return f.refuse(ReasonUnconfigured,
			"the edge filter has no configuration; this is a bug of the edge, report it to the operator", "")
	}
	m, cfg := f.cfg.metrics, f.cfg.cfg
	m.request()
	f.headers = h
	f.now = f.shared.now()
	ct, _ := h.Get("content-type")
	f.grpc = grpcwire.IsGRPC(ct)
	stripInternal(h, cfg.MarkerHeader)

	tenant, ok := f.cfg.resolver.Resolve(credentials(h), f.now)
	if !ok {
		return f.refuse(ReasonUnknownAPIKey,
			`the API key is missing, unknown or revoked: send a valid key as "authorization: Bearer <key>" or "x-api-key: <key>"; `+
				"an operator creates keys with `ingestctl keys create <tenant>`", "")
	}
	f.tenant = tenant
	// The API key does not leave the edge: upstream trusts the tenant header the filter sets.
	h.Del("authorization")
	h.Del("x-api-key")
	h.Set(filterconfig.HeaderTenantID, tenant)
	h.Set(cfg.MarkerHeader, filterconfig.MarkerValue)
	f.cb.RefreshRouteCache()

	f.declared = -1
	if cl, ok := h.Get("content-length"); ok {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			if n > cfg.Limits.MaxRequestBodyBytes {
				return f.bodyTooLarge(n)
			}
			f.declared = n
		}
	}
	f.kind, _ = eventcount.KindFor(h.Path(), ct)
	enc, _ := h.Get("content-encoding")
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
	case "gzip", "x-gzip":
		f.gzip = !f.kind.GRPC()
		if f.kind.GRPC() {
			f.kind = 0 // gRPC compresses messages (grpc-encoding), not the body: the normalizer refuses it
		}
	default:
		f.kind = 0 // the normalizer refuses other encodings (415)
	}
	if f.kind.GRPC() {
		genc, _ := h.Get("grpc-encoding")
		switch genc {
		case "", "identity":
		case "gzip":
			f.gzip = true
		default:
			f.kind = 0 // the normalizer answers UNIMPLEMENTED
		}
	}
	if endStream {
		return f.account(nil)
	}
	// A tenant whose events bucket cannot cover a single event, or whose bytes bucket cannot
	// cover the declared body (not for gzip: its charge is the decompressed size), is refused
	// now: the body would be refused anyway, and reading, buffering and counting it is the
	// cost an over-quota tenant must not put on the others (invariant 3).
	if f.kind != 0 {
		least := max(f.declared, 0)
		if f.gzip {
			least = 0
		}
		q, _ := f.cfg.resolver.Quotas(f.tenant)
		share, _ := f.shared.shares.Share(f.tenant, f.now)
		if d := f.shared.limiter.PeekShare(f.tenant, q, share, 1, least, f.now); !d.OK && d.RetryAfter > 0 {
			f.shared.reporter.Add(f.tenant, report.Delta{RefusedRequests: 1})
			return f.refuseAdmission(d, q, -1, least)
		}
	}
	// A body is buffered only within the request's in-flight bytes: they are reserved now,
	// before Envoy buffers it — its content-length, or limits.max_request_body_bytes for a
	// body without one (chunked, or HTTP/2 without content-length) — and DecodeData gives
	// back what the body did not use. A request that does not fit is shed before its body is
	// read.
	want := f.declared
	if want < 0 {
		want = cfg.Limits.MaxRequestBodyBytes
	}
	if st, ok := f.reserve(want); !ok {
		return st
	}
	return api.StopAndBuffer
}

// DecodeData accounts the whole body: Envoy calls it once, after StopAndBuffer, with
// endStream=false when trailers follow.
func (f *filter) DecodeData(buf api.BufferInstance, _ bool) api.StatusType {
	if f.decided {
		return api.Continue
	}
	return f.account(buf.Bytes())
}

// DecodeTrailers accounts a request with trailers and an empty body, for which Envoy skips
// DecodeData.
func (f *filter) DecodeTrailers(api.RequestTrailerMap) api.StatusType {
	if f.decided {
		return api.Continue
	}
	return f.account(nil)
}

// reserve makes the request's in-flight bytes n (the body's declared or actual size, or the
// most a body without content-length may take): false, with the refusal's status, when the body
// exceeds limits.max_request_body_bytes (413), the edge is full or the tenant's other requests
// hold its share (503 with Retry-After). Below what is held it gives back the rest.
func (f *filter) reserve(n int64) (api.StatusType, bool) {
	cfg, s := f.cfg.cfg, f.shared
	if n > cfg.Limits.MaxRequestBodyBytes {
		return f.bodyTooLarge(n), false
	}
	if n <= f.held {
		if n < f.held {
			s.inflight.ReleaseFor(f.tenant, f.held-n)
			f.held = n
			f.cfg.metrics.setInflight(s.inflight.InUse())
		}
		return api.Continue, true
	}
	switch s.inflight.GrowFor(f.tenant, f.held, n-f.held) {
	case admission.Full:
		return f.refuse(ReasonEdgeFull,
			fmt.Sprintf("the edge holds as many request bytes as it may (%d); retry after the Retry-After delay", s.inflight.Max()),
			strconv.FormatInt(cfg.Limits.DefaultRetryAfterSeconds, 10)), false
	case admission.TenantShareFull:
		return f.refuse(ReasonEdgeTenantShareFull,
			fmt.Sprintf("tenant %q's requests in progress hold %d bytes, and this one (%d bytes) would exceed its share of the edge's in-flight bytes (%d); "+
				"retry after the Retry-After delay (other tenants are not affected), or ask the operator for a higher tenant_share",
				f.tenant, s.inflight.InUseBy(f.tenant)-f.held, n, s.inflight.TenantMax()),
			strconv.FormatInt(cfg.Limits.DefaultRetryAfterSeconds, 10)), false
	}
	f.held = n
	f.cfg.metrics.setInflight(s.inflight.InUse())
	return api.Continue, true
}

// account admits or refuses the request with its whole body.
func (f *filter) account(body []byte) api.StatusType {
	m, cfg, s := f.cfg.metrics, f.cfg.cfg, f.shared
	n := int64(len(body))
	if st, ok := f.reserve(n); !ok {
		return st
	}

	// charged is what the tenant's bytes quota pays: the body's content, decompressed when
	// it is gzip and counted (see the package documentation), as received otherwise.
	events, charged := 0, n
	if f.kind != 0 {
		var err error
		var decompressed int64
		if events, decompressed, err = f.count(body); err != nil {
			f.release()
			var tooLarge *eventcount.DecompressedTooLargeError
			var full *eventcount.BudgetExceededError
			switch {
			case errors.As(err, &tooLarge):
				return f.refuse(ReasonDecompressedTooLarge, err.Error()+"; send smaller batches", "")
			case errors.As(err, &full):
				return f.refuse(ReasonEdgeFull,
					fmt.Sprintf("the edge holds as many request bytes as it may (%d), counting decompressed bodies; retry after the Retry-After delay", s.inflight.Max()),
					strconv.FormatInt(cfg.Limits.DefaultRetryAfterSeconds, 10))
			}
			return f.refuse(ReasonMalformed, fmt.Sprintf("%v; send a valid %s body", err, f.kind), "")
		}
		if f.gzip {
			charged = decompressed
		}
	}

	q, _ := f.cfg.resolver.Quotas(f.tenant)
	share, _ := s.shares.Share(f.tenant, f.now)
	d := s.limiter.AdmitShare(f.tenant, q, share, int64(events), charged, f.now)
	if !d.OK {
		f.release()
		if d.RetryAfter > 0 { // over the rate: demand the control plane divides the quota by
			s.reporter.Add(f.tenant, report.Delta{RefusedRequests: 1})
		}
		return f.refuseAdmission(d, q, events, charged)
	}
	s.reporter.Add(f.tenant, report.Delta{AdmittedRequests: 1, AdmittedEvents: uint64(events), AdmittedBytes: uint64(max(charged, 0))})
	count := ""
	if f.kind != 0 {
		count = strconv.Itoa(events)
		f.headers.Set(filterconfig.HeaderEventCount, count)
	} else {
		m.uncountedRequest()
	}
	f.sign(count)
	m.admitted(int64(events), n) // bytes as received (the quota was charged the decompressed size)
	f.decided = true
	f.events = events
	// Every admitted request's answer is reported, whatever the tenant's stage: the filter
	// does not know stages (they live in the routes, so that a stage change moves only RDS),
	// and the control plane keeps the counts of the tenants in shadow or canary only.
	f.observed = s.reporter.Enabled()
	return api.Continue
}

// sign sets the hop signature over the tenant and the event count header (count, "" when
// none) that the normalizer trusts, when the configuration has a hop key. It is set after
// stripInternal removed any client copy. The route's x-ingest-version and the mirror's shadow
// authority are added after the filter and are not signed.
func (f *filter) sign(count string) {
	if f.cfg.hopKey == nil {
		return
	}
	sig, err := hopauth.Sign(f.cfg.hopKey, f.shared.now(), hopauth.Claims{Audience: hopauth.AudienceNormalizer, Tenant: f.tenant, Count: count})
	if err != nil {
		return // a tenant id is at most 63 bytes: cannot happen; the normalizer refuses the unsigned request
	}
	f.headers.Set(filterconfig.HeaderHopAuth, sig)
}

// EncodeHeaders reports the answer to an admitted request to the
// parity reporter: which cluster answered (ingest-v1 or ingest-v2), its status, the events
// the filter accounted, and for ingest-v2 the latency since DecodeHeaders. In memory, without
// allocation; the response goes on unchanged.
func (f *filter) EncodeHeaders(h api.ResponseHeaderMap, _ bool) api.StatusType {
	if !f.observed {
		return api.Continue
	}
	f.observed = false // once per request
	cluster, _ := f.cb.StreamInfo().UpstreamClusterName()
	status, _ := h.Status()
	ok := status >= 200 && status <= 299
	var d report.Delta
	switch cluster {
	case filterconfig.ClusterV1:
		d.V1Requests = 1
		if ok {
			d.V1AcceptedEvents = uint64(f.events)
		}
	case filterconfig.ClusterV2:
		d.V2Requests = 1
		if ok {
			d.V2AcceptedEvents = uint64(f.events)
		}
		if status >= 500 {
			d.V2ServerErrors = 1
		}
		d.V2Latency = f.shared.now().Sub(f.now)
	default:
		return api.Continue // not an answer of a cutover cluster (no route, direct response)
	}
	f.shared.reporter.Add(f.tenant, d)
	return api.Continue
}

// count counts the body's events and returns them with the body's decompressed size,
// decompressing a gzip body within DefaultMaxDecompressedBytes and the edge's in-flight bound
// (the decompressor reserves its buffer there while it counts).
func (f *filter) count(body []byte) (int, int64, error) {
	if !f.gzip {
		n, err := eventcount.Count(f.kind, body)
		return n, int64(len(body)), err
	}
	g := f.shared.gunzips.Get().(*eventcount.Gunzip)
	defer f.shared.gunzips.Put(g)
	return g.Count(f.kind, body, DefaultMaxDecompressedBytes)
}

// refuseAdmission answers a request the limiter refused: 429 with Retry-After, or 413 when the
// request exceeds the tenant's burst.
func (f *filter) refuseAdmission(d admission.Decision, q filterconfig.Quotas, events int, bytes int64) api.StatusType {
	var msg, retryAfter string
	switch d.Reason {
	case admission.ReasonRateLimitedEvents:
		retryAfter = shed.RetryAfterSeconds(d.RetryAfter)
		in := fmt.Sprintf("%d events in this request", events)
		if events < 0 {
			in = "refused at its headers: not one more event fits now"
		}
		msg = fmt.Sprintf("tenant %q is over its rate of %g events/s (%s); retry after %s s, "+
			"or ask the operator for a higher events_per_second", f.tenant, q.EventsPerSecond, in, retryAfter)
	case admission.ReasonRateLimitedBytes:
		retryAfter = shed.RetryAfterSeconds(d.RetryAfter)
		msg = fmt.Sprintf("tenant %q is over its rate of %g bytes/s (%d bytes in this request%s); retry after %s s, "+
			"or ask the operator for a higher bytes_per_second", f.tenant, q.BytesPerSecond, bytes, f.decompressedNote(), retryAfter)
	case admission.ReasonExceedsBurstEvents:
		msg = fmt.Sprintf("the request has %d events, more than tenant %q can ever send at once (burst_events %g); "+
			"split it into smaller batches, or ask the operator for a higher burst_events", events, f.tenant, burst(q.BurstEvents, q.EventsPerSecond))
	case admission.ReasonExceedsBurstBytes:
		msg = fmt.Sprintf("the request body has %d bytes%s, more than tenant %q can ever send at once (burst_bytes %g); "+
			"split it into smaller batches, or ask the operator for a higher burst_bytes", bytes, f.decompressedNote(), f.tenant, burst(q.BurstBytes, q.BytesPerSecond))
	default:
		msg = "the request was refused by the tenant's quota"
	}
	status := d.Status()
	if status == http.StatusTooManyRequests && retryAfter == "" {
		retryAfter = strconv.FormatInt(f.cfg.cfg.Limits.DefaultRetryAfterSeconds, 10)
	}
	return f.refuse(d.Reason, msg, retryAfter)
}

// decompressedNote says that the bytes of a message are the decompressed size, for a gzip body.
func (f *filter) decompressedNote() string {
	if f.gzip && f.kind != 0 {
		return " once decompressed"
	}
	return ""
}

// burst returns the effective burst: one second of the rate when the burst is 0.
func burst(b, rate float64) float64 {
	if b <= 0 {
		return rate
	}
	return b
}

func (f *filter) bodyTooLarge(n int64) api.StatusType {
	return f.refuse(ReasonBodyTooLarge,
		fmt.Sprintf("the request body of %d bytes exceeds the %d-byte limit; send smaller batches", n, f.cfg.cfg.Limits.MaxRequestBodyBytes), "")
}

// refuse answers the request with a local reply with id's status in the catalogue
// (internal/reason) and counts it.
func (f *filter) refuse(id, message, retryAfter string) api.StatusType {
	status := reason.ID(id).Status()
	f.decided = true
	f.release() // a refused body is dropped: its bytes are free at once
	h := map[string][]string{"content-type": {"application/json"}}
	if retryAfter != "" {
		h["retry-after"] = []string{retryAfter}
	}
	if status == http.StatusUnauthorized {
		h["www-authenticate"] = []string{`Bearer realm="ingest"`}
	}
	if f.cfg != nil {
		f.cfg.metrics.reject(id)
	}
	f.shared.sheds.add(f.tenant, id)
	code := grpcwire.Code(status)
	body := replyBody(id, message)
	if f.grpc {
		// A trailers-only gRPC answer: Envoy sends the body as grpc-message, so it is the
		// text, and the status details carry the RetryInfo an exporter waits for.
		body = id + ": " + message
		delay, _ := strconv.Atoi(retryAfter)
		h[strings.ToLower(grpcwire.HeaderStatusDetails)] = []string{grpcwire.StatusDetails(code, body, time.Duration(delay)*time.Second)}
	}
	f.cb.DecoderFilterCallbacks().SendLocalReply(status, body, h, int64(code), id)
	return api.LocalReply
}

// release gives back the request's in-flight bytes.
func (f *filter) release() {
	if f.held == 0 {
		return
	}
	f.shared.inflight.ReleaseFor(f.tenant, f.held)
	f.held = 0
	f.cfg.metrics.setInflight(f.shared.inflight.InUse())
}

// OnStreamComplete releases the in-flight bytes once the upstream exchange is over.
func (f *filter) OnStreamComplete() { f.release() }

// OnDestroy releases the in-flight bytes if OnStreamComplete did not (a reset stream).
func (f *filter) OnDestroy(api.DestroyReason) { f.release() }

// credentials returns the API key of "authorization: Bearer <key>", or else of "x-api-key".
func credentials(h api.RequestHeaderMap) string {
	if v, ok := h.Get("authorization"); ok {
		if scheme, token, found := strings.Cut(strings.TrimSpace(v), " "); found && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(token)
		}
	}
	v, _ := h.Get("x-api-key")
	return strings.TrimSpace(v)
}

// stripInternal removes every client copy of an internal header: x-tenant-id, the marker and
// every x-ingest-* header.
func stripInternal(h api.RequestHeaderMap, marker string) {
	var drop []string
	h.Range(func(k, _ string) bool {
		if k == filterconfig.HeaderTenantID || k == marker || strings.HasPrefix(k, filterconfig.InternalHeaderPrefix) {
			drop = append(drop, k)
		}
		return true
	})
	for _, k := range drop {
		h.Del(k) // not inside Range: in Envoy a map method called there deadlocks
	}
}
