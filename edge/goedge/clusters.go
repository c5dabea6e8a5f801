package goedge

import (
	"crypto/tls"
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
	edsName        string        // the EDS service name
	connectTimeout time.Duration // 0: Config.DefaultConnectTimeout
	idleTimeout    time.Duration // 0: Config.UpstreamIdleTimeout
	maxConnections int64
	maxRequests    int64
	maxRetries     int64
	h2c            bool // explicit HTTP/2 (plaintext: h2c, prior knowledge), for OTLP/gRPC
}

// compileCluster compiles a Cluster as the control plane builds it: EDS over ADS, plaintext
// HTTP/1.1 (or, for the OTLP/gRPC cluster, h2c) to its endpoints, LEAST_REQUEST (balanced round robin by the Go edge), the DEFAULT
// priority's circuit breaker thresholds. A field the control plane does not emit, or a value
// the Go edge does not implement, rejects the cluster.
func compileCluster(pc *cluster.Cluster) (*clusterConfig, error) {
	if err := checkEmitted(pc); err != nil {
		return nil, fmt.Errorf("cannot apply cluster %q: %w", pc.GetName(), err)
	}
	c := &compiler{}
	cc := &clusterConfig{name: pc.GetName(), maxConnections: defaultMaxConnections, maxRequests: defaultMaxRequests, maxRetries: defaultMaxRetries}
	if pc.GetType() != cluster.Cluster_EDS {
		c.fail("type %s is not supported by the Go edge (the control plane emits EDS)", pc.GetType())
	}
	c.ads("eds_cluster_config.eds_config", pc.GetEdsClusterConfig().GetEdsConfig())
	cc.edsName = pc.GetEdsClusterConfig().GetServiceName()
	if cc.edsName == "" {
		cc.edsName = cc.name
	}
	if pc.GetLbPolicy() != cluster.Cluster_LEAST_REQUEST {
		c.fail("lb_policy %s is not supported by the Go edge (the control plane emits LEAST_REQUEST)", pc.GetLbPolicy())
	}
	if pc.GetConnectTimeout() != nil {
		cc.connectTimeout = c.duration("connect_timeout", pc.GetConnectTimeout())
	}
	for key, a := range pc.GetTypedExtensionProtocolOptions() {
		field := fmt.Sprintf("typed_extension_protocol_options[%q]", key)
		opts := &upstreamhttp.HttpProtocolOptions{}
		if key != httpProtocolOptionsKey || a.GetTypeUrl() != typeURLOf(opts) {
			c.fail("%s of type %q is not supported by the Go edge (the control plane emits %s)", field, a.GetTypeUrl(), httpProtocolOptionsKey)
			continue
		}
		if !c.unpack(field, a, opts) {
			continue
		}
		switch ex := opts.GetExplicitHttpConfig(); {
		case ex.GetHttpProtocolOptions() != nil:
		case ex.GetHttp2ProtocolOptions() != nil:
			cc.h2c = true
		default:
			c.fail("%s: only explicit_http_config with http_protocol_options (HTTP/1.1) or http2_protocol_options (h2c) is supported by the Go edge", field)
		}
		common := opts.GetCommonHttpProtocolOptions()
		if a := common.GetHeadersWithUnderscoresAction(); a != core.HttpProtocolOptions_ALLOW {
			c.fail("%s.common_http_protocol_options.headers_with_underscores_action %s is not supported by the Go edge upstream", field, a)
		}
		if t := common.GetIdleTimeout(); t != nil {
			cc.idleTimeout = c.duration(field+".common_http_protocol_options.idle_timeout", t)
		}
	}
	ths := pc.GetCircuitBreakers().GetThresholds()
	if len(ths) > 1 {
		c.fail("circuit_breakers.thresholds: the Go edge takes one DEFAULT priority entry, not %d", len(ths))
	}
	for _, th := range ths {
		if v := th.GetMaxConnections(); v != nil {
			cc.maxConnections = int64(v.GetValue())
		}
		if v := th.GetMaxRequests(); v != nil {
			cc.maxRequests = int64(v.GetValue())
		}
		if v := th.GetMaxRetries(); v != nil {
			cc.maxRetries = int64(v.GetValue())
		}
	}
	if err := c.err(); err != nil {
		return nil, fmt.Errorf("cannot apply cluster %q: %w", pc.GetName(), err)
	}
	return cc, nil
}

// compileEndpoints returns the host:port of every endpoint of a ClusterLoadAssignment, in
// order. The control plane sets no health status, locality, weight or priority (a
// ClusterLoadAssignment that does is refused).
func compileEndpoints(cla *endpoint.ClusterLoadAssignment) ([]string, error) {
	if err := checkEmitted(cla); err != nil {
		return nil, fmt.Errorf("cannot apply endpoints of %q: %w", cla.GetClusterName(), err)
	}
	var out []string
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10)))
		}
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
	h2c                         bool
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
		// A proxy forwards bodies as they are: no Accept-Encoding of its own, no HTTP/2 over
		// TLS (upstreams are plaintext).
		DisableCompression: true,
		TLSNextProto:       map[string]func(string, *tls.Conn) http.RoundTripper{},
		WriteBufferSize:    64 << 10,
		ReadBufferSize:     64 << 10,
	}
	if key.h2c {
		rt.tr.Protocols = new(http.Protocols)
		rt.tr.Protocols.SetUnencryptedHTTP2(true)
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
