package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/controlplane/xds"
)

// Config configures the control plane. The zero value of every field means its default (see
// DefaultConfig); Validate reports every problem at once.
type Config struct {
	// Registry is the embedded store of tenants, keys, stages, upstreams and the audit log.
	Registry RegistryConfig `yaml:"registry"`
	// Admin is the admin API (and /metrics, /healthz) listener.
	Admin AdminConfig `yaml:"admin"`

	// XDS is the xDS server that drives the edges. It runs when XDS.CertFile and XDS.KeyFile
	// (the edge listener's certificate, served over SDS) are set; without them the control
	// plane serves only the admin API.
	XDS xds.Config `yaml:"xds"`
}

// xdsEnabled reports whether the xDS server is configured.
func (c Config) xdsEnabled() bool { return c.XDS.CertFile != "" || c.XDS.KeyFile != "" }

// RegistryConfig configures the registry file.
type RegistryConfig struct {
	// Path is the bbolt file; created (mode 0600) if missing. Only one process may hold it.
	// Default "controlplane.db" in the working directory.
	Path string `yaml:"path"`
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
}

// DefaultConfig returns the defaults that a zero Config field stands for.
func DefaultConfig() Config {
	return Config{
		Registry: RegistryConfig{Path: "controlplane.db"},
		Admin: AdminConfig{
			ListenAddress:   "127.0.0.1:9090",
			ShutdownTimeout: 10 * time.Second,
			MaxBodyBytes:    1 << 20,
		},
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Registry.Path == "" {
		c.Registry.Path = d.Registry.Path
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
	if c.Admin.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("admin.max_body_bytes: %d must not be negative (0 means the default)", c.Admin.MaxBodyBytes))
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
	if c.TokenFile == "" {
		return c.Token, nil
	}
	st, err := os.Stat(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("cannot read admin token file %q: %w; %s", c.TokenFile, err, NoTokenHelp)
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.Warn("admin token file is readable by others; chmod 600 it", "path", c.TokenFile, "mode", st.Mode().Perm().String())
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("cannot read admin token file %q: %w", c.TokenFile, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < api.MinTokenLen {
		return "", fmt.Errorf("admin token file %q holds %d bytes, fewer than the minimum of %d; %s", c.TokenFile, len(tok), api.MinTokenLen, NoTokenHelp)
	}
	return tok, nil
}

// component is one long-running part of the control plane. run serves until ctx is done,
// then shuts down gracefully and returns; an error before that stops the whole control plane.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// ControlPlane is a control plane ready to run: its registry is open and its listeners bound.
type ControlPlane struct {
	log        *slog.Logger
	reg        *registry.Registry
	adminAddr  net.Addr
	listeners  []net.Listener // closed by Close, for a ControlPlane that never ran
	components []component
	closeOnce  sync.Once
}

// New checks cfg (zero fields take their defaults), reads the admin token, opens the registry
// and binds the admin listener, so that every startup problem is reported here. Metrics are
// registered with metrics and served at /metrics on the admin listener (nil: a new registry).
// Run serves; if Run is never called, Close releases what New opened.
func New(cfg Config, metrics *prometheus.Registry, log *slog.Logger) (*ControlPlane, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start the control plane: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = prometheus.NewRegistry()
	}
	token, err := cfg.Admin.adminToken(log)
	if err != nil {
		return nil, err
	}
	reg, err := registry.Open(cfg.Registry.Path, registry.WithLogger(log.With("component", "registry")))
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{log: log, reg: reg}
	ok := false
	defer func() {
		if !ok {
			_ = cp.Close()
		}
	}()

	handler, err := api.New(api.Config{Registry: reg, Token: token, Metrics: metrics, Log: log.With("component", "admin-api"), MaxBodyBytes: cfg.Admin.MaxBodyBytes})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{Registry: metrics}))
	mux.Handle("/", handler)
	ln, err := net.Listen("tcp", cfg.Admin.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %q for the admin API: %w", cfg.Admin.ListenAddress, err)
	}
	cp.adminAddr = ln.Addr()
	cp.listeners = append(cp.listeners, ln)
	cp.components = append(cp.components, httpComponent("admin-api", ln, mux, cfg.Admin.ShutdownTimeout, log))

	if cfg.xdsEnabled() {
		srv, err := xds.New(cfg.XDS, reg, metrics, log)
		if err != nil {
			return nil, err
		}
		cp.components = append(cp.components, component{name: "xds", run: srv.Run})
	} else {
		log.Warn("xDS disabled: no edge certificate; pass --tls-cert and --tls-key to drive edges")
	}

	ok = true
	return cp, nil
}

// Registry returns the open registry (for components added in New, and tests).
func (cp *ControlPlane) Registry() *registry.Registry { return cp.reg }

// AdminAddr returns the address the admin API listens on (useful with port 0).
func (cp *ControlPlane) AdminAddr() net.Addr { return cp.adminAddr }

// Run runs every component until ctx is done or one of them fails, then stops them all,
// waits for their graceful shutdown and closes the registry. It returns the first failure,
// or nil after a clean stop. Run must be called at most once.
func (cp *ControlPlane) Run(ctx context.Context) error {
	defer cp.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(cp.components))
	var wg sync.WaitGroup
	for i, c := range cp.components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.run(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", c.name, err)
				cp.log.Error("component failed; stopping the control plane", "component", c.name, "err", err)
				cancel()
			}
		}()
	}
	cp.log.Info("control plane running", "admin", cp.adminAddr.String(), "revision", cp.reg.Revision())
	wg.Wait()
	return errors.Join(errs...)
}

// Close releases the listeners and closes the registry. Run calls it when done; call it
// yourself only if Run is never called. Idempotent.
func (cp *ControlPlane) Close() error {
	var err error
	cp.closeOnce.Do(func() {
		for _, ln := range cp.listeners {
			_ = ln.Close() // already closed when its server shut down
		}
		err = cp.reg.Close()
	})
	return err
}

// Run is New followed by ControlPlane.Run: it serves until ctx is done.
func Run(ctx context.Context, log *slog.Logger, cfg Config, metrics *prometheus.Registry) error {
	cp, err := New(cfg, metrics, log)
	if err != nil {
		return err
	}
	return cp.Run(ctx)
}

// httpComponent serves h on ln until ctx is done, then shuts down within timeout.
func httpComponent(name string, ln net.Listener, h http.Handler, timeout time.Duration, log *slog.Logger) component {
	return component{name: name, run: func(ctx context.Context) error {
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		log.Info("listening", "component", name, "addr", ln.Addr().String())
		select {
		case err := <-errc:
			return fmt.Errorf("cannot serve on %q: %w", ln.Addr().String(), err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			return fmt.Errorf("cannot shut down %s cleanly: %w", name, err)
		}
		log.Info("stopped", "component", name)
		return nil
	}}
}
