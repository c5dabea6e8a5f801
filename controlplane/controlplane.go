package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/kafkalog"
	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/migration"
	"github.com/ingestdev/ingest/migration/deadletter"
	"github.com/ingestdev/ingest/migration/replay"
	"github.com/ingestdev/ingest/sinkwriter/loader"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// Config configures the control plane. The zero value of every field means its default (see
// DefaultConfig); Validate reports every problem at once.
type Config struct {
	// Registry is the embedded store of tenants, keys, stages, upstreams and the audit log.
	Registry RegistryConfig `yaml:"registry"`
	// Admin is the admin API (and /metrics, /healthz) listener.
	Admin AdminConfig `yaml:"admin"`

	// XDS is the xDS server that drives the edges. It runs when XDS.CertFile and XDS.KeyFile
	// (the edge listener's certificate, served over SDS) are set, and then needs
	// XDS.ServerTLS (mutual TLS with the edges); without them the control plane serves only
	// the admin API.
	XDS xds.Config `yaml:"xds"`

	// Cutover configures the report aggregator and the parity gate of tenant cutovers (see
	// docs/cutover.md); zero fields take migration.DefaultConfig's values.
	Cutover migration.Config `yaml:"cutover"`

	// ClickHouse is the ClickHouse of the shadow tables, for `ingestctl cutover clear-shadow`
	// (GET /v1/tenants/{id}/cutover/shadow, POST …/clear-shadow). Optional: without
	// clickhouse.addr those routes answer 501 not_configured.
	ClickHouse ClickHouseConfig `yaml:"clickhouse"`

	// Replay re-ingests a Kafka window of one tenant into replay-owned tables, diffs it with
	// live and promotes it (/v1/replays, `ingestctl replay`; see docs/replay.md). It is on
	// when replay.brokers is set, and then needs clickhouse.addr (where it writes, in
	// clickhouse.database). Off: the /v1/replays routes answer 501 not_configured.
	Replay replay.Config `yaml:"replay"`
}

// ClickHouseConfig is the control plane's optional access to ClickHouse. It connects the way
// the loader does (loader.ClickHouseOptions), lazily: a ClickHouse that is down only fails
// the requests that need it.
type ClickHouseConfig struct {
	// Addr are the host:port addresses of ClickHouse's native protocol (the loader's
	// clickhouse_addr). Empty: no ClickHouse.
	Addr []string `yaml:"addr"`
	// Database is the database of the shadow tables. Default "ingest".
	Database string `yaml:"database"`
	// Cluster is the ClickHouse cluster of the tables: it must equal the loaders'
	// clickhouse_cluster (one shard of Replicated tables; docs/sinkwriter.md, "Replicated
	// ClickHouse"), with Addr listing its replicas. Replay then creates and drops its tables
	// ON CLUSTER, Replicated at paths of their own, and reads the replica it reaches once that
	// replica holds what the others committed; clear-shadow waits for its deletes there. Empty
	// (the default): one server, and the same SQL as without the option.
	Cluster string `yaml:"cluster"`
	// Username authenticates to ClickHouse. Default "default".
	Username string `yaml:"username"`
	// Password is ClickHouse's password, from INGEST_CLICKHOUSE_PASSWORD; never read from a
	// config file.
	Password string `yaml:"-"`
	// Timeout bounds one request that needs ClickHouse: counting a tenant's shadow rows, or
	// deleting them and waiting for the deletes to finish (a delete still running then goes on
	// in ClickHouse; the answer is 504). Keep it under ingestctl's 30 s. Default 20 s.
	Timeout time.Duration `yaml:"timeout"`
}

// enabled reports whether ClickHouse is configured.
func (c ClickHouseConfig) enabled() bool { return len(c.Addr) > 0 }

// options returns the clickhouse-go options: the loader's, with this control plane's name.
func (c ClickHouseConfig) options() *clickhouse.Options {
	opts := loader.ClickHouseOptions(loader.Config{ClickHouseAddr: c.Addr, Username: c.Username, Password: c.Password})
	opts.ClientInfo = clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "ingest-controlplane", Version: "1"}}}
	return opts
}

// xdsEnabled reports whether the xDS server is configured.
func (c Config) xdsEnabled() bool { return c.XDS.CertFile != "" || c.XDS.KeyFile != "" }

// RegistryConfig configures the registry file.
type RegistryConfig struct {
	// Path is the bbolt file; created (mode 0600) if missing. Only one process may hold it.
	// Default "controlplane.db" in the working directory.
	Path string `yaml:"path"`
	// AuditRetention is how many audit entries the registry keeps; appending one more drops
	// the oldest. Default registry.DefaultAuditRetention (100,000); 0 means the default.
	AuditRetention int `yaml:"audit_retention"`
}

// AdminConfig configures the admin API listener.
type AdminConfig struct {
	// ListenAddress is the host:port of the admin API, /healthz and /metrics. Default
	// 127.0.0.1:9090 (ingestctl's default server); set ":9090" to serve other hosts.
	ListenAddress string `yaml:"listen_address"`
	// TokenFile is a file holding the admin bearer token (surrounding whitespace ignored; at
	// least api.MinTokenLen bytes). Read once at startup: restart to change the token.
	// Exactly one of TokenFile and Token is required.
	TokenFile string `yaml:"token_file"`
	// Token is the admin token itself, for `ingest controlplane` to pass INGEST_ADMIN_TOKEN;
	// never read from a config file.
	Token string `yaml:"-"`
	// ShutdownTimeout bounds the graceful shutdown of the admin listener: requests still
	// running after it are cut. Default 10 s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes bounds a request body; larger bodies get 413. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReportTokenFile is a file holding the bearer token of POST /v1/reports, the cutover
	// report stream of edges, normalizers and loaders (at least api.MinTokenLen bytes, not the
	// admin token). At most one of ReportTokenFile and ReportToken; with neither the report
	// stream is disabled (503) and no cutover gate from shadow or canary can pass.
	ReportTokenFile string `yaml:"report_token_file"`
	// ReportToken is the report token itself, for `ingest controlplane` to pass
	// INGEST_REPORT_TOKEN; never read from a config file.
	ReportToken string `yaml:"-"`
}

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	return Config{
		Registry: RegistryConfig{Path: "controlplane.db", AuditRetention: registry.DefaultAuditRetention},
		Admin: AdminConfig{
			ListenAddress:   "127.0.0.1:9090",
			ShutdownTimeout: 10 * time.Second,
			MaxBodyBytes:    1 << 20,
		},
		ClickHouse: ClickHouseConfig{Database: api.DefaultClickHouseDatabase, Username: "default", Timeout: api.DefaultClickHouseTimeout},
		Replay:     replay.DefaultConfig(),
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Registry.Path == "" {
		c.Registry.Path = d.Registry.Path
	}
	if c.Registry.AuditRetention == 0 {
		c.Registry.AuditRetention = d.Registry.AuditRetention
	}
	if c.Admin.ListenAddress == "" {
		c.Admin.ListenAddress = d.Admin.ListenAddress
	}
	if c.Admin.ShutdownTimeout == 0 {
		c.Admin.ShutdownTimeout = d.Admin.ShutdownTimeout
	}
	if c.Admin.MaxBodyBytes == 0 {
		c.Admin.MaxBodyBytes = d.Admin.MaxBodyBytes
	}
	config.Default(&c.ClickHouse.Database, d.ClickHouse.Database)
	config.Default(&c.ClickHouse.Username, d.ClickHouse.Username)
	config.Default(&c.ClickHouse.Timeout, d.ClickHouse.Timeout)
	c.Replay = c.Replay.WithDefaults()
	return c
}

// NoTokenHelp says how to give the control plane an admin token.
const NoTokenHelp = "create one with `head -c 32 /dev/urandom | base64 > admin-token && chmod 600 admin-token` " +
	"and pass --admin-token-file=admin-token (or set INGEST_ADMIN_TOKEN); give ingestctl the same token with --token or INGEST_TOKEN"

// Validate reports every field out of range at once, naming its key. Zero fields are valid
// (they mean the default), except that an admin token is required.
func (c Config) Validate() error {
	var errs []error
	if c.Admin.ListenAddress != "" {
		if _, _, err := net.SplitHostPort(c.Admin.ListenAddress); err != nil {
			errs = append(errs, fmt.Errorf("admin.listen_address: %q is not host:port: %w", c.Admin.ListenAddress, err))
		}
	}
	switch {
	case c.Admin.TokenFile == "" && c.Admin.Token == "":
		errs = append(errs, fmt.Errorf("admin.token_file: no admin token: %s", NoTokenHelp))
	case c.Admin.TokenFile != "" && c.Admin.Token != "":
		errs = append(errs, errors.New("admin.token_file: both a token file and INGEST_ADMIN_TOKEN are set; use one"))
	case c.Admin.Token != "" && len(c.Admin.Token) < api.MinTokenLen:
		errs = append(errs, fmt.Errorf("admin token: %d bytes is shorter than the minimum of %d; %s", len(c.Admin.Token), api.MinTokenLen, NoTokenHelp))
	}
	if c.Admin.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("admin.shutdown_timeout: %s must not be negative (0 means the default)", c.Admin.ShutdownTimeout))
	}
	if c.Admin.ReportTokenFile != "" && c.Admin.ReportToken != "" {
		errs = append(errs, errors.New("admin.report_token_file: both a report token file and INGEST_REPORT_TOKEN are set; use one"))
	}
	if err := c.Cutover.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("cutover: %w", err))
	}
	if c.Registry.AuditRetention < 0 {
		errs = append(errs, fmt.Errorf("registry.audit_retention: %d must not be negative (0 means the default)", c.Registry.AuditRetention))
	}
	if c.Admin.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("admin.max_body_bytes: %d must not be negative (0 means the default)", c.Admin.MaxBodyBytes))
	}
	for _, a := range c.ClickHouse.Addr {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("clickhouse.addr: %q is not host:port: %w", a, err))
		}
	}
	if c.ClickHouse.Database != "" && !schema.ValidDatabase(c.ClickHouse.Database) {
		errs = append(errs, fmt.Errorf("clickhouse.database: %q is not a valid name (^[A-Za-z_][A-Za-z0-9_]*$, at most 64 bytes)", c.ClickHouse.Database))
	}
	if c.ClickHouse.Cluster != "" && !schema.ValidCluster(c.ClickHouse.Cluster) {
		errs = append(errs, fmt.Errorf("clickhouse.cluster: %q is not a valid name (^[A-Za-z_][A-Za-z0-9_-]*$, at most 64 bytes; the loaders' clickhouse_cluster)", c.ClickHouse.Cluster))
	}
	if c.ClickHouse.Timeout < 0 {
		errs = append(errs, fmt.Errorf("clickhouse.timeout: %s must not be negative (0 means the default)", c.ClickHouse.Timeout))
	}
	if err := c.Replay.Validate(); err != nil {
		errs = append(errs, err) // names its keys (replay.…)
	}
	if c.Replay.Enabled() && !c.ClickHouse.enabled() {
		errs = append(errs, fmt.Errorf("replay.brokers: replay is on (brokers %s) but writes to ClickHouse, and clickhouse.addr is empty: "+
			"set clickhouse.addr (--clickhouse host:port), or leave replay.brokers empty to turn replay off", strings.Join(c.Replay.Brokers, ",")))
	}
	if c.xdsEnabled() {
		if err := c.XDS.WithDefaults().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("xds: %w", err))
		}
	}
	return errors.Join(errs...)
}

// adminToken returns the configured token, reading TokenFile if set.
func (c AdminConfig) adminToken(log *slog.Logger) (string, error) {
	return readToken(log, "admin", c.TokenFile, c.Token)
}

// reportToken returns the configured report token, reading ReportTokenFile if set; "" when
// none is configured.
func (c AdminConfig) reportToken(log *slog.Logger) (string, error) {
	return readToken(log, "report", c.ReportTokenFile, c.ReportToken)
}

// readToken returns token, or the content of file when set.
func readToken(log *slog.Logger, kind, file, token string) (string, error) {
	if file == "" {
		return token, nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("cannot read %s token file %q: %w; %s", kind, file, err, NoTokenHelp)
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.Warn(kind+" token file is readable by others; chmod 600 it", "path", file, "mode", st.Mode().Perm().String())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("cannot read %s token file %q: %w", kind, file, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < api.MinTokenLen {
		return "", fmt.Errorf("%s token file %q holds %d bytes, fewer than the minimum of %d; %s", kind, file, len(tok), api.MinTokenLen, NoTokenHelp)
	}
	return tok, nil
}

// ControlPlane is a control plane ready to run: its registry is open and its listeners (the
// admin API's and, with xDS, the xDS server's) are bound. It is `ingest controlplane` and
// implements service.Service: Run serves until ctx ends, Ready says whether it serves.
type ControlPlane struct {
	*service.Server
	reg      *registry.Registry
	ch       driver.Conn     // nil without ClickHouse
	xds      *xds.Server     // nil without xDS
	replay   *replay.Manager // nil without replay
	dlKafka  *kgo.Client     // the dead letters' client; nil without replay
	xdsLn    net.Listener
	closeReg sync.Once
	regErr   error
}

// NewService checks cfg (zero fields take their defaults), reads the admin token, checks
// the edge certificate, opens the registry and binds the admin and xDS listeners, so that
// every startup problem is reported here. Metrics are registered with set.Registry and
// served at /metrics on the admin listener, with /healthz (the admin API's JSON health) and
// /readyz. Run serves; if Run is never called, Close releases what NewService opened.
func NewService(cfg Config, set service.Settings) (*ControlPlane, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the control plane: %w", err)
	}
	set = set.WithDefaults()
	log, metrics := set.Log, set.Registry
	token, err := cfg.Admin.adminToken(log)
	if err != nil {
		return nil, err
	}
	reportToken, err := cfg.Admin.reportToken(log)
	if err != nil {
		return nil, err
	}
	if reportToken == "" {
		log.Warn("cutover report stream disabled: no report token; set admin.report_token_file (or INGEST_REPORT_TOKEN) to gate cutovers on parity")
	}
	if cfg.xdsEnabled() {
		// xds.Server loads the pair when it starts serving: check it now, to fail fast.
		if _, err := tls.LoadX509KeyPair(cfg.XDS.CertFile, cfg.XDS.KeyFile); err != nil {
			return nil, fmt.Errorf("cannot start the control plane: cannot load the edge certificate %q and key %q: %w", cfg.XDS.CertFile, cfg.XDS.KeyFile, err)
		}
		if err := cfg.XDS.ServerTLS.CheckFiles(); err != nil {
			return nil, fmt.Errorf("cannot start the control plane: %w", err)
		}
	}
	reg, err := registry.Open(cfg.Registry.Path, registry.WithLogger(log.With("component", "registry")),
		registry.WithAuditRetention(cfg.Registry.AuditRetention))
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{reg: reg}
	ok := false
	defer func() {
		if !ok {
			_ = cp.Close()
		}
	}()

	chAPI := api.ClickHouse{Database: cfg.ClickHouse.Database, Cluster: cfg.ClickHouse.Cluster, Timeout: cfg.ClickHouse.Timeout}
	if cfg.ClickHouse.enabled() {
		// Open dials lazily: a ClickHouse that is down fails only the requests that need it.
		if cp.ch, err = clickhouse.Open(cfg.ClickHouse.options()); err != nil {
			return nil, fmt.Errorf("cannot start the control plane: cannot open ClickHouse %q: %w", cfg.ClickHouse.Addr, err)
		}
		chAPI.Conn = cp.ch
		log.Info("shadow tables reachable: clear-shadow enabled", "clickhouse", cfg.ClickHouse.Addr, "database", cfg.ClickHouse.Database, "cluster", cfg.ClickHouse.Cluster)
	} else {
		log.Info("no ClickHouse (clickhouse.addr): `ingestctl cutover clear-shadow` is off")
	}
	apiCfg := api.Config{Registry: reg, Token: token, Metrics: metrics, Log: log.With("component", "admin-api"), MaxBodyBytes: cfg.Admin.MaxBodyBytes,
		ReportToken: reportToken, Cutover: cfg.Cutover, ClickHouse: chAPI}
	if cfg.Replay.Enabled() {
		// Validate made sure ClickHouse is configured too.
		cp.replay, err = replay.New(cfg.Replay, replay.Options{Conn: cp.ch, Database: cfg.ClickHouse.Database, Cluster: cfg.ClickHouse.Cluster, Store: reg.Replays(),
			Log: log.With("component", "replay"), Registerer: metrics})
		if err != nil {
			return nil, fmt.Errorf("cannot start the control plane: %w", err)
		}
		apiCfg.Replay = cp.replay
		// The dead letters are on the same brokers: /v1/deadletters lists and re-drives them.
		sec, err := cfg.Replay.Kafka.Opts()
		if err != nil {
			return nil, fmt.Errorf("cannot start the control plane: %w", err)
		}
		if cp.dlKafka, err = kgo.NewClient(append(sec, kgo.SeedBrokers(cfg.Replay.Brokers...), kgo.ClientID("ingest-controlplane-deadletters"),
			kgo.WithLogger(kafkalog.New(log.With("component", "deadletters"))))...); err != nil {
			return nil, fmt.Errorf("cannot start the control plane: the dead letters' Kafka client: %w", err)
		}
		apiCfg.DeadLetters = deadletter.New(cp.dlKafka, cfg.Replay.DeadLetterTopic)
		log.Info("replay enabled: /v1/replays and `ingestctl replay` on", "brokers", cfg.Replay.Brokers, "topic_pattern", cfg.Replay.TopicPattern,
			"clickhouse", cfg.ClickHouse.Addr, "database", cfg.ClickHouse.Database, "cluster", cfg.ClickHouse.Cluster, "rate", cfg.Replay.Rate)
	} else {
		log.Info("replay off (no replay.brokers): /v1/replays answers 501; set replay.brokers (--replay-brokers) and clickhouse.addr to turn it on")
	}
	handler, err := api.New(apiCfg)
	if err != nil {
		return nil, err
	}
	opts := service.Options{
		Name:            "controlplane",
		Listen:          cfg.Admin.ListenAddress,
		Handler:         handler,
		Healthz:         handler, // ingestctl reads the API's JSON health (status, revision)
		Ready:           cp.ready,
		Shutdown:        func(context.Context) error { return cp.closeStores() },
		ShutdownTimeout: cfg.Admin.ShutdownTimeout,
		ReadTimeout:     30 * time.Second,
	}
	if cfg.xdsEnabled() {
		if cp.xds, err = xds.New(cfg.XDS, reg, metrics, log); err != nil {
			return nil, err
		}
		if cp.xdsLn, err = service.Listen("control plane's xDS server", cfg.XDS.ListenAddress); err != nil {
			return nil, err
		}
	} else {
		log.Warn("xDS disabled: no edge certificate; pass --tls-cert and --tls-key to drive edges")
	}
	if cp.xds != nil || cp.replay != nil {
		opts.Run = cp.run
	}
	if cp.Server, err = service.New(opts, set); err != nil {
		return nil, fmt.Errorf("%w (the admin API)", err)
	}
	ok = true
	return cp, nil
}

// run is the control plane's background work: the xDS server and the replay manager, each
// when configured, until ctx ends. If one stops first the other is stopped too, and run
// returns why (the service then stops: a control plane that cannot drive edges or run the
// replays it accepted must not look healthy). The replay manager stops before the registry it
// persists jobs in is closed (Shutdown runs after Run returned).
func (cp *ControlPlane) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	start := func(i int, name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			if err := fn(ctx); err != nil {
				errs[i] = fmt.Errorf("the %s stopped: %w", name, err)
			} else if ctx.Err() == nil {
				errs[i] = fmt.Errorf("the %s stopped before the control plane", name)
			}
		}()
	}
	if cp.xds != nil {
		start(0, "xDS server", func(ctx context.Context) error { return cp.xds.Serve(ctx, cp.xdsLn) })
	}
	if cp.replay != nil {
		start(1, "replay manager", cp.replay.Run)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// New is NewService with the registry and logger of service.Settings given one by one
// (metrics nil: a new registry; log nil: discarded).
func New(cfg Config, metrics *prometheus.Registry, log *slog.Logger) (*ControlPlane, error) {
	return NewService(cfg, service.Settings{Log: log, Registry: metrics})
}

// Registry returns the open registry (for components added in NewService, and tests).
func (cp *ControlPlane) Registry() *registry.Registry { return cp.reg }

// AdminAddr returns the address the admin API listens on (useful with port 0).
func (cp *ControlPlane) AdminAddr() net.Addr { return cp.Server.Addr() }

// XDSAddr returns the address the xDS server listens on, or nil without xDS.
func (cp *ControlPlane) XDSAddr() net.Addr {
	if cp.xdsLn == nil {
		return nil
	}
	return cp.xdsLn.Addr()
}

// ready is nil while the registry answers. A registry state that does not build an xDS
// snapshot does not make the control plane unready: its admin API is what fixes it.
func (cp *ControlPlane) ready(ctx context.Context) error {
	if _, err := cp.reg.Upstreams(ctx); err != nil {
		return fmt.Errorf("cannot read the registry: %w", err)
	}
	return nil
}

// Close releases the listeners and closes the registry of a control plane that never ran;
// Run does the same when it returns. Idempotent.
func (cp *ControlPlane) Close() error {
	if cp.Server != nil {
		_ = cp.Server.Close() // nothing to do once Run ran
	}
	if cp.xdsLn != nil {
		_ = cp.xdsLn.Close() // already closed if the xDS server served
	}
	return cp.closeStores()
}

// closeStores closes the registry and the ClickHouse pool, once.
func (cp *ControlPlane) closeStores() error {
	cp.closeReg.Do(func() {
		if cp.dlKafka != nil {
			cp.dlKafka.Close()
		}
		if cp.ch != nil {
			_ = cp.ch.Close() // nothing is written through it that a close could lose
		}
		cp.regErr = cp.reg.Close()
	})
	return cp.regErr
}
