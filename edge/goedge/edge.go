package goedge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/credentials"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/service"
)

// Edge is the Go edge: an HTTPS server that runs the edge filter through envoyhost, takes its
// configuration from the control plane over ADS and proxies to the clusters' endpoints.
// Create it with [New]; run it once with [Edge.Run]. Its methods are safe for concurrent use.
type Edge struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	host     *envoyhost.Host
	filter   filterRuntime
	rand     func() uint64
	fileCert *tls.Config                      // the listener's TLS config when the certificate comes from files
	xdsCreds credentials.TransportCredentials // of the ADS client: mutual TLS with the control plane

	// snap is the configuration new requests use. A request keeps the one it started with.
	snap atomic.Pointer[snapshot]
	// listenerGen counts listener changes; a connection accepted under an older one is
	// drained (see drainIfListenerChanged).
	listenerGen atomic.Uint64
	ready       atomic.Bool
	draining    atomic.Bool
	applied     chan struct{} // closed when the first complete configuration is applied
	once        sync.Once

	store *xdsStore // owned by the ADS goroutine

	runtimesMu sync.Mutex
	runtimes   map[string]*clusterRuntime

	mirrors    mirrorLimiter
	mirrorCtx  context.Context
	stopMirror context.CancelFunc

	ln    net.Listener // bounded by Config.MaxConnections
	lm    *service.ListenerMetrics
	admin *service.Server // the admin listener (/healthz, /readyz, /metrics) and the life cycle
}

// snapshot is one complete configuration: immutable; swapped whole.
type snapshot struct {
	versions map[string]string
	listener *listenerConfig
	// filter is the golang filter with its parsed configuration (from ECDS); nil when the
	// listener has none, or when its configuration names another plugin than the one this
	// edge runs (Envoy then passes requests through unfiltered, and the routes fail closed).
	filter *envoyhost.Filter
	// pluginName is the plugin_name of the filter's configuration ("" without one).
	pluginName  string
	routes      *routeTable
	clusters    map[string]*upstreamCluster
	cert        *tls.Certificate
	tlsConfig   *tls.Config
	bufferLimit int64
}

// Option changes how New builds the edge.
type Option func(*options)

type options struct {
	rand   func() uint64
	filter *filterRuntime
}

// WithRandom replaces the random source of weighted cluster picks, mirror fractions and
// retry jitter (default math/rand/v2). r must be safe for concurrent use.
func WithRandom(r func() uint64) Option { return func(o *options) { o.rand = r } }

// WithFilter replaces the golang filter the edge runs (default: envoyfilter under
// filterconfig.PluginName, with one filter.Shared per edge). The listener's golang
// filter runs it when its plugin_name is pluginName.
func WithFilter(pluginName string, parser api.StreamFilterConfigParser, factory api.StreamFilterFactory) Option {
	return func(o *options) {
		o.filter = &filterRuntime{pluginName: pluginName, parser: parser, factory: factory}
	}
}

// New checks cfg (zero fields take their defaults), loads the certificate files (the
// listener's if set, and the xDS client's CA, certificate and key) and
// binds both listeners, so that every startup problem is reported here. Metrics are
// registered with reg and served at /metrics on the admin listener (nil: a new registry).
// Nothing is served until Run; if Run is never called, Close releases the listeners.
func New(cfg Config, reg *prometheus.Registry, log *slog.Logger, opts ...Option) (*Edge, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the edge: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	fm, err := envoyhost.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	shared := filter.NewShared(nil)
	if err := shared.SetTenantShare(cfg.TenantShare); err != nil { // Validate checked it
		return nil, fmt.Errorf("cannot start the edge: edge.tenant_share: %w", err)
	}
	if err := reg.Register(shedCollector{shared}); err != nil {
		return nil, fmt.Errorf("cannot register the edge filter's shed counter: %w", err)
	}
	if err := reg.Register(shareCollector{shared}); err != nil {
		return nil, fmt.Errorf("cannot register the edge filter's quota shares: %w", err)
	}
	fr := filterRuntime{pluginName: filterconfig.PluginName, parser: shared.ConfigParser(), factory: shared.FilterFactory, close: shared.Close}
	if o.filter != nil {
		fr = *o.filter
	}
	fr.metrics = fm
	if o.rand == nil {
		o.rand = rand.Uint64
	}
	e := &Edge{
		cfg:      cfg,
		log:      log,
		m:        m,
		host:     envoyhost.New(log.With("component", "filter")),
		filter:   fr,
		rand:     o.rand,
		applied:  make(chan struct{}),
		store:    newXDSStore(cfg.ListenerName, fr),
		runtimes: map[string]*clusterRuntime{},
		mirrors:  mirrorLimiter{maxN: cfg.MaxMirrorsInFlight, maxBytes: cfg.MaxMirrorBytesInFlight},
	}
	e.mirrorCtx, e.stopMirror = context.WithCancel(context.Background())
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load the edge certificate %q: %w", cfg.CertFile, err)
		}
		e.fileCert = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	}
	if e.xdsCreds, err = xdsCredentials(cfg, m, log.With("component", "xds")); err != nil {
		return nil, fmt.Errorf("cannot start the edge: %w", err)
	}
	if e.lm, err = service.NewListenerMetrics("ingest_edge", reg); err != nil {
		return nil, err
	}
	ln, err := service.Listen("edge", cfg.ListenAddress)
	if err != nil {
		return nil, err
	}
	e.ln = service.LimitListener(ln, cfg.MaxConnections, e.lm)
	// The admin listener outlives the drain of the HTTPS listener (serve), so that /readyz
	// answers 503 meanwhile; the ADS stream and the mirrors stop within ShutdownTimeout too.
	e.admin, err = service.New(service.Options{
		Name:            "edge's admin",
		Listen:          cfg.AdminListenAddress,
		Ready:           e.readiness,
		Drain:           e.drain,
		Run:             e.serve,
		Shutdown:        e.shutdown,
		ShutdownTimeout: cfg.ShutdownTimeout + time.Second,
		MetricsPrefix:   "ingest_edge_admin",
	}, service.Settings{Log: log, Registry: reg})
	if err != nil {
		_ = e.ln.Close()
		return nil, err
	}
	return e, nil
}

// Addr returns the address of the HTTPS listener (useful with port 0).
func (e *Edge) Addr() net.Addr { return e.ln.Addr() }

// AdminAddr returns the address of the admin listener.
func (e *Edge) AdminAddr() net.Addr { return e.admin.Addr() }

// ErrNoConfiguration is what Ready returns until the edge applied a complete configuration
// from the control plane's xDS.
var ErrNoConfiguration = errors.New("no complete configuration from the control plane yet")

// Ready returns nil when the edge runs, has applied a complete configuration from xDS and is
// not shutting down; else why not (service.ErrNotRunning, ErrNoConfiguration,
// service.ErrDraining). /readyz on the admin listener answers it.
func (e *Edge) Ready(ctx context.Context) error { return e.admin.Ready(ctx) }

func (e *Edge) readiness(context.Context) error {
	if !e.ready.Load() {
		return ErrNoConfiguration
	}
	return nil
}

// Applied returns a channel closed once the first complete configuration is applied.
func (e *Edge) Applied() <-chan struct{} { return e.applied }

// Handler returns the request path (the handler behind the TLS listener), for tests and
// benchmarks that serve it themselves.
func (e *Edge) Handler() http.Handler { return http.HandlerFunc(e.serveHTTP) }

// Close releases the listeners of an edge that never ran. Run closes them itself.
func (e *Edge) Close() error { return e.admin.Close() }

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Run serves until ctx is done, then shuts down gracefully: /readyz turns 503, the HTTPS
// listener stops accepting and the requests in progress finish (within
// Config.ShutdownTimeout, after which they are cut), mirrors in flight get what is left of
// that deadline, and the ADS stream and the admin listener stop last. It returns nil after a
// clean stop. Run may be called once.
func (e *Edge) Run(ctx context.Context) error { return e.admin.Run(ctx) }

// shutdown closes what outlives the drain: the client listener (serve closed it if it ran) and
// the filter's long-lived state, whose parity reporter sends its last counts.
func (e *Edge) shutdown(ctx context.Context) error {
	err := ignoreClosed(e.ln.Close())
	if e.filter.close != nil {
		err = errors.Join(err, e.filter.close(ctx))
	}
	return err
}

// drain marks the edge draining as soon as shutdown starts.
func (e *Edge) drain() {
	e.draining.Store(true)
	e.m.ready.Set(0)
}

// HTTP/2 flow control of the client listener: each connection buffers at most
// h2ReceiveBufferPerConnection of request bodies its handlers have not read yet (net/http's
// default, made explicit because the memory bound counts it), in frames of at most
// h2MaxReadFrameSize (HTTP/2's default, Envoy's; net/http's would be 1 MiB per connection).
const (
	h2ReceiveBufferPerConnection = 1 << 20
	h2MaxReadFrameSize           = 16 << 10
)

// newHTTPServer returns the server of the client listener (ServeTLS on e.ln): the request
// path with the body idle timeout, and the header, idle and stream bounds of the config.
func (e *Edge) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           service.LimitBodyIdle(e.Handler(), e.cfg.BodyIdleTimeout, e.lm.BodyTimeouts),
		ReadHeaderTimeout: e.cfg.ReadHeaderTimeout,
		IdleTimeout:       e.cfg.IdleTimeout,
		MaxHeaderBytes:    e.cfg.MaxHeaderBytes,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: e.tlsConfigForClient},
		ConnContext:       e.connContext,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: e.cfg.MaxConcurrentStreams,
			// Part of the memory budget (doc.go): the body bytes an HTTP/2 connection may
			// have received and not yet handed to its streams, and its frame buffer.
			MaxReceiveBufferPerConnection: h2ReceiveBufferPerConnection,
			MaxReceiveBufferPerStream:     h2ReceiveBufferPerConnection,
			MaxReadFrameSize:              h2MaxReadFrameSize,
		},
		// TLS handshake failures and client errors are per connection: not worth an error line.
		ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
	}
}

// serve serves the HTTPS listener and the ADS stream until ctx is done, then drains them.
func (e *Edge) serve(ctx context.Context) error {
	adsCtx, stopADS := context.WithCancel(context.Background())
	adsDone := make(chan struct{})
	go func() {
		defer close(adsDone)
		e.runADS(adsCtx)
	}()

	hs := e.newHTTPServer()
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.ServeTLS(e.ln, "", "") }()
	e.log.Info("edge listening", "addr", e.ln.Addr().String(), "admin", e.admin.Addr().String(), "xds", e.cfg.XDSAddress, "node", e.cfg.NodeID)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("cannot serve the edge: %w", err)
	}

	e.drain()
	deadline := time.Now().Add(e.cfg.ShutdownTimeout)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		e.log.Warn("edge requests still in progress at the shutdown deadline were cut", "err", err)
		_ = hs.Close()
	}
	if !e.mirrors.closeAndWait(sctx) {
		e.log.Warn("mirrored requests still in progress at the shutdown deadline were cut")
	}
	e.stopMirror()
	stopADS()
	<-adsDone
	e.runtimesMu.Lock()
	for _, rt := range e.runtimes {
		rt.close()
	}
	e.runtimesMu.Unlock()
	e.log.Info("edge stopped")
	return runErr
}

// tlsConfigForClient returns the TLS configuration of the current snapshot.
func (e *Edge) tlsConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	if s := e.snap.Load(); s != nil && s.tlsConfig != nil {
		return s.tlsConfig, nil
	}
	if e.fileCert != nil {
		return e.fileCert, nil
	}
	return nil, errors.New("no certificate yet: waiting for the control plane's SDS secret")
}

// runtime returns the state of cluster name that outlives configurations.
func (e *Edge) runtime(name string) *clusterRuntime {
	e.runtimesMu.Lock()
	defer e.runtimesMu.Unlock()
	rt := e.runtimes[name]
	if rt == nil {
		rt = &clusterRuntime{}
		e.runtimes[name] = rt
	}
	return rt
}

// install builds a snapshot from complete parts and makes it current. prev is the current
// snapshot, whose TLS config is kept when the certificate and parameters did not change.
func (e *Edge) install(p *parts) *snapshot {
	prev := e.snap.Load()
	s := &snapshot{versions: p.versions, listener: p.listener, routes: p.routes, cert: p.cert, clusters: map[string]*upstreamCluster{}}
	if p.filter != nil {
		s.filter, s.pluginName = p.filter.filter, p.filter.pluginName
	}
	s.bufferLimit = p.listener.bufferLimit
	if s.bufferLimit <= 0 {
		s.bufferLimit = e.cfg.DefaultBufferLimitBytes
	}
	for name, cc := range p.clusters {
		rt := e.runtime(name)
		key := transportKey{connectTimeout: cc.connectTimeout, idleTimeout: cc.idleTimeout, maxConnsPerHost: int(cc.maxConnections), h2c: cc.h2c}
		if key.connectTimeout <= 0 {
			key.connectTimeout = e.cfg.DefaultConnectTimeout
		}
		if key.idleTimeout <= 0 {
			key.idleTimeout = e.cfg.UpstreamIdleTimeout
		}
		s.clusters[name] = &upstreamCluster{cfg: cc, endpoints: p.endpoints[name], rt: rt, transport: rt.transport(key, e.cfg.MaxIdleConnsPerHost)}
	}
	switch {
	case p.cert == nil:
		s.tlsConfig = nil // from files
		if e.fileCert != nil && p.listener.minTLS != tls.VersionTLS12 {
			c := e.fileCert.Clone()
			c.MinVersion = p.listener.minTLS
			s.tlsConfig = c
		}
	case prev != nil && prev.tlsConfig != nil && prev.cert == p.cert && prev.tlsConfig.MinVersion == p.listener.minTLS && slices.Equal(prev.tlsConfig.NextProtos, p.listener.alpn):
		s.tlsConfig = prev.tlsConfig // keeps session resumption across pushes
	default:
		s.tlsConfig = &tls.Config{MinVersion: p.listener.minTLS, Certificates: []tls.Certificate{*p.cert}, NextProtos: p.listener.alpn}
	}
	if prev != nil && prev.listener != p.listener {
		// Envoy drains the connections of a changed filter chain; so does the Go edge, so
		// that tests see what a listener change costs clients.
		e.listenerGen.Add(1)
		e.log.Info("the listener changed: connections accepted before it close after their next response (Connection: close, HTTP/2 GOAWAY)",
			"listener", p.listener.name)
	}
	e.snap.Store(s)
	if s.filter != nil {
		e.m.filterActive.Set(1)
	} else {
		e.m.filterActive.Set(0)
	}
	if !e.ready.Swap(true) {
		if !e.draining.Load() {
			e.m.ready.Set(1)
		}
		e.once.Do(func() { close(e.applied) })
	}
	return s
}

// mirrorLimiter bounds the mirrored requests in flight in number and body bytes, and lets
// shutdown wait for them.
type mirrorLimiter struct {
	mu       sync.Mutex
	n        int
	bytes    int64
	maxN     int
	maxBytes int64
	closed   bool
	wg       sync.WaitGroup
}

// acquire takes a slot for a mirror of size body bytes; false when full or closed.
func (l *mirrorLimiter) acquire(size int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.n >= l.maxN || l.bytes+size > l.maxBytes {
		return false
	}
	l.n++
	l.bytes += size
	l.wg.Add(1)
	return true
}

func (l *mirrorLimiter) release(size int64) {
	l.mu.Lock()
	l.n--
	l.bytes -= size
	l.mu.Unlock()
	l.wg.Done()
}

// closeAndWait refuses new mirrors and waits for those in flight until ctx is done; false
// if some were still running then.
func (l *mirrorLimiter) closeAndWait(ctx context.Context) bool {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
