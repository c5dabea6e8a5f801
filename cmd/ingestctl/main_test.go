package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/report"
)

const testToken = "ingestctl-test-token-0123456789"

// controlPlane starts the real admin API over a real registry on a temporary file.
func controlPlane(t *testing.T) (string, *registry.Registry) {
	t.Helper()
	srv, reg := apitest.Start(t, api.Config{Token: testToken})
	return srv.URL, reg
}

type result struct {
	code           int
	stdout, stderr string
}

// ctl runs ingestctl against server with stdin (not a terminal).
func ctl(t *testing.T, server, stdin string, args ...string) result {
	t.Helper()
	var out, errb strings.Builder
	full := append([]string{"--server", server, "--token", testToken}, args...)
	code := run(context.Background(), full, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func mustOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func TestEndToEndAgainstARealControlPlane(t *testing.T) {
	server, reg := controlPlane(t)
	ctx := context.Background()

	r := mustOK(t, ctl(t, server, "", "tenants", "create", "acme", "--name", "Acme Corp", "--events-per-second", "100"))
	if !strings.Contains(r.stdout, "Acme Corp") || !strings.Contains(r.stdout, "legacy") {
		t.Fatalf("create output:\n%s", r.stdout)
	}
	mustOK(t, ctl(t, server, "", "tenants", "create", "globex"))

	// The key is shown once, alone on stdout.
	r = mustOK(t, ctl(t, server, "", "keys", "create", "acme"))
	key := strings.TrimSpace(r.stdout)
	prefix, ok := registry.ParseKeyPrefix(key)
	if !ok || !strings.Contains(r.stderr, "not shown again") {
		t.Fatalf("keys create: stdout %q stderr %q", r.stdout, r.stderr)
	}
	tn, _ := reg.Tenant(ctx, "acme")
	if len(tn.Keys) != 1 || !tn.Keys[0].Verify(key) {
		t.Fatal("the printed key is not the stored one")
	}
	r = mustOK(t, ctl(t, server, "", "tenants", "get", "acme"))
	if strings.Contains(r.stdout, key) || !strings.Contains(r.stdout, prefix) || !strings.Contains(r.stdout, "active") {
		t.Fatalf("tenants get shows the key or lacks its prefix:\n%s", r.stdout)
	}

	// -o json is parseable, also with the flag after the command.
	r = mustOK(t, ctl(t, server, "", "tenants", "list", "-o", "json"))
	var list []registry.Tenant
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("tenants list -o json: %v\n%s", err, r.stdout)
	}
	if len(list) != 2 || list[0].ID != "acme" || list[0].Quotas.EventsPerSecond != 100 || len(list[0].Keys) != 1 || list[0].Keys[0].Hash != nil {
		t.Fatalf("list: %+v", list)
	}
	r = mustOK(t, ctl(t, server, "", "-o", "json", "tenants", "get", "globex"))
	var one registry.Tenant
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one.ID != "globex" {
		t.Fatalf("-o json before the command: %v %s", err, r.stdout)
	}
	r = mustOK(t, ctl(t, server, "", "tenants", "list", "-q"))
	if r.stdout != "acme\nglobex\n" {
		t.Fatalf("tenants list -q = %q", r.stdout)
	}

	// Moving to v2 needs confirmation: refused on a non-terminal without --yes.
	r = ctl(t, server, "y\n", "stage", "set", "acme", "v2")
	if r.code != 1 || !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("stage set v2 without --yes: exit %d, stderr %q", r.code, r.stderr)
	}
	if tn, _ := reg.Tenant(ctx, "acme"); tn.Stage.String() != "legacy" {
		t.Fatalf("refused stage set changed the stage to %s", tn.Stage)
	}
	mustOK(t, ctl(t, server, "", "stage", "set", "acme", "canary:10")) // forward, not v2: no question
	r = mustOK(t, ctl(t, server, "", "stage", "set", "acme", "v2", "--yes"))
	if !strings.Contains(r.stdout, "stage v2 (was canary:10)") {
		t.Fatalf("stage set output %q", r.stdout)
	}
	// A rollback needs confirmation too.
	r = ctl(t, server, "", "stage", "set", "acme", "shadow")
	if r.code != 1 || !strings.Contains(r.stderr, "Roll tenant acme back from v2 to shadow") || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("rollback without --yes: exit %d, stderr %q", r.code, r.stderr)
	}
	mustOK(t, ctl(t, server, "", "-y", "stage", "set", "acme", "shadow"))
	r = mustOK(t, ctl(t, server, "", "stage", "get", "acme"))
	if r.stdout != "shadow\n" {
		t.Fatalf("stage get = %q", r.stdout)
	}

	mustOK(t, ctl(t, server, "", "quota", "set", "acme", "--bytes-per-second", "1e6"))
	if tn, _ := reg.Tenant(ctx, "acme"); tn.Quotas.EventsPerSecond != 100 || tn.Quotas.BytesPerSecond != 1e6 {
		t.Fatalf("quota set must keep the quotas not given: %+v", tn.Quotas)
	}

	r = mustOK(t, ctl(t, server, "", "keys", "rotate", "acme", prefix, "--grace", "1h"))
	newKey := strings.TrimSpace(r.stdout)
	if _, ok := registry.ParseKeyPrefix(newKey); !ok || newKey == key || !strings.Contains(r.stderr, "stops working at") {
		t.Fatalf("keys rotate: stdout %q stderr %q", r.stdout, r.stderr)
	}
	newPrefix, _ := registry.ParseKeyPrefix(newKey)
	mustOK(t, ctl(t, server, "", "keys", "revoke", "acme", newPrefix))
	r = mustOK(t, ctl(t, server, "", "keys", "list", "acme"))
	if !strings.Contains(r.stdout, "active until") || !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("keys list:\n%s", r.stdout)
	}

	mustOK(t, ctl(t, server, "", "upstreams", "set", "--v1", "legacy.internal:8080", "--v2", "normalizer-0:4318,10.0.0.9:4318"))
	mustOK(t, ctl(t, server, "", "upstreams", "set", "--v1", "legacy.internal:9090")) // keeps --v2
	r = mustOK(t, ctl(t, server, "", "upstreams", "get", "-o", "json"))
	var u registry.Upstreams
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || len(u.V1) != 1 || u.V1[0].Port != 9090 || len(u.V2) != 2 {
		t.Fatalf("upstreams: %v %s", err, r.stdout)
	}

	r = ctl(t, server, "", "tenants", "delete", "globex")
	if r.code != 1 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("delete without --yes: %d %q", r.code, r.stderr)
	}
	mustOK(t, ctl(t, server, "", "tenants", "delete", "globex", "--yes"))

	// The audit log shows every change, with the actor.
	r = mustOK(t, ctl(t, server, "", "audit", "-o", "json", "--limit", "100"))
	var entries []registry.AuditEntry
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("audit -o json: %v\n%s", err, r.stdout)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, string(e.Action))
		if e.Actor == "" || e.Actor == api.DefaultActor {
			t.Errorf("entry %d: actor %q, want user@host", e.Seq, e.Actor)
		}
	}
	want := "tenant.create tenant.create key.create tenant.stage tenant.stage tenant.stage tenant.quotas key.rotate key.revoke upstreams.set upstreams.set tenant.delete"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("audit actions:\n got %s\nwant %s", got, want)
	}
	r = mustOK(t, ctl(t, server, "", "audit", "--tenant", "acme"))
	if !strings.Contains(r.stdout, "SEQ") || !strings.Contains(r.stdout, "v2 -> shadow (rollback)") || strings.Contains(r.stdout, "globex") {
		t.Fatalf("audit table:\n%s", r.stdout)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	server, reg := controlPlane(t)
	ctx := context.Background()
	mustOK(t, ctl(t, server, "", "tenants", "create", "acme"))
	if _, err := reg.SetQuotas(ctx, "someone-else", "acme", 0, registry.Quotas{EventsPerSecond: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"stale revision", []string{"quota", "set", "acme", "--events-per-second", "5", "--revision", "1"}, 1,
			[]string{"tenant acme changed since you read it (revision 1, now 2)", "re-run `ingestctl tenants get acme` and retry"}},
		{"not found", []string{"tenants", "get", "nope"}, 1, []string{"tenant nope does not exist", "ingestctl tenants list"}},
		{"exists", []string{"tenants", "create", "acme"}, 1, []string{"tenant acme already exists"}},
		{"invalid field", []string{"quota", "set", "acme", "--events-per-second", "-1"}, 1, []string{"events_per_second", "flag --events-per-second"}},
		{"invalid id", []string{"tenants", "create", "Acme"}, 1, []string{"id", "a-z, 0-9"}},
		{"unknown key", []string{"keys", "revoke", "acme", "nokey"}, 1, []string{"tenant acme has no key nokey", "ingestctl keys list acme"}},
		{"bad stage", []string{"stage", "set", "acme", "blue"}, 2, []string{"legacy, shadow, canary:<1..99> or v2"}},
		{"no quota flag", []string{"quota", "set", "acme"}, 2, []string{"say which quota to set"}},
		{"unknown command", []string{"tenantz"}, 2, []string{`unknown command "tenantz"`}},
		{"unknown subcommand", []string{"tenants", "explode"}, 2, []string{"want create, list, get, delete"}},
		{"missing argument", []string{"tenants", "get"}, 2, []string{"want <id>"}},
		{"bad output", []string{"tenants", "list", "-o", "yaml"}, 2, []string{"want table or json"}},
		{"bad endpoint", []string{"upstreams", "set", "--v2", "nohost"}, 2, []string{"not host:port"}},
	} {
		r := ctl(t, server, "", tc.args...)
		if r.code != tc.code {
			t.Errorf("%s: exit %d, want %d; stderr %q", tc.name, r.code, tc.code, r.stderr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, r.stderr)
			}
		}
	}
}

func TestAuthAndConnectionErrorsSayWhatToDo(t *testing.T) {
	server, _ := controlPlane(t)
	var out, errb strings.Builder
	code := run(context.Background(), []string{"--server", server, "--token", "wrong-token-1234567890", "tenants", "list"}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "refused the admin token: set --token or INGEST_TOKEN") {
		t.Fatalf("wrong token: %d %q", code, errb.String())
	}

	t.Setenv("INGEST_TOKEN", "")
	t.Setenv("INGEST_SERVER", server)
	errb.Reset()
	code = run(context.Background(), []string{"tenants", "list"}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "no admin token: pass --token or set INGEST_TOKEN") {
		t.Fatalf("no token: %d %q", code, errb.String())
	}

	// The environment gives server and token.
	t.Setenv("INGEST_TOKEN", testToken)
	out.Reset()
	code = run(context.Background(), []string{"tenants", "list", "-o", "json"}, strings.NewReader(""), &out, &errb)
	if code != 0 || strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("from env: %d %q %q", code, out.String(), errb.String())
	}

	// Nothing listens on a port just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	errb.Reset()
	code = run(context.Background(), []string{"--server", dead, "tenants", "list"}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "cannot reach the control plane at "+dead+": is `ingest controlplane` running? set --server or INGEST_SERVER") {
		t.Fatalf("unreachable: %d %q", code, errb.String())
	}
}

func TestConfirmationOnATerminal(t *testing.T) {
	server, reg := controlPlane(t)
	mustOK(t, ctl(t, server, "", "tenants", "create", "acme"))
	tty := func(stdin string, args ...string) (int, string) {
		var out, errb strings.Builder
		a := &app{
			stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
			getenv:   func(string) string { return "" },
			isTTY:    func() bool { return true },
			hostname: func() (string, error) { return "laptop", nil },
		}
		code := a.run(context.Background(), append([]string{"--server", server, "--token", testToken}, args...))
		return code, errb.String()
	}
	code, stderr := tty("n\n", "stage", "set", "acme", "v2")
	if code != 1 || !strings.Contains(stderr, "Move tenant acme from legacy to v2? All its traffic goes to ingest-v2 [y/N]") || !strings.Contains(stderr, "aborted") {
		t.Fatalf("answer n: %d %q", code, stderr)
	}
	if code, stderr := tty("y\n", "stage", "set", "acme", "v2"); code != 0 {
		t.Fatalf("answer y: %d %q", code, stderr)
	}
	tn, _ := reg.Tenant(context.Background(), "acme")
	if tn.Stage.String() != "v2" {
		t.Fatalf("stage %s after confirming", tn.Stage)
	}
	entries, _ := reg.Audit(context.Background(), registry.AuditQuery{Tail: true, Limit: 1})
	if entries[0].Actor != "unknown@laptop" {
		t.Fatalf("actor %q", entries[0].Actor)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		var out, errb strings.Builder
		if code := run(context.Background(), []string{"completion", shell}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("completion %s: %d %s", shell, code, errb.String())
		}
		script := out.String()
		for _, want := range []string{"complete -F _ingestctl ingestctl", "tenants", "--events-per-second", "canary:10", "tenants list -q"} {
			if !strings.Contains(script, want) {
				t.Errorf("%s completion lacks %q", shell, want)
			}
		}
		if shell == "bash" {
			if bash, err := exec.LookPath("bash"); err == nil {
				cmd := exec.Command(bash, "-n")
				cmd.Stdin = strings.NewReader(script)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("bash -n: %v\n%s", err, b)
				}
			}
		}
	}
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"completion", "fish"}, strings.NewReader(""), &out, &errb); code != 2 {
		t.Fatalf("completion fish: exit %d", code)
	}
}

func TestHelp(t *testing.T) {
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"help"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("help: %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out.String(), c.path()) {
			t.Errorf("help lacks %q", c.path())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"stage", "set", "-h"}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "--revision") {
		t.Fatalf("stage set -h: %d\n%s", code, out.String())
	}
}

func TestDevNullIsNotATerminal(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("/dev/null taken for a terminal: a CI run would wait for an answer")
	}
	if isTerminal(strings.NewReader("y\n")) {
		t.Fatal("a reader taken for a terminal")
	}
}

// TestTenantsGetShowsHowTheEdgesShareTheQuota: with two edges reporting a tenant with a
// quota, `tenants get` shows the admitted rate over the fleet and each edge's share, in the
// table and as global_quota in JSON.
func TestTenantsGetShowsHowTheEdgesShareTheQuota(t *testing.T) {
	const reportToken = "report-token-0123456789abcdef"
	srv, _ := apitest.Start(t, api.Config{Token: testToken, ReportToken: reportToken})
	mustOK(t, ctl(t, srv.URL, "", "tenants", "create", "acme", "--events-per-second", "1000"))
	now := time.Now()
	for inst, c := range map[string]report.Counts{
		"edge-a": {AdmittedRequests: 70, AdmittedEvents: 700, RefusedRequests: 200},
		"edge-b": {AdmittedRequests: 28, AdmittedEvents: 280},
	} {
		b, _ := json.Marshal(report.Report{Source: report.SourceEdge, Instance: inst, Seq: 1, Start: now.Add(-time.Second).UnixMilli(), End: now.UnixMilli(),
			Tenants: map[string]report.Counts{"acme": c}})
		req, _ := http.NewRequest("POST", srv.URL+report.Path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+reportToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("report of %s: %v %v", inst, err, resp)
		}
		resp.Body.Close()
	}
	r := mustOK(t, ctl(t, srv.URL, "", "tenants", "get", "acme"))
	for _, want := range []string{"Global quota: 980 events/s", "2 live edge(s)", "edge-a", "edge-b", "28.0%"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tenants get lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustOK(t, ctl(t, srv.URL, "", "-o", "json", "tenants", "get", "acme"))
	var out struct {
		ID          string              `json:"id"`
		GlobalQuota api.QuotaSharesView `json:"global_quota"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.ID != "acme" || len(out.GlobalQuota.Edges) != 2 || out.GlobalQuota.AdmittedEventsPerSec != 980 {
		t.Errorf("json: %v %+v\n%s", err, out, r.stdout)
	}
}
