package goedge

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/xds"
)

// TestOnlyMirrorsReachIngestV2WithTheShadowAuthority checks the edge's half of the shadow data
// path with clients that try to forge the marker (an authority ending in "-shadow"): every
// request routed to ingest-v2 for real, at stage v2 and in the v2 share of canary, reaches it
// with the control plane's authority (xds.V2Authority), whatever authority the client sent;
// at stage shadow only the mirror reaches ingest-v2, with the "-shadow" suffix, while ingest-v1
// gets the request as the client sent it.
func TestOnlyMirrorsReachIngestV2WithTheShadowAuthority(t *testing.T) {
	const forged = "evil-shadow"
	send := func(t *testing.T, p *proxyEnv, tenant string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, p.srv.URL+"/v1/events", strings.NewReader(event))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = forged
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+p.keys[tenant])
		req.Header.Set("X-Forwarded-Host", forged)
		resp, err := p.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}

	t.Run("v2", func(t *testing.T) {
		p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "acme", stage: "v2", prefix: "aaaaaaaa"})
		send(t, p, "acme")
		if got := p.v2.last().Host; got != xds.V2Authority {
			t.Errorf("ingest-v2 got authority %q, want %q", got, xds.V2Authority)
		}
	})
	t.Run("canary", func(t *testing.T) {
		p := newProxyEnv(t, Config{}, nil, []Option{WithRandom(lockedRand(7))}, tenantSpec{id: "gamma", stage: "canary:50", prefix: "aaaaaaac"})
		for range 40 {
			send(t, p, "gamma")
		}
		if p.v2.count() == 0 || p.v1.count() == 0 {
			t.Fatalf("v1 got %d, v2 %d of 40: want both", p.v1.count(), p.v2.count())
		}
		for _, r := range p.v2.all() {
			if r.Host != xds.V2Authority {
				t.Fatalf("ingest-v2 got authority %q, want %q", r.Host, xds.V2Authority)
			}
		}
		for _, r := range p.v1.all() {
			if r.Host != forged {
				t.Fatalf("ingest-v1 got authority %q, want the client's %q", r.Host, forged)
			}
		}
	})
	t.Run("shadow", func(t *testing.T) {
		p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "beta", stage: "shadow", prefix: "aaaaaaab"})
		send(t, p, "beta")
		select {
		case m := <-p.v2.got:
			if m.Host != forged+"-shadow" {
				t.Errorf("mirror authority %q, want %q", m.Host, forged+"-shadow")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the mirror never arrived")
		}
		if got := p.v1.last().Host; got != forged {
			t.Errorf("ingest-v1 got authority %q, want the client's %q", got, forged)
		}
	})
}
