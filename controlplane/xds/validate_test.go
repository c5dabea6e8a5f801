package xds

import (
	"encoding/base64"
	"strings"
	"testing"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// mutated builds the all-stages resources, lets f change them, and returns the snapshot.
func mutated(t *testing.T, f func(res map[resource.Type][]types.Resource)) *cache.Snapshot {
	t.Helper()
	res, err := BuildResources(testConfig(), Input{State: goldenCases(t)["all-stages"], Cert: testCert(), Now: testNow()})
	if err != nil {
		t.Fatal(err)
	}
	f(res)
	snap, err := cache.NewSnapshot("1", res)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// editHCM unpacks the listener's connection manager, lets f change it and packs it again.
func editHCM(t *testing.T, res map[resource.Type][]types.Resource, f func(*hcm.HttpConnectionManager)) {
	t.Helper()
	lis := res[resource.ListenerType][0].(*listener.Listener)
	filter := lis.GetFilterChains()[0].GetFilters()[0]
	m := &hcm.HttpConnectionManager{}
	if err := filter.GetTypedConfig().UnmarshalTo(m); err != nil {
		t.Fatal(err)
	}
	f(m)
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	filter.ConfigType = &listener.Filter_TypedConfig{TypedConfig: a}
}

// editGolang unpacks the golang filter config inside the edge filter's ECDS resource, lets f
// change it and packs it again.
func editGolang(t *testing.T, res map[resource.Type][]types.Resource, f func(*golang.Config)) {
	t.Helper()
	ec := res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig)
	g := &golang.Config{}
	if err := ec.GetTypedConfig().UnmarshalTo(g); err != nil {
		t.Fatal(err)
	}
	f(g)
	a, err := anypb.New(g)
	if err != nil {
		t.Fatal(err)
	}
	ec.TypedConfig = a
}

// editDiscovery lets f change the edge filter's config_discovery in the listener.
func editDiscovery(t *testing.T, res map[resource.Type][]types.Resource, f func(*core.ExtensionConfigSource)) {
	t.Helper()
	editHCM(t, res, func(m *hcm.HttpConnectionManager) { f(m.GetHttpFilters()[0].GetConfigDiscovery()) })
}

func TestValidateCatchesAnErrorNestedInsideAnAny(t *testing.T) {
	snap := mutated(t, func(res map[resource.Type][]types.Resource) {
		editHCM(t, res, func(m *hcm.HttpConnectionManager) { m.StatPrefix = "" })
	})
	// What go-control-plane checks passes: the error is inside an Any.
	if err := snap.Consistent(); err != nil {
		t.Fatalf("Consistent: %v", err)
	}
	lis := snap.GetResources(resource.ListenerType)[ListenerName].(*listener.Listener)
	if err := lis.ValidateAll(); err != nil {
		t.Fatalf("the listener's own ValidateAll already fails, the test proves nothing: %v", err)
	}
	err := Validate(snap)
	if err == nil || !strings.Contains(err.Error(), "StatPrefix") ||
		!strings.Contains(err.Error(), "typed_config(envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager)") {
		t.Fatalf("Validate = %v, want the empty stat_prefix inside the listener's HCM with its path", err)
	}
}

func TestValidateCatchesUnreferencedSecret(t *testing.T) {
	snap := mutated(t, func(res map[resource.Type][]types.Resource) {
		res[resource.SecretType] = append(res[resource.SecretType], makeSecret("orphan", testCert()))
	})
	err := Validate(snap)
	if err == nil || !strings.Contains(err.Error(), `secret "orphan" is not referenced`) {
		t.Fatalf("Validate = %v, want the unreferenced secret", err)
	}
}

func TestValidateCatchesBrokenSnapshots(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, res map[resource.Type][]types.Resource)
		want   string
	}{
		{"missing secret", func(t *testing.T, res map[resource.Type][]types.Resource) {
			res[resource.SecretType] = nil
		}, `secret "ingest-edge-tls" is referenced by listener "ingest-edge-https"`},
		{"route to unknown cluster", func(t *testing.T, res map[resource.Type][]types.Resource) {
			rc := res[resource.RouteType][0].(*route.RouteConfiguration)
			rc.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &route.RouteAction_Cluster{Cluster: "ingest-v3"}
		}, `cluster "ingest-v3" is used by route configuration "ingest-edge"`},
		{"validate_clusters off", func(t *testing.T, res map[resource.Type][]types.Resource) {
			res[resource.RouteType][0].(*route.RouteConfiguration).ValidateClusters = wrapperspb.Bool(false)
		}, "validate_clusters must be true"},
		{"v2 reachable without the marker", func(t *testing.T, res map[resource.Type][]types.Resource) {
			rc := res[resource.RouteType][0].(*route.RouteConfiguration)
			for _, r := range rc.VirtualHosts[0].Routes {
				if r.GetName() == "tenant:delta" {
					r.Match.Headers = r.Match.Headers[:1] // only x-tenant-id, which a client could send
				}
			}
		}, "reaches ingest-v2 without requiring x-ingest-edge: 1"},
		{"mirror to v2 without the marker", func(t *testing.T, res map[resource.Type][]types.Resource) {
			rc := res[resource.RouteType][0].(*route.RouteConfiguration)
			routes := rc.VirtualHosts[0].Routes
			routes[len(routes)-1].Action = &route.Route_Route{Route: &route.RouteAction{
				ClusterSpecifier:      &route.RouteAction_Cluster{Cluster: ClusterV1},
				RequestMirrorPolicies: []*route.RouteAction_RequestMirrorPolicy{{Cluster: ClusterV2}},
			}}
		}, `"filter-inactive-fail-closed"`},
		{"plugin name mismatch", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editGolang(t, res, func(g *golang.Config) { g.PluginName = "ingest" })
		}, `plugin_name "ingest", want "ingest-edge"`},
		{"filter config the filter rejects", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editGolang(t, res, func(g *golang.Config) { g.PluginConfig = shortenFirstHash(t, g.GetPluginConfig()) })
		}, "the edge filter rejects it: cannot parse edge filter config: keys[\"ik_acme\"][0].hash has 16 bytes"},
		{"golang filter after the router", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editHCM(t, res, func(m *hcm.HttpConnectionManager) {
				m.HttpFilters[0], m.HttpFilters[1] = m.HttpFilters[1], m.HttpFilters[0]
			})
		}, "must run before the router"},
		{"no early header stripping", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editHCM(t, res, func(m *hcm.HttpConnectionManager) { m.EarlyHeaderMutationExtensions = nil })
		}, `do not remove client copies of "x-tenant-id" before routing`},
		{"no edge filter configuration over ECDS", func(t *testing.T, res map[resource.Type][]types.Resource) {
			res[resource.ExtensionConfigType] = nil
		}, `extension config "ingest-edge-filter" is asked for by listener "ingest-edge-https"`},
		{"extension config nobody asks for", func(t *testing.T, res map[resource.Type][]types.Resource) {
			res[resource.ExtensionConfigType] = append(res[resource.ExtensionConfigType],
				&core.TypedExtensionConfig{Name: "orphan", TypedConfig: res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig).GetTypedConfig()})
		}, `extension config "orphan" is not asked for`},
		{"extension config of another type", func(t *testing.T, res map[resource.Type][]types.Resource) {
			a, err := anypb.New(&router.Router{})
			if err != nil {
				t.Fatal(err)
			}
			res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig).TypedConfig = a
		}, `holds a "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", which`},
		{"config discovery with a default", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editDiscovery(t, res, func(d *core.ExtensionConfigSource) {
				d.DefaultConfig = res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig).GetTypedConfig()
			})
		}, "config_discovery must have no default configuration"},
		{"config discovery of other types", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editDiscovery(t, res, func(d *core.ExtensionConfigSource) {
				d.TypeUrls = append(d.TypeUrls, "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router")
			})
		}, "the edge filter is the only filter configured over ECDS"},
		{"config discovery not over ADS", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editDiscovery(t, res, func(d *core.ExtensionConfigSource) {
				d.ConfigSource = &core.ConfigSource{ConfigSourceSpecifier: &core.ConfigSource_PathConfigSource{
					PathConfigSource: &core.PathConfigSource{Path: "/etc/filter.yaml"}}}
			})
		}, "config_discovery must come over ADS"},
		{"Any of an unknown type", func(t *testing.T, res map[resource.Type][]types.Resource) {
			editHCM(t, res, func(m *hcm.HttpConnectionManager) {
				m.HttpFilters[0].ConfigType = &hcm.HttpFilter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/not.a.Type"}}
			})
		}, `cannot unpack Any of type "type.googleapis.com/not.a.Type"`},
		{"OTLP/gRPC cluster over HTTP/1.1", func(t *testing.T, res map[resource.Type][]types.Resource) {
			for _, r := range res[resource.ClusterType] {
				if c := r.(*cluster.Cluster); c.GetName() == ClusterV2GRPC {
					a, err := anypb.New(&upstreamhttp.HttpProtocolOptions{
						UpstreamProtocolOptions: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
							ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &core.Http1ProtocolOptions{}},
						}},
					})
					if err != nil {
						t.Fatal(err)
					}
					c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = a
				}
			}
		}, `cluster "ingest-v2-grpc" takes OTLP/gRPC calls`},
		{"OTLP/gRPC route to an HTTP/1.1 cluster", func(t *testing.T, res map[resource.Type][]types.Resource) {
			rc := res[resource.RouteType][0].(*route.RouteConfiguration)
			rc.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &route.RouteAction_Cluster{Cluster: ClusterV2}
		}, `cluster "ingest-v2" takes OTLP/gRPC calls`},
		{"OTLP/gRPC route after the tenant routes", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routes := res[resource.RouteType][0].(*route.RouteConfiguration).VirtualHosts[0].Routes
			routes[0], routes[1] = routes[1], routes[0]
		}, "the OTLP/gRPC route must be the first"},
		{"no OTLP/gRPC route", func(t *testing.T, res map[resource.Type][]types.Resource) {
			vh := res[resource.RouteType][0].(*route.RouteConfiguration).VirtualHosts[0]
			vh.Routes = vh.Routes[1:]
		}, "no route for OTLP/gRPC"},
		{"OTLP/gRPC route without the marker", func(t *testing.T, res map[resource.Type][]types.Resource) {
			r := res[resource.RouteType][0].(*route.RouteConfiguration).VirtualHosts[0].Routes[0]
			r.Match.Headers = nil
		}, "reaches ingest-v2-grpc without requiring x-ingest-edge: 1"},
		{"listener without h2", func(t *testing.T, res map[resource.Type][]types.Resource) {
			l := res[resource.ListenerType][0].(*listener.Listener)
			ts := l.FilterChains[0].GetTransportSocket()
			dt := &tls.DownstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(dt); err != nil {
				t.Fatal(err)
			}
			dt.CommonTlsContext.AlpnProtocols = []string{"http/1.1"}
			a, err := anypb.New(dt)
			if err != nil {
				t.Fatal(err)
			}
			ts.ConfigType = &core.TransportSocket_TypedConfig{TypedConfig: a}
		}, "alpn_protocols must offer h2"},
		{"unknown fields", func(t *testing.T, res map[resource.Type][]types.Resource) {
			rc := res[resource.RouteType][0].(*route.RouteConfiguration)
			rc.ProtoReflect().SetUnknown([]byte{0xf8, 0xff, 0x03, 0x01}) // field 65535, varint
		}, "has unknown fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(mutated(t, func(res map[resource.Type][]types.Resource) { tt.mutate(t, res) }))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

// shortenFirstHash rewrites the first key hash of ik_acme inside the TypedStruct to 16 bytes,
// as a control plane that skipped validation might send it.
func shortenFirstHash(t *testing.T, a *anypb.Any) *anypb.Any {
	t.Helper()
	ts := &xdstype.TypedStruct{}
	if err := a.UnmarshalTo(ts); err != nil {
		t.Fatal(err)
	}
	key := ts.GetValue().GetFields()["keys"].GetStructValue().GetFields()["ik_acme"].GetListValue().GetValues()[0].GetStructValue()
	key.Fields["hash"] = structpb.NewStringValue(base64.StdEncoding.EncodeToString(make([]byte, 16)))
	out, err := anypb.New(ts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateRejectsNilAndForeignTypes(t *testing.T) {
	if err := Validate(nil); err == nil {
		t.Error("Validate(nil) passed")
	}
	snap := mutated(t, func(res map[resource.Type][]types.Resource) {})
	snap.Resources[types.Runtime] = cache.NewResources("1", nil)
	if err := Validate(snap); err != nil {
		t.Errorf("an empty runtime slot fails: %v", err)
	}
}
