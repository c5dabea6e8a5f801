package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
)

func TestCutoverClearShadowPrintsThePlanAsksThenDeletes(t *testing.T) {
	const db = "ctl_test"
	conn, ch := apitest.ClickHouse(t, db)
	srv, reg := apitest.Start(t, api.Config{Token: testToken, ClickHouse: ch})
	server, ctx := srv.URL, context.Background()
	mustOK(t, ctl(t, server, "", "tenants", "create", "acme"))
	mustOK(t, ctl(t, server, "", "tenants", "create", "globex"))
	for _, tn := range []string{"acme", "globex"} {
		apitest.InsertRows(t, conn, db, "logs_shadow", tn, 4)
		apitest.InsertRows(t, conn, db, "metrics_shadow", tn, 2)
	}
	rows := func(tn string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".logs_shadow WHERE tenant = ?", tn).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Not a terminal and no --yes: the plan, row by row, then a refusal; nothing deleted.
	r := ctl(t, server, "", "cutover", "clear-shadow", "acme")
	if r.code != 1 || !strings.Contains(r.stderr, "Clear the shadow rows of tenant acme (stage legacy) in ClickHouse database ctl_test:") ||
		!containsLine(r.stderr, "logs_shadow", "4") || !containsLine(r.stderr, "metrics_shadow", "2") || !containsLine(r.stderr, "spans_shadow", "0") ||
		!strings.Contains(r.stderr, "metrics_60m_shadow") || !strings.Contains(r.stderr, "live tables are untouched") || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("clear-shadow without --yes: %+v", r)
	}
	if rows("acme") != 4 {
		t.Fatal("rows deleted without confirmation")
	}

	// On a terminal: the same prompt as the other cutover commands; "n" keeps the rows.
	tty := func(stdin string, args ...string) (int, string, string) {
		var out, errb strings.Builder
		a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
			isTTY: func() bool { return true }, hostname: func() (string, error) { return "laptop", nil }}
		return a.run(ctx, append([]string{"--server", server, "--token", testToken}, args...)), out.String(), errb.String()
	}
	code, _, stderr := tty("n\n", "cutover", "clear-shadow", "acme")
	if code != 1 || !strings.Contains(stderr, "Delete the ") || !strings.Contains(stderr, " shadow rows of tenant acme? [y/N]") || rows("acme") != 4 {
		t.Fatalf("answered n: %d %q", code, stderr)
	}
	code, stdout, stderr := tty("y\n", "cutover", "clear-shadow", "acme", "--reason", "retry shadow")
	if code != 0 || !strings.Contains(stdout, "tenant acme: shadow rows ") || !strings.Contains(stdout, " -> 0 in ") ||
		!containsLine(stdout, "logs_shadow", "4", "0") || rows("acme") != 0 || rows("globex") != 4 {
		t.Fatalf("answered y: %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	es, _ := reg.Audit(ctx, registry.AuditQuery{Tenant: "acme", Tail: true, Limit: 1})
	if es[0].Action != registry.ActionCutoverClearShadow || es[0].Actor != "unknown@laptop" || es[0].Reason != "retry shadow" {
		t.Fatalf("audit %+v", es[0])
	}
	if r := mustOK(t, ctl(t, server, "", "cutover", "clear-shadow", "acme")); !strings.Contains(r.stdout, "nothing to delete") {
		t.Fatalf("nothing left: %+v", r)
	}

	// In shadow: refused before asking, saying why; --force --yes clears.
	mustOK(t, ctl(t, server, "", "stage", "set", "globex", "shadow"))
	if r := ctl(t, server, "", "cutover", "clear-shadow", "globex", "--yes"); r.code != 1 || !strings.Contains(r.stderr, "is in shadow: its mirrored traffic keeps landing") ||
		!strings.Contains(r.stderr, "--force") || rows("globex") != 4 {
		t.Fatalf("in shadow: %+v", r)
	}
	r = mustOK(t, ctl(t, server, "", "cutover", "clear-shadow", "globex", "--force", "--yes"))
	if !strings.Contains(r.stderr, "forced while in shadow") || rows("globex") != 0 {
		t.Fatalf("forced: %+v", r)
	}
}

func TestCutoverClearShadowWithoutClickHouse(t *testing.T) {
	server, _ := controlPlane(t)
	mustOK(t, ctl(t, server, "", "tenants", "create", "acme"))
	r := ctl(t, server, "", "cutover", "clear-shadow", "acme", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "ingestctl: the control plane has no ClickHouse configured (clickhouse.addr)") {
		t.Fatalf("%+v", r)
	}
}

// containsLine reports whether a line of s holds the fields, in order, separated by spaces.
func containsLine(s string, fields ...string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
