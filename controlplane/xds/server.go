package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/ingestdev/ingest/controlplane/registry"
)

// StateSource is where the server reads the registry from. The registry implements it.
type StateSource interface {
	// Snapshot returns a consistent view of the registry at one revision. The server does not
	// modify it.
	Snapshot() registry.State
	// Subscribe returns a channel that receives a value after every change (coalescing: a
	// buffer of one, a send that finds it full is dropped) and a function that ends the
	// subscription. A closed channel means no more changes will be announced (the registry
	// closed): the server keeps serving what it has.
	Subscribe() (<-chan struct{}, func())
}

// historySize is how many generations a node can fall back across after a NACK.
const historySize = 16

// Server serves the edge's configuration over ADS (SotW and delta on one gRPC server) and
// rebuilds it whenever the registry or the certificate files change. Create it with [New];
// run it once with [Server.Run] or [Server.Serve]. Its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	src   StateSource
	log   *slog.Logger
	m     *metrics
	cache cache.SnapshotCache
	certs *certWatcher
	tls   *serverTLS // nil with ServerTLS.Insecure
	now   func() time.Time
	// handshakeLog limits the log lines of refused handshakes (they are all counted).
	handshakeLog logLimiter
	ran          atomic.Bool

	// ver is owned by the rebuild loop.
	ver versioner

	mu      sync.Mutex
	ctx     context.Context // Serve's; for SetSnapshot from the callbacks
	history []*generation   // newest last, at most historySize
	current *generation
	nodes   map[string]*nodeState
	streams map[streamKey]*streamState
}

type streamKey struct {
	delta bool
	id    int64
}

type sentResponse struct{ nonce, version string }

type streamState struct {
	node string
	sent map[string]sentResponse // by type URL: the last response on this stream
}

// nodeState is what the server knows of one proxy (node.id).
type nodeState struct {
	streams  int
	gen      *generation       // what the cache holds for the node
	acked    map[string]string // type URL → last version the node accepted
	rejected map[string]string // type URL → version the node rejected, until it accepts a newer one
	parked   bool
}

// rejects reports whether g holds a version the node rejected.
func (n *nodeState) rejects(g *generation) bool {
	for typ, v := range n.rejected {
		if g.versions[typ] == v {
			return true
		}
	}
	return false
}

// New checks cfg (zero fields take their defaults) and returns a server that reads state
// from source, registers its metrics with reg (nil: not registered) and logs to log.
// Nothing is loaded or listened on until Run.
func New(cfg Config, source StateSource, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create xds server: %w", err)
	}
	if source == nil {
		return nil, errors.New("cannot create xds server: state source is nil")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	log = log.With("component", "xds")
	var st *serverTLS
	if !cfg.ServerTLS.Insecure {
		st = &serverTLS{cfg: cfg.ServerTLS}
	}
	return &Server{
		cfg:          cfg,
		tls:          st,
		handshakeLog: logLimiter{every: 10 * time.Second},
		src:          source,
		log:          log,
		m:            m,
		cache:        cache.NewSnapshotCache(true, cache.IDHash{}, cpLogger{log}),
		certs:        &certWatcher{certFile: cfg.CertFile, keyFile: cfg.KeyFile},
		now:          time.Now,
		nodes:        map[string]*nodeState{},
		streams:      map[streamKey]*streamState{},
	}, nil
}

// Run listens on Config.ListenAddress and serves until ctx is done (see [Server.Serve]).
func (s *Server) Run(ctx context.Context) error {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("cannot listen for xds on %q: %w", s.cfg.ListenAddress, err)
	}
	return s.Serve(ctx, lis)
}

// Serve serves xDS on lis until ctx is done, then stops the gRPC server and returns nil. It
// fails at once if the listener certificate or the server's own TLS files (Config.ServerTLS)
// cannot be loaded. Every connection must pass the mutual TLS handshake (unless
// ServerTLS.Insecure); a refused one is counted in
// ingest_controlplane_xds_handshake_failures_total and never reaches the ADS service. A
// registry state that does not build or pass [Validate] is logged and counted (ingest_controlplane_xds_snapshot_builds_total) and the
// last good snapshot stays served; at startup that means proxies get nothing until the state
// is fixed (through the admin API, which must stay up, so this is not fatal). A bad
// certificate change is logged and counted and the previous certificate stays. Serve closes
// lis. It may be called once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if !s.ran.CompareAndSwap(false, true) {
		_ = lis.Close()
		return errors.New("cannot serve xds: the server already ran")
	}
	if err := s.certs.load(); err != nil {
		_ = lis.Close()
		return fmt.Errorf("cannot serve xds: %w", err)
	}
	s.m.certExpiry.Set(float64(s.certs.notAfter.Unix()))
	s.log.Info("xds listener certificate loaded", "cert_file", s.cfg.CertFile, "not_after", s.certs.notAfter)
	creds, err := s.transportCredentials()
	if err != nil {
		_ = lis.Close()
		return fmt.Errorf("cannot serve xds: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()

	changes, unsubscribe := s.src.Subscribe()
	defer unsubscribe()
	// A registry state that does not build is logged and counted, not fatal: the admin API
	// that can fix it runs in the same process. Proxies get nothing until a state builds.
	nextExpiry, _ := s.rebuild(ctx, "startup")

	gs := grpc.NewServer(
		grpc.Creds(creds),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1024),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(ctx, s.cache, callbacks{s}))
	serveErr := make(chan error, 1)
	go func() { serveErr <- gs.Serve(lis) }()
	s.log.Info("xds server listening", "addr", lis.Addr().String())
	defer s.stopGRPC(gs)

	certTick := time.NewTicker(s.cfg.CertPollInterval)
	defer certTick.Stop()
	var debounce <-chan time.Time // nil: no change pending
	expiry := newOptionalTimer(nextExpiry, s.now())
	defer expiry.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("cannot serve xds on %q: %w", lis.Addr().String(), err)
		case _, ok := <-changes:
			if !ok {
				changes = nil
				s.log.Warn("xds registry subscription closed; serving the last snapshot until shutdown")
				continue
			}
			if debounce == nil {
				debounce = time.After(s.cfg.Debounce)
			}
		case <-debounce:
			debounce = nil
			if next, err := s.rebuild(ctx, "registry change"); err == nil {
				expiry.reset(next, s.now())
			}
		case <-expiry.c():
			expiry.fired()
			if next, err := s.rebuild(ctx, "key expiry"); err == nil {
				expiry.reset(next, s.now())
			}
		case <-certTick.C:
			changed, err := s.certs.poll()
			switch {
			case err != nil:
				s.m.certReloads.WithLabelValues("error").Inc()
				s.log.Error("xds listener certificate change not applied; the previous certificate stays", "err", err)
			case changed:
				s.m.certReloads.WithLabelValues("ok").Inc()
				s.m.certExpiry.Set(float64(s.certs.notAfter.Unix()))
				s.log.Info("xds listener certificate reloaded", "cert_file", s.cfg.CertFile, "not_after", s.certs.notAfter)
				if next, err := s.rebuild(ctx, "certificate change"); err == nil {
					expiry.reset(next, s.now())
				}
			}
			s.pollServerTLS()
		}
	}
}

// transportCredentials loads the server's TLS files and returns the mutual TLS credentials,
// or plaintext ones (loudly) with ServerTLS.Insecure.
func (s *Server) transportCredentials() (credentials.TransportCredentials, error) {
	if s.tls == nil {
		s.log.Warn("xds server runs WITHOUT TLS and WITHOUT client authentication (xds.server_tls.insecure): "+
			"any process that reaches it gets every API key hash and the edge's private key, and edges cannot tell it from an impostor",
			"listen_address", s.cfg.ListenAddress)
		return insecure.NewCredentials(), nil
	}
	if err := s.tls.load(); err != nil {
		return nil, err
	}
	cur := s.tls.current()
	s.m.serverCertExpiry.Set(float64(cur.notAfter.Unix()))
	s.log.Info("xds server mutual TLS loaded: client certificates are required", "cert_file", s.cfg.ServerTLS.CertFile,
		"client_ca_file", s.cfg.ServerTLS.ClientCAFile, "allowed_client_names", s.cfg.ServerTLS.AllowedClientNames, "not_after", cur.notAfter)
	return observedCreds{TransportCredentials: credentials.NewTLS(s.tls.tlsConfig()), failed: s.handshakeFailed}, nil
}

// pollServerTLS applies a change of the server's TLS files to the next handshakes.
func (s *Server) pollServerTLS() {
	if s.tls == nil {
		return
	}
	changed, err := s.tls.poll()
	switch {
	case err != nil:
		s.m.serverTLSReloads.WithLabelValues("error").Inc()
		s.log.Error("xds server TLS change not applied; the previous certificate and client CA stay", "err", err)
	case changed:
		cur := s.tls.current()
		s.m.serverTLSReloads.WithLabelValues("ok").Inc()
		s.m.serverCertExpiry.Set(float64(cur.notAfter.Unix()))
		s.log.Info("xds server TLS reloaded; new handshakes use it", "cert_file", s.cfg.ServerTLS.CertFile,
			"client_ca_file", s.cfg.ServerTLS.ClientCAFile, "not_after", cur.notAfter)
	}
}

// handshakeFailed counts a refused connection and logs it (at most one line per 10s).
func (s *Server) handshakeFailed(remote net.Addr, err error) {
	reason := handshakeReason(err)
	s.m.handshakeFailures.WithLabelValues(reason).Inc()
	if ok, suppressed := s.handshakeLog.allow(s.now()); ok {
		s.log.Warn("xds connection refused: TLS handshake failed (the client gets nothing)",
			"remote", remote, "reason", reason, "err", err, "suppressed_since_last", suppressed)
	}
}

func (s *Server) stopGRPC(gs *grpc.Server) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		gs.Stop()
		<-done
	}
	s.log.Info("xds server stopped")
}

// rebuild builds, validates and serves a snapshot of the current registry state. It returns
// the next instant at which a key in the state expires (zero if none), for a rebuild then.
func (s *Server) rebuild(ctx context.Context, reason string) (time.Time, error) {
	st := s.src.Snapshot()
	now := s.now()
	res, err := BuildResources(s.cfg, Input{State: st, Cert: s.certs.current, Now: now})
	if err != nil {
		s.m.builds.WithLabelValues("build_error").Inc()
		s.log.Error("xds snapshot not built; the previous snapshot stays", "reason", reason, "registry_revision", st.Revision, "err", err)
		return time.Time{}, err
	}
	gen, succ, changed, err := s.ver.next(res, st.Revision)
	if err != nil {
		s.m.builds.WithLabelValues("build_error").Inc()
		s.log.Error("xds snapshot not versioned; the previous snapshot stays", "reason", reason, "err", err)
		return time.Time{}, err
	}
	next := nextKeyExpiry(st, now)
	if !changed {
		s.m.builds.WithLabelValues("unchanged").Inc()
		s.log.Debug("xds snapshot unchanged", "reason", reason, "registry_revision", st.Revision)
		return next, nil
	}
	if err := Validate(gen.snap); err != nil {
		s.m.builds.WithLabelValues("invalid").Inc()
		s.log.Error("xds snapshot failed deep validation and is not served; the previous snapshot stays",
			"reason", reason, "registry_revision", st.Revision, "err", err)
		return time.Time{}, fmt.Errorf("cannot serve snapshot at registry revision %d: %w", st.Revision, err)
	}
	s.ver = succ
	s.publish(ctx, gen, reason)
	return next, nil
}

// publish makes gen current and sets it for every connected node, except nodes that rejected
// one of its versions: they stay on their fallback until that type changes again.
func (s *Server) publish(ctx context.Context, gen *generation, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = append(s.history, gen)
	if len(s.history) > historySize {
		s.history = slices.Delete(s.history, 0, len(s.history)-historySize)
	}
	s.current = gen
	held := 0
	for _, id := range sortedKeys(s.nodes) {
		ns := s.nodes[id]
		if ns.rejects(gen) {
			held++
			s.log.Warn("xds node stays on its fallback snapshot: the new snapshot still holds a version it rejected",
				"node", id, "version", gen.version, "rejected", ns.rejected)
			continue
		}
		s.setSnapshot(ctx, id, ns, gen)
	}
	s.m.builds.WithLabelValues("served").Inc()
	s.m.version.Set(float64(gen.version))
	s.log.Info("xds snapshot served", "version", gen.version, "registry_revision", gen.revision,
		"changed", typeNames(gen.changed), "reason", reason, "nodes", len(s.nodes), "nodes_held_back", held)
}

// setSnapshot sets gen for one node. s.mu is held. SetSnapshot only writes to buffered
// response channels (one slot per type per stream), so it does not wait for a stream.
func (s *Server) setSnapshot(ctx context.Context, id string, ns *nodeState, gen *generation) {
	if err := s.cache.SetSnapshot(ctx, id, gen.snap); err != nil {
		s.log.Error("cannot set xds snapshot for node", "node", id, "version", gen.version, "err", err)
		return
	}
	ns.gen = gen
	ns.parked = false
}

// nextKeyExpiry returns the earliest revocation after now of a key in st, or zero.
func nextKeyExpiry(st registry.State, now time.Time) time.Time {
	var next time.Time
	for _, t := range st.Tenants {
		for _, k := range t.Keys {
			if k.RevokedAt != nil && k.RevokedAt.After(now) && (next.IsZero() || k.RevokedAt.Before(next)) {
				next = *k.RevokedAt
			}
		}
	}
	return next
}

func typeNames(ts []resource.Type) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, strings.TrimPrefix(t, resource.APITypePrefix))
	}
	return out
}

// NodeStatus is what the server knows of one connected proxy.
type NodeStatus struct {
	ID string
	// Version is the generation set for the node (its fallback after a NACK).
	Version uint64
	// Acked and Rejected map a type URL to the last version the node accepted or rejected.
	Acked, Rejected map[string]string
	// Parked is true when the node rejected a version and no earlier good snapshot was known.
	Parked bool
}

// Status is a point-in-time view of the server for the admin API and tests.
type Status struct {
	// Version is the newest generation served; 0 before the first.
	Version uint64
	// Versions maps each type URL to its version in that generation.
	Versions map[string]string
	Nodes    []NodeStatus
}

// Status returns the current status.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{}
	if s.current != nil {
		st.Version = s.current.version
		st.Versions = cloneMap(s.current.versions)
	}
	for _, id := range sortedKeys(s.nodes) {
		ns := s.nodes[id]
		n := NodeStatus{ID: id, Acked: cloneMap(ns.acked), Rejected: cloneMap(ns.rejected), Parked: ns.parked}
		if ns.gen != nil {
			n.Version = ns.gen.version
		}
		st.Nodes = append(st.Nodes, n)
	}
	return st
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// optionalTimer is a timer that may be unset.
type optionalTimer struct{ t *time.Timer }

func newOptionalTimer(at, now time.Time) *optionalTimer {
	o := &optionalTimer{}
	o.reset(at, now)
	return o
}

func (o *optionalTimer) c() <-chan time.Time {
	if o.t == nil {
		return nil
	}
	return o.t.C
}

func (o *optionalTimer) fired() { o.t = nil }

func (o *optionalTimer) stop() {
	if o.t != nil {
		o.t.Stop()
		o.t = nil
	}
}

func (o *optionalTimer) reset(at, now time.Time) {
	o.stop()
	if !at.IsZero() {
		o.t = time.NewTimer(max(at.Sub(now), 0) + 10*time.Millisecond)
	}
}
