package filter_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

func TestCredentialsDecideTheTenant(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		tenant string // "" means 401
	}{
		{"bearer", map[string]string{"Authorization": "Bearer " + acmeKey}, "acme"},
		{"bearer, any case", map[string]string{"Authorization": "bearer  " + betaKey}, "beta"},
		{"x-api-key", map[string]string{"X-Api-Key": betaKey}, "beta"},
		{"basic auth falls back to x-api-key", map[string]string{"Authorization": "Basic Zm9v", "X-Api-Key": acmeKey}, "acme"},
		{"no key", nil, ""},
		{"unknown key", map[string]string{"Authorization": "Bearer ik_acmeaaaa_" + strings.Repeat("z", 40)}, ""},
		{"not a key", map[string]string{"X-Api-Key": "hunter2"}, ""},
		{"revoked key", map[string]string{"Authorization": "Bearer " + revokedKey}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			r := request("/v1/events", "", "application/x-ndjson", events(1))
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			res := e.send(r)
			if tc.tenant == "" {
				body := wantRefusal(t, res, 401, filter.ReasonUnknownAPIKey, "")
				if !strings.Contains(body.Error.Message, "authorization: Bearer <key>") || res.Local.Header.Get("Www-Authenticate") == "" {
					t.Errorf("401 does not say how to fix it: %q, www-authenticate %q", body.Error.Message, res.Local.Header.Get("Www-Authenticate"))
				}
				if got := e.metrics.Counter(filter.RejectedMetric(filter.ReasonUnknownAPIKey)); got != 1 {
					t.Errorf("ingest_edge_rejected_unknown_api_key = %d, want 1", got)
				}
				return
			}
			if res.Local != nil {
				t.Fatalf("local reply %d %s, want the request forwarded", res.Local.Status, res.Local.Body)
			}
			if got := res.Header.Get("X-Tenant-Id"); got != tc.tenant {
				t.Errorf("x-tenant-id = %q, want %q", got, tc.tenant)
			}
		})
	}
}

func TestClientCopiesOfInternalHeadersAreIgnored(t *testing.T) {
	e := newEnv(t, testConfig())
	r := request("/v1/events", acmeKey, "application/x-ndjson", events(2))
	r.Header.Set("X-Tenant-Id", "beta")
	r.Header.Set("X-Ingest-Version", "v2")
	r.Header.Set("X-Ingest-Edge", "0")
	r.Header.Set("X-Ingest-Event-Count", "0")
	r.Header.Set("X-Ingest-Anything", "spoofed")
	res := e.send(r)
	if res.Local != nil {
		t.Fatalf("local reply %d %s", res.Local.Status, res.Local.Body)
	}
	want := http.Header{"X-Tenant-Id": {"acme"}, "X-Ingest-Edge": {"1"}, "X-Ingest-Event-Count": {"2"}}
	for k, v := range res.Header {
		if strings.HasPrefix(k, "X-Ingest-") || k == "X-Tenant-Id" {
			if w := want[k]; len(w) == 0 || len(v) != 1 || v[0] != w[0] {
				t.Errorf("forwarded %s: %q, want %q", k, v, w)
			}
		}
	}
	for k, v := range want {
		if got := res.Header[k]; len(got) != 1 || got[0] != v[0] {
			t.Errorf("forwarded %s = %q, want %q", k, got, v)
		}
	}
	if !res.RouteRefreshed {
		t.Error("the route cache was not refreshed after setting x-tenant-id")
	}
}

func TestOverQuotaGets429WithRetryAfterFromTheBucket(t *testing.T) {
	e := newEnv(t, testConfig()) // acme: 2 events/s, burst 10
	if res := e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(10))); res.Local != nil {
		t.Fatalf("the first 10 events (the burst) were refused: %s", res.Local.Body)
	}
	// The bucket is empty: not one event fits, so the request is refused at its headers, its
	// body never read, with the wait for one event (0.5 s, rounded up to 1 s).
	r := request("/v1/events", acmeKey, "application/x-ndjson", nil)
	r.Body, r.ContentLength = io.NopCloser(failingReader{t}), 300
	body := wantRefusal(t, e.send(r), 429, admission.ReasonRateLimitedEvents, "1")
	if !strings.Contains(body.Error.Message, "refused at its headers") || !strings.Contains(body.Error.Message, "retry after 1 s") {
		t.Errorf("message %q does not say it was refused at the headers and when to retry", body.Error.Message)
	}
	// 1 s later 2 tokens: the headers pass, the body's 6 events need 6/2 = 3 s from empty,
	// 2 s from here.
	e.clock.Advance(time.Second)
	body = wantRefusal(t, e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(6))),
		429, admission.ReasonRateLimitedEvents, "2")
	if !strings.Contains(body.Error.Message, "6 events in this request") {
		t.Errorf("message %q does not count the request's events", body.Error.Message)
	}
	e.clock.Advance(1900 * time.Millisecond) // 5.8 tokens: 0.1 s to go, rounded up to 1 s
	wantRefusal(t, e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(6))), 429, admission.ReasonRateLimitedEvents, "1")
	e.clock.Advance(100 * time.Millisecond)
	if res := e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(6))); res.Local != nil {
		t.Fatalf("refused after the Retry-After delay: %s", res.Local.Body)
	}
	// Another tenant is not affected (invariant 3).
	if res := e.sendDone(request("/v1/events", betaKey, "application/x-ndjson", events(100))); res.Local != nil {
		t.Fatalf("tenant beta refused while acme is limited: %s", res.Local.Body)
	}
	if got := e.metrics.Counter(filter.RejectedMetric(admission.ReasonRateLimitedEvents)); got != 3 {
		t.Errorf("rate-limited counter = %d, want 3", got)
	}
}

func TestRefusalsTable(t *testing.T) {
	bigBody := bytes.Repeat([]byte("x"), 4500)
	for _, tc := range []struct {
		name       string
		req        func(t *testing.T) *http.Request
		status     int
		reason     string
		retryAfter string
	}{
		{"more events than the burst", func(*testing.T) *http.Request {
			return request("/v1/events", acmeKey, "application/x-ndjson", events(11))
		}, 413, admission.ReasonExceedsBurstEvents, ""},
		{"more bytes than the burst", func(*testing.T) *http.Request {
			return request("/v1/events", acmeKey, "application/x-ndjson", bigBody)
		}, 413, admission.ReasonExceedsBurstBytes, ""},
		{"content-length above the body limit", func(*testing.T) *http.Request {
			return request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("x"), 5001))
		}, 413, filter.ReasonBodyTooLarge, ""},
		{"chunked body above the body limit", func(*testing.T) *http.Request {
			r := request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("x"), 5001))
			r.ContentLength = -1
			return r
		}, 413, filter.ReasonBodyTooLarge, ""},
		{"malformed OTLP JSON", func(*testing.T) *http.Request {
			return request("/v1/logs", betaKey, "application/json", []byte(`{"resourceLogs":[{"scopeLogs":[`))
		}, 400, filter.ReasonMalformed, ""},
		{"malformed OTLP protobuf", func(*testing.T) *http.Request {
			return request("/v1/traces", betaKey, "application/x-protobuf", []byte{0x0a, 0x20, 0x01})
		}, 400, filter.ReasonMalformed, ""},
		{"gzip that is not gzip", func(*testing.T) *http.Request {
			r := request("/v1/events", betaKey, "application/x-ndjson", events(2))
			r.Header.Set("Content-Encoding", "gzip")
			return r
		}, 400, filter.ReasonMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			wantRefusal(t, e.send(tc.req(t)), tc.status, tc.reason, tc.retryAfter)
			if got := e.metrics.Counter(filter.RejectedMetric(tc.reason)); got != 1 {
				t.Errorf("%s = %d, want 1", filter.RejectedMetric(tc.reason), got)
			}
			if e.shared.InflightBytes() != 0 {
				t.Errorf("a refused request holds %d in-flight bytes", e.shared.InflightBytes())
			}
		})
	}
}

func TestEdgeFullGets503UntilAStreamCompletes(t *testing.T) {
	e := newEnv(t, testConfig())                       // 10,000 bytes in flight
	if err := e.shared.SetTenantShare(1); err != nil { // one tenant may fill the edge: its bound alone applies
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("{}\n"), 1500) // 4500 bytes, 1500 events for beta (unlimited)
	first := e.send(request("/v1/events", betaKey, "application/x-ndjson", body))
	second := e.send(request("/v1/events", betaKey, "application/x-ndjson", body))
	if first.Local != nil || second.Local != nil {
		t.Fatal("the first two requests were refused")
	}
	if got := e.metrics.Gauge(filter.MetricInflightBytes); got != 9000 {
		t.Errorf("in-flight gauge = %d, want 9000", got)
	}
	body3 := wantRefusal(t, e.send(request("/v1/events", betaKey, "application/x-ndjson", body)), 503, filter.ReasonEdgeFull, "5")
	if !strings.Contains(body3.Error.Message, "10000") {
		t.Errorf("message %q does not name the bound", body3.Error.Message)
	}
	first.Finish(200, nil) // the upstream answered: the edge lets go of the body
	if res := e.send(request("/v1/events", betaKey, "application/x-ndjson", body)); res.Local != nil {
		t.Fatalf("refused after a stream completed: %s", res.Local.Body)
	}
	if got := e.metrics.Counter(filter.RejectedMetric(filter.ReasonEdgeFull)); got != 1 {
		t.Errorf("edge-full counter = %d, want 1", got)
	}
}

func TestTrailersVariant(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   []byte
		key    string
		status int // 0: forwarded
		count  string
	}{
		{"body and trailers", events(3), acmeKey, 0, "3"},
		{"trailers only", nil, acmeKey, 0, "0"},
		{"over quota", events(11), acmeKey, 413, ""},
		{"unknown key", events(1), "", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			r := request("/v1/events", tc.key, "application/x-ndjson", tc.body)
			r.ContentLength = -1
			r.Trailer = http.Header{"Grpc-Status": {"0"}}
			res := e.send(r)
			if tc.status != 0 {
				if res.Local == nil || res.Local.Status != tc.status {
					t.Fatalf("result %+v, want %d", res, tc.status)
				}
				return
			}
			if res.Local != nil {
				t.Fatalf("local reply %d %s", res.Local.Status, res.Local.Body)
			}
			if res.Header.Get("X-Ingest-Event-Count") != tc.count || !bytes.Equal(res.Body, tc.body) || res.Trailer.Get("Grpc-Status") != "0" {
				t.Errorf("forwarded count %q body %q trailers %v; want count %s, the body and trailers unchanged",
					res.Header.Get("X-Ingest-Event-Count"), res.Body, res.Trailer, tc.count)
			}
		})
	}
}

func TestBodiesAreCountedAndPassedUnchanged(t *testing.T) {
	otlpJSON := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"}},{},{}]}]}]}`)
	for _, tc := range []struct {
		name, path, contentType, encoding string
		body                              []byte
		count                             string // "" means passed through uncounted
	}{
		{"ndjson", "/v1/events", "application/x-ndjson", "", events(4), "4"},
		{"otlp json", "/v1/logs", "application/json", "", otlpJSON, "3"},
		{"gzip ndjson", "/v1/events", "application/x-ndjson", "gzip", gzipped(t, events(7)), "7"},
		{"gzip otlp json", "/v1/logs", "application/json; charset=utf-8", "x-gzip", gzipped(t, otlpJSON), "3"},
		{"unknown path", "/api/v1/push", "application/json", "", []byte(`{"legacy":true}`), ""},
		{"unsupported encoding", "/v1/events", "application/x-ndjson", "br", []byte("\x0b\x01"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			r := request(tc.path, betaKey, tc.contentType, tc.body)
			if tc.encoding != "" {
				r.Header.Set("Content-Encoding", tc.encoding)
			}
			res := e.send(r)
			if res.Local != nil {
				t.Fatalf("local reply %d %s", res.Local.Status, res.Local.Body)
			}
			got, counted := res.Header["X-Ingest-Event-Count"]
			if tc.count == "" && counted || tc.count != "" && (len(got) != 1 || got[0] != tc.count) {
				t.Errorf("x-ingest-event-count = %q, want %q", got, tc.count)
			}
			if !bytes.Equal(res.Body, tc.body) {
				t.Error("the body was changed")
			}
			if res.Header.Get("Content-Encoding") != tc.encoding {
				t.Errorf("content-encoding = %q, want it forwarded as %q", res.Header.Get("Content-Encoding"), tc.encoding)
			}
			uncounted := uint64(0)
			if tc.count == "" {
				uncounted = 1
			}
			if e.metrics.Counter(filter.MetricUncountedRequests) != uncounted || e.metrics.Counter(filter.MetricAdmittedBytes) != uint64(len(tc.body)) {
				t.Errorf("uncounted %d, admitted bytes %d", e.metrics.Counter(filter.MetricUncountedRequests), e.metrics.Counter(filter.MetricAdmittedBytes))
			}
		})
	}
}

func TestRequestWithoutBodyIsAdmittedInDecodeHeaders(t *testing.T) {
	e := newEnv(t, testConfig())
	r := request("/v1/events", acmeKey, "application/x-ndjson", nil)
	r.Method = http.MethodGet
	res := e.send(r)
	if res.Local != nil || res.Header.Get("X-Ingest-Event-Count") != "0" || res.Header.Get("X-Tenant-Id") != "acme" {
		t.Fatalf("result %+v, want forwarded with 0 events for acme", res)
	}
}

func TestMetricsCountEveryOutcome(t *testing.T) {
	e := newEnv(t, testConfig())
	e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(3)))
	e.sendDone(request("/v1/events", betaKey, "application/x-ndjson", events(5)))
	e.sendDone(request("/v1/events", "", "application/x-ndjson", events(1)))
	e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(11)))
	for name, want := range map[string]uint64{
		filter.MetricRequests:                                     4,
		filter.MetricAdmittedRequests:                             2,
		filter.MetricAdmittedEvents:                               8,
		filter.MetricAdmittedBytes:                                uint64(len(events(8))),
		filter.RejectedMetric(filter.ReasonUnknownAPIKey):         1,
		filter.RejectedMetric(admission.ReasonExceedsBurstEvents): 1,
		filter.RejectedMetric(admission.ReasonRateLimitedEvents):  0,
		"ingest_edge_rejected_unknown_api_key":                    1,
		"ingest_edge_rejected_request_exceeds_burst_events":       1,
	} {
		if got := e.metrics.Counter(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if got := e.metrics.Gauge(filter.MetricInflightBytes); got != 0 {
		t.Errorf("in-flight gauge = %d after every stream completed, want 0", got)
	}
}

func TestAPanickingFilterGets500AndReleasesItsBytes(t *testing.T) {
	e := newEnv(t, testConfig())
	inner := e.filter.Factory
	e.filter.Factory = func(config interface{}, cb api.FilterCallbackHandler) api.StreamFilter {
		return panicking{inner(config, cb)}
	}
	res := e.send(request("/v1/events", betaKey, "application/x-ndjson", events(2)))
	if res.Local == nil || res.Local.Status != 500 {
		t.Fatalf("result %+v, want the host's 500 panic reply", res)
	}
	res.Finish(500, nil)
	if e.shared.InflightBytes() != 0 {
		t.Errorf("in-flight bytes = %d after the stream completed, want 0", e.shared.InflightBytes())
	}
}

func TestGRPCClientsGetGRPCStatuses(t *testing.T) {
	e := newEnv(t, testConfig())
	r := request("/v1/events", "", "application/grpc", events(1))
	res := e.send(r)
	if res.Local == nil || res.Local.Status != 200 || res.Local.Header.Get("Grpc-Status") != "16" {
		t.Fatalf("reply %+v, want grpc-status 16 (UNAUTHENTICATED)", res.Local)
	}
}

func TestFactoryWithoutParsedConfigFailsClosed(t *testing.T) {
	shared := filter.NewShared(nil)
	res, err := envoyhost.New(nil).Decode(t.Context(), envoyhost.Filter{Factory: shared.FilterFactory, Config: "not parsed"},
		request("/v1/events", acmeKey, "application/x-ndjson", events(1)), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Finish(500, nil)
	wantRefusal(t, res, 500, filter.ReasonUnconfigured, "")
}

func TestInflightBoundFollowsTheConfig(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	body := bytes.Repeat([]byte("{}\n"), 1500)
	e.send(request("/v1/events", betaKey, "application/x-ndjson", body))
	// A push lowers the bound below what is held: new requests get 503 until bytes are released.
	cfg.Limits.MaxInFlightBytes = 5000
	a, err := filterconfig.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := envoyhost.ParseConfig(filter.ConfigParser{}, a, e.metrics)
	if err != nil {
		t.Fatal(err)
	}
	e.filter.Config = parsed
	wantRefusal(t, e.send(request("/v1/events", betaKey, "application/x-ndjson", body[:900])), 503, filter.ReasonEdgeFull, "5")
}

func TestAPIKeyIsNotForwardedUpstream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string][]string
		tenant string
	}{
		{"bearer", map[string][]string{"Authorization": {"Bearer " + acmeKey}}, "acme"},
		{"x-api-key", map[string][]string{"X-Api-Key": {betaKey}}, "beta"},
		{"both", map[string][]string{"Authorization": {"Bearer " + acmeKey}, "X-Api-Key": {betaKey}}, "acme"},
		{"basic auth and x-api-key", map[string][]string{"Authorization": {"Basic Zm9v"}, "X-Api-Key": {acmeKey}}, "acme"},
		{"repeated headers", map[string][]string{"Authorization": {"Bearer " + betaKey, "Bearer other"}, "X-Api-Key": {betaKey, acmeKey}}, "beta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			r := request("/v1/events", "", "application/x-ndjson", events(1))
			for k, vs := range tc.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			res := e.send(r)
			if res.Local != nil {
				t.Fatalf("local reply %d %s, want the request forwarded", res.Local.Status, res.Local.Body)
			}
			if got := res.Header.Get("X-Tenant-Id"); got != tc.tenant {
				t.Errorf("x-tenant-id = %q, want %q", got, tc.tenant)
			}
			for _, k := range []string{"Authorization", "X-Api-Key"} {
				if v, ok := res.Header[k]; ok {
					t.Errorf("upstream request has %s: %q", k, v)
				}
			}
		})
	}
}

func TestTinyRateGetsRetryAfterOfOneHour(t *testing.T) {
	cfg := testConfig()
	cfg.Tenants[0].Quotas = filterconfig.Quotas{EventsPerSecond: 1e-300, BurstEvents: 10}
	e := newEnv(t, cfg)
	if res := e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(10))); res.Local != nil {
		t.Fatalf("first request: local reply %d %s, want it forwarded", res.Local.Status, res.Local.Body)
	}
	res := e.send(request("/v1/events", acmeKey, "application/x-ndjson", events(1)))
	wantRefusal(t, res, 429, admission.ReasonRateLimitedEvents, "3600")
}

// gzipConfig is testConfig with room for bodies that inflate to MiBs: tenant acme may send
// 10 MiB/s (burst 10 MiB) and unlimited events; the edge holds 4 MiB in flight.
func gzipConfig() *filterconfig.Config {
	cfg := testConfig()
	cfg.Tenants[0].Quotas = filterconfig.Quotas{BytesPerSecond: 10 << 20, BurstBytes: 10 << 20}
	cfg.Limits.MaxInFlightBytes, cfg.Limits.MaxRequestBodyBytes = 4<<20, 1<<20
	return cfg
}

// A gzip body is charged to the tenant's bytes quota as it decompresses: 10 MiB of newlines,
// sent as about 10 KiB, uses the whole 10 MiB burst, and the next request is over the rate.
func TestGzipBodyIsChargedItsDecompressedSizeToTheBytesQuota(t *testing.T) {
	cfg := gzipConfig()
	cfg.Limits.MaxInFlightBytes = 16 << 20
	e := newEnv(t, cfg)
	bomb := gzipped(t, bytes.Repeat([]byte("\n"), 10<<20))
	r := request("/v1/events", acmeKey, "application/x-ndjson", bomb)
	r.Header.Set("Content-Encoding", "gzip")
	if res := e.sendDone(r); res.Local != nil {
		t.Fatalf("the first request (%d bytes sent, 10 MiB decompressed) was refused: %s", len(bomb), res.Local.Body)
	}
	// 1 KiB more needs 1024 / (10 MiB/s) = 0.1 ms: Retry-After 1 s.
	body := wantRefusal(t, e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", bytes.Repeat([]byte("\n"), 1024))),
		429, admission.ReasonRateLimitedBytes, "1")
	if !strings.Contains(body.Error.Message, "bytes/s") {
		t.Errorf("message %q does not name the bytes rate", body.Error.Message)
	}
	// More than the burst once decompressed: 413, however small it is on the wire.
	e.clock.Advance(time.Second)
	r = request("/v1/events", acmeKey, "application/x-ndjson", gzipped(t, bytes.Repeat([]byte("\n"), 11<<20)))
	r.Header.Set("Content-Encoding", "gzip")
	body = wantRefusal(t, e.sendDone(r), 413, admission.ReasonExceedsBurstBytes, "")
	if !strings.Contains(body.Error.Message, "once decompressed") {
		t.Errorf("message %q does not say the size is decompressed", body.Error.Message)
	}
}

// The bytes a gzip body inflates to count against the edge's in-flight bound: with 1 MiB held
// by a request in progress, a 3.5 MiB inflation does not fit in 4 MiB and is shed with 503,
// and nothing stays reserved.
func TestGzipBodyInflatingPastTheInflightBoundIsShed(t *testing.T) {
	e := newEnv(t, gzipConfig())
	if err := e.shared.SetTenantShare(1); err != nil { // the edge's bound alone applies
		t.Fatal(err)
	}
	held := e.send(request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("\n"), 1<<20-1)))
	if held.Local != nil {
		t.Fatalf("the held request was refused: %s", held.Local.Body)
	}
	r := request("/v1/events", betaKey, "application/x-ndjson", gzipped(t, bytes.Repeat([]byte("\n"), 7<<19)))
	r.Header.Set("Content-Encoding", "gzip")
	body := wantRefusal(t, e.sendDone(r), 503, filter.ReasonEdgeFull, "5")
	if !strings.Contains(body.Error.Message, "decompressed") {
		t.Errorf("message %q does not say decompressed bodies count", body.Error.Message)
	}
	if got := e.metrics.Counter(filter.RejectedMetric(filter.ReasonEdgeFull)); got != 1 {
		t.Errorf("ingest_edge_rejected_edge_full = %d, want 1", got)
	}
	if got := e.shared.InflightBytes(); got != 1<<20-1 {
		t.Errorf("in-flight bytes = %d after the shed, want the held request's %d", got, 1<<20-1)
	}
	held.Finish(200, nil)
	if got := e.shared.InflightBytes(); got != 0 {
		t.Errorf("in-flight bytes = %d after both finished", got)
	}
}

// TestTheQuotaShareLimitsThisEdge: with a quarter of acme's quota assigned to this edge (2
// events/s, burst 10 → 0.5/s, burst 2.5), two events pass and a third is refused; a request of
// 5 events, within the whole burst but beyond this edge's part, is refused as rate-limited
// (429 after 1 s, not 413); once the grace passes without a newer reply, the share falls back
// to 1/edges (a half: burst 5). Another tenant without a quota is not affected.
func TestTheQuotaShareLimitsThisEdge(t *testing.T) {
	e := newEnv(t, testConfig())
	filter.SetQuotaShares(e.shared, 2, map[string]float64{"acme": 0.25}, 10*time.Second, e.clock.Now())
	if res := e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(2))); res.Local != nil {
		t.Fatalf("2 events within the share's burst of 2.5 were refused: %s", res.Local.Body)
	}
	wantRefusal(t, e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(1))), 429, admission.ReasonRateLimitedEvents, "1")
	e.clock.Advance(10 * time.Second) // the bucket refills to its 2.5 at 0.5/s
	wantRefusal(t, e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(5))), 429, admission.ReasonRateLimitedEvents, "1")
	e.clock.Advance(10 * time.Second) // 20 s: past the grace, a half of the quota: burst 5
	if res := e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(5))); res.Local != nil {
		t.Fatalf("5 events within the fallback share's burst of 5 were refused: %s", res.Local.Body)
	}
	if shares, edges, st := e.shared.QuotaShares(); edges != 2 || st != admission.ShareFallback || shares["acme"] != 0.5 {
		t.Errorf("QuotaShares after the grace: %v %d %v", shares, edges, st)
	}
	if res := e.sendDone(request("/v1/events", betaKey, "application/x-ndjson", events(100))); res.Local != nil {
		t.Fatalf("tenant beta refused: %s", res.Local.Body)
	}
}
