package loadgen

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startTLS starts an HTTP/2-capable TLS test server and returns it with a CA file trusting it.
func startTLS(t *testing.T, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

// testConfig is a short run against target with the tenants, markers off.
func testConfig(target, ca string, tenants ...Tenant) Config {
	cfg := DefaultConfig()
	cfg.Target, cfg.CAFile, cfg.Tenants = target, ca, tenants
	cfg.BatchSize = 10
	cfg.Duration = time.Second
	cfg.RequestTimeout = 2 * time.Second
	cfg.PoolSize = 2
	cfg.Concurrency = 8
	cfg.Connections = 2
	cfg.MarkerInterval = 0
	return cfg
}

func steady(rate float64) Profile { return Profile{Kind: "steady", Base: rate} }
