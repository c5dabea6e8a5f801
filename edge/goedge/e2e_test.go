package goedge_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/edge/goedge"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

const (
	adminToken = "0123456789abcdef-edge-e2e-admin"
	event      = `{"type":"log","ts":"2024-01-01T00:00:00Z","body":"hello"}` + "\n"
)

// e2eUpstream is a test upstream (ingest-v1 or ingest-v2) that records what it got.
type e2eUpstream struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	last http.Header
	n    int
}

func newE2EUpstream(t *testing.T, name string, delay time.Duration) *e2eUpstream {
	u := &e2eUpstream{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(delay) // keeps requests in flight across the stage change
		u.mu.Lock()
		u.last, u.n = r.Header.Clone(), u.n+1
		u.mu.Unlock()
		w.Header().Set("X-Upstream", name)
		w.Header().Set("X-Seen-Version", r.Header.Get("X-Ingest-Version"))
		w.Header().Set("X-Seen-Tenant", r.Header.Get("X-Tenant-Id"))
		_, _ = w.Write([]byte("ok from " + name))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *e2eUpstream) endpoint(t *testing.T) registry.Endpoint {
	host, port, err := net.SplitHostPort(u.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return registry.Endpoint{Host: host, Port: uint32(p)}
}

func (u *e2eUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

// writeCert writes a self-signed certificate for edge.example and 127.0.0.1.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	certFile, keyFile, pool, err := testcert.Write(dir, "edge.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// e2eStack is a real control plane (registry, admin API, xDS over mutual TLS) and the Go edge
// against it, with two test upstreams as ingest-v1 and ingest-v2.
type e2eStack struct {
	cl     *client.Client
	e      *goedge.Edge
	reg    *prometheus.Registry // the edge's
	pool   *x509.CertPool       // trusts the edge's certificate
	v1, v2 *e2eUpstream
	base   string // https://<edge>
}

// startE2E starts the stack with the upstreams in place and no tenant, and waits for the
// edge's first configuration.
func startE2E(t *testing.T) *e2eStack {
	t.Helper()
	logs := testkit.Logs(t)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	s := &e2eStack{pool: pool, v1: newE2EUpstream(t, "v1", 20*time.Millisecond), v2: newE2EUpstream(t, "v2", 20*time.Millisecond)}

	xdsAddr := testkit.FreeAddr(t)
	pki, err := testcert.WriteMTLS(t.TempDir(), "edge-e2e", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.New(controlplane.Config{
		Registry: controlplane.RegistryConfig{Path: filepath.Join(dir, "cp.db")},
		Admin:    controlplane.AdminConfig{ListenAddress: "127.0.0.1:0", Token: adminToken},
		XDS: xds.Config{ListenAddress: xdsAddr, CertFile: certFile, KeyFile: keyFile, Debounce: 50 * time.Millisecond,
			ServerTLS: xds.ServerTLSConfig{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile}},
	}, prometheus.NewRegistry(), log.With("service", "controlplane"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "control plane", 15*time.Second, cp.Run)
	if s.cl, err = client.New("http://"+cp.AdminAddr().String(), adminToken); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cl.SetUpstreams(context.Background(), 0, []registry.Endpoint{s.v1.endpoint(t)}, []registry.Endpoint{s.v2.endpoint(t)}); err != nil {
		t.Fatal(err)
	}

	// The edge: certificate from SDS.
	s.reg = prometheus.NewRegistry()
	s.e, err = goedge.New(goedge.Config{ListenAddress: "127.0.0.1:0", AdminListenAddress: "127.0.0.1:0", XDSAddress: xdsAddr, NodeID: "edge-e2e",
		XDSCAFile: pki.CAFile, XDSCertFile: pki.ClientCertFile, XDSKeyFile: pki.ClientKeyFile}, s.reg, log.With("service", "edge"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "edge", 15*time.Second, s.e.Run)
	select {
	case <-s.e.Applied():
	case <-time.After(10 * time.Second):
		t.Fatal("the edge got no complete configuration within 10s")
	}
	s.base = "https://" + s.e.Addr().String()
	return s
}

// TestEdgeEndToEnd runs a real control plane (registry, admin API, xDS) and the Go edge
// against it, with two test upstreams as ingest-v1 and ingest-v2, and a TLS client.
func TestEdgeEndToEnd(t *testing.T) {
	s := startE2E(t)
	cl, e, pool, v1, v2, base := s.cl, s.e, s.pool, s.v1, s.v2, s.base
	ctx := context.Background()
	if _, err := cl.CreateTenant(ctx, api.CreateTenantRequest{ID: "acme", Stage: "legacy"}); err != nil {
		t.Fatal(err)
	}
	acmeKey, err := cl.CreateKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateTenant(ctx, api.CreateTenantRequest{ID: "tiny", Stage: "v2", Quotas: &registry.Quotas{EventsPerSecond: 0.1, BurstEvents: 1}}); err != nil {
		t.Fatal(err)
	}
	tinyKey, err := cl.CreateKey(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16,
	}}
	h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	type answer struct {
		status                           int
		proto, upstream, version, tenant string
		retryAfter, body                 string
	}
	send := func(c *http.Client, key string, hdr ...string) (answer, error) {
		req, err := http.NewRequest("POST", base+"/v1/events", strings.NewReader(event))
		if err != nil {
			return answer{}, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+key)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return answer{}, err
		}
		return answer{status: resp.StatusCode, proto: resp.Proto, upstream: resp.Header.Get("X-Upstream"),
			version: resp.Header.Get("X-Seen-Version"), tenant: resp.Header.Get("X-Seen-Tenant"),
			retryAfter: resp.Header.Get("Retry-After"), body: string(b)}, nil
	}

	// The first configuration may predate the tenants (the control plane serves its startup
	// snapshot at once): wait until the key is known.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		a, err := send(h2, acmeKey.Key)
		if err != nil {
			t.Fatal(err)
		}
		if a.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme's key is not accepted after 5s: %+v", a)
		}
	}

	// legacy: v1, without x-ingest-version, over HTTP/2 and HTTP/1.1.
	for _, c := range []*http.Client{h2, h1} {
		a, err := send(c, acmeKey.Key)
		if err != nil {
			t.Fatal(err)
		}
		if wantProto := map[*http.Client]string{h2: "HTTP/2.0", h1: "HTTP/1.1"}[c]; a.proto != wantProto {
			t.Errorf("protocol %s, want %s", a.proto, wantProto)
		}
		if a.status != 200 || a.upstream != "v1" || a.version != "" || a.tenant != "acme" {
			t.Fatalf("legacy over %s: %+v, want v1 without x-ingest-version", a.proto, a)
		}
	}

	// A stream of requests in flight while the stage changes: none may fail.
	var failures atomic.Int64
	var firstFailure atomic.Value
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, err := send(h2, acmeKey.Key)
				sent.Add(1)
				if err == nil && (a.status != 200 || (a.upstream == "v2") != (a.version == "v2")) {
					err = fmt.Errorf("answer %+v", a)
				}
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)

	changed := time.Now()
	if _, err := cl.SetStage(ctx, "acme", 0, "v2"); err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	for {
		a, err := send(h2, acmeKey.Key)
		if err != nil {
			t.Fatal(err)
		}
		if a.upstream == "v2" {
			took = time.Since(changed)
			if a.version != "v2" || a.tenant != "acme" {
				t.Fatalf("v2: %+v, want x-ingest-version: v2 and x-tenant-id: acme", a)
			}
			break
		}
		if time.Since(changed) > 3*time.Second {
			t.Fatal("the stage change did not reach the edge within 3s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("stage change legacy → v2 took effect after %v", took)
	if took > time.Second {
		t.Errorf("the stage change took %v, want under 1s", took)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests in flight across the stage change failed; first: %v", n, sent.Load(), firstFailure.Load())
	}
	t.Logf("%d requests in flight across the stage change, none failed", sent.Load())

	// Identity comes from the key only.
	a, err := send(h2, acmeKey.Key, "X-Tenant-Id", "tiny", "X-Ingest-Version", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 200 || a.tenant != "acme" || a.version != "v2" {
		t.Fatalf("client-sent x-tenant-id: %+v, want tenant acme", a)
	}
	v1n, v2n := v1.count(), v2.count()
	a, err = send(h2, "ik_zzzzzzzz_abcdefghijklmnopqrstuvwxyz234567zzzz", "X-Tenant-Id", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 401 || !strings.Contains(a.body, "err-ingest-unknown-api-key") || v1.count() != v1n || v2.count() != v2n {
		t.Fatalf("unknown key: %+v", a)
	}

	// Over quota: 429 with Retry-After, from the filter (never retried, never upstream).
	a, err = send(h2, tinyKey.Key)
	if err != nil || a.status != 200 || a.upstream != "v2" {
		t.Fatalf("tiny's first request: %+v %v", a, err)
	}
	a, err = send(h2, tinyKey.Key)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusTooManyRequests || a.retryAfter == "" || !strings.Contains(a.body, "err-ingest-tenant-rate-limited") {
		t.Fatalf("over quota: %+v, want 429 with Retry-After", a)
	}

	// The admin listener.
	admin := "http://" + e.AdminAddr().String()
	for path, want := range map[string]string{
		"/readyz":  "ready",
		"/healthz": "ok",
		"/metrics": `ingest_edge_requests_total{cluster="ingest-v2",code="200"}`,
	} {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"ingest_edge_filter_rejected_unknown_api_key_total ",
		"ingest_edge_filter_rejected_tenant_rate_limited_events_total 1",
		`ingest_edge_xds_updates_total{outcome="applied",type="rds"}`,
		`ingest_edge_xds_version_info{type="rds",version=`,
		"ingest_edge_ready 1",
		"ingest_edge_filter_active 1",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
