package xds

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

// requestGetsNothing opens an ADS stream on conn, asks for the clusters and the listener, and
// fails the test if any DiscoveryResponse arrives. It returns the stream's error, which must
// be the transport's refusal (Unavailable), not a timeout.
func requestGetsNothing(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err == nil {
		node := &core.Node{Id: "intruder", Cluster: "ingest-edge"}
		for _, typ := range []string{resource.ClusterType, resource.ListenerType, resource.SecretType} {
			_ = stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: []string{SecretName}})
		}
		var resp *discovery.DiscoveryResponse
		if resp, err = stream.Recv(); err == nil {
			t.Fatalf("an unauthenticated client got a DiscoveryResponse: type %s, version %s, %d resources",
				resp.GetTypeUrl(), resp.GetVersionInfo(), len(resp.GetResources()))
		}
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("stream error %v, want Unavailable (refused in the handshake)", err)
	}
	return err
}

// connectVia starts a fake Envoy (SotW) on conn; it stops when the test ends.
func (h *harness) connectVia(conn *grpc.ClientConn, nodeID string) *fakeEnvoy {
	f := newFakeEnvoy(h.t, nodeID, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(ctx, conn)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
	return f
}

func mustLeaf(t *testing.T, certFile string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(readFile(t, certFile))
	if block == nil {
		t.Fatalf("%s holds no PEM", certFile)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientWithoutCertificateGetsNoResources(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), nil)
	synced(h.connect("edge-1", false, nil)) // the server serves an authenticated edge meanwhile

	t.Run("TLS without a client certificate", func(t *testing.T) {
		err := requestGetsNothing(t, h.dial(h.clientTLS("", "")))
		t.Logf("refused: %v", err)
	})
	t.Run("plaintext", func(t *testing.T) {
		err := requestGetsNothing(t, h.dial(insecure.NewCredentials()))
		t.Logf("refused: %v", err)
	})
	// With TLS 1.3 the client finishes its side of the handshake before the server refuses
	// it: the server may count the refusal after the client already gave up.
	testkit.Eventually(t, 5*time.Second, "both refused handshakes counted (reason handshake)", func() bool {
		return testutil.ToFloat64(h.srv.m.handshakeFailures.WithLabelValues("handshake")) >= 2
	})
	if st := h.srv.Status(); len(st.Nodes) != 1 || st.Nodes[0].ID != "edge-1" {
		t.Errorf("nodes %+v, want only the authenticated edge-1", st.Nodes)
	}
	if !strings.Contains(h.logs.String(), "xds connection refused: TLS handshake failed") {
		t.Error("a refused handshake was not logged")
	}
}

func TestClientCertificateOfAnotherCAGetsNoResources(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), nil)
	rogue, err := testcert.NewCA("rogue CA")
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed client certificate, for the very name the real edge uses, by another CA.
	certFile, keyFile, err := rogue.WriteIssued(t.TempDir(), "client", "edge-client")
	if err != nil {
		t.Fatal(err)
	}
	err = requestGetsNothing(t, h.dial(h.clientTLS(certFile, keyFile)))
	t.Logf("refused: %v", err)
	testkit.Eventually(t, 5*time.Second, "the rejection to be counted", func() bool {
		return testutil.ToFloat64(h.srv.m.handshakeFailures.WithLabelValues("client_certificate_rejected")) >= 1
	})
	if st := h.srv.Status(); len(st.Nodes) != 0 {
		t.Errorf("nodes %+v, want none", st.Nodes)
	}
}

func TestAllowedClientNamesPinTheClientIdentity(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), func(c *Config) {
		c.ServerTLS.AllowedClientNames = []string{"edge-allowed", "spiffe://ingest/edge"}
	})
	// The harness's client certificate (edge-client) is signed by the CA but not pinned.
	err := requestGetsNothing(t, h.conn)
	t.Logf("refused: %v", err)
	testkit.Eventually(t, 5*time.Second, "the rejection to be counted", func() bool {
		return testutil.ToFloat64(h.srv.m.handshakeFailures.WithLabelValues("client_name_not_allowed")) >= 1
	})
	for _, name := range []string{"edge-allowed", "spiffe://ingest/edge"} {
		certFile, keyFile, err := h.pki.CA.WriteIssued(t.TempDir(), "client", name)
		if err != nil {
			t.Fatal(err)
		}
		synced(h.connectVia(h.dial(h.clientTLS(certFile, keyFile)), "edge-"+name))
	}
}

func TestServerCertificateAndClientCARotateWithoutRestart(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), nil)
	synced(h.connect("edge-1", false, nil))

	// A new CA: the server's certificate and the client CA bundle are replaced in place.
	next, err := testcert.WriteMTLS(t.TempDir(), "edge-client", xdsServerName)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, h.pki.ServerCertFile, readFile(t, next.ServerCertFile))
	writeAtomically(t, h.pki.ServerKeyFile, readFile(t, next.ServerKeyFile))
	writeAtomically(t, h.pki.CAFile, readFile(t, next.CAFile))
	testkit.Eventually(t, 5*time.Second, "the new files to be loaded", func() bool {
		st := h.srv.tls.current()
		return st.pool.Equal(next.CA.Pool()) && st.notAfter.Equal(mustLeaf(t, next.ServerCertFile).NotAfter)
	})
	if n := testutil.ToFloat64(h.srv.m.serverTLSReloads.WithLabelValues("ok")); n < 1 {
		t.Errorf("server TLS reloads ok = %v", n)
	}

	// An edge of the new CA is served; an edge that trusts the new server certificate but
	// still presents a client certificate of the old CA is not.
	oldCert, oldKey := h.pki.ClientCertFile, h.pki.ClientKeyFile
	h.pki = next
	synced(h.connectVia(h.dial(h.clientTLS(next.ClientCertFile, next.ClientKeyFile)), "edge-2"))
	before := testutil.ToFloat64(h.srv.m.handshakeFailures.WithLabelValues("client_certificate_rejected"))
	err = requestGetsNothing(t, h.dial(h.clientTLS(oldCert, oldKey)))
	t.Logf("old client refused: %v", err)
	testkit.Eventually(t, 5*time.Second, "the old client certificate to be rejected by the server", func() bool {
		return testutil.ToFloat64(h.srv.m.handshakeFailures.WithLabelValues("client_certificate_rejected")) > before
	})
}

func TestServeFailsFastNamingTheMissingServerTLSFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, "edge.example")
	pki, err := testcert.WriteMTLS(dir, "edge-client", xdsServerName)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mod  func(*ServerTLSConfig)
		want string
	}{
		{func(s *ServerTLSConfig) { s.CertFile = filepath.Join(dir, "missing.crt") }, "xds.server_tls.cert_file"},
		{func(s *ServerTLSConfig) { s.KeyFile = filepath.Join(dir, "missing.key") }, "xds.server_tls.key_file"},
		{func(s *ServerTLSConfig) { s.ClientCAFile = filepath.Join(dir, "missing-ca.crt") }, "xds.server_tls.client_ca_file"},
		{func(s *ServerTLSConfig) { s.ClientCAFile = keyFile }, "xds.server_tls.client_ca_file"},
		{func(s *ServerTLSConfig) { s.KeyFile = keyFile }, "xds.server_tls.key_file"},
	} {
		st := ServerTLSConfig{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile}
		c.mod(&st)
		if err := st.CheckFiles(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckFiles() = %v, want an error naming %s", err, c.want)
		}
		srv, err := New(Config{CertFile: certFile, KeyFile: keyFile, ServerTLS: st}, newFakeSource(registry.State{}), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(context.Background(), bufconn.Listen(1024)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Serve() = %v, want an error naming %s", err, c.want)
		}
	}
}

func TestInsecureServerIsLoudAndServesPlaintext(t *testing.T) {
	h := startServer(t, stateWith(t, map[string]string{"acme": "legacy"}), func(c *Config) { c.ServerTLS = ServerTLSConfig{Insecure: true} })
	synced(h.connectVia(h.dial(insecure.NewCredentials()), "sidecar"))
	if !strings.Contains(h.logs.String(), "level=WARN msg=\"xds server runs WITHOUT TLS") {
		t.Errorf("no warning about the plaintext xDS server in\n%s", h.logs.String())
	}
}
