package goedge

import (
	"crypto/tls"
	"fmt"
	"net/http"
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

// listenerConfig is one compiled Listener: its HTTP connection manager, the golang filter
// with its parsed configuration, the route configuration and secrets it needs. Immutable.
type listenerConfig struct {
	name string
	// bufferLimit is per_connection_buffer_limit_bytes (0: unset, Config.DefaultBufferLimitBytes).
	bufferLimit     int64
	hcm             hcmConfig
	routeConfigName string
	secretNames     []string         // SDS secrets of the listener certificate
	inlineCert      *tls.Certificate // or an inline certificate
	minTLS          uint16
	alpn            []string
	// filter is the golang filter with its parsed config; nil when the listener has no golang
	// filter for the plugin this edge runs (Envoy then passes requests through unfiltered, and
	// the route table fails closed).
	filter *envoyhost.Filter
	// pluginName is the golang filter's plugin_name ("" without a golang filter).
	pluginName string
}

// hcmConfig is what the Go edge applies of an HttpConnectionManager itself.
type hcmConfig struct {
	earlyRemove       []string // canonical keys removed before anything looks at the request
	dropUnderscores   bool     // headers_with_underscores_action DROP_HEADER
	rejectUnderscores bool     // REJECT_REQUEST
	normalizePath     bool
	mergeSlashes      bool
	useRemoteAddress  bool
	skipXFFAppend     bool
	generateRequestID bool
	preserveRequestID bool
}

// filterRuntime is what compiling a listener needs to run the golang filter: the plugin
// this edge runs, its parser and factory, and the metrics its Parse defines.
type filterRuntime struct {
	pluginName string
	parser     api.StreamFilterConfigParser
	factory    api.StreamFilterFactory
	metrics    *envoyhost.Metrics
}

// compileListener compiles a Listener: one filter chain holding one HTTP connection manager
// over RDS (ADS), TLS from SDS (ADS) or inline, the golang filter (its plugin_config parsed
// with the filter's own Parse, once per push, as Envoy does) and the router. A Parse error
// rejects the listener (Envoy NACKs it); a golang filter for another plugin_name is passed
// through, as Envoy does (fail open at the filter, closed at the routes).
func compileListener(l *listener.Listener, fr filterRuntime) (*listenerConfig, error) {
	c := &compiler{}
	lc := &listenerConfig{name: l.GetName(), bufferLimit: int64(l.GetPerConnectionBufferLimitBytes().GetValue()), minTLS: tls.VersionTLS12}
	if l.GetPerConnectionBufferLimitBytes() == nil {
		lc.bufferLimit = 0
	}
	c.unsupported(l.GetUseOriginalDst().GetValue(), "use_original_dst")
	c.unsupported(l.GetFilterChainMatcher() != nil, "filter_chain_matcher")
	c.unsupported(l.GetDefaultFilterChain() != nil, "default_filter_chain")
	c.unsupported(l.GetApiListener() != nil, "api_listener")
	c.unsupported(l.GetInternalListener() != nil, "internal_listener")
	if n := len(l.GetFilterChains()); n != 1 {
		c.fail("the Go edge serves exactly one filter chain, not %d", n)
	}
	for _, fc := range l.GetFilterChains() {
		if m := fc.GetFilterChainMatch(); m != nil && !proto.Equal(m, &listener.FilterChainMatch{}) {
			c.fail("filter_chain_match is not supported by the Go edge")
		}
		if n := len(fc.GetFilters()); n != 1 {
			c.fail("the Go edge serves a filter chain of exactly one HTTP connection manager, not %d network filters", n)
		}
		for _, nf := range fc.GetFilters() {
			if nf.GetTypedConfig().GetTypeUrl() != typeHCM {
				c.fail("network filter %q of type %q is not supported by the Go edge", nf.GetName(), nf.GetTypedConfig().GetTypeUrl())
				continue
			}
			h := &hcm.HttpConnectionManager{}
			if !c.unpack("http_connection_manager", nf.GetTypedConfig(), h) {
				continue
			}
			c.push("http_connection_manager")
			c.hcm(h, lc, fr)
			c.pop()
		}
		ts := fc.GetTransportSocket()
		if ts.GetTypedConfig().GetTypeUrl() != typeDownstreamTLS {
			c.fail("the Go edge serves TLS only: the filter chain needs a DownstreamTlsContext transport socket")
			continue
		}
		d := &tlsv3.DownstreamTlsContext{}
		if c.unpack("transport_socket", ts.GetTypedConfig(), d) {
			c.push("transport_socket")
			c.downstreamTLS(d, lc)
			c.pop()
		}
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

func (c *compiler) hcm(h *hcm.HttpConnectionManager, lc *listenerConfig, fr filterRuntime) {
	switch {
	case h.GetRds() != nil:
		if h.GetRds().GetConfigSource().GetAds() == nil {
			c.fail("rds.config_source: only ADS is supported by the Go edge")
		}
		lc.routeConfigName = h.GetRds().GetRouteConfigName()
	default:
		c.fail("route_specifier: only rds is supported by the Go edge, not %T", h.GetRouteSpecifier())
	}
	c.unsupported(h.GetLocalReplyConfig() != nil, "local_reply_config")
	c.unsupported(h.GetXffNumTrustedHops() > 0, "xff_num_trusted_hops")
	c.unsupported(len(h.GetOriginalIpDetectionExtensions()) > 0, "original_ip_detection_extensions")
	c.unsupported(h.GetStripMatchingHostPort() || h.GetStripAnyHostPort(), "strip_matching_host_port/strip_any_host_port")
	c.unsupported(h.GetPathNormalizationOptions() != nil, "path_normalization_options")
	c.unsupported(h.GetRequestIdExtension() != nil, "request_id_extension")
	switch h.GetPathWithEscapedSlashesAction() {
	case hcm.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT, hcm.HttpConnectionManager_KEEP_UNCHANGED:
	default:
		c.fail("path_with_escaped_slashes_action %s is not supported by the Go edge", h.GetPathWithEscapedSlashesAction())
	}
	lc.hcm.normalizePath = h.GetNormalizePath().GetValue()
	lc.hcm.mergeSlashes = h.GetMergeSlashes()
	lc.hcm.useRemoteAddress = h.GetUseRemoteAddress().GetValue()
	lc.hcm.skipXFFAppend = h.GetSkipXffAppend()
	lc.hcm.generateRequestID = h.GetGenerateRequestId() == nil || h.GetGenerateRequestId().GetValue()
	lc.hcm.preserveRequestID = h.GetPreserveExternalRequestId()
	switch h.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction() {
	case core.HttpProtocolOptions_DROP_HEADER:
		lc.hcm.dropUnderscores = true
	case core.HttpProtocolOptions_REJECT_REQUEST:
		lc.hcm.rejectUnderscores = true
	}
	for _, ext := range h.GetEarlyHeaderMutationExtensions() {
		if ext.GetTypedConfig().GetTypeUrl() != typeEarlyMutation {
			c.fail("early_header_mutation_extensions %q of type %q is not supported by the Go edge", ext.GetName(), ext.GetTypedConfig().GetTypeUrl())
			continue
		}
		m := &earlymutation.HeaderMutation{}
		if !c.unpack("early_header_mutation_extensions", ext.GetTypedConfig(), m) {
			continue
		}
		for _, mu := range m.GetMutations() {
			if mu.GetRemove() == "" {
				c.fail("early header mutation %T is not supported by the Go edge (remove is)", mu.GetAction())
				continue
			}
			lc.hcm.earlyRemove = append(lc.hcm.earlyRemove, http.CanonicalHeaderKey(strings.ToLower(mu.GetRemove())))
		}
	}

	filters := h.GetHttpFilters()
	for i, f := range filters {
		if f.GetDisabled() {
			continue
		}
		last := i == len(filters)-1
		switch url := f.GetTypedConfig().GetTypeUrl(); url {
		case typeRouter:
			r := &router.Router{}
			c.unpack("http filter "+f.GetName(), f.GetTypedConfig(), r)
			if !last {
				c.fail("http filter %q: the router must be the last filter", f.GetName())
			}
		case typeGolang:
			if lc.pluginName != "" {
				c.fail("http filter %q: the Go edge runs one golang filter, not several", f.GetName())
				continue
			}
			g := &golang.Config{}
			if !c.unpack("http filter "+f.GetName(), f.GetTypedConfig(), g) {
				continue
			}
			lc.pluginName = g.GetPluginName()
			if g.GetPluginName() != fr.pluginName {
				// Envoy passes traffic through a golang filter whose plugin is not registered.
				continue
			}
			parsed, err := envoyhost.ParseConfig(fr.parser, g.GetPluginConfig(), fr.metrics)
			if err != nil {
				c.fail("http filter %q: plugin %q: %v", f.GetName(), g.GetPluginName(), err)
				continue
			}
			lc.filter = &envoyhost.Filter{Factory: fr.factory, Config: parsed}
		default:
			if f.GetIsOptional() {
				continue
			}
			c.fail("http filter %q of type %q is not supported by the Go edge", f.GetName(), url)
		}
		if last && f.GetTypedConfig().GetTypeUrl() != typeRouter {
			c.fail("the last http filter must be the router")
		}
	}
	if len(filters) == 0 {
		c.fail("http_filters: no router")
	}
}

func (c *compiler) downstreamTLS(d *tlsv3.DownstreamTlsContext, lc *listenerConfig) {
	c.unsupported(d.GetRequireClientCertificate().GetValue(), "require_client_certificate (mTLS)")
	common := d.GetCommonTlsContext()
	c.unsupported(common.GetValidationContextType() != nil, "validation_context (mTLS)")
	c.unsupported(common.GetTlsCertificateProviderInstance() != nil || common.GetCustomTlsCertificateSelector() != nil, "certificate providers")
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		if s.GetSdsConfig() != nil && s.GetSdsConfig().GetAds() == nil {
			c.fail("tls_certificate_sds_secret_configs %q: only ADS is supported by the Go edge", s.GetName())
			continue
		}
		lc.secretNames = append(lc.secretNames, s.GetName())
	}
	if certs := common.GetTlsCertificates(); len(certs) > 0 {
		cert, err := certificate(certs[0])
		if err != nil {
			c.fail("tls_certificates: %v", err)
		}
		lc.inlineCert = cert
	}
	if len(lc.secretNames) > 1 || len(lc.secretNames) == 1 && lc.inlineCert != nil {
		c.fail("the Go edge serves one certificate, not several")
	}
	if len(lc.secretNames) == 0 && lc.inlineCert == nil {
		c.fail("no certificate: neither tls_certificate_sds_secret_configs nor tls_certificates")
	}
	if common.GetTlsParams().GetTlsMinimumProtocolVersion() == tlsv3.TlsParameters_TLSv1_3 {
		lc.minTLS = tls.VersionTLS13 // anything lower stays TLS 1.2: the edge never serves less
	}
	lc.alpn = common.GetAlpnProtocols()
	if len(lc.alpn) == 0 {
		lc.alpn = []string{"h2", "http/1.1"}
	}
}

// compileSecret compiles an SDS Secret holding a TLS certificate.
func compileSecret(s *tlsv3.Secret) (*tls.Certificate, error) {
	tc := s.GetTlsCertificate()
	if tc == nil {
		return nil, fmt.Errorf("cannot apply secret %q: only tls_certificate secrets are supported by the Go edge", s.GetName())
	}
	cert, err := certificate(tc)
	if err != nil {
		return nil, fmt.Errorf("cannot apply secret %q: %w", s.GetName(), err)
	}
	return cert, nil
}

// certificate loads a TlsCertificate from its inline or file data sources.
func certificate(tc *tlsv3.TlsCertificate) (*tls.Certificate, error) {
	if tc.GetPkcs12() != nil || tc.GetPrivateKeyProvider() != nil || tc.GetPassword() != nil {
		return nil, fmt.Errorf("only PEM certificate_chain and private_key are supported by the Go edge")
	}
	chain, err := dataSource(tc.GetCertificateChain())
	if err != nil {
		return nil, fmt.Errorf("certificate_chain: %w", err)
	}
	key, err := dataSource(tc.GetPrivateKey())
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("cannot load certificate: %w", err)
	}
	return &cert, nil
}
