package chserver

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// InstallHint is the command that installs the server this package runs, on Debian and Ubuntu.
const InstallHint = "sudo apt-get update && sudo apt-get install -y clickhouse-server clickhouse-client" +
	" (or run scripts/ensure-clickhouse.sh as root)"

// BinaryEnv names the environment variable that, when set, is the path of the server binary to
// run: a clickhouse-server, or a single-binary clickhouse (run as "clickhouse server").
const BinaryEnv = "INGEST_CLICKHOUSE_BINARY"

// ErrNoBinary is returned by FindBinary and Start when no server binary is installed.
var ErrNoBinary = errors.New("no clickhouse-server (nor clickhouse) binary on PATH or in /usr/sbin")

// Timeouts of the server's life cycle.
const (
	// DefaultReadyTimeout is the default of Config.ReadyTimeout: from exec to the first
	// answered SELECT 1, on a busy machine.
	DefaultReadyTimeout = 90 * time.Second
	stopTimeout         = 30 * time.Second // from SIGTERM to exit, before SIGKILL
	startTries          = 3                // a free port may be taken between picking and binding it
)

// Config configures a private server.
type Config struct {
	// Dir holds the configuration, data (data/) and logs (log/). Required; created (0700) if
	// missing. What a previous server left there is kept.
	Dir string
	// TCPPort and HTTPPort are the loopback ports of the native protocol and of the HTTP
	// interface. 0 picks a free port (and retries with new ones if it is taken before the
	// server binds it).
	TCPPort, HTTPPort int
	// Binary is the command line that runs a server up to its config flag, e.g.
	// ["/usr/sbin/clickhouse-server"] or ["/usr/bin/clickhouse", "server"]. Empty: FindBinary.
	Binary []string
	// ReadyTimeout bounds the wait from exec to the first answered SELECT 1. Default
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Replica makes the server one replica of a replicated cluster (see Replica). Nil: a
	// server of its own, as before.
	Replica *Replica
	// QueryLog logs every query into system.query_log (flushed every second), with its CPU
	// time in ProfileEvents: what a benchmark reads to split the server's CPU by cause. It
	// costs the server a little CPU, so it is off by default.
	QueryLog bool
}

// Replica makes a server one replica of a ClickHouse cluster of one shard: the cluster's
// definition (remote_servers, what ON CLUSTER and Distributed tables name), the {shard} and
// {replica} macros of the Replicated tables' ZooKeeper paths, the ZooKeeper that holds the
// replicas' metadata and the distributed DDL queue (/clickhouse/task_queue/ddl), and the
// interserver HTTP port the replicas fetch parts from each other through. The configuration
// elements are those of 18.16, which current servers read too.
type Replica struct {
	// Cluster is the cluster's name: ^[A-Za-z_][A-Za-z0-9_-]*$. Required.
	Cluster string
	// Shard is the {shard} macro. Default "01".
	Shard string
	// Name is the {replica} macro, unique within the shard: [A-Za-z0-9_.-]+. Required.
	Name string
	// Replicas are the native-protocol host:port of every replica of the shard, this server's
	// (127.0.0.1 and Config.TCPPort, which must then be set) among them, in the order the
	// Distributed tables try them.
	Replicas []string
	// ZooKeeper are the host:port of the ZooKeeper servers. Required.
	ZooKeeper []string
	// InterserverPort is the loopback port other replicas fetch parts from. 0 picks a free port.
	InterserverPort int
	// SessionTimeout is the ZooKeeper session timeout: how long after a crash the replica's
	// ephemeral nodes (is_active) stay, during which a restarted replica waits to become
	// active again. Default 10 s.
	SessionTimeout time.Duration
}

var (
	clusterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	macroValue  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// check reports what is missing or invalid in r for a server on tcpPort.
func (r *Replica) check(tcpPort int) error {
	var errs []error
	if !clusterName.MatchString(r.Cluster) {
		errs = append(errs, fmt.Errorf("cluster %q is not a name (^[A-Za-z_][A-Za-z0-9_-]*$)", r.Cluster))
	}
	if r.Shard != "" && !macroValue.MatchString(r.Shard) {
		errs = append(errs, fmt.Errorf("shard %q is not [A-Za-z0-9_.-]+", r.Shard))
	}
	if !macroValue.MatchString(r.Name) {
		errs = append(errs, fmt.Errorf("replica name %q is not [A-Za-z0-9_.-]+", r.Name))
	}
	if len(r.ZooKeeper) == 0 {
		errs = append(errs, errors.New("no ZooKeeper address"))
	}
	self := "127.0.0.1:" + strconv.Itoa(tcpPort)
	if tcpPort == 0 || !slices.Contains(r.Replicas, self) {
		errs = append(errs, fmt.Errorf("the replicas %q do not include this server, %s (set Config.TCPPort)", r.Replicas, self))
	}
	for _, a := range append(append([]string(nil), r.Replicas...), r.ZooKeeper...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%q is not host:port", a))
		}
	}
	return errors.Join(errs...)
}

// Server is a private clickhouse-server process. Its methods are safe for concurrent use.
type Server struct {
	bin          []string
	dir          string
	tcp, http    int
	readyTimeout time.Duration
	queryLog     bool
	replica      *Replica // nil: not a replica
	interserver  int      // the interserver HTTP port of a replica

	mu   sync.Mutex
	proc *process // nil: stopped
}

// Start writes the configuration into cfg.Dir, runs the server and returns once it answers
// SELECT 1 (a replica: once it also reaches ZooKeeper and can take ON CLUSTER queries). It
// fails with an error wrapping ErrNoBinary when no server is installed, and with the tail of
// the server's logs when it does not come up within cfg.ReadyTimeout or ctx; an invalid
// cfg.Replica fails before anything runs.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cannot start ClickHouse: no directory")
	}
	bin := cfg.Binary
	if len(bin) == 0 {
		var err error
		if bin, err = FindBinary(); err != nil {
			return nil, fmt.Errorf("cannot start ClickHouse: %w; install it: %s", err, InstallHint)
		}
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot start ClickHouse in %q: %w", cfg.Dir, err)
	}
	s := &Server{bin: bin, dir: dir, readyTimeout: cfg.ReadyTimeout, queryLog: cfg.QueryLog}
	if s.readyTimeout <= 0 {
		s.readyTimeout = DefaultReadyTimeout
	}
	if cfg.Replica != nil {
		if err := cfg.Replica.check(cfg.TCPPort); err != nil {
			return nil, fmt.Errorf("cannot start ClickHouse replica in %q: %w", dir, err)
		}
		r := *cfg.Replica
		if r.Shard == "" {
			r.Shard = "01"
		}
		if r.SessionTimeout <= 0 {
			r.SessionTimeout = 10 * time.Second
		}
		s.replica = &r
	}
	pick := cfg.TCPPort == 0 || cfg.HTTPPort == 0 || (s.replica != nil && s.replica.InterserverPort == 0)
	var lastErr error
	for range startTries {
		s.tcp, s.http = cfg.TCPPort, cfg.HTTPPort
		if s.replica != nil {
			s.interserver = cfg.Replica.InterserverPort
		}
		if pick {
			ports, err := FreePorts(3)
			if err != nil {
				return nil, fmt.Errorf("cannot pick free ports for ClickHouse: %w", err)
			}
			if s.tcp == 0 {
				s.tcp = ports[0]
			}
			if s.http == 0 {
				s.http = ports[1]
			}
			if s.replica != nil && s.interserver == 0 {
				s.interserver = ports[2]
			}
		}
		if err := s.writeConfig(); err != nil {
			return nil, fmt.Errorf("cannot write the ClickHouse configuration into %q: %w", dir, err)
		}
		if lastErr = s.start(ctx); lastErr == nil {
			return s, nil
		}
		if !pick || !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	return nil, fmt.Errorf("cannot start ClickHouse in %q: %w", dir, lastErr)
}

// Addr returns the host:port of the native protocol (what clickhouse-go dials).
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.tcp) }

// TCPPort returns the port of the native protocol (clickhouse-client's --port).
func (s *Server) TCPPort() int { return s.tcp }

// HTTPAddr returns the host:port of the HTTP interface.
func (s *Server) HTTPAddr() string { return "127.0.0.1:" + strconv.Itoa(s.http) }

// Dir returns the server's directory: config, data and logs (log/).
func (s *Server) Dir() string { return s.dir }

// Options returns clickhouse-go options for the server with database as the default database
// ("" is "default").
func (s *Server) Options(database string) *clickhouse.Options {
	if database == "" {
		database = "default"
	}
	return &clickhouse.Options{
		Addr:        []string{s.Addr()},
		Auth:        clickhouse.Auth{Database: database, Username: "default"},
		DialTimeout: 5 * time.Second,
	}
}

// PID returns the process id of the running server, or 0 when it is stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// CPUTime returns the CPU time (user plus system) the running server has used so far, read
// from /proc; 0 where that is not available.
func (s *Server) CPUTime() time.Duration {
	pid := s.PID()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after the last ')'; utime and
	// stime are fields 14 and 15, in clock ticks (100 per second on Linux).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

// Stop stops the server: SIGTERM, then SIGKILL after 30 s. Its data stays. Stopping a
// stopped server does nothing.
func (s *Server) Stop() error {
	if err := s.stop(syscall.SIGTERM); err != nil {
		return fmt.Errorf("cannot stop ClickHouse: %w", err)
	}
	return nil
}

// Kill kills the server with SIGKILL, as a crash would. Its data stays.
func (s *Server) Kill() error {
	if err := s.stop(syscall.SIGKILL); err != nil {
		return fmt.Errorf("cannot kill ClickHouse: %w", err)
	}
	return nil
}

// Restart stops the server if it runs and starts it again on the same ports and data, waiting
// until it answers SELECT 1.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("cannot restart ClickHouse: %w", err)
	}
	return nil
}

// start runs the server and waits until it answers.
func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	if s.proc != nil {
		s.mu.Unlock()
		return errors.New("already running")
	}
	argv := append(append([]string(nil), s.bin...), "--config-file="+filepath.Join(s.dir, "config.xml"))
	p, err := startProcess(argv, s.dir, filepath.Join(s.dir, "stdout.log"))
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.proc = p
	s.mu.Unlock()

	if err := s.waitReady(ctx, p.done); err != nil {
		_ = s.stop(syscall.SIGKILL)
		return fmt.Errorf("%w\n%s", err, s.LogTail())
	}
	return nil
}

// waitDDLWorker waits, on a replica, until the server is connected to ZooKeeper and a DDL
// worker of the cluster has created its queue (/clickhouse/task_queue/ddl), then a moment more.
// 18.16 crashes (a null pointer in zkutil::ZooKeeper::createImpl) on an ON CLUSTER query that
// arrives before its DDL worker thread has taken the server's ZooKeeper session: a query right
// after the first SELECT 1 can.
func (s *Server) waitDDLWorker(ctx context.Context, done <-chan struct{}) error {
	q := "SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue' AND name = 'ddl'"
	if err := s.poll(ctx, done, q, "a ZooKeeper session and the distributed DDL queue"); err != nil {
		return err
	}
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// waitReady polls the HTTP interface with SELECT 1 until it answers 1 (and, on a replica,
// waitDDLWorker), the process exits, ctx is done or the ready timeout passes.
func (s *Server) waitReady(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, s.readyTimeout)
	defer cancel()
	if err := s.poll(ctx, done, "SELECT 1", "SELECT 1"); err != nil {
		return err
	}
	if s.replica != nil {
		return s.waitDDLWorker(ctx, done)
	}
	return nil
}

// poll runs query through the HTTP interface until it answers 1, the process exits or ctx is
// done; what names the wait in errors.
func (s *Server) poll(ctx context.Context, done <-chan struct{}, query, what string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + s.HTTPAddr() + "/?query=" + neturl.QueryEscape(query)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "1" {
				return nil
			}
		}
		select {
		case <-done:
			return errors.New("clickhouse-server exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("clickhouse-server did not answer %s on %s within %v: %w", what, s.HTTPAddr(), s.readyTimeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends sig to the server's process group and waits for it to exit, escalating to SIGKILL
// after stopTimeout.
func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.stop(sig, stopTimeout); err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
	return nil
}

// LogTail returns the end of the server's error log and stdout, for failure messages.
func (s *Server) LogTail() string {
	var b strings.Builder
	for _, name := range []string{"log/clickhouse-server.err.log", "stdout.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		if len(data) > 4096 {
			data = data[len(data)-4096:]
		}
		fmt.Fprintf(&b, "--- %s (tail):\n%s\n", name, data)
	}
	return b.String()
}

func (s *Server) writeConfig() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	config, users := fmt.Sprintf(configXML, s.dir, s.tcp, s.http), usersXML
	if s.replica != nil {
		config = strings.Replace(config, "</yandex>", s.replicaXML()+"</yandex>", 1)
	}
	if s.queryLog {
		config = strings.Replace(config, "</yandex>", queryLogXML+"</yandex>", 1)
		users = strings.Replace(users, "<poll_interval>", "<log_queries>1</log_queries>\n      <poll_interval>", 1)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(config), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(users), 0o644)
}

// configXML is the server configuration: loopback only, everything under the server's
// directory, UTC, small caches. The root element <yandex> is what 18.16 reads; current servers
// accept it. Arguments: directory, native port, HTTP port.
const configXML = `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>%[1]s/log/clickhouse-server.log</log>
    <errorlog>%[1]s/log/clickhouse-server.err.log</errorlog>
    <size>50M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>3</keep_alive_timeout>
</yandex>
`

// replicaXML is added to configXML for a replica (see Replica): the cluster of one shard (the
// Distributed tables send a query to one replica, internal_replication: an INSERT through them
// goes to one replica, which replicates it), ZooKeeper, the macros, the interserver port on
// loopback and the distributed DDL queue.
func (s *Server) replicaXML() string {
	r := s.replica
	var b strings.Builder
	fmt.Fprintf(&b, "  <remote_servers>\n    <%s>\n      <shard>\n        <internal_replication>true</internal_replication>\n", r.Cluster)
	for _, a := range r.Replicas {
		host, port, _ := net.SplitHostPort(a)
		fmt.Fprintf(&b, "        <replica><host>%s</host><port>%s</port></replica>\n", xmlText(host), xmlText(port))
	}
	fmt.Fprintf(&b, "      </shard>\n    </%s>\n  </remote_servers>\n  <zookeeper>\n", r.Cluster)
	for i, a := range r.ZooKeeper {
		host, port, _ := net.SplitHostPort(a)
		fmt.Fprintf(&b, "    <node index=\"%d\"><host>%s</host><port>%s</port></node>\n", i+1, xmlText(host), xmlText(port))
	}
	fmt.Fprintf(&b, "    <session_timeout_ms>%d</session_timeout_ms>\n  </zookeeper>\n", r.SessionTimeout.Milliseconds())
	fmt.Fprintf(&b, "  <macros>\n    <shard>%s</shard>\n    <replica>%s</replica>\n  </macros>\n", r.Shard, r.Name)
	fmt.Fprintf(&b, "  <interserver_http_host>127.0.0.1</interserver_http_host>\n  <interserver_http_port>%d</interserver_http_port>\n", s.interserver)
	b.WriteString("  <distributed_ddl>\n    <path>/clickhouse/task_queue/ddl</path>\n  </distributed_ddl>\n")
	return b.String()
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// queryLogXML is added to configXML with Config.QueryLog: system.query_log, flushed every
// second. The same element on 18.16 and current servers.
const queryLogXML = `  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>1000</flush_interval_milliseconds>
  </query_log>
`

// usersXML has one user, default, without a password, reachable from loopback only. A
// poll_interval of 1 s (default 10) lets a stopping server close idle connections within a
// second instead of waiting ten.
const usersXML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <poll_interval>1</poll_interval>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
        <ip>::1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default></default>
  </quotas>
</yandex>
`

// FindBinary returns the command line that runs a server: BinaryEnv, clickhouse-server on PATH
// or in /usr/sbin (where Debian puts it, often not on a user's PATH), or clickhouse server. It
// returns an error wrapping ErrNoBinary when there is none.
func FindBinary() ([]string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("%s=%q is not an executable file: %w", BinaryEnv, p, ErrNoBinary)
		}
		if strings.HasSuffix(filepath.Base(p), "clickhouse") {
			return []string{p, "server"}, nil
		}
		return []string{p}, nil
	}
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return []string{p}, nil
	}
	for _, p := range []string{"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return []string{p}, nil
		}
	}
	if p, err := exec.LookPath("clickhouse"); err == nil {
		return []string{p, "server"}, nil
	}
	return nil, ErrNoBinary
}

// FreePorts returns n distinct loopback TCP ports that were free a moment ago (another process
// may take one before it is bound).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
