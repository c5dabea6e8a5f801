package goedge

import (
	"net/http"
	"net/url"
	"strconv"
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
	rt, err := compileRoutes(rc, clusterSet{xds.ClusterV1: true, xds.ClusterV2: true, xds.ClusterV2GRPC: true})
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

	t.Run("OTLP/gRPC reaches v2 over the gRPC cluster at every stage", func(t *testing.T) {
		for _, tenant := range []string{"acme", "beta", "gamma", "delta"} {
			v := admitted(tenant)
			v.path = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
			v.header.Set("Content-Type", "application/grpc")
			r := rt.match(v)
			if r == nil || r.action == nil || r.action.cluster != xds.ClusterV2GRPC || len(r.action.mirrors) != 0 {
				t.Fatalf("%s: route = %+v, want %s", tenant, r, xds.ClusterV2GRPC)
			}
			if h := upstreamHeaders(rt, r, nil, v.header); h.Get(filterconfig.HeaderIngestVersion) != "v2" {
				t.Errorf("%s: x-ingest-version = %q, want v2", tenant, h.Get(filterconfig.HeaderIngestVersion))
			}
			v.header.Del(filterconfig.DefaultMarkerHeader)
			if r := rt.match(v); r != nil && r.action != nil && r.action.cluster == xds.ClusterV2GRPC {
				t.Errorf("%s: a call the filter did not admit reaches %s", tenant, xds.ClusterV2GRPC)
			}
		}
	})
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
		// Percent-encoded unreserved characters are decoded, as Envoy's canonicalizer does.
		{"/v1/%6Cogs", "/v1/logs"},
		{"/v1/%6cogs", "/v1/logs"},
		{"/%76%31/%4C%4F%47%53", "/v1/LOGS"},
		{"/v1/a%2Db%5Fc%7Ed%30", "/v1/a-b_c~d0"},
		{"/v1/%2E/logs", "/v1/logs"},
		{"/v1/x/%2e%2E/logs", "/v1/logs"},
		{"/v1/x/.%2e/logs", "/v1/logs"},
		{"/v1/%2e%2e%2e", "/v1/..."},
		{"/v1/a.%2e", "/v1/a.."},
		// Escaped slashes and backslashes stay (path_with_escaped_slashes_action KEEP_UNCHANGED),
		// as do other reserved escapes, with their hex case.
		{"/v1%2Flogs", "/v1%2Flogs"},
		{"/v1%2flogs", "/v1%2flogs"},
		{"/v1%5Clogs", "/v1%5Clogs"},
		{"/v1/a%20b%3Fc%25d", "/v1/a%20b%3Fc%25d"},
		{"/v1/%2E%2E%2Flogs", "/v1/..%2Flogs"},
		// A raw backslash is a slash; characters a path may not hold are escaped.
		{`/v1\logs`, "/v1/logs"},
		{`/v1\\..\logs`, "/v1/logs"}, // "/v1//", then ".." goes back to "/v1/"
		{"/v1/a b{c}|^`\"<>\x7f\xff", "/v1/a%20b%7Bc%7D%7C%5E%60%22%3C%3E%7F%FF"},
		{"/v1/a:b@c!$&'()*+,;=[]", "/v1/a:b@c!$&'()*+,;=[]"},
		// Merging slashes comes after dot segments, as in Envoy.
		{"/v1//../logs", "/v1/logs"},
		{"/v1/.//logs", "/v1/logs"},
		// Not a valid escape: the "%" is escaped (where Envoy keeps it; Go's server refuses it).
		{"/v1/%zz", "/v1/%25zz"},
		{"/v1/%", "/v1/%25"},
		{"/v1/%%36%43ogs", "/v1/%256Cogs"},
		// Not a path: unchanged.
		{"*", "*"},
		{"", ""},
	} {
		if got := normalizePath(tc.in, true, true); got != tc.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Each setting alone.
	if got := normalizePath("//v1/%6Cogs/./", false, true); got != "/v1/%6Cogs/./" {
		t.Errorf("merge_slashes alone: %q", got)
	}
	if got := normalizePath("//v1/%6Cogs/./", true, false); got != "//v1/logs/" {
		t.Errorf("normalize_path alone: %q", got)
	}
}

func TestNormalizePathRefusesNUL(t *testing.T) {
	for _, p := range []string{"/v1/%00", "/v1/logs\x00"} {
		if _, ok := normalizeRequestPath(p, true, true); ok {
			t.Errorf("normalizeRequestPath(%q) accepted a NUL, Envoy refuses it", p)
		}
	}
	if _, ok := normalizeRequestPath("/v1/%01", true, true); !ok {
		t.Error("an escaped control character other than NUL is refused")
	}
}

func TestNormalizeRequestSetsTheForwardedPath(t *testing.T) {
	for _, tc := range []struct{ target, path, requestURI string }{
		{"/v1/%6Cogs?a=%6C", "/v1/logs", "/v1/logs?a=%6C"},
		{"/v1/logs%2Fx", "/v1/logs/x", "/v1/logs%2Fx"},
		{"/v1//x/../%65vents", "/v1/events", "/v1/events"},
		{"/v1/a%20b", "/v1/a b", "/v1/a%20b"},
		{"/v1/events", "/v1/events", "/v1/events"},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if !normalizeRequest(u, true, true) {
			t.Fatalf("normalizeRequest(%q) refused it", tc.target)
		}
		if u.Path != tc.path || u.RequestURI() != tc.requestURI {
			t.Errorf("normalizeRequest(%q): path %q, request URI %q; want %q, %q", tc.target, u.Path, u.RequestURI(), tc.path, tc.requestURI)
		}
	}
}

// otlpLogs is an OTLP/JSON logs request with n log records.
func otlpLogs(n int) string {
	recs := make([]string, n)
	for i := range recs {
		recs[i] = `{"timeUnixNano":"1704067200000000000","body":{"stringValue":"hello"}}`
	}
	return `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + strings.Join(recs, ",") + `]}]}]}`
}

// postPath posts body as tenant to the edge's path (sent as spelled) with the content type.
func (p *proxyEnv) postPath(t *testing.T, tenant, path, ctype, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", p.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.RequestURI(); got != path {
		t.Fatalf("the client would send %q, not %q", got, path)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+p.keys[tenant])
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// A path that the normalizer serves as an ingest endpoint is counted by the edge's filter like
// the plain path, and reaches the upstream normalized: percent-encoding, dot segments or
// repeated slashes do not make a request free.
func TestEncodedPathIsCountedAndForwardedNormalized(t *testing.T) {
	p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "acme", stage: "v2", prefix: "aaaaaaaa"})
	for _, tc := range []struct{ path, ctype, body, want string }{
		{"/v1/%6Cogs", "application/json", otlpLogs(3), "/v1/logs"},
		{"/v1/%6c%6F%67%73", "application/json", otlpLogs(2), "/v1/logs"},
		{"/%76%31/logs", "application/json", otlpLogs(4), "/v1/logs"},
		{"/v1//logs", "application/json", otlpLogs(5), "/v1/logs"},
		{"/v1/./x/../logs", "application/json", otlpLogs(6), "/v1/logs"},
		{"/v1/%2e/logs", "application/json", otlpLogs(7), "/v1/logs"},
		{"/v1/%65vents", "application/x-ndjson", strings.Repeat(event, 3), "/v1/events"},
		{"//v1/events", "application/x-ndjson", strings.Repeat(event, 2), "/v1/events"},
	} {
		resp := p.postPath(t, "acme", tc.path, tc.ctype, tc.body)
		if body := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", tc.path, resp.StatusCode, body)
		}
		got := p.v2.last()
		n := strings.Count(tc.body, `"hello"`)
		if got.Path != tc.want || got.Header.Get("X-Ingest-Event-Count") != strconv.Itoa(n) {
			t.Errorf("%s: upstream got path %q with x-ingest-event-count %q, want %q with %d",
				tc.path, got.Path, got.Header.Get("X-Ingest-Event-Count"), tc.want, n)
		}
	}
	// An escaped slash stays escaped (KEEP_UNCHANGED): not an ingest path, passed uncounted.
	resp := p.postPath(t, "acme", "/v1%2Flogs", "application/json", otlpLogs(1))
	readAll(t, resp)
	if got := p.v2.last(); got.Path != "/v1%2Flogs" || got.Header.Get("X-Ingest-Event-Count") != "" {
		t.Errorf("/v1%%2Flogs: upstream got %q with x-ingest-event-count %q, want it unchanged and uncounted",
			got.Path, got.Header.Get("X-Ingest-Event-Count"))
	}
}

// A tenant over its quota is refused on an encoded path exactly as on the plain one.
func TestEncodedPathIsRefusedOverQuota(t *testing.T) {
	for _, path := range []string{"/v1/%6Cogs", "/v1//logs", "/v1/x/../logs"} {
		t.Run(path, func(t *testing.T) {
			p := newProxyEnv(t, Config{}, nil, nil, tenantSpec{id: "tiny", stage: "v2", prefix: "aaaaaaab",
				quotas: registry.Quotas{EventsPerSecond: 0.001, BurstEvents: 5, BytesPerSecond: 1 << 20}})
			resp := p.postPath(t, "tiny", path, "application/json", otlpLogs(4))
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Fatalf("first request: status %d: %s", resp.StatusCode, body)
			}
			// 4 of the 5 events of the burst are spent: 4 more are over the rate.
			resp = p.postPath(t, "tiny", path, "application/json", otlpLogs(4))
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
				!strings.Contains(body, "err-ingest-tenant-rate-limited-events") {
				t.Fatalf("over quota: status %d retry-after %q: %s, want 429", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			// More than the burst can hold: 413, as on /v1/logs.
			resp = p.postPath(t, "tiny", path, "application/json", otlpLogs(6))
			if body := readAll(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("over the burst: status %d: %s, want 413", resp.StatusCode, body)
			}
			if n := p.v2.count(); n != 1 {
				t.Errorf("the upstream got %d requests, want 1", n)
			}
		})
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/v1/events", "//a//b/", "/a/./b/../c", "/..", "/a/..//../b/.", "x/../y",
		"/v1/%6Cogs", "/%2e%2E/%2F%5c", `/a\..\b`, "/%%36%43", "/%zz%", "/a b\x00\xff"} {
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
		for i := 0; i < len(n); i++ {
			c := n[i]
			if c <= ' ' || c >= 0x7f || c == '\\' {
				t.Fatalf("normalizePath(%q) = %q holds the raw byte %q", p, n, c)
			}
			if c != '%' {
				continue
			}
			v, ok := unhexAt(n, i+1)
			if !ok {
				t.Fatalf("normalizePath(%q) = %q: %% at %d starts no escape", p, n, i)
			}
			if pathClass[v] == pathUnescape {
				t.Fatalf("normalizePath(%q) = %q keeps the unreserved escape %q", p, n, n[i:i+3])
			}
		}
		if _, err := url.PathUnescape(n); err != nil {
			t.Fatalf("normalizePath(%q) = %q does not unescape: %v", p, n, err)
		}
		if again := normalizePath(n, true, true); again != n {
			t.Fatalf("not idempotent: %q → %q → %q", p, n, again)
		}
	})
}
