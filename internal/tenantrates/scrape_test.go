package tenantrates

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestScrapeAllMarksEachFailingTargetDownWithWhy: a round over a good target, one answering
// 500, one answering garbage, one answering too much and one where nothing listens returns a
// scrape per target, in order, the good one parsed and each other down with its reason.
func TestScrapeAllMarksEachFailingTargetDownWithWhy(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/good", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
			t.Errorf("Accept %q, want the text format", r.Header.Get("Accept"))
		}
		w.Write([]byte("# TYPE ingest_normalizer_events_accepted_total counter\ningest_normalizer_events_accepted_total{tenant=\"acme\",signal=\"log\"} 3\n"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{\"not\": \"metrics\"}\n")) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("ingest_x_total 1\n", 1<<17))) // 2.1 MiB
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/metrics"
	ln.Close()

	targets := []Target{
		{"good", srv.URL + "/good"}, {"fail", srv.URL + "/fail"}, {"garbage", srv.URL + "/garbage"},
		{"huge", srv.URL + "/huge"}, {"closed", closed},
	}
	s := &Scraper{Client: &http.Client{Timeout: 5 * time.Second}, MaxBytes: 1 << 20}
	start := time.Now()
	got := s.ScrapeAll(context.Background(), targets)
	if len(got) != len(targets) {
		t.Fatalf("%d scrapes for %d targets", len(got), len(targets))
	}
	for i, sc := range got {
		if sc.Target != targets[i] {
			t.Errorf("scrape %d is of %v, want %v", i, sc.Target, targets[i])
		}
		if sc.Time.Before(start) {
			t.Errorf("%s: time %v before the round", sc.Target.Name, sc.Time)
		}
	}
	if !got[0].Up() || len(got[0].Families[MetricNormalizerAccepted].GetMetric()) != 1 {
		t.Errorf("good target: %v %v", got[0].Err, got[0].Families)
	}
	for i, want := range map[int]string{1: "answered 500", 2: "not the Prometheus text format", 3: "exceeds the 1 MiB limit", 4: "connection refused"} {
		sc := got[i]
		if sc.Up() || sc.Families != nil {
			t.Errorf("%s: up, want down", sc.Target.Name)
			continue
		}
		if msg := sc.Err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "cannot scrape "+sc.Target.Name+" "+sc.Target.URL) {
			t.Errorf("%s: error %q, want it to name the target and say %q", sc.Target.Name, msg, want)
		}
	}
}

// FuzzParseAndCompute: whatever a target answers, Parse returns families or an error, and
// Compute over two such scrapes does not panic.
func FuzzParseAndCompute(f *testing.F) {
	f.Add("ingest_normalizer_events_accepted_total{tenant=\"a\",signal=\"log\"} 1\n", "ingest_normalizer_events_accepted_total{tenant=\"a\",signal=\"log\"} 0\n")
	f.Add("# TYPE ingest_loader_tenant_visibility_seconds histogram\ningest_loader_tenant_visibility_seconds_bucket{tenant=\"a\",le=\"1\"} 1\ningest_loader_tenant_visibility_seconds_count{tenant=\"a\"} 2\n",
		"# TYPE ingest_loader_tenant_visibility_seconds histogram\ningest_loader_tenant_visibility_seconds_bucket{tenant=\"a\",le=\"NaN\"} 1\ningest_loader_tenant_visibility_seconds_count{tenant=\"a\"} 1\n")
	f.Add("ingest_loader_topic_lag_records{topic=\"ingest.a\"} NaN\n", "ingest_loader_topic_lag_seconds{topic=\"ingest.a.shadow\"} +Inf\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		fa, errA := Parse(strings.NewReader(a))
		fb, errB := Parse(strings.NewReader(b))
		if errA != nil || errB != nil {
			return
		}
		tg := Target{Name: "x", URL: "http://x/metrics"}
		st := Compute([]Scrape{{Target: tg, Time: t0, Families: fa}}, []Scrape{{Target: tg, Time: t0.Add(time.Second), Families: fb}}, Options{})
		for id, tn := range st.Tenants {
			if id == "" || tn.AcceptedPerSec < 0 || tn.RejectedTotal() < 0 || tn.ProducedPerSec < 0 {
				t.Errorf("tenant %q: %+v", id, tn)
			}
		}
	})
}
