package goedge

import (
	"crypto/sha256"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/internal/testcert"
)

// selfSigned returns a PEM certificate and key for cn and 127.0.0.1.
func selfSigned(t testing.TB, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := testcert.Generate(cn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// writeMTLS writes a fresh CA, an xDS server certificate for 127.0.0.1 and an edge client
// certificate to a temporary directory.
func writeMTLS(t testing.TB) *testcert.MTLS {
	t.Helper()
	pki, err := testcert.WriteMTLS(t.TempDir(), "edge-test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// withXDSTLS returns cfg with the ADS client's CA, certificate and key of pki.
func withXDSTLS(cfg Config, pki *testcert.MTLS) Config {
	cfg.XDSCAFile, cfg.XDSCertFile, cfg.XDSKeyFile = pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile
	return cfg
}

// testKey returns a registry key for prefix (8 chars of [a-z2-7]) and its secret.
func testKey(prefix string) (registry.APIKey, string) {
	secret := registry.KeyScheme + prefix + "_abcdefghijklmnopqrstuvwxyz234567" + prefix
	salt := sha256.Sum256([]byte("salt:" + prefix))
	return registry.APIKey{ID: prefix, Prefix: prefix, Salt: salt[:registry.SaltLen], Hash: registry.HashKey(salt[:registry.SaltLen], secret),
		CreatedAt: time.Now().Add(-time.Hour)}, secret
}

// tenantSpec is a tenant of a test state.
type tenantSpec struct {
	id, stage, prefix string
	quotas            registry.Quotas
}

// testState returns a registry state with the tenants and upstreams given, and each
// tenant's key secret.
func testState(t testing.TB, v1, v2 []registry.Endpoint, tenants ...tenantSpec) (registry.State, map[string]string) {
	t.Helper()
	st := registry.State{Revision: 1, Upstreams: registry.Upstreams{V1: v1, V2: v2}}
	keys := map[string]string{}
	for _, ts := range tenants {
		stage, err := registry.ParseStage(ts.stage)
		if err != nil {
			t.Fatal(err)
		}
		k, secret := testKey(ts.prefix)
		keys[ts.id] = secret
		st.Tenants = append(st.Tenants, registry.Tenant{ID: ts.id, Stage: stage, Quotas: ts.quotas, Keys: []registry.APIKey{k}})
	}
	return st, keys
}

// buildResources builds the control plane's resources for st with its real builders.
func buildResources(t testing.TB, st registry.State, mod func(*xds.Config)) map[resource.Type][]types.Resource {
	t.Helper()
	cfg := xds.Config{CertFile: "unused", KeyFile: "unused", ServerTLS: xds.ServerTLSConfig{CertFile: "unused", KeyFile: "unused", ClientCAFile: "unused"}}
	if mod != nil {
		mod(&cfg)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, k := selfSigned(t, "edge.example")
	res, err := xds.BuildResources(cfg, xds.Input{State: st, Cert: xds.Certificate{Chain: c, Key: k}, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// lockedRand is a seeded, concurrency-safe random source for WithRandom.
func lockedRand(seed uint64) func() uint64 {
	var mu sync.Mutex
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint64()
	}
}

// newTestEdge returns an edge on loopback ports that is never run: tests feed its store
// and call its handler.
func newTestEdge(t testing.TB, cfg Config, opts ...Option) (*Edge, *prometheus.Registry) {
	t.Helper()
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = "127.0.0.1:0"
	}
	if cfg.AdminListenAddress == "" {
		cfg.AdminListenAddress = "127.0.0.1:0"
	}
	if cfg.XDSCAFile == "" && !cfg.XDSInsecure {
		cfg = withXDSTLS(cfg, writeMTLS(t))
	}
	reg := prometheus.NewRegistry()
	e, err := New(cfg, reg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, reg
}

// feed applies resources to the edge's store in Envoy's order (CDS, LDS, then what they
// reference), as an ADS stream would, and installs the result.
func feed(t testing.TB, e *Edge, res map[resource.Type][]types.Resource) {
	t.Helper()
	for _, typ := range xdsTypes {
		if _, err := e.store.apply(typ, "v1", anys(t, res[typ])); err != nil {
			t.Fatalf("apply %s: %v", shortType(typ), err)
		}
	}
	e.reassemble()
	if e.snap.Load() == nil {
		_, why := e.store.complete(e.fileCert != nil)
		t.Fatalf("no configuration installed: %s", why)
	}
}

func anys(t testing.TB, rs []types.Resource) []*anypb.Any {
	t.Helper()
	out := make([]*anypb.Any, 0, len(rs))
	for _, r := range rs {
		a, err := anypb.New(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// recorded is a request an upstream received.
type recorded struct {
	Method, Path, Host string
	Header             http.Header
	Body               string
}

// upstream is a test upstream that records requests and answers with its handler.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	got      chan recorded
	handle   func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t testing.TB, name string) *upstream {
	t.Helper()
	u := &upstream{got: make(chan recorded, 1024)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := recorded{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Header: r.Header.Clone(), Body: string(b)}
		u.mu.Lock()
		u.requests = append(u.requests, rec)
		h := u.handle
		u.mu.Unlock()
		select {
		case u.got <- rec:
		default:
		}
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("X-Upstream", name)
		_, _ = w.Write([]byte("ok from " + name))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) setHandler(h func(w http.ResponseWriter, r *http.Request)) {
	u.mu.Lock()
	u.handle = h
	u.mu.Unlock()
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func (u *upstream) all() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.requests...)
}

func (u *upstream) last() recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[len(u.requests)-1]
}

// endpoint returns the registry endpoint of the upstream.
func (u *upstream) endpoint(t testing.TB) registry.Endpoint {
	t.Helper()
	host, port, err := net.SplitHostPort(u.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return registry.Endpoint{Host: host, Port: uint32(p)}
}
