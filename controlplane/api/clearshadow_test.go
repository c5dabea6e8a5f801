package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
)

func TestShadowTablesAreTheSevenOfTheSchema(t *testing.T) {
	got, err := api.ShadowTables()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"logs_shadow", "metrics_shadow", "spans_shadow", "metrics_1m_shadow", "metrics_10m_shadow", "metrics_60m_shadow", "metrics_windows_shadow"}
	if !slices.Equal(got, want) {
		t.Fatalf("ShadowTables() = %v, want %v", got, want)
	}
}

// rowsOf counts tenant's rows in database.table.
func rowsOf(t *testing.T, conn driver.Conn, database, table, tenant string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM `"+database+"`.`"+table+"` WHERE tenant = ?", tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestClearShadowDeletesOnlyTheTenantsShadowRows(t *testing.T) {
	const db = "cp_test"
	conn, ch := apitest.ClickHouse(t, db)
	srv, reg := apitest.Start(t, api.Config{Token: token, ClickHouse: ch})
	e := &env{t: t, srv: srv, reg: reg}
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme","stage":"shadow"}`), 201)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"globex","stage":"shadow"}`), 201)
	for _, tn := range []string{"acme", "globex"} {
		for _, table := range []string{"logs_shadow", "metrics_shadow", "logs", "metrics"} {
			apitest.InsertRows(t, conn, db, table, tn, 3)
		}
	}

	// What would be deleted: the tenant's rows per shadow table, roll-up markers included (the
	// roll-ups themselves are written by the roll-up worker, which this test does not run).
	var sr api.ShadowRows
	if err := json.Unmarshal(e.mustStatus(e.do("GET", "/v1/tenants/acme/cutover/shadow", ""), 200).body, &sr); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, tr := range sr.Tables {
		counts[tr.Table] = tr.Rows
	}
	if len(sr.Tables) != 7 || counts["logs_shadow"] != 3 || counts["metrics_shadow"] != 3 || counts["metrics_windows_shadow"] == 0 ||
		counts["spans_shadow"] != 0 || sr.Stage.String() != "shadow" || sr.Database != db || sr.TotalRows < 7 {
		t.Fatalf("shadow rows: %+v", sr)
	}

	// In shadow: refused without force, nothing deleted.
	r := e.do("POST", "/v1/tenants/acme/cutover/clear-shadow", "")
	if r.status != 409 || r.errBody(t).Code != api.CodeInShadow || !strings.Contains(r.errBody(t).Message, "mirrored traffic keeps landing") {
		t.Fatalf("clear-shadow in shadow: %d %s", r.status, r.body)
	}
	if rowsOf(t, conn, db, "logs_shadow", "acme") != 3 {
		t.Fatal("a refused clear-shadow deleted rows")
	}

	// Back in legacy: a stale revision is refused; the right one clears.
	tn, _ := reg.Tenant(context.Background(), "acme")
	tn = e.tenant(e.mustStatus(e.do("PUT", "/v1/tenants/acme/stage", `{"stage":"legacy"}`, "If-Match", `"`+strconv.FormatInt(tn.Revision, 10)+`"`), 200))
	if r := e.do("POST", "/v1/tenants/acme/cutover/clear-shadow", `{"revision":`+strconv.FormatInt(tn.Revision-1, 10)+`}`); r.status != 409 || r.errBody(t).Code != api.CodeRevisionConflict {
		t.Fatalf("stale revision: %d %s", r.status, r.body)
	}
	var res api.ClearShadowResult
	body := e.mustStatus(e.do("POST", "/v1/tenants/acme/cutover/clear-shadow", `{"revision":`+strconv.FormatInt(tn.Revision, 10)+`,"reason":"failed shadow run"}`, "X-Actor", "ops@host"), 200).body
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Done || res.RowsBefore != sr.TotalRows || res.RowsAfter != 0 || res.Mutations != 7 || len(res.After) != 7 || res.Forced {
		t.Fatalf("clear-shadow result: %s", body)
	}
	for _, table := range []string{"logs_shadow", "metrics_shadow", "metrics_windows_shadow"} {
		if n := rowsOf(t, conn, db, table, "acme"); n != 0 {
			t.Errorf("%s holds %d rows of acme after clear-shadow", table, n)
		}
		if n := rowsOf(t, conn, db, table, "globex"); n == 0 {
			t.Errorf("%s lost globex's rows", table)
		}
	}
	for _, table := range []string{"logs", "metrics"} {
		if n := rowsOf(t, conn, db, table, "acme"); n != 3 {
			t.Errorf("live table %s holds %d rows of acme, want 3", table, n)
		}
	}

	// Audited once, with the counts, the actor and the reason; the registry did not change.
	a := e.lastAudit("acme")
	if a.Action != registry.ActionCutoverClearShadow || a.Actor != "ops@host" || a.Reason != "failed shadow run" || a.Seq != res.AuditSeq ||
		!strings.Contains(a.Summary, "logs_shadow 3") || !strings.Contains(a.Summary, ", 0 after") || a.Revision != reg.Revision() ||
		!strings.Contains(string(a.After), `"rows_before"`) {
		t.Fatalf("audit entry %+v", a)
	}
	if reg.Revision() != tn.Revision {
		t.Fatalf("clear-shadow changed the registry revision %d -> %d", tn.Revision, reg.Revision())
	}

	// Forced while in shadow: globex's rows go too, and it says so.
	body = e.mustStatus(e.do("POST", "/v1/tenants/globex/cutover/clear-shadow", `{"force":true}`), 200).body
	if err := json.Unmarshal(body, &res); err != nil || !res.Forced || res.RowsAfter != 0 || rowsOf(t, conn, db, "logs_shadow", "globex") != 0 {
		t.Fatalf("forced clear-shadow (%v): %s", err, body)
	}
	if a := e.lastAudit("globex"); !strings.Contains(a.Summary, "forced while in shadow") {
		t.Fatalf("forced audit entry %+v", a)
	}
	if r := e.do("GET", "/v1/tenants/nobody/cutover/shadow", ""); r.status != 404 {
		t.Fatalf("unknown tenant: %d %s", r.status, r.body)
	}
}

func TestClearShadowWithoutClickHouseSaysHowToConfigureIt(t *testing.T) {
	e := newEnv(t)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	for _, r := range []resp{e.do("GET", "/v1/tenants/acme/cutover/shadow", ""), e.do("POST", "/v1/tenants/acme/cutover/clear-shadow", "")} {
		eb := r.errBody(t)
		if r.status != 501 || eb.Code != api.CodeNotConfigured ||
			!strings.Contains(eb.Message, "the control plane has no ClickHouse configured (clickhouse.addr)") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if a := e.lastAudit("acme"); a.Action != registry.ActionTenantCreate {
		t.Fatalf("a refused clear-shadow was audited: %+v", a)
	}
}
