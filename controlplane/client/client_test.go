package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/replay"
)

const token = "client-test-token-0123456789"

func newClient(t *testing.T) (*client.Client, *registry.Registry) {
	t.Helper()
	srv, reg := apitest.Start(t, api.Config{Token: token})
	c, err := client.New(srv.URL+"/", token, client.WithActor("tester@host"))
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

func TestErrorsMapToKinds(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	tn, err := c.CreateTenant(ctx, api.CreateTenantRequest{ID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetStage(ctx, "acme", tn.Revision, "shadow"); err != nil {
		t.Fatal(err)
	}
	_, err = c.SetStage(ctx, "acme", tn.Revision, "v2")
	var ce *client.Error
	if !errors.Is(err, client.ErrConflict) || !errors.As(err, &ce) || ce.CurrentRevision != 2 {
		t.Fatalf("stale: %v", err)
	}
	if _, err := c.CreateTenant(ctx, api.CreateTenantRequest{ID: "acme"}); !errors.Is(err, client.ErrAlreadyExists) || errors.Is(err, client.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := c.GetTenant(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := c.SetQuotas(ctx, "acme", 0, registry.Quotas{EventsPerSecond: -1}); !errors.Is(err, client.ErrInvalid) || !errors.As(err, &ce) || ce.Field != "events_per_second" {
		t.Fatalf("invalid: %v", err)
	}
	bad, _ := client.New(c.Server(), "wrong-token-0123456789")
	if _, err := bad.ListTenants(ctx); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	dead, _ := client.New("http://127.0.0.1:1", token)
	if _, err := dead.Health(ctx); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
	if _, err := client.New("localhost:9090", token); err == nil {
		t.Fatal("a server without scheme accepted")
	}
}

func TestKeysUpstreamsAndAudit(t *testing.T) {
	c, reg := newClient(t)
	ctx := context.Background()
	if _, err := c.CreateTenant(ctx, api.CreateTenantRequest{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	rot, err := c.RotateKey(ctx, "acme", k.APIKey.ID, time.Hour)
	if err != nil || rot.Replaced == nil || rot.Replaced.RevokedAt == nil {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	if _, err := c.RevokeKey(ctx, "acme", rot.APIKey.ID); err != nil {
		t.Fatal(err)
	}
	u, err := c.SetUpstreams(ctx, 0, []registry.Endpoint{{Host: "legacy", Port: 80}}, nil)
	if err != nil || len(u.V1) != 1 || u.V2 == nil {
		t.Fatalf("upstreams: %+v %v", u, err)
	}
	since := uint64(2)
	l, err := c.Audit(ctx, client.AuditQuery{Since: &since, Limit: 2})
	if err != nil || len(l.Entries) != 2 || l.Entries[0].Seq != 3 || l.NextSince != 4 || l.Entries[0].Actor != "tester@host" {
		t.Fatalf("audit: %+v %v", l, err)
	}
	if err := c.DeleteTenant(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Tenant(ctx, "acme"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatal("tenant not deleted")
	}
}

func TestReplayMethodsCallEveryRoute(t *testing.T) {
	f := &apitest.FakeReplay{PromotePlans: map[string]replay.PromotePlan{"1": {ID: "1", Tenant: "acme", Fingerprint: "fp", Insert: 2,
		Changes: []replay.PromoteChange{{Table: "logs", Insert: 2}}}},
		Diffs: map[string]replay.Diff{"1": {ID: "1", Totals: replay.DiffTotals{Windows: 1, Matching: 1}}}}
	srv, reg := apitest.Start(t, api.Config{Token: token, Replay: f})
	c, err := client.New(srv.URL, token, client.WithActor("tester@host"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	from, to := int64(10), int64(20)
	if _, err := c.PlanReplay(ctx, replay.PlanRequest{Tenant: "acme", From: &from, To: &to}, ""); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("plan of an unregistered tenant: %v", err)
	}
	if _, err := reg.CreateTenant(ctx, "tester", registry.TenantSpec{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	j, err := c.PlanReplay(ctx, replay.PlanRequest{Tenant: "acme", From: &from, To: &to, Partitions: []int32{2}}, "INC-1")
	if err != nil || j.ID != "1" || j.Plan.Records != 10 || j.Plan.Partitions[0].Partition != 2 {
		t.Fatalf("plan: %+v %v", j, err)
	}
	if _, err := c.PlanReplay(ctx, replay.PlanRequest{Tenant: "acme", From: &to, To: &from}, ""); !errors.Is(err, client.ErrBadRange) {
		t.Fatalf("reversed window: %v", err)
	}
	if l, err := c.Replays(ctx); err != nil || len(l) != 1 || l[0].ID != "1" {
		t.Fatalf("list: %+v %v", l, err)
	}
	if j, err := c.StartReplay(ctx, "1", ""); err != nil || j.State != replay.StateRunning {
		t.Fatalf("start: %+v %v", j, err)
	}
	if _, err := c.StartReplay(ctx, "1", ""); !errors.Is(err, client.ErrBadState) {
		t.Fatalf("start twice: %v", err)
	}
	if j, err := c.CancelReplay(ctx, "1", ""); err != nil || j.State != replay.StateCancelled {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	if j, err := c.Replay(ctx, "1"); err != nil || j.State != replay.StateCancelled {
		t.Fatalf("get: %+v %v", j, err)
	}
	if _, err := c.Replay(ctx, "9"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get of an unknown id: %v", err)
	}
	if d, err := c.ReplayDiff(ctx, "1", replay.ByHour); err != nil || d.Totals.Matching != 1 {
		t.Fatalf("diff: %+v %v", d, err)
	}
	p, err := c.ReplayPromotePlan(ctx, "1")
	if err != nil || p.Fingerprint != "fp" {
		t.Fatalf("promote plan: %+v %v", p, err)
	}
	if _, err := c.PromoteReplay(ctx, "1", "stale", ""); !errors.Is(err, client.ErrChanged) {
		t.Fatalf("promote with a stale fingerprint: %v", err)
	}
	if res, err := c.PromoteReplay(ctx, "1", p.Fingerprint, "reviewed"); err != nil || res.Inserted != 2 {
		t.Fatalf("promote: %+v %v", res, err)
	}
	if j, err := c.DiscardReplay(ctx, "1", ""); err != nil || j.State != replay.StateDiscarded {
		t.Fatalf("discard: %+v %v", j, err)
	}
	want := []string{"Plan acme", "Plan acme", "List", "Start 1", "Start 1", "Cancel 1", "Get 1", "Get 9", "Diff 1 hour", "PromotePlan 1", "Promote 1 stale", "Promote 1 fp", "Discard 1"}
	if got := f.Calls(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("calls %q\nwant %q", got, want)
	}
	es, _ := reg.Audit(ctx, registry.AuditQuery{Tenant: "acme", Tail: true, Limit: 1})
	if es[0].Action != registry.ActionReplayDiscard || es[0].Actor != "tester@host" {
		t.Fatalf("audit %+v", es[0])
	}
	plain, _ := apitest.Start(t, api.Config{Token: token})
	c2, _ := client.New(plain.URL, token)
	if _, err := c2.Replays(ctx); !errors.Is(err, client.ErrNotConfigured) {
		t.Fatalf("without replay: %v", err)
	}
}
