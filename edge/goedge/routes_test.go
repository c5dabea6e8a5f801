package goedge

import (
	"net/http"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// compiledRoutes compiles the control plane's route configuration for st.
func compiledRoutes(t *testing.T, st registry.State) *routeTable {
	t.Helper()
	res := buildResources(t, st, nil)
	rc := res[resource.RouteType][0].(*routev3.RouteConfiguration)
	rt, err := compileRoutes(rc, clusterSet{xds.ClusterV1: true, xds.ClusterV2: true})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// admitted is the view of a request the filter admitted for tenant.
func admitted(tenant string) *requestView {
	h := http.Header{}
	h.Set(filterconfig.HeaderTenantID, tenant)
	h.Set(filterconfig.DefaultMarkerHeader, filterconfig.MarkerValue)
	h.Set("Content-Type", "application/x-ndjson")
	return &requestView{path: "/v1/events", header: h}
}

// upstreamHeaders applies the route's request header changes (and the weighted cluster's,
// if any) as the router does, and returns the headers that go upstream.
func upstreamHeaders(rt *routeTable, r *route, wc *weightedCluster, h http.Header) http.Header {
	h = h.Clone()
	if wc != nil {
		wc.reqOps.apply(h)
	}
	r.reqOps.apply(h)
	rt.reqOps.apply(h)
	return h
}

func TestRouteTableFromTheControlPlaneForEveryStage(t *testing.T) {
	st, _ := testState(t, nil, nil,
		tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"},
		tenantSpec{id: "beta", stage: "shadow", prefix: "aaaaaaab"},
		tenantSpec{id: "gamma", stage: "canary:25", prefix: "aaaaaaac"},
		tenantSpec{id: "delta", stage: "v2", prefix: "aaaaaaad"},
	)
	rt := compiledRoutes(t, st)

	t.Run("legacy reaches v1 without x-ingest-version", func(t *testing.T) {
		r := rt.match(admitted("acme"))
		if r == nil || r.action == nil || r.action.cluster != xds.ClusterV1 || len(r.action.mirrors) != 0 {
			t.Fatalf("route = %+v", r)
		}
		h := upstreamHeaders(rt, r, nil, admitted("acme").header)
		if v := h.Get(filterconfig.HeaderIngestVersion); v != "" {
			t.Errorf("x-ingest-version = %q, want none", v)
		}
		if v := h.Get(filterconfig.DefaultMarkerHeader); v != "" {
			t.Errorf("marker %q reaches the upstream", v)
		}
		if v := h.Get(filterconfig.HeaderTenantID); v != "acme" {
			t.Errorf("x-tenant-id = %q, want acme", v)
		}
		if r.action.retry == nil || r.action.retry.numRetries != 2 || !r.action.retry.retriableStatus(429) || !r.action.retry.retriableStatus(503) || r.action.retry.retriableStatus(500) {
			t.Errorf("retry policy = %+v, want 2 retries of 429 and 503", r.action.retry)
		}
	})
	t.Run("shadow reaches v1 and mirrors everything to v2", func(t *testing.T) {
		r := rt.match(admitted("beta"))
		if r == nil || r.action == nil || r.action.cluster != xds.ClusterV1 {
			t.Fatalf("route = %+v", r)
		}
		if len(r.action.mirrors) != 1 || r.action.mirrors[0].cluster != xds.ClusterV2 || !r.action.mirrors[0].sampled(99) {
			t.Fatalf("mirrors = %+v", r.action.mirrors)
		}
		if v := upstreamHeaders(rt, r, nil, admitted("beta").header).Get(filterconfig.HeaderIngestVersion); v != "v2" {
			t.Errorf("x-ingest-version = %q, want v2 (route level, so the mirror carries it)", v)
		}
	})
	t.Run("canary splits by weight with x-ingest-version on v2 only", func(t *testing.T) {
		r := rt.match(admitted("gamma"))
		if r == nil || r.action == nil || len(r.action.weighted) != 2 || r.action.totalWeight != 100 {
			t.Fatalf("route = %+v", r)
		}
		for x := uint64(0); x < 100; x++ {
			wc := r.action.pick(x)
			wantV2 := x < 25
			if (wc.name == xds.ClusterV2) != wantV2 {
				t.Fatalf("pick(%d) = %s", x, wc.name)
			}
			v := upstreamHeaders(rt, r, wc, admitted("gamma").header).Get(filterconfig.HeaderIngestVersion)
			if (v == "v2") != wantV2 {
				t.Fatalf("pick(%d) to %s: x-ingest-version = %q", x, wc.name, v)
			}
		}
	})
	t.Run("v2 reaches v2 with x-ingest-version", func(t *testing.T) {
		r := rt.match(admitted("delta"))
		if r == nil || r.action == nil || r.action.cluster != xds.ClusterV2 {
			t.Fatalf("route = %+v", r)
		}
		if v := upstreamHeaders(rt, r, nil, admitted("delta").header).Get(filterconfig.HeaderIngestVersion); v != "v2" {
			t.Errorf("x-ingest-version = %q, want v2", v)
		}
	})
	t.Run("an admitted tenant without a route yet goes to v1", func(t *testing.T) {
		r := rt.match(admitted("newcomer"))
		if r == nil || r.name != "admitted-default-v1" || r.action.cluster != xds.ClusterV1 {
			t.Fatalf("route = %+v", r)
		}
	})
	t.Run("a request without the marker fails closed", func(t *testing.T) {
		v := admitted("delta")
		v.header.Del(filterconfig.DefaultMarkerHeader)
		r := rt.match(v)
		if r == nil || r.direct == nil || r.direct.status != http.StatusServiceUnavailable {
			t.Fatalf("route = %+v", r)
		}
		h := http.Header{}
		r.respOps.apply(h)
		if h.Get("Retry-After") == "" {
			t.Error("fail-closed reply has no Retry-After")
		}
	})
}

func TestHeaderMatcherSemantics(t *testing.T) {
	h := http.Header{"A": {"1", "2"}, "B": {"foo"}}
	for _, tc := range []struct {
		name string
		m    headerMatcher
		want bool
	}{
		{"exact on joined values", headerMatcher{canon: "A", value: "1,2"}, true},
		{"missing header fails exact", headerMatcher{canon: "C", value: ""}, false},
		{"exact is case sensitive", headerMatcher{canon: "B", value: "FOO"}, false},
		{"exact", headerMatcher{canon: "B", value: "foo"}, true},
	} {
		if got := tc.m.matches(h); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUnsupportedRouteFeaturesAreRejected(t *testing.T) {
	rc := &routev3.RouteConfiguration{Name: "x", VirtualHosts: []*routev3.VirtualHost{{
		Name: "v", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, QueryParameters: []*routev3.QueryParameterMatcher{{Name: "q"}}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}, PrefixRewrite: "/y"}},
		}},
	}}}
	_, err := compileRoutes(rc, clusterSet{"c": true})
	if err == nil {
		t.Fatal("accepted query_parameters and prefix_rewrite")
	}
	for _, want := range []string{"query_parameters", "prefix_rewrite", `routes[0]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestShadowHostKeepsThePort(t *testing.T) {
	for in, want := range map[string]string{
		"edge.example":      "edge.example-shadow",
		"edge.example:8443": "edge.example-shadow:8443",
		"[::1]:8443":        "[::1]-shadow:8443",
		"[::1]":             "[::1]-shadow",
	} {
		if got := shadowHost(in); got != want {
			t.Errorf("shadowHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/v1/events", "/v1/events"},
		{"//v1//events", "/v1/events"},
		{"/v1/./events", "/v1/events"},
		{"/v1/x/../events", "/v1/events"},
		{"/../v1/events", "/v1/events"},
		{"/v1/events/", "/v1/events/"},
		{"/v1/x/..", "/v1/"},
	} {
		if got := normalizePath(tc.in, true, true); got != tc.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/v1/events", "//a//b/", "/a/./b/../c", "/..", "/a/..//../b/.", "x/../y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n := normalizePath(p, true, true)
		if p == "" || p[0] != '/' {
			if n != p {
				t.Fatalf("normalizePath(%q) = %q: a path not starting with / must stay", p, n)
			}
			return
		}
		if n == "" || n[0] != '/' || strings.Contains(n, "//") {
			t.Fatalf("normalizePath(%q) = %q", p, n)
		}
		for _, seg := range strings.Split(n, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("normalizePath(%q) = %q keeps a dot segment", p, n)
			}
		}
		if again := normalizePath(n, true, true); again != n {
			t.Fatalf("not idempotent: %q → %q → %q", p, n, again)
		}
	})
}
