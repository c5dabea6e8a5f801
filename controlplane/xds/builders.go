package xds

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	mutation "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlymutation "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	previoushosts "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/reason"
)

// Names of the resources the control plane serves. Every snapshot has exactly one listener,
// one route configuration, two clusters with their endpoints, one secret and one extension
// configuration (the edge filter's, over ECDS).
const (
	ListenerName = "ingest-edge-https"
	// FilterConfigName is the name of the ECDS resource (a TypedExtensionConfig) that holds the
	// edge filter's configuration, and the name of the listener's HTTP filter that asks for it
	// (with ECDS, Envoy requests the filter's name as the resource name).
	FilterConfigName = "ingest-edge-filter"
	RouteConfigName  = "ingest-edge"
	VirtualHostName  = "ingest"
	SecretName       = "ingest-edge-tls"
	ClusterV1        = "ingest-v1"
	ClusterV2        = "ingest-v2"
	// ClusterV2GRPC is ingest-v2 for OTLP/gRPC calls: the same endpoints (EDS service
	// ingest-v2), over h2c, since gRPC needs HTTP/2 end to end while the other clusters speak
	// HTTP/1.1 upstream.
	ClusterV2GRPC = "ingest-v2-grpc"
	// GRPCPathPrefix is the path prefix of OTLP/gRPC's methods
	// (/opentelemetry.proto.collector.<signal>.v1.<Service>/Export); no HTTP path starts with it.
	GRPCPathPrefix = "/opentelemetry.proto.collector."

	// GolangFilterTypeURL is the type URL of its configuration.
	GolangFilterTypeURL = "type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config"
	// EarlyHeaderMutationName is the early header mutation extension that strips client copies
	// of the internal headers before the first route match.
	EarlyHeaderMutationName = "envoy.http.early_header_mutation.header_mutation"

	// Route names, visible in Envoy's stats and config_dump.
	routeAdmittedDefault = "admitted-default-v1"
	routeOTLPGRPC        = "otlp-grpc-v2"
	routeFilterInactive  = "filter-inactive-fail-closed"
	tenantRoutePrefix    = "tenant:"

	// ErrFilterInactiveID is the stable id in the body of the 503 answered to a request that
	// the edge filter did not admit (the filter is not active: fail closed).
	ErrFilterInactiveID = string(reason.EdgeFilterInactive)

	// V2Authority is the authority of every request routed to ingest-v2 for real (stage v2, the
	// v2 share of canary): the route rewrites it (host_rewrite_literal), so that the authority
	// ingest-v2 sees is the control plane's, never the client's. Only a mirrored request of a
	// tenant in the shadow stage reaches ingest-v2 with an authority ending in "-shadow" (the
	// mirror's suffix), which is how ingest-v2 tells shadow traffic from live traffic: a client
	// cannot make a live request look mirrored, nor a mirrored one live.
	V2Authority = "ingest-v2"

	// ShadowRuntimeKeyPrefix + tenant ID is the runtime key of a shadow tenant's mirror
	// fraction (default 100%): an operator can lower it in the admin runtime layer without a
	// push.
	ShadowRuntimeKeyPrefix = "ingest.shadow_percent."
)

// Certificate is the edge listener's TLS certificate, served as the SDS secret [SecretName].
type Certificate struct {
	// Chain is the PEM certificate chain, leaf first.
	Chain []byte
	// Key is the PEM private key.
	Key []byte
}

// Input is everything one snapshot is built from.
type Input struct {
	// State is the registry state: tenants, their stages and keys, and the upstreams.
	State registry.State
	// Cert is the listener certificate.
	Cert Certificate
	// Now decides which revoked keys are left out: a key revoked at or before Now is dropped,
	// a key revoked after Now is sent with that instant as its not_after.
	Now time.Time
}

// BuildResources builds every resource of a snapshot from in: the listener (LDS), the route
// configuration (RDS), the clusters (CDS), their endpoints (EDS), the secret (SDS) and the
// edge filter's configuration (ECDS). The listener depends on cfg only: tenants, keys and
// quotas are all in the ECDS resource, so that their changes never touch the listener (on
// Envoy a listener change drains every client connection). It does not validate deeply; the
// server runs [Validate] on the snapshot before serving it. cfg must be valid
// (Config.WithDefaults().Validate()).
func BuildResources(cfg Config, in Input) (map[resource.Type][]types.Resource, error) {
	filterAny, err := makeTenantFilter(cfg, in.State, in.Now)
	if err != nil {
		return nil, err
	}
	hcmAny, err := makeHCM(cfg)
	if err != nil {
		return nil, err
	}
	lis, err := makeListener(cfg, hcmAny)
	if err != nil {
		return nil, err
	}
	rc, err := makeRouteConfig(cfg, in.State.Tenants)
	if err != nil {
		return nil, err
	}
	v1, err := makeCluster(cfg, ClusterV1, ClusterV1, false)
	if err != nil {
		return nil, err
	}
	v2, err := makeCluster(cfg, ClusterV2, ClusterV2, false)
	if err != nil {
		return nil, err
	}
	v2grpc, err := makeCluster(cfg, ClusterV2GRPC, ClusterV2, true)
	if err != nil {
		return nil, err
	}
	return map[resource.Type][]types.Resource{
		resource.ListenerType: {lis},
		resource.RouteType:    {rc},
		resource.ClusterType:  {v1, v2, v2grpc},
		resource.EndpointType: {
			makeEndpoints(ClusterV1, in.State.Upstreams.V1),
			makeEndpoints(ClusterV2, in.State.Upstreams.V2),
		},
		resource.SecretType:          {makeSecret(SecretName, in.Cert)},
		resource.ExtensionConfigType: {&core.TypedExtensionConfig{Name: FilterConfigName, TypedConfig: filterAny}},
	}, nil
}

// Build builds a snapshot with one version for every resource type. The server assigns
// versions per type instead (see [versioner]), so that a change of one type leaves the others'
// versions alone; Build is for tests and tools.
func Build(cfg Config, in Input, version string) (*cache.Snapshot, error) {
	res, err := BuildResources(cfg, in)
	if err != nil {
		return nil, err
	}
	snap, err := cache.NewSnapshot(version, res)
	if err != nil {
		return nil, fmt.Errorf("cannot create snapshot %q: %w", version, err)
	}
	return snap, nil
}

// toAny packs m deterministically, so that equal resources have equal bytes and an unchanged
// resource keeps its version.
func toAny(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("cannot pack %q: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return a, nil
}

func adsSource() *core.ConfigSource {
	return &core.ConfigSource{
		ResourceApiVersion:    core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
	}
}

// makeTenantFilter builds the golang filter's configuration: the tenant quota table, the
// hashes of every key that is not revoked at now, the edge limits and the marker header.
func makeTenantFilter(cfg Config, st registry.State, now time.Time) (*anypb.Any, error) {
	fc := &filterconfig.Config{
		Tenants:      make([]filterconfig.Tenant, 0, len(st.Tenants)),
		Keys:         map[string][]filterconfig.Key{},
		MarkerHeader: filterconfig.DefaultMarkerHeader,
		Limits: filterconfig.Limits{
			MaxInFlightBytes:         cfg.Edge.MaxInFlightBytes,
			MaxRequestBodyBytes:      cfg.Edge.MaxRequestBodyBytes,
			DefaultRetryAfterSeconds: int64(cfg.Edge.DefaultRetryAfter / time.Second),
		},
	}
	if cfg.Report.URL != "" {
		tok, err := cfg.Report.token()
		if err != nil {
			return nil, fmt.Errorf("cannot build filter config at registry revision %d: %w", st.Revision, err)
		}
		fc.ReportURL, fc.ReportToken = cfg.Report.URL, tok
		if cfg.Report.Interval > 0 {
			fc.ReportInterval = cfg.Report.Interval.String()
		}
	}
	if cfg.HopKeyFile != "" {
		keys, err := hopauth.LoadKeys(cfg.HopKeyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot build filter config at registry revision %d: xds.hop_key_file: %w", st.Revision, err)
		}
		fc.HopKey = keys[0].Secret()
	}
	for _, t := range st.Tenants {
		fc.Tenants = append(fc.Tenants, filterconfig.Tenant{ID: t.ID, Quotas: filterconfig.Quotas{
			EventsPerSecond: t.Quotas.EventsPerSecond,
			BytesPerSecond:  t.Quotas.BytesPerSecond,
			BurstEvents:     t.Quotas.BurstEvents,
			BurstBytes:      t.Quotas.BurstBytes,
		}})
		for _, k := range t.Keys {
			var notAfter *time.Time
			if k.RevokedAt != nil {
				if !k.RevokedAt.After(now) {
					continue
				}
				at := k.RevokedAt.UTC()
				notAfter = &at
			}
			fc.Keys[k.Prefix] = append(fc.Keys[k.Prefix], filterconfig.Key{
				ID: k.ID, Tenant: t.ID, Salt: k.Salt, Hash: k.Hash, NotAfter: notAfter,
			})
		}
	}
	plugin, err := filterconfig.Encode(fc)
	if err != nil {
		return nil, fmt.Errorf("cannot build filter config at registry revision %d: %w", st.Revision, err)
	}
	return toAny(&golang.Config{
		LibraryId:    filterconfig.LibraryID,
		LibraryPath:  cfg.FilterLibraryPath,
		PluginName:   filterconfig.PluginName,
		PluginConfig: plugin,
	})
}

// makeHCM builds the HTTP connection manager: early removal of client copies of the internal
// headers, routes over RDS, the golang filter with its configuration over ECDS (resource
// [FilterConfigName]), then the router. There is no default configuration: Envoy keeps the
// listener warming until the filter's first configuration arrives, so it never serves a
// request without the edge filter.
func makeHCM(cfg Config) (*anypb.Any, error) {
	strip := &earlymutation.HeaderMutation{}
	for _, h := range filterconfig.InternalHeaders() {
		strip.Mutations = append(strip.Mutations, &mutation.HeaderMutation{Action: &mutation.HeaderMutation_Remove{Remove: h}})
	}
	stripAny, err := toAny(strip)
	if err != nil {
		return nil, err
	}
	routerAny, err := toAny(&router.Router{})
	if err != nil {
		return nil, err
	}
	return toAny(&hcm.HttpConnectionManager{
		StatPrefix: "ingest_edge",
		CodecType:  hcm.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: RouteConfigName,
		}},
		EarlyHeaderMutationExtensions: []*core.TypedExtensionConfig{{Name: EarlyHeaderMutationName, TypedConfig: stripAny}},
		HttpFilters: []*hcm.HttpFilter{
			{Name: FilterConfigName, ConfigType: &hcm.HttpFilter_ConfigDiscovery{ConfigDiscovery: &core.ExtensionConfigSource{
				ConfigSource: adsSource(),
				TypeUrls:     []string{GolangFilterTypeURL},
			}}},
			{Name: wellknown.Router, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: routerAny}},
		},
		// The edge is the first proxy: the client address is the connection's, never a
		// client-supplied x-forwarded-for.
		UseRemoteAddress:  wrapperspb.Bool(true),
		NormalizePath:     wrapperspb.Bool(true),
		MergeSlashes:      true,
		StreamIdleTimeout: durationpb.New(5 * time.Minute),
		// Headers with underscores are dropped: some servers map x_tenant_id to x-tenant-id.
		CommonHttpProtocolOptions: &core.HttpProtocolOptions{
			IdleTimeout:                  durationpb.New(time.Hour),
			HeadersWithUnderscoresAction: core.HttpProtocolOptions_DROP_HEADER,
		},
		RequestHeadersTimeout: durationpb.New(10 * time.Second),
		Http2ProtocolOptions: &core.Http2ProtocolOptions{
			MaxConcurrentStreams:        wrapperspb.UInt32(100),
			InitialStreamWindowSize:     wrapperspb.UInt32(64 << 10),
			InitialConnectionWindowSize: wrapperspb.UInt32(1 << 20),
		},
	})
}

// makeListener builds the TLS listener of the edge. Its certificate comes over SDS.
func makeListener(cfg Config, hcmAny *anypb.Any) (*listener.Listener, error) {
	tlsAny, err := toAny(&tls.DownstreamTlsContext{CommonTlsContext: &tls.CommonTlsContext{
		TlsParams: &tls.TlsParameters{TlsMinimumProtocolVersion: tls.TlsParameters_TLSv1_2},
		TlsCertificateSdsSecretConfigs: []*tls.SdsSecretConfig{{
			Name:      SecretName,
			SdsConfig: adsSource(),
		}},
		AlpnProtocols: []string{"h2", "http/1.1"},
	}})
	if err != nil {
		return nil, err
	}
	return &listener.Listener{
		Name: ListenerName,
		Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
			Protocol:      core.SocketAddress_TCP,
			Address:       cfg.ListenerAddress,
			PortSpecifier: &core.SocketAddress_PortValue{PortValue: cfg.ListenerPort},
		}}},
		// The filter buffers a whole body (StopAndBuffer); this is that buffer's cap.
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(uint32(cfg.Edge.MaxRequestBodyBytes)),
		FilterChains: []*listener.FilterChain{{
			Filters: []*listener.Filter{{
				Name:       wellknown.HTTPConnectionManager,
				ConfigType: &listener.Filter_TypedConfig{TypedConfig: hcmAny},
			}},
			TransportSocket: &core.TransportSocket{
				Name:       wellknown.TransportSocketTLS,
				ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: tlsAny},
			},
		}},
	}, nil
}

// makeRouteConfig builds the one route configuration: a route per tenant (sorted by ID), then
// the default route to ingest-v1 for admitted requests, then the fail-closed 503 for requests
// the filter did not admit. See doc.go for the header order.
func makeRouteConfig(cfg Config, tenants []registry.Tenant) (*route.RouteConfiguration, error) {
	sorted := slices.Clone(tenants)
	slices.SortFunc(sorted, func(a, b registry.Tenant) int { return cmp.Compare(a.ID, b.ID) })
	retry, err := makeRetryPolicy(cfg)
	if err != nil {
		return nil, err
	}
	routes := make([]*route.Route, 0, len(sorted)+3)
	routes = append(routes, makeGRPCRoute(cfg))
	for i, t := range sorted {
		if i > 0 && sorted[i-1].ID == t.ID {
			return nil, fmt.Errorf("cannot build routes: tenant %q appears twice", t.ID)
		}
		r, err := makeRoute(cfg, t.ID, t.Stage)
		if err != nil {
			return nil, err
		}
		routes = append(routes, r)
	}
	routes = append(routes,
		&route.Route{
			Name:   routeAdmittedDefault,
			Match:  admittedMatch(),
			Action: &route.Route_Route{Route: routeTo(cfg, ClusterV1)},
		},
		&route.Route{
			Name:  routeFilterInactive,
			Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{
				Status: 503,
				Body: &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: ErrFilterInactiveID +
					": the edge did not admit this request (its filter is not active); retry later\n"}},
			}},
			ResponseHeadersToAdd: []*core.HeaderValueOption{
				setHeader("retry-after", strconv.FormatInt(int64(cfg.Edge.DefaultRetryAfter/time.Second), 10)),
			},
		},
	)
	return &route.RouteConfiguration{
		Name:             RouteConfigName,
		ValidateClusters: wrapperspb.Bool(true),
		// The marker is a signal from the filter to the route table, not for upstreams. The
		// tenant id is NOT removed here: route-level removal runs after matching and would only
		// take the tenant away from ingest-v1/v2. Client copies are removed before matching by
		// the connection manager's early header mutation and by the filter.
		RequestHeadersToRemove: []string{filterconfig.DefaultMarkerHeader},
		VirtualHosts: []*route.VirtualHost{{
			Name:    VirtualHostName,
			Domains: []string{"*"},
			Routes:  routes,
			// Retries need the body: keep up to one maximal body per request.
			PerRequestBufferLimitBytes: wrapperspb.UInt32(uint32(cfg.Edge.MaxRequestBodyBytes)),
			RetryPolicy:                retry,
		}},
	}, nil
}

// makeGRPCRoute builds the route of OTLP/gRPC calls, first in the table: every admitted call
// to an OTLP/gRPC method goes to ingest-v2 over h2c, whatever its tenant's stage. The legacy
// pipeline has no OTLP/gRPC endpoint, so there is nothing to cut over from, mirror or compare
// against; a tenant sends gRPC once it is ready to be served by ingest-v2 (docs/cutover.md).
func makeGRPCRoute(cfg Config) *route.Route {
	match := admittedMatch()
	match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: GRPCPathPrefix}
	a := routeTo(cfg, ClusterV2GRPC)
	a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: V2Authority}
	return &route.Route{
		Name: routeOTLPGRPC, Match: match, Action: &route.Route_Route{Route: a},
		RequestHeadersToAdd: []*core.HeaderValueOption{setHeader(filterconfig.HeaderIngestVersion, "v2")},
	}
}

// makeRoute builds a tenant's route for its stage. It matches only requests the filter
// admitted for that tenant (x-tenant-id set by the filter and the marker header).
func makeRoute(cfg Config, tenantID string, stage registry.Stage) (*route.Route, error) {
	if !filterconfig.ValidTenantID(tenantID) {
		return nil, fmt.Errorf("cannot build route for tenant %q: invalid tenant id", tenantID)
	}
	match := admittedMatch()
	match.Headers = append([]*route.HeaderMatcher{exactHeader(filterconfig.HeaderTenantID, tenantID)}, match.Headers...)
	r := &route.Route{Name: tenantRoutePrefix + tenantID, Match: match}
	v2Header := []*core.HeaderValueOption{setHeader(filterconfig.HeaderIngestVersion, "v2")}
	switch stage.Kind {
	case registry.StageLegacy:
		r.Action = &route.Route_Route{Route: routeTo(cfg, ClusterV1)}
	case registry.StageShadow:
		// Mirrored requests get the authority suffix "-shadow": that is the shadow marker
		// ingest-v2 acts on (mirror policies cannot add headers in Envoy 1.33), and only
		// mirrors carry it (see V2Authority). The header x-ingest-version: v2 is added at route
		// level, so ingest-v1 receives it too and ignores it.
		a := routeTo(cfg, ClusterV1)
		a.RequestMirrorPolicies = []*route.RouteAction_RequestMirrorPolicy{{
			Cluster: ClusterV2,
			RuntimeFraction: &core.RuntimeFractionalPercent{
				DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED},
				RuntimeKey:   ShadowRuntimeKeyPrefix + tenantID,
			},
		}}
		r.Action = &route.Route_Route{Route: a}
		r.RequestHeadersToAdd = v2Header
	case registry.StageCanary:
		if stage.Percent < 1 || stage.Percent > 99 {
			return nil, fmt.Errorf("cannot build route for tenant %q: canary percent %d must be from 1 to 99", tenantID, stage.Percent)
		}
		a := routeTo(cfg, "")
		a.ClusterSpecifier = &route.RouteAction_WeightedClusters{WeightedClusters: &route.WeightedCluster{
			Clusters: []*route.WeightedCluster_ClusterWeight{
				{Name: ClusterV2, Weight: wrapperspb.UInt32(uint32(stage.Percent)), RequestHeadersToAdd: v2Header,
					HostRewriteSpecifier: &route.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: V2Authority}},
				{Name: ClusterV1, Weight: wrapperspb.UInt32(uint32(100 - stage.Percent))},
			},
		}}
		r.Action = &route.Route_Route{Route: a}
	case registry.StageV2:
		a := routeTo(cfg, ClusterV2)
		a.HostRewriteSpecifier = &route.RouteAction_HostRewriteLiteral{HostRewriteLiteral: V2Authority}
		r.Action = &route.Route_Route{Route: a}
		r.RequestHeadersToAdd = v2Header
	default:
		return nil, fmt.Errorf("cannot build route for tenant %q: unknown stage %q", tenantID, stage.String())
	}
	return r, nil
}

// admittedMatch matches every path of a request that carries the filter's marker.
func admittedMatch() *route.RouteMatch {
	return &route.RouteMatch{
		PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"},
		Headers:       []*route.HeaderMatcher{exactHeader(filterconfig.DefaultMarkerHeader, filterconfig.MarkerValue)},
	}
}

func exactHeader(name, value string) *route.HeaderMatcher {
	return &route.HeaderMatcher{
		Name: name,
		HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
			MatchPattern: &matcher.StringMatcher_Exact{Exact: value},
		}},
	}
}

func setHeader(name, value string) *core.HeaderValueOption {
	return &core.HeaderValueOption{
		Header:       &core.HeaderValue{Key: name, Value: value},
		AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// routeTo is a route action to one cluster (none when name is empty) with the request timeout.
func routeTo(cfg Config, name string) *route.RouteAction {
	a := &route.RouteAction{Timeout: durationpb.New(cfg.Upstream.RequestTimeout)}
	if name != "" {
		a.ClusterSpecifier = &route.RouteAction_Cluster{Cluster: name}
	}
	return a
}

// makeRetryPolicy retries 429 and 503 from ingest-v1/v2 (and requests refused before they
// reached an upstream), waiting as long as the upstream's Retry-After asks, up to
// MaxRetryAfter, and exponentially with jitter otherwise. A 429 or 503 the edge filter
// answers itself is a local reply and never retried.
func makeRetryPolicy(cfg Config) (*route.RetryPolicy, error) {
	previousHosts, err := toAny(&previoushosts.PreviousHostsPredicate{})
	if err != nil {
		return nil, err
	}
	return &route.RetryPolicy{
		RetryOn:              "retriable-status-codes,connect-failure,refused-stream",
		RetriableStatusCodes: []uint32{429, 503},
		NumRetries:           wrapperspb.UInt32(cfg.Upstream.NumRetries),
		RetryBackOff: &route.RetryPolicy_RetryBackOff{
			BaseInterval: durationpb.New(100 * time.Millisecond),
			MaxInterval:  durationpb.New(time.Second),
		},
		RateLimitedRetryBackOff: &route.RetryPolicy_RateLimitedRetryBackOff{
			ResetHeaders: []*route.RetryPolicy_ResetHeader{{Name: "retry-after", Format: route.RetryPolicy_SECONDS}},
			MaxInterval:  durationpb.New(cfg.Upstream.MaxRetryAfter),
		},
		// Try another host first.
		RetryHostPredicate: []*route.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &route.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: previousHosts},
		}},
		HostSelectionRetryMaxAttempts: 3,
	}, nil
}

// makeCluster builds an EDS cluster over ADS (the endpoints of edsService) with circuit
// breakers and plaintext upstream connections: HTTP/1.1, or h2c (HTTP/2 with prior knowledge)
// when http2 is set.
func makeCluster(cfg Config, name, edsService string, http2 bool) (*cluster.Cluster, error) {
	explicit := &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
		ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &core.Http1ProtocolOptions{}},
	}
	if http2 {
		explicit.ProtocolConfig = &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &core.Http2ProtocolOptions{}}
	}
	opts, err := toAny(&upstreamhttp.HttpProtocolOptions{
		UpstreamProtocolOptions:   &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: explicit},
		CommonHttpProtocolOptions: &core.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Minute)},
	})
	if err != nil {
		return nil, err
	}
	u := cfg.Upstream
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: edsService},
		ConnectTimeout:       durationpb.New(u.ConnectTimeout),
		LbPolicy:             cluster.Cluster_LEAST_REQUEST,
		CircuitBreakers: &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{{
			Priority:           core.RoutingPriority_DEFAULT,
			MaxConnections:     wrapperspb.UInt32(u.MaxConnections),
			MaxPendingRequests: wrapperspb.UInt32(u.MaxPendingRequests),
			MaxRequests:        wrapperspb.UInt32(u.MaxRequests),
			MaxRetries:         wrapperspb.UInt32(u.MaxRetries),
			TrackRemaining:     true,
		}}},
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(uint32(cfg.Edge.MaxRequestBodyBytes)),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": opts,
		},
	}, nil
}

// makeEndpoints builds the ClusterLoadAssignment of a cluster, endpoints sorted by host and
// port so that an unchanged set keeps its version. No endpoints is valid: Envoy answers 503.
func makeEndpoints(clusterName string, eps []registry.Endpoint) *endpoint.ClusterLoadAssignment {
	sorted := slices.Clone(eps)
	slices.SortFunc(sorted, func(a, b registry.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port))
	})
	lbs := make([]*endpoint.LbEndpoint, 0, len(sorted))
	for _, e := range sorted {
		lbs = append(lbs, &endpoint.LbEndpoint{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
			Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
				Protocol:      core.SocketAddress_TCP,
				Address:       e.Host,
				PortSpecifier: &core.SocketAddress_PortValue{PortValue: e.Port},
			}}},
		}}})
	}
	cla := &endpoint.ClusterLoadAssignment{ClusterName: clusterName}
	if len(lbs) > 0 {
		cla.Endpoints = []*endpoint.LocalityLbEndpoints{{LbEndpoints: lbs}}
	}
	return cla
}

// makeSecret builds the listener's TLS certificate secret.
func makeSecret(name string, c Certificate) *tls.Secret {
	return &tls.Secret{
		Name: name,
		Type: &tls.Secret_TlsCertificate{TlsCertificate: &tls.TlsCertificate{
			CertificateChain: &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: c.Chain}},
			PrivateKey:       &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: c.Key}},
		}},
	}
}
