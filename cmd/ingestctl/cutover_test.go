package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/fakeclock"
	"github.com/ingestdev/ingest/migration/report"
)

const testReportToken = "ingestctl-test-report-token-0123"

// feedParity sends 12 minutes of reports in which every event ingest-v1 accepted for tenant
// landed in the shadow tables.
func feedParity(t *testing.T, server string, clk *fakeclock.Clock, tenant string) {
	t.Helper()
	for i := range 72 {
		clk.Advance(10 * time.Second)
		end := clk.Now().UnixMilli()
		for _, r := range []report.Report{
			{Source: report.SourceEdge, Instance: "edge", Seq: uint64(i), Start: end - 10000, End: end, Tenants: map[string]report.Counts{tenant: {V1AcceptedEvents: 50}}},
			{Source: report.SourceLoader, Instance: "loader", Seq: uint64(i), Start: end - 10000, End: end, Tenants: map[string]report.Counts{tenant: {LandedShadowEvents: 50}}},
		} {
			b, _ := json.Marshal(r)
			req, _ := http.NewRequest("POST", server+report.Path, strings.NewReader(string(b)))
			req.Header.Set("Authorization", "Bearer "+testReportToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != 204 && (r.Source != report.SourceEdge || res.StatusCode != 200) { // an edge's gets its quota shares
				t.Fatalf("report: %d", res.StatusCode)
			}
		}
	}
}

func TestCutoverAdvanceStatusAndRollback(t *testing.T) {
	clk := fakeclock.New(time.Now().Add(time.Minute))
	srv, reg := apitest.Start(t, api.Config{Token: testToken, ReportToken: testReportToken, Clock: clk.Now})
	server := srv.URL
	ctx := context.Background()
	mustOK(t, ctl(t, server, "", "tenants", "create", "acme"))
	stage := func() string { tn, _ := reg.Tenant(ctx, "acme"); return tn.Stage.String() }

	// Not a terminal and no --yes: the plan is printed, nothing changes.
	r := ctl(t, server, "", "cutover", "advance", "acme")
	if r.code != 1 || !strings.Contains(r.stderr, "Advance tenant acme: stage legacy -> shadow") ||
		!strings.Contains(r.stderr, "mirror: every request copied to ingest-v2") ||
		!strings.Contains(r.stderr, "logs_shadow, metrics_shadow, spans_shadow") || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("advance without --yes: %+v", r)
	}
	if stage() != "legacy" {
		t.Fatalf("stage %s after a refused confirmation", stage())
	}
	r = mustOK(t, ctl(t, server, "", "cutover", "advance", "acme", "--yes"))
	if !strings.Contains(r.stdout, "stage legacy -> shadow") || stage() != "shadow" {
		t.Fatalf("advance --yes: %+v, stage %s", r, stage())
	}

	// Shadow without parity: refused with the reason, non-zero, before asking.
	r = ctl(t, server, "", "cutover", "advance", "acme", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "the parity gate refuses") || !strings.Contains(r.stderr, "only 0 of 10 minutes observed") || stage() != "shadow" {
		t.Fatalf("gated advance: %+v", r)
	}
	if r := ctl(t, server, "", "cutover", "advance", "acme", "--force", "--yes"); r.code != 2 || !strings.Contains(r.stderr, "--reason") {
		t.Fatalf("--force without --reason: %+v", r)
	}

	// With parity, status shows the table and the verdict; advance passes.
	feedParity(t, server, clk, "acme")
	r = mustOK(t, ctl(t, server, "", "cutover", "status", "acme", "--buckets", "3"))
	if !strings.Contains(r.stdout, "MISMATCH") || !strings.Contains(r.stdout, "0.00 %") || !strings.Contains(r.stdout, "gate: PASS") || strings.Count(r.stdout, "\n") < 8 {
		t.Fatalf("status:\n%s", r.stdout)
	}
	r = mustOK(t, ctl(t, server, "", "cutover", "status", "acme", "-o", "json"))
	var st api.CutoverStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Parity.Verdict.Pass || st.Next.String() != "canary:10" {
		t.Fatalf("status -o json (%v):\n%s", err, r.stdout)
	}
	r = mustOK(t, ctl(t, server, "", "cutover", "advance", "acme", "--yes"))
	if !strings.Contains(r.stderr, "ingest-v1 answers 90 %, ingest-v2 10 %") || !strings.Contains(r.stderr, "gate: parity passes") || stage() != "canary:10" {
		t.Fatalf("advance to canary: %+v", r)
	}

	// Forced advance: audited with the reason.
	mustOK(t, ctl(t, server, "", "cutover", "advance", "acme", "--force", "--reason", "INC-7: loader reports down", "--yes"))
	es, _ := reg.Audit(ctx, registry.AuditQuery{Tenant: "acme", Tail: true, Limit: 1})
	if stage() != "v2" || es[0].Reason != "INC-7: loader reports down" || es[0].Action != registry.ActionCutoverAdvance {
		t.Fatalf("forced advance: stage %s, audit %+v", stage(), es[0])
	}

	// Rollback asks on a terminal; "n" keeps the stage, "y" rolls back to the chosen stage.
	tty := func(stdin string, args ...string) (int, string) {
		var out, errb strings.Builder
		a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
			isTTY: func() bool { return true }, hostname: func() (string, error) { return "laptop", nil }}
		return a.run(ctx, append([]string{"--server", server, "--token", testToken}, args...)), errb.String()
	}
	if code, stderr := tty("n\n", "cutover", "rollback", "acme", "--to", "shadow"); code != 1 ||
		!strings.Contains(stderr, "Roll tenant acme back from v2 to shadow? [y/N]") || stage() != "v2" {
		t.Fatalf("rollback answered n: %d %q", code, stderr)
	}
	if code, stderr := tty("y\n", "cutover", "rollback", "acme", "--to", "shadow"); code != 0 || stage() != "shadow" {
		t.Fatalf("rollback answered y: %d %q", code, stderr)
	}
	es, _ = reg.Audit(ctx, registry.AuditQuery{Tenant: "acme", Tail: true, Limit: 1})
	if es[0].Action != registry.ActionCutoverRollback || es[0].Actor != "unknown@laptop" {
		t.Fatalf("rollback audit %+v", es[0])
	}
	if r := ctl(t, server, "", "cutover", "rollback", "acme", "--to", "v2", "--yes"); r.code != 1 || !strings.Contains(r.stderr, "not before") {
		t.Fatalf("rollback forward: %+v", r)
	}
}
