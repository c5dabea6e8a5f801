package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/internal/devstack"
	"github.com/ingestdev/ingest/migration/report"
)

// fakeMetrics serves /metrics whose text is body(n) at the n-th scrape (from 1).
func fakeMetrics(t *testing.T, body func(n int64) string) string {
	t.Helper()
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body(scrapes.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://") // no scheme, no path: top completes both
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// topFixture is a control plane with three tenants, acme with a quota the edges report 70% of,
// and fake normalizer, sink writer and loader targets whose counters grow at every scrape, plus
// an edge target that is down.
func topFixture(t *testing.T) (server, scrape string) {
	t.Helper()
	const reportToken = "report-token-0123456789abcdef"
	srv, _ := apitest.Start(t, api.Config{Token: testToken, ReportToken: reportToken})
	mustOK(t, ctl(t, srv.URL, "", "tenants", "create", "acme", "--stage", "canary:10", "--events-per-second", "1000"))
	mustOK(t, ctl(t, srv.URL, "", "tenants", "create", "globex", "--stage", "shadow"))
	mustOK(t, ctl(t, srv.URL, "", "tenants", "create", "idle"))
	now := time.Now()
	b, _ := json.Marshal(report.Report{Source: report.SourceEdge, Instance: "edge-a", Seq: 1, Start: now.Add(-time.Second).UnixMilli(), End: now.UnixMilli(),
		Tenants: map[string]report.Counts{"acme": {AdmittedRequests: 70, AdmittedEvents: 700}}})
	req, _ := http.NewRequest("POST", srv.URL+report.Path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+reportToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("edge report: %v %v", err, resp)
	}
	resp.Body.Close()

	normalizer := fakeMetrics(t, func(n int64) string {
		return fmt.Sprintf(`# TYPE ingest_normalizer_events_accepted_total counter
ingest_normalizer_events_accepted_total{tenant="acme",signal="log"} %d
ingest_normalizer_events_accepted_total{tenant="globex",signal="log"} %d
ingest_normalizer_events_rejected_total{tenant="acme",signal="event",reason="err-ingest-invalid-json"} %d
ingest_normalizer_shed_total{tenant="acme",reason="err-ingest-sink-full"} %d
ingest_normalizer_shed_total{tenant="acme",reason="err-ingest-sink-unavailable"} %d
`, 1000*n, 100*n, 50*n, 20*n, 10*n)
	})
	sinkwriter := fakeMetrics(t, func(n int64) string {
		return fmt.Sprintf("ingest_sinkwriter_records_produced_total{tenant=\"acme\"} %d\n", 1000*n)
	})
	loader := fakeMetrics(t, func(n int64) string {
		return fmt.Sprintf(`ingest_loader_topic_lag_records{topic="ingest.acme"} 42
ingest_loader_topic_lag_seconds{topic="ingest.acme"} 0.5
# TYPE ingest_loader_tenant_visibility_seconds histogram
ingest_loader_tenant_visibility_seconds_bucket{tenant="acme",le="0.5"} 0
ingest_loader_tenant_visibility_seconds_bucket{tenant="acme",le="1"} %[1]d
ingest_loader_tenant_visibility_seconds_bucket{tenant="acme",le="+Inf"} %[1]d
ingest_loader_tenant_visibility_seconds_sum{tenant="acme"} 1
ingest_loader_tenant_visibility_seconds_count{tenant="acme"} %[1]d
`, 100*n)
	})
	return srv.URL, "edge=" + closedAddr(t) + ",normalizer=" + normalizer + ",sinkwriter=" + sinkwriter + ",loader=http://" + loader + "/metrics"
}

// jsonFrames decodes -o json output: one frame a line.
func jsonFrames(t *testing.T, out string) []topFrame {
	t.Helper()
	var frames []topFrame
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f topFrame
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("a line of -o json is not a frame: %v\n%s", err, line)
		}
		frames = append(frames, f)
	}
	return frames
}

func approx(got, want float64) bool { return math.Abs(got-want) <= 1e-6*math.Max(1, math.Abs(want)) }

// TestTopJSONGivesRatesLagVisibilityStageAndQuotaUsePerTenant: two frames, one JSON object a
// line, with the rates of the fake targets (in the ratios their counters grow by), the loader's
// lag and p95, the stage and quota use from the control plane, and the down edge shown, not
// fatal.
func TestTopJSONGivesRatesLagVisibilityStageAndQuotaUsePerTenant(t *testing.T) {
	server, scrape := topFixture(t)
	r := mustOK(t, ctl(t, server, "", "top", "--iterations", "2", "--interval", "200ms", "--scrape", scrape, "-o", "json"))
	frames := jsonFrames(t, r.stdout)
	if len(frames) != 2 {
		t.Fatalf("%d frames, want 2:\n%s", len(frames), r.stdout)
	}
	for i, f := range frames {
		if f.TenantsTotal != 3 || len(f.Tenants) != 3 || f.Limit != 20 || f.IntervalSeconds < 0.1 || !f.ControlPlane.Up {
			t.Fatalf("frame %d: %+v", i, f)
		}
		if got := []string{f.Tenants[0].Tenant, f.Tenants[1].Tenant, f.Tenants[2].Tenant}; strings.Join(got, " ") != "acme globex idle" {
			t.Errorf("frame %d: order %v, want by accepted events/s", i, got)
		}
		if len(f.Targets) != 4 || f.Targets[0].Up || !strings.Contains(f.Targets[0].Error, "connection refused") || !f.Targets[1].Up || !f.Targets[3].Up {
			t.Errorf("frame %d targets: %+v, want the edge down with why and the others up", i, f.Targets)
		}
		acme, globex, idle := f.Tenants[0], f.Tenants[1], f.Tenants[2]
		if acme.Stage != "canary:10" || globex.Stage != "shadow" || idle.Stage != "legacy" {
			t.Errorf("frame %d stages: %s %s %s", i, acme.Stage, globex.Stage, idle.Stage)
		}
		a := acme.AcceptedEventsPerSec
		if a <= 0 || !approx(globex.AcceptedEventsPerSec, a/10) || !approx(acme.RejectedEventsPerSec, a/20) ||
			!approx(acme.RejectedByReason["err-ingest-invalid-json"], a/20) || !approx(acme.Shed429PerSec, a/50) ||
			!approx(acme.Shed503PerSec, a/100) || !approx(acme.ShedByReason["err-ingest-sink-full"], a/50) || acme.ProducedRecordsPerSec <= 0 {
			t.Errorf("frame %d acme rates: %+v", i, acme)
		}
		if idle.AcceptedEventsPerSec != 0 || idle.LagRecords != nil || idle.VisibilityP95Seconds != nil || idle.RejectedByReason == nil {
			t.Errorf("frame %d idle: %+v, want zero rates, null lag and p95, empty maps", i, idle)
		}
		if acme.LagRecords == nil || *acme.LagRecords != 42 || acme.LagSeconds == nil || *acme.LagSeconds != 0.5 {
			t.Errorf("frame %d acme lag: %v %v", i, deref(acme.LagRecords), deref(acme.LagSeconds))
		}
		if v := acme.VisibilityP95Seconds; v == nil || !approx(*v, 0.975) {
			t.Errorf("frame %d acme p95: %v, want 0.975 (every row in (0.5, 1])", i, deref(v))
		}
		if acme.QuotaEventsPerSec != 1000 || acme.AdmittedEventsPerSec == nil || *acme.AdmittedEventsPerSec != 700 || acme.QuotaUse == nil || !approx(*acme.QuotaUse, 0.7) {
			t.Errorf("frame %d acme quota: %v of %v, use %v", i, deref(acme.AdmittedEventsPerSec), acme.QuotaEventsPerSec, deref(acme.QuotaUse))
		}
		if globex.QuotaUse != nil || globex.QuotaEventsPerSec != 0 {
			t.Errorf("frame %d globex without a quota: use %v", i, deref(globex.QuotaUse))
		}
	}

	// --limit: the top N of all.
	r = mustOK(t, ctl(t, server, "", "top", "--once", "--interval", "100ms", "--limit", "1", "--scrape", scrape, "-o", "json"))
	if f := jsonFrames(t, r.stdout); len(f) != 1 || len(f[0].Tenants) != 1 || f[0].Tenants[0].Tenant != "acme" || f[0].TenantsTotal != 3 {
		t.Errorf("--limit 1: %s", r.stdout)
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// TestTopPlainFramesHaveNoCursorControl: not a terminal (and --once): one plain frame with the
// table, the down target and why, the stage and the quota use.
func TestTopPlainFramesHaveNoCursorControl(t *testing.T) {
	server, scrape := topFixture(t)
	r := mustOK(t, ctl(t, server, "", "top", "--once", "--interval", "150ms", "--scrape", scrape))
	out := r.stdout
	if strings.Contains(out, "\033") {
		t.Fatalf("plain frame holds escape sequences: %q", out)
	}
	for _, want := range []string{"ingestctl top", "3 tenant(s) by accepted events/s", "targets: edge DOWN, normalizer up, sinkwriter up, loader up",
		"cannot scrape edge http://", "connection refused", "TENANT", "ACCEPTED/S", "invalid-json", "70% of 1000 ev/s", "unlimited"} {
		if !strings.Contains(out, want) {
			t.Errorf("frame lacks %q:\n%s", want, out)
		}
	}
	acme, idle := rowOf(out, "acme"), rowOf(out, "idle")
	if len(acme) < 11 || acme[1] != "canary:10" || acme[4] != "invalid-json" || acme[7] != "42" || acme[8] != "0.5" || !strings.HasPrefix(acme[9], "0.9") {
		t.Errorf("acme's row %q:\n%s", acme, out)
	}
	if len(idle) != 11 || idle[1] != "legacy" || idle[2] != "0" || idle[4] != "-" || idle[7] != "-" || idle[9] != "-" || idle[10] != "unlimited" {
		t.Errorf("idle's row %q:\n%s", idle, out)
	}
}

// rowOf returns the fields of the table row of tenant.
func rowOf(out, tenant string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == tenant {
			return f
		}
	}
	return nil
}

// TestTopRedrawsInPlaceOnATerminalUntilInterrupted: stdout a terminal and no --iterations:
// each frame clears the screen first; an interrupt ends it with exit 0.
func TestTopRedrawsInPlaceOnATerminalUntilInterrupted(t *testing.T) {
	server, scrape := topFixture(t)
	var out, errb strings.Builder
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		isTTY: func() bool { return true }, outTTY: func() bool { return true }, hostname: func() (string, error) { return "laptop", nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if code := a.run(ctx, []string{"--server", server, "--token", testToken, "top", "--interval", "200ms", "--scrape", scrape}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(out.String(), clearScreen); n < 2 || !strings.HasPrefix(out.String(), clearScreen) {
		t.Fatalf("%d redraws, want 2 or more, each starting with %q:\n%q", n, clearScreen, out.String())
	}
}

func TestTopFlagsAndTokenErrorsSayWhatToDo(t *testing.T) {
	server, _ := controlPlane(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"top", "--interval", "1ms"}, 2, "--interval 1ms is below the 100ms minimum"},
		{[]string{"top", "--limit", "-1", "--iterations", "-2"}, 2, "--limit -1: want 0 (all) or more; --iterations -2"},
		{[]string{"top", "--once", "--iterations", "3"}, 2, "--once is --iterations 1"},
		{[]string{"top", "--scrape", "normalizer"}, 2, `"normalizer" is not name=URL`},
		{[]string{"top", "--scrape", "n=ftp://x/metrics"}, 2, "is not an http(s) URL"},
		{[]string{"top", "--topic-pattern", "ingest"}, 2, `--topic-pattern "ingest" lacks {tenant}`},
		{[]string{"--token", "wrong-token-1234567890", "top", "--once"}, 1, "refused the admin token"},
	} {
		r := ctl(t, server, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// TestTopTargetsAndControlPlaneDownAreShownNotFatal: nothing answers, not even the control
// plane: frames still come, saying so.
func TestTopTargetsAndControlPlaneDownAreShownNotFatal(t *testing.T) {
	dead := "http://" + closedAddr(t)
	r := mustOK(t, ctl(t, dead, "", "top", "--iterations", "2", "--interval", "100ms", "--scrape", "normalizer="+closedAddr(t), "-o", "json"))
	for _, f := range jsonFrames(t, r.stdout) {
		if f.ControlPlane.Up || !strings.Contains(f.ControlPlane.Error, "cannot reach the control plane") || f.Targets[0].Up || len(f.Tenants) != 0 || f.Tenants == nil {
			t.Errorf("frame %+v", f)
		}
	}
	r = mustOK(t, ctl(t, dead, "", "top", "--once", "--interval", "100ms", "--scrape", "normalizer="+closedAddr(t)))
	for _, want := range []string{"targets: normalizer DOWN", "control plane: cannot reach the control plane", "No tenants"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("frame lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestTopDefaultTargetsAreTheLocalStacks: the default --scrape targets are where `ingest dev`
// serves each service's /metrics.
func TestTopDefaultTargetsAreTheLocalStacks(t *testing.T) {
	d := devstack.DefaultConfig()
	want := map[string]string{"edge": d.EdgeAdminAddr, "normalizer": d.NormalizerAddr, "sinkwriter": d.SinkWriterAddr, "loader": d.LoaderAddr}
	targets := defaultScrapeTargets()
	if len(targets) != len(want) {
		t.Fatalf("targets %v", targets)
	}
	for _, tg := range targets {
		if tg.URL != "http://"+want[tg.Name]+"/metrics" {
			t.Errorf("%s: %s, want http://%s/metrics", tg.Name, tg.URL, want[tg.Name])
		}
	}
}
