package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
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
