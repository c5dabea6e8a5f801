package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/replay"
)

// replayServer serves the real admin API with f as its replay engine, and tenant acme.
func replayServer(t *testing.T, f *apitest.FakeReplay) (string, *registry.Registry) {
	t.Helper()
	srv, reg := apitest.Start(t, api.Config{Token: testToken, Replay: f})
	mustOK(t, ctl(t, srv.URL, "", "tenants", "create", "acme"))
	return srv.URL, reg
}

// runTo advances a running job by steps of 25 records on every Get, then ends it in end.
func runTo(end replay.State) func(j *replay.Job) {
	return func(j *replay.Job) {
		if j.State != replay.StateRunning {
			return
		}
		p := &j.Progress
		if p.RecordsDone >= p.RecordsTotal {
			j.State = end
			if end == replay.StateFailed {
				j.Error = "cannot insert into ingest.logs_replay_1: connection reset"
			}
			return
		}
		p.RecordsDone = min(p.RecordsTotal, p.RecordsDone+25)
		p.Percent = 100 * float64(p.RecordsDone) / float64(p.RecordsTotal)
		p.RatePerSecond, p.ETASeconds = 98412, float64(p.RecordsTotal-p.RecordsDone)/98412
		for i := range p.Partitions {
			p.Partitions[i].Next = j.Plan.Partitions[i].From + p.RecordsDone
		}
	}
}

func TestReplayPlanPrintsRangesTablesAndTheNextCommand(t *testing.T) {
	f := &apitest.FakeReplay{}
	server, reg := replayServer(t, f)
	r := mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=100", "--to=200", "--partition", "0", "--partition", "1", "--rate", "1000", "--reason", "INC-9"))
	for _, want := range []string{
		"replay 1: tenant acme, topic ingest.acme, ClickHouse database ingest",
		"partition 0: offsets [100, 200) (from inclusive, to exclusive), last offset 199, 100 records, 100 events, event time 2026-03-01T10:20:00Z … 2026-03-01T11:59:00Z",
		"partition 1: offsets [100, 200) (from inclusive, to exclusive)",
		"total: 200 records, 200 events, event time 2026-03-01T10:20:00Z … 2026-03-01T11:59:00Z",
		"WRITES (REPLAY TABLE)", "READS FOR DIFF (LIVE TABLE)",
		"rate 1,000 records/s: estimated duration under 1s",
		"next: ingestctl replay start 1",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !containsLine(r.stdout, "logs", "ingest.logs_replay_1", "ingest.logs", "200") {
		t.Errorf("plan output lacks the logs table row:\n%s", r.stdout)
	}
	j, _ := f.Job("1")
	if j.Plan.Request.Rate != 1000 || *j.Plan.Request.From != 100 || *j.Plan.Request.To != 200 || len(j.Plan.Request.Partitions) != 2 {
		t.Fatalf("request sent: %+v", j.Plan.Request)
	}
	es, _ := reg.Audit(context.Background(), registry.AuditQuery{Tenant: "acme", Tail: true, Limit: 1})
	if es[0].Action != registry.ActionReplayPlan || es[0].Reason != "INC-9" {
		t.Fatalf("audit %+v", es[0])
	}

	// Times instead of offsets; -o json is the job.
	r = mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from-time", "2026-03-01T10:00:00Z", "--to-time", "2026-03-01T11:00:00Z", "-o", "json"))
	var got replay.Job
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ID != "2" || got.Plan.Request.FromTime == nil || got.Plan.Request.From != nil {
		t.Fatalf("plan -o json (%v): %s", err, r.stdout)
	}

	// The command line is checked before anything is sent.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from=1", "--to=2"}, "--tenant is required"},
		{[]string{"--tenant", "acme", "--to=2"}, "--from or --from-time is required"},
		{[]string{"--tenant", "acme", "--from=1", "--from-time", "2026-03-01T10:00:00Z", "--to=2"}, "--from and --from-time: give one"},
		{[]string{"--tenant", "acme", "--from=1", "--to-time", "yesterday"}, `--to-time "yesterday" is not an RFC 3339 time`},
		{[]string{"--tenant", "acme", "--from=1", "--to=2", "--partition", "x"}, `partition "x"`},
	} {
		r := ctl(t, server, "", append([]string{"replay", "plan"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, r.code, r.stderr)
		}
	}
	if n := len(f.Calls()); n != 2 {
		t.Fatalf("%d engine calls, want the 2 plans", n)
	}
}

func TestReplayErrorsPrintTheServersMessage(t *testing.T) {
	f := &apitest.FakeReplay{}
	server, _ := replayServer(t, f)
	r := ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=200", "--to=100")
	if r.code != 1 || r.stderr != "ingestctl: the window [200, 100) is empty: to must be above from\n" {
		t.Fatalf("bad range: %+v", r)
	}
	r = ctl(t, server, "", "replay", "plan", "--tenant", "globex", "--from=1", "--to=2")
	if r.code != 1 || !strings.Contains(r.stderr, `tenant "globex" is not in the registry`) {
		t.Fatalf("unknown tenant: %+v", r)
	}
	if r := ctl(t, server, "", "replay", "start", "9"); r.code != 1 || r.stderr != "ingestctl: no replay 9: list them with GET /v1/replays\n" {
		t.Fatalf("unknown id: %+v", r)
	}
	f.Err = &replay.Error{Code: replay.CodeKafka, Msg: "cannot read the offsets of ingest.acme from 10.0.0.1:9092"}
	if r := ctl(t, server, "", "replay", "list"); r.code != 1 || !strings.Contains(r.stderr, "ingestctl: cannot read the offsets of ingest.acme from 10.0.0.1:9092") {
		t.Fatalf("kafka error: %+v", r)
	}
	plain, _ := controlPlane(t)
	if r := ctl(t, plain, "", "replay", "list"); r.code != 1 || !strings.Contains(r.stderr, "replay is not configured on this control plane: set replay.brokers") {
		t.Fatalf("not configured: %+v", r)
	}
	if r := ctl(t, server, "", "replay", "explode"); r.code != 2 || !strings.Contains(r.stderr, "want plan, start, cancel, list, status, diff, promote, discard") {
		t.Fatalf("unknown subcommand: %+v", r)
	}
}

func TestReplayOneShotAsksThenStartsAndFollows(t *testing.T) {
	f := &apitest.FakeReplay{OnGet: runTo(replay.StateLoaded)}
	server, _ := replayServer(t, f)
	oneShot := []string{"replay", "--tenant", "acme", "--from=0", "--to=100", "--shadow", "--interval", "1ms"}

	// Not a terminal, no --yes: planned and shown, not started, and it says how to go on.
	r := ctl(t, server, "", oneShot...)
	if r.code != 1 || !strings.Contains(r.stdout, "offsets [0, 100) (from inclusive, to exclusive)") || !strings.Contains(r.stderr, "Start replay 1?") ||
		!strings.Contains(r.stderr, "pass --yes") || !strings.Contains(r.stderr, "ingestctl replay start 1") {
		t.Fatalf("one-shot without --yes: %+v", r)
	}
	if j, _ := f.Job("1"); j.State != replay.StatePlanned {
		t.Fatalf("state %s after a refused confirmation", j.State)
	}
	if r := ctl(t, server, "", "replay", "--tenant", "acme", "--from=0", "--to=100", "--shadow=false", "--yes"); r.code != 2 ||
		!strings.Contains(r.stderr, "replay writes only its own tables; `ingestctl replay promote` makes a window live") {
		t.Fatalf("--shadow=false: %+v", r)
	}

	// On a terminal answering y: started, followed line by line (stdout is no terminal) to loaded.
	var out, errb strings.Builder
	a := &app{stdin: strings.NewReader("y\n"), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		isTTY: func() bool { return true }, hostname: func() (string, error) { return "laptop", nil }}
	code := a.run(context.Background(), append([]string{"--server", server, "--token", testToken}, oneShot...))
	if code != 0 || !strings.Contains(errb.String(), "Start replay 2? [y/N]") {
		t.Fatalf("one-shot answered y: %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"[#######.......................] 25.0%  25/100 records  98,412 rec/s  ETA under 1s", "] 100.0%  100/100 records",
		"replay 2: tenant acme, topic ingest.acme: loaded", "next: ingestctl replay diff 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("one-shot output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("redrawn on a non-terminal:\n%q", out.String())
	}
	calls := strings.Join(f.Calls(), ",")
	if !strings.Contains(calls, "Plan acme,Start 2,Get 2") {
		t.Fatalf("calls %s", calls)
	}
}

func TestReplayStatusWatchEndsNonZeroWhenTheReplayFails(t *testing.T) {
	f := &apitest.FakeReplay{OnGet: runTo(replay.StateFailed)}
	server, _ := replayServer(t, f)
	mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=0", "--to=50"))
	r := mustOK(t, ctl(t, server, "", "replay", "start", "1"))
	if !strings.Contains(r.stdout, "replay 1: tenant acme, topic ingest.acme: running") || !strings.Contains(r.stdout, "ingestctl replay status 1 -w") {
		t.Fatalf("start: %s", r.stdout)
	}
	r = ctl(t, server, "", "replay", "status", "1", "-w", "--interval", "1ms")
	if r.code != 1 || !strings.Contains(r.stdout, "50.0%  25/50 records") || !strings.Contains(r.stdout, ": failed") ||
		!strings.Contains(r.stderr, "replay 1 failed: cannot insert into ingest.logs_replay_1: connection reset; retry with `ingestctl replay start 1`") {
		t.Fatalf("status -w of a failing replay: %+v", r)
	}
	// On a terminal the bar is redrawn in place.
	mustOK(t, ctl(t, server, "", "replay", "start", "1"))
	f.Update("1", func(j *replay.Job) { j.Progress.RecordsDone, j.Error = 0, "" })
	var out, errb strings.Builder
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		isTTY: func() bool { return false }, outTTY: func() bool { return true }, hostname: func() (string, error) { return "laptop", nil }}
	if code := a.run(context.Background(), []string{"--server", server, "--token", testToken, "replay", "status", "1", "-w", "--interval", "1ms"}); code != 1 ||
		!strings.Contains(out.String(), "\r\033[K[") {
		t.Fatalf("status -w on a terminal: %d %q", code, out.String())
	}
	// Plain status: partitions' next offsets; cancelled ends -w non-zero too.
	f.Update("1", func(j *replay.Job) { j.State = replay.StateCancelled })
	r = ctl(t, server, "", "replay", "status", "1")
	if r.code != 0 || !containsLine(r.stdout, "0", "50", "50", "no") || !strings.Contains(r.stdout, "next: ingestctl replay start 1") {
		t.Fatalf("status: %+v", r)
	}
	if r := ctl(t, server, "", "replay", "status", "1", "-w"); r.code != 1 || !strings.Contains(r.stderr, "replay 1 was cancelled at 50 of 50 records") {
		t.Fatalf("status -w of a cancelled replay: %+v", r)
	}
}

func TestReplayDiffShowsNonMatchingWindowsAndTotals(t *testing.T) {
	t0 := apitest.T0
	f := &apitest.FakeReplay{Diffs: map[string]replay.Diff{"1": {ID: "1", Tenant: "acme", Topic: "ingest.acme", Granularity: "hour",
		Windows: []replay.DiffWindow{
			{Table: "logs", Start: t0.Add(-2 * time.Hour), LiveRows: 10, ReplayRows: 10, LiveHash: "aa", ReplayHash: "aa", Status: replay.WindowMatching},
			{Table: "logs", Start: t0.Add(-time.Hour), LiveRows: 7, ReplayRows: 1200, LiveHash: "bb", ReplayHash: "cc", Status: replay.WindowMissingInLive},
		},
		Totals: replay.DiffTotals{Windows: 2, Matching: 1, MissingInLive: 1, LiveRows: 17, ReplayRows: 1210}}}}
	server, _ := replayServer(t, f)
	mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=0", "--to=50"))
	r := mustOK(t, ctl(t, server, "", "replay", "diff", "1", "--by", "hour"))
	if !containsLine(r.stdout, "logs", "2026-03-01T11:00:00Z", "7", "1,200", "bb", "cc", "missing", "in", "live") ||
		strings.Contains(r.stdout, "2026-03-01T10:00:00Z") || !strings.Contains(r.stdout, "(1 matching windows not shown; --all shows them)") ||
		!strings.Contains(r.stdout, "totals: 2 windows: 1 matching, 1 missing in live, 0 extra in live, 0 differing; rows: live 17, replay 1,210") {
		t.Fatalf("diff:\n%s", r.stdout)
	}
	r = mustOK(t, ctl(t, server, "", "replay", "diff", "1", "--by", "hour", "--all"))
	if !containsLine(r.stdout, "logs", "2026-03-01T10:00:00Z", "10", "10", "aa", "aa", "matching") {
		t.Fatalf("diff --all:\n%s", r.stdout)
	}
	if !strings.Contains(strings.Join(f.Calls(), ","), "Diff 1 hour") {
		t.Fatalf("calls %v", f.Calls())
	}
	if r := ctl(t, server, "", "replay", "diff", "1", "--by", "day"); r.code != 2 {
		t.Fatalf("--by day: %+v", r)
	}
}

func TestReplayPromoteSendsTheFingerprintItShowed(t *testing.T) {
	plan := replay.PromotePlan{ID: "1", Tenant: "acme", Fingerprint: "sha256:5e1f", Insert: 1193, Delete: 2, Mechanism: "rows inserted, then the stale ones deleted",
		Changes: []replay.PromoteChange{{Table: "logs", Partition: "202603", Start: apitest.T0.Add(-time.Hour), Insert: 1193, Delete: 2}}}
	f := &apitest.FakeReplay{PromotePlans: map[string]replay.PromotePlan{"1": plan, "2": {ID: "2", Tenant: "acme", Fingerprint: "none"}}}
	server, reg := replayServer(t, f)
	mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=0", "--to=50"))
	mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=0", "--to=50"))

	// Without --yes on a non-terminal: the plan is shown, nothing promoted.
	r := ctl(t, server, "", "replay", "promote", "1")
	if r.code != 1 || !containsLine(r.stderr, "logs", "202603", "2026-03-01T11:00:00Z", "1,193", "2") || !containsLine(r.stderr, "total", "1,193", "2") ||
		!strings.Contains(r.stderr, "how: rows inserted, then the stale ones deleted") || !strings.Contains(r.stderr, "sha256:5e1f") || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("promote without --yes: %+v", r)
	}
	r = mustOK(t, ctl(t, server, "", "replay", "promote", "1", "--yes", "--reason", "diff reviewed"))
	if !strings.Contains(r.stdout, "replay 1 promoted: 1,193 rows inserted, 2 deleted in live, 1 roll-up windows marked for recompute") {
		t.Fatalf("promote: %+v", r)
	}
	if calls := strings.Join(f.Calls(), ","); !strings.Contains(calls, "PromotePlan 1,Promote 1 sha256:5e1f") {
		t.Fatalf("calls %s", calls)
	}
	es, _ := reg.Audit(context.Background(), registry.AuditQuery{Tenant: "acme", Tail: true, Limit: 1})
	if es[0].Action != registry.ActionReplayPromote || es[0].Reason != "diff reviewed" {
		t.Fatalf("audit %+v", es[0])
	}

	// A plan without change: said, nothing sent.
	r = mustOK(t, ctl(t, server, "", "replay", "promote", "2", "--yes"))
	if !strings.Contains(r.stdout, "nothing to promote") || strings.Contains(strings.Join(f.Calls(), ","), "Promote 2") {
		t.Fatalf("promote without change: %+v %v", r, f.Calls())
	}

	// Live changed since: the new plan is shown and its fingerprint sent.
	f.Update("1", func(*replay.Job) { // under the fake's lock
		f.PromotePlans["1"] = replay.PromotePlan{ID: "1", Tenant: "acme", Fingerprint: "sha256:new", Insert: 1}
	})
	var out, errb strings.Builder
	a := &app{stdin: strings.NewReader("y\n"), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		isTTY: func() bool { return true }, hostname: func() (string, error) { return "laptop", nil }}
	if code := a.run(context.Background(), []string{"--server", server, "--token", testToken, "replay", "promote", "1"}); code != 0 ||
		!strings.Contains(strings.Join(f.Calls(), ","), "Promote 1 sha256:new") {
		t.Fatalf("promote of the new plan: %d %s %v", code, errb.String(), f.Calls())
	}
}

func TestReplayDiscardAsksAndListShowsJobs(t *testing.T) {
	f := &apitest.FakeReplay{}
	server, _ := replayServer(t, f)
	mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=0", "--to=50"))
	mustOK(t, ctl(t, server, "", "replay", "plan", "--tenant", "acme", "--from=0", "--to=60"))
	r := ctl(t, server, "", "replay", "discard", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "Discard replay 1 of tenant acme (planned)? Its tables logs_replay_1, metrics_replay_1, spans_replay_1 are dropped") {
		t.Fatalf("discard without --yes: %+v", r)
	}
	if j, _ := f.Job("1"); j.State != replay.StatePlanned {
		t.Fatalf("discarded without confirmation: %s", j.State)
	}
	r = mustOK(t, ctl(t, server, "", "replay", "discard", "1", "--yes"))
	if !strings.Contains(r.stdout, "replay 1 discarded: logs_replay_1, metrics_replay_1, spans_replay_1 dropped") {
		t.Fatalf("discard: %+v", r)
	}
	r = mustOK(t, ctl(t, server, "", "replay", "list"))
	if !containsLine(r.stdout, "2", "acme", "ingest.acme", "planned", "60", "0.0", "%", "2026-03-01T12:00:00Z") ||
		!containsLine(r.stdout, "1", "acme", "ingest.acme", "discarded", "50", "0.0", "%", "2026-03-01T12:00:00Z") || strings.Index(r.stdout, "\n2 ") > strings.Index(r.stdout, "\n1 ") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	if r := mustOK(t, ctl(t, server, "", "replay", "list", "-q")); r.stdout != "2\n1\n" {
		t.Fatalf("list -q = %q", r.stdout)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1953125: "-1,953,125"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}
