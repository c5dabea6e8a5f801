package xds

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/testcert"
)

// testNow is the build time of every golden snapshot.
func testNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

func testConfig() Config {
	c := DefaultConfig()
	c.CertFile, c.KeyFile = "/unused/cert.pem", "/unused/key.pem"
	c.ServerTLS = unusedServerTLS()
	return c
}

// unusedServerTLS names files that Validate accepts and nothing reads.
func unusedServerTLS() ServerTLSConfig {
	return ServerTLSConfig{CertFile: "/unused/xds.crt", KeyFile: "/unused/xds.key", ClientCAFile: "/unused/ca.crt"}
}

// testCert is a fixed fake PEM pair: builders and the validator do not parse it, and golden
// files stay stable.
func testCert() Certificate {
	return Certificate{
		Chain: []byte("-----BEGIN CERTIFICATE-----\nZmFrZSBjZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n"),
		Key:   []byte("-----BEGIN PRIVATE KEY-----\nZmFrZSBrZXk=\n-----END PRIVATE KEY-----\n"),
	}
}

// apiKey makes a key whose salt and hash derive from id and secret.
func apiKey(id, prefix, secret string, revokedAt *time.Time) registry.APIKey {
	salt := sha256.Sum256([]byte("salt:" + id))
	h := sha256.Sum256(append(slices.Clone(salt[:16]), secret...))
	return registry.APIKey{ID: id, Prefix: prefix, Salt: salt[:16], Hash: h[:], CreatedAt: testNow().Add(-time.Hour), RevokedAt: revokedAt}
}

func tenant(id string, stage registry.Stage) registry.Tenant {
	return registry.Tenant{
		ID:     id,
		Quotas: registry.Quotas{EventsPerSecond: 1000, BytesPerSecond: 1 << 20, BurstEvents: 2000, BurstBytes: 2 << 20},
		Stage:  stage,
		Keys:   []registry.APIKey{apiKey(id+"-k1", "ik_"+id, "secret-"+id, nil)},
	}
}

func mustStage(t testing.TB, s string) registry.Stage {
	t.Helper()
	st, err := registry.ParseStage(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testUpstreams() registry.Upstreams {
	return registry.Upstreams{
		V1: []registry.Endpoint{{Host: "10.0.1.2", Port: 8080}, {Host: "10.0.1.1", Port: 8080}},
		V2: []registry.Endpoint{{Host: "10.0.2.1", Port: 4318}},
	}
}

// stateWith returns a state with one tenant per stage given.
func stateWith(t testing.TB, stages map[string]string) registry.State {
	st := registry.State{Revision: 7, Upstreams: testUpstreams()}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for k := range stages {
			if !yield(k) {
				return
			}
		}
	}) {
		st.Tenants = append(st.Tenants, tenant(id, mustStage(t, stages[id])))
	}
	return st
}

// mustBuild builds a snapshot and fails the test unless it passes deep validation.
func mustBuild(t testing.TB, cfg Config, in Input) *cache.Snapshot {
	t.Helper()
	snap, err := Build(cfg, in, "1")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := Validate(snap); err != nil {
		t.Fatalf("a built snapshot fails deep validation: %v", err)
	}
	return snap
}

// fakeSource is a StateSource whose state tests replace.
type fakeSource struct {
	mu   sync.Mutex
	st   registry.State
	subs map[int]chan struct{}
	next int
}

func newFakeSource(st registry.State) *fakeSource {
	return &fakeSource{st: st, subs: map[int]chan struct{}{}}
}

func (f *fakeSource) Snapshot() registry.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeSource) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	id := f.next
	f.next++
	f.subs[id] = ch
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// update applies fn to a copy of the state (tenants cloned), bumps the revision and notifies.
func (f *fakeSource) update(fn func(*registry.State)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Tenants = slices.Clone(st.Tenants)
	fn(&st)
	st.Revision = f.st.Revision + 1
	f.st = st
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// writeCert writes a fresh self-signed certificate and key for cn to dir, returning paths. The
// files are replaced atomically, as the server may be polling them.
func writeCert(t testing.TB, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := testcert.Generate(cn)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeAtomically(t, certFile, certPEM)
	writeAtomically(t, keyFile, keyPEM)
	return certFile, keyFile
}

func writeAtomically(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type cacheResources = cache.Resources

func responseType(typeURL string) types.ResponseType { return cache.GetResponseType(typeURL) }

type coreHeaderValueOption = core.HeaderValueOption
