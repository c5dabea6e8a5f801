package goedge_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/testkit"
)

// TestKeyQuotaAndStageChangesKeepClientConnections is the reason the edge filter's
// configuration comes over ECDS: a client holding one keep-alive HTTP/2 connection keeps it
// (one dial, no GOAWAY: the Go edge closes connections as Envoy does when the listener
// changes) across a key creation, a key revocation, a stage change and a quota change, and
// each takes effect on that connection within 1 s of the API call. The revoked key gets 401
// on the same connection, and the quota change neither refills nor empties the tenant's
// bucket.
func TestKeyQuotaAndStageChangesKeepClientConnections(t *testing.T) {
	s := startE2E(t)
	ctx := context.Background()
	if _, err := s.cl.CreateTenant(ctx, api.CreateTenantRequest{ID: "acme", Stage: "legacy"}); err != nil {
		t.Fatal(err)
	}
	k1, err := s.cl.CreateKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	type answer struct {
		status           int
		upstream, reason string
	}
	send := func(key string) answer {
		t.Helper()
		req, err := http.NewRequest("POST", s.base+"/v1/events", strings.NewReader(event))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
		}
		if resp.Header.Get("Connection") != "" {
			t.Fatalf("the edge asked to close the connection (Connection: %s)", resp.Header.Get("Connection"))
		}
		a := answer{status: resp.StatusCode, upstream: resp.Header.Get("X-Upstream")}
		if i := strings.Index(string(b), "err-ingest-"); i >= 0 {
			a.reason, _, _ = strings.Cut(string(b[i:]), `"`)
		}
		return a
	}
	// within sends on the one connection until done holds, and fails unless that happens
	// within 1 s of start.
	within := func(what string, start time.Time, key string, done func(answer) bool) answer {
		t.Helper()
		for {
			a := send(key)
			if done(a) {
				took := time.Since(start)
				t.Logf("%s took effect after %v", what, took.Round(time.Millisecond))
				if took > time.Second {
					t.Errorf("%s took %v, want under 1s", what, took)
				}
				return a
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: no effect after 5s; last answer %+v", what, a)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The tenant's first key may reach the edge after its first configuration.
	within("the first key", time.Now(), k1.Key, func(a answer) bool { return a.status == 200 })
	lds := testkit.MetricSum(t, s.reg, "ingest_edge_xds_updates_total", "type", "lds", "outcome", "applied")
	ecds := testkit.MetricSum(t, s.reg, "ingest_edge_xds_updates_total", "type", "ecds", "outcome", "applied")

	// Key creation.
	start := time.Now()
	k2, err := s.cl.CreateKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	within("a key creation", start, k2.Key, func(a answer) bool { return a.status == 200 && a.upstream == "v1" })

	// Key revocation: 401 on the same connection.
	start = time.Now()
	if _, err := s.cl.RevokeKey(ctx, "acme", k1.APIKey.ID); err != nil {
		t.Fatal(err)
	}
	a := within("a key revocation", start, k1.Key, func(a answer) bool { return a.status != 200 })
	if a.status != http.StatusUnauthorized || a.reason != "err-ingest-unknown-api-key" {
		t.Errorf("the revoked key got %+v, want 401 err-ingest-unknown-api-key", a)
	}

	// Stage change (RDS).
	start = time.Now()
	if _, err := s.cl.SetStage(ctx, "acme", 0, "v2"); err != nil {
		t.Fatal(err)
	}
	within("a stage change", start, k2.Key, func(a answer) bool { return a.status == 200 && a.upstream == "v2" })

	// Quota change: 2 events of burst at a trickle. The tenant's bucket holds the old burst
	// (tokens are kept, capped to the new burst): two requests pass, then 429.
	start = time.Now()
	if _, err := s.cl.SetQuotas(ctx, "acme", 0, registry.Quotas{EventsPerSecond: 0.01, BurstEvents: 2}); err != nil {
		t.Fatal(err)
	}
	within("a quota change", start, k2.Key, func(a answer) bool { return a.status == http.StatusTooManyRequests })
	// A second quota change that only raises the burst must not refill the bucket: a new
	// bucket would start full (4 events).
	applied := testkit.MetricSum(t, s.reg, "ingest_edge_xds_updates_total", "type", "ecds", "outcome", "applied")
	if _, err := s.cl.SetQuotas(ctx, "acme", 0, registry.Quotas{EventsPerSecond: 0.01, BurstEvents: 4}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for testkit.MetricSum(t, s.reg, "ingest_edge_xds_updates_total", "type", "ecds", "outcome", "applied") == applied {
		if time.Now().After(deadline) {
			t.Fatal("the second quota change did not reach the edge within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a := send(k2.Key); a.status != http.StatusTooManyRequests {
		t.Errorf("after raising the burst: %+v, want 429 (the bucket is kept, not refilled)", a)
	}

	if n := dials.Load(); n != 1 {
		t.Errorf("the client dialed %d connections, want 1: a change closed its connection", n)
	}
	if n := testkit.MetricSum(t, s.reg, "ingest_edge_listener_drain_responses_total"); n != 0 {
		t.Errorf("ingest_edge_listener_drain_responses_total = %v, want 0", n)
	}
	if n := testkit.MetricSum(t, s.reg, "ingest_edge_xds_updates_total", "type", "lds", "outcome", "applied"); n != lds {
		t.Errorf("the edge applied %v listener updates, want none: keys and quotas come over ECDS", n-lds)
	}
	if n := testkit.MetricSum(t, s.reg, "ingest_edge_xds_updates_total", "type", "ecds", "outcome", "applied"); n < ecds+4 {
		t.Errorf("the edge applied %v filter configurations (ECDS), want at least 4", n-ecds)
	}
}
