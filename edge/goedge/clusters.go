package goedge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// httpProtocolOptionsKey is the key of the upstream HTTP protocol options in a cluster's
// typed_extension_protocol_options.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// Envoy's circuit breaker defaults.
const (
	defaultMaxConnections = 1024
	defaultMaxRequests    = 1024
	defaultMaxRetries     = 3
)

// clusterConfig is one compiled Cluster. Immutable.
type clusterConfig struct {
	name           string
	edsName        string   // the EDS service name of an EDS cluster
	static         []string // the endpoints of a STATIC cluster
	isStatic       bool
	connectTimeout time.Duration // 0: Config.DefaultConnectTimeout
	idleTimeout    time.Duration // 0: Config.UpstreamIdleTimeout
	maxConnections int64
	maxRequests    int64
	maxRetries     int64
}

// compileCluster compiles a Cluster: EDS (over ADS) or STATIC, plaintext HTTP/1.1 to its
// endpoints, round robin, the DEFAULT priority's circuit breaker thresholds. Anything the Go
// edge cannot honour that changes where or how requests go is an error.
func compileCluster(pc *cluster.Cluster) (*clusterConfig, error) {
	c := &compiler{}
	cc := &clusterConfig{name: pc.GetName(), maxConnections: defaultMaxConnections, maxRequests: defaultMaxRequests, maxRetries: defaultMaxRetries}
	switch pc.GetType() {
	case cluster.Cluster_EDS:
		if pc.GetClusterType() != nil {
			c.fail("cluster_type extensions are not supported by the Go edge")
		}
		cc.edsName = pc.GetEdsClusterConfig().GetServiceName()
		if cc.edsName == "" {
			cc.edsName = cc.name
		}
		if src := pc.GetEdsClusterConfig().GetEdsConfig(); src != nil && src.GetAds() == nil {
			c.fail("eds_cluster_config.eds_config: only ADS is supported by the Go edge")
		}
	case cluster.Cluster_STATIC:
		cc.isStatic = true
		eps, err := compileEndpoints(pc.GetLoadAssignment())
		if err != nil {
			c.fail("load_assignment: %v", err)
		}
		cc.static = eps
	default:
		c.fail("type %s is not supported by the Go edge (EDS and STATIC are)", pc.GetType())
	}
	switch pc.GetLbPolicy() {
	case cluster.Cluster_ROUND_ROBIN, cluster.Cluster_LEAST_REQUEST, cluster.Cluster_RANDOM:
		// The Go edge balances round robin (docs/edge.md).
	default:
		c.fail("lb_policy %s is not supported by the Go edge", pc.GetLbPolicy())
	}
	c.unsupported(pc.GetLoadBalancingPolicy() != nil, "load_balancing_policy")
	c.unsupported(pc.GetTransportSocket() != nil || len(pc.GetTransportSocketMatches()) > 0, "upstream TLS (transport_socket)")
	c.unsupported(pc.GetLbSubsetConfig() != nil, "lb_subset_config")
	c.unsupported(len(pc.GetHealthChecks()) > 0, "health_checks")
	c.unsupported(pc.GetOutlierDetection() != nil, "outlier_detection")
	c.unsupported(len(pc.GetFilters()) > 0, "filters")
	c.unsupported(pc.GetUpstreamConfig() != nil, "upstream_config")
	//lint:ignore SA1019 deprecated since Envoy 1.14 but still honoured by 1.33: a cluster may set it
	c.unsupported(pc.GetHttp2ProtocolOptions() != nil, "http2_protocol_options (upstream HTTP/2)")
	if pc.GetConnectTimeout() != nil {
		cc.connectTimeout = c.duration("connect_timeout", pc.GetConnectTimeout())
	}
	//lint:ignore SA1019 deprecated since Envoy 1.14 but still honoured by 1.33: a cluster may set it
	if t := pc.GetCommonHttpProtocolOptions().GetIdleTimeout(); t != nil {
		cc.idleTimeout = c.duration("common_http_protocol_options.idle_timeout", t)
	}
	for key, a := range pc.GetTypedExtensionProtocolOptions() {
		if key != httpProtocolOptionsKey {
			c.fail("typed_extension_protocol_options %q is not supported by the Go edge", key)
			continue
		}
		opts := &upstreamhttp.HttpProtocolOptions{}
		if err := a.UnmarshalTo(opts); err != nil {
			c.fail("typed_extension_protocol_options %q: %v", key, err)
			continue
		}
		if err := opts.ValidateAll(); err != nil {
			c.fail("typed_extension_protocol_options %q: %v", key, err)
		}
		if ex := opts.GetExplicitHttpConfig(); ex == nil || ex.GetHttpProtocolOptions() == nil {
			c.fail("typed_extension_protocol_options %q: only explicit HTTP/1.1 upstreams are supported by the Go edge", key)
		}
		c.unsupported(len(opts.GetHttpFilters()) > 0, "upstream http_filters")
		if t := opts.GetCommonHttpProtocolOptions().GetIdleTimeout(); t != nil {
			cc.idleTimeout = c.duration("common_http_protocol_options.idle_timeout", t)
		}
	}
	for _, th := range pc.GetCircuitBreakers().GetThresholds() {
		if th.GetPriority() != core.RoutingPriority_DEFAULT {
			continue // the Go edge sends every request at the default priority
		}
		if v := th.GetMaxConnections(); v != nil {
			cc.maxConnections = int64(v.GetValue())
		}
		if v := th.GetMaxRequests(); v != nil {
			cc.maxRequests = int64(v.GetValue())
		}
		if v := th.GetMaxRetries(); v != nil {
			cc.maxRetries = int64(v.GetValue())
		}
		c.unsupported(th.GetRetryBudget() != nil, "circuit_breakers retry_budget")
	}
	if err := c.err(); err != nil {
		return nil, fmt.Errorf("cannot apply cluster %q: %w", pc.GetName(), err)
	}
	return cc, nil
}

// compileEndpoints returns the host:port of every endpoint of a ClusterLoadAssignment that
// may take traffic (health status UNKNOWN, HEALTHY or DEGRADED), in order. Locality and
// endpoint weights and priorities are not honoured (docs/edge.md).
func compileEndpoints(cla *endpoint.ClusterLoadAssignment) ([]string, error) {
	var out []string
	var errs []error
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			switch lb.GetHealthStatus() {
			case core.HealthStatus_UNKNOWN, core.HealthStatus_HEALTHY, core.HealthStatus_DEGRADED:
			default:
				continue
			}
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil || sa.GetProtocol() != core.SocketAddress_TCP || sa.GetNamedPort() != "" {
				errs = append(errs, fmt.Errorf("endpoint %v: only TCP socket addresses with a port_value are supported by the Go edge", lb.GetEndpoint().GetAddress()))
				continue
			}
			out = append(out, net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cannot apply endpoints of %q: %w", cla.GetClusterName(), err)
	}
	return out, nil
}

// clusterRuntime is the state of a cluster (by name) that outlives configuration pushes, as
// Envoy's cluster resource manager outlives RDS and EDS updates: the requests and retries in
// flight (circuit breakers), the round robin position, and the connection pool.
type clusterRuntime struct {
	active  atomic.Int64 // upstream requests in flight
	retries atomic.Int64 // retries in flight (waiting or sent)
	rr      atomic.Uint64

	mu  sync.Mutex
	tr  *http.Transport
	key transportKey
}

type transportKey struct {
	connectTimeout, idleTimeout time.Duration
	maxConnsPerHost             int
}

// transport returns the connection pool for key, replacing (and closing the idle
// connections of) the previous one when the cluster's connection settings changed.
// Requests in flight on the previous pool finish there.
func (rt *clusterRuntime) transport(key transportKey, maxIdlePerHost int) *http.Transport {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.tr != nil && rt.key == key {
		return rt.tr
	}
	old := rt.tr
	d := &net.Dialer{Timeout: key.connectTimeout, KeepAlive: 30 * time.Second}
	rt.tr = &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: maxIdlePerHost,
		MaxConnsPerHost:     key.maxConnsPerHost,
		IdleConnTimeout:     key.idleTimeout,
		// A proxy forwards bodies as they are: no Accept-Encoding of its own, no HTTP/2.
		DisableCompression: true,
		TLSNextProto:       map[string]func(string, *tls.Conn) http.RoundTripper{},
		WriteBufferSize:    64 << 10,
		ReadBufferSize:     64 << 10,
	}
	rt.key = key
	if old != nil {
		old.CloseIdleConnections()
	}
	return rt.tr
}

// close closes the idle connections of the pool (at shutdown).
func (rt *clusterRuntime) close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.tr != nil {
		rt.tr.CloseIdleConnections()
	}
}

// upstreamCluster is a cluster as one configuration sees it: its compiled config, its
// endpoints, and its runtime state.
type upstreamCluster struct {
	cfg       *clusterConfig
	endpoints []string
	rt        *clusterRuntime
	transport *http.Transport
}

// pick returns the next endpoint, round robin, or false when the cluster has none.
func (u *upstreamCluster) pick() (string, bool) {
	n := len(u.endpoints)
	if n == 0 {
		return "", false
	}
	i := u.rt.rr.Add(1) - 1
	return u.endpoints[i%uint64(n)], true
}

// acquire takes one of the cluster's max_requests slots; false means overflow.
func (u *upstreamCluster) acquire() bool { return acquire(&u.rt.active, u.cfg.maxRequests) }

// release gives a slot back.
func (u *upstreamCluster) release() { u.rt.active.Add(-1) }

// acquireRetry takes one of the cluster's max_retries slots; false means overflow.
func (u *upstreamCluster) acquireRetry() bool { return acquire(&u.rt.retries, u.cfg.maxRetries) }

func (u *upstreamCluster) releaseRetry() { u.rt.retries.Add(-1) }

func acquire(n *atomic.Int64, max int64) bool {
	if n.Add(1) > max {
		n.Add(-1)
		return false
	}
	return true
}
