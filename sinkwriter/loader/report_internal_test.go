package loader

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/record"
)

// reportCollector is a fake control plane summing the landed counts it receives per tenant.
type reportCollector struct {
	mu     sync.Mutex
	live   map[string]uint64
	shadow map[string]uint64
	source string
}

func newReporterTo(t *testing.T) (*report.Reporter, *reportCollector) {
	t.Helper()
	rc := &reportCollector{live: map[string]uint64{}, shadow: map[string]uint64{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("cannot decode report: %v", err)
		}
		rc.mu.Lock()
		rc.source = rep.Source
		for id, c := range rep.Tenants {
			rc.live[id] += c.LandedLiveEvents
			rc.shadow[id] += c.LandedShadowEvents
		}
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	rep, err := report.New(report.Options{Source: report.SourceLoader})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.SetEndpoint(report.Endpoint{URL: srv.URL, Token: "t", Interval: report.MaxInterval}); err != nil {
		t.Fatal(err)
	}
	return rep, rc
}

// withTenant rewrites the records' tenant.
func withTenant(t *testing.T, recs []*kgo.Record, tenant string) []*kgo.Record {
	t.Helper()
	for _, kr := range recs {
		var rec record.Record
		if err := record.Decode(kr.Value, &rec); err != nil {
			t.Fatal(err)
		}
		rec.Tenant = tenant
		kr.Value = record.Append(nil, &rec)
	}
	return recs
}

func TestReportLandedRowsPerTenantAndTableSet(t *testing.T) {
	ch := &fakeCH{ledger: map[ledgerKey]int64{}, failing: 1} // the first INSERT fails: nothing landed, nothing reported
	f, _ := newTestFlusher(t, ch)
	rep, rc := newReporterTo(t)
	f.rep = rep

	live := f.bufs[tableLogs]
	live.recs = append(withTenant(t, recordsOf(t, tableLogs, 0, 6), "acme"), withTenant(t, recordsOf(t, tableLogs, 6, 4), "beta")...)
	if err := f.flushTable(context.Background(), live); !errors.Is(err, errRetry) {
		t.Fatalf("first flush = %v, want a transient failure", err)
	}
	if err := f.flushTable(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	shadow := f.bufs[tableSpansShadow]
	shadow.recs = withTenant(t, recordsOf(t, tableSpansShadow, 0, 3), "acme")
	if err := f.flushTable(context.Background(), shadow); err != nil {
		t.Fatal(err)
	}
	if err := rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.source != report.SourceLoader {
		t.Errorf("source %q, want loader", rc.source)
	}
	if rc.live["acme"] != 6 || rc.live["beta"] != 4 || rc.shadow["acme"] != 3 || rc.shadow["beta"] != 0 {
		t.Errorf("landed live %v, shadow %v; want live acme 6, beta 4, shadow acme 3", rc.live, rc.shadow)
	}
}

func TestReportConfigIsValidatedWithTheLoaderConfig(t *testing.T) {
	cfg := Config{Brokers: []string{"k:9092"}, ClickHouseAddr: []string{"c:9000"}, Report: report.Config{URL: "ftp://cp"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"report.url", "report.token_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
