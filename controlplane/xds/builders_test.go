package xds

import (
	"slices"
	"testing"
	"time"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

func routeConfigOf(t testing.TB, snap *cache.Snapshot) *route.RouteConfiguration {
	t.Helper()
	rc, ok := snap.GetResources(resource.RouteType)[RouteConfigName].(*route.RouteConfiguration)
	if !ok {
		t.Fatalf("no route configuration %q", RouteConfigName)
	}
	return rc
}

func hcmOf(t testing.TB, snap *cache.Snapshot) (*hcm.HttpConnectionManager, *tls.DownstreamTlsContext) {
	t.Helper()
	lis := snap.GetResources(resource.ListenerType)[ListenerName].(*listener.Listener)
	fc := lis.GetFilterChains()[0]
	m := &hcm.HttpConnectionManager{}
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(m); err != nil {
		t.Fatal(err)
	}
	tc := &tls.DownstreamTlsContext{}
	if err := fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(tc); err != nil {
		t.Fatal(err)
	}
	return m, tc
}

func filterConfigOf(t testing.TB, snap *cache.Snapshot) *filterconfig.Config {
	t.Helper()
	return decodeFilterConfig(t, snap.GetResources(resource.ExtensionConfigType)[FilterConfigName])
}

// decodeFilterConfig decodes the edge filter's configuration from its ECDS resource.
func decodeFilterConfig(t testing.TB, r any) *filterconfig.Config {
	t.Helper()
	ec, ok := r.(*core.TypedExtensionConfig)
	if !ok {
		t.Fatalf("no extension config %q", FilterConfigName)
	}
	return parseFilterAny(t, ec.GetTypedConfig())
}

// parseFilterAny decodes the edge filter's configuration from a packed golang.Config.
func parseFilterAny(t testing.TB, a *anypb.Any) *filterconfig.Config {
	t.Helper()
	g := &golang.Config{}
	if err := a.UnmarshalTo(g); err != nil {
		t.Fatal(err)
	}
	fc, err := filterconfig.Parse(g.GetPluginConfig())
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

func findRoute(rc *route.RouteConfiguration, name string) *route.Route {
	for _, r := range rc.GetVirtualHosts()[0].GetRoutes() {
		if r.GetName() == name {
			return r
		}
	}
	return nil
}

func addsV2(hs []*coreHeaderValueOption) bool {
	for _, h := range hs {
		if h.GetHeader().GetKey() == filterconfig.HeaderIngestVersion && h.GetHeader().GetValue() == "v2" {
			return true
		}
	}
	return false
}

func TestTenantRouteFollowsStage(t *testing.T) {
	tests := []struct {
		stage string
		check func(t *testing.T, r *route.Route)
	}{
		{"legacy", func(t *testing.T, r *route.Route) {
			if r.GetRoute().GetCluster() != ClusterV1 || addsV2(r.GetRequestHeadersToAdd()) || len(r.GetRoute().GetRequestMirrorPolicies()) > 0 {
				t.Errorf("legacy route %v, want ingest-v1 without x-ingest-version or mirror", r)
			}
		}},
		{"shadow", func(t *testing.T, r *route.Route) {
			a := r.GetRoute()
			mp := a.GetRequestMirrorPolicies()
			if a.GetCluster() != ClusterV1 || len(mp) != 1 || mp[0].GetCluster() != ClusterV2 ||
				mp[0].GetRuntimeFraction().GetDefaultValue().GetNumerator() != 100 || !addsV2(r.GetRequestHeadersToAdd()) {
				t.Errorf("shadow route %v, want ingest-v1 mirrored 100%% to ingest-v2 with x-ingest-version: v2", r)
			}
		}},
		{"canary:25", func(t *testing.T, r *route.Route) {
			ws := r.GetRoute().GetWeightedClusters().GetClusters()
			if len(ws) != 2 || ws[0].GetName() != ClusterV2 || ws[0].GetWeight().GetValue() != 25 || !addsV2(ws[0].GetRequestHeadersToAdd()) ||
				ws[1].GetName() != ClusterV1 || ws[1].GetWeight().GetValue() != 75 || addsV2(ws[1].GetRequestHeadersToAdd()) || addsV2(r.GetRequestHeadersToAdd()) {
				t.Errorf("canary route %v, want 25 to ingest-v2 with x-ingest-version: v2 and 75 to ingest-v1 without", r)
			}
		}},
		{"v2", func(t *testing.T, r *route.Route) {
			if r.GetRoute().GetCluster() != ClusterV2 || !addsV2(r.GetRequestHeadersToAdd()) {
				t.Errorf("v2 route %v, want ingest-v2 with x-ingest-version: v2", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			snap := mustBuild(t, testConfig(), Input{State: stateWith(t, map[string]string{"acme": tt.stage}), Cert: testCert(), Now: testNow()})
			rc := routeConfigOf(t, snap)
			r := findRoute(rc, "tenant:acme")
			if r == nil {
				t.Fatal("no route for acme")
			}
			var names []string
			for _, h := range r.GetMatch().GetHeaders() {
				names = append(names, h.GetName()+"="+h.GetStringMatch().GetExact())
			}
			if !slices.Equal(names, []string{"x-tenant-id=acme", "x-ingest-edge=1"}) {
				t.Errorf("route matches %v, want the tenant and the filter's marker", names)
			}
			tt.check(t, r)
		})
	}
}

func TestRouteConfigFailsClosedAndDefaultsToV1(t *testing.T) {
	snap := mustBuild(t, testConfig(), Input{State: stateWith(t, map[string]string{"acme": "v2", "beta": "shadow"}), Cert: testCert(), Now: testNow()})
	rc := routeConfigOf(t, snap)
	if !rc.GetValidateClusters().GetValue() {
		t.Error("validate_clusters is not set")
	}
	if !slices.Equal(rc.GetRequestHeadersToRemove(), []string{filterconfig.DefaultMarkerHeader}) {
		t.Errorf("route config removes %v; want only the marker (never x-tenant-id, which upstreams need)", rc.GetRequestHeadersToRemove())
	}
	routes := rc.GetVirtualHosts()[0].GetRoutes()
	last, def := routes[len(routes)-1], routes[len(routes)-2]
	if last.GetName() != routeFilterInactive || last.GetDirectResponse().GetStatus() != 503 || len(last.GetMatch().GetHeaders()) != 0 {
		t.Errorf("last route %v, want a 503 for every request the filter did not mark", last)
	}
	if last.GetResponseHeadersToAdd()[0].GetHeader().GetKey() != "retry-after" {
		t.Error("the fail-closed 503 carries no Retry-After")
	}
	if def.GetRoute().GetCluster() != ClusterV1 || !requiresMarker(def.GetMatch()) {
		t.Errorf("default route %v, want ingest-v1 for marked requests", def)
	}
	for _, r := range routes {
		reachesV2 := r.GetRoute().GetCluster() == ClusterV2 || len(r.GetRoute().GetRequestMirrorPolicies()) > 0 || r.GetRoute().GetWeightedClusters() != nil
		if reachesV2 && !requiresMarker(r.GetMatch()) {
			t.Errorf("route %q reaches ingest-v2 without the marker", r.GetName())
		}
	}
}

func TestListenerStripsInternalHeadersAndTakesCertFromSDS(t *testing.T) {
	cfg := testConfig()
	cfg.ListenerPort = 9443
	snap := mustBuild(t, cfg, Input{State: stateWith(t, map[string]string{"acme": "legacy"}), Cert: testCert(), Now: testNow()})
	lis := snap.GetResources(resource.ListenerType)[ListenerName].(*listener.Listener)
	if p := lis.GetAddress().GetSocketAddress().GetPortValue(); p != 9443 {
		t.Errorf("port %d, want 9443", p)
	}
	if b := lis.GetPerConnectionBufferLimitBytes().GetValue(); b != 8<<20 {
		t.Errorf("per_connection_buffer_limit_bytes %d, want the 8 MiB body limit", b)
	}
	m, tc := hcmOf(t, snap)
	sds := tc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs()
	if len(sds) != 1 || sds[0].GetName() != SecretName || sds[0].GetSdsConfig().GetAds() == nil {
		t.Errorf("TLS certificate from %v, want secret %q over ADS", sds, SecretName)
	}
	if len(tc.GetCommonTlsContext().GetTlsCertificates()) != 0 {
		t.Error("the certificate is inline in the listener")
	}
	if names := []string{m.GetHttpFilters()[0].GetName(), m.GetHttpFilters()[1].GetName()}; names[0] != FilterConfigName || names[1] != "envoy.filters.http.router" {
		t.Errorf("http filters %v, want the edge filter then router", names)
	}
	d := m.GetHttpFilters()[0].GetConfigDiscovery()
	if d.GetConfigSource().GetAds() == nil || !slices.Equal(d.GetTypeUrls(), []string{GolangFilterTypeURL}) || d.GetDefaultConfig() != nil {
		t.Errorf("the edge filter's config_discovery %v, want the golang filter's type over ADS without a default", d)
	}
	if m.GetRds().GetRouteConfigName() != RouteConfigName {
		t.Errorf("RDS name %q", m.GetRds().GetRouteConfigName())
	}
}

func TestFilterConfigHoldsQuotasAndActiveKeysOnly(t *testing.T) {
	st := stateWith(t, map[string]string{"acme": "legacy"})
	past, future := testNow().Add(-time.Second), testNow().Add(time.Hour)
	st.Tenants[0].Keys = append(st.Tenants[0].Keys,
		apiKey("gone", "ik_acme", "gone", &past),
		apiKey("now", "ik_acme", "now", ptr(testNow())),
		apiKey("later", "ik_old", "later", &future))
	st.Tenants[0].Quotas = registry.Quotas{EventsPerSecond: 5, BytesPerSecond: 6, BurstEvents: 7, BurstBytes: 8}
	fc := filterConfigOf(t, mustBuild(t, testConfig(), Input{State: st, Cert: testCert(), Now: testNow()}))
	if q := fc.Tenants[0].Quotas; q != (filterconfig.Quotas{EventsPerSecond: 5, BytesPerSecond: 6, BurstEvents: 7, BurstBytes: 8}) {
		t.Errorf("quotas %+v", q)
	}
	var ids []string
	for _, p := range []string{"ik_acme", "ik_old"} {
		for _, k := range fc.Keys[p] {
			ids = append(ids, k.ID)
		}
	}
	if !slices.Equal(ids, []string{"acme-k1", "later"}) {
		t.Errorf("keys %v, want acme-k1 and later (revoked keys left out)", ids)
	}
	if k := fc.Keys["ik_old"][0]; k.NotAfter == nil || !k.NotAfter.Equal(future) {
		t.Errorf("rotating key not_after %v, want %v", k.NotAfter, future)
	}
	if !fc.Keys["ik_acme"][0].Matches("secret-acme") {
		t.Error("the key hash does not match its secret")
	}
}

func TestBuildRejectsBadState(t *testing.T) {
	bad := func(f func(*registry.State)) registry.State {
		st := stateWith(t, map[string]string{"acme": "legacy"})
		f(&st)
		return st
	}
	for name, st := range map[string]registry.State{
		"bad tenant id":  bad(func(s *registry.State) { s.Tenants[0].ID = "Bad Id" }),
		"short hash":     bad(func(s *registry.State) { s.Tenants[0].Keys[0].Hash = []byte("short") }),
		"duplicate":      bad(func(s *registry.State) { s.Tenants = append(s.Tenants, s.Tenants[0]) }),
		"canary 0":       bad(func(s *registry.State) { s.Tenants[0].Stage = registry.Stage{Kind: registry.StageCanary} }),
		"unknown stage":  bad(func(s *registry.State) { s.Tenants[0].Stage = registry.Stage{Kind: "blue"} }),
		"negative quota": bad(func(s *registry.State) { s.Tenants[0].Quotas.BurstBytes = -1 }),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Build(testConfig(), Input{State: st, Cert: testCert(), Now: testNow()}, "1"); err == nil {
				t.Fatal("Build accepted a bad state")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
