package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/replay"
)

// testPromotePlan is a promote plan of job id: 3 rows to insert and 1 to delete in logs.
func testPromotePlan(id string) replay.PromotePlan {
	return replay.PromotePlan{ID: id, Tenant: "acme", Fingerprint: "fp-" + id, Insert: 3, Delete: 1, Mechanism: "insert, then delete",
		Changes: []replay.PromoteChange{{Table: "logs", Partition: "202603", Start: apitest.T0.Add(-time.Hour), Insert: 3, Delete: 1}}}
}

// newFake returns a FakeReplay with a diff and a promote plan for job 1.
func newFake() *apitest.FakeReplay {
	return &apitest.FakeReplay{
		Diffs: map[string]replay.Diff{"1": {ID: "1", Tenant: "acme", Granularity: "hour",
			Windows: []replay.DiffWindow{{Table: "logs", Start: apitest.T0, LiveRows: 1, ReplayRows: 2, Status: replay.WindowMissingInLive}},
			Totals:  replay.DiffTotals{Windows: 1, MissingInLive: 1, LiveRows: 1, ReplayRows: 2}}},
		PromotePlans: map[string]replay.PromotePlan{"1": testPromotePlan("1")},
	}
}

// newReplayEnv serves the API with svc as its replay service (nil: none) and tenant acme.
func newReplayEnv(t *testing.T, svc replay.Service) *env {
	t.Helper()
	srv, reg := apitest.Start(t, api.Config{Token: token, Replay: svc})
	e := &env{t: t, srv: srv, reg: reg}
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	return e
}

// replayRoutes are one request of every replay route.
var replayRoutes = []struct{ method, path, body string }{
	{"GET", "/v1/replays", ""},
	{"POST", "/v1/replays", `{"tenant":"acme","from":100,"to":200}`},
	{"GET", "/v1/replays/1", ""},
	{"POST", "/v1/replays/1/start", ""},
	{"POST", "/v1/replays/1/cancel", ""},
	{"GET", "/v1/replays/1/diff", ""},
	{"GET", "/v1/replays/1/promote", ""},
	{"POST", "/v1/replays/1/promote", `{"fingerprint":"fp-1"}`},
	{"POST", "/v1/replays/1/discard", ""},
}

func TestReplayRoutesWithoutAServiceAnswer501SayingWhatToSet(t *testing.T) {
	e := newReplayEnv(t, nil)
	for _, rt := range replayRoutes {
		r := e.do(rt.method, rt.path, rt.body)
		eb := r.errBody(t)
		if r.status != 501 || eb.Code != api.CodeNotConfigured || !strings.Contains(eb.Message, "replay.brokers") || !strings.Contains(eb.Message, "clickhouse.addr") {
			t.Errorf("%s %s: %d %s", rt.method, rt.path, r.status, r.body)
		}
	}
	if r := e.doToken("", "GET", "/v1/replays", ""); r.status != 401 {
		t.Fatalf("without a token: %d", r.status)
	}
}

func TestReplayRoutesCallTheServiceAndAnswerItsResult(t *testing.T) {
	f := newFake()
	e := newReplayEnv(t, f)
	for _, tc := range []struct {
		method, path, body string
		status             int
		call               string
		check              func(t *testing.T, body []byte)
	}{
		{"POST", "/v1/replays", `{"tenant":"acme","from":100,"to":200,"to_time":"2026-03-01T12:00:00Z","partitions":[0,1],"rate":10,"reason":"INC-9"}`, 201, "Plan acme",
			func(t *testing.T, b []byte) {
				var j replay.Job
				if json.Unmarshal(b, &j) != nil || j.ID != "1" || j.State != replay.StatePlanned || len(j.Plan.Partitions) != 2 ||
					j.Plan.Request.ToTime == nil || !j.Plan.Request.ToTime.Equal(apitest.T0) || j.Plan.Rate != 10 {
					t.Errorf("plan: %s", b)
				}
			}},
		{"GET", "/v1/replays/1", "", 200, "Get 1", func(t *testing.T, b []byte) {
			var j replay.Job
			if json.Unmarshal(b, &j) != nil || j.Progress.RecordsTotal != 200 || j.State != replay.StatePlanned {
				t.Errorf("get: %s", b)
			}
		}},
		{"POST", "/v1/replays/1/start", `{"reason":"go"}`, 200, "Start 1", nil},
		{"POST", "/v1/replays/1/cancel", "", 200, "Cancel 1", nil},
		{"GET", "/v1/replays/1/diff?by=hour", "", 200, "Diff 1 hour", func(t *testing.T, b []byte) {
			var d replay.Diff
			if json.Unmarshal(b, &d) != nil || d.Totals.MissingInLive != 1 || d.Windows[0].Status != replay.WindowMissingInLive {
				t.Errorf("diff: %s", b)
			}
		}},
		{"GET", "/v1/replays/1/diff", "", 200, "Diff 1 ", nil},
		{"GET", "/v1/replays/1/promote", "", 200, "PromotePlan 1", func(t *testing.T, b []byte) {
			var p replay.PromotePlan
			if json.Unmarshal(b, &p) != nil || p.Fingerprint != "fp-1" || len(p.Changes) != 1 {
				t.Errorf("promote plan: %s", b)
			}
		}},
		{"POST", "/v1/replays/1/promote", `{"fingerprint":"fp-1","reason":"verified diff"}`, 200, "Promote 1 fp-1", func(t *testing.T, b []byte) {
			var res replay.PromoteResult
			if json.Unmarshal(b, &res) != nil || res.Inserted != 3 || res.Deleted != 1 || res.RollupWindows != 1 {
				t.Errorf("promote: %s", b)
			}
		}},
		{"POST", "/v1/replays/1/discard", "", 200, "Discard 1", nil},
	} {
		before := len(f.Calls())
		r := e.do(tc.method, tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
			continue
		}
		calls := f.Calls()
		if len(calls) != before+1 || calls[before] != tc.call {
			t.Errorf("%s %s: calls %q, want %q last", tc.method, tc.path, calls[before:], tc.call)
		}
		if tc.check != nil {
			tc.check(t, r.body)
		}
	}
}

func TestReplayListIsNewestFirstAndNeverNull(t *testing.T) {
	f := newFake()
	e := newReplayEnv(t, f)
	var l api.ReplayList
	if r := e.mustStatus(e.do("GET", "/v1/replays", ""), 200); json.Unmarshal(r.body, &l) != nil || l.Replays == nil || len(l.Replays) != 0 ||
		!strings.Contains(string(r.body), `"replays": []`) {
		t.Fatalf("empty list: %s", r.body)
	}
	// Ten jobs created at the same time: newest is the largest id (10 before 9); job 3 made
	// later comes first.
	for range 10 {
		e.mustStatus(e.do("POST", "/v1/replays", `{"tenant":"acme","from":1,"to":2}`), 201)
	}
	f.Update("3", func(j *replay.Job) { j.CreatedAt = j.CreatedAt.Add(time.Second) })
	r := e.mustStatus(e.do("GET", "/v1/replays", ""), 200)
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range l.Replays {
		ids = append(ids, j.ID)
	}
	if got := strings.Join(ids, " "); got != "3 10 9 8 7 6 5 4 2 1" {
		t.Fatalf("order %s, want 3 10 9 8 7 6 5 4 2 1", got)
	}
}

func TestReplayEngineErrorsMapToStatusesWithTheirMessage(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
	}{
		{replay.CodeNotFound, 404}, {replay.CodeUnknownTenant, 404},
		{replay.CodeBadRange, 422}, {replay.CodeBadPartition, 422}, {replay.CodeInvalid, 400},
		{replay.CodeState, 409}, {replay.CodeChanged, 409}, {replay.CodeNotReady, 409},
		{replay.CodeKafka, 502}, {replay.CodeClickHouse, 502},
		{replay.CodeNotConfigured, 501}, {replay.CodeUnavailable, 503}, {replay.CodeTimeout, 504},
	} {
		msg := "from offset 5 is before the log start 100 of partition 0: the valid range is [100, 250) (" + tc.code + ")"
		f := &apitest.FakeReplay{Err: fmt.Errorf("wrapped: %w", &replay.Error{Code: tc.code, Msg: msg})}
		e := newReplayEnv(t, f)
		for _, rt := range replayRoutes {
			r := e.do(rt.method, rt.path, rt.body)
			eb := r.errBody(t)
			if r.status != tc.status || eb.Code != tc.code || eb.Message != msg {
				t.Errorf("%s on %s %s: %d %s", tc.code, rt.method, rt.path, r.status, r.body)
			}
		}
		// Nothing failed is audited.
		if a := e.lastAudit("acme"); a.Action != registry.ActionTenantCreate {
			t.Errorf("%s: a failed replay operation was audited: %+v", tc.code, a)
		}
	}
	// The cause is part of the message; other errors keep the API's own mapping.
	f := &apitest.FakeReplay{Err: &replay.Error{Code: replay.CodeKafka, Msg: "cannot list the offsets of ingest.acme", Err: errors.New("dial tcp 10.0.0.1:9092: connection refused")}}
	e := newReplayEnv(t, f)
	if r := e.do("GET", "/v1/replays/1", ""); r.status != 502 || r.errBody(t).Message != "cannot list the offsets of ingest.acme: dial tcp 10.0.0.1:9092: connection refused" {
		t.Fatalf("with a cause: %d %s", r.status, r.body)
	}
	f.Err = fmt.Errorf("replay %q: %w", "8", replay.ErrNotFound)
	if r := e.do("GET", "/v1/replays/8", ""); r.status != 404 || r.errBody(t).Code != api.CodeNotFound {
		t.Fatalf("ErrNotFound: %d %s", r.status, r.body)
	}
	f.Err = errors.New("boom")
	if r := e.do("GET", "/v1/replays/8", ""); r.status != 500 || r.errBody(t).Code != api.CodeInternal {
		t.Fatalf("other error: %d %s", r.status, r.body)
	}
	f.Err = &replay.Error{Code: "brand_new", Msg: "something new"}
	if r := e.do("GET", "/v1/replays/8", ""); r.status != 500 || r.errBody(t).Message != "something new" {
		t.Fatalf("unknown code: %d %s", r.status, r.body)
	}
}

func TestReplayPlanRefusesUnknownTenantsAndBadRequestsBeforeCallingTheEngine(t *testing.T) {
	f := newFake()
	e := newReplayEnv(t, f)
	for _, tc := range []struct {
		method, path, body string
		status             int
		field, want        string
	}{
		{"POST", "/v1/replays", `{"tenant":"globex","from":1,"to":2}`, 404, "", `tenant "globex" is not in the registry`},
		{"POST", "/v1/replays", `{"from":1,"to":2}`, 400, "tenant", "required"},
		{"POST", "/v1/replays", ``, 400, "body", "a JSON object is required"},
		{"POST", "/v1/replays", `{"tenant":"acme","form":1}`, 400, "form", "unknown field"},
		{"POST", "/v1/replays", `{"tenant":"acme","from":"one"}`, 400, "from", "must be a JSON number"},
		{"POST", "/v1/replays", `{"tenant":"acme","reason":"` + strings.Repeat("x", 5000) + `"}`, 400, "reason", ""},
		{"GET", "/v1/replays/1/diff?by=day", "", 400, "by", `"day" must be minute or hour`},
		{"POST", "/v1/replays/1/promote", `{}`, 400, "fingerprint", "GET /v1/replays/1/promote"},
		{"POST", "/v1/replays/1/promote", ``, 400, "body", ""},
		{"DELETE", "/v1/replays/1", "", 405, "", "use GET"},
	} {
		r := e.do(tc.method, tc.path, tc.body)
		eb := r.errBody(t)
		if r.status != tc.status || eb.Field != tc.field || !strings.Contains(eb.Message, tc.want) {
			t.Errorf("%s %s %.60s: %d %s", tc.method, tc.path, tc.body, r.status, r.body)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("the engine was called: %q", calls)
	}
}

func TestReplayChangesAreAudited(t *testing.T) {
	f := newFake()
	e := newReplayEnv(t, f)
	for _, tc := range []struct {
		method, path, body string
		action             registry.Action
		reason             string
		summary            []string
	}{
		{"POST", "/v1/replays", `{"tenant":"acme","from":100,"to":200,"partitions":[0,1],"reason":"INC-9 lost rows"}`, registry.ActionReplayPlan, "INC-9 lost rows",
			[]string{"replay 1 of tenant acme planned", "ingest.acme partitions 0 [100, 200), 1 [100, 200)", "200 records, 200 events",
				"event time 2026-03-01T10:20:00Z … 2026-03-01T11:59:00Z", "writes logs_replay_1, metrics_replay_1, spans_replay_1"}},
		{"POST", "/v1/replays/1/start", `{"reason":"window verified"}`, registry.ActionReplayStart, "window verified",
			[]string{"replay 1 of tenant acme started", "0 [100, 200)", "200 records, 0 done at 50000 rec/s; state running"}},
		{"POST", "/v1/replays/1/cancel", ``, registry.ActionReplayCancel, "",
			[]string{"replay 1 of tenant acme cancelled", "0 done", "state cancelled"}},
		{"POST", "/v1/replays/1/promote", `{"fingerprint":"fp-1","reason":"diff reviewed"}`, registry.ActionReplayPromote, "diff reviewed",
			[]string{"replay 1 of tenant acme promoted into live logs: 3 rows inserted, 1 deleted", "1 roll-up windows"}},
		{"POST", "/v1/replays/1/discard", `{}`, registry.ActionReplayDiscard, "",
			[]string{"replay 1 of tenant acme discarded", "state discarded"}},
	} {
		r := e.do(tc.method, tc.path, tc.body, "X-Actor", "ops@host")
		if r.status >= 300 {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
		a := e.lastAudit("acme")
		if a.Action != tc.action || a.Actor != "ops@host" || a.Reason != tc.reason || a.Tenant != "acme" {
			t.Errorf("%s: audit %+v", tc.path, a)
		}
		for _, w := range tc.summary {
			if !strings.Contains(a.Summary, w) {
				t.Errorf("%s: summary %q lacks %q", tc.path, a.Summary, w)
			}
		}
		if !jsonEqualRaw(t, a.After, r.body) {
			t.Errorf("%s: audit after %s\nis not the answer %s", tc.path, a.After, r.body)
		}
	}
	// Reads are not audited.
	n := len(auditAll(t, e))
	for _, p := range []string{"/v1/replays", "/v1/replays/1", "/v1/replays/1/diff", "/v1/replays/1/promote"} {
		e.mustStatus(e.do("GET", p, ""), http.StatusOK)
	}
	if got := len(auditAll(t, e)); got != n {
		t.Fatalf("reads wrote %d audit entries", got-n)
	}
}

func auditAll(t *testing.T, e *env) []registry.AuditEntry {
	t.Helper()
	es, err := e.reg.Audit(context.Background(), registry.AuditQuery{Limit: registry.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// jsonEqualRaw reports whether two JSON documents hold the same value.
func jsonEqualRaw(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return string(ca) == string(cb)
}
