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
	"syscall"
	"time"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/controlplane/api"
	cpclient "github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/edge/goedge"
	"github.com/ingestdev/ingest/internal/chserver"
	"github.com/ingestdev/ingest/internal/embedkafka"
	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/migration/replay"
	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// Config configures the dev stack (`ingest dev --config`, keys as in the yaml tags). Every
// address is a loopback host:port; port 0 picks a free port (the banner and Info show the
// ports taken). Zero fields take the defaults of DefaultConfig.
type Config struct {
	// DataDir keeps everything that survives a restart. Default ".data".
	DataDir string `yaml:"data_dir"`
	// EdgeAddr is the client-facing HTTPS listener. Default 127.0.0.1:8443.
	EdgeAddr string `yaml:"edge_addr"`
	// EdgeAdminAddr serves the edge's /healthz, /readyz and /metrics. Default 127.0.0.1:9901.
	EdgeAdminAddr string `yaml:"edge_admin_addr"`
	// ControlPlaneAddr is the admin API (ingestctl's server), with the control plane's
	// /healthz, /readyz and /metrics. Default 127.0.0.1:9090.
	ControlPlaneAddr string `yaml:"controlplane_addr"`
	// XDSAddr is the control plane's xDS server. Default 127.0.0.1:18000.
	XDSAddr string `yaml:"xds_addr"`
	// NormalizerAddr is the normalizer (the ingest-v2 upstream). Default 127.0.0.1:4318.
	NormalizerAddr string `yaml:"normalizer_addr"`
	// LegacyAddr is the legacy stand-in (the ingest-v1 upstream). Default 127.0.0.1:4319.
	LegacyAddr string `yaml:"legacy_addr"`
	// SinkWriterAddr is the sink writer's internal API. Default 127.0.0.1:4320.
	SinkWriterAddr string `yaml:"sinkwriter_addr"`
	// LoaderAddr serves the loader's /healthz, /readyz and /metrics. Default 127.0.0.1:9465.
	LoaderAddr string `yaml:"loader_addr"`
	// KafkaAddr is the embedded Kafka broker. Default 127.0.0.1:9092.
	KafkaAddr string `yaml:"kafka_addr"`
	// KafkaAdminAddr serves the embedded Kafka's /healthz, /readyz and /metrics. Default
	// 127.0.0.1:9093.
	KafkaAdminAddr string `yaml:"kafka_admin_addr"`
	// ClickHouseTCPPort and ClickHouseHTTPPort are the private ClickHouse's native and HTTP
	// ports. Defaults 19000 and 18123 (not ClickHouse's own, so that a system server does not
	// clash).
	ClickHouseTCPPort  int `yaml:"clickhouse_tcp_port"`
	ClickHouseHTTPPort int `yaml:"clickhouse_http_port"`
	// ClickHouseBinary is the command line of the server; empty: chserver.FindBinary.
	ClickHouseBinary []string `yaml:"clickhouse_binary"`
	// DemoTenant is the tenant created on first start, at stage v2. Default "demo".
	DemoTenant string `yaml:"demo_tenant"`
	// ReadyTimeout bounds the wait for each service to be ready. Default 90 s (ClickHouse on
	// a busy machine).
	ReadyTimeout time.Duration `yaml:"ready_timeout"`
	// StopTimeout bounds the whole shutdown. Default 60 s.
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// LogLevel is the level of the services' logs (`ingest dev`): debug, info, warn or error.
	// Default warn.
	LogLevel string `yaml:"log_level"`
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
		KafkaAdminAddr:     "127.0.0.1:9093",
		ClickHouseTCPPort:  19000,
		ClickHouseHTTPPort: 18123,
		DemoTenant:         "demo",
		ReadyTimeout:       90 * time.Second,
		StopTimeout:        60 * time.Second,
		LogLevel:           "warn",
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
	def(&c.KafkaAdminAddr, d.KafkaAdminAddr)
	def(&c.DemoTenant, d.DemoTenant)
	def(&c.LogLevel, d.LogLevel)
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
		{"kafka_admin_addr", c.KafkaAdminAddr},
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
	if c.LogLevel != "" {
		if _, err := c.Level(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Level returns LogLevel as a slog level (empty: the default, warn).
func (c Config) Level() (slog.Level, error) {
	var lvl slog.Level
	if c.LogLevel == "" {
		return slog.LevelWarn, nil
	}
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return lvl, nil
}

// Files under DataDir.
const (
	adminTokenFile  = "admin-token"
	reportTokenFile = "report-token" // the bearer token of the cutover parity reports
	hopKeyFile      = "hop.key"      // the key of the internal hops (package hopauth)
	demoKeyFile     = "demo-api-key"
	registryFile    = "controlplane.db"
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
	// Readyz maps each service of ours (kafka, sinkwriter, loader, normalizer, legacy,
	// controlplane, edge: all but ClickHouse) to the URL of its /readyz.
	Readyz map[string]string
}

// DemoQuery is the documented query (docs/sinkwriter.md) that shows the demo tenant's logs
// of the last hour.
func (i Info) DemoQuery() string {
	return fmt.Sprintf("SELECT time, severity_text, body FROM %s.logs FINAL WHERE tenant = '%s' AND time >= now() - INTERVAL 1 HOUR ORDER BY time",
		i.Database, i.DemoTenant)
}

// Stack is a running dev stack: a service.Group of the services in start order.
type Stack struct {
	cfg  Config
	log  *slog.Logger
	info Info
	g    *service.Group
	ch   *chserver.Server // set once ClickHouse started
}

// Start starts every service in dependency order, each once the one before it is ready, and
// returns once the edge serves the demo tenant's key. On any failure it stops what started
// and returns the error. ctx bounds the start only; Stop stops the stack.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Stack, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the dev stack: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stack{cfg: cfg, log: log, g: service.NewGroup(log, cfg.ReadyTimeout)}
	s.info.DataDir = cfg.DataDir
	s.info.DemoTenant = cfg.DemoTenant
	s.info.Readyz = map[string]string{}
	if err := s.start(ctx); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("%w (is another `ingest dev` running? change the port with its flag or in the config file)", err)
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.StopTimeout)
		defer cancel()
		return nil, errors.Join(err, s.Stop(sctx))
	}
	return s, nil
}

// Info returns where the stack is and how to reach it.
func (s *Stack) Info() Info { return s.info }

// ClickHouse returns the private ClickHouse server (tests stop and restart it).
func (s *Stack) ClickHouse() *chserver.Server { return s.ch }

// Failed returns a channel that yields the first error of a service that stopped by itself.
func (s *Stack) Failed() <-chan error { return s.g.Failed() }

// Stop stops every service in reverse start order within ctx's deadline, and returns what
// failed. It is idempotent.
func (s *Stack) Stop(ctx context.Context) error { return s.g.Stop(ctx) }

// settings are the Settings of one service of the stack: its own registry, the stack's log.
func (s *Stack) settings(name string) service.Settings {
	return service.Settings{Log: s.log.With("service", name)}
}

// served records where a service's /readyz is.
func (s *Stack) served(name string, a net.Addr) string {
	url := "http://" + a.String()
	s.info.Readyz[name] = url + "/readyz"
	return url
}

// start runs the stack: the services as a group, with the one-shot steps between them.
func (s *Stack) start(ctx context.Context) error {
	cfg := s.cfg
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the data directory %q: %w", dir, err)
	}
	// The control plane's admin API, which the edge, normalizer and loader send their cutover
	// parity reports to, is known before it starts: they start first.
	cpAddr, err := resolvePort(cfg.ControlPlaneAddr)
	if err != nil {
		return err
	}
	reportTokenPath := filepath.Join(dir, reportTokenFile)
	if _, err := ensureSecret(reportTokenPath); err != nil {
		return err
	}
	reporting := report.Config{URL: "http://" + cpAddr, TokenFile: reportTokenPath}
	// The internal hops are authenticated as in production: one key (32 random bytes,
	// base64url) for the edges (through the control plane), the normalizer and the sink
	// writer, which lists the tenants from the control plane with the report token.
	hopKeyPath := filepath.Join(dir, hopKeyFile)
	if _, err := ensureSecret(hopKeyPath); err != nil {
		return err
	}
	hopAuth := hopauth.Config{KeyFile: hopKeyPath}
	var (
		brokers []string
		swURL   string
		nAddr   net.Addr
		legAddr net.Addr
		cp      *controlplane.ControlPlane
		token   string
		edgeURL string
	)
	// The ordered list: each service is built only once the ones before it are ready.
	err = s.g.Start(ctx,
		service.Member{Name: "clickhouse", New: func(ctx context.Context) (service.Service, error) {
			ch, err := chserver.Start(ctx, chserver.Config{
				Dir: filepath.Join(dir, "clickhouse"), TCPPort: cfg.ClickHouseTCPPort, HTTPPort: cfg.ClickHouseHTTPPort,
				Binary: cfg.ClickHouseBinary, ReadyTimeout: cfg.ReadyTimeout,
			})
			if err != nil {
				return nil, err
			}
			s.ch = ch
			s.info.ClickHouseAddr, s.info.ClickHouseTCP = ch.Addr(), ch.TCPPort()
			s.log.Info("started", "service", "clickhouse", "addr", ch.Addr(), "dir", ch.Dir())
			return newClickHouseService(ch, s.settings("clickhouse"))
		}},
		service.Member{Name: "kafka", New: func(context.Context) (service.Service, error) {
			k, err := embedkafka.NewService(embedkafka.ServiceConfig{AdminListen: cfg.KafkaAdminAddr, Kafka: embedkafka.Config{
				DataDir: filepath.Join(dir, "kafka"), Listen: []string{cfg.KafkaAddr},
			}}, s.settings("kafka"))
			if err != nil {
				return nil, err
			}
			s.served("kafka", k.Addr())
			brokers = k.Addrs()
			s.info.KafkaAddr = strings.Join(brokers, ",")
			return k, nil
		}},
		service.Member{Name: "sinkwriter", New: func(context.Context) (service.Service, error) {
			swcfg := sinkwriter.ServiceConfig{Listen: cfg.SinkWriterAddr}
			swcfg.Writer.Brokers = brokers
			swcfg.Writer.TopicPartitions = 1 // one broker, a laptop
			swcfg.HopAuth = hopAuth
			swcfg.Tenants = sinkwriter.TenantsConfig{URL: reporting.URL, TokenFile: reportTokenPath}
			w, err := sinkwriter.NewService(swcfg, s.settings("sinkwriter"))
			if err != nil {
				return nil, err
			}
			swURL = s.served("sinkwriter", w.Addr())
			return w, nil
		}},
		service.Member{Name: "loader", New: func(ctx context.Context) (service.Service, error) {
			lcfg := loader.ServiceConfig{Listen: cfg.LoaderAddr}
			lcfg.Loader.Brokers = brokers
			lcfg.Loader.ClickHouseAddr = []string{s.info.ClickHouseAddr}
			lcfg.Loader.SkipMigrate = true // migrated here, as `ingest migrate` does, before anything loads
			lcfg.Loader.TopicRefreshInterval = 2 * time.Second
			lcfg.Loader.Report = reporting
			// memory_limit is the process's: here the process holds every service, not the
			// loader alone, so it would throttle them all to the loader's budget.
			lcfg.Loader.MemoryLimit = -1
			s.info.Database = lcfg.WithDefaults().Loader.Database
			if err := loader.Migrate(ctx, lcfg, s.log.With("service", "migrate")); err != nil {
				return nil, err
			}
			l, err := loader.NewService(lcfg, s.settings("loader"))
			if err != nil {
				return nil, err
			}
			s.served("loader", l.Addr())
			return l, nil
		}},
		service.Member{Name: "normalizer", New: func(context.Context) (service.Service, error) {
			ncfg := normalizer.ServiceConfig{Listen: cfg.NormalizerAddr, Sink: normalizer.SinkWriter}
			ncfg.SinkWriter.URL = swURL
			ncfg.Report = reporting
			ncfg.HopAuth = hopAuth
			n, err := normalizer.NewService(ncfg, s.settings("normalizer"))
			if err != nil {
				return nil, err
			}
			nAddr = n.Addr()
			s.info.NormalizerAddr = nAddr.String()
			s.served("normalizer", nAddr)
			return n, nil
		}},
		service.Member{Name: "legacy", New: func(context.Context) (service.Service, error) {
			leg, err := newLegacyService(cfg.LegacyAddr, s.settings("legacy"))
			if err != nil {
				return nil, err
			}
			legAddr = leg.Addr()
			s.info.LegacyURL = s.served("legacy", legAddr)
			return leg, nil
		}},
		// The control plane, with a development certificate for the edge over SDS.
		service.Member{Name: "controlplane", New: func(context.Context) (service.Service, error) {
			tlsDir := filepath.Join(dir, "tls")
			if err := ensureTLS(tlsDir, time.Now()); err != nil {
				return nil, err
			}
			s.info.CAFile = filepath.Join(tlsDir, caCertFile)
			tokenFile := filepath.Join(dir, adminTokenFile)
			var err error
			if token, err = ensureSecret(tokenFile); err != nil {
				return nil, err
			}
			s.info.AdminTokenFile, s.info.AdminToken = tokenFile, token
			// The edge's port, known now for the LDS listener (the Go edge binds it itself).
			edgeAddr, err := resolvePort(cfg.EdgeAddr)
			if err != nil {
				return nil, err
			}
			s.info.EdgeAddr = edgeAddr
			_, edgePort, _ := net.SplitHostPort(edgeAddr)
			port, _ := strconv.Atoi(edgePort)
			edgeURL = "https://localhost:" + edgePort
			cp, err = controlplane.NewService(controlplane.Config{
				Registry: controlplane.RegistryConfig{Path: filepath.Join(dir, registryFile)},
				Admin:    controlplane.AdminConfig{ListenAddress: cpAddr, TokenFile: tokenFile, ReportTokenFile: reportTokenPath},
				// Replay (ingestctl replay) reads the dev Kafka and writes beside the live tables.
				ClickHouse: controlplane.ClickHouseConfig{Addr: []string{s.info.ClickHouseAddr}, Database: s.info.Database},
				Replay:     replay.Config{Brokers: strings.Split(s.info.KafkaAddr, ",")},
				XDS: xds.Config{ListenAddress: cfg.XDSAddr, CertFile: abs(filepath.Join(tlsDir, serverCertFile)), KeyFile: abs(filepath.Join(tlsDir, serverKeyFile)),
					ListenerAddress: "127.0.0.1", ListenerPort: uint32(port),
					Report: xds.ReportConfig{URL: reporting.URL, TokenFile: reportTokenPath}, HopKeyFile: hopKeyPath,
					// Mutual TLS of the xDS port: the edge's client certificate is signed by the dev CA.
					ServerTLS: xds.ServerTLSConfig{CertFile: abs(filepath.Join(tlsDir, xdsServerCertFile)), KeyFile: abs(filepath.Join(tlsDir, xdsServerKeyFile)),
						ClientCAFile: abs(filepath.Join(tlsDir, caCertFile))}},
			}, s.settings("controlplane"))
			if err != nil {
				return nil, err
			}
			s.info.ControlPlane = s.served("controlplane", cp.AdminAddr())
			return cp, nil
		}},
	)
	if err != nil {
		return err
	}
	cl, err := cpclient.New(s.info.ControlPlane, token, cpclient.WithActor("ingest-dev"))
	if err != nil {
		return err
	}
	if err := s.ensureDemoTenant(ctx, cl); err != nil {
		return err
	}
	if _, err := cl.SetUpstreams(ctx, 0, []registry.Endpoint{endpoint(legAddr)}, []registry.Endpoint{endpoint(nAddr)}); err != nil {
		return fmt.Errorf("cannot set the upstreams: %w", err)
	}
	err = s.g.Start(ctx, service.Member{Name: "edge", New: func(context.Context) (service.Service, error) {
		e, err := goedge.NewService(goedge.Config{ListenAddress: s.info.EdgeAddr, AdminListenAddress: cfg.EdgeAdminAddr,
			XDSAddress: cp.XDSAddr().String(), NodeID: "ingest-dev",
			XDSCAFile: abs(filepath.Join(dir, "tls", caCertFile)), XDSCertFile: abs(filepath.Join(dir, "tls", xdsClientCertFile)),
			XDSKeyFile: abs(filepath.Join(dir, "tls", xdsClientKeyFile))}, s.settings("edge"))
		if err != nil {
			return nil, err
		}
		s.info.EdgeAddr = e.Addr().String()
		s.info.EdgeURL = edgeURL
		s.served("edge", e.AdminAddr())
		return e, nil
	}})
	if err != nil {
		return err
	}
	return s.waitDemoKey(ctx)
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// newClickHouseService makes the running private ClickHouse a member of the stack: ready
// while its process runs, stopped (its data kept) when the stack stops.
func newClickHouseService(ch *chserver.Server, set service.Settings) (*service.Server, error) {
	svc, err := service.New(service.Options{
		Name: "clickhouse",
		Ready: func(context.Context) error {
			if ch.PID() == 0 {
				return errors.New("the server process is not running")
			}
			return nil
		},
		Shutdown: func(context.Context) error { return ch.Stop() },
	}, set)
	if err != nil {
		_ = ch.Stop()
		return nil, err
	}
	return svc, nil
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
		case err := <-s.g.Failed():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// caPool returns a pool with the development CA.
func (s *Stack) caPool() (*x509.CertPool, error) { return s.info.CAPool() }

// CAPool returns a pool with the development CA, to trust the edge's certificate.
func (i Info) CAPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(i.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the development CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("cannot read the development CA %q: no PEM certificate", i.CAFile)
	}
	return pool, nil
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
