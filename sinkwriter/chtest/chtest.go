package chtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// InstallHint is the command that installs the server this package runs, on Debian and Ubuntu.
const InstallHint = "sudo apt-get update && sudo apt-get install -y clickhouse-server clickhouse-client" +
	" (or run scripts/ensure-clickhouse.sh as root)"

// BinaryEnv names the environment variable that, when set, is the path of the server binary to
// run: a clickhouse-server, or a single-binary clickhouse (run as "clickhouse server").
const BinaryEnv = "INGEST_CLICKHOUSE_BINARY"

// Timeouts of the server's life cycle.
const (
	readyTimeout = 90 * time.Second // from exec to the first answered SELECT 1 (a busy machine)
	stopTimeout  = 30 * time.Second // from SIGTERM to exit, before SIGKILL
	startTries   = 3                // a free port may be taken between picking and binding it
)

// Server is a private clickhouse-server process. Its methods are safe for concurrent use, but
// Start, Stop and Restart report failures with t.Fatal, so call them from the test's goroutine.
type Server struct {
	t    testing.TB
	bin  []string // the command line up to the config flag
	dir  string
	tcp  int
	http int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	conn driver.Conn   // opened on first use of Conn
}

// Start starts a private server and registers its shutdown with t.Cleanup. It skips t when no
// server binary is installed (fails it when CI=true), and fails t when the server does not
// answer SELECT 1 within 90 s.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ClickHouse is required under CI=true: %v; install it: %s", err, InstallHint)
		}
		t.Skipf("skipping: %v; install it: %s", err, InstallHint)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.cleanup)
	var lastErr error
	for range startTries {
		if s.tcp, s.http, err = freePorts(); err != nil {
			t.Fatalf("cannot pick free ports: %v", err)
		}
		if err = s.writeConfig(); err != nil {
			t.Fatalf("cannot write ClickHouse config: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		if !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	t.Fatalf("cannot start ClickHouse: %v", lastErr)
	return nil
}

// Addr returns the host:port of the native protocol (what clickhouse-go dials).
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.tcp) }

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

// Conn returns a connection pool to the server's default database, opened on first use and
// closed by the cleanup. It reconnects by itself after Restart.
func (s *Server) Conn() driver.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		conn, err := clickhouse.Open(s.Options(""))
		if err != nil {
			s.t.Fatalf("cannot open a connection to ClickHouse %q: %v", s.Addr(), err)
		}
		s.conn = conn
	}
	return s.conn
}

// PID returns the process id of the running server, or 0 when it is stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
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

// Stop stops the server: SIGTERM, then SIGKILL after 30 s. Its data stays for Restart. Stopping
// a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop(syscall.SIGTERM); err != nil {
		s.t.Fatalf("cannot stop ClickHouse: %v", err)
	}
}

// Kill kills the server with SIGKILL, as a crash would. Its data stays for Restart.
func (s *Server) Kill() {
	s.t.Helper()
	if err := s.stop(syscall.SIGKILL); err != nil {
		s.t.Fatalf("cannot kill ClickHouse: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same ports and data, waiting
// until it answers SELECT 1.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("cannot restart ClickHouse: %v", err)
	}
}

func (s *Server) cleanup() {
	s.mu.Lock()
	conn := s.conn
	s.conn = nil
	s.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		s.t.Errorf("cannot stop ClickHouse: %v", err)
	}
}

// start runs the server and waits until it answers.
func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("already running")
	}
	args := append(append([]string(nil), s.bin[1:]...), "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd := exec.Command(s.bin[0], args...)
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		s.mu.Unlock()
		return fmt.Errorf("cannot run %q: %w", s.bin[0], err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	if err := s.waitReady(done); err != nil {
		_ = s.stop(syscall.SIGKILL)
		return fmt.Errorf("%w\n%s", err, s.logTail())
	}
	return nil
}

// waitReady polls the HTTP interface with SELECT 1 until it answers 1, the process exits, or
// readyTimeout passes.
func (s *Server) waitReady(done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + s.HTTPAddr() + "/?query=SELECT%201"
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
			return fmt.Errorf("clickhouse-server did not answer SELECT 1 on %s within %v", s.HTTPAddr(), readyTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends sig to the server's process group and waits for it to exit, escalating to SIGKILL
// after stopTimeout.
func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = signalGroup(cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = signalGroup(cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(stopTimeout):
			return fmt.Errorf("clickhouse-server (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	}
	s.mu.Lock()
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	return nil
}

// logTail returns the end of the server's error log and stdout, for failure messages.
func (s *Server) logTail() string {
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
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	config := fmt.Sprintf(configXML, s.dir, s.tcp, s.http)
	if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(config), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(usersXML), 0o644)
}

// configXML is the server configuration: loopback only, everything under the test's directory,
// UTC, small caches. The root element <yandex> is what 18.16 reads; current servers accept it.
// Arguments: directory, native port, HTTP port.
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

// findBinary returns the command line that runs a server: BinaryEnv, clickhouse-server on PATH
// or in /usr/sbin (where Debian puts it, often not on a user's PATH), or clickhouse server.
func findBinary() ([]string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("%s=%q is not an executable file", BinaryEnv, p)
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
	return nil, errors.New("no clickhouse-server (nor clickhouse) binary on PATH or in /usr/sbin")
}

// freePorts returns two distinct free loopback TCP ports.
func freePorts() (int, int, error) {
	var ports [2]int
	var lns [2]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return 0, 0, err
		}
		lns[i] = ln
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for _, l := range lns {
		l.Close()
	}
	return ports[0], ports[1], nil
}
