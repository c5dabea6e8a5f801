package goedge

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

const event = `{"type":"log","ts":"2024-01-01T00:00:00Z","body":"hello"}` + "\n"

// proxyEnv is an edge configured from the control plane's resources, served over plain
// HTTP by a test server, with two test upstreams.
type proxyEnv struct {
	e      *Edge
	srv    *httptest.Server
	v1, v2 *upstream
	keys   map[string]string
}

func newProxyEnv(t *testing.T, cfg Config, mod func(*xds.Config), opts []Option, tenants ...tenantSpec) *proxyEnv {
	t.Helper()
	p := &proxyEnv{v1: newUpstream(t, "v1"), v2: newUpstream(t, "v2")}
	st, keys := testState(t, []registry.Endpoint{p.v1.endpoint(t)}, []registry.Endpoint{p.v2.endpoint(t)}, tenants...)
	p.keys = keys
	p.e, _ = newTestEdge(t, cfg, opts...)
	p.srv = serve(t, p.e, buildResources(t, st, mod))
	return p
}

// serve feeds e the resources res and serves it over plain HTTP until the test ends.
func serve(t *testing.T, e *Edge, res map[resource.Type][]types.Resource) *httptest.Server {
	t.Helper()
	feed(t, e, res)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// post posts body as tenant (none when empty) with the header pairs hdr.
func (p *proxyEnv) post(t *testing.T, tenant string, body string, hdr ...string) *http.Response {
	t.Helper()
	if tenant != "" {
		hdr = append([]string{"Authorization", "Bearer " + p.keys[tenant]}, hdr...)
	}
	return postEvents(t, p.srv, body, hdr...)
}

// postEvents posts the NDJSON body to srv's /v1/events with the header pairs hdr.
func postEvents(t *testing.T, srv *httptest.Server, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWeightedSplitFollowsTheWeights(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, []Option{WithRandom(lockedRand(42))}, tenantSpec{id: "gamma", stage: "canary:25", prefix: "aaaaaaac"})
	const n = 800
	for i := 0; i < n; i++ {
		resp := p.post(t, "gamma", event)
		if body := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	v2 := p.v2.count()
	if v2+p.v1.count() != n {
		t.Fatalf("v1 %d + v2 %d != %d", p.v1.count(), v2, n)
	}
	// 25% of 800 = 200; the binomial standard deviation is about 12.
	if v2 < 160 || v2 > 240 {
		t.Errorf("v2 got %d of %d requests, want about 200", v2, n)
	}
	for _, r := range p.v2.all() {
		if r.Header.Get("X-Ingest-Version") != "v2" || r.Header.Get("X-Tenant-Id") != "gamma" {
			t.Fatalf("v2 request headers: %v", r.Header)
		}
	}
	for _, r := range p.v1.all() {
		if v := r.Header.Get("X-Ingest-Version"); v != "" {
			t.Fatalf("v1 request carries x-ingest-version %q", v)
		}
	}
}

func TestMirrorGetsACopyWithShadowAuthorityAndNeverAffectsTheMainResponse(t *testing.T) {
	p := newProxyEnv(t, Config{MaxMirrorsInFlight: 1}, nil, nil, tenantSpec{id: "beta", stage: "shadow", prefix: "aaaaaaab"})
	release := make(chan struct{})
	p.v2.setHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release: // the mirror hangs until the test lets it go
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	defer close(release)

	start := time.Now()
	resp := p.post(t, "beta", event)
	body := readAll(t, resp)
	if resp.StatusCode != 200 || body != "ok from v1" {
		t.Fatalf("main response %d %q, want v1's", resp.StatusCode, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the main request took %v: the mirror delayed it", d)
	}
	var m recorded
	select {
	case m = <-p.v2.got:
	case <-time.After(5 * time.Second):
		t.Fatal("the mirror never arrived")
	}
	main := p.v1.last()
	wantHost := strings.Replace(main.Host, ":", "-shadow:", 1)
	if m.Host != wantHost {
		t.Errorf("mirror authority %q, want %q", m.Host, wantHost)
	}
	if m.Body != main.Body || m.Body != event {
		t.Errorf("mirror body %q, main body %q, want %q", m.Body, main.Body, event)
	}
	for _, h := range []string{"X-Tenant-Id", "X-Ingest-Version", "X-Ingest-Event-Count", "X-Request-Id"} {
		if m.Header.Get(h) == "" || m.Header.Get(h) != main.Header.Get(h) {
			t.Errorf("%s: mirror %q, main %q", h, m.Header.Get(h), main.Header.Get(h))
		}
	}
	if v := m.Header.Get(filterconfig.DefaultMarkerHeader); v != "" {
		t.Errorf("marker %q reaches the mirror", v)
	}

	// The one mirror slot is taken by the hanging mirror: the next is dropped, counted, and
	// the main request is still answered at once.
	resp = p.post(t, "beta", event)
	if body := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("second request: %d %s", resp.StatusCode, body)
	}
	if got := testutil.ToFloat64(p.e.m.mirrors.WithLabelValues(xds.ClusterV2, "dropped_full")); got != 1 {
		t.Errorf("dropped mirrors = %v, want 1", got)
	}
}

func TestUpstream429WithRetryAfterIsPassedThroughAfterTheRetries(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	p.v1.setHandler(func(w http.ResponseWriter, _ *http.Request) {
		// Longer than max_retry_after (5s): Envoy does not wait that long, it retries after
		// its exponential backoff and passes the last answer on.
		w.Header().Set("Retry-After", "120")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"reason":"err-ingest-sink-full"}}`))
	})
	resp := p.post(t, "acme", event)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "120" || body != `{"error":{"reason":"err-ingest-sink-full"}}` {
		t.Fatalf("got %d retry-after=%q %q, want the upstream's 429 unchanged", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := p.v1.count(); n != 3 {
		t.Errorf("upstream saw %d attempts, want 3 (num_retries 2)", n)
	}
	if got := testutil.ToFloat64(p.e.m.retries.WithLabelValues(xds.ClusterV1, "status_429")); got != 2 {
		t.Errorf("retries counted = %v, want 2", got)
	}
}

func TestUpstream503IsRetriedAfterItsRetryAfter(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	var mu sync.Mutex
	calls := 0
	p.v1.setHandler(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	start := time.Now()
	resp := p.post(t, "acme", event)
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d < time.Second || d > 2*time.Second {
		t.Errorf("answered after %v, want Retry-After's 1s (jittered up to 1.5s)", d)
	}
}

func TestCircuitBreakerOverflowAnswers503Overloaded(t *testing.T) {
	p := newProxyEnv(t, Config{}, func(c *xds.Config) { c.Upstream.MaxRequests = 1 }, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	p.v1.setHandler(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = w.Write([]byte("slow ok"))
	})
	first := make(chan *http.Response, 1)
	go func() { first <- p.post(t, "acme", event) }()
	<-entered
	resp := p.post(t, "acme", event)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Envoy-Overloaded") != "true" || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "overflow") {
		t.Fatalf("got %d %v %q, want 503 overloaded with Retry-After", resp.StatusCode, resp.Header, body)
	}
	close(release)
	if r := <-first; readAll(t, r) != "slow ok" {
		t.Fatal("the request in flight failed")
	}
	if got := testutil.ToFloat64(p.e.m.upstreamErrors.WithLabelValues(xds.ClusterV1, "overflow")); got != 1 {
		t.Errorf("overflows counted = %v, want 1", got)
	}
}

func TestNoEndpointsAnswers503NoHealthyUpstream(t *testing.T) {
	e, _ := newTestEdge(t, Config{})
	st, keys := testState(t, nil, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	resp := postEvents(t, serve(t, e, buildResources(t, st, nil)), event, "X-Api-Key", keys["acme"])
	if body := readAll(t, resp); resp.StatusCode != 503 || body != bodyNoHealthyUpstream || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestIdentityComesFromTheKeyOnly(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, nil,
		tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"},
		tenantSpec{id: "delta", stage: "v2", prefix: "aaaaaaad"})
	// acme's key, with client copies of internal headers claiming delta and v2.
	resp := p.post(t, "acme", event, "X-Tenant-Id", "delta", "X-Ingest-Version", "v2", "X-Ingest-Edge", "1", "X_Tenant_Id", "delta")
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok from v1" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	got := p.v1.last()
	if got.Header.Get("X-Tenant-Id") != "acme" || got.Header.Get("X-Ingest-Version") != "" || got.Header.Get("X_tenant_id") != "" || p.v2.count() != 0 {
		t.Fatalf("upstream headers %v; v2 saw %d", got.Header, p.v2.count())
	}
	if got.Header.Get("X-Forwarded-For") == "" || got.Header.Get("X-Forwarded-Proto") != "https" || len(got.Header.Get("X-Request-Id")) != 36 {
		t.Errorf("connection manager headers missing: %v", got.Header)
	}

	resp = p.post(t, "", event, "Authorization", "Bearer ik_zzzzzzzz_abcdefghijklmnopqrstuvwxyz234567zzzz", "X-Tenant-Id", "delta")
	if body := readAll(t, resp); resp.StatusCode != 401 || !strings.Contains(body, "err-ingest-unknown-api-key") {
		t.Fatalf("unknown key: %d %q", resp.StatusCode, body)
	}
	if p.v1.count() != 1 || p.v2.count() != 0 {
		t.Fatal("an unknown key reached an upstream")
	}
}

// filterConfigWith returns the control plane's resources with the golang filter's config (its
// ECDS resource) changed.
func filterConfigWith(t *testing.T, res map[resource.Type][]types.Resource, change func(*golang.Config)) map[resource.Type][]types.Resource {
	t.Helper()
	ec := proto.Clone(res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig)).(*core.TypedExtensionConfig)
	g := &golang.Config{}
	if err := ec.GetTypedConfig().UnmarshalTo(g); err != nil {
		t.Fatal(err)
	}
	change(g)
	ec.TypedConfig = mustAny(t, g)
	out := map[resource.Type][]types.Resource{}
	for k, v := range res {
		out[k] = v
	}
	out[resource.ExtensionConfigType] = []types.Resource{ec}
	return out
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAFilterConfigThatDoesNotParseIsRejectedAndTheLastGoodStays(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	before := p.e.snap.Load()
	res := buildResources(t, registry.State{}, nil)
	bad := filterConfigWith(t, res, func(g *golang.Config) { g.PluginConfig = mustAny(t, &golang.Config{PluginName: "not a filter config"}) })
	_, err := p.e.store.apply(resource.ExtensionConfigType, "v9", anys(t, bad[resource.ExtensionConfigType]))
	if err == nil || !strings.Contains(err.Error(), filterconfig.PluginName) || !strings.Contains(err.Error(), `extension config "ingest-edge-filter"`) {
		t.Fatalf("apply: err = %v, want the filter's Parse error", err)
	}
	p.e.reassemble()
	if p.e.snap.Load() != before || p.e.store.types[resource.ExtensionConfigType].version != "v1" {
		t.Fatal("a rejected filter configuration changed the configuration")
	}
	if resp := p.post(t, "acme", event); readAll(t, resp) != "ok from v1" {
		t.Fatal("the last good configuration does not serve")
	}
}

func TestAnotherPluginNamePassesThroughAndTheRoutesFailClosed(t *testing.T) {
	p := &proxyEnv{v1: newUpstream(t, "v1"), v2: newUpstream(t, "v2")}
	st, keys := testState(t, []registry.Endpoint{p.v1.endpoint(t)}, []registry.Endpoint{p.v2.endpoint(t)}, tenantSpec{id: "delta", stage: "v2", prefix: "aaaaaaad"})
	p.keys = keys
	p.e, _ = newTestEdge(t, Config{})
	p.srv = serve(t, p.e, filterConfigWith(t, buildResources(t, st, nil), func(g *golang.Config) { g.PluginName = "ingest-edge-typo" }))
	resp := p.post(t, "delta", event, "X-Tenant-Id", "delta", "X-Ingest-Edge", "1")
	body := readAll(t, resp)
	if resp.StatusCode != 503 || !strings.Contains(body, xds.ErrFilterInactiveID) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %q, want the fail-closed 503", resp.StatusCode, body)
	}
	if p.v1.count()+p.v2.count() != 0 {
		t.Fatal("an unfiltered request reached an upstream")
	}
	if testutil.ToFloat64(p.e.m.filterActive) != 0 {
		t.Error("ingest_edge_filter_active is not 0")
	}
}

func TestStageChangeSwapsTheConfigWithoutFailingRequestsInFlight(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	p.v1.setHandler(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = w.Write([]byte("v1 after the swap"))
	})
	inFlight := make(chan *http.Response, 1)
	go func() { inFlight <- p.post(t, "acme", event) }()
	<-entered

	st, _ := testState(t, []registry.Endpoint{p.v1.endpoint(t)}, []registry.Endpoint{p.v2.endpoint(t)}, tenantSpec{id: "acme", stage: "v2", prefix: "aaaaaaaa"})
	res := buildResources(t, st, nil)
	if _, err := p.e.store.apply(resource.RouteType, "v2", anys(t, res[resource.RouteType])); err != nil {
		t.Fatal(err)
	}
	p.e.reassemble()

	resp := p.post(t, "acme", event)
	if body := readAll(t, resp); body != "ok from v2" || p.v2.last().Header.Get("X-Ingest-Version") != "v2" {
		t.Fatalf("after the stage change: %q", body)
	}
	close(release)
	if r := <-inFlight; r.StatusCode != 200 || readAll(t, r) != "v1 after the swap" {
		t.Fatal("the request in flight during the stage change failed")
	}
}

func TestRouteTimeoutAnswers504(t *testing.T) {
	p := newProxyEnv(t, Config{}, func(c *xds.Config) { c.Upstream.RequestTimeout, c.Upstream.MaxRetryAfter = time.Second, time.Second }, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	p.v1.setHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	start := time.Now()
	resp := p.post(t, "acme", event)
	if body := readAll(t, resp); resp.StatusCode != http.StatusGatewayTimeout || body != bodyTimeout {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("answered after %v, want the 1s route timeout", d)
	}
}

func TestConnectFailureIsRetriedThenAnswered503(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close() // nothing listens there now
	e, _ := newTestEdge(t, Config{})
	st, keys := testState(t, []registry.Endpoint{{Host: "127.0.0.1", Port: uint32(addr.Port)}}, nil, tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"})
	resp := postEvents(t, serve(t, e, buildResources(t, st, nil)), event, "X-Api-Key", keys["acme"])
	if body := readAll(t, resp); resp.StatusCode != 503 || body != bodyConnectFailure || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := testutil.ToFloat64(e.m.retries.WithLabelValues(xds.ClusterV1, "connect_failure")); got != 2 {
		t.Errorf("connect-failure retries = %v, want 2", got)
	}
}
