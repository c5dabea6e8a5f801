package goedge

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
)

// TestAListenerChangeDrainsConnectionsAndAFilterConfigChangeDoesNot pins the Go edge's
// imitation of Envoy's drain: a changed listener closes the connections accepted before it
// (HTTP/1.1: Connection: close; HTTP/2: GOAWAY) after their next response, while a new filter
// configuration (ECDS) leaves them open. Without it, a test through the Go edge could not
// tell configuration that drains clients from configuration that does not.
func TestAListenerChangeDrainsConnectionsAndAFilterConfigChangeDoesNot(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2]
		t.Run(name, func(t *testing.T) {
			v1 := newUpstream(t, "v1")
			st, keys := testState(t, []registry.Endpoint{v1.endpoint(t)}, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
			e, _ := newTestEdge(t, Config{})
			feed(t, e, buildResources(t, st, nil))
			srv := httptest.NewUnstartedServer(e.Handler())
			srv.Config.ConnContext = e.connContext
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			tr := srv.Client().Transport.(*http.Transport).Clone()
			var dials atomic.Int64
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			c := &http.Client{Transport: tr}
			post := func() *http.Response {
				t.Helper()
				req, err := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(event))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.Header.Set("Authorization", "Bearer "+keys["acme"])
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if body := readAll(t, resp); resp.StatusCode != 200 || resp.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
					t.Fatalf("%s %d %q", resp.Proto, resp.StatusCode, body)
				}
				return resp
			}
			post()

			// A quota change: ECDS only. The connection stays.
			st.Tenants[0].Quotas.EventsPerSecond = 1e6
			feed(t, e, buildResources(t, st, nil))
			post()
			post()
			if n := dials.Load(); n != 1 {
				t.Fatalf("%d dials after a filter configuration change, want 1", n)
			}

			// A listener change: the next response closes the connection; the one after that
			// comes over a new one.
			feed(t, e, buildResources(t, st, func(c *xds.Config) { c.ListenerPort = 9443 }))
			if resp := post(); !h2 && !resp.Close {
				t.Error("the HTTP/1.1 response after a listener change does not close the connection")
			}
			post()
			if n := dials.Load(); n != 2 {
				t.Errorf("%d dials after a listener change, want 2 (the old connection drained)", n)
			}
			if n := testutil.ToFloat64(e.m.listenerDrains); n != 1 {
				t.Errorf("listener drain responses = %v, want 1", n)
			}
		})
	}
}
