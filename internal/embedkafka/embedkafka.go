// Package embedkafka runs an embedded Kafka for local use and tests: franz-go's kfake, with its
// log in a data directory so that what it acknowledged survives a restart.
//
// # Durability
//
// kfake appends every produced record batch to the partition's segment file (and its index)
// with write system calls before it answers the produce request. So:
//
//   - Without SyncWrites (the default), an acknowledged batch is in the operating system's page
//     cache: a crash of the process (kill -9, panic, OOM kill) loses nothing acknowledged, as
//     the kernel still writes the page cache out; a crash of the machine (power loss, kernel
//     panic) may lose what was acknowledged in the last half minute or so. kfake never fsyncs
//     segments in this mode (not when it rolls a segment, not at shutdown: its SyncWrites doc
//     comment says otherwise, its code does not); the kernel writes dirty pages back on its own
//     schedule (Linux: after vm.dirty_expire_centisecs, 30 s by default). Close therefore
//     fsyncs every file of the data directory after kfake stopped, so that a clean shutdown
//     is durable against a later machine crash.
//   - With SyncWrites, kfake fsyncs the segment and its index after every batch, before the
//     ack: an acknowledged batch survives a machine crash too, at the cost of an fsync per
//     batch per partition in each produce request (the producer puts many records in a batch,
//     so it is not one per record).
//
// Topic metadata (topics.json) is written with a temporary file, fsync and rename whenever a
// topic is created or changed, in both modes, so a topic that was produced to is known after a
// restart. Consumer group offsets and idempotent producer state are appended to logs (fsynced
// per entry only with SyncWrites) and snapshotted at a clean shutdown.
//
// At start kfake reloads the directory: it scans the segments, and a torn batch at the end of a
// segment (a crash in the middle of a write, which was never acknowledged) is truncated.
//
// Only one process may use a data directory at a time: Start takes an exclusive lock on it.
package embedkafka

import (
	"context"
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
	return errors.Join(errs...)
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
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("cannot start embedded Kafka on %q: %w", cfg.DataDir, err)
	}
	k := &Kafka{cluster: c, dir: cfg.DataDir, unlock: unlock, log: log}
	log.Info("embedded Kafka started", "brokers", k.Addrs(), "data_dir", cfg.DataDir, "sync_writes", cfg.SyncWrites)
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
