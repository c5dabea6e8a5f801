package goedge

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

// TestEdgeRefusesAnXDSServerItsCADoesNotVouchFor runs rogue xDS servers that serve a complete,
// valid snapshot and accept any client: one with a certificate of another CA, one with a
// certificate of the edge's CA for another name, one in plaintext. The edge must apply
// nothing from them, count the failed handshakes and say why in its log.
func TestEdgeRefusesAnXDSServerItsCADoesNotVouchFor(t *testing.T) {
	pki := writeMTLS(t) // what the edge is configured with
	other, err := testcert.NewCA("rogue CA")
	if err != nil {
		t.Fatal(err)
	}
	serverCreds := func(ca *testcert.CA, hosts ...string) credentials.TransportCredentials {
		certPEM, keyPEM, err := ca.Issue(hosts...)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// A man in the middle takes whatever client certificate it is shown.
		return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12})
	}
	for _, c := range []struct {
		name   string
		creds  credentials.TransportCredentials
		reason string
	}{
		{"certificate of another CA", serverCreds(other, "127.0.0.1"), reasonServerCertificate},
		{"certificate of the edge's CA for another name", serverCreds(pki.CA, "rogue.example"), reasonServerCertificate},
		{"plaintext", insecure.NewCredentials(), reasonHandshake},
	} {
		t.Run(c.name, func(t *testing.T) {
			rogue := startADSWith(t, "127.0.0.1:0", pki, c.creds)
			st, _ := testState(t, []registry.Endpoint{{Host: "127.0.0.1", Port: 9}}, nil, tenantSpec{id: "acme", stage: "v2", prefix: "aaaaaaaa"})
			rogue.set("1", buildResources(t, st, nil), true)

			logs := testkit.Logs(t)
			reg := prometheus.NewRegistry()
			cfg := rogue.edgeConfig(Config{ListenAddress: "127.0.0.1:0", AdminListenAddress: "127.0.0.1:0",
				XDSBackoffBase: 10 * time.Millisecond, XDSBackoffMax: 50 * time.Millisecond})
			e, err := New(cfg, reg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			run := testkit.Go(t, time.Minute, e.Run)
			testkit.Eventually(t, 10*time.Second, "the edge to refuse the server twice (or to apply its configuration)", func() bool {
				select {
				case <-e.Applied():
					return true
				default:
				}
				return testutil.ToFloat64(e.m.xdsHandshakeFailures.WithLabelValues(c.reason)) >= 2
			})
			select {
			case <-e.Applied():
				t.Fatal("the edge applied the configuration of a server its CA does not vouch for")
			default:
			}
			if e.snap.Load() != nil || testutil.ToFloat64(e.m.xdsUpdates.WithLabelValues("lds", "applied")) != 0 {
				t.Fatal("the edge took resources from the rogue server")
			}
			if c.reason == reasonServerCertificate && !strings.Contains(logs.String(), "xDS server certificate rejected") {
				t.Errorf("no log line says why:\n%s", logs.String())
			}
			if err := run.Stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

// TestEdgeFailsToStartNamingTheMissingXDSFile checks that a missing or unusable ADS client
// file is a startup error that names its key.
func TestEdgeFailsToStartNamingTheMissingXDSFile(t *testing.T) {
	pki := writeMTLS(t)
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.XDSCAFile = pki.CAFile + ".missing" }, "edge.xds_ca_file"},
		{func(c *Config) { c.XDSCAFile = pki.ClientKeyFile }, "edge.xds_ca_file"},
		{func(c *Config) { c.XDSCertFile = pki.ClientCertFile + ".missing" }, "edge.xds_cert_file"},
		{func(c *Config) { c.XDSKeyFile = pki.ServerKeyFile }, "edge.xds_key_file"},
	} {
		cfg := withXDSTLS(Config{ListenAddress: "127.0.0.1:0", AdminListenAddress: "127.0.0.1:0"}, pki)
		c.mod(&cfg)
		e, err := New(cfg, nil, nil)
		if err == nil {
			_ = e.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New() = %v, want an error naming %s", err, c.want)
		}
	}
}
