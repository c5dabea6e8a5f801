package devstack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/controlplane/api"
	cpclient "github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/edge/goedge"
	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/internal/chserver"
	swclient "github.com/ingestdev/ingest/sinkwriter/client"
	"github.com/ingestdev/ingest/internal/embedkafka"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// Config configures the dev stack. Every address is a loopback host:port; port 0 picks a free
// port (the banner and Info show the ports taken). Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// DataDir keeps everything that survives a restart. Default ".data".
	DataDir string
	// EdgeAddr is the client-facing HTTPS listener. Default 127.0.0.1:8443.
	EdgeAddr string
	// EdgeAdminAddr serves the edge's /healthz, /readyz and /metrics. Default 127.0.0.1:9901.
	EdgeAdminAddr string
	// ControlPlaneAddr is the admin API (ingestctl's server). Default 127.0.0.1:9090.
	ControlPlaneAddr string
	// XDSAddr is the control plane's xDS server. Default 127.0.0.1:18000.
	XDSAddr string
	// NormalizerAddr is the normalizer (the ingest-v2 upstream). Default 127.0.0.1:4318.
	NormalizerAddr string
	// LegacyAddr is the legacy stand-in (the ingest-v1 upstream). Default 127.0.0.1:4319.
	LegacyAddr string
	// SinkWriterAddr is the sink writer's internal API. Default 127.0.0.1:4320.
	SinkWriterAddr string
	// LoaderAddr serves the loader's /metrics and /healthz. Default 127.0.0.1:9465.
	LoaderAddr string
	// KafkaAddr is the embedded Kafka broker. Default 127.0.0.1:9092.
	KafkaAddr string
	// ClickHouseTCPPort and ClickHouseHTTPPort are the private ClickHouse's native and HTTP
	// ports. Defaults 19000 and 18123 (not ClickHouse's own, so that a system server does not
	// clash).
	ClickHouseTCPPort  int
	ClickHouseHTTPPort int
	// ClickHouseBinary is the command line of the server; empty: chserver.FindBinary.
	ClickHouseBinary []string
	// DemoTenant is the tenant created on first start, at stage v2. Default "demo".
	DemoTenant string
	// ReadyTimeout bounds the wait for each service to be ready. Default 90 s (ClickHouse on
	// a busy machine).
	ReadyTimeout time.Duration
	// StopTimeout bounds the whole shutdown. Default 60 s.
	StopTimeout time.Duration
}

// DefaultConfig returns the defaults that zero Config fields stand for.
func DefaultConfig() Config {
	return Config{
		DataDir:            ".data",
		EdgeAddr:           "127.0.0.1:8443",
		EdgeAdminAddr:      "127.0.0.1:9901",
		ControlPlaneAddr:   "127.0.0.1:9090",
		XDSAddr:            "127.0.0.1:18000",
		NormalizerAddr:     "127.0.0.1:4318",
		LegacyAddr:         "127.0.0.1:4319",
		SinkWriterAddr:     "127.0.0.1:4320",
		LoaderAddr:         "127.0.0.1:9465",
		KafkaAddr:          "127.0.0.1:9092",
		ClickHouseTCPPort:  19000,
		ClickHouseHTTPPort: 18123,
		DemoTenant:         "demo",
		ReadyTimeout:       90 * time.Second,
		StopTimeout:        60 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.DataDir, d.DataDir)
	def(&c.EdgeAddr, d.EdgeAddr)
	def(&c.EdgeAdminAddr, d.EdgeAdminAddr)
	def(&c.ControlPlaneAddr, d.ControlPlaneAddr)
	def(&c.XDSAddr, d.XDSAddr)
	def(&c.NormalizerAddr, d.NormalizerAddr)
	def(&c.LegacyAddr, d.LegacyAddr)
	def(&c.SinkWriterAddr, d.SinkWriterAddr)
	def(&c.LoaderAddr, d.LoaderAddr)
	def(&c.KafkaAddr, d.KafkaAddr)
	def(&c.DemoTenant, d.DemoTenant)
	if c.ClickHouseTCPPort == 0 && c.ClickHouseHTTPPort == 0 {
		c.ClickHouseTCPPort, c.ClickHouseHTTPPort = d.ClickHouseTCPPort, d.ClickHouseHTTPPort
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = d.ReadyTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = d.StopTimeout
	}
	return c
}

// Validate reports every problem at once, naming the field at fault.
func (c Config) Validate() error {
	var errs []error
	for _, a := range []struct{ name, v string }{
		{"edge_addr", c.EdgeAddr}, {"edge_admin_addr", c.EdgeAdminAddr}, {"controlplane_addr", c.ControlPlaneAddr},
		{"xds_addr", c.XDSAddr}, {"normalizer_addr", c.NormalizerAddr}, {"legacy_addr", c.LegacyAddr},
		{"sinkwriter_addr", c.SinkWriterAddr}, {"loader_addr", c.LoaderAddr}, {"kafka_addr", c.KafkaAddr},
	} {
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port: %w", a.name, a.v, err))
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s: %q: port %q is not from 0 to 65535", a.name, a.v, port))
		}
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"clickhouse_tcp_port", c.ClickHouseTCPPort}, {"clickhouse_http_port", c.ClickHouseHTTPPort}} {
		if p.v < 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is not from 0 to 65535", p.name, p.v))
		}
	}
	if err := registry.ValidateTenantID(c.DemoTenant); err != nil {
		errs = append(errs, fmt.Errorf("demo_tenant: %w", err))
	}
	return errors.Join(errs...)
}

// Files under DataDir.
const (
	adminTokenFile = "admin-token"
	demoKeyFile    = "demo-api-key"
	registryFile   = "controlplane.db"
)

// Info is where the running stack is and how to reach it.
type Info struct {
	DataDir        string // as configured (relative paths stay relative, as the banner shows them)
	EdgeURL        string // https://localhost:<port>
	EdgeAddr       string // the listener's host:port
	CAFile         string // the development CA, to trust the edge's certificate
	ControlPlane   string // the admin API's base URL
	AdminTokenFile string
	AdminToken     string
	DemoTenant     string
	DemoKey        string // the demo tenant's API key
	DemoKeyFile    string
	NormalizerAddr string
	LegacyURL      string // base URL of the legacy stand-in (GET /stats)
	ClickHouseAddr string // native protocol host:port
	ClickHouseTCP  int
	KafkaAddr      string
	Database       string // the ClickHouse database of the tables
}

// DemoQuery is the documented query (docs/sinkwriter.md) that shows the demo tenant's logs
// of the last hour.
func (i Info) DemoQuery() string {
	return fmt.Sprintf("SELECT time, severity_text, body FROM %s.logs FINAL WHERE tenant = '%s' AND time >= now() - INTERVAL 1 HOUR ORDER BY time",
		i.Database, i.DemoTenant)
}

// Stack is a running dev stack.
type Stack struct {
	cfg  Config
	log  *slog.Logger
	info Info

	mu     sync.Mutex
	stops  []stopper // in start order; stopped in reverse
	failed chan error
	once   sync.Once
	err    error
}

type stopper struct {
	name string
	stop func(ctx context.Context) error
}

// Start starts every service in dependency order and returns once the edge serves the demo
// tenant's key. On any failure it stops what started and returns the error. ctx bounds the
// start only; Stop stops the stack.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Stack, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the dev stack: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stack{cfg: cfg, log: log, failed: make(chan error, 1)}
	s.info.DataDir = cfg.DataDir
	s.info.DemoTenant = cfg.DemoTenant
	if err := s.start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.StopTimeout)
		defer cancel()
		return nil, errors.Join(err, s.Stop(sctx))
	}
	return s, nil
}

// Info returns where the stack is and how to reach it.
func (s *Stack) Info() Info { return s.info }

// Failed returns a channel that yields the first error of a service that stopped by itself.
func (s *Stack) Failed() <-chan error { return s.failed }

// Stop stops every service in reverse start order within ctx's deadline, and returns what
// failed. It is idempotent.
func (s *Stack) Stop(ctx context.Context) error {
	s.once.Do(func() {
		s.mu.Lock()
		stops := s.stops
		s.stops = nil
		s.mu.Unlock()
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			st := stops[i]
			if err := st.stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", st.name, err))
				s.log.Error("stopped with an error", "service", st.name, "err", err)
				continue
			}
			s.log.Info("stopped", "service", st.name)
		}
		s.err = errors.Join(errs...)
	})
	return s.err
}

func (s *Stack) onStop(name string, stop func(ctx context.Context) error) {
	s.mu.Lock()
	s.stops = append(s.stops, stopper{name, stop})
	s.mu.Unlock()
}

// goRun runs fn until Stop; if fn returns before, its error (or a note that it stopped) is
// reported on Failed.
func (s *Stack) goRun(name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopping := make(chan struct{})
	go func() {
		err := fn(ctx)
		select {
		case <-stopping:
		default:
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			select {
			case s.failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
		done <- err
	}()
	s.onStop(name, func(sctx context.Context) error {
		close(stopping)
		cancel()
		select {
		case err := <-done:
			return err
		case <-sctx.Done():
			return fmt.Errorf("did not stop before the deadline: %w", sctx.Err())
		}
	})
}

// serveHTTP serves h on ln (HTTP/1.1 and h2c, as the services do behind the edge) until Stop,
// calling drain first when set.
func (s *Stack) serveHTTP(name string, ln net.Listener, h http.Handler, drain func()) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	s.goRun(name, func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		if drain != nil {
			drain()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("cannot shut down cleanly: %w", err)
		}
		return nil
	})
}

func listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %q for the %s (is another `ingest dev` running? change the port with its flag): %w", addr, name, err)
	}
	return ln, nil
}

func (s *Stack) start(ctx context.Context) error {
	cfg := s.cfg
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the data directory %q: %w", dir, err)
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}

	// ClickHouse.
	ch, err := chserver.Start(ctx, chserver.Config{
		Dir: filepath.Join(dir, "clickhouse"), TCPPort: cfg.ClickHouseTCPPort, HTTPPort: cfg.ClickHouseHTTPPort,
		Binary: cfg.ClickHouseBinary, ReadyTimeout: cfg.ReadyTimeout,
	})
	if err != nil {
		return err
	}
	s.onStop("clickhouse", func(context.Context) error { return ch.Stop() })
	s.info.ClickHouseAddr, s.info.ClickHouseTCP = ch.Addr(), ch.TCPPort()
	s.log.Info("started", "service", "clickhouse", "addr", ch.Addr(), "dir", ch.Dir())

	// Kafka.
	k, err := embedkafka.Start(embedkafka.Config{DataDir: filepath.Join(dir, "kafka"), Listen: []string{cfg.KafkaAddr}}, s.log.With("service", "kafka"))
	if err != nil {
		return err
	}
	s.onStop("kafka", k.Close)
	brokers := k.Addrs()
	s.info.KafkaAddr = strings.Join(brokers, ",")

	// Migrations.
	lcfg := loader.DefaultConfig()
	lcfg.Brokers = brokers
	lcfg.ClickHouseAddr = []string{ch.Addr()}
	lcfg.SkipMigrate = true // migrated here, before anything writes
	lcfg.TopicRefreshInterval = 2 * time.Second
	s.info.Database = lcfg.Database
	if err := migrate(ctx, lcfg, s.log); err != nil {
		return err
	}

	// Sink writer.
	swcfg := sinkwriter.DefaultConfig()
	swcfg.Brokers = brokers
	swcfg.TopicPartitions = 1 // one broker, a laptop
	swReg := prometheus.NewRegistry()
	w, err := sinkwriter.New(swcfg, swReg, s.log.With("service", "sinkwriter"))
	if err != nil {
		return err
	}
	swLn, err := listen("sink writer", cfg.SinkWriterAddr)
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(err, w.Shutdown(sctx))
	}
	s.onStop("sinkwriter (Kafka clients)", w.Shutdown)
	swMux := http.NewServeMux()
	swMux.Handle("/", w.Handler())
	swMux.Handle("/metrics", promhttp.HandlerFor(swReg, promhttp.HandlerOpts{Registry: swReg}))
	s.serveHTTP("sinkwriter", swLn, swMux, w.Drain)
	swURL := "http://" + swLn.Addr().String()
	if err := s.waitReady(ctx, "sinkwriter", swURL+"/readyz"); err != nil {
		return err
	}

	// Loader.
	lReg := prometheus.NewRegistry()
	l, err := loader.New(lcfg, lReg, s.log.With("service", "loader"))
	if err != nil {
		return err
	}
	lLn, err := listen("loader", cfg.LoaderAddr)
	if err != nil {
		return err
	}
	lMux := http.NewServeMux()
	lMux.Handle("/metrics", promhttp.HandlerFor(lReg, promhttp.HandlerOpts{Registry: lReg}))
	lMux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.goRun("loader", l.Run)
	s.serveHTTP("loader http", lLn, lMux, nil)
	if err := s.waitReady(ctx, "loader", "http://"+lLn.Addr().String()+"/healthz"); err != nil {
		return err
	}

	// Normalizer, its sink the sink writer.
	ncfg := normalizer.DefaultConfig()
	sink, err := swclient.New(swclient.Config{URL: swURL, Timeout: ncfg.SinkTimeout + 5*time.Second}, s.log.With("service", "normalizer"))
	if err != nil {
		return err
	}
	s.onStop("normalizer (sink client)", func(context.Context) error { sink.Close(); return nil })
	nReg := prometheus.NewRegistry()
	n, err := normalizer.New(ncfg, sink, nReg, s.log.With("service", "normalizer"))
	if err != nil {
		return err
	}
	nLn, err := listen("normalizer", cfg.NormalizerAddr)
	if err != nil {
		return err
	}
	nMux := http.NewServeMux()
	nMux.Handle("/", n.Handler())
	nMux.Handle("/metrics", promhttp.HandlerFor(nReg, promhttp.HandlerOpts{Registry: nReg}))
	s.serveHTTP("normalizer", nLn, nMux, n.Drain)
	s.info.NormalizerAddr = nLn.Addr().String()
	if err := s.waitReady(ctx, "normalizer", "http://"+nLn.Addr().String()+"/readyz"); err != nil {
		return err
	}

	// The legacy stand-in.
	leg := newLegacy()
	legLn, err := listen("legacy stand-in", cfg.LegacyAddr)
	if err != nil {
		return err
	}
	s.serveHTTP("legacy stand-in", legLn, leg.handler(), nil)
	s.info.LegacyURL = "http://" + legLn.Addr().String()
	if err := s.waitReady(ctx, "legacy stand-in", s.info.LegacyURL+"/readyz"); err != nil {
		return err
	}

	// Control plane, with a development certificate for the edge over SDS.
	tlsDir := filepath.Join(dir, "tls")
	if err := ensureTLS(tlsDir, time.Now()); err != nil {
		return err
	}
	s.info.CAFile = filepath.Join(tlsDir, caCertFile)
	tokenFile := filepath.Join(dir, adminTokenFile)
	token, err := ensureSecret(tokenFile)
	if err != nil {
		return err
	}
	s.info.AdminTokenFile, s.info.AdminToken = tokenFile, token
	xdsAddr, err := resolvePort(cfg.XDSAddr)
	if err != nil {
		return err
	}
	edgeLn, err := listen("edge", cfg.EdgeAddr) // bound now to learn its port; handed to the edge below
	if err != nil {
		return err
	}
	edgeAddr := edgeLn.Addr().String()
	_ = edgeLn.Close()
	_, edgePort, _ := net.SplitHostPort(edgeAddr)
	port, _ := strconv.Atoi(edgePort)
	xcfg := xds.Config{ListenAddress: xdsAddr, CertFile: abs(filepath.Join(tlsDir, serverCertFile)), KeyFile: abs(filepath.Join(tlsDir, serverKeyFile)),
		ListenerAddress: "127.0.0.1", ListenerPort: uint32(port)}
	cp, err := controlplane.New(controlplane.Config{
		Registry: controlplane.RegistryConfig{Path: filepath.Join(dir, registryFile)},
		Admin:    controlplane.AdminConfig{ListenAddress: cfg.ControlPlaneAddr, TokenFile: tokenFile},
		XDS:      xcfg,
	}, prometheus.NewRegistry(), s.log.With("service", "controlplane"))
	if err != nil {
		return err
	}
	s.goRun("controlplane", cp.Run)
	s.info.ControlPlane = "http://" + cp.AdminAddr().String()
	if err := s.waitReady(ctx, "controlplane", s.info.ControlPlane+"/healthz"); err != nil {
		return err
	}
	cl, err := cpclient.New(s.info.ControlPlane, token, cpclient.WithActor("ingest-dev"))
	if err != nil {
		return err
	}
	if err := s.ensureDemoTenant(ctx, cl); err != nil {
		return err
	}
	if _, err := cl.SetUpstreams(ctx, 0, []registry.Endpoint{endpoint(legLn.Addr())}, []registry.Endpoint{endpoint(nLn.Addr())}); err != nil {
		return fmt.Errorf("cannot set the upstreams: %w", err)
	}

	// The edge.
	e, err := goedge.New(goedge.Config{ListenAddress: edgeAddr, AdminListenAddress: cfg.EdgeAdminAddr, XDSAddress: xdsAddr, NodeID: "ingest-dev"},
		prometheus.NewRegistry(), s.log.With("service", "edge"))
	if err != nil {
		return err
	}
	s.goRun("edge", e.Run)
	s.info.EdgeAddr = e.Addr().String()
	s.info.EdgeURL = "https://localhost:" + edgePort
	if err := s.waitReady(ctx, "edge", "http://"+e.AdminAddr().String()+"/readyz"); err != nil {
		return err
	}
	return s.waitDemoKey(ctx)
}

// migrate applies the schema migrations.
func migrate(ctx context.Context, cfg loader.Config, log *slog.Logger) error {
	conn, err := clickhouse.Open(loader.ClickHouseOptions(cfg))
	if err != nil {
		return fmt.Errorf("cannot open ClickHouse %q: %w", cfg.ClickHouseAddr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	applied, err := schema.Migrate(ctx, conn, cfg.Database)
	for _, m := range applied {
		log.Info("applied migration", "service", "migrate", "version", m.Version, "name", m.Name, "database", cfg.Database)
	}
	return err
}

// ensureDemoTenant creates the demo tenant at stage v2 with a key on first start, keeping the
// key in DataDir/demo-api-key; later starts read the key back (and make a new one if the file
// is gone, since the control plane never shows a key twice).
func (s *Stack) ensureDemoTenant(ctx context.Context, cl *cpclient.Client) error {
	id := s.cfg.DemoTenant
	keyFile := filepath.Join(s.cfg.DataDir, demoKeyFile)
	s.info.DemoKeyFile = keyFile
	_, err := cl.GetTenant(ctx, id)
	switch {
	case errors.Is(err, cpclient.ErrNotFound):
		if _, err := cl.CreateTenant(ctx, api.CreateTenantRequest{ID: id, DisplayName: "Demo tenant of ingest dev", Stage: "v2"}); err != nil {
			return fmt.Errorf("cannot create the demo tenant %q: %w", id, err)
		}
		s.log.Info("created the demo tenant", "tenant", id, "stage", "v2")
	case err != nil:
		return fmt.Errorf("cannot read the demo tenant %q: %w", id, err)
	default:
		if b, err := os.ReadFile(keyFile); err == nil && strings.TrimSpace(string(b)) != "" {
			s.info.DemoKey = strings.TrimSpace(string(b))
			return nil
		}
	}
	k, err := cl.CreateKey(ctx, id)
	if err != nil {
		return fmt.Errorf("cannot create an API key for the demo tenant %q: %w", id, err)
	}
	if err := writeFileAtomic(keyFile, []byte(k.Key+"\n"), 0o600); err != nil {
		return err
	}
	s.info.DemoKey = k.Key
	return nil
}

// waitDemoKey waits until the edge routes the demo key to this normalizer: its first
// configuration may predate the tenant, or (after a restart) hold the previous upstreams. A GET
// with the key is answered 401 by the edge while the key is unknown, and 405 with the
// normalizer's reason id once it reaches the normalizer.
func (s *Stack) waitDemoKey(ctx context.Context) error {
	pool, err := s.caPool()
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: "localhost"},
	}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+s.info.EdgeAddr+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+s.info.DemoKey)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusMethodNotAllowed && strings.Contains(string(body), string(normalizer.ReasonMethodNotAllowed)) {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the edge does not accept the demo tenant's key within %v (last answer: %s)", s.cfg.ReadyTimeout, last)
		case err := <-s.failed:
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// caPool returns a pool with the development CA.
func (s *Stack) caPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(s.info.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the development CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("cannot read the development CA %q: no PEM certificate", s.info.CAFile)
	}
	return pool, nil
}

// waitReady polls url until it answers 200, a service fails, or ReadyTimeout passes.
func (s *Stack) waitReady(ctx context.Context, name, url string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.log.Info("ready", "service", name, "url", url)
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready within %v (%s: %s)", name, s.cfg.ReadyTimeout, url, last)
		case err := <-s.failed:
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ensureSecret returns the token in path, generating one (32 random bytes, base64url; mode
// 0600) if the file is missing.
func ensureSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); len(tok) >= api.MinTokenLen {
			return tok, nil
		}
		return "", fmt.Errorf("admin token file %q holds fewer than %d bytes; delete it to make a new one", path, api.MinTokenLen)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("cannot read %q: %w", path, err)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// resolvePort returns addr with port 0 replaced by a port that was free a moment ago (for the
// xDS server, which binds its own address).
func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("cannot pick a free port on %q: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func endpoint(a net.Addr) registry.Endpoint {
	ta := a.(*net.TCPAddr)
	return registry.Endpoint{Host: ta.IP.String(), Port: uint32(ta.Port)}
}
