package xds

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlymutation "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// served reports whether a snapshot may hold resources of typeURL.
func served(typeURL resource.Type) bool {
	switch typeURL {
	case resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType,
		resource.ExtensionConfigType:
		return true
	}
	return false
}

// Validate deep-validates a snapshot before it is served (invariant 6) and reports every
// problem at once. Beyond snap.Consistent() (LDS→RDS and CDS→EDS names) it:
//
//   - runs ValidateAll on every resource and, recursively, on the message inside every Any at
//     any depth (go-control-plane's validators stop at an Any), and rejects unknown fields;
//   - checks that every cluster a route sends or mirrors to exists, that route configurations
//     set validate_clusters, and that every secret a TLS context names over SDS exists and
//     every secret is named (an unreferenced secret stalls SDS under ADS);
//   - checks that every listener filter chain terminates TLS and every EDS cluster uses ADS;
//   - checks the edge filter's discovery (ECDS): every HTTP filter with config_discovery takes
//     it over ADS, without a default configuration (the listener warms until the real one
//     arrives), for the golang filter's type only; the extension configuration it names is in
//     the snapshot and of that type; every extension configuration is named by a filter;
//   - checks every golang filter configuration: library id, plugin name, and the filter's own
//     parser (filter.ConfigParser.Parse) on its plugin_config; route-level golang configuration is
//     rejected (a parse error there can kill Envoy at the first request);
//   - checks invariant 4: every connection manager strips client copies of the internal
//     headers before routing and runs the edge filter before the router, and no route that can
//     reach ingest-v2 (route, weighted cluster or mirror) matches a request without the
//     filter's marker header.
//
// Validate does not modify snap and is safe for concurrent use.
func Validate(snap *cache.Snapshot) error {
	if snap == nil {
		return errors.New("cannot validate snapshot: snapshot is nil")
	}
	v := newValidator()
	if err := snap.Consistent(); err != nil {
		v.add("snapshot is not consistent: %v", err)
	}
	for i, res := range snap.Resources {
		typeURL, err := cache.GetResponseTypeURL(types.ResponseType(i))
		if err != nil || !served(typeURL) {
			if len(res.Items) > 0 {
				v.add("snapshot holds %d resources of unserved type %q", len(res.Items), typeURL)
			}
			continue
		}
		names := make([]string, 0, len(res.Items))
		for name := range res.Items {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			r := res.Items[name].Resource
			if got := cache.GetResourceName(r); got != name {
				v.add("%s %q is indexed under the name %q", shortType(typeURL), got, name)
			}
			v.message(fmt.Sprintf("%s %q", shortType(typeURL), name), r)
		}
	}
	v.crossReferences(snap)
	return errors.Join(v.errs...)
}

func newValidator() *validator {
	return &validator{
		secretRefs:       map[string][]string{},
		clusterRefs:      map[string][]string{},
		extensionRefs:    map[string][]extensionRef{},
		grpcClusters:     map[string][]string{},
		clusterProtocols: map[string]string{},
	}
}

type validator struct {
	errs []error
	// secretRefs and clusterRefs map a referenced name to the paths that reference it.
	secretRefs  map[string][]string
	clusterRefs map[string][]string
	// extensionRefs maps the name of an extension configuration (ECDS) to the filters that
	// ask for it.
	extensionRefs map[string][]extensionRef
	// grpcClusters maps the clusters that OTLP/gRPC routes use to those routes, and
	// clusterProtocols every cluster to its upstream protocol (see upstreamProtocol).
	grpcClusters     map[string][]string
	clusterProtocols map[string]string
}

// extensionRef is an HTTP filter that takes its configuration over ECDS.
type extensionRef struct {
	path     string
	typeURLs []string
}

func (v *validator) add(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

// message validates m (a resource or the content of an Any), then walks it.
func (v *validator) message(path string, m proto.Message) {
	if val, ok := m.(interface{ ValidateAll() error }); ok {
		if err := val.ValidateAll(); err != nil {
			v.add("%s: %v", path, err)
		}
	}
	v.semantic(path, m)
	v.walk(path, m.ProtoReflect())
}

// walk visits every set field of m, unpacking every Any.
func (v *validator) walk(path string, m protoreflect.Message) {
	if len(m.GetUnknown()) > 0 {
		v.add("%s: has unknown fields", path)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				v.child(fmt.Sprintf("%s[%d]", p, i), l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			keys := []protoreflect.MapKey{}
			val.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			for _, k := range keys {
				v.child(fmt.Sprintf("%s[%q]", p, k.String()), val.Map().Get(k).Message())
			}
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			v.child(p, val.Message())
		}
		return true
	})
}

// child walks a nested message; an Any is unpacked and its content validated as a message.
func (v *validator) child(path string, m protoreflect.Message) {
	if m.Descriptor().FullName() != "google.protobuf.Any" {
		v.semantic(path, m.Interface())
		v.walk(path, m)
		return
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		a = &anypb.Any{}
		b, err := proto.Marshal(m.Interface())
		if err == nil {
			err = proto.Unmarshal(b, a)
		}
		if err != nil {
			v.add("%s: cannot read Any: %v", path, err)
			return
		}
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		v.add("%s: cannot unpack Any of type %q: %v", path, a.GetTypeUrl(), err)
		return
	}
	v.message(fmt.Sprintf("%s(%s)", path, inner.ProtoReflect().Descriptor().FullName()), inner)
}

// semantic runs the checks that depend on the message type.
func (v *validator) semantic(path string, m proto.Message) {
	switch x := m.(type) {
	case *golang.Config:
		v.golangFilter(path, x)
	case *golang.ConfigsPerRoute, *golang.RouterPlugin:
		v.add("%s: route-level golang filter configuration is not supported: a parse error there can kill Envoy at the first request", path)
	case *hcm.HttpConnectionManager:
		v.connectionManager(path, x)
	case *tls.SdsSecretConfig:
		v.secretRefs[x.GetName()] = append(v.secretRefs[x.GetName()], path)
		if x.GetSdsConfig().GetAds() == nil {
			v.add("%s: secret %q must come over ADS", path, x.GetName())
		}
	case *route.RouteConfiguration:
		if !x.GetValidateClusters().GetValue() {
			v.add("%s: validate_clusters must be true (otherwise a missing cluster only shows as 404s)", path)
		}
		for i, vh := range x.GetVirtualHosts() {
			v.grpcRoutes(fmt.Sprintf("%s.virtual_hosts[%d]", path, i), vh)
		}
	case *route.Route:
		v.route(path, x)
	case *listener.Listener:
		for i, fc := range x.GetFilterChains() {
			dt := &tls.DownstreamTlsContext{}
			if !fc.GetTransportSocket().GetTypedConfig().MessageIs(dt) {
				v.add("%s.filter_chains[%d]: the edge listens with TLS only; transport_socket must hold a DownstreamTlsContext", path, i)
			} else if fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(dt) == nil && !slices.Contains(dt.GetCommonTlsContext().GetAlpnProtocols(), "h2") {
				v.add("%s.filter_chains[%d]: alpn_protocols must offer h2: OTLP/gRPC clients need HTTP/2 and fail the TLS handshake without it", path, i)
			}
		}
	case *bootstrap.Bootstrap:
		v.bootstrap(path, x)
	case *cluster.Cluster:
		if x.GetType() == cluster.Cluster_EDS && x.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
			v.add("%s: EDS must come over ADS", path)
		}
		v.clusterProtocols[x.GetName()] = upstreamProtocol(x)
	}
}

// upstreamProtocol is a cluster's upstream protocol: "h2c" for explicit HTTP/2, "http/1.1"
// for explicit HTTP/1.1 (or none), "other" for anything else.
func upstreamProtocol(c *cluster.Cluster) string {
	opts := &upstreamhttp.HttpProtocolOptions{}
	a := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if a == nil {
		return "http/1.1"
	}
	if a.UnmarshalTo(opts) != nil {
		return "other"
	}
	switch ex := opts.GetExplicitHttpConfig(); {
	case ex.GetHttp2ProtocolOptions() != nil:
		return "h2c"
	case ex.GetHttpProtocolOptions() != nil:
		return "http/1.1"
	}
	return "other"
}

// grpcRoutes checks the OTLP/gRPC route of a virtual host: there must be one (a route matching
// the prefix of OTLP/gRPC's methods), first, so that no tenant route sends gRPC calls to an
// HTTP/1.1 cluster; its cluster's protocol is checked once the clusters are known.
func (v *validator) grpcRoutes(path string, vh *route.VirtualHost) {
	for i, r := range vh.GetRoutes() {
		if r.GetMatch().GetPrefix() != GRPCPathPrefix {
			continue
		}
		if i != 0 {
			v.add("%s.routes[%d] (route %q): the OTLP/gRPC route must be the first, or the routes before it send gRPC calls over HTTP/1.1", path, i, r.GetName())
		}
		v.grpcClusters[r.GetRoute().GetCluster()] = append(v.grpcClusters[r.GetRoute().GetCluster()], fmt.Sprintf("%s.routes[%d]", path, i))
		return
	}
	v.add("%s: no route for OTLP/gRPC (prefix %q): gRPC calls would go to HTTP/1.1 clusters and fail", path, GRPCPathPrefix)
}

// bootstrap checks that the Envoy bootstrap (edge/envoy/bootstrap.yaml) reaches the control
// plane only over mutual TLS: every ADS gRPC service is an envoy_grpc cluster among the static
// clusters whose transport socket is an UpstreamTlsContext that presents a client certificate
// and key from files (not SDS: the secret would have to come over the stream it secures),
// verifies the server against a trusted CA and a SAN matcher, offers ALPN h2 (gRPC servers
// refuse TLS without it) and allows no TLS version below 1.2.
func (v *validator) bootstrap(path string, b *bootstrap.Bootstrap) {
	clusters := map[string]*cluster.Cluster{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = c
	}
	services := b.GetDynamicResources().GetAdsConfig().GetGrpcServices()
	if len(services) == 0 {
		v.add("%s.dynamic_resources.ads_config: no grpc_services: the edge would never reach the control plane", path)
	}
	for i, gs := range services {
		p := fmt.Sprintf("%s.dynamic_resources.ads_config.grpc_services[%d]", path, i)
		name := gs.GetEnvoyGrpc().GetClusterName()
		if name == "" {
			v.add("%s: must be envoy_grpc with a cluster_name, so that the cluster's mutual TLS applies", p)
			continue
		}
		c, ok := clusters[name]
		if !ok {
			v.add("%s: cluster %q is not a static cluster", p, name)
			continue
		}
		v.xdsClusterTLS(fmt.Sprintf("%s.static_resources.clusters %q", path, name), c)
	}
}

func (v *validator) xdsClusterTLS(path string, c *cluster.Cluster) {
	ctx := &tls.UpstreamTlsContext{}
	if ts := c.GetTransportSocket().GetTypedConfig(); ts == nil || !ts.MessageIs(ctx) || ts.UnmarshalTo(ctx) != nil {
		v.add("%s: transport_socket must hold an UpstreamTlsContext: the xDS stream carries every key hash and the edge's private key, and without TLS anyone can feed the edge its configuration", path)
		return
	}
	cc := ctx.GetCommonTlsContext()
	if len(cc.GetTlsCertificateSdsSecretConfigs()) > 0 {
		v.add("%s: the client certificate cannot come over SDS: the secret would have to arrive over the stream it secures", path)
	}
	certs := cc.GetTlsCertificates()
	if len(certs) == 0 {
		v.add("%s: common_tls_context.tls_certificates is empty: the control plane requires a client certificate", path)
	}
	for i, tc := range certs {
		if tc.GetCertificateChain() == nil || tc.GetPrivateKey() == nil {
			v.add("%s: common_tls_context.tls_certificates[%d] needs certificate_chain and private_key", path, i)
		}
	}
	vc := cc.GetValidationContext()
	if vc.GetTrustedCa() == nil {
		v.add("%s: common_tls_context.validation_context.trusted_ca is not set: Envoy would not verify the control plane's certificate", path)
	}
	if len(vc.GetMatchTypedSubjectAltNames()) == 0 {
		v.add("%s: common_tls_context.validation_context.match_typed_subject_alt_names is empty: any certificate the CA signed could pose as the control plane", path)
	}
	if !slices.Contains(cc.GetAlpnProtocols(), "h2") {
		v.add("%s: common_tls_context.alpn_protocols must offer h2: the control plane's gRPC server refuses TLS without it", path)
	}
	if m := cc.GetTlsParams().GetTlsMinimumProtocolVersion(); m == tls.TlsParameters_TLSv1_0 || m == tls.TlsParameters_TLSv1_1 {
		v.add("%s: common_tls_context.tls_params.tls_minimum_protocol_version %v: the control plane accepts TLS 1.2 and later only", path, m)
	}
}

func (v *validator) golangFilter(path string, c *golang.Config) {
	if c.GetLibraryId() != filterconfig.LibraryID {
		v.add("%s: library_id %q, want %q (one .so per library id, loaded once)", path, c.GetLibraryId(), filterconfig.LibraryID)
	}
	if c.GetPluginName() != filterconfig.PluginName {
		v.add("%s: plugin_name %q, want %q (a wrong name fails open: no accounting)", path, c.GetPluginName(), filterconfig.PluginName)
	}
	// The filter's own config parser, as Envoy runs it on the listener; nil callbacks define no
	// counters.
	if _, err := (filter.ConfigParser{}).Parse(c.GetPluginConfig(), nil); err != nil {
		v.add("%s.plugin_config: the edge filter rejects it: %v", path, err)
	}
}

// connectionManager checks invariant 4 for one HTTP connection manager.
func (v *validator) connectionManager(path string, c *hcm.HttpConnectionManager) {
	stripped := map[string]bool{}
	for _, ext := range c.GetEarlyHeaderMutationExtensions() {
		hm := &earlymutation.HeaderMutation{}
		if ext.GetTypedConfig().MessageIs(hm) && ext.GetTypedConfig().UnmarshalTo(hm) == nil {
			for _, mu := range hm.GetMutations() {
				if r := mu.GetRemove(); r != "" {
					stripped[strings.ToLower(r)] = true
				}
			}
		}
	}
	for _, h := range filterconfig.InternalHeaders() {
		if !stripped[h] {
			v.add("%s: early_header_mutation_extensions do not remove client copies of %q before routing", path, h)
		}
	}
	golangAt, routerAt := -1, -1
	for i, f := range c.GetHttpFilters() {
		typeURL := f.GetTypedConfig().GetTypeUrl()
		if d := f.GetConfigDiscovery(); d != nil {
			v.configDiscovery(fmt.Sprintf("%s.http_filters[%d] %q", path, i, f.GetName()), f.GetName(), d)
			if slices.Equal(d.GetTypeUrls(), []string{GolangFilterTypeURL}) {
				typeURL = GolangFilterTypeURL
			}
		}
		switch typeURL {
		case GolangFilterTypeURL:
			if golangAt < 0 {
				golangAt = i
			}
		case "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router":
			routerAt = i
		}
		if f.GetIsOptional() || f.GetDisabled() {
			v.add("%s.http_filters[%d] %q must be neither optional nor disabled", path, i, f.GetName())
		}
	}
	switch {
	case golangAt < 0:
		v.add("%s: no golang filter (the edge filter) in http_filters", path)
	case routerAt < 0:
		v.add("%s: no router in http_filters", path)
	case golangAt > routerAt:
		v.add("%s: the golang filter (http_filters[%d]) must run before the router (http_filters[%d])", path, golangAt, routerAt)
	}
	if routerAt >= 0 && routerAt != len(c.GetHttpFilters())-1 {
		v.add("%s: the router (%s) must be the last http filter", path, wellknown.Router)
	}
}

// configDiscovery checks an HTTP filter whose configuration comes over ECDS and records the
// extension configuration it names.
func (v *validator) configDiscovery(path, name string, d *core.ExtensionConfigSource) {
	if d.GetConfigSource().GetAds() == nil {
		v.add("%s: config_discovery must come over ADS", path)
	}
	if d.GetDefaultConfig() != nil || d.GetApplyDefaultConfigWithoutWarming() {
		v.add("%s: config_discovery must have no default configuration: requests would be served by a filter that knows no key (or none at all) until the real configuration arrives", path)
	}
	if !slices.Equal(d.GetTypeUrls(), []string{GolangFilterTypeURL}) {
		v.add("%s: config_discovery.type_urls %q, want exactly [%q]: the edge filter is the only filter configured over ECDS", path, d.GetTypeUrls(), GolangFilterTypeURL)
	}
	v.extensionRefs[name] = append(v.extensionRefs[name], extensionRef{path: path, typeURLs: d.GetTypeUrls()})
}

// route records the clusters a route uses and checks that a route reaching ingest-v2 requires
// the filter's marker.
func (v *validator) route(path string, r *route.Route) {
	if r.GetName() != "" {
		path = fmt.Sprintf("%s (route %q)", path, r.GetName())
	}
	var clusters []string
	if a := r.GetRoute(); a != nil {
		switch {
		case a.GetCluster() != "":
			clusters = append(clusters, a.GetCluster())
		case a.GetWeightedClusters() != nil:
			for _, w := range a.GetWeightedClusters().GetClusters() {
				if w.GetName() == "" {
					v.add("%s: a weighted cluster without a name (cluster_header) cannot be checked", path)
				}
				clusters = append(clusters, w.GetName())
			}
		default:
			v.add("%s: route action without a fixed cluster (cluster_header, cluster_specifier_plugin, inline plugin) cannot be checked", path)
		}
		for _, m := range a.GetRequestMirrorPolicies() {
			if m.GetCluster() == "" {
				v.add("%s: a mirror policy without a fixed cluster cannot be checked", path)
			}
			clusters = append(clusters, m.GetCluster())
		}
	}
	for _, c := range clusters {
		if c != "" {
			v.clusterRefs[c] = append(v.clusterRefs[c], path)
		}
	}
	for _, c := range []string{ClusterV2, ClusterV2GRPC} {
		if slices.Contains(clusters, c) && !requiresMarker(r.GetMatch()) {
			v.add("%s: reaches %s without requiring %s: %s, so requests the edge filter did not admit could reach it (invariant 4)",
				path, c, filterconfig.DefaultMarkerHeader, filterconfig.MarkerValue)
		}
	}
}

func requiresMarker(m *route.RouteMatch) bool {
	for _, h := range m.GetHeaders() {
		if h.GetName() == filterconfig.DefaultMarkerHeader && !h.GetInvertMatch() && !h.GetTreatMissingHeaderAsEmpty() &&
			h.GetStringMatch().GetExact() == filterconfig.MarkerValue && !h.GetStringMatch().GetIgnoreCase() {
			return true
		}
	}
	return false
}

func (v *validator) crossReferences(snap *cache.Snapshot) {
	secrets := snap.GetResources(resource.SecretType)
	for _, name := range sortedKeys(v.secretRefs) {
		if _, ok := secrets[name]; !ok {
			v.add("secret %q is referenced by %s but not in the snapshot", name, strings.Join(v.secretRefs[name], ", "))
		}
	}
	for _, name := range sortedKeys(secrets) {
		if _, ok := v.secretRefs[name]; !ok {
			v.add("secret %q is not referenced by any TLS context: under ADS an unreferenced secret stalls SDS and the listener stays warming", name)
		}
	}
	clusters := snap.GetResources(resource.ClusterType)
	for _, name := range sortedKeys(v.clusterRefs) {
		if _, ok := clusters[name]; !ok {
			v.add("cluster %q is used by %s but not in the snapshot", name, strings.Join(v.clusterRefs[name], ", "))
		}
	}
	for _, name := range sortedKeys(v.grpcClusters) {
		if p, ok := v.clusterProtocols[name]; ok && p != "h2c" {
			v.add("cluster %q takes OTLP/gRPC calls (%s) but speaks %s upstream: gRPC needs HTTP/2 end to end (explicit_http_config http2_protocol_options)",
				name, strings.Join(v.grpcClusters[name], ", "), p)
		}
	}
	extensions := snap.GetResources(resource.ExtensionConfigType)
	for _, name := range sortedKeys(v.extensionRefs) {
		r, ok := extensions[name]
		for _, ref := range v.extensionRefs[name] {
			switch {
			case !ok:
				v.add("extension config %q is asked for by %s but not in the snapshot: Envoy would keep the listener warming", name, ref.path)
			case !slices.Contains(ref.typeURLs, r.(*core.TypedExtensionConfig).GetTypedConfig().GetTypeUrl()):
				v.add("extension config %q holds a %q, which %s does not accept (type_urls %q): Envoy would reject it", name,
					r.(*core.TypedExtensionConfig).GetTypedConfig().GetTypeUrl(), ref.path, ref.typeURLs)
			}
		}
	}
	for _, name := range sortedKeys(extensions) {
		if _, ok := v.extensionRefs[name]; !ok {
			v.add("extension config %q is not asked for by any HTTP filter's config_discovery", name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func shortType(typeURL string) string {
	switch typeURL {
	case resource.ListenerType:
		return "listener"
	case resource.RouteType:
		return "route configuration"
	case resource.ClusterType:
		return "cluster"
	case resource.EndpointType:
		return "endpoints"
	case resource.SecretType:
		return "secret"
	case resource.ExtensionConfigType:
		return "extension config"
	}
	return typeURL
}
