package goedge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	mutation "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlymutation "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	previoushosts "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// xdsTypes are the resource types the edge subscribes to, in the order it subscribes.
var xdsTypes = []string{resource.ClusterType, resource.ListenerType, resource.EndpointType, resource.RouteType, resource.SecretType,
	resource.ExtensionConfigType}

// shortType returns a type URL's message name ("Listener"...), for logs and labels.
func shortType(typeURL string) string {
	switch typeURL {
	case resource.ClusterType:
		return "cds"
	case resource.ListenerType:
		return "lds"
	case resource.EndpointType:
		return "eds"
	case resource.RouteType:
		return "rds"
	case resource.SecretType:
		return "sds"
	case resource.ExtensionConfigType:
		return "ecds"
	}
	return "unknown"
}

// typeState is what the edge holds of one resource type: the last accepted version, its
// compiled resources by name, the names it subscribed to (nil: wildcard) and the last nonce
// received on the current stream.
type typeState struct {
	version    string
	nonce      string
	rejected   string // the last rejected version and error, to log a repeated NACK once
	subscribed []string
	resources  map[string]any
}

// xdsStore holds the accepted xDS resources, compiled, and assembles them into a
// [snapshot]. It belongs to the one goroutine that runs the ADS stream (or to a test).
type xdsStore struct {
	listenerName string
	filter       filterRuntime
	types        map[string]*typeState
}

func newXDSStore(listenerName string, fr filterRuntime) *xdsStore {
	s := &xdsStore{listenerName: listenerName, filter: fr, types: map[string]*typeState{}}
	for _, t := range xdsTypes {
		ts := &typeState{resources: map[string]any{}}
		if t != resource.ClusterType && t != resource.ListenerType {
			ts.subscribed = []string{}
		}
		s.types[t] = ts
	}
	return s
}

// apply decodes, validates and compiles one state-of-the-world response for typeURL. On an
// error nothing changes (the caller NACKs); otherwise the type's resources and version are
// replaced, and apply returns, for each dependent type whose subscription changed, the names
// to subscribe to now.
func (s *xdsStore) apply(typeURL, version string, anys []*anypb.Any) (map[string][]string, error) {
	ts, ok := s.types[typeURL]
	if !ok {
		return nil, fmt.Errorf("cannot apply resources of type %q: the Go edge does not subscribe to it", typeURL)
	}
	compiled := map[string]any{}
	var errs []error
	var listeners []*listener.Listener
	for _, a := range anys {
		if a.GetTypeUrl() != typeURL {
			errs = append(errs, fmt.Errorf("resource of type %q in a response of type %q", a.GetTypeUrl(), typeURL))
			continue
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot decode %s resource: %w", shortType(typeURL), err))
			continue
		}
		if v, ok := m.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("invalid %s resource %q: %w", shortType(typeURL), resourceName(m), err))
				continue
			}
		}
		switch r := m.(type) {
		case *listener.Listener:
			listeners = append(listeners, r)
		case *routev3.RouteConfiguration:
			t, err := compileRoutes(r, s.clusterNames())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetName()] = t
		case *cluster.Cluster:
			c, err := compileCluster(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetName()] = c
		case *endpoint.ClusterLoadAssignment:
			eps, err := compileEndpoints(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetClusterName()] = eps
		case *tlsv3.Secret:
			c, err := compileSecret(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetName()] = c
		case *core.TypedExtensionConfig:
			fc, err := compileFilterConfig(r, s.filter)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			compiled[r.GetName()] = fc
		default:
			errs = append(errs, fmt.Errorf("unexpected resource %T", m))
		}
	}
	if typeURL == resource.ListenerType && len(errs) == 0 {
		// Only the listener this edge serves is compiled (its filter config parsed).
		l, err := s.pickListener(listeners)
		if err != nil {
			errs = append(errs, err)
		} else if l != nil {
			lc, err := compileListener(l)
			switch {
			case err != nil:
				errs = append(errs, err)
			case sameListener(ts.resources[l.GetName()], lc):
				// Envoy ignores a listener identical to the one it has: no drain.
				compiled[l.GetName()] = ts.resources[l.GetName()]
			default:
				compiled[l.GetName()] = lc
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	switch typeURL {
	case resource.ListenerType, resource.ClusterType:
		// Wildcard: the response is the whole set.
		ts.resources = compiled
	default:
		// Named: a response updates what it holds; names no longer subscribed are dropped.
		next := maps.Clone(ts.resources)
		maps.Copy(next, compiled)
		for name := range next {
			if !slices.Contains(ts.subscribed, name) {
				delete(next, name)
			}
		}
		ts.resources = next
	}
	ts.version = version

	subs := map[string][]string{}
	for typ, names := range s.references(typeURL) {
		dt := s.types[typ]
		if !slices.Equal(dt.subscribed, names) {
			dt.subscribed = names
			for name := range dt.resources {
				if !slices.Contains(names, name) {
					delete(dt.resources, name)
				}
			}
			subs[typ] = names
		}
	}
	return subs, nil
}

// pickListener returns the listener this edge serves: the one named Config.ListenerName, or
// the only one. No listener at all is not an error (the edge keeps its last configuration).
func (s *xdsStore) pickListener(ls []*listener.Listener) (*listener.Listener, error) {
	if s.listenerName != "" {
		for _, l := range ls {
			if l.GetName() == s.listenerName {
				return l, nil
			}
		}
		return nil, nil
	}
	switch len(ls) {
	case 0:
		return nil, nil
	case 1:
		return ls[0], nil
	}
	names := make([]string, 0, len(ls))
	for _, l := range ls {
		names = append(names, l.GetName())
	}
	return nil, fmt.Errorf("cannot pick a listener among %q: set the edge's listener_name", names)
}

// references returns, after typeURL changed, the names each dependent type must subscribe to.
func (s *xdsStore) references(typeURL string) map[string][]string {
	switch typeURL {
	case resource.ClusterType:
		var eds []string
		for _, r := range s.types[typeURL].resources {
			eds = append(eds, r.(*clusterConfig).edsName)
		}
		return map[string][]string{resource.EndpointType: sortedUnique(eds)}
	case resource.ListenerType:
		rds, sds, ecds := []string{}, []string{}, []string{}
		for _, r := range s.types[typeURL].resources {
			lc := r.(*listenerConfig)
			rds = append(rds, lc.routeConfigName)
			sds = append(sds, lc.secretName)
			if lc.filterConfigName != "" {
				ecds = append(ecds, lc.filterConfigName)
			}
		}
		return map[string][]string{resource.RouteType: sortedUnique(rds), resource.SecretType: sortedUnique(sds),
			resource.ExtensionConfigType: sortedUnique(ecds)}
	}
	return nil
}

// clusterNames returns the names of the accepted clusters.
func (s *xdsStore) clusterNames() clusterSet {
	out := clusterSet{}
	for name := range s.types[resource.ClusterType].resources {
		out[name] = true
	}
	return out
}

func (s *xdsStore) versions() map[string]string {
	out := make(map[string]string, len(s.types))
	for t, ts := range s.types {
		out[t] = ts.version
	}
	return out
}

// parts is a complete set of compiled resources, ready to become a snapshot.
type parts struct {
	listener  *listenerConfig
	filter    *filterConfig // nil: the listener has no golang filter
	routes    *routeTable
	cert      *tls.Certificate // nil: from the edge's files
	clusters  map[string]*clusterConfig
	endpoints map[string][]string // by cluster name
	versions  map[string]string
}

// complete returns the parts of a complete configuration, or a reason why there is none
// yet (a listener, route configuration, secret, filter configuration or endpoints still to
// come; Envoy would keep them warming). fileCert says the certificate comes from files, not from SDS.
func (s *xdsStore) complete(fileCert bool) (*parts, string) {
	var lc *listenerConfig
	for _, r := range s.types[resource.ListenerType].resources {
		lc = r.(*listenerConfig)
	}
	if lc == nil {
		return nil, "no listener yet"
	}
	p := &parts{listener: lc, clusters: map[string]*clusterConfig{}, endpoints: map[string][]string{}, versions: s.versions()}
	rt, ok := s.types[resource.RouteType].resources[lc.routeConfigName].(*routeTable)
	if !ok {
		return nil, fmt.Sprintf("waiting for route configuration %q", lc.routeConfigName)
	}
	p.routes = rt
	if lc.filterConfigName != "" {
		fc, ok := s.types[resource.ExtensionConfigType].resources[lc.filterConfigName].(*filterConfig)
		if !ok {
			return nil, fmt.Sprintf("waiting for the edge filter's configuration %q (ECDS)", lc.filterConfigName)
		}
		p.filter = fc
	}
	if !fileCert {
		c, ok := s.types[resource.SecretType].resources[lc.secretName].(*tls.Certificate)
		if !ok {
			return nil, fmt.Sprintf("waiting for secret %q", lc.secretName)
		}
		p.cert = c
	}
	for name, r := range s.types[resource.ClusterType].resources {
		c := r.(*clusterConfig)
		p.clusters[name] = c
		eps, ok := s.types[resource.EndpointType].resources[c.edsName].([]string)
		if !ok {
			return nil, fmt.Sprintf("waiting for the endpoints of cluster %q", name)
		}
		p.endpoints[name] = eps
	}
	return p, ""
}

func resourceName(m proto.Message) string {
	if cla, ok := m.(interface{ GetClusterName() string }); ok {
		return cla.GetClusterName()
	}
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return ""
}

func sortedUnique(s []string) []string {
	if s == nil {
		s = []string{}
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// dataSource returns the bytes of an inline DataSource (the control plane sends certificates
// as inline_bytes and the direct response body as inline_string; files and environment
// variables are refused by [checkEmitted]).
func dataSource(ds *core.DataSource) []byte {
	if s, ok := ds.GetSpecifier().(*core.DataSource_InlineString); ok {
		return []byte(s.InlineString)
	}
	return ds.GetInlineBytes()
}

// emittedFields is the subset of the xDS API the Go edge implements: for every message type
// the control plane's builders (controlplane/xds/builders.go) put in a resource, the fields
// they set, whatever the stage of the tenants (legacy, shadow, canary, v2). The golden
// snapshots pin it both ways (TestEveryGoldenSnapshotIsAccepted,
// TestEveryEmittedFieldIsInAGoldenSnapshot). A field that is not listed, a message type that
// is not listed in a typed config, or an unknown field is refused by [checkEmitted]: the
// update is NACKed rather than half-applied. Which values a listed field may take (enums,
// retry_on tokens...) is checked where the resource is compiled.
var emittedFields = emittedSet(
	// LDS
	emit(&listener.Listener{}, "name", "address", "per_connection_buffer_limit_bytes", "filter_chains"),
	emit(&core.Address{}, "socket_address"),
	emit(&core.SocketAddress{}, "address", "port_value"),
	emit(&listener.FilterChain{}, "filters", "transport_socket"),
	emit(&listener.Filter{}, "name", "typed_config"),
	emit(&core.TransportSocket{}, "name", "typed_config"),
	emit(&tlsv3.DownstreamTlsContext{}, "common_tls_context"),
	emit(&tlsv3.CommonTlsContext{}, "tls_params", "tls_certificate_sds_secret_configs", "alpn_protocols"),
	emit(&tlsv3.TlsParameters{}, "tls_minimum_protocol_version"),
	emit(&tlsv3.SdsSecretConfig{}, "name", "sds_config"),
	emit(&core.ConfigSource{}, "ads", "resource_api_version"),
	emit(&core.AggregatedConfigSource{}),
	emit(&hcm.HttpConnectionManager{}, "stat_prefix", "rds", "early_header_mutation_extensions", "http_filters",
		"use_remote_address", "normalize_path", "merge_slashes", "stream_idle_timeout", "common_http_protocol_options",
		"request_headers_timeout", "http2_protocol_options"),
	emit(&hcm.Rds{}, "config_source", "route_config_name"),
	emit(&core.TypedExtensionConfig{}, "name", "typed_config"),
	emit(&earlymutation.HeaderMutation{}, "mutations"),
	emit(&mutation.HeaderMutation{}, "remove"),
	emit(&hcm.HttpFilter{}, "name", "typed_config", "config_discovery"),
	emit(&core.ExtensionConfigSource{}, "config_source", "type_urls"),
	emit(&golang.Config{}, "library_id", "library_path", "plugin_name", "plugin_config"),
	emit(&router.Router{}),
	emit(&core.HttpProtocolOptions{}, "idle_timeout", "headers_with_underscores_action"),
	emit(&core.Http2ProtocolOptions{}, "max_concurrent_streams", "initial_stream_window_size", "initial_connection_window_size"),
	// RDS
	emit(&routev3.RouteConfiguration{}, "name", "virtual_hosts", "request_headers_to_remove", "validate_clusters"),
	emit(&routev3.VirtualHost{}, "name", "domains", "routes", "retry_policy", "per_request_buffer_limit_bytes"),
	emit(&routev3.Route{}, "name", "match", "route", "direct_response", "request_headers_to_add", "response_headers_to_add"),
	emit(&routev3.RouteMatch{}, "prefix", "headers"),
	emit(&routev3.HeaderMatcher{}, "name", "string_match"),
	emit(&matcher.StringMatcher{}, "exact"),
	emit(&routev3.RouteAction{}, "cluster", "weighted_clusters", "timeout", "request_mirror_policies", "host_rewrite_literal"),
	emit(&routev3.WeightedCluster{}, "clusters"),
	emit(&routev3.WeightedCluster_ClusterWeight{}, "name", "weight", "request_headers_to_add", "host_rewrite_literal"),
	emit(&routev3.RouteAction_RequestMirrorPolicy{}, "cluster", "runtime_fraction"),
	emit(&core.RuntimeFractionalPercent{}, "default_value", "runtime_key"),
	emit(&typev3.FractionalPercent{}, "numerator"),
	emit(&routev3.DirectResponseAction{}, "status", "body"),
	emit(&core.DataSource{}, "inline_bytes", "inline_string"),
	emit(&core.HeaderValueOption{}, "header", "append_action"),
	emit(&core.HeaderValue{}, "key", "value"),
	emit(&routev3.RetryPolicy{}, "retry_on", "num_retries", "retriable_status_codes", "retry_back_off",
		"rate_limited_retry_back_off", "retry_host_predicate", "host_selection_retry_max_attempts"),
	emit(&routev3.RetryPolicy_RetryBackOff{}, "base_interval", "max_interval"),
	emit(&routev3.RetryPolicy_RateLimitedRetryBackOff{}, "reset_headers", "max_interval"),
	emit(&routev3.RetryPolicy_ResetHeader{}, "name"),
	emit(&routev3.RetryPolicy_RetryHostPredicate{}, "name", "typed_config"),
	emit(&previoushosts.PreviousHostsPredicate{}),
	// CDS
	emit(&cluster.Cluster{}, "name", "type", "eds_cluster_config", "connect_timeout", "lb_policy", "circuit_breakers",
		"per_connection_buffer_limit_bytes", "typed_extension_protocol_options"),
	emit(&cluster.Cluster_EdsClusterConfig{}, "eds_config", "service_name"),
	emit(&cluster.CircuitBreakers{}, "thresholds"),
	emit(&cluster.CircuitBreakers_Thresholds{}, "max_connections", "max_pending_requests", "max_requests", "max_retries", "track_remaining"),
	emit(&upstreamhttp.HttpProtocolOptions{}, "explicit_http_config", "common_http_protocol_options"),
	emit(&upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{}, "http_protocol_options", "http2_protocol_options"),
	emit(&core.Http1ProtocolOptions{}),
	// EDS
	emit(&endpoint.ClusterLoadAssignment{}, "cluster_name", "endpoints"),
	emit(&endpoint.LocalityLbEndpoints{}, "lb_endpoints"),
	emit(&endpoint.LbEndpoint{}, "endpoint"),
	emit(&endpoint.Endpoint{}, "address"),
	// SDS
	emit(&tlsv3.Secret{}, "name", "tls_certificate"),
	emit(&tlsv3.TlsCertificate{}, "certificate_chain", "private_key"),
	// ECDS: a TypedExtensionConfig (listed under LDS) holding the golang.Config.
)

// opaqueFields are emitted fields that checkEmitted does not descend into: the golang filter's
// plugin_config is the edge filter's own configuration, checked by its Parse.
var opaqueFields = map[protoreflect.FullName]bool{
	(&golang.Config{}).ProtoReflect().Descriptor().Fields().ByName("plugin_config").FullName(): true,
}

type emittedMessage struct {
	name   protoreflect.FullName
	fields []protoreflect.Name
}

func emit(m proto.Message, fields ...protoreflect.Name) emittedMessage {
	return emittedMessage{name: m.ProtoReflect().Descriptor().FullName(), fields: fields}
}

func emittedSet(ms ...emittedMessage) map[protoreflect.FullName]map[protoreflect.Name]bool {
	out := make(map[protoreflect.FullName]map[protoreflect.Name]bool, len(ms))
	for _, m := range ms {
		fs := make(map[protoreflect.Name]bool, len(m.fields))
		for _, f := range m.fields {
			fs[f] = true
		}
		out[m.name] = fs
	}
	return out
}

// checkEmitted reports every field set in m, and in the typed configs it holds, that the
// control plane does not emit ([emittedFields]), each with its path from m
// (virtual_hosts["ingest"].routes["tenant:acme"].match.headers["x-tenant-id"]).
func checkEmitted(m proto.Message) error {
	var errs []error
	walkEmitted(m.ProtoReflect(), "", &errs)
	return errors.Join(errs...)
}

func walkEmitted(m protoreflect.Message, path string, errs *[]error) {
	d := m.Descriptor()
	allowed, ok := emittedFields[d.FullName()]
	if !ok {
		*errs = append(*errs, fmt.Errorf("%s%s is not supported by the Go edge", at(path), d.FullName()))
		return
	}
	if len(m.GetUnknown()) > 0 {
		*errs = append(*errs, fmt.Errorf("%sfields unknown to the Go edge's %s are not supported", at(path), d.Name()))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if !allowed[fd.Name()] {
			*errs = append(*errs, fmt.Errorf("%s%s is not supported by the Go edge (%s)", at(path), fd.Name(), emittedHint(d, allowed)))
			return true
		}
		if fd.Message() == nil || opaqueFields[fd.FullName()] {
			return true
		}
		fp := string(fd.Name())
		if path != "" {
			fp = path + "." + fp
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkValue(l.Get(i).Message(), elem(fp, i, l.Get(i).Message()), errs)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walkValue(mv.Message(), fmt.Sprintf("%s[%q]", fp, k.String()), errs)
				return true
			})
		default:
			walkValue(v.Message(), fp, errs)
		}
		return true
	})
}

// walkValue checks a message-typed value: an Any is unpacked (its type must be emitted),
// well-known types (durations, wrappers) are values, anything else is walked.
func walkValue(m protoreflect.Message, path string, errs *[]error) {
	d := m.Descriptor()
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: typed config of type %q is not supported by the Go edge", path, a.GetTypeUrl()))
			return
		}
		if _, ok := emittedFields[inner.ProtoReflect().Descriptor().FullName()]; !ok {
			*errs = append(*errs, fmt.Errorf("%s: typed config of type %q is not supported by the Go edge", path, a.GetTypeUrl()))
			return
		}
		walkEmitted(inner.ProtoReflect(), path, errs)
		return
	}
	if d.ParentFile().Package() == "google.protobuf" {
		return
	}
	walkEmitted(m, path, errs)
}

// elem names the element i of the list at path: by its name (or cluster) when it has one.
func elem(path string, i int, m protoreflect.Message) string {
	for _, f := range []protoreflect.Name{"name", "cluster_name", "cluster"} {
		if fd := m.Descriptor().Fields().ByName(f); fd != nil && fd.Kind() == protoreflect.StringKind {
			if n := m.Get(fd).String(); n != "" {
				return fmt.Sprintf("%s[%q]", path, n)
			}
		}
	}
	return fmt.Sprintf("%s[%d]", path, i)
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// emittedHint says what the control plane sets in a message of type d.
func emittedHint(d protoreflect.MessageDescriptor, allowed map[protoreflect.Name]bool) string {
	if len(allowed) == 0 {
		return fmt.Sprintf("the control plane sets no field of a %s", d.Name())
	}
	names := make([]string, 0, len(allowed))
	for n := range allowed {
		names = append(names, string(n))
	}
	slices.Sort(names)
	return fmt.Sprintf("the control plane sets only %s of a %s", strings.Join(names, ", "), d.Name())
}
