package goedge

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// maxDirectBodyLen is Envoy's default max_direct_response_body_size_bytes (the control plane
// sets none).
const maxDirectBodyLen = 4096

// previousHostsPredicate is the one retry host predicate the control plane sets.
const previousHostsPredicate = "envoy.retry_host_predicates.previous_hosts"

// routeTable is one compiled RouteConfiguration: the routes of its one virtual host (domain
// "*"), in order. Immutable, shared by every request that started while it was current.
type routeTable struct {
	name   string
	routes []*route
	reqOps headerOps // route configuration level: request_headers_to_remove
}

// route is one compiled Route: exactly one of action and direct is set.
type route struct {
	name   string
	match  routeMatch
	action *routeAction
	direct *directResponse

	reqOps, respOps headerOps // request_headers_to_add, response_headers_to_add
}

// routeMatch is a path prefix (case sensitive) and exact header matchers, all of which must
// match.
type routeMatch struct {
	prefix  string
	headers []headerMatcher
}

// headerMatcher is Envoy's HeaderMatcher with string_match exact, the one kind the control
// plane emits.
type headerMatcher struct {
	canon string // canonical key in an http.Header
	value string
}

// routeAction is a compiled RouteAction.
type routeAction struct {
	cluster     string // one cluster, or
	weighted    []weightedCluster
	totalWeight uint64
	timeout     time.Duration // 0: none; -1: unset (Config.DefaultRouteTimeout, Envoy's 15s)
	retry       *retryPolicy  // the virtual host's; nil: no retries
	mirrors     []mirrorPolicy
	bufferLimit int64  // the virtual host's per_request_buffer_limit_bytes; 0: unset
	hostRewrite string // host_rewrite_literal: the authority sent upstream; "": the client's
}

type weightedCluster struct {
	name        string
	weight      uint64
	reqOps      headerOps // request_headers_to_add
	hostRewrite string    // host_rewrite_literal; "": the action's
}

// mirrorPolicy is a RequestMirrorPolicy with its default runtime fraction, in percent (the Go
// edge has no runtime layer: the runtime key is not read).
type mirrorPolicy struct {
	cluster string
	percent uint64
}

type directResponse struct {
	status int
	body   []byte
}

// headerOps is a level's headers to remove and to set (append_action
// OVERWRITE_IF_EXISTS_OR_ADD), applied in that order (Envoy's HeaderParser).
type headerOps struct {
	remove []string // canonical keys
	set    []headerSet
}

type headerSet struct {
	key   string // canonical
	value string // not empty
}

// apply changes h as Envoy's HeaderParser::evaluateHeaders does.
func (o headerOps) apply(h http.Header) {
	for _, k := range o.remove {
		delete(h, k)
	}
	for _, s := range o.set {
		h[s.key] = []string{s.value}
	}
}

// requestView is what route matching reads of a request: its path and headers.
type requestView struct {
	path   string
	header http.Header
}

// match returns the first route that matches v, or nil (Envoy: 404, route_not_found).
func (t *routeTable) match(v *requestView) *route {
	if t == nil {
		return nil
	}
	path := v.path
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	for _, r := range t.routes {
		if r.match.matches(path, v.header) {
			return r
		}
	}
	return nil
}

func (m *routeMatch) matches(path string, h http.Header) bool {
	if !strings.HasPrefix(path, m.prefix) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].matches(h) {
			return false
		}
	}
	return true
}

// matches is Envoy's HeaderUtility::matchHeaders for an exact string match: a missing header
// does not match; several values are joined with ",".
func (m *headerMatcher) matches(h http.Header) bool {
	vs := h[m.canon]
	switch len(vs) {
	case 0:
		return false
	case 1:
		return vs[0] == m.value
	}
	return strings.Join(vs, ",") == m.value
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
func (m *mirrorPolicy) sampled(r uint64) bool { return r%100 < m.percent }

// clusterSet is what route compilation needs to know of the clusters: their names.
type clusterSet map[string]bool

// compileRoutes compiles a RouteConfiguration. A field the control plane does not emit is an
// error (see [emittedFields]), and so is a value of an emitted field that the Go edge does not
// implement: the update is rejected, never half-applied. With validate_clusters, every
// cluster a route names must be in clusters.
func compileRoutes(rc *routev3.RouteConfiguration, clusters clusterSet) (*routeTable, error) {
	if err := checkEmitted(rc); err != nil {
		return nil, fmt.Errorf("cannot apply route configuration %q: %w", rc.GetName(), err)
	}
	c := &compiler{}
	t := &routeTable{name: rc.GetName(), reqOps: c.headerOps("request_headers", nil, rc.GetRequestHeadersToRemove())}
	validate := rc.GetValidateClusters().GetValue()
	if n := len(rc.GetVirtualHosts()); n != 1 {
		c.fail("virtual_hosts: the Go edge serves exactly one virtual host (domain \"*\"), not %d", n)
	}
	for _, pv := range rc.GetVirtualHosts() {
		c.push(fmt.Sprintf("virtual_hosts[%q]", pv.GetName()))
		if !slices.Equal(pv.GetDomains(), []string{"*"}) {
			c.fail("domains %q are not supported by the Go edge (the control plane emits [\"*\"])", pv.GetDomains())
		}
		var retry *retryPolicy
		if p := pv.GetRetryPolicy(); p != nil {
			c.push("retry_policy")
			retry = c.retryPolicy(p)
			c.pop()
		}
		//lint:ignore SA1019 the Envoy 1.33 field the control plane sets (request_body_buffer_limit is newer)
		bufferLimit := int64(pv.GetPerRequestBufferLimitBytes().GetValue())
		for i, pr := range pv.GetRoutes() {
			c.push(elemName("routes", i, pr.GetName()))
			r := c.route(pr, retry, bufferLimit)
			if r != nil && r.action != nil && validate {
				for _, name := range r.action.clusterNames() {
					if !clusters[name] {
						c.fail("cluster %q is unknown (validate_clusters is set)", name)
					}
				}
			}
			if r != nil {
				t.routes = append(t.routes, r)
			}
			c.pop()
		}
		c.pop()
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

func (c *compiler) route(pr *routev3.Route, retry *retryPolicy, bufferLimit int64) *route {
	r := &route{name: pr.GetName()}
	pm := pr.GetMatch()
	if _, ok := pm.GetPathSpecifier().(*routev3.RouteMatch_Prefix); !ok {
		c.fail("match: only prefix is supported by the Go edge, not %T", pm.GetPathSpecifier())
	}
	r.match.prefix = pm.GetPrefix()
	for i, hm := range pm.GetHeaders() {
		name := strings.ToLower(hm.GetName())
		c.push(elemName("match.headers", i, hm.GetName()))
		switch {
		case hm.GetStringMatch() == nil:
			c.fail("a header matcher without string_match is not supported by the Go edge (the control plane emits string_match exact)")
		case strings.HasPrefix(name, ":") || name == "host":
			c.fail("matching on %q is not supported by the Go edge (the control plane matches ordinary headers)", hm.GetName())
		default:
			r.match.headers = append(r.match.headers, headerMatcher{canon: http.CanonicalHeaderKey(name), value: hm.GetStringMatch().GetExact()})
		}
		c.pop()
	}
	r.reqOps = c.headerOps("request_headers", pr.GetRequestHeadersToAdd(), nil)
	r.respOps = c.headerOps("response_headers", pr.GetResponseHeadersToAdd(), nil)

	switch pr.GetAction().(type) {
	case *routev3.Route_Route:
		r.action = c.routeAction(pr.GetRoute(), retry, bufferLimit)
	case *routev3.Route_DirectResponse:
		d := pr.GetDirectResponse()
		r.direct = &directResponse{status: int(d.GetStatus()), body: dataSource(d.GetBody())}
		if len(r.direct.body) > maxDirectBodyLen {
			c.fail("direct_response.body of %d bytes exceeds Envoy's max_direct_response_body_size_bytes default %d", len(r.direct.body), maxDirectBodyLen)
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

func (c *compiler) routeAction(pa *routev3.RouteAction, retry *retryPolicy, bufferLimit int64) *routeAction {
	a := &routeAction{retry: retry, bufferLimit: bufferLimit, timeout: -1}
	switch pa.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		a.cluster = pa.GetCluster()
	case *routev3.RouteAction_WeightedClusters:
		for _, cw := range pa.GetWeightedClusters().GetClusters() {
			w := weightedCluster{
				name:        cw.GetName(),
				weight:      uint64(cw.GetWeight().GetValue()),
				reqOps:      c.headerOps("weighted_clusters request_headers", cw.GetRequestHeadersToAdd(), nil),
				hostRewrite: cw.GetHostRewriteLiteral(),
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
	if pa.GetTimeout() != nil {
		a.timeout = c.duration("timeout", pa.GetTimeout())
	}
	a.hostRewrite = pa.GetHostRewriteLiteral()
	for _, pm := range pa.GetRequestMirrorPolicies() {
		m := mirrorPolicy{cluster: pm.GetCluster(), percent: 100}
		if rf := pm.GetRuntimeFraction(); rf != nil {
			// The denominator is HUNDRED: another one is not emitted (checkEmitted).
			m.percent = min(uint64(rf.GetDefaultValue().GetNumerator()), 100)
		}
		a.mirrors = append(a.mirrors, m)
	}
	return a
}

// headerOps compiles a level's headers to set (append_action OVERWRITE_IF_EXISTS_OR_ADD, the
// one the control plane emits) and to remove.
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
		if a := hv.GetAppendAction(); a != core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			c.fail("%s_to_add: header %q: append_action %s is not supported by the Go edge (the control plane emits OVERWRITE_IF_EXISTS_OR_ADD)", what, key, a)
			continue
		}
		value := hv.GetHeader().GetValue()
		if value == "" {
			c.fail("%s_to_add: header %q: an empty value is not supported by the Go edge", what, key)
			continue
		}
		if strings.Contains(value, "%") {
			c.fail("%s_to_add: header %q: value formatters (%%...%%) are not supported by the Go edge", what, key)
			continue
		}
		o.set = append(o.set, headerSet{key: http.CanonicalHeaderKey(key), value: value})
	}
	return o
}

// retryPolicy is a compiled RetryPolicy (Envoy's RetryPolicyImpl and RetryStateImpl) with
// the retry_on conditions the control plane emits.
type retryPolicy struct {
	numRetries       int
	statusCodes      []int // retriable-status-codes
	onConnectFailure bool  // connect-failure
	baseInterval     time.Duration
	maxInterval      time.Duration
	resetHeaders     []string // canonical keys of the reset headers (format SECONDS)
	maxResetInterval time.Duration
}

func (c *compiler) retryPolicy(p *routev3.RetryPolicy) *retryPolicy {
	rp := &retryPolicy{numRetries: 1, baseInterval: 25 * time.Millisecond, maxResetInterval: 300 * time.Second}
	if p.GetNumRetries() != nil {
		rp.numRetries = int(p.GetNumRetries().GetValue())
	}
	for _, tok := range strings.Split(p.GetRetryOn(), ",") {
		switch tok = strings.TrimSpace(tok); tok {
		case "":
		case "connect-failure":
			rp.onConnectFailure = true
		case "refused-stream":
			// HTTP/2 only: the Go edge speaks HTTP/1.1 to upstreams, no stream is ever refused.
		case "retriable-status-codes":
			for _, code := range p.GetRetriableStatusCodes() {
				rp.statusCodes = append(rp.statusCodes, int(code))
			}
		default:
			c.fail("retry_on %q is not supported by the Go edge (the control plane emits retriable-status-codes, connect-failure, refused-stream)", tok)
		}
	}
	for i, hp := range p.GetRetryHostPredicate() {
		// Round robin already moves to another endpoint on every attempt.
		if hp.GetName() != previousHostsPredicate {
			c.fail("%s is not supported by the Go edge (the control plane emits %s)", elemName("retry_host_predicate", i, hp.GetName()), previousHostsPredicate)
		}
	}
	if b := p.GetRetryBackOff(); b != nil {
		rp.baseInterval = c.duration("retry_back_off.base_interval", b.GetBaseInterval())
		if b.GetMaxInterval() != nil {
			rp.maxInterval = c.duration("retry_back_off.max_interval", b.GetMaxInterval())
		}
	}
	if rp.maxInterval == 0 {
		rp.maxInterval = 10 * rp.baseInterval
	}
	if rp.baseInterval <= 0 || rp.maxInterval < rp.baseInterval {
		c.fail("retry_back_off: base_interval %v must be positive and at most max_interval %v", rp.baseInterval, rp.maxInterval)
	}
	if rl := p.GetRateLimitedRetryBackOff(); rl != nil {
		for _, h := range rl.GetResetHeaders() {
			rp.resetHeaders = append(rp.resetHeaders, http.CanonicalHeaderKey(h.GetName()))
		}
		if rl.GetMaxInterval() != nil {
			rp.maxResetInterval = c.duration("rate_limited_retry_back_off.max_interval", rl.GetMaxInterval())
		}
	}
	return rp
}

// retriableStatus reports whether the policy retries a response with this status.
func (p *retryPolicy) retriableStatus(code int) bool { return slices.Contains(p.statusCodes, code) }

// resetInterval returns the wait an upstream asked for in a reset header (Retry-After in
// seconds), if one holds a usable value not above the maximum (Envoy's parseResetInterval;
// an HTTP date is not a reset interval in the SECONDS format).
func (p *retryPolicy) resetInterval(h http.Header) (time.Duration, bool) {
	for _, canon := range p.resetHeaders {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Get(canon)), 10, 64)
		if err != nil {
			continue
		}
		if d := time.Duration(min(n, 1<<30)) * time.Second; d > 0 && d <= p.maxResetInterval {
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
		msg = strings.Join(c.where, ".") + ": " + msg
	}
	c.errs = append(c.errs, errors.New(msg))
}

func (c *compiler) duration(field string, d *durationpb.Duration) time.Duration {
	if err := d.CheckValid(); err != nil {
		c.fail("%s: %v", field, err)
		return 0
	}
	return d.AsDuration()
}

func (c *compiler) err() error { return errors.Join(c.errs...) }

// elemName names element i of a list by its name when it has one, as checkEmitted does.
func elemName(list string, i int, name string) string {
	if name != "" {
		return fmt.Sprintf("%s[%q]", list, name)
	}
	return fmt.Sprintf("%s[%d]", list, i)
}
