package normalizer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/record/recordtest"
)

func TestShadowRequestsAreReportedAndLiveOnesAreNot(t *testing.T) {
	var mu sync.Mutex
	got := map[string]report.Counts{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("cannot decode report: %v", err)
		}
		if rep.Source != report.SourceNormalizer {
			t.Errorf("source %q, want normalizer", rep.Source)
		}
		mu.Lock()
		for id, c := range rep.Tenants {
			g := got[id]
			g.V2Requests += c.V2Requests
			g.V2AcceptedEvents += c.V2AcceptedEvents
			g.V2ServerErrors += c.V2ServerErrors
			g.V2LatencyBuckets = c.V2LatencyBuckets
			g.V1Requests += c.V1Requests
			got[id] = g
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	rep, err := report.New(report.Options{Source: report.SourceNormalizer})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.SetEndpoint(report.Endpoint{URL: srv.URL, Token: "t", Interval: report.MaxInterval}); err != nil {
		t.Fatal(err)
	}
	// Each request takes 30 ms on this clock: two readings per request.
	clock := testNow
	var clockMu sync.Mutex
	now := func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		clock = clock.Add(15 * time.Millisecond)
		return clock
	}
	sink := &recordtest.Sink{}
	key := testHopKey(t, 1)
	v, err := hopauth.NewVerifier([]*hopauth.Key{key}, time.Hour) // the test clock moves on
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(DefaultConfig(), sink, prometheus.NewRegistry(), slog.New(slog.DiscardHandler), WithClock(now), WithReporter(rep), WithHopAuth(v))
	if err != nil {
		t.Fatal(err)
	}
	forge := false
	send := func(host, tenant string, lines int) int {
		hr := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader([]byte(strings.Repeat(goodLine+"\n", lines))))
		hr.Host = host
		hr.Header.Set("Content-Type", "application/x-ndjson")
		hr.Header.Set(HeaderTenant, tenant)
		if !forge {
			sig, err := hopauth.Sign(key, testNow, hopauth.Claims{Audience: hopauth.AudienceNormalizer, Tenant: tenant})
			if err != nil {
				t.Fatal(err)
			}
			hr.Header.Set(hopauth.Header, sig)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, hr)
		return w.Code
	}
	if code := send("ingest-v2-shadow", "acme", 3); code != http.StatusOK {
		t.Fatalf("shadow request: %d", code)
	}
	if code := send("ingest-v2", "acme", 5); code != http.StatusOK { // live: not reported
		t.Fatalf("live request: %d", code)
	}
	if code := send("ingest-v2", "beta", 5); code != http.StatusOK {
		t.Fatalf("live request: %d", code)
	}
	// A shadow request that is not the edge's (no signature) is refused and must not count
	// in acme's parity report: whoever can reach the normalizer could skew a cutover's gate.
	forge = true
	if code := send("ingest-v2-shadow", "acme", 1); code != http.StatusUnauthorized {
		t.Fatalf("unsigned shadow request: %d, want 401", code)
	}
	forge = false
	sink.SetErr(errors.New("sink down"))
	if code := send("ingest-v2-shadow:4318", "acme", 2); code < 500 {
		t.Fatalf("shadow request with a failing sink: %d, want 5xx", code)
	}
	if err := rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	a := got["acme"]
	if a.V2Requests != 2 || a.V2AcceptedEvents != 3 || a.V2ServerErrors != 1 || a.V1Requests != 0 {
		t.Errorf("acme: %+v, want 2 shadow requests, 3 accepted events, 1 server error", a)
	}
	if len(a.V2LatencyBuckets) != len(report.LatencyBucketsMs)+1 || a.V2LatencyBuckets[3] != 2 { // 30 ms: <= 50 ms
		t.Errorf("acme latency buckets %v, want 2 in the 50 ms bucket", a.V2LatencyBuckets)
	}
	if _, ok := got["beta"]; ok {
		t.Errorf("live tenant beta was reported: %+v", got["beta"])
	}
}

func TestServiceConfigValidatesReport(t *testing.T) {
	c := ServiceConfig{Sink: SinkDiscard, Report: report.Config{URL: "http://cp:9090"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "report.token_file") {
		t.Errorf("Validate = %v, want report.token_file named", err)
	}
}
