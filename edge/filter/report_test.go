package filter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/migration/report"
)

const zetaKey = "ik_zetazzzz_" + "secretzetasecretzetasecretzeta2345"

// reportSink is a fake control plane that records the parity reports it receives.
type reportSink struct {
	mu      sync.Mutex
	reports []report.Report
	auth    []string
}

func newReportSink(t *testing.T) (*reportSink, *httptest.Server) {
	rs := &reportSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("cannot decode report: %v", err)
		}
		rs.mu.Lock()
		rs.reports = append(rs.reports, rep)
		rs.auth = append(rs.auth, r.Header.Get("Authorization"))
		rs.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return rs, srv
}

// tenants sums the reported counts per tenant.
func (rs *reportSink) tenants() map[string]report.Counts {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := map[string]report.Counts{}
	for _, rep := range rs.reports {
		for id, c := range rep.Tenants {
			o := out[id]
			o.V1Requests += c.V1Requests
			o.V1AcceptedEvents += c.V1AcceptedEvents
			o.V2Requests += c.V2Requests
			o.V2AcceptedEvents += c.V2AcceptedEvents
			o.V2ServerErrors += c.V2ServerErrors
			if o.V2LatencyBuckets == nil && c.V2LatencyBuckets != nil {
				o.V2LatencyBuckets = make([]uint64, len(c.V2LatencyBuckets))
			}
			for i, n := range c.V2LatencyBuckets {
				o.V2LatencyBuckets[i] += n
			}
			out[id] = o
		}
	}
	return out
}

// reportingConfig is testConfig with reporting to url, and a third tenant zeta.
func reportingConfig(url string) *filterconfig.Config {
	cfg := testConfig()
	cfg.Tenants = append(cfg.Tenants, filterconfig.Tenant{ID: "zeta"})
	p, _ := filterconfig.ParseKeyPrefix(zetaKey)
	cfg.Keys[p] = []filterconfig.Key{key("zeta", zetaKey, nil)}
	cfg.ReportURL, cfg.ReportToken, cfg.ReportInterval = url, "report-token", "1m"
	return cfg
}

// answer sends an admitted request of n events and answers it from cluster with status after
// latency.
func (e *env) answer(apiKey string, n int, cluster string, status int, latency time.Duration) {
	e.t.Helper()
	res := e.send(request("/v1/events", apiKey, "application/x-ndjson", events(n)))
	if res.Local != nil {
		e.t.Fatalf("request refused: %d %s", res.Local.Status, res.Local.Body)
	}
	e.clock.Advance(latency)
	res.SetUpstreamCluster(cluster)
	res.EncodeHeaders(status, http.Header{}, false)
	res.Finish(status, nil)
}

// TestEveryTenantsAnswersAreReported: the filter reports the answer to every admitted
// request, per tenant, whatever its stage (the filter knows no stages; the control plane keeps
// the counts of the tenants in a cutover).
func TestEveryTenantsAnswersAreReported(t *testing.T) {
	rs, srv := newReportSink(t)
	e := newEnv(t, reportingConfig(srv.URL))
	e.answer(acmeKey, 3, filterconfig.ClusterV1, http.StatusOK, time.Millisecond)                    // shadow: v1 accepted
	e.answer(acmeKey, 2, filterconfig.ClusterV1, http.StatusServiceUnavailable, time.Millisecond)    // v1 refused: no events
	e.answer(betaKey, 4, filterconfig.ClusterV2, http.StatusServiceUnavailable, 30*time.Millisecond) // canary: v2 server error
	e.answer(betaKey, 5, filterconfig.ClusterV2, http.StatusNoContent, 2*time.Millisecond)           // canary: v2 accepted
	e.answer(zetaKey, 7, filterconfig.ClusterV1, http.StatusOK, time.Millisecond)                    // another tenant
	e.answer(betaKey, 1, "", http.StatusNotFound, time.Millisecond)                                  // no cluster: not an answer
	if err := e.shared.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rs.tenants()
	if a := got["acme"]; a.V1Requests != 2 || a.V1AcceptedEvents != 3 || a.V2Requests != 0 {
		t.Errorf("acme: %+v, want 2 v1 requests with 3 accepted events", a)
	}
	b := got["beta"]
	if b.V2Requests != 2 || b.V2AcceptedEvents != 5 || b.V2ServerErrors != 1 || b.V1Requests != 0 {
		t.Errorf("beta: %+v, want 2 v2 requests, 5 accepted events, 1 server error", b)
	}
	// 2 ms is in the first bucket (<= 5 ms), 30 ms in the fourth (<= 50 ms).
	if len(b.V2LatencyBuckets) != len(report.LatencyBucketsMs)+1 || b.V2LatencyBuckets[0] != 1 || b.V2LatencyBuckets[3] != 1 {
		t.Errorf("beta latency buckets %v, want one in <=5ms and one in <=50ms", b.V2LatencyBuckets)
	}
	if z := got["zeta"]; z.V1Requests != 1 || z.V1AcceptedEvents != 7 {
		t.Errorf("zeta: %+v, want 1 v1 request with 7 accepted events", z)
	}
	if len(rs.auth) == 0 || rs.auth[0] != "Bearer report-token" {
		t.Errorf("authorization %q, want the configured report token", rs.auth)
	}
}

func TestNoReportURLReportsNothing(t *testing.T) {
	cfg := reportingConfig("")
	cfg.ReportToken, cfg.ReportInterval = "", ""
	e := newEnv(t, cfg)
	e.answer(acmeKey, 3, filterconfig.ClusterV1, http.StatusOK, time.Millisecond)
	if e.shared.Reporter().Enabled() {
		t.Error("the reporter counts without a report_url")
	}
	if err := e.shared.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAdmitReportedThroughHost is BenchmarkAdmitThroughHost with reporting on:
// the request, then its answer reported from EncodeHeaders.
func BenchmarkAdmitReportedThroughHost(b *testing.B) {
	cfg := reportingConfig("http://127.0.0.1:1")
	cfg.ReportInterval = "1m"
	e := newEnv(b, cfg)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = e.shared.Close(ctx)
	})
	body := events(100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.host.Decode(context.Background(), e.filter, request("/v1/events", betaKey, "application/x-ndjson", body), 0)
		if err != nil || res.Local != nil {
			b.Fatalf("Decode: %v %+v", err, res)
		}
		res.SetUpstreamCluster(filterconfig.ClusterV2)
		res.EncodeHeaders(200, nil, false)
		res.Finish(200, nil)
	}
}
