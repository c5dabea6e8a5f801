package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/fakeclock"
	"github.com/ingestdev/ingest/migration/report"
)

const reportToken = "test-report-token-0123456789"

// newCutoverEnv starts the API with a report token and a fake clock a minute after now (so
// after every stage change the test makes).
func newCutoverEnv(t *testing.T) (*env, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(time.Now().Add(time.Minute))
	metrics := prometheus.NewRegistry()
	srv, reg := apitest.Start(t, api.Config{Token: token, ReportToken: reportToken, Metrics: metrics, Clock: clk.Now})
	return &env{t: t, srv: srv, reg: reg, metrics: metrics}, clk
}

func (e *env) report(tok string, r report.Report) resp {
	e.t.Helper()
	b, _ := json.Marshal(r)
	return e.doToken(tok, "POST", report.Path, string(b))
}

// feed sends d of steady traffic for tenant: every 10 s an edge report of v1/v2 accepted
// events and a loader report of what landed, 10 s later (the default landing lag).
func (e *env) feed(clk *fakeclock.Clock, tenant string, d time.Duration, edge, loader report.Counts) {
	e.t.Helper()
	for range int(d / (10 * time.Second)) {
		clk.Advance(10 * time.Second)
		now := clk.Now()
		seq := uint64(now.UnixMilli())
		for _, r := range []report.Report{
			{Source: report.SourceEdge, Instance: "edge-1", Seq: seq, Start: now.Add(-10 * time.Second).UnixMilli(), End: now.UnixMilli(), Tenants: map[string]report.Counts{tenant: edge}},
			{Source: report.SourceLoader, Instance: "loader-1", Seq: seq, Start: now.Add(-10 * time.Second).UnixMilli(), End: now.UnixMilli(), Tenants: map[string]report.Counts{tenant: loader}},
		} {
			if res := e.report(reportToken, r); res.status != 204 && (r.Source != report.SourceEdge || res.status != 200) {
				e.t.Fatalf("report: %d %s", res.status, res.body)
			}
		}
	}
}

func (e *env) lastAudit(tenant string) registry.AuditEntry {
	e.t.Helper()
	es, err := e.reg.Audit(context.Background(), registry.AuditQuery{Tenant: tenant, Tail: true, Limit: 1})
	if err != nil || len(es) != 1 {
		e.t.Fatalf("audit: %v %v", es, err)
	}
	return es[0]
}

func TestReportsNeedTheReportToken(t *testing.T) {
	e, clk := newCutoverEnv(t)
	r := report.Report{Source: report.SourceEdge, Instance: "e", Seq: 1, Start: clk.Now().UnixMilli() - 1000, End: clk.Now().UnixMilli()}
	for _, tok := range []string{"", token, "wrong-token-0123456789"} {
		if res := e.report(tok, r); res.status != 401 || res.errBody(t).Code != api.CodeUnauthorized {
			t.Errorf("token %q: %d %s", tok, res.status, res.body)
		}
	}
	// An edge's report is answered with its quota shares.
	if res := e.report(reportToken, r); res.status != 200 || !strings.Contains(string(res.body), `"edges": 1`) {
		t.Fatalf("good report: %d %s", res.status, res.body)
	}
	if res := e.report(reportToken, r); res.status != 200 {
		t.Fatalf("duplicate report: %d %s", res.status, res.body)
	}
	lr := r
	lr.Source = report.SourceLoader
	if res := e.report(reportToken, lr); res.status != 204 {
		t.Fatalf("a loader's report: %d %s", res.status, res.body)
	}
	bad := r
	bad.Seq, bad.Tenants = 2, map[string]report.Counts{"Not_A_Tenant": {}}
	if res := e.report(reportToken, bad); res.status != 400 || !strings.Contains(res.errBody(t).Message, "tenant id") {
		t.Fatalf("invalid report: %d %s", res.status, res.body)
	}
	for outcome, want := range map[string]float64{"accepted": 1, "duplicate": 1} {
		if got, _ := metricValue(t, e.metrics, "ingest_controlplane_reports_total", outcome, "edge"); got != want {
			t.Errorf("reports_total{edge,%s} = %v, want %v", outcome, got, want)
		}
	}
	if got, _ := metricValue(t, e.metrics, "ingest_controlplane_reports_total", "unauthorized", "unknown"); got != 3 {
		t.Errorf("unauthorized reports = %v, want 3", got)
	}

	// Without a report token the stream is disabled.
	plain := newEnv(t)
	if res := plain.report(token, r); res.status != 503 {
		t.Fatalf("disabled stream: %d %s", res.status, res.body)
	}
}

// metricValue returns the value of the series of name with label values lv (in label name
// order), and whether it exists.
func metricValue(t *testing.T, metrics *prometheus.Registry, name string, lv ...string) (float64, bool) {
	t.Helper()
	mfs, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := len(m.GetLabel()) == len(lv)
			for i, l := range m.GetLabel() {
				ok = ok && l.GetValue() == lv[i]
			}
			if ok {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue(), true
				}
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func TestCutoverAdvanceIsGatedOnParity(t *testing.T) {
	e, clk := newCutoverEnv(t)
	ctx := context.Background()
	if res := e.do("POST", "/v1/tenants", `{"id":"acme"}`); res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	// legacy -> shadow needs no parity; the revision is required.
	if res := e.do("POST", "/v1/tenants/acme/cutover/advance", ``); res.status != 428 {
		t.Fatalf("advance without a revision: %d %s", res.status, res.body)
	}
	res := e.do("POST", "/v1/tenants/acme/cutover/advance", ``, "If-Match", "*")
	var ch api.CutoverChange
	if res.status != 200 || json.Unmarshal(res.body, &ch) != nil || ch.To.String() != "shadow" || !ch.After.MirrorToV2 || ch.After.V2Tables != "shadow" {
		t.Fatalf("advance to shadow: %d %s", res.status, res.body)
	}
	if a := e.lastAudit("acme"); a.Action != registry.ActionCutoverAdvance || a.Summary != "stage legacy -> shadow" {
		t.Fatalf("audit %+v", a)
	}

	// shadow without parity data: refused, with the reason.
	res = e.do("POST", "/v1/tenants/acme/cutover/advance", `{}`, "If-Match", "*")
	if res.status != 409 || res.errBody(t).Code != api.CodeGateRefused || !strings.Contains(res.errBody(t).Message, "only 0 of 10 minutes observed") {
		t.Fatalf("advance without parity: %d %s", res.status, res.body)
	}

	// 12 minutes of full parity: the gate passes.
	e.feed(clk, "acme", 12*time.Minute, report.Counts{V1AcceptedEvents: 100}, report.Counts{LandedShadowEvents: 100})
	var st api.CutoverStatus
	if res := e.do("GET", "/v1/tenants/acme/cutover?buckets=5", ""); res.status != 200 || json.Unmarshal(res.body, &st) != nil {
		t.Fatalf("status: %d %s", res.status, res.body)
	}
	if !st.Parity.Verdict.Pass || len(st.Parity.Rows) != 5 || st.Next == nil || st.Next.String() != "canary:10" || st.Parity.Rows[0].Expected != 600 {
		t.Fatalf("status %+v", st)
	}
	if v, ok := metricValue(t, e.metrics, "ingest_controlplane_cutover_gate_pass", "shadow", "acme"); !ok || v != 1 {
		t.Fatalf("gate_pass{acme} = %v, %v", v, ok)
	}
	res = e.do("POST", "/v1/tenants/acme/cutover/advance", fmt.Sprintf(`{"revision":%d}`, st.Revision))
	if res.status != 200 || json.Unmarshal(res.body, &ch) != nil || ch.To.String() != "canary:10" || ch.Verdict == nil || !ch.Verdict.Pass || ch.After.V2Percent != 10 {
		t.Fatalf("advance to canary: %d %s", res.status, res.body)
	}
	if a := e.lastAudit("acme"); !strings.Contains(a.Summary, "gate passed") {
		t.Fatalf("audit %+v", a)
	}

	// canary:10 with lost events: refused; force needs a reason, and audits it.
	e.feed(clk, "acme", 12*time.Minute, report.Counts{V1AcceptedEvents: 900, V2AcceptedEvents: 100}, report.Counts{LandedLiveEvents: 90})
	res = e.do("POST", "/v1/tenants/acme/cutover/advance", `{}`, "If-Match", "*")
	if res.status != 409 || !strings.Contains(res.errBody(t).Message, "90.0 % landed") {
		t.Fatalf("advance with lost events: %d %s", res.status, res.body)
	}
	if res := e.do("POST", "/v1/tenants/acme/cutover/advance", `{"force":true}`, "If-Match", "*"); res.status != 400 || res.errBody(t).Field != "reason" {
		t.Fatalf("force without a reason: %d %s", res.status, res.body)
	}
	res = e.do("POST", "/v1/tenants/acme/cutover/advance", `{"force":true,"reason":"loader count known to be wrong, INC-42"}`, "If-Match", "*", "X-Actor", "alice")
	if res.status != 200 || json.Unmarshal(res.body, &ch) != nil || !ch.Forced || ch.To.String() != "v2" {
		t.Fatalf("forced advance: %d %s", res.status, res.body)
	}
	a := e.lastAudit("acme")
	if a.Reason != "loader count known to be wrong, INC-42" || a.Actor != "alice" || !strings.Contains(a.Summary, "forced") || a.Action != registry.ActionCutoverAdvance {
		t.Fatalf("audit of the forced advance %+v", a)
	}
	if _, ok := metricValue(t, e.metrics, "ingest_controlplane_cutover_gate_pass", "v2", "acme"); ok {
		t.Fatal("a tenant at v2 still has cutover series")
	}

	// Rollback to any earlier stage, at once; nothing before legacy.
	res = e.do("POST", "/v1/tenants/acme/cutover/rollback", `{"to":"legacy"}`, "If-Match", "*")
	if res.status != 200 || json.Unmarshal(res.body, &ch) != nil || ch.From.String() != "v2" || ch.To.String() != "legacy" || ch.After.V2Tables != "none" {
		t.Fatalf("rollback: %d %s", res.status, res.body)
	}
	if a := e.lastAudit("acme"); a.Action != registry.ActionCutoverRollback || !strings.Contains(a.Summary, "(rollback)") {
		t.Fatalf("audit of the rollback %+v", a)
	}
	if res := e.do("POST", "/v1/tenants/acme/cutover/rollback", ``, "If-Match", "*"); res.status != 400 {
		t.Fatalf("rollback at legacy: %d %s", res.status, res.body)
	}
	if res := e.do("POST", "/v1/tenants/acme/cutover/advance", `{"to":"v2"}`, "If-Match", "*"); res.status != 409 || res.errBody(t).Code != api.CodeGateRefused {
		t.Fatalf("legacy straight to v2: %d %s", res.status, res.body)
	}
	if res := e.do("POST", "/v1/tenants/acme/cutover/advance", ``, "If-Match", `"1"`); res.status != 409 || res.errBody(t).Code != api.CodeRevisionConflict {
		t.Fatalf("stale revision: %d %s", res.status, res.body)
	}
	if tn, _ := e.reg.Tenant(ctx, "acme"); tn.Stage.String() != "legacy" {
		t.Fatalf("stage %s", tn.Stage)
	}
}

// The report token reads the tenant list (the sink writers poll it to refuse unknown tenants)
// and nothing else: every other route, and every change, still needs the admin token.
func TestReportTokenReadsTheTenantListOnly(t *testing.T) {
	e, _ := newCutoverEnv(t)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	if r := e.doToken(reportToken, "GET", "/v1/tenants", ""); r.status != 200 || !strings.Contains(string(r.body), `"acme"`) {
		t.Errorf("GET /v1/tenants with the report token: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/tenants", `{"id":"evil"}`},
		{"GET", "/v1/tenants/acme", ""},
		{"GET", "/v1/audit", ""},
	} {
		if r := e.doToken(reportToken, c.method, c.path, c.body); r.status != 401 {
			t.Errorf("%s %s with the report token: %d, want 401", c.method, c.path, r.status)
		}
	}
	if r := e.doToken("wrong-token-0123456789", "GET", "/v1/tenants", ""); r.status != 401 {
		t.Errorf("GET /v1/tenants with a wrong token: %d, want 401", r.status)
	}
}

// TestEdgeReportsAreAnsweredWithQuotaSharesAndTheGlobalView: two edges report a tenant with a
// quota, one with nine tenths of the demand; each is answered with its share, the shares sum
// to one, and GET /v1/tenants/{id}/quota-shares shows both edges with the admitted rate.
func TestEdgeReportsAreAnsweredWithQuotaSharesAndTheGlobalView(t *testing.T) {
	e, clk := newCutoverEnv(t)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	if res := e.do("PUT", "/v1/tenants/acme/quotas", `{"events_per_second": 1000}`, "If-Match", "*"); res.status != 200 {
		t.Fatalf("set quotas: %d %s", res.status, res.body)
	}
	shares := map[string]float64{}
	for seq := uint64(1); seq <= 3; seq++ {
		clk.Advance(time.Second)
		now := clk.Now()
		for inst, c := range map[string]report.Counts{
			"edge-a": {AdmittedRequests: 50, AdmittedEvents: 500, AdmittedBytes: 5000, RefusedRequests: 220},
			"edge-b": {AdmittedRequests: 30, AdmittedEvents: 300, AdmittedBytes: 3000},
		} {
			r := report.Report{Source: report.SourceEdge, Instance: inst, Seq: seq, Start: now.Add(-time.Second).UnixMilli(), End: now.UnixMilli(),
				Tenants: map[string]report.Counts{"acme": c}}
			res := e.report(reportToken, r)
			var qr report.QuotaReply
			if res.status != 200 || json.Unmarshal(res.body, &qr) != nil {
				t.Fatalf("report of %s: %d %s", inst, res.status, res.body)
			}
			shares[inst] = qr.Shares["acme"]
		}
	}
	if sum := shares["edge-a"] + shares["edge-b"]; sum < 0.999 || sum > 1.001 || shares["edge-b"] < 0.29 || shares["edge-b"] > 0.31 {
		t.Errorf("shares %v: want edge-b ≈ 0.30 (its 300 events/s) and a sum of 1", shares)
	}
	var v api.QuotaSharesView
	if res := e.do("GET", "/v1/tenants/acme/quota-shares", ""); res.status != 200 || json.Unmarshal(res.body, &v) != nil {
		t.Fatalf("quota-shares: %d %s", res.status, res.body)
	}
	if v.Quotas.EventsPerSecond != 1000 || v.LiveEdges != 2 || len(v.Edges) != 2 || v.AdmittedEventsPerSec != 800 || v.Edges[1].Instance != "edge-b" {
		t.Errorf("view %+v: want quota 1000, 2 live edges, 800 events/s admitted", v)
	}
}
