package xds

import (
	"bytes"
	"context"
	stdtls "crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

// harness runs a Server on an in-memory listener with a fake registry and real certificate
// files.
type harness struct {
	t                 *testing.T
	srv               *Server
	src               *fakeSource
	reg               *prometheus.Registry
	lis               *bufconn.Listener
	conn              *grpc.ClientConn
	certFile, keyFile string
	pki               *testcert.MTLS // the xDS server's certificate, the edges' CA and a client certificate
	logs              *testkit.SyncBuffer
}

// xdsServerName is the name in the test xDS server's certificate that clients verify.
const xdsServerName = "xds.test"

// dial returns a client connection to the harness's server with creds.
func (h *harness) dial(creds credentials.TransportCredentials) *grpc.ClientConn {
	h.t.Helper()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return h.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(creds))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// clientTLS returns mutual TLS credentials that present certFile/keyFile (none if empty) and
// trust the harness's CA. The certificate is presented whatever CAs the server asks for, as
// Envoy does (crypto/tls would otherwise send none that another CA signed).
func (h *harness) clientTLS(certFile, keyFile string) credentials.TransportCredentials {
	h.t.Helper()
	c := &stdtls.Config{RootCAs: h.pki.CA.Pool(), ServerName: xdsServerName, MinVersion: stdtls.VersionTLS12}
	if certFile != "" {
		pair, err := stdtls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			h.t.Fatal(err)
		}
		c.GetClientCertificate = func(*stdtls.CertificateRequestInfo) (*stdtls.Certificate, error) { return &pair, nil }
	}
	return credentials.NewTLS(c)
}

func startServer(t *testing.T, st registry.State, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, src: newFakeSource(st), reg: prometheus.NewRegistry(), lis: bufconn.Listen(1 << 20), logs: &testkit.SyncBuffer{}}
	h.certFile, h.keyFile = writeCert(t, t.TempDir(), "edge.example")
	pki, err := testcert.WriteMTLS(t.TempDir(), "edge-client", xdsServerName)
	if err != nil {
		t.Fatal(err)
	}
	h.pki = pki
	cfg := Config{CertFile: h.certFile, KeyFile: h.keyFile, CertPollInterval: 100 * time.Millisecond, Debounce: 50 * time.Millisecond,
		ServerTLS: ServerTLSConfig{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile}}
	if mod != nil {
		mod(&cfg)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := New(cfg, h.src, h.reg, log)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, h.lis) }()
	h.conn = h.dial(h.clientTLS(pki.ClientCertFile, pki.ClientKeyFile))
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context was cancelled")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// connect starts a fake Envoy; it stops when the test ends.
func (h *harness) connect(nodeID string, delta bool, reject func(string, map[string]proto.Message) error) *fakeEnvoy {
	f := newFakeEnvoy(h.t, nodeID, delta)
	f.reject = reject
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(ctx, h.conn)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
	return f
}

// synced waits until the fake accepted all six types with every resource.
func synced(f *fakeEnvoy) {
	f.t.Helper()
	want := map[string]int{resource.ClusterType: 3, resource.EndpointType: 2, resource.ListenerType: 1, resource.RouteType: 1, resource.SecretType: 1,
		resource.ExtensionConfigType: 1}
	f.waitFor(5*time.Second, "LDS, RDS, CDS, EDS, SDS and ECDS accepted", func(ts map[string]*fakeType) bool {
		for typ, n := range want {
			if ts[typ].version == "" || len(ts[typ].resources) != n || ts[typ].acks == 0 {
				return false
			}
		}
		return true
	})
}

func protocols() []struct {
	name  string
	delta bool
} {
	return []struct {
		name  string
		delta bool
	}{{"sotw", false}, {"delta", true}}
}

func TestFakeEnvoyReceivesAndACKsAllSixTypes(t *testing.T) {
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			h := startServer(t, stateWith(t, map[string]string{"acme": "legacy", "beta": "shadow", "gamma": "canary:50", "delta": "v2"}), nil)
			f := h.connect("edge-1", p.delta, nil)
			synced(f)
			got := f.snapshot()
			if _, ok := got[resource.SecretType].resources[SecretName].(*tls.Secret); !ok {
				t.Error("no TLS secret over SDS")
			}
			if _, ok := got[resource.ExtensionConfigType].resources[FilterConfigName].(*core.TypedExtensionConfig); !ok {
				t.Error("no edge filter configuration over ECDS")
			}
			// The server has seen the ACKs of the versions it served.
			st := h.srv.Status()
			testkit.Eventually(t, 5*time.Second, "the server records every ACK", func() bool {
				st = h.srv.Status()
				if len(st.Nodes) != 1 || st.Nodes[0].ID != "edge-1" {
					return false
				}
				for typ, v := range st.Versions {
					if st.Nodes[0].Acked[typ] != v {
						return false
					}
				}
				return len(st.Versions) == 6
			})
			if st.Version != 1 {
				t.Errorf("generation %d, want 1", st.Version)
			}
			if n := testutil.ToFloat64(h.srv.m.nodes); n != 1 {
				t.Errorf("connected nodes gauge %v, want 1", n)
			}
		})
	}
}

func TestStageChangeUpdatesOnlyRoutesWithinOneSecond(t *testing.T) {
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			h := startServer(t, stateWith(t, map[string]string{"acme": "legacy", "beta": "v2"}), nil)
			f := h.connect("edge-1", p.delta, nil)
			synced(f)
			before := f.snapshot()

			start := time.Now()
			h.src.update(func(st *registry.State) { st.Tenants[0].Stage = mustStage(t, "canary:10") })
			f.waitFor(5*time.Second, "new routes", func(ts map[string]*fakeType) bool {
				return ts[resource.RouteType].version != before[resource.RouteType].version && ts[resource.RouteType].acks > before[resource.RouteType].acks
			})
			if took := time.Since(start); took > time.Second {
				t.Errorf("the stage change took %v to reach the proxy, want under 1s", took)
			}
			rc := f.snapshot()[resource.RouteType].resources[RouteConfigName].(*route.RouteConfiguration)
			if w := findRoute(rc, "tenant:acme").GetRoute().GetWeightedClusters().GetClusters(); len(w) != 2 || w[0].GetWeight().GetValue() != 10 {
				t.Errorf("acme route after the change: %v", findRoute(rc, "tenant:acme"))
			}

			time.Sleep(300 * time.Millisecond) // anything else would have arrived by now
			after := f.snapshot()
			wantOnlyChanged(t, "a stage change", before, after, resource.RouteType)
			if n := after[resource.RouteType].responses - before[resource.RouteType].responses; n != 1 {
				t.Errorf("%d route responses for one stage change, want 1", n)
			}
			if !strings.Contains(h.logs.String(), "xds snapshot served") || !strings.Contains(h.logs.String(), "version=2") {
				t.Errorf("the new version is not logged:\n%s", h.logs.String())
			}
		})
	}
}

// wantOnlyChanged checks that the proxy got no response and no new version of any type but
// changed between the snapshots before and after what.
func wantOnlyChanged(t *testing.T, what string, before, after map[string]fakeType, changed string) {
	t.Helper()
	for typ := range before {
		if typ != changed && (after[typ].responses != before[typ].responses || after[typ].version != before[typ].version) {
			t.Errorf("%s changed on %s: %v → %v", typ, what, before[typ].log, after[typ].log)
		}
	}
}

// wantFellBack checks that generation 2 is served, that edge-1, having rejected version 2 of
// typ, was set back to generation 1 (in the server's status and in the cache), and that the
// NACK was counted once.
func wantFellBack(t *testing.T, h *harness, typ string) {
	t.Helper()
	st := h.srv.Status()
	if st.Version != 2 || st.Nodes[0].Version != 1 || st.Nodes[0].Rejected[typ] != "2" {
		t.Errorf("status %+v, want generation 2 served and edge-1 back on 1 with %s 2 rejected", st, typ)
	}
	snap, err := h.srv.cache.GetSnapshot("edge-1")
	if err != nil || snap.GetVersion(typ) != "1" {
		t.Errorf("cache holds %s %q for edge-1, want the last good 1 (err %v)", typ, snap.GetVersion(typ), err)
	}
	if n := testutil.ToFloat64(h.srv.m.nacks.WithLabelValues(typ)); n != 1 {
		t.Errorf("ingest_controlplane_xds_nacks_total{type_url=%q} = %v, want 1", typ, n)
	}
}

// rejectV2For makes the fake reject route configurations that send tenant to ingest-v2.
func rejectV2For(tenant string) func(string, map[string]proto.Message) error {
	return func(typeURL string, res map[string]proto.Message) error {
		if typeURL != resource.RouteType {
			return nil
		}
		for _, m := range res {
			if r := findRoute(m.(*route.RouteConfiguration), "tenant:"+tenant); r != nil && r.GetRoute().GetCluster() == ClusterV2 {
				return fmt.Errorf("fake envoy: route for %q rejected", tenant)
			}
		}
		return nil
	}
}

func TestNACKFallsBackToLastGoodSnapshotWithoutResendStorm(t *testing.T) {
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			h := startServer(t, stateWith(t, map[string]string{"acme": "legacy", "evil": "legacy"}), nil)
			f := h.connect("edge-1", p.delta, rejectV2For("evil"))
			synced(f)
			before := f.snapshot()[resource.RouteType]

			// Generation 2 changes only the routes; the proxy rejects them.
			h.src.update(func(st *registry.State) { st.Tenants[1].Stage = mustStage(t, "v2") })
			f.waitFor(5*time.Second, "the NACK", func(ts map[string]*fakeType) bool { return ts[resource.RouteType].nacks == 1 })
			time.Sleep(2 * time.Second)
			after := f.snapshot()[resource.RouteType]
			// After the rejected response: SotW sends nothing (the NACK's version is the
			// fallback's), delta sends the good routes once. A resend storm would be thousands.
			if extra := after.responses - before.responses - 1; extra > 2 {
				t.Fatalf("%d route responses within 2s after the rejected one (log %v), want at most 2", extra, after.log)
			}
			t.Logf("route responses on the proxy: %v", after.log)
			if after.nacks != 1 {
				t.Errorf("%d NACKs, want 1", after.nacks)
			}
			if after.version != "1" && !p.delta {
				t.Errorf("proxy route version %q, want the last good 1", after.version)
			}
			if findRoute(after.resources[RouteConfigName].(*route.RouteConfiguration), "tenant:evil").GetRoute().GetCluster() != ClusterV1 {
				t.Error("the proxy does not hold the last good routes")
			}
			wantFellBack(t, h, resource.RouteType)
			if n := testutil.ToFloat64(h.srv.m.fallbacks.WithLabelValues("fallback")); n != 1 {
				t.Errorf("fallbacks = %v, want 1", n)
			}
			if !strings.Contains(h.logs.String(), "xds NACK: node set back to its last good snapshot") {
				t.Error("the NACK is not logged")
			}

			// A change elsewhere still carries the rejected routes: the node is held back.
			edsBefore := f.snapshot()[resource.EndpointType].responses
			h.src.update(func(st *registry.State) { st.Upstreams.V1 = st.Upstreams.V1[:1] })
			testkit.Eventually(t, 5*time.Second, "generation 3", func() bool { return h.srv.Status().Version == 3 })
			time.Sleep(300 * time.Millisecond)
			if got := f.snapshot()[resource.EndpointType].responses; got != edsBefore {
				t.Errorf("the held-back node got %d endpoint responses", got-edsBefore)
			}
			if st := h.srv.Status(); st.Nodes[0].Version != 1 {
				t.Errorf("edge-1 on generation %d, want held on 1 while the rejected routes are current", st.Nodes[0].Version)
			}

			// Fixing the tenant changes the routes again: the node gets the newest generation.
			h.src.update(func(st *registry.State) { st.Tenants[1].Stage = mustStage(t, "legacy") })
			testkit.Eventually(t, 5*time.Second, "edge-1 on generation 4", func() bool { return h.srv.Status().Nodes[0].Version == 4 })
			f.waitFor(5*time.Second, "the new endpoints", func(ts map[string]*fakeType) bool {
				return len(ts[resource.EndpointType].resources) == 2 && ts[resource.EndpointType].version == "3"
			})
		})
	}
}

func TestCertificateFileChangeBecomesNewSecretVersion(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), nil)
	f := h.connect("edge-1", false, nil)
	synced(f)
	before := f.snapshot()
	// A new pair, written cert first: the half-written state is refused, the full one served.
	dir := t.TempDir()
	newCert, newKey := writeCert(t, dir, "edge2.example")
	writeAtomically(t, h.certFile, readFile(t, newCert))
	testkit.Eventually(t, 5*time.Second, "the mismatched pair to be refused", func() bool {
		return testutil.ToFloat64(h.srv.m.certReloads.WithLabelValues("error")) >= 1
	})
	if v := f.snapshot()[resource.SecretType].version; v != before[resource.SecretType].version {
		t.Fatalf("a certificate without its key was served (secret version %s)", v)
	}
	writeAtomically(t, h.keyFile, readFile(t, newKey))
	f.waitFor(5*time.Second, "the new certificate", func(ts map[string]*fakeType) bool {
		s, ok := ts[resource.SecretType].resources[SecretName].(*tls.Secret)
		return ok && bytes.Equal(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), readFile(t, newCert))
	})
	after := f.snapshot()
	for _, typ := range []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.ExtensionConfigType} {
		if after[typ].version != before[typ].version {
			t.Errorf("%s version changed on a certificate change", typ)
		}
	}
	if n := testutil.ToFloat64(h.srv.m.certReloads.WithLabelValues("ok")); n != 1 {
		t.Errorf("certificate reloads ok = %v, want 1", n)
	}
}

func TestInvalidRegistryStateKeepsLastGoodSnapshot(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), nil)
	f := h.connect("edge-1", true, nil)
	synced(f)
	h.src.update(func(st *registry.State) {
		st.Tenants[0].Keys = append(st.Tenants[0].Keys, registry.APIKey{ID: "bad", Prefix: "ik_acme", Salt: []byte("0123456789"), Hash: []byte("short")})
	})
	testkit.Eventually(t, 5*time.Second, "the build error is counted", func() bool {
		return testutil.ToFloat64(h.srv.m.builds.WithLabelValues("build_error")) == 1
	})
	if v := h.srv.Status().Version; v != 1 {
		t.Errorf("generation %d, want 1 kept", v)
	}
	h.src.update(func(st *registry.State) {
		st.Tenants[0].Keys = st.Tenants[0].Keys[:1]
		st.Tenants[0].Stage = mustStage(t, "v2")
	})
	testkit.Eventually(t, 5*time.Second, "generation 2", func() bool { return h.srv.Status().Version == 2 })
}

func TestKeyRevokedLaterLeavesTheFilterConfigWhenItExpires(t *testing.T) {
	st := stateWith(t, map[string]string{"acme": "legacy"})
	at := time.Now().Add(400 * time.Millisecond)
	st.Tenants[0].Keys = append(st.Tenants[0].Keys, apiKey("rotating", "ik_acme", "old", &at))
	h := startServer(t, st, nil)
	f := h.connect("edge-1", false, nil)
	synced(f)
	if got := f.snapshot()[resource.ExtensionConfigType].version; got != "1" {
		t.Fatalf("edge filter configuration version %q", got)
	}
	f.waitFor(5*time.Second, "an edge filter configuration without the expired key", func(ts map[string]*fakeType) bool {
		return ts[resource.ExtensionConfigType].version == "2"
	})
	if got := f.snapshot()[resource.ListenerType]; got.version != "1" || got.responses != 1 {
		t.Errorf("the listener changed when a key expired (version %q, %d responses); only ECDS may", got.version, got.responses)
	}
}

func TestNodeOfAnotherClusterIsRefused(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), func(c *Config) { c.NodeCluster = "other-edge" })
	f := h.connect("edge-1", false, nil)
	f.waitFor(5*time.Second, "the stream to be refused", func(map[string]*fakeType) bool { return f.err != nil })
	if !strings.Contains(f.err.Error(), "PermissionDenied") && !strings.Contains(f.err.Error(), "this control plane serves cluster") {
		t.Errorf("stream error %v, want permission denied", f.err)
	}
}

func TestServeFailsFastWithoutCertificate(t *testing.T) {
	srv, err := New(Config{CertFile: "/nonexistent/tls.crt", KeyFile: "/nonexistent/tls.key", ServerTLS: unusedServerTLS()}, newFakeSource(registry.State{}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Serve(context.Background(), bufconn.Listen(1024))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/tls.crt") {
		t.Fatalf("Serve = %v, want an error naming the certificate file", err)
	}
	if err := srv.Serve(context.Background(), bufconn.Listen(1024)); err == nil {
		t.Error("a second Serve did not fail")
	}
}

func TestNewRejectsBadConfigAndDuplicateMetrics(t *testing.T) {
	if _, err := New(Config{}, newFakeSource(registry.State{}), nil, nil); err == nil || !strings.Contains(err.Error(), "xds.cert_file is required") {
		t.Errorf("New without files = %v", err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{CertFile: "a", KeyFile: "b", ServerTLS: unusedServerTLS()}
	if _, err := New(cfg, newFakeSource(registry.State{}), reg, nil); err != nil {
		t.Fatal(err)
	}
	var are prometheus.AlreadyRegisteredError
	if _, err := New(cfg, newFakeSource(registry.State{}), reg, nil); !errors.As(err, &are) {
		t.Errorf("second New on one registry = %v, want AlreadyRegisteredError", err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadStateAtStartupServesNothingUntilFixed(t *testing.T) {
	st := stateWith(t, map[string]string{"acme": "legacy"})
	st.Tenants[0].Keys[0].Hash = []byte("short")
	h := startServer(t, st, nil)
	f := h.connect("edge-1", false, nil)
	testkit.Eventually(t, 5*time.Second, "the failed startup build", func() bool {
		return testutil.ToFloat64(h.srv.m.builds.WithLabelValues("build_error")) >= 1
	})
	time.Sleep(200 * time.Millisecond)
	if got := f.snapshot()[resource.ListenerType].responses; got != 0 {
		t.Fatalf("%d listener responses from a state that does not build", got)
	}
	h.src.update(func(st *registry.State) { st.Tenants[0].Keys = []registry.APIKey{apiKey("k", "ik_acme", "s", nil)} })
	synced(f)
}

// filterConfigIn decodes the edge filter's configuration from the ECDS resource the fake holds.
func filterConfigIn(t testing.TB, ts map[string]*fakeType) *filterconfig.Config {
	t.Helper()
	return decodeFilterConfig(t, ts[resource.ExtensionConfigType].resources[FilterConfigName])
}

func TestKeyAndQuotaChangesUpdateOnlyTheFilterConfigWithinOneSecond(t *testing.T) {
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			h := startServer(t, stateWith(t, map[string]string{"acme": "legacy", "beta": "v2"}), nil)
			f := h.connect("edge-1", p.delta, nil)
			synced(f)
			before := f.snapshot()
			changes := []struct {
				name   string
				change func(st *registry.State)
				holds  func(fc *filterconfig.Config) bool
			}{
				{"key creation", func(st *registry.State) {
					st.Tenants[0].Keys = append(slices.Clone(st.Tenants[0].Keys), apiKey("acme-k2", "ik_acme", "second", nil))
				}, func(fc *filterconfig.Config) bool { return len(fc.Keys["ik_acme"]) == 2 }},
				{"key revocation", func(st *registry.State) {
					st.Tenants[0].Keys = st.Tenants[0].Keys[1:]
				}, func(fc *filterconfig.Config) bool {
					return len(fc.Keys["ik_acme"]) == 1 && fc.Keys["ik_acme"][0].ID == "acme-k2"
				}},
				{"quota change", func(st *registry.State) {
					st.Tenants[1].Quotas.EventsPerSecond = 5
				}, func(fc *filterconfig.Config) bool { return fc.Tenants[1].Quotas.EventsPerSecond == 5 }},
			}
			for i, c := range changes {
				start := time.Now()
				h.src.update(c.change)
				f.waitFor(5*time.Second, c.name, func(ts map[string]*fakeType) bool {
					return ts[resource.ExtensionConfigType].acks == before[resource.ExtensionConfigType].acks+i+1 && c.holds(filterConfigIn(t, ts))
				})
				if took := time.Since(start); took > time.Second {
					t.Errorf("%s took %v to reach the proxy, want under 1s", c.name, took)
				}
			}
			time.Sleep(300 * time.Millisecond) // anything else would have arrived by now
			after := f.snapshot()
			wantOnlyChanged(t, "key and quota changes", before, after, resource.ExtensionConfigType)
		})
	}
}

func TestECDSNACKFallsBackLikeTheOtherTypes(t *testing.T) {
	// The fake rejects a filter configuration in which beta's quota is 1 event/s.
	reject := func(typeURL string, res map[string]proto.Message) error {
		if typeURL != resource.ExtensionConfigType {
			return nil
		}
		for _, m := range res {
			g := &golang.Config{}
			if err := m.(*core.TypedExtensionConfig).GetTypedConfig().UnmarshalTo(g); err != nil {
				return err
			}
			fc, err := filterconfig.Parse(g.GetPluginConfig())
			if err != nil {
				return err
			}
			for _, tn := range fc.Tenants {
				if tn.ID == "beta" && tn.Quotas.EventsPerSecond == 1 {
					return errors.New("fake envoy: filter config rejected")
				}
			}
		}
		return nil
	}
	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			h := startServer(t, stateWith(t, map[string]string{"acme": "legacy", "beta": "legacy"}), nil)
			f := h.connect("edge-1", p.delta, reject)
			synced(f)
			before := f.snapshot()[resource.ExtensionConfigType]

			h.src.update(func(st *registry.State) { st.Tenants[1].Quotas.EventsPerSecond = 1 })
			f.waitFor(5*time.Second, "the NACK", func(ts map[string]*fakeType) bool { return ts[resource.ExtensionConfigType].nacks == 1 })
			time.Sleep(2 * time.Second)
			after := f.snapshot()
			ecds := after[resource.ExtensionConfigType]
			if extra := ecds.responses - before.responses - 1; extra > 2 {
				t.Fatalf("%d ECDS responses within 2s after the rejected one (log %v), want at most 2 (no resend storm)", extra, ecds.log)
			}
			if ecds.nacks != 1 {
				t.Errorf("%d NACKs, want 1", ecds.nacks)
			}
			if q := filterConfigIn(t, map[string]*fakeType{resource.ExtensionConfigType: &ecds}).Tenants[1].Quotas.EventsPerSecond; q != 1000 {
				t.Errorf("the proxy holds beta's quota %v, want the last good 1000", q)
			}
			wantFellBack(t, h, resource.ExtensionConfigType)
			if after[resource.ListenerType].responses != 1 {
				t.Errorf("%d listener responses, want 1: a filter config NACK must not touch the listener", after[resource.ListenerType].responses)
			}

			// Fixing the quota changes the filter config again: the node gets the newest.
			h.src.update(func(st *registry.State) { st.Tenants[1].Quotas.EventsPerSecond = 2 })
			testkit.Eventually(t, 5*time.Second, "edge-1 on generation 3", func() bool { return h.srv.Status().Nodes[0].Version == 3 })
			f.waitFor(5*time.Second, "the fixed filter config", func(ts map[string]*fakeType) bool {
				return ts[resource.ExtensionConfigType].version == "3" && filterConfigIn(t, ts).Tenants[1].Quotas.EventsPerSecond == 2
			})
		})
	}
}
