package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Service is the shape of every deployable: built by its package's NewService(cfg, Settings),
// which binds its listeners, then run once.
type Service interface {
	// Run serves until ctx ends, then drains within the service's shutdown timeout and
	// returns: nil after a clean stop, else what failed. A service that stops before ctx
	// ends returns why. Run may be called once.
	Run(ctx context.Context) error
	// Ready returns nil when the service should get traffic, else the reason it should not
	// (not running yet, draining, a dependency down). It is safe for concurrent use and
	// honours ctx.
	Ready(ctx context.Context) error
}

// Settings are what a service shares with its process.
type Settings struct {
	// Log receives the service's logs. Nil: discarded.
	Log *slog.Logger
	// Registry is where the service registers its metrics, and what its /metrics serves.
	// Nil: a registry of its own, without the Go and process collectors.
	Registry *prometheus.Registry
}

// ProcessSettings returns the Settings of a process that runs one service: log, and a new
// registry with the Go runtime and process collectors.
func ProcessSettings(log *slog.Logger) Settings {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return Settings{Log: log, Registry: reg}
}

// WithDefaults returns s with a discarding logger and a new registry where they are nil.
func (s Settings) WithDefaults() Settings {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	return s
}

// Timeouts of every internal listener and of the readiness endpoint.
const (
	// ReadHeaderTimeout bounds reading a request's headers, unless Options set another.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout = 2 * time.Minute
	// ReadyCheckTimeout bounds one readiness check of GET /readyz.
	ReadyCheckTimeout = 5 * time.Second
	// DefaultShutdownTimeout is the drain deadline of a Server whose Options set none.
	DefaultShutdownTimeout = 20 * time.Second
)

// Errors Ready returns besides the component's own.
var (
	// ErrNotRunning is returned by Ready before Run started serving.
	ErrNotRunning = errors.New("not running yet")
	// ErrDraining is returned by Ready once Run's ctx ended: the service is shutting down.
	ErrDraining = errors.New("draining: shutting down")
)

// Options say what a Server serves and how its component starts and stops. Only Name is
// required.
type Options struct {
	// Name names the service in logs and errors, e.g. "normalizer".
	Name string
	// Listen is the host:port of the internal HTTP listener; port 0 picks a free port.
	// Empty: no listener (the service then has no /healthz, /readyz or /metrics; Ready
	// still answers).
	Listen string
	// Handler serves the component's own endpoints on the listener. /healthz, /readyz and
	// /metrics are the Server's and shadow the component's. Nil: only those three.
	Handler http.Handler
	// Healthz replaces the default liveness answer of GET /healthz ("ok"), for components
	// whose clients read a richer one (the control plane's JSON health). Nil: "ok".
	Healthz http.Handler
	// Ready is the component's readiness check, asked by Ready and GET /readyz (bounded by
	// ReadyCheckTimeout) while the service runs and is not draining. It must be safe for
	// concurrent use and cheap enough to be probed every few seconds. Nil: always ready.
	Ready func(ctx context.Context) error
	// Run is the component's background work (the loader's consumption, the edge's HTTPS
	// listener and xDS stream, the control plane's xDS server). It starts with Server.Run;
	// its ctx ends when draining starts (after Drain), and it must then return within
	// ShutdownTimeout, having finished its own drain. It stops before the listener does, so
	// /metrics keeps answering meanwhile. If it returns before Server.Run's ctx ends, even
	// with nil, the service stops and Server.Run returns the error. Nil: none.
	Run func(ctx context.Context) error
	// Drain is called once draining starts, before Run's ctx ends and the listener closes:
	// the component stops taking new work or says so (readiness already fails). Nil: none.
	Drain func()
	// Shutdown is called last, after Run returned and the listener closed (the requests in
	// progress finished), with a ctx bounded by what is left of ShutdownTimeout: the
	// component flushes and closes. Close calls it too, for a Server that never ran.
	// Nil: none.
	Shutdown func(ctx context.Context) error
	// ShutdownTimeout bounds the whole drain, from ctx's end to Run's return. Requests still
	// in progress when it passes are cut. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. 0 (the default): no bound
	// besides ReadHeaderTimeout and BodyIdleTimeout (components bound their bodies in bytes).
	ReadTimeout time.Duration
	// MaxConnections bounds the connections the listener holds open; one accepted above it
	// is closed at once and counted (see LimitListener). 0: DefaultMaxConnections.
	MaxConnections int
	// ReadHeaderTimeout bounds reading a request's headers. 0: the ReadHeaderTimeout
	// constant (10 s).
	ReadHeaderTimeout time.Duration
	// BodyIdleTimeout cuts a request whose body sends no data for this long: its Read fails
	// with ErrBodyIdle, which the component answers with 408 (see LimitBodyIdle).
	// 0: DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration
	// MetricsPrefix starts the names of the listener's metrics (see ListenerMetrics), e.g.
	// "ingest_normalizer". Empty: "ingest_" and Name, with every run of characters other
	// than letters and digits as one '_'.
	MetricsPrefix string
}

// Server is the running side of a service: its internal listener with the health and
// metrics endpoints, and the life cycle of its component (see Options). It implements
// Service. Its methods are safe for concurrent use.
type Server struct {
	o   Options
	log *slog.Logger
	ln  net.Listener // nil without Options.Listen; limited to Options.MaxConnections
	mux *http.ServeMux
	// handler is mux with the body idle timeout, as the listener serves it.
	handler http.Handler

	ran      atomic.Bool // Run or Close was called
	running  atomic.Bool
	draining atomic.Bool
}

// New checks o and binds its listener, so that a port in use is an error here, naming the
// service and the address. Nothing is served before Run; if Run is never called, Close
// releases the listener and shuts the component down.
func New(o Options, set Settings) (*Server, error) {
	if o.Name == "" {
		return nil, errors.New("cannot create a service without a name")
	}
	if o.ShutdownTimeout < 0 {
		return nil, fmt.Errorf("cannot create the %s: shutdown timeout %v is negative", o.Name, o.ShutdownTimeout)
	}
	if o.MaxConnections < 0 || o.ReadHeaderTimeout < 0 || o.BodyIdleTimeout < 0 {
		return nil, fmt.Errorf("cannot create the %s: max connections %d, read header timeout %v and body idle timeout %v must not be negative",
			o.Name, o.MaxConnections, o.ReadHeaderTimeout, o.BodyIdleTimeout)
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = ReadHeaderTimeout
	}
	if o.BodyIdleTimeout == 0 {
		o.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if o.MetricsPrefix == "" {
		o.MetricsPrefix = metricsPrefix(o.Name)
	}
	set = set.WithDefaults()
	s := &Server{o: o, log: set.Log}
	s.mux = s.routes(set.Registry)
	if o.Listen != "" {
		m, err := NewListenerMetrics(o.MetricsPrefix, set.Registry)
		if err != nil {
			return nil, fmt.Errorf("cannot create the %s: %w", o.Name, err)
		}
		ln, err := Listen(o.Name, o.Listen)
		if err != nil {
			return nil, err
		}
		s.ln = LimitListener(ln, o.MaxConnections, m)
		s.handler = LimitBodyIdle(s.mux, o.BodyIdleTimeout, m.BodyTimeouts)
	}
	return s, nil
}

// Listen binds addr for the named service: every listener of every service is bound with it,
// so that a port in use always says which service and address.
func Listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %q for the %s: %w", addr, name, err)
	}
	return ln, nil
}

// NewHTTPServer returns the http.Server of an internal listener serving h: HTTP/1.1 and h2c
// (prior knowledge), ReadHeaderTimeout and IdleTimeout as documented above.
func NewHTTPServer(h http.Handler) *http.Server {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	return hs
}

func (s *Server) routes(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	if s.o.Handler != nil {
		mux.Handle("/", s.o.Handler)
	}
	if s.o.Healthz != nil {
		mux.Handle("/healthz", s.o.Healthz)
	} else {
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	}
	mux.HandleFunc("/readyz", s.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if os.Getenv(PprofEnv) == "1" {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// PprofEnv is the environment variable that, set to 1, serves Go's profiles (net/http/pprof)
// at /debug/pprof/ on every service's internal listener, for profiling under load
// (BENCHMARKS.md). Off by default: profiles cost CPU while taken and tell a lot about the
// process, and the internal listeners carry no authentication of their own.
const PprofEnv = "INGEST_PPROF"

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyCheckTimeout)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// Name returns the service's name.
func (s *Server) Name() string { return s.o.Name }

// Addr returns the address of the listener (useful with port 0), or nil without one.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Handler returns what the listener serves: the component's endpoints with /healthz,
// /readyz and /metrics (tests; a process serves it with Run).
func (s *Server) Handler() http.Handler { return s.mux }

// Ready returns ErrNotRunning before Run, ErrDraining once Run's ctx ended, and else the
// component's readiness (nil without a check).
func (s *Server) Ready(ctx context.Context) error {
	switch {
	case s.draining.Load():
		return ErrDraining
	case !s.running.Load():
		return ErrNotRunning
	case s.o.Ready == nil:
		return nil
	}
	return s.o.Ready(ctx)
}

// Run serves until ctx ends (or the listener or Options.Run fails), then drains within
// Options.ShutdownTimeout in this order: readiness fails, Options.Drain, Options.Run's ctx
// ends and Run waits for it, the listener stops accepting and the requests in progress
// finish, Options.Shutdown. It returns nil after a clean stop, else every failure. Run may
// be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return fmt.Errorf("cannot run the %s: it already ran or was closed", s.o.Name)
	}
	var hs *http.Server
	serveErr := make(chan error, 1)
	if s.ln != nil {
		hs = NewHTTPServer(s.handler)
		hs.ReadTimeout = s.o.ReadTimeout
		hs.ReadHeaderTimeout = s.o.ReadHeaderTimeout
		hs.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug) // per-connection noise
		go func() { serveErr <- hs.Serve(s.ln) }()
		s.log.Info("listening", "addr", s.ln.Addr().String())
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	workDone := make(chan error, 1)
	if s.o.Run != nil {
		go func() { workDone <- s.o.Run(workCtx) }()
	}
	s.running.Store(true)

	var runErr error
	workReturned := s.o.Run == nil
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("cannot serve the %s on %q: %w", s.o.Name, s.ln.Addr().String(), err)
	case err := <-workDone:
		workReturned = true
		if err == nil {
			err = errors.New("stopped by itself")
		}
		runErr = fmt.Errorf("%s: %w", s.o.Name, err)
	}
	if runErr != nil {
		s.log.Error("failed; shutting down", "err", runErr)
	}

	s.draining.Store(true)
	if s.o.Drain != nil {
		s.o.Drain()
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	var errs []error
	stopWork()
	if !workReturned {
		select {
		case err := <-workDone:
			if err != nil {
				errs = append(errs, err)
			}
		case <-sctx.Done():
			errs = append(errs, fmt.Errorf("cannot stop the %s within its shutdown timeout of %v", s.o.Name, s.o.ShutdownTimeout))
		}
	}
	if hs != nil {
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close()
			errs = append(errs, fmt.Errorf("requests to the %s still in progress after its shutdown timeout of %v were cut: %w", s.o.Name, s.o.ShutdownTimeout, err))
		}
	}
	if s.o.Shutdown != nil {
		if err := s.o.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("stopped uncleanly", "err", err)
		return errors.Join(runErr, err)
	}
	s.log.Info("stopped")
	return runErr
}

// Close releases the listener and calls Options.Shutdown (within Options.ShutdownTimeout),
// for a Server whose Run was never called; after Run (or a first Close) it does nothing, and
// Run after Close fails.
func (s *Server) Close() error {
	if !s.ran.CompareAndSwap(false, true) {
		return nil
	}
	if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.o.Shutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	return s.o.Shutdown(ctx)
}
