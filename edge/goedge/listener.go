package goedge

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlymutation "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ingestdev/ingest/edge/filter/envoyhost"
)

// Type URLs of the typed configs the Go edge understands inside a listener.
var (
	typeHCM           = typeURLOf(&hcm.HttpConnectionManager{})
	typeRouter        = typeURLOf(&router.Router{})
	typeGolang        = typeURLOf(&golang.Config{})
	typeEarlyMutation = typeURLOf(&earlymutation.HeaderMutation{})
	typeDownstreamTLS = typeURLOf(&tlsv3.DownstreamTlsContext{})
)

func typeURLOf(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

// listenerConfig is one compiled Listener: its HTTP connection manager and the route
// configuration, secret and filter configuration (ECDS) it needs. Immutable.
type listenerConfig struct {
	name string
	// hash is the SHA-256 of the listener's deterministic encoding: a listener equal to the
	// current one is not a change (Envoy ignores it), any other is, and drains the connections
	// accepted before it (see Edge.install).
	hash [sha256.Size]byte
	// bufferLimit is per_connection_buffer_limit_bytes (0: unset, Config.DefaultBufferLimitBytes).
	bufferLimit     int64
	hcm             hcmConfig
	routeConfigName string
	secretName      string // the SDS secret of the listener certificate
	minTLS          uint16 // always TLS 1.2: the one minimum the control plane emits
	alpn            []string
	// filterConfigName is the ECDS resource of the golang filter's configuration ("" without
	// a golang filter): the name of the HTTP filter that asks for it.
	filterConfigName string
}

// filterConfig is one compiled ECDS resource: the golang filter's configuration, parsed by the
// filter's own Parse. Immutable. A new one applies to the next requests; the filter's
// long-lived state (token buckets, in-flight bytes, the key cache) is not in it.
type filterConfig struct {
	name string
	// pluginName is the golang filter's plugin_name.
	pluginName string
	// filter is the filter with its parsed config; nil when pluginName is not the plugin this
	// edge runs (Envoy then passes requests through unfiltered, and the route table fails
	// closed).
	filter *envoyhost.Filter
}

// sameListener reports whether old (a compiled listener, or nil) is the listener lc.
func sameListener(old any, lc *listenerConfig) bool {
	o, ok := old.(*listenerConfig)
	return ok && o.hash == lc.hash
}

// hcmConfig is what the Go edge applies of an HttpConnectionManager itself. use_remote_address
// is always set (the edge is the first proxy): x-forwarded-for gets the peer address,
// x-forwarded-proto is https and x-request-id is always a new one.
type hcmConfig struct {
	earlyRemove     []string // canonical keys removed before anything looks at the request
	dropUnderscores bool     // headers_with_underscores_action DROP_HEADER
	normalizePath   bool
	mergeSlashes    bool
}

// filterRuntime is what compiling a listener needs to run the golang filter: the plugin
// this edge runs, its parser and factory, and the metrics its Parse defines.
type filterRuntime struct {
	pluginName string
	parser     api.StreamFilterConfigParser
	factory    api.StreamFilterFactory
	metrics    *envoyhost.Metrics
	// close ends the filter's long-lived state at shutdown (the edge filter's parity reporter
	// sends its last report); nil: nothing to close.
	close func(context.Context) error
}

// alpnProtocols are the ALPN protocols the Go edge serves (the control plane emits both).
var alpnProtocols = []string{"h2", "http/1.1"}

// compileListener compiles a Listener as the control plane builds it: one filter chain
// holding one HTTP connection manager over RDS (ADS), TLS with its certificate from SDS (ADS),
// the golang filter with its configuration over ECDS (ADS), and the router. A field the
// control plane does not emit rejects the listener (Envoy NACKs it).
func compileListener(l *listener.Listener) (*listenerConfig, error) {
	if err := checkEmitted(l); err != nil {
		return nil, fmt.Errorf("cannot apply listener %q: %w", l.GetName(), err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("cannot apply listener %q: %w", l.GetName(), err)
	}
	c := &compiler{}
	lc := &listenerConfig{name: l.GetName(), hash: sha256.Sum256(b), bufferLimit: int64(l.GetPerConnectionBufferLimitBytes().GetValue()), minTLS: tls.VersionTLS12}
	if n := len(l.GetFilterChains()); n != 1 {
		c.fail("the Go edge serves exactly one filter chain, not %d", n)
	}
	for i, fc := range l.GetFilterChains() {
		c.push(fmt.Sprintf("filter_chains[%d]", i))
		if n := len(fc.GetFilters()); n != 1 {
			c.fail("the Go edge serves a filter chain of exactly one HTTP connection manager, not %d network filters", n)
		}
		for j, nf := range fc.GetFilters() {
			if nf.GetTypedConfig().GetTypeUrl() != typeHCM {
				c.fail("network filter %q of type %q is not supported by the Go edge", nf.GetName(), nf.GetTypedConfig().GetTypeUrl())
				continue
			}
			h := &hcm.HttpConnectionManager{}
			if !c.unpack("http_connection_manager", nf.GetTypedConfig(), h) {
				continue
			}
			c.push(elemName("filters", j, nf.GetName()) + ".typed_config")
			c.hcm(h, lc)
			c.pop()
		}
		ts := fc.GetTransportSocket()
		if ts.GetTypedConfig().GetTypeUrl() != typeDownstreamTLS {
			c.fail("the Go edge serves TLS only: the filter chain needs a DownstreamTlsContext transport_socket")
		} else if d := (&tlsv3.DownstreamTlsContext{}); c.unpack("transport_socket", ts.GetTypedConfig(), d) {
			c.push("transport_socket.typed_config")
			c.downstreamTLS(d.GetCommonTlsContext(), lc)
			c.pop()
		}
		c.pop()
	}
	if err := c.err(); err != nil {
		return nil, fmt.Errorf("cannot apply listener %q: %w", l.GetName(), err)
	}
	return lc, nil
}

// unpack unpacks and validates a typed config.
func (c *compiler) unpack(what string, a *anypb.Any, m proto.Message) bool {
	if err := a.UnmarshalTo(m); err != nil {
		c.fail("%s: %v", what, err)
		return false
	}
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			c.fail("%s: %v", what, err)
			return false
		}
	}
	return true
}

// ads checks that a config source is ADS with the v3 API, the one the control plane emits.
func (c *compiler) ads(field string, src *core.ConfigSource) {
	if src.GetAds() == nil || src.GetResourceApiVersion() != core.ApiVersion_V3 {
		c.fail("%s: only ADS with resource_api_version V3 is supported by the Go edge", field)
	}
}

func (c *compiler) hcm(h *hcm.HttpConnectionManager, lc *listenerConfig) {
	if h.GetRds() == nil {
		c.fail("route_specifier: only rds is supported by the Go edge, not %T", h.GetRouteSpecifier())
	} else {
		c.ads("rds.config_source", h.GetRds().GetConfigSource())
		lc.routeConfigName = h.GetRds().GetRouteConfigName()
	}
	if !h.GetUseRemoteAddress().GetValue() {
		c.fail("use_remote_address must be true: the Go edge is the first proxy (the control plane sets it)")
	}
	lc.hcm.normalizePath = h.GetNormalizePath().GetValue()
	lc.hcm.mergeSlashes = h.GetMergeSlashes()
	switch a := h.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(); a {
	case core.HttpProtocolOptions_ALLOW:
	case core.HttpProtocolOptions_DROP_HEADER:
		lc.hcm.dropUnderscores = true
	default:
		c.fail("common_http_protocol_options.headers_with_underscores_action %s is not supported by the Go edge (the control plane emits DROP_HEADER)", a)
	}
	for i, ext := range h.GetEarlyHeaderMutationExtensions() {
		name := elemName("early_header_mutation_extensions", i, ext.GetName())
		if ext.GetTypedConfig().GetTypeUrl() != typeEarlyMutation {
			c.fail("%s of type %q is not supported by the Go edge", name, ext.GetTypedConfig().GetTypeUrl())
			continue
		}
		m := &earlymutation.HeaderMutation{}
		if !c.unpack(name, ext.GetTypedConfig(), m) {
			continue
		}
		for _, mu := range m.GetMutations() {
			lc.hcm.earlyRemove = append(lc.hcm.earlyRemove, http.CanonicalHeaderKey(strings.ToLower(mu.GetRemove())))
		}
	}

	filters := h.GetHttpFilters()
	if len(filters) == 0 || filters[len(filters)-1].GetTypedConfig().GetTypeUrl() != typeRouter {
		c.fail("http_filters: the last http filter must be the router")
	}
	for i, f := range filters {
		name := elemName("http_filters", i, f.GetName())
		if d := f.GetConfigDiscovery(); d != nil {
			// The golang filter, its configuration over ECDS under the filter's name.
			c.ads(name+".config_discovery.config_source", d.GetConfigSource())
			if !slices.Equal(d.GetTypeUrls(), []string{typeGolang}) {
				c.fail("%s.config_discovery.type_urls %q: the Go edge takes only the golang filter's configuration over ECDS", name, d.GetTypeUrls())
			}
			if lc.filterConfigName != "" {
				c.fail("%s: the Go edge runs one golang filter, not several", name)
				continue
			}
			lc.filterConfigName = f.GetName()
			continue
		}
		switch url := f.GetTypedConfig().GetTypeUrl(); url {
		case typeRouter:
			if i != len(filters)-1 {
				c.fail("%s: the router must be the last filter", name)
			}
		case typeGolang:
			c.fail("%s: the Go edge takes the golang filter's configuration over ECDS only (config_discovery), as the control plane emits it: "+
				"inside the listener, every key or quota change would drain every client connection", name)
		default:
			c.fail("%s of type %q is not supported by the Go edge", name, url)
		}
	}
}

// compileFilterConfig compiles the ECDS resource of the golang filter: its plugin_config is
// parsed with the filter's own Parse, once per push, as Envoy does. A field the control plane
// does not emit, another filter's type or a Parse error rejects it (Envoy NACKs it and keeps
// the previous configuration); a golang filter for another plugin_name is passed through, as
// Envoy does (fail open at the filter, closed at the routes).
func compileFilterConfig(ec *core.TypedExtensionConfig, fr filterRuntime) (*filterConfig, error) {
	if err := checkEmitted(ec); err != nil {
		return nil, fmt.Errorf("cannot apply extension config %q: %w", ec.GetName(), err)
	}
	if url := ec.GetTypedConfig().GetTypeUrl(); url != typeGolang {
		return nil, fmt.Errorf("cannot apply extension config %q: type %q is not supported by the Go edge (only the golang filter's configuration is)", ec.GetName(), url)
	}
	c := &compiler{}
	g := &golang.Config{}
	if !c.unpack("typed_config", ec.GetTypedConfig(), g) {
		return nil, fmt.Errorf("cannot apply extension config %q: %w", ec.GetName(), c.err())
	}
	fc := &filterConfig{name: ec.GetName(), pluginName: g.GetPluginName()}
	if g.GetPluginName() != fr.pluginName {
		// Envoy passes traffic through a golang filter whose plugin is not registered.
		return fc, nil
	}
	parsed, err := envoyhost.ParseConfig(fr.parser, g.GetPluginConfig(), fr.metrics)
	if err != nil {
		return nil, fmt.Errorf("cannot apply extension config %q: plugin %q: %w", ec.GetName(), g.GetPluginName(), err)
	}
	fc.filter = &envoyhost.Filter{Factory: fr.factory, Config: parsed}
	return fc, nil
}

func (c *compiler) downstreamTLS(common *tlsv3.CommonTlsContext, lc *listenerConfig) {
	sds := common.GetTlsCertificateSdsSecretConfigs()
	if len(sds) != 1 {
		c.fail("common_tls_context.tls_certificate_sds_secret_configs: the Go edge serves exactly one certificate from SDS, not %d", len(sds))
	}
	for i, s := range sds {
		c.ads(elemName("common_tls_context.tls_certificate_sds_secret_configs", i, s.GetName())+".sds_config", s.GetSdsConfig())
		lc.secretName = s.GetName()
	}
	switch v := common.GetTlsParams().GetTlsMinimumProtocolVersion(); v {
	case tlsv3.TlsParameters_TLS_AUTO, tlsv3.TlsParameters_TLSv1_2:
	default:
		c.fail("common_tls_context.tls_params.tls_minimum_protocol_version %s is not supported by the Go edge (the control plane emits TLSv1_2)", v)
	}
	lc.alpn = alpnProtocols
	for _, p := range common.GetAlpnProtocols() {
		if !slices.Contains(alpnProtocols, p) {
			c.fail("common_tls_context.alpn_protocols: %q is not supported by the Go edge (the control plane emits h2 and http/1.1)", p)
		}
	}
	if len(common.GetAlpnProtocols()) > 0 {
		lc.alpn = common.GetAlpnProtocols()
	}
}

// compileSecret compiles an SDS Secret holding a TLS certificate (inline PEM chain and key).
func compileSecret(s *tlsv3.Secret) (*tls.Certificate, error) {
	if err := checkEmitted(s); err != nil {
		return nil, fmt.Errorf("cannot apply secret %q: %w", s.GetName(), err)
	}
	tc := s.GetTlsCertificate()
	if tc == nil {
		return nil, fmt.Errorf("cannot apply secret %q: only tls_certificate secrets are supported by the Go edge", s.GetName())
	}
	cert, err := tls.X509KeyPair(dataSource(tc.GetCertificateChain()), dataSource(tc.GetPrivateKey()))
	if err != nil {
		return nil, fmt.Errorf("cannot apply secret %q: cannot load certificate: %w", s.GetName(), err)
	}
	return &cert, nil
}
