package embedkafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ingestdev/ingest/internal/kafkaauth"
)

// Config configures the embedded Kafka.
type Config struct {
	// DataDir is where the cluster keeps its log and state. Required; created if missing.
	DataDir string `yaml:"data_dir"`
	// Listen are the addresses of the brokers, host:port each, one broker per address. Port 0
	// picks a free port. The host is what the broker advertises to clients, so it must be an
	// address clients can reach (not 0.0.0.0). Default one broker on 127.0.0.1:9092.
	Listen []string `yaml:"listen"`
	// SyncWrites fsyncs every produced batch before acknowledging it; see the package
	// documentation. Default false.
	SyncWrites bool `yaml:"sync_writes"`
	// DefaultPartitions is the partition count of topics created without one. Default 6.
	DefaultPartitions int `yaml:"default_partitions"`
	// TLSCertFile and TLSKeyFile make the brokers serve TLS only, with this certificate and
	// key (PEM), as a secured production cluster does. Both or neither. Default: plaintext.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// SASLUsers makes the brokers require SASL, with these users (superusers: no ACLs).
	// Default: no authentication.
	SASLUsers []SASLUser `yaml:"sasl_users"`
}

// SASLUser is one user of a SASL-enabled embedded cluster.
type SASLUser struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password, or PasswordFile (its first line); with neither, the environment variable
	// INGEST_KAFKA_SASL_PASSWORD, which the clients read too.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Validate reports every problem at once, naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required: the directory that keeps the log across restarts"))
	}
	for _, a := range c.Listen {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen: %q is not host:port: %v", a, err))
			continue
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			errs = append(errs, fmt.Errorf("listen: %q: the host is advertised to clients, so it must be an address they can reach, not %q", a, host))
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("listen: %q: port %q is not a port number", a, port))
		}
	}
	if c.DefaultPartitions < 0 {
		errs = append(errs, fmt.Errorf("default_partitions: %d must not be negative (0 means the default)", c.DefaultPartitions))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file, tls_key_file: set both to serve TLS, or neither"))
	}
	for i, u := range c.SASLUsers {
		switch u.Mechanism {
		case kafkaauth.MechanismPlain, kafkaauth.MechanismSCRAMSHA256, kafkaauth.MechanismSCRAMSHA512:
		default:
			errs = append(errs, fmt.Errorf("sasl_users[%d].mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", i, u.Mechanism))
		}
		if u.Username == "" {
			errs = append(errs, fmt.Errorf("sasl_users[%d].username: required", i))
		}
		if u.Password != "" && u.PasswordFile != "" {
			errs = append(errs, fmt.Errorf("sasl_users[%d]: set password or password_file, not both", i))
		}
	}
	return errors.Join(errs...)
}

// securityOpts returns the kfake options of cfg's TLS and SASL users, reading their files.
func securityOpts(cfg Config) ([]kfake.Opt, error) {
	var opts []kfake.Opt
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls_cert_file, tls_key_file: %w", err)
		}
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	if len(cfg.SASLUsers) > 0 {
		opts = append(opts, kfake.EnableSASL())
	}
	for i, u := range cfg.SASLUsers {
		pass, err := kafkaauth.Password(u.Password, u.PasswordFile, fmt.Sprintf("sasl_users[%d]", i))
		if err != nil {
			return nil, err
		}
		opts = append(opts, kfake.Superuser(u.Mechanism, u.Username, pass))
	}
	return opts, nil
}

// Kafka is a running embedded cluster.
type Kafka struct {
	cluster   *kfake.Cluster
	dir       string
	unlock    func()
	log       *slog.Logger
	closeOnce sync.Once
	closeErr  error
}

// Start starts the cluster on cfg.DataDir, reloading what a previous run left there, and
// returns once its brokers listen.
func Start(cfg Config, log *slog.Logger) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot start embedded Kafka: invalid config: %w", err)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"127.0.0.1:9092"}
	}
	if cfg.DefaultPartitions == 0 {
		cfg.DefaultPartitions = 6
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data directory %q: %w", cfg.DataDir, err)
	}
	unlock, err := lockDir(filepath.Join(cfg.DataDir, ".lock"))
	if err != nil {
		return nil, fmt.Errorf("cannot lock data directory %q (is another `ingest kafka` using it?): %w", cfg.DataDir, err)
	}
	// kfake listens on 127.0.0.1:<port>; listen on the configured host instead, broker by
	// broker in order.
	hosts := make(map[string]string, len(cfg.Listen)) // "127.0.0.1:port" kfake asks for → host:port
	ports := make([]int, len(cfg.Listen))
	for i, a := range cfg.Listen {
		host, port, _ := net.SplitHostPort(a)
		ports[i], _ = strconv.Atoi(port)
		hosts[net.JoinHostPort("127.0.0.1", port)] = net.JoinHostPort(host, port)
	}
	opts := []kfake.Opt{
		kfake.DataDir(cfg.DataDir),
		kfake.Ports(ports...),
		kfake.DefaultNumPartitions(cfg.DefaultPartitions),
		kfake.WithLogger(kfakeLogger{log}),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			if a, ok := hosts[addr]; ok {
				addr = a
			}
			return net.Listen(network, addr)
		}),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	sec, err := securityOpts(cfg)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("cannot start embedded Kafka: %w", err)
	}
	opts = append(opts, sec...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("cannot start embedded Kafka on %q: %w", cfg.DataDir, err)
	}
	k := &Kafka{cluster: c, dir: cfg.DataDir, unlock: unlock, log: log}
	log.Info("embedded Kafka started", "brokers", k.Addrs(), "data_dir", cfg.DataDir, "sync_writes", cfg.SyncWrites,
		"tls", cfg.TLSCertFile != "", "sasl_users", len(cfg.SASLUsers))
	return k, nil
}

// Addrs returns the brokers' host:port addresses, to use as seed brokers.
func (k *Kafka) Addrs() []string { return k.cluster.ListenAddrs() }

// Cluster returns the kfake cluster (tests: faults, control functions).
func (k *Kafka) Cluster() *kfake.Cluster { return k.cluster }

// Close stops the brokers, lets kfake snapshot its state, fsyncs every file of the data
// directory and releases it. It is idempotent. ctx is not used (kfake's close cannot be
// interrupted) but keeps the Shutdown shape.
func (k *Kafka) Close(_ context.Context) error {
	k.closeOnce.Do(func() {
		k.cluster.Close()
		k.closeErr = syncTree(k.dir)
		k.unlock()
		if k.closeErr != nil {
			k.log.Error("embedded Kafka stopped, but its data directory may not be on disk", "err", k.closeErr)
			return
		}
		k.log.Info("embedded Kafka stopped; data directory synced", "data_dir", k.dir)
	})
	return k.closeErr
}

// syncTree fsyncs every regular file and directory under dir.
func syncTree(dir string) error {
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot open %q to sync it: %w", path, err))
			return nil
		}
		if err := f.Sync(); err != nil && !d.IsDir() {
			errs = append(errs, fmt.Errorf("cannot sync %q: %w", path, err))
		}
		f.Close()
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// kfakeLogger passes kfake's warnings and errors to slog.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		return
	}
	l.log.Log(context.Background(), lvl, "kfake: "+fmt.Sprintf(format, args...))
}
