package goedge

import (
	"crypto/tls"
	"errors"
	"math"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/internal/service/servicetest"
	"github.com/ingestdev/ingest/internal/testcert"
)

// tlsEdge is an edge configured for tenant acme, whose bodies may reach 64 MiB, served on its
// own client listener (bounds included) over TLS.
type tlsEdge struct {
	e    *Edge
	addr string
	key  string
	up   *upstream
}

func newTLSEdge(t *testing.T, cfg Config) *tlsEdge {
	t.Helper()
	return newTLSEdgeWith(t, cfg, registry.Quotas{}, nil)
}

// newTLSEdgeWith is newTLSEdge with acme's quotas and a change to the control plane's config
// (after the 64 MiB body limit is set).
func newTLSEdgeWith(t *testing.T, cfg Config, q registry.Quotas, mod func(*xds.Config)) *tlsEdge {
	t.Helper()
	up := newUpstream(t, "v1")
	st, keys := testState(t, []registry.Endpoint{up.endpoint(t)}, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa", quotas: q})
	e, _ := newTestEdge(t, cfg)
	feed(t, e, buildResources(t, st, func(c *xds.Config) {
		c.Edge.MaxRequestBodyBytes = 64 << 20
		if mod != nil {
			mod(c)
		}
	}))
	hs := e.newHTTPServer()
	done := make(chan error, 1)
	go func() { done <- hs.ServeTLS(e.ln, "", "") }()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return &tlsEdge{e: e, addr: e.Addr().String(), key: keys["acme"], up: up}
}

func (te *tlsEdge) dial(t *testing.T, proto string) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", te.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}}) // a test certificate
}

func (te *tlsEdge) h2Client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}} // a test certificate
}

// totalAlloc is the bytes allocated so far by the process.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestStalledBodyDeclaringAHugeLengthIsNotAllocatedAndIsCutAfterTheIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	const declared = 60_000_000
	te := newTLSEdge(t, Config{BodyIdleTimeout: idle})
	hdr := []string{"Authorization", "Bearer " + te.key, "Content-Type", "application/x-ndjson"}
	sent := []byte(event[:10])

	t.Run("HTTP/1.1", func(t *testing.T) {
		c, err := te.dial(t, "http/1.1")
		if err != nil {
			t.Fatal(err)
		}
		before := totalAlloc()
		start := time.Now()
		servicetest.StallHTTP1(t, c, "/v1/events", declared, sent, hdr...)
		code := servicetest.Answer(t, c, 5*time.Second)
		took := time.Since(start)
		if grew := totalAlloc() - before; grew > declared/4 {
			t.Errorf("%d bytes allocated while a body declaring %d stalled after %d bytes", grew, declared, len(sent))
		}
		if code != http.StatusRequestTimeout || took < idle {
			t.Fatalf("got %d after %v, want 408 after the %v body idle timeout", code, took, idle)
		}
	})
	t.Run("HTTP/2", func(t *testing.T) {
		before := totalAlloc()
		start := time.Now()
		resp, err := servicetest.StallHTTP2(t, te.h2Client(), "https://"+te.addr+"/v1/events", declared, sent, hdr...)
		took := time.Since(start)
		if grew := totalAlloc() - before; grew > declared/4 {
			t.Errorf("%d bytes allocated while a body declaring %d stalled after %d bytes", grew, declared, len(sent))
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestTimeout || took < idle {
			t.Fatalf("got %d after %v, want 408 after the %v body idle timeout", resp.StatusCode, took, idle)
		}
	})
	if got := testutil.ToFloat64(te.e.lm.BodyTimeouts); got != 2 {
		t.Errorf("ingest_edge_body_read_timeouts_total = %v, want 2", got)
	}
}

func TestConnectionAboveMaxConnectionsIsClosedBeforeItsHandshake(t *testing.T) {
	te := newTLSEdge(t, Config{MaxConnections: 2})
	for range 2 {
		c, err := te.dial(t, "http/1.1") // the handshake completes: the connection is served
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	if c, err := te.dial(t, "http/1.1"); err == nil {
		_ = c.Close()
		t.Fatal("connection 3 of 2 completed its TLS handshake")
	}
	if got := testutil.ToFloat64(te.e.lm.Refused); got != 1 {
		t.Errorf("ingest_edge_connections_refused_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(te.e.lm.Open); got != 2 {
		t.Errorf("ingest_edge_connections_open = %v, want 2", got)
	}
}

func TestListenerBoundsAreValidated(t *testing.T) {
	for _, c := range []Config{{MaxConnections: -1}, {BodyIdleTimeout: time.Millisecond}, {TenantShare: -0.1}, {TenantShare: 1.5}, {TenantShare: math.NaN()}} {
		if err := c.WithDefaults().Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := withXDSTLS(DefaultConfig(), &testcert.MTLS{CAFile: "ca", ClientCertFile: "crt", ClientKeyFile: "key"}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
