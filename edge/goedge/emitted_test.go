package goedge

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
)

// goldenSnapshots returns the control plane's golden snapshots
// (controlplane/xds/testdata/golden/*.binpb), each one DiscoveryResponse holding every
// resource of a snapshot, by file name.
func goldenSnapshots(t *testing.T) map[string]*discovery.DiscoveryResponse {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "controlplane", "xds", "testdata", "golden", "*.binpb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden snapshots found")
	}
	out := map[string]*discovery.DiscoveryResponse{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		resp := &discovery.DiscoveryResponse{}
		if err := proto.Unmarshal(b, resp); err != nil {
			t.Fatalf("cannot decode %s: %v", f, err)
		}
		out[filepath.Base(f)] = resp
	}
	return out
}

// TestEveryGoldenSnapshotIsAccepted feeds every golden snapshot of the control plane to the
// Go edge's resource conversion, type by type in ADS order, and checks that it is accepted
// and forms a complete configuration. The golden secret holds placeholder PEM blocks: its
// inline bytes are replaced by a real certificate, every other field is the golden's.
func TestEveryGoldenSnapshotIsAccepted(t *testing.T) {
	certPEM, keyPEM := selfSigned(t, "edge.example")
	for name, resp := range goldenSnapshots(t) {
		t.Run(name, func(t *testing.T) {
			byType := map[string][]*anypb.Any{}
			for _, a := range resp.GetResources() {
				if a.GetTypeUrl() == resource.SecretType {
					s := &tlsv3.Secret{}
					if err := a.UnmarshalTo(s); err != nil {
						t.Fatal(err)
					}
					tc := s.GetTlsCertificate()
					tc.GetCertificateChain().Specifier = &core.DataSource_InlineBytes{InlineBytes: certPEM}
					tc.GetPrivateKey().Specifier = &core.DataSource_InlineBytes{InlineBytes: keyPEM}
					a = mustAny(t, s)
				}
				byType[a.GetTypeUrl()] = append(byType[a.GetTypeUrl()], a)
			}
			e, _ := newTestEdge(t, Config{})
			for _, typ := range xdsTypes {
				if len(byType[typ]) == 0 {
					t.Fatalf("the golden snapshot has no %s resource", shortType(typ))
				}
				if _, err := e.store.apply(typ, "golden", byType[typ]); err != nil {
					t.Fatalf("the Go edge refuses the control plane's %s resources: %v", shortType(typ), err)
				}
			}
			e.reassemble()
			s := e.snap.Load()
			if s == nil {
				_, why := e.store.complete(false)
				t.Fatalf("no complete configuration: %s", why)
			}
			if s.filter == nil || len(s.routes.routes) < 3 || len(s.clusters) != 3 {
				t.Errorf("configuration: filter %v, %d routes, %d clusters", s.filter != nil, len(s.routes.routes), len(s.clusters))
			}
		})
	}
}

// TestEveryEmittedFieldIsInAGoldenSnapshot pins the Go edge's subset to the control plane's
// golden snapshots the other way: every message type and field the edge accepts
// (emittedFields) is set in at least one of them, so the edge carries no code for a field
// the control plane does not emit.
func TestEveryEmittedFieldIsInAGoldenSnapshot(t *testing.T) {
	seen := map[protoreflect.FullName]map[protoreflect.Name]bool{}
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if a, ok := m.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				t.Fatalf("cannot unpack %q: %v", a.GetTypeUrl(), err)
			}
			m = inner.ProtoReflect()
		}
		d := m.Descriptor()
		if d.ParentFile().Package() == "google.protobuf" {
			return
		}
		if seen[d.FullName()] == nil {
			seen[d.FullName()] = map[protoreflect.Name]bool{}
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			seen[d.FullName()][fd.Name()] = true
			if fd.Message() == nil || opaqueFields[fd.FullName()] {
				return true
			}
			switch {
			case fd.IsList():
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message())
				}
			case fd.IsMap():
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message())
					return true
				})
			default:
				walk(v.Message())
			}
			return true
		})
	}
	for _, resp := range goldenSnapshots(t) {
		for _, a := range resp.GetResources() {
			walk(a.ProtoReflect())
		}
	}
	for msg, fields := range emittedFields {
		if seen[msg] == nil {
			t.Errorf("emittedFields lists %s, which no golden snapshot holds", msg)
			continue
		}
		for f := range fields {
			if !seen[msg][f] {
				t.Errorf("emittedFields lists %s.%s, which no golden snapshot sets", msg, f)
			}
		}
	}
}

// refusalCase changes one thing in the control plane's resources that the Go edge does not
// implement, and names what the refusal must say.
type refusalCase struct {
	name   string
	typ    string
	change func(t *testing.T, res map[resource.Type][]types.Resource)
	want   []string // in the error, besides the resource's name
}

func routeConfigOf(res map[resource.Type][]types.Resource) *routev3.RouteConfiguration {
	return res[resource.RouteType][0].(*routev3.RouteConfiguration)
}

func routeNamed(t *testing.T, res map[resource.Type][]types.Resource, name string) *routev3.Route {
	t.Helper()
	for _, r := range routeConfigOf(res).GetVirtualHosts()[0].GetRoutes() {
		if r.GetName() == name {
			return r
		}
	}
	t.Fatalf("no route %q", name)
	return nil
}

func clusterOf(res map[resource.Type][]types.Resource) *cluster.Cluster {
	return res[resource.ClusterType][0].(*cluster.Cluster)
}

func endpointsOf(res map[resource.Type][]types.Resource) *endpoint.ClusterLoadAssignment {
	return res[resource.EndpointType][0].(*endpoint.ClusterLoadAssignment)
}

func secretOf(res map[resource.Type][]types.Resource) *tlsv3.Secret {
	return res[resource.SecretType][0].(*tlsv3.Secret)
}

// changeHCM changes the listener's HTTP connection manager.
func changeHCM(t *testing.T, res map[resource.Type][]types.Resource, change func(*hcm.HttpConnectionManager)) {
	t.Helper()
	nf := res[resource.ListenerType][0].(*listener.Listener).GetFilterChains()[0].GetFilters()[0]
	h := &hcm.HttpConnectionManager{}
	if err := nf.GetTypedConfig().UnmarshalTo(h); err != nil {
		t.Fatal(err)
	}
	change(h)
	nf.ConfigType = &listener.Filter_TypedConfig{TypedConfig: mustAny(t, h)}
}

// changeTLS changes the listener's DownstreamTlsContext.
func changeTLS(t *testing.T, res map[resource.Type][]types.Resource, change func(*tlsv3.DownstreamTlsContext)) {
	t.Helper()
	ts := res[resource.ListenerType][0].(*listener.Listener).GetFilterChains()[0].GetTransportSocket()
	d := &tlsv3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(d); err != nil {
		t.Fatal(err)
	}
	change(d)
	ts.ConfigType = &core.TransportSocket_TypedConfig{TypedConfig: mustAny(t, d)}
}

func tenantHeader(t *testing.T, res map[resource.Type][]types.Resource) *routev3.HeaderMatcher {
	t.Helper()
	return routeNamed(t, res, "tenant:acme").GetMatch().GetHeaders()[0]
}

// refusalCases are features the Go edge implemented before it was cut down to what the
// control plane emits, then a few it never implemented (some of which it used to ignore
// silently: decorator, codec_type, dns_lookup_family, path_with_escaped_slashes_action).
func refusalCases() []refusalCase {
	rds, lds, cds, eds, sds := resource.RouteType, resource.ListenerType, resource.ClusterType, resource.EndpointType, resource.SecretType
	ecds := resource.ExtensionConfigType
	rc := func(name string, change func(t *testing.T, res map[resource.Type][]types.Resource), want ...string) refusalCase {
		return refusalCase{name: name, typ: rds, change: change, want: want}
	}
	retry := func(res map[resource.Type][]types.Resource) *routev3.RetryPolicy {
		return routeConfigOf(res).GetVirtualHosts()[0].GetRetryPolicy()
	}
	cases := []refusalCase{
		// Header matchers: the control plane emits string_match exact only.
		rc("header prefix match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).GetStringMatch().MatchPattern = &matcher.StringMatcher_Prefix{Prefix: "ac"}
		}, `routes["tenant:acme"].match.headers["x-tenant-id"].string_match: prefix is not supported by the Go edge`),
		rc("header suffix match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).GetStringMatch().MatchPattern = &matcher.StringMatcher_Suffix{Suffix: "me"}
		}, "string_match: suffix is not supported"),
		rc("header contains match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).GetStringMatch().MatchPattern = &matcher.StringMatcher_Contains{Contains: "cm"}
		}, "string_match: contains is not supported"),
		rc("header ignore_case", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).GetStringMatch().IgnoreCase = true
		}, "ignore_case is not supported"),
		rc("header present_match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		}, "present_match is not supported", "the control plane sets only name, string_match of a HeaderMatcher"),
		rc("header deprecated exact_match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			//lint:ignore SA1019 the deprecated field is what this case sends
			tenantHeader(t, res).HeaderMatchSpecifier = &routev3.HeaderMatcher_ExactMatch{ExactMatch: "acme"}
		}, "exact_match is not supported"),
		rc("header invert_match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).InvertMatch = true
		}, "invert_match is not supported"),
		rc("header treat_missing_header_as_empty", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).TreatMissingHeaderAsEmpty = true
		}, "treat_missing_header_as_empty is not supported"),
		rc("pseudo-header matcher", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).Name = ":method"
		}, `matching on ":method" is not supported`),
		rc("header safe_regex_match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			//lint:ignore SA1019 the deprecated field is what this case sends
			tenantHeader(t, res).HeaderMatchSpecifier = &routev3.HeaderMatcher_SafeRegexMatch{SafeRegexMatch: &matcher.RegexMatcher{Regex: "ac.*"}}
		}, `routes["tenant:acme"].match.headers["x-tenant-id"]: safe_regex_match is not supported by the Go edge`),
		rc("header range_match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			tenantHeader(t, res).HeaderMatchSpecifier = &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: 1, End: 2}}
		}, "range_match is not supported"),
		// Path matching, virtual hosts.
		rc("path match", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:acme").GetMatch().PathSpecifier = &routev3.RouteMatch_Path{Path: "/v1/events"}
		}, "match: path is not supported"),
		rc("case_sensitive", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:acme").GetMatch().CaseSensitive = wrapperspb.Bool(false)
		}, "case_sensitive is not supported"),
		rc("a domain other than *", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeConfigOf(res).GetVirtualHosts()[0].Domains = []string{"edge.example"}
		}, `virtual_hosts["ingest"]: domains ["edge.example"] are not supported`),
		rc("two virtual hosts", func(t *testing.T, res map[resource.Type][]types.Resource) {
			r := routeConfigOf(res)
			r.VirtualHosts = append(r.VirtualHosts, &routev3.VirtualHost{Name: "other", Domains: []string{"other.example"}})
		}, "exactly one virtual host"),
		rc("ignore_port_in_host_matching", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeConfigOf(res).IgnorePortInHostMatching = true
		}, "ignore_port_in_host_matching is not supported"),
		// Retry policies: the control plane emits one, on the virtual host.
		rc("route-level retry_policy", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:acme").GetRoute().RetryPolicy = proto.Clone(retry(res)).(*routev3.RetryPolicy)
		}, `routes["tenant:acme"].route: retry_policy is not supported`),
		rc("retry_on 5xx", func(t *testing.T, res map[resource.Type][]types.Resource) {
			retry(res).RetryOn = "5xx,connect-failure"
		}, `retry_policy: retry_on "5xx" is not supported`),
		rc("retry_on reset", func(t *testing.T, res map[resource.Type][]types.Resource) {
			retry(res).RetryOn = "retriable-status-codes,reset"
		}, `retry_on "reset" is not supported`),
		rc("retry_on gateway-error and retriable-4xx", func(t *testing.T, res map[resource.Type][]types.Resource) {
			retry(res).RetryOn = "gateway-error,retriable-4xx"
		}, `retry_on "gateway-error" is not supported`, `retry_on "retriable-4xx" is not supported`),
		rc("per_try_timeout", func(t *testing.T, res map[resource.Type][]types.Resource) {
			retry(res).PerTryTimeout = durationpb.New(1e9)
		}, "retry_policy: per_try_timeout is not supported"),
		rc("reset header UNIX_TIMESTAMP", func(t *testing.T, res map[resource.Type][]types.Resource) {
			retry(res).GetRateLimitedRetryBackOff().GetResetHeaders()[0].Format = routev3.RetryPolicy_UNIX_TIMESTAMP
		}, `reset_headers["retry-after"]: format is not supported`),
		rc("another retry host predicate", func(t *testing.T, res map[resource.Type][]types.Resource) {
			retry(res).GetRetryHostPredicate()[0].Name = "envoy.retry_host_predicates.omit_canary_hosts"
		}, `retry_host_predicate["envoy.retry_host_predicates.omit_canary_hosts"] is not supported`),
		rc("retriable_headers", func(t *testing.T, res map[resource.Type][]types.Resource) {
			retry(res).RetriableHeaders = []*routev3.HeaderMatcher{{Name: "x-retry", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}}
		}, "retriable_headers is not supported"),
		// Mirrors.
		rc("disable_shadow_host_suffix_append", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:beta").GetRoute().GetRequestMirrorPolicies()[0].DisableShadowHostSuffixAppend = true
		}, `routes["tenant:beta"].route.request_mirror_policies["ingest-v2"]: disable_shadow_host_suffix_append is not supported`),
		rc("mirror fraction per ten thousand", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:beta").GetRoute().GetRequestMirrorPolicies()[0].GetRuntimeFraction().GetDefaultValue().Denominator = typev3.FractionalPercent_TEN_THOUSAND
		}, "default_value: denominator is not supported"),
		// Header changes: the control plane sets request headers at route and weighted
		// cluster level, response headers at route level, removes at route configuration
		// level, always with OVERWRITE_IF_EXISTS_OR_ADD.
		rc("virtual host response_headers_to_add", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeConfigOf(res).GetVirtualHosts()[0].ResponseHeadersToAdd = []*core.HeaderValueOption{{Header: &core.HeaderValue{Key: "x-a", Value: "1"}, AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}}
		}, `virtual_hosts["ingest"]: response_headers_to_add is not supported`),
		rc("route request_headers_to_remove", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:acme").RequestHeadersToRemove = []string{"x-a"}
		}, `routes["tenant:acme"]: request_headers_to_remove is not supported`),
		rc("weighted cluster response_headers_to_add", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:gamma").GetRoute().GetWeightedClusters().GetClusters()[0].ResponseHeadersToAdd = []*core.HeaderValueOption{{Header: &core.HeaderValue{Key: "x-a", Value: "1"}, AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}}
		}, `clusters["ingest-v2"]: response_headers_to_add is not supported`),
		rc("append_action APPEND_IF_EXISTS_OR_ADD", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:delta").GetRequestHeadersToAdd()[0].AppendAction = core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}, `routes["tenant:delta"]: request_headers_to_add: header "x-ingest-version": append_action APPEND_IF_EXISTS_OR_ADD is not supported`),
		rc("append_action ADD_IF_ABSENT", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:delta").GetRequestHeadersToAdd()[0].AppendAction = core.HeaderValueOption_ADD_IF_ABSENT
		}, "append_action ADD_IF_ABSENT is not supported"),
		rc("keep_empty_value", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:delta").GetRequestHeadersToAdd()[0].KeepEmptyValue = true
		}, "keep_empty_value is not supported"),
		rc("deprecated append", func(t *testing.T, res map[resource.Type][]types.Resource) {
			//lint:ignore SA1019 the deprecated field is what this case sends
			routeNamed(t, res, "tenant:delta").GetRequestHeadersToAdd()[0].Append = wrapperspb.Bool(false)
		}, "append is not supported"),
		// Route-level limits and direct responses.
		rc("route per_request_buffer_limit_bytes", func(t *testing.T, res map[resource.Type][]types.Resource) {
			//lint:ignore SA1019 the Envoy 1.33 field
			routeNamed(t, res, "tenant:acme").PerRequestBufferLimitBytes = wrapperspb.UInt32(1024)
		}, `routes["tenant:acme"]: per_request_buffer_limit_bytes is not supported`),
		rc("max_direct_response_body_size_bytes", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeConfigOf(res).MaxDirectResponseBodySizeBytes = wrapperspb.UInt32(1 << 16)
		}, "max_direct_response_body_size_bytes is not supported"),
		rc("direct response body from a file", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "filter-inactive-fail-closed").GetDirectResponse().Body = &core.DataSource{Specifier: &core.DataSource_Filename{Filename: "/etc/passwd"}}
		}, `routes["filter-inactive-fail-closed"].direct_response.body: filename is not supported`),
		// Never implemented.
		rc("query_parameters", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:acme").GetMatch().QueryParameters = []*routev3.QueryParameterMatcher{{Name: "q"}}
		}, "match: query_parameters is not supported"),
		rc("prefix_rewrite", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:acme").GetRoute().PrefixRewrite = "/v2/"
		}, "route: prefix_rewrite is not supported"),
		rc("hedge_policy", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeConfigOf(res).GetVirtualHosts()[0].HedgePolicy = &routev3.HedgePolicy{HedgeOnPerTryTimeout: true}
		}, "hedge_policy is not supported"),
		rc("decorator (once ignored silently)", func(t *testing.T, res map[resource.Type][]types.Resource) {
			routeNamed(t, res, "tenant:acme").Decorator = &routev3.Decorator{Operation: "ingest"}
		}, `routes["tenant:acme"]: decorator is not supported`),

		// Listener.
		{name: "headers_with_underscores_action REJECT_REQUEST", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) {
				h.GetCommonHttpProtocolOptions().HeadersWithUnderscoresAction = core.HttpProtocolOptions_REJECT_REQUEST
			})
		}, want: []string{"headers_with_underscores_action REJECT_REQUEST is not supported"}},
		{name: "skip_xff_append", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.SkipXffAppend = true })
		}, want: []string{`filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config: skip_xff_append is not supported`}},
		{name: "preserve_external_request_id", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.PreserveExternalRequestId = true })
		}, want: []string{"preserve_external_request_id is not supported"}},
		{name: "generate_request_id", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.GenerateRequestId = wrapperspb.Bool(false) })
		}, want: []string{"generate_request_id is not supported"}},
		{name: "use_remote_address unset", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.UseRemoteAddress = nil })
		}, want: []string{"use_remote_address must be true"}},
		{name: "an optional http filter of another type", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) {
				h.HttpFilters = append([]*hcm.HttpFilter{{Name: "envoy.filters.http.cors", IsOptional: true,
					ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &wrapperspb.StringValue{})}}}, h.HttpFilters...)
			})
		}, want: []string{`http_filters["envoy.filters.http.cors"]: is_optional is not supported`, `typed config of type "type.googleapis.com/google.protobuf.StringValue" is not supported`}},
		{name: "a disabled http filter", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.GetHttpFilters()[0].Disabled = true })
		}, want: []string{`http_filters["ingest-edge-filter"]: disabled is not supported`}},
		// The golang filter's configuration comes over ECDS only.
		{name: "the golang filter inline in the listener", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) {
				h.GetHttpFilters()[0].ConfigType = &hcm.HttpFilter_TypedConfig{
					TypedConfig: res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig).GetTypedConfig()}
			})
		}, want: []string{`http_filters["ingest-edge-filter"]: the Go edge takes the golang filter's configuration over ECDS only`}},
		{name: "config_discovery with a default config", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) {
				h.GetHttpFilters()[0].GetConfigDiscovery().DefaultConfig = res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig).GetTypedConfig()
			})
		}, want: []string{`http_filters["ingest-edge-filter"].config_discovery: default_config is not supported`}},
		{name: "config_discovery of another type", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) {
				h.GetHttpFilters()[0].GetConfigDiscovery().TypeUrls = []string{typeRouter}
			})
		}, want: []string{`config_discovery.type_urls ["type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"]: the Go edge takes only the golang filter's configuration over ECDS`}},
		{name: "an extension config of another type", typ: ecds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			res[resource.ExtensionConfigType][0].(*core.TypedExtensionConfig).TypedConfig = mustAny(t, &router.Router{})
		}, want: []string{`type "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" is not supported by the Go edge`}},
		{name: "inline tls_certificates", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeTLS(t, res, func(d *tlsv3.DownstreamTlsContext) {
				d.GetCommonTlsContext().TlsCertificates = []*tlsv3.TlsCertificate{proto.Clone(secretOf(res).GetTlsCertificate()).(*tlsv3.TlsCertificate)}
			})
		}, want: []string{"transport_socket.typed_config.common_tls_context: tls_certificates is not supported"}},
		{name: "TLS 1.3 minimum", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeTLS(t, res, func(d *tlsv3.DownstreamTlsContext) {
				d.GetCommonTlsContext().GetTlsParams().TlsMinimumProtocolVersion = tlsv3.TlsParameters_TLSv1_3
			})
		}, want: []string{"tls_minimum_protocol_version TLSv1_3 is not supported"}},
		{name: "mTLS", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeTLS(t, res, func(d *tlsv3.DownstreamTlsContext) { d.RequireClientCertificate = wrapperspb.Bool(true) })
		}, want: []string{"require_client_certificate is not supported"}},
		{name: "local_reply_config", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.LocalReplyConfig = &hcm.LocalReplyConfig{} })
		}, want: []string{"local_reply_config is not supported"}},
		{name: "xff_num_trusted_hops", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.XffNumTrustedHops = 1 })
		}, want: []string{"xff_num_trusted_hops is not supported"}},
		{name: "codec_type HTTP1 (once ignored silently)", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) { h.CodecType = hcm.HttpConnectionManager_HTTP1 })
		}, want: []string{"codec_type is not supported"}},
		{name: "path_with_escaped_slashes_action", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			changeHCM(t, res, func(h *hcm.HttpConnectionManager) {
				h.PathWithEscapedSlashesAction = hcm.HttpConnectionManager_UNESCAPE_AND_REDIRECT
			})
		}, want: []string{"path_with_escaped_slashes_action is not supported"}},
		{name: "use_original_dst", typ: lds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			res[resource.ListenerType][0].(*listener.Listener).UseOriginalDst = wrapperspb.Bool(true)
		}, want: []string{"use_original_dst is not supported"}},

		// Clusters.
		{name: "STATIC cluster", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			c := clusterOf(res)
			c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}
			c.EdsClusterConfig = nil
		}, want: []string{"type STATIC is not supported"}},
		{name: "STATIC cluster with a load_assignment", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			c := clusterOf(res)
			c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}
			c.LoadAssignment = proto.Clone(endpointsOf(res)).(*endpoint.ClusterLoadAssignment)
		}, want: []string{"load_assignment is not supported"}},
		{name: "lb_policy ROUND_ROBIN", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			clusterOf(res).LbPolicy = cluster.Cluster_ROUND_ROBIN
		}, want: []string{"lb_policy ROUND_ROBIN is not supported"}},
		{name: "lb_policy RANDOM", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			clusterOf(res).LbPolicy = cluster.Cluster_RANDOM
		}, want: []string{"lb_policy RANDOM is not supported"}},
		{name: "deprecated cluster common_http_protocol_options", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			//lint:ignore SA1019 the deprecated field is what this case sends
			clusterOf(res).CommonHttpProtocolOptions = &core.HttpProtocolOptions{IdleTimeout: durationpb.New(1e9)}
		}, want: []string{"common_http_protocol_options is not supported"}},
		{name: "HIGH priority circuit breakers", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			cb := clusterOf(res).GetCircuitBreakers()
			cb.Thresholds = append(cb.Thresholds, &cluster.CircuitBreakers_Thresholds{Priority: core.RoutingPriority_HIGH, MaxRequests: wrapperspb.UInt32(1)})
		}, want: []string{`thresholds[1]: priority is not supported`}},
		{name: "retry_budget", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			clusterOf(res).GetCircuitBreakers().GetThresholds()[0].RetryBudget = &cluster.CircuitBreakers_Thresholds_RetryBudget{}
		}, want: []string{"retry_budget is not supported"}},
		{name: "health_checks", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			clusterOf(res).HealthChecks = []*core.HealthCheck{{Timeout: durationpb.New(1e9), Interval: durationpb.New(1e9),
				HealthyThreshold: wrapperspb.UInt32(1), UnhealthyThreshold: wrapperspb.UInt32(1),
				HealthChecker: &core.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &core.HealthCheck_TcpHealthCheck{}}}}
		}, want: []string{"health_checks is not supported"}},
		{name: "upstream TLS", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			clusterOf(res).TransportSocket = &core.TransportSocket{Name: "envoy.transport_sockets.tls",
				ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.UpstreamTlsContext{})}}
		}, want: []string{"transport_socket is not supported"}},
		{name: "dns_lookup_family (once ignored silently)", typ: cds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			clusterOf(res).DnsLookupFamily = cluster.Cluster_V4_ONLY
		}, want: []string{"dns_lookup_family is not supported"}},

		// Endpoints.
		{name: "endpoint health_status", typ: eds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			endpointsOf(res).GetEndpoints()[0].GetLbEndpoints()[0].HealthStatus = core.HealthStatus_UNHEALTHY
		}, want: []string{"endpoints[0].lb_endpoints[0]: health_status is not supported"}},
		{name: "endpoint weight", typ: eds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			endpointsOf(res).GetEndpoints()[0].GetLbEndpoints()[0].LoadBalancingWeight = wrapperspb.UInt32(2)
		}, want: []string{"load_balancing_weight is not supported"}},
		{name: "locality priority", typ: eds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			endpointsOf(res).GetEndpoints()[0].Priority = 1
		}, want: []string{"endpoints[0]: priority is not supported"}},
		{name: "named port", typ: eds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			sa := endpointsOf(res).GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
			sa.PortSpecifier = &core.SocketAddress_NamedPort{NamedPort: "http"}
		}, want: []string{"socket_address: named_port is not supported"}},

		// Secrets.
		{name: "certificate from a file", typ: sds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			secretOf(res).GetTlsCertificate().CertificateChain = &core.DataSource{Specifier: &core.DataSource_Filename{Filename: "/etc/edge.crt"}}
		}, want: []string{"tls_certificate.certificate_chain: filename is not supported"}},
		{name: "key from an environment variable", typ: sds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			secretOf(res).GetTlsCertificate().PrivateKey = &core.DataSource{Specifier: &core.DataSource_EnvironmentVariable{EnvironmentVariable: "EDGE_KEY"}}
		}, want: []string{"tls_certificate.private_key: environment_variable is not supported"}},
		{name: "validation context secret", typ: sds, change: func(t *testing.T, res map[resource.Type][]types.Resource) {
			secretOf(res).Type = &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}
		}, want: []string{"validation_context is not supported"}},
	}
	return cases
}

// TestUnsupportedFeaturesAreRefusedWithTheFieldName changes one thing at a time in the
// control plane's resources (every stage): each update is refused with an error naming the
// resource and the field, and the last good configuration keeps serving.
func TestUnsupportedFeaturesAreRefusedWithTheFieldName(t *testing.T) {
	st, _ := testState(t, []registry.Endpoint{{Host: "127.0.0.1", Port: 9}}, []registry.Endpoint{{Host: "127.0.0.1", Port: 10}},
		tenantSpec{id: "acme", stage: "legacy", prefix: "aaaaaaaa"},
		tenantSpec{id: "beta", stage: "shadow", prefix: "aaaaaaab"},
		tenantSpec{id: "gamma", stage: "canary:25", prefix: "aaaaaaac"},
		tenantSpec{id: "delta", stage: "v2", prefix: "aaaaaaad"},
	)
	good := buildResources(t, st, nil)
	e, _ := newTestEdge(t, Config{})
	feed(t, e, good)
	before := e.snap.Load()
	resourceNames := map[string]string{
		resource.RouteType:           fmt.Sprintf("route configuration %q", xds.RouteConfigName),
		resource.ListenerType:        fmt.Sprintf("listener %q", xds.ListenerName),
		resource.ClusterType:         fmt.Sprintf("cluster %q", xds.ClusterV1),
		resource.EndpointType:        fmt.Sprintf("endpoints of %q", xds.ClusterV1),
		resource.SecretType:          fmt.Sprintf("secret %q", xds.SecretName),
		resource.ExtensionConfigType: fmt.Sprintf("extension config %q", xds.FilterConfigName),
	}
	names := map[string]bool{}
	for _, tc := range refusalCases() {
		if names[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			res := map[resource.Type][]types.Resource{}
			for typ, rs := range good {
				for _, r := range rs {
					res[typ] = append(res[typ], proto.Clone(r))
				}
			}
			tc.change(t, res)
			_, err := e.store.apply(tc.typ, "bad", anys(t, res[tc.typ]))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range append([]string{"cannot apply " + resourceNames[tc.typ]}, tc.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error lacks %q: %v", want, err)
				}
			}
			e.reassemble()
			if e.snap.Load() != before || e.store.types[tc.typ].version != "v1" {
				t.Fatal("a refused update changed the configuration")
			}
		})
	}
}

// TestCheckEmittedAcceptsTheControlPlanesResourcesForEveryStage runs the check alone over
// freshly built resources, so that a builder change that adds a field fails here with the
// field's name, next to the golden snapshot that pins it.
func TestCheckEmittedAcceptsTheControlPlanesResourcesForEveryStage(t *testing.T) {
	for _, stage := range []string{"legacy", "shadow", "canary:1", "canary:99", "v2"} {
		st, _ := testState(t, []registry.Endpoint{{Host: "127.0.0.1", Port: 9}}, nil, tenantSpec{id: "acme", stage: stage, prefix: "aaaaaaaa"})
		res := buildResources(t, st, nil)
		for _, typ := range slices.Sorted(maps.Keys(res)) {
			for _, r := range res[typ] {
				if err := checkEmitted(r); err != nil {
					t.Errorf("stage %s, %s: %v", stage, shortType(typ), err)
				}
			}
		}
	}
}
