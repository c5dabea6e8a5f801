package report

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// collector is a fake control plane: it records the reports it takes and answers with the
// statuses queued in fail (then 204).
type collector struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	reports []Report
	auth    []string
	fail    []int
	reply   *QuotaReply // answered with 200 and this, else 204
}

// TestAnEdgesReporterPassesTheQuotaReplyOn: the admission counts are reported, and a 200 with
// quota shares reaches OnQuotaReply; a 204 does not call it.
func TestAnEdgesReporterPassesTheQuotaReplyOn(t *testing.T) {
	c := newCollector(t)
	var got []*QuotaReply
	r, clk := newTestReporter(t, c, Options{OnQuotaReply: func(q *QuotaReply) { got = append(got, q) }})
	r.Add("acme", Delta{AdmittedRequests: 2, AdmittedEvents: 20, AdmittedBytes: 2000})
	r.Add("acme", Delta{RefusedRequests: 3})
	clk.add(time.Second)
	r.mustFlush(t)
	if len(got) != 0 {
		t.Fatalf("a 204 called OnQuotaReply: %+v", got)
	}
	if c := c.got()[0].Tenants["acme"]; c.AdmittedRequests != 2 || c.AdmittedEvents != 20 || c.AdmittedBytes != 2000 || c.RefusedRequests != 3 {
		t.Errorf("reported %+v", c)
	}
	c.mu.Lock()
	c.reply = &QuotaReply{Edges: 3, Shares: map[string]float64{"acme": 0.7}, GraceMs: 10000}
	c.mu.Unlock()
	clk.add(time.Second)
	r.mustFlush(t)
	if len(got) != 1 || got[0].Edges != 3 || got[0].Shares["acme"] != 0.7 || got[0].GraceMs != 10000 {
		t.Errorf("OnQuotaReply got %+v, want the reply", got)
	}
}

func newCollector(t *testing.T) *collector {
	c := &collector{t: t}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != Path || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("got %s %s (%s), want POST %s (application/json)", r.Method, r.URL.Path, r.Header.Get("Content-Type"), Path)
		}
		c.auth = append(c.auth, r.Header.Get("Authorization"))
		if len(c.fail) > 0 {
			code := c.fail[0]
			c.fail = c.fail[1:]
			http.Error(w, "refused", code)
			return
		}
		var rep Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("cannot decode report: %v", err)
		}
		if err := rep.Validate(); err != nil {
			t.Errorf("invalid report: %v", err)
		}
		c.reports = append(c.reports, rep)
		if c.reply != nil {
			_ = json.NewEncoder(w).Encode(c.reply)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) failNext(codes ...int) {
	c.mu.Lock()
	c.fail = append(c.fail, codes...)
	c.mu.Unlock()
}

func (c *collector) got() []Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Report(nil), c.reports...)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestReporter returns a reporter sending to c whose timer never fires during a test
// (interval MaxInterval): the test flushes by hand.
func newTestReporter(t *testing.T, c *collector, opts Options) (*Reporter, *clock) {
	t.Helper()
	clk := &clock{t: time.UnixMilli(1_700_000_000_000)}
	if opts.Source == "" {
		opts.Source = SourceEdge
	}
	opts.Instance = "edge-test"
	opts.Now = clk.now
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetEndpoint(Endpoint{URL: c.srv.URL, Token: "secret-token", Interval: MaxInterval}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, clk
}

func (r *Reporter) flushNow(t *testing.T) error {
	t.Helper()
	return r.flush(context.Background(), false)
}

// mustFlush is flushNow failing the test on an error.
func (r *Reporter) mustFlush(t *testing.T) {
	t.Helper()
	if err := r.flushNow(t); err != nil {
		t.Fatal(err)
	}
}

func TestReporterSumsCountsPerTenantWithAuth(t *testing.T) {
	c := newCollector(t)
	r, clk := newTestReporter(t, c, Options{})
	r.Add("acme", Delta{V1Requests: 1, V1AcceptedEvents: 10})
	r.Add("acme", Delta{V1Requests: 1, V1AcceptedEvents: 5})
	r.Add("acme", Delta{V2Requests: 1, V2AcceptedEvents: 7, V2Latency: 3 * time.Millisecond})
	r.Add("acme", Delta{V2Requests: 1, V2ServerErrors: 1, V2Latency: 20 * time.Second})
	r.Add("globex", Delta{LandedLiveEvents: 4, LandedShadowEvents: 2})
	clk.add(time.Second)
	r.mustFlush(t)
	got := c.got()
	if len(got) != 1 {
		t.Fatalf("got %d reports, want 1", len(got))
	}
	rep := got[0]
	if rep.Source != SourceEdge || rep.Instance != "edge-test" || rep.Seq != 1 {
		t.Errorf("got source %q instance %q seq %d, want edge, edge-test, 1", rep.Source, rep.Instance, rep.Seq)
	}
	if rep.End-rep.Start != 1000 {
		t.Errorf("interval %d..%d, want 1000 ms", rep.Start, rep.End)
	}
	buckets := make([]uint64, len(LatencyBucketsMs)+1)
	buckets[0], buckets[len(buckets)-1] = 1, 1
	want := Counts{V1Requests: 2, V1AcceptedEvents: 15, V2Requests: 2, V2AcceptedEvents: 7, V2ServerErrors: 1, V2LatencyBuckets: buckets}
	if g := rep.Tenants["acme"]; !equalCounts(g, want) {
		t.Errorf("acme: got %+v, want %+v", g, want)
	}
	if g := rep.Tenants["globex"]; !equalCounts(g, Counts{LandedLiveEvents: 4, LandedShadowEvents: 2}) {
		t.Errorf("globex: got %+v", g)
	}
	if c.auth[0] != "Bearer secret-token" {
		t.Errorf("authorization %q, want Bearer secret-token", c.auth[0])
	}
}

func equalCounts(a, b Counts) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestReporterSeqIncreasesAndEmptyIntervalsAreReportedEmpty: every interval is reported, an
// interval without counts as an empty report, so that the control plane tells a quiet
// reporter from a dead one.
func TestReporterSeqIncreasesAndEmptyIntervalsAreReportedEmpty(t *testing.T) {
	c := newCollector(t)
	r, _ := newTestReporter(t, c, Options{})
	for range 3 {
		r.Add("acme", Delta{V1Requests: 1})
		r.mustFlush(t)
		r.mustFlush(t) // nothing new: an empty report
	}
	got := c.got()
	if len(got) != 6 {
		t.Fatalf("got %d reports, want 6", len(got))
	}
	for i, rep := range got {
		if rep.Seq != uint64(i+1) {
			t.Errorf("report %d has seq %d, want %d", i, rep.Seq, i+1)
		}
		if want := 1 - i%2; len(rep.Tenants) != want || rep.Tenants == nil {
			t.Errorf("report %d has %d tenants (%v), want %d", i, len(rep.Tenants), rep.Tenants, want)
		}
	}
}

func TestReporterRetriesFailedReportWithItsSeqThenSendsNewCounts(t *testing.T) {
	c := newCollector(t)
	r, clk := newTestReporter(t, c, Options{})
	c.failNext(http.StatusServiceUnavailable, http.StatusBadGateway)
	r.Add("acme", Delta{V1AcceptedEvents: 10})
	if err := r.flushNow(t); err == nil {
		t.Fatal("flush: want an error from a 503")
	}
	r.Add("acme", Delta{V1AcceptedEvents: 1})
	clk.add(time.Second)
	if err := r.flushNow(t); err == nil { // the retry fails too: the new counts wait
		t.Fatal("flush: want an error from a 502")
	}
	r.Add("acme", Delta{V1AcceptedEvents: 2})
	clk.add(time.Second)
	r.mustFlush(t)
	got := c.got()
	if len(got) != 2 {
		t.Fatalf("got %d reports, want 2 (the retried one and the new counts)", len(got))
	}
	if got[0].Seq != 1 || got[0].Tenants["acme"].V1AcceptedEvents != 10 {
		t.Errorf("first report: seq %d, %+v; want seq 1 with 10 events", got[0].Seq, got[0].Tenants)
	}
	if got[1].Seq != 2 || got[1].Tenants["acme"].V1AcceptedEvents != 3 {
		t.Errorf("second report: seq %d, %+v; want seq 2 with 3 events", got[1].Seq, got[1].Tenants)
	}
	if s := r.Stats(); s.Failed != 2 || s.Sent != 2 || s.DroppedReports != 0 {
		t.Errorf("stats %+v, want 2 failed, 2 sent, 0 dropped", s)
	}
}

func TestReporterDropsReportAfterRetentionAndOnClientError(t *testing.T) {
	c := newCollector(t)
	reg := prometheus.NewRegistry()
	r, clk := newTestReporter(t, c, Options{MaxRetain: 3 * time.Second, Registerer: reg})
	c.failNext(500, 500, 500, 500)
	r.Add("acme", Delta{V1Requests: 1})
	for range 4 { // 0 s, 1 s, 2 s: kept; 3 s: dropped, and the new (empty) interval is tried once
		_ = r.flushNow(t)
		clk.add(time.Second)
	}
	if s := r.Stats(); s.DroppedReports != 1 {
		t.Fatalf("stats %+v, want 1 dropped report after the retention", s)
	}
	if n := testutil.ToFloat64(r.m.reports.WithLabelValues("dropped")); n != 1 {
		t.Errorf("ingest_report_reports_total{result=dropped} = %v, want 1", n)
	}

	c.failNext(http.StatusBadRequest)
	r.Add("acme", Delta{V1Requests: 1})
	_ = r.flushNow(t)
	if s := r.Stats(); s.DroppedReports != 2 {
		t.Fatalf("stats %+v, want a 400 dropped at once", s)
	}
	for _, rep := range c.got() {
		if len(rep.Tenants) != 0 {
			t.Errorf("report %d with counts %v reached the control plane, want only empty ones", rep.Seq, rep.Tenants)
		}
	}
}

func TestReporterBoundsTenantsPerInterval(t *testing.T) {
	c := newCollector(t)
	reg := prometheus.NewRegistry()
	r, _ := newTestReporter(t, c, Options{MaxTenants: 2, Registerer: reg})
	for _, id := range []string{"a", "b", "c", "c", "a"} {
		r.Add(id, Delta{V1Requests: 1})
	}
	r.mustFlush(t)
	rep := c.got()[0]
	if len(rep.Tenants) != 2 || rep.Tenants["a"].V1Requests != 2 || rep.Tenants["b"].V1Requests != 1 {
		t.Errorf("tenants %+v, want a: 2 and b: 1", rep.Tenants)
	}
	if s := r.Stats(); s.DroppedObservations != 2 {
		t.Errorf("dropped observations %d, want 2", s.DroppedObservations)
	}
	if n := testutil.ToFloat64(r.m.tooManyTenants); n != 2 {
		t.Errorf("ingest_report_dropped_observations_total = %v, want 2", n)
	}
	// Idle tenants are forgotten: c fits in the next interval.
	r.mustFlush(t)
	r.Add("c", Delta{V1Requests: 1})
	r.mustFlush(t)
	if got := c.got(); len(got) != 3 || len(got[1].Tenants) != 0 || got[2].Tenants["c"].V1Requests != 1 {
		t.Errorf("reports %+v, want an empty one, then c counted once idle tenants left", got)
	}
}

func TestReporterCloseFlushesAndStopsCounting(t *testing.T) {
	c := newCollector(t)
	r, _ := newTestReporter(t, c, Options{Source: SourceLoader})
	r.Add("acme", Delta{LandedLiveEvents: 3})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Add("acme", Delta{LandedLiveEvents: 3})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := c.got()
	if len(got) != 1 || got[0].Source != SourceLoader || got[0].Tenants["acme"].LandedLiveEvents != 3 {
		t.Fatalf("reports %+v, want one loader report with 3 landed events", got)
	}
}

func TestReporterSendsEveryInterval(t *testing.T) {
	c := newCollector(t)
	r, err := New(Options{Source: SourceNormalizer})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	if err := r.SetEndpoint(Endpoint{URL: c.srv.URL, Token: "t", Interval: MinInterval}); err != nil {
		t.Fatal(err)
	}
	r.Add("acme", Delta{V2Requests: 1, V2AcceptedEvents: 1})
	deadline := time.Now().Add(5 * time.Second)
	for len(c.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := c.got(); len(got) != 1 || got[0].Tenants["acme"].V2Requests != 1 {
		t.Fatalf("reports %+v, want one sent by the timer", got)
	}
}

func TestReporterOffCountsNothing(t *testing.T) {
	var nilReporter *Reporter
	nilReporter.Add("acme", Delta{V1Requests: 1})
	if err := nilReporter.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Config{}, Options{Source: SourceLoader})
	if r != nil || err != nil {
		t.Fatalf("Open of an empty config: %v, %v; want nil, nil", r, err)
	}
	idle, err := New(Options{Source: SourceEdge})
	if err != nil {
		t.Fatal(err)
	}
	idle.Add("acme", Delta{V1Requests: 1})
	if idle.Enabled() || len(idle.cur) != 0 {
		t.Error("a reporter without endpoint counted")
	}
	if err := idle.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReadsTokenFile(t *testing.T) {
	c := newCollector(t)
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("  file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Config{URL: c.srv.URL, TokenFile: path, Interval: MaxInterval}, Options{Source: SourceLoader})
	if err != nil {
		t.Fatal(err)
	}
	r.Add("acme", Delta{LandedShadowEvents: 1})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(c.auth) != 1 || c.auth[0] != "Bearer file-token" {
		t.Errorf("authorization %q, want Bearer file-token", c.auth)
	}
}

func TestConfigValidateNamesEveryKey(t *testing.T) {
	err := Config{URL: "ftp://x", Interval: time.Hour}.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, key := range []string{"url:", "token_file:", "interval:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := (Config{URL: "http://127.0.0.1:9090", TokenFile: "t", Interval: time.Second}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestReporterAddDoesNotAllocateForKnownTenant(t *testing.T) {
	c := newCollector(t)
	r, _ := newTestReporter(t, c, Options{})
	tenant := strings.Repeat("a", 20)
	r.Add(tenant, Delta{V1Requests: 1})
	if n := testing.AllocsPerRun(1000, func() {
		r.Add(tenant, Delta{V2Requests: 1, V2AcceptedEvents: 3, V2Latency: 30 * time.Millisecond})
	}); n != 0 {
		t.Errorf("Add allocates %v times per call, want 0", n)
	}
}

func BenchmarkReporterAdd(b *testing.B) {
	r, err := New(Options{Source: SourceEdge})
	if err != nil {
		b.Fatal(err)
	}
	r.enabled.Store(true) // count without sending
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Add("acme", Delta{V2Requests: 1, V2AcceptedEvents: 10, V2Latency: 7 * time.Millisecond})
		}
	})
}
