package goedge

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// routeTable is one compiled RouteConfiguration: immutable, shared by every request that
// started while it was current.
type routeTable struct {
	name             string
	vhosts           []*virtualHost // in configuration order
	ignorePort       bool
	reqOps, respOps  headerOps // route configuration level
	maxDirectBodyLen int
}

// virtualHost is one compiled VirtualHost.
type virtualHost struct {
	name   string
	exact  []string // lower-cased domains
	suffix []string // "*.example.com" as ".example.com", "*-foo" as "-foo"
	prefix []string // "foo.*" as "foo."
	any    bool     // "*"
	routes []*route

	reqOps, respOps headerOps
	retry           *retryPolicy
	bufferLimit     int64 // per_request_buffer_limit_bytes; 0: unset
}

// route is one compiled Route: exactly one of action and direct is set.
type route struct {
	name   string
	vh     *virtualHost
	match  routeMatch
	action *routeAction
	direct *directResponse

	reqOps, respOps headerOps
}

type routeMatch struct {
	prefix        string // with exact false: the path prefix
	path          string // with exact true: the whole path
	exact         bool
	caseSensitive bool
	headers       []headerMatcher
}

// matchKind is how a header matcher compares.
type matchKind int

const (
	matchPresent matchKind = iota
	matchExact
	matchPrefix
	matchSuffix
	matchContains
)

// headerMatcher is Envoy's HeaderMatcher (HeaderUtility::matchHeaders), without regex and
// range matching.
type headerMatcher struct {
	name                string // lower-cased; may be a pseudo-header
	canon               string // canonical key in an http.Header
	kind                matchKind
	value               string
	ignoreCase          bool
	present             bool
	invert              bool
	treatMissingAsEmpty bool
}

// routeAction is a compiled RouteAction.
type routeAction struct {
	cluster     string // one cluster, or
	weighted    []weightedCluster
	totalWeight uint64
	timeout     time.Duration // 0: none; -1: unset (Config.DefaultRouteTimeout, Envoy's 15s)
	retry       *retryPolicy  // the route's, else the virtual host's; nil: no retries
	mirrors     []mirrorPolicy
	bufferLimit int64 // the route's per_request_buffer_limit_bytes, else the virtual host's; 0: unset
}

type weightedCluster struct {
	name            string
	weight          uint64
	reqOps, respOps headerOps
}

// mirrorPolicy is a RequestMirrorPolicy with its default runtime fraction (the Go edge has no
// runtime layer: the runtime key is not read).
type mirrorPolicy struct {
	cluster              string
	numerator, denom     uint64 // the fraction of requests mirrored
	disableHostSuffix    bool
	fractionIsEverything bool
}

type directResponse struct {
	status int
	body   []byte
}

// headerOps is a level's headers to remove and to add, applied in that order (Envoy's
// HeaderParser).
type headerOps struct {
	remove []string // canonical keys
	add    []headerAdd
}

type headerAdd struct {
	key       string // canonical
	value     string
	action    core.HeaderValueOption_HeaderAppendAction
	keepEmpty bool
}

// apply changes h as Envoy's HeaderParser::evaluateHeaders does.
func (o headerOps) apply(h http.Header) {
	for _, k := range o.remove {
		delete(h, k)
	}
	for _, a := range o.add {
		if a.value == "" && !a.keepEmpty {
			continue
		}
		_, exists := h[a.key]
		switch a.action {
		case core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			h[a.key] = append(h[a.key], a.value)
		case core.HeaderValueOption_ADD_IF_ABSENT:
			if !exists {
				h[a.key] = []string{a.value}
			}
		case core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			h[a.key] = []string{a.value}
		case core.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if exists {
				h[a.key] = []string{a.value}
			}
		}
	}
}

// requestView is what route matching reads of a request: its pseudo-headers and headers.
type requestView struct {
	method, path, host, scheme string
	header                     http.Header
}

// get returns the value of header name (lower-case) as Envoy's getAllOfHeaderAsString
// does: several values joined with ",".
func (v *requestView) get(name, canon string) (string, bool) {
	switch name {
	case ":method":
		return v.method, true
	case ":path":
		return v.path, true
	case ":authority", "host":
		return v.host, v.host != ""
	case ":scheme":
		return v.scheme, true
	}
	vs := v.header[canon]
	switch len(vs) {
	case 0:
		return "", false
	case 1:
		return vs[0], true
	}
	return strings.Join(vs, ","), true
}

// match returns the first route of the selected virtual host that matches v, or nil (Envoy:
// 404, route_not_found).
func (t *routeTable) match(v *requestView) *route {
	if t == nil {
		return nil
	}
	vh := t.virtualHost(v.host)
	if vh == nil {
		return nil
	}
	path := v.path
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	for _, r := range vh.routes {
		if r.match.matches(path, v) {
			return r
		}
	}
	return nil
}

// virtualHost selects a virtual host as Envoy does: an exact domain, then the longest
// suffix wildcard, then the longest prefix wildcard, then "*".
func (t *routeTable) virtualHost(host string) *virtualHost {
	host = strings.ToLower(host)
	if t.ignorePort {
		if i := portStart(host); i >= 0 {
			host = host[:i]
		}
	}
	for _, vh := range t.vhosts {
		if slices.Contains(vh.exact, host) {
			return vh
		}
	}
	var best *virtualHost
	bestLen := -1
	for _, vh := range t.vhosts {
		for _, s := range vh.suffix {
			if len(s) > bestLen && len(host) > len(s) && strings.HasSuffix(host, s) {
				best, bestLen = vh, len(s)
			}
		}
	}
	if best != nil {
		return best
	}
	for _, vh := range t.vhosts {
		for _, p := range vh.prefix {
			if len(p) > bestLen && len(host) > len(p) && strings.HasPrefix(host, p) {
				best, bestLen = vh, len(p)
			}
		}
	}
	if best != nil {
		return best
	}
	for _, vh := range t.vhosts {
		if vh.any {
			return vh
		}
	}
	return nil
}

// portStart is Envoy's HeaderUtility::getPortStart: the index of the ':' before the port,
// or -1.
func portStart(host string) int {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return -1
	}
	if j := strings.LastIndexByte(host, ']'); j > i {
		return -1
	}
	return i
}

func (m *routeMatch) matches(path string, v *requestView) bool {
	switch {
	case m.exact && m.caseSensitive:
		if path != m.path {
			return false
		}
	case m.exact:
		if !strings.EqualFold(path, m.path) {
			return false
		}
	case m.caseSensitive:
		if !strings.HasPrefix(path, m.prefix) {
			return false
		}
	default:
		if len(path) < len(m.prefix) || !strings.EqualFold(path[:len(m.prefix)], m.prefix) {
			return false
		}
	}
	for i := range m.headers {
		if !m.headers[i].matches(v) {
			return false
		}
	}
	return true
}

// matches is Envoy's HeaderUtility::matchHeaders.
func (m *headerMatcher) matches(v *requestView) bool {
	value, ok := v.get(m.name, m.canon)
	if !ok && !m.treatMissingAsEmpty {
		if m.invert {
			return m.kind == matchPresent && m.present
		}
		return m.kind == matchPresent && !m.present
	}
	var match bool
	switch m.kind {
	case matchPresent:
		match = m.present
	case matchExact:
		if m.ignoreCase {
			match = strings.EqualFold(value, m.value)
		} else {
			match = value == m.value
		}
	case matchPrefix:
		if m.ignoreCase {
			match = len(value) >= len(m.value) && strings.EqualFold(value[:len(m.value)], m.value)
		} else {
			match = strings.HasPrefix(value, m.value)
		}
	case matchSuffix:
		if m.ignoreCase {
			match = len(value) >= len(m.value) && strings.EqualFold(value[len(value)-len(m.value):], m.value)
		} else {
			match = strings.HasSuffix(value, m.value)
		}
	case matchContains:
		if m.ignoreCase {
			match = strings.Contains(strings.ToLower(value), strings.ToLower(m.value))
		} else {
			match = strings.Contains(value, m.value)
		}
	}
	return match != m.invert
}

// pick chooses a weighted cluster with r, a uniformly random number, as Envoy does: the
// first cluster whose cumulative weight exceeds r modulo the total weight.
func (a *routeAction) pick(r uint64) *weightedCluster {
	x := r % a.totalWeight
	var sum uint64
	for i := range a.weighted {
		sum += a.weighted[i].weight
		if x < sum {
			return &a.weighted[i]
		}
	}
	return &a.weighted[len(a.weighted)-1]
}

// sampled reports whether a mirror policy mirrors the request, with r uniformly random.
func (m *mirrorPolicy) sampled(r uint64) bool {
	if m.fractionIsEverything {
		return true
	}
	return r%m.denom < m.numerator
}

// clusterSet is what route compilation needs to know of the clusters: their names.
type clusterSet map[string]bool

// compileRoutes compiles a RouteConfiguration. Everything the Go edge does not implement and
// that would change where or how a request goes is an error (the update is rejected) rather
// than silently ignored; see docs/edge.md. With validate_clusters, every cluster a route names
// must be in clusters.
func compileRoutes(rc *routev3.RouteConfiguration, clusters clusterSet) (*routeTable, error) {
	c := &compiler{}
	t := &routeTable{name: rc.GetName(), ignorePort: rc.GetIgnorePortInHostMatching(), maxDirectBodyLen: 4096}
	if n := rc.GetMaxDirectResponseBodySizeBytes(); n != nil {
		t.maxDirectBodyLen = int(n.GetValue())
	}
	c.unsupported(rc.GetVhds() != nil, "vhds")
	c.unsupported(len(rc.GetInternalOnlyHeaders()) > 0, "internal_only_headers")
	c.unsupported(len(rc.GetClusterSpecifierPlugins()) > 0, "cluster_specifier_plugins")
	c.unsupported(len(rc.GetRequestMirrorPolicies()) > 0, "route configuration level request_mirror_policies")
	c.unsupported(rc.GetVhostHeader() != "", "vhost_header")
	c.unsupported(rc.GetIgnorePathParametersInPathMatching(), "ignore_path_parameters_in_path_matching")
	c.unsupported(len(rc.GetTypedPerFilterConfig()) > 0, "typed_per_filter_config")
	c.unsupported(rc.GetMostSpecificHeaderMutationsWins(), "most_specific_header_mutations_wins")
	t.reqOps = c.headerOps("request_headers", rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove())
	t.respOps = c.headerOps("response_headers", rc.GetResponseHeadersToAdd(), rc.GetResponseHeadersToRemove())
	validate := rc.GetValidateClusters().GetValue()

	for _, pv := range rc.GetVirtualHosts() {
		vh := &virtualHost{name: pv.GetName()}
		c.push("virtual_host " + strconv.Quote(vh.name))
		for _, d := range pv.GetDomains() {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				vh.any = true
			case strings.HasPrefix(d, "*"):
				vh.suffix = append(vh.suffix, d[1:])
			case strings.HasSuffix(d, "*"):
				vh.prefix = append(vh.prefix, d[:len(d)-1])
			default:
				vh.exact = append(vh.exact, d)
			}
		}
		c.unsupported(pv.GetMatcher() != nil, "matcher")
		c.unsupported(len(pv.GetRateLimits()) > 0, "rate_limits")
		c.unsupported(len(pv.GetTypedPerFilterConfig()) > 0, "typed_per_filter_config")
		c.unsupported(pv.GetRetryPolicyTypedConfig() != nil, "retry_policy_typed_config")
		c.unsupported(pv.GetHedgePolicy() != nil, "hedge_policy")
		c.unsupported(len(pv.GetRequestMirrorPolicies()) > 0, "virtual host level request_mirror_policies")
		vh.reqOps = c.headerOps("request_headers", pv.GetRequestHeadersToAdd(), pv.GetRequestHeadersToRemove())
		vh.respOps = c.headerOps("response_headers", pv.GetResponseHeadersToAdd(), pv.GetResponseHeadersToRemove())
		if p := pv.GetRetryPolicy(); p != nil {
			vh.retry = c.retryPolicy(p)
		}
		//lint:ignore SA1019 the Envoy 1.33 field the control plane sets (request_body_buffer_limit is newer)
		vh.bufferLimit = int64(pv.GetPerRequestBufferLimitBytes().GetValue())
		for i, pr := range pv.GetRoutes() {
			c.push(fmt.Sprintf("route %d %q", i, pr.GetName()))
			r := c.route(pr, vh, t.maxDirectBodyLen)
			if r != nil && r.action != nil && validate {
				for _, name := range r.action.clusterNames() {
					if !clusters[name] {
						c.fail("cluster %q is unknown (validate_clusters is set)", name)
					}
				}
			}
			if r != nil {
				vh.routes = append(vh.routes, r)
			}
			c.pop()
		}
		c.pop()
		t.vhosts = append(t.vhosts, vh)
	}
	if err := c.err(); err != nil {
		return nil, fmt.Errorf("cannot apply route configuration %q: %w", rc.GetName(), err)
	}
	return t, nil
}

// clusterNames returns every cluster an action sends to, mirrors included.
func (a *routeAction) clusterNames() []string {
	var out []string
	if a.cluster != "" {
		out = append(out, a.cluster)
	}
	for _, w := range a.weighted {
		out = append(out, w.name)
	}
	for _, m := range a.mirrors {
		out = append(out, m.cluster)
	}
	return out
}

func (c *compiler) route(pr *routev3.Route, vh *virtualHost, maxBody int) *route {
	r := &route{name: pr.GetName(), vh: vh}
	pm := pr.GetMatch()
	switch pm.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		r.match.prefix = pm.GetPrefix()
	case *routev3.RouteMatch_Path:
		r.match.path, r.match.exact = pm.GetPath(), true
	default:
		c.fail("match: only prefix and path are supported by the Go edge, not %T", pm.GetPathSpecifier())
	}
	r.match.caseSensitive = pm.GetCaseSensitive() == nil || pm.GetCaseSensitive().GetValue()
	c.unsupported(pm.GetRuntimeFraction() != nil, "match.runtime_fraction")
	c.unsupported(len(pm.GetQueryParameters()) > 0, "match.query_parameters")
	c.unsupported(len(pm.GetCookies()) > 0, "match.cookies")
	c.unsupported(pm.GetGrpc() != nil, "match.grpc")
	c.unsupported(pm.GetTlsContext() != nil, "match.tls_context")
	c.unsupported(len(pm.GetDynamicMetadata()) > 0, "match.dynamic_metadata")
	c.unsupported(len(pm.GetFilterState()) > 0, "match.filter_state")
	for _, hm := range pm.GetHeaders() {
		if m, ok := c.headerMatcher(hm); ok {
			r.match.headers = append(r.match.headers, m)
		}
	}
	c.unsupported(len(pr.GetTypedPerFilterConfig()) > 0, "typed_per_filter_config")
	c.unsupported(pr.GetRequestBodyBufferLimit() != nil, "request_body_buffer_limit")
	r.reqOps = c.headerOps("request_headers", pr.GetRequestHeadersToAdd(), pr.GetRequestHeadersToRemove())
	r.respOps = c.headerOps("response_headers", pr.GetResponseHeadersToAdd(), pr.GetResponseHeadersToRemove())

	switch pr.GetAction().(type) {
	case *routev3.Route_Route:
		r.action = c.routeAction(pr.GetRoute(), vh)
		//lint:ignore SA1019 the Envoy 1.33 field the control plane sets (request_body_buffer_limit is newer)
		if n := pr.GetPerRequestBufferLimitBytes(); n != nil {
			r.action.bufferLimit = int64(n.GetValue())
		}
	case *routev3.Route_DirectResponse:
		d := pr.GetDirectResponse()
		r.direct = &directResponse{status: int(d.GetStatus())}
		if d.GetBody() != nil {
			b, err := dataSource(d.GetBody())
			if err != nil {
				c.fail("direct_response.body: %v", err)
			}
			if len(b) > maxBody {
				c.fail("direct_response.body of %d bytes exceeds max_direct_response_body_size_bytes %d", len(b), maxBody)
			}
			r.direct.body = b
		}
		if r.direct.status < 200 || r.direct.status > 599 {
			c.fail("direct_response.status %d must be from 200 to 599", r.direct.status)
		}
	default:
		c.fail("action: only route and direct_response are supported by the Go edge, not %T", pr.GetAction())
		return nil
	}
	return r
}

func (c *compiler) routeAction(pa *routev3.RouteAction, vh *virtualHost) *routeAction {
	a := &routeAction{retry: vh.retry, bufferLimit: vh.bufferLimit}
	switch pa.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		a.cluster = pa.GetCluster()
	case *routev3.RouteAction_WeightedClusters:
		wc := pa.GetWeightedClusters()
		c.unsupported(wc.GetHeaderName() != "", "weighted_clusters.header_name")
		c.unsupported(wc.GetUseHashPolicy() != nil, "weighted_clusters.use_hash_policy")
		c.unsupported(wc.GetRandomValueSpecifier() != nil, "weighted_clusters.random_value_specifier")
		for _, cw := range wc.GetClusters() {
			c.unsupported(cw.GetClusterHeader() != "", "weighted cluster cluster_header")
			c.unsupported(len(cw.GetTypedPerFilterConfig()) > 0, "weighted cluster typed_per_filter_config")
			c.unsupported(cw.GetHostRewriteSpecifier() != nil, "weighted cluster host_rewrite")
			c.unsupported(cw.GetMetadataMatch() != nil, "weighted cluster metadata_match")
			w := weightedCluster{
				name:    cw.GetName(),
				weight:  uint64(cw.GetWeight().GetValue()),
				reqOps:  c.headerOps("weighted cluster request_headers", cw.GetRequestHeadersToAdd(), cw.GetRequestHeadersToRemove()),
				respOps: c.headerOps("weighted cluster response_headers", cw.GetResponseHeadersToAdd(), cw.GetResponseHeadersToRemove()),
			}
			a.totalWeight += w.weight
			a.weighted = append(a.weighted, w)
		}
		if a.totalWeight == 0 {
			c.fail("weighted_clusters: the weights sum to 0")
		}
	default:
		c.fail("cluster_specifier: only cluster and weighted_clusters are supported by the Go edge, not %T", pa.GetClusterSpecifier())
	}
	c.unsupported(pa.GetPrefixRewrite() != "" || pa.GetRegexRewrite() != nil || pa.GetPathRewritePolicy() != nil, "path rewrites")
	c.unsupported(pa.GetHostRewriteSpecifier() != nil, "host_rewrite")
	c.unsupported(pa.GetMetadataMatch() != nil, "metadata_match")
	c.unsupported(len(pa.GetRateLimits()) > 0, "rate_limits")
	c.unsupported(pa.GetHedgePolicy() != nil, "hedge_policy")
	c.unsupported(pa.GetInternalRedirectPolicy() != nil, "internal_redirect_policy")
	c.unsupported(pa.GetRetryPolicyTypedConfig() != nil, "retry_policy_typed_config")
	c.unsupported(len(pa.GetUpgradeConfigs()) > 0, "upgrade_configs")
	a.timeout = -1
	if pa.GetTimeout() != nil {
		a.timeout = c.duration("timeout", pa.GetTimeout())
	}
	if p := pa.GetRetryPolicy(); p != nil {
		a.retry = c.retryPolicy(p)
	}
	for _, pm := range pa.GetRequestMirrorPolicies() {
		c.unsupported(pm.GetClusterHeader() != "", "request_mirror_policies.cluster_header")
		c.unsupported(len(pm.GetRequestHeadersMutations()) > 0, "request_mirror_policies.request_headers_mutations")
		c.unsupported(pm.GetHostRewriteLiteral() != "", "request_mirror_policies.host_rewrite_literal")
		m := mirrorPolicy{cluster: pm.GetCluster(), disableHostSuffix: pm.GetDisableShadowHostSuffixAppend(), fractionIsEverything: true}
		if rf := pm.GetRuntimeFraction(); rf != nil {
			m.fractionIsEverything = false
			m.numerator, m.denom = fraction(rf.GetDefaultValue())
		}
		a.mirrors = append(a.mirrors, m)
	}
	return a
}

// fraction returns a FractionalPercent as numerator and denominator.
func fraction(f *typev3.FractionalPercent) (num, denom uint64) {
	switch f.GetDenominator() {
	case typev3.FractionalPercent_TEN_THOUSAND:
		denom = 10_000
	case typev3.FractionalPercent_MILLION:
		denom = 1_000_000
	default:
		denom = 100
	}
	return min(uint64(f.GetNumerator()), denom), denom
}

func (c *compiler) headerMatcher(hm *routev3.HeaderMatcher) (headerMatcher, bool) {
	name := strings.ToLower(hm.GetName())
	m := headerMatcher{name: name, canon: http.CanonicalHeaderKey(name), invert: hm.GetInvertMatch(), treatMissingAsEmpty: hm.GetTreatMissingHeaderAsEmpty()}
	switch s := hm.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_PresentMatch:
		m.kind, m.present = matchPresent, s.PresentMatch
	case *routev3.HeaderMatcher_ExactMatch:
		//lint:ignore SA1019 deprecated, but still honoured by Envoy 1.33
		m.kind, m.value = matchExact, s.ExactMatch
	case *routev3.HeaderMatcher_PrefixMatch:
		//lint:ignore SA1019 deprecated, but still honoured by Envoy 1.33
		m.kind, m.value = matchPrefix, s.PrefixMatch
	case *routev3.HeaderMatcher_SuffixMatch:
		//lint:ignore SA1019 deprecated, but still honoured by Envoy 1.33
		m.kind, m.value = matchSuffix, s.SuffixMatch
	case *routev3.HeaderMatcher_ContainsMatch:
		//lint:ignore SA1019 deprecated, but still honoured by Envoy 1.33
		m.kind, m.value = matchContains, s.ContainsMatch
	case *routev3.HeaderMatcher_StringMatch:
		sm := s.StringMatch
		m.ignoreCase = sm.GetIgnoreCase()
		switch p := sm.GetMatchPattern().(type) {
		case *matcher.StringMatcher_Exact:
			m.kind, m.value = matchExact, p.Exact
		case *matcher.StringMatcher_Prefix:
			m.kind, m.value = matchPrefix, p.Prefix
		case *matcher.StringMatcher_Suffix:
			m.kind, m.value = matchSuffix, p.Suffix
		case *matcher.StringMatcher_Contains:
			m.kind, m.value = matchContains, p.Contains
		default:
			c.fail("header matcher %q: string_match %T is not supported by the Go edge", name, p)
			return m, false
		}
	case nil:
		// Envoy: no specifier matches a present header (an empty exact value).
		m.kind, m.present = matchPresent, true
	default:
		c.fail("header matcher %q: %T is not supported by the Go edge", name, s)
		return m, false
	}
	return m, true
}

func (c *compiler) headerOps(what string, add []*core.HeaderValueOption, remove []string) headerOps {
	var o headerOps
	for _, name := range remove {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, ":") || l == "host" {
			c.fail("%s_to_remove: %q cannot be removed", what, name)
			continue
		}
		o.remove = append(o.remove, http.CanonicalHeaderKey(l))
	}
	for _, hv := range add {
		key := strings.ToLower(hv.GetHeader().GetKey())
		if key == "" || strings.HasPrefix(key, ":") || key == "host" {
			c.fail("%s_to_add: header %q cannot be set", what, hv.GetHeader().GetKey())
			continue
		}
		value := hv.GetHeader().GetValue()
		if value == "" && len(hv.GetHeader().GetRawValue()) > 0 {
			value = string(hv.GetHeader().GetRawValue())
		}
		if strings.Contains(value, "%") {
			c.fail("%s_to_add: header %q: value formatters (%%...%%) are not supported by the Go edge", what, key)
			continue
		}
		action := hv.GetAppendAction()
		//lint:ignore SA1019 the deprecated append is still honoured by Envoy 1.33
		if old := hv.GetAppend(); old != nil {
			if action != core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
				c.fail("%s_to_add: header %q sets both append and append_action", what, key)
			}
			if !old.GetValue() {
				action = core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
			}
		}
		o.add = append(o.add, headerAdd{key: http.CanonicalHeaderKey(key), value: value, action: action, keepEmpty: hv.GetKeepEmptyValue()})
	}
	return o
}

// retryPolicy is a compiled RetryPolicy (Envoy's RetryPolicyImpl and RetryStateImpl).
type retryPolicy struct {
	numRetries       int
	statusCodes      []int // retriable-status-codes
	on5xx            bool  // 5xx: every 5xx, connect failures and resets
	onGatewayError   bool  // gateway-error: 502, 503, 504, connect failures
	onRetriable4xx   bool  // retriable-4xx: 409
	onConnectFailure bool
	onReset          bool
	perTryTimeout    time.Duration // 0: none
	baseInterval     time.Duration
	maxInterval      time.Duration
	resetHeaders     []resetHeader
	maxResetInterval time.Duration
}

type resetHeader struct {
	canon string
	unix  bool // UNIX_TIMESTAMP, else SECONDS
}

func (c *compiler) retryPolicy(p *routev3.RetryPolicy) *retryPolicy {
	rp := &retryPolicy{numRetries: 1, baseInterval: 25 * time.Millisecond, maxResetInterval: 300 * time.Second}
	if p.GetNumRetries() != nil {
		rp.numRetries = int(p.GetNumRetries().GetValue())
	}
	for _, tok := range strings.Split(p.GetRetryOn(), ",") {
		switch strings.TrimSpace(tok) {
		case "":
		case "5xx":
			rp.on5xx = true
		case "gateway-error":
			rp.onGatewayError = true
		case "retriable-4xx":
			rp.onRetriable4xx = true
		case "connect-failure":
			rp.onConnectFailure = true
		case "reset", "reset-before-request":
			rp.onReset = true
		case "refused-stream", "http3-post-connect-failure":
			// HTTP/2 and HTTP/3 only: the Go edge speaks HTTP/1.1 to upstreams.
		case "retriable-status-codes":
			for _, code := range p.GetRetriableStatusCodes() {
				rp.statusCodes = append(rp.statusCodes, int(code))
			}
		default:
			c.fail("retry_policy.retry_on %q is not supported by the Go edge", strings.TrimSpace(tok))
		}
	}
	c.unsupported(len(p.GetRetriableHeaders()) > 0, "retry_policy.retriable_headers")
	c.unsupported(len(p.GetRetriableRequestHeaders()) > 0, "retry_policy.retriable_request_headers")
	c.unsupported(p.GetRetryPriority() != nil, "retry_policy.retry_priority")
	c.unsupported(len(p.GetRetryOptionsPredicates()) > 0, "retry_policy.retry_options_predicates")
	c.unsupported(p.GetPerTryIdleTimeout() != nil, "retry_policy.per_try_idle_timeout")
	for _, hp := range p.GetRetryHostPredicate() {
		// Round robin already moves to another endpoint on every attempt.
		if hp.GetName() != "envoy.retry_host_predicates.previous_hosts" {
			c.fail("retry_policy.retry_host_predicate %q is not supported by the Go edge", hp.GetName())
		}
	}
	if p.GetPerTryTimeout() != nil {
		rp.perTryTimeout = c.duration("retry_policy.per_try_timeout", p.GetPerTryTimeout())
	}
	if b := p.GetRetryBackOff(); b != nil {
		rp.baseInterval = c.duration("retry_policy.retry_back_off.base_interval", b.GetBaseInterval())
		if b.GetMaxInterval() != nil {
			rp.maxInterval = c.duration("retry_policy.retry_back_off.max_interval", b.GetMaxInterval())
		}
	}
	if rp.maxInterval == 0 {
		rp.maxInterval = 10 * rp.baseInterval
	}
	if rp.baseInterval <= 0 || rp.maxInterval < rp.baseInterval {
		c.fail("retry_policy.retry_back_off: base_interval %v must be positive and at most max_interval %v", rp.baseInterval, rp.maxInterval)
	}
	if rl := p.GetRateLimitedRetryBackOff(); rl != nil {
		for _, h := range rl.GetResetHeaders() {
			rp.resetHeaders = append(rp.resetHeaders, resetHeader{
				canon: http.CanonicalHeaderKey(h.GetName()),
				unix:  h.GetFormat() == routev3.RetryPolicy_UNIX_TIMESTAMP,
			})
		}
		if rl.GetMaxInterval() != nil {
			rp.maxResetInterval = c.duration("retry_policy.rate_limited_retry_back_off.max_interval", rl.GetMaxInterval())
		}
	}
	return rp
}

// retriableStatus reports whether the policy retries a response with this status.
func (p *retryPolicy) retriableStatus(code int) bool {
	switch {
	case p.on5xx && code >= 500 && code <= 599:
		return true
	case p.onGatewayError && (code == 502 || code == 503 || code == 504):
		return true
	case p.onRetriable4xx && code == 409:
		return true
	}
	return slices.Contains(p.statusCodes, code)
}

// retriableFailure reports whether the policy retries an attempt that got no response:
// connect is true when the connection could not be made.
func (p *retryPolicy) retriableFailure(connect bool) bool {
	if p.on5xx || p.onGatewayError && connect || p.onReset {
		return true
	}
	return connect && p.onConnectFailure
}

// resetInterval returns the wait an upstream asked for in a reset header (Retry-After), if
// one holds a usable value not above the maximum (Envoy's parseResetInterval).
func (p *retryPolicy) resetInterval(h http.Header, now time.Time) (time.Duration, bool) {
	for _, rh := range p.resetHeaders {
		v := strings.TrimSpace(h.Get(rh.canon))
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		var d time.Duration
		switch {
		case err == nil && rh.unix:
			d = time.Unix(int64(min(n, 1<<40)), 0).Sub(now)
		case err == nil:
			d = time.Duration(min(n, 1<<30)) * time.Second
		case !rh.unix:
			// Envoy's SECONDS format takes a number only; an HTTP date is not a reset interval.
			continue
		default:
			continue
		}
		if d > 0 && d <= p.maxResetInterval {
			return d, true
		}
	}
	return 0, false
}

// compiler collects the problems of one resource, with the path to each.
type compiler struct {
	where []string
	errs  []error
}

func (c *compiler) push(s string) { c.where = append(c.where, s) }
func (c *compiler) pop()          { c.where = c.where[:len(c.where)-1] }

func (c *compiler) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(c.where) > 0 {
		msg = strings.Join(c.where, ", ") + ": " + msg
	}
	c.errs = append(c.errs, errors.New(msg))
}

func (c *compiler) unsupported(set bool, field string) {
	if set {
		c.fail("%s is not supported by the Go edge", field)
	}
}

func (c *compiler) duration(field string, d *durationpb.Duration) time.Duration {
	if err := d.CheckValid(); err != nil {
		c.fail("%s: %v", field, err)
		return 0
	}
	return d.AsDuration()
}

func (c *compiler) err() error { return errors.Join(c.errs...) }

// maxDataSourceBytes bounds what a DataSource may hold (a certificate chain, a direct
// response body).
const maxDataSourceBytes = 1 << 20

// dataSource returns the bytes of an inline or file DataSource.
func dataSource(ds *core.DataSource) ([]byte, error) {
	switch s := ds.GetSpecifier().(type) {
	case *core.DataSource_InlineBytes:
		return s.InlineBytes, nil
	case *core.DataSource_InlineString:
		return []byte(s.InlineString), nil
	case *core.DataSource_Filename:
		st, err := os.Stat(s.Filename)
		if err != nil {
			return nil, fmt.Errorf("cannot read data source file %q: %w", s.Filename, err)
		}
		if st.Size() > maxDataSourceBytes {
			return nil, fmt.Errorf("data source file %q of %d bytes exceeds the %d byte limit", s.Filename, st.Size(), maxDataSourceBytes)
		}
		b, err := os.ReadFile(s.Filename)
		if err != nil {
			return nil, fmt.Errorf("cannot read data source file %q: %w", s.Filename, err)
		}
		return b, nil
	case *core.DataSource_EnvironmentVariable:
		return []byte(os.Getenv(s.EnvironmentVariable)), nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("data source %T is not supported by the Go edge", s)
	}
}
