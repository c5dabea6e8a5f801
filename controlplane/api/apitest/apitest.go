package apitest

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/registry"
)

// Start serves the admin API configured by cfg over a new registry in t.TempDir() (cfg.Registry
// is set to it) on a local httptest server, and returns both. The server and the registry are
// closed when the test ends. It fails the test if the registry or the API cannot be created.
func Start(t testing.TB, cfg api.Config) (*httptest.Server, *registry.Registry) {
	t.Helper()
	reg, err := registry.Open(filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatalf("cannot open the registry: %v", err)
	}
	cfg.Registry = reg
	h, err := api.New(cfg)
	if err != nil {
		_ = reg.Close()
		t.Fatalf("cannot create the admin API: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
	return srv, reg
}
