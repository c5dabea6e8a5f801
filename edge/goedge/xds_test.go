package goedge

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

// adsServer is a go-control-plane ADS server on a loopback port that records the NACKs it
// gets and, like the real control plane, answers one by setting the last good snapshot back
// (the snapshot cache would otherwise resend the rejected version in a loop).
type adsServer struct {
	t     *testing.T
	addr  string
	pki   *testcert.MTLS // the server's certificate, the CA of both ends, the edge's certificate
	creds credentials.TransportCredentials
	cache cache.SnapshotCache
	gs    *grpc.Server

	mu    sync.Mutex
	good  *cache.Snapshot
	nacks []*discovery.DiscoveryRequest
}

// startADS starts an ADS server with mutual TLS, as the control plane serves it: a fresh CA
// (pki nil) or pki's.
func startADS(t *testing.T, addr string, pki *testcert.MTLS) *adsServer {
	t.Helper()
	if pki == nil {
		pki = writeMTLS(t)
	}
	pair, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pki.CA.Pool(), MinVersion: tls.VersionTLS12})
	return startADSWith(t, addr, pki, creds)
}

// startADSWith starts an ADS server with creds; pki is what the edge is given (edgeConfig).
func startADSWith(t *testing.T, addr string, pki *testcert.MTLS, creds credentials.TransportCredentials) *adsServer {
	t.Helper()
	a := &adsServer{t: t, pki: pki, creds: creds, cache: cache.NewSnapshotCache(true, cache.IDHash{}, nil)}
	a.serve(addr)
	return a
}

// edgeConfig returns cfg pointed at the server, with the ADS client's files of a.pki.
func (a *adsServer) edgeConfig(cfg Config) Config {
	cfg.XDSAddress = a.addr
	cfg.NodeID = "ads-test"
	return withXDSTLS(cfg, a.pki)
}

func (a *adsServer) serve(addr string) {
	a.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a stopped server may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	a.addr = ln.Addr().String()
	cb := serverv3.CallbackFuncs{StreamRequestFunc: func(_ int64, req *discovery.DiscoveryRequest) error {
		if req.GetErrorDetail() != nil {
			a.mu.Lock()
			a.nacks = append(a.nacks, req)
			good := a.good
			a.mu.Unlock()
			if good != nil {
				_ = a.cache.SetSnapshot(context.Background(), "ads-test", good)
			}
		}
		return nil
	}}
	a.gs = grpc.NewServer(grpc.Creds(a.creds))
	discovery.RegisterAggregatedDiscoveryServiceServer(a.gs, serverv3.NewServer(context.Background(), a.cache, cb))
	go func() { _ = a.gs.Serve(ln) }()
	a.t.Cleanup(a.gs.Stop)
}

// set serves a snapshot of res at version; good marks it as the one to fall back to.
func (a *adsServer) set(version string, res map[resource.Type][]types.Resource, good bool) {
	a.t.Helper()
	snap, err := cache.NewSnapshot(version, res)
	if err != nil {
		a.t.Fatal(err)
	}
	if good {
		a.mu.Lock()
		a.good = snap
		a.mu.Unlock()
	}
	if err := a.cache.SetSnapshot(context.Background(), "ads-test", snap); err != nil {
		a.t.Fatal(err)
	}
}

func (a *adsServer) nacked() []*discovery.DiscoveryRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*discovery.DiscoveryRequest(nil), a.nacks...)
}

func TestADSClientAppliesNACKsKeepsTheLastGoodAndReconnects(t *testing.T) {
	ads := startADS(t, "127.0.0.1:0", nil)
	st, _ := testState(t, []registry.Endpoint{{Host: "127.0.0.1", Port: 9}}, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	good := buildResources(t, st, nil)
	ads.set("1", good, true)

	e, _ := newTestEdge(t, ads.edgeConfig(Config{XDSBackoffBase: 10 * time.Millisecond, XDSBackoffMax: 50 * time.Millisecond}))
	run := testkit.Go(t, time.Minute, e.Run)
	defer func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-e.Applied():
	case <-time.After(10 * time.Second):
		t.Fatal("no configuration applied")
	}
	version := func(typ string) string {
		if s := e.snap.Load(); s != nil {
			return s.versions[typ]
		}
		return ""
	}
	if v := version(resource.ListenerType); v != "1" {
		t.Fatalf("listener version %q, want 1", v)
	}

	// A filter config (ECDS) that does not parse: NACKed with the Parse error and the last
	// accepted version; the edge keeps serving version 1.
	bad := filterConfigWith(t, good, func(g *golang.Config) { g.PluginConfig = mustAny(t, &golang.Config{PluginName: "garbage"}) })
	ads.set("2", bad, false)
	testkit.Eventually(t, 10*time.Second, "a NACK", func() bool { return len(ads.nacked()) > 0 })
	n := ads.nacked()[0]
	if n.GetTypeUrl() != resource.ExtensionConfigType || n.GetVersionInfo() != "1" || !strings.Contains(n.GetErrorDetail().GetMessage(), `plugin "ingest-edge": cannot parse edge filter config`) {
		t.Fatalf("NACK = type %s version %q detail %q", n.GetTypeUrl(), n.GetVersionInfo(), n.GetErrorDetail().GetMessage())
	}
	if e.Ready(context.Background()) != nil || version(resource.ExtensionConfigType) != "1" {
		t.Fatal("the edge lost its last good configuration")
	}
	if got := testutil.ToFloat64(e.m.xdsUpdates.WithLabelValues("ecds", "rejected")); got < 1 {
		t.Errorf("rejected updates = %v", got)
	}

	// A good change is applied again.
	st.Tenants[0].Stage = registry.Stage{Kind: registry.StageV2}
	ads.set("3", buildResources(t, st, nil), true)
	testkit.Eventually(t, 10*time.Second, "version 3", func() bool { return version(resource.RouteType) == "3" })

	// The control plane goes away: the edge keeps serving, reconnects when it is back, and
	// takes the (new) control plane's state in full, whatever its versions.
	addr := ads.addr
	ads.gs.Stop()
	testkit.Eventually(t, 10*time.Second, "the stream to end", func() bool { return testutil.ToFloat64(e.m.xdsConnected) == 0 })
	if err := e.Ready(context.Background()); err != nil {
		t.Fatalf("the edge is not ready without its control plane: %v", err)
	}
	ads2 := startADS(t, addr, ads.pki)
	st.Tenants[0].Stage = registry.Stage{Kind: registry.StageLegacy}
	ads2.set("1", buildResources(t, st, nil), true)
	testkit.Eventually(t, 10*time.Second, "the configuration of the new control plane", func() bool {
		s := e.snap.Load()
		r := s.routes.match(admitted("acme"))
		return s.versions[resource.RouteType] == "1" && r != nil && r.action.cluster == "ingest-v1"
	})
}

func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	ads := startADS(t, "127.0.0.1:0", nil)
	up := newUpstream(t, "v1")
	entered := make(chan struct{}, 1)
	up.setHandler(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		_, _ = w.Write([]byte("finished"))
	})
	st, keys := testState(t, []registry.Endpoint{up.endpoint(t)}, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	ads.set("1", buildResources(t, st, nil), true)
	e, _ := newTestEdge(t, ads.edgeConfig(Config{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	<-e.Applied()

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the edge serves a test certificate
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", "https://"+e.Addr().String()+"/v1/events", strings.NewReader(event))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("X-Api-Key", keys["acme"])
		resp, err := c.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	cancel()
	testkit.Eventually(t, 10*time.Second, "readyz to fail while draining", func() bool {
		resp, err := http.Get("http://" + e.AdminAddr().String() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if s := <-got; s != "finished" {
		t.Fatalf("the request in flight at shutdown got %q", s)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Config{ListenAddress: "nope", CertFile: "a", RetryAfter: 1500 * time.Millisecond, MaxMirrorsInFlight: -1}.WithDefaults().Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"edge.listen_address", "edge.cert_file and edge.key_file", "edge.retry_after", "edge.max_mirrors_in_flight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if err := withXDSTLS(DefaultConfig(), &testcert.MTLS{CAFile: "ca", ClientCertFile: "crt", ClientKeyFile: "key"}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err = DefaultConfig().Validate()
	for _, want := range []string{"edge.xds_ca_file is required", "edge.xds_cert_file is required", "edge.xds_key_file is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("defaults without the xDS files: %v, want %q", err, want)
		}
	}
	if err := (Config{XDSInsecure: true}).WithDefaults().Validate(); err != nil {
		t.Errorf("xds_insecure on the loopback default: %v", err)
	}
	err = Config{XDSInsecure: true, XDSAddress: "10.0.0.5:18000", XDSCAFile: "ca"}.WithDefaults().Validate()
	for _, want := range []string{"edge.xds_insecure needs a loopback edge.xds_address", "edge.xds_insecure excludes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("insecure off loopback: %v, want %q", err, want)
		}
	}
}
