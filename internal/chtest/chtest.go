package chtest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/internal/chserver"
)

// InstallHint is the command that installs the server this package runs, on Debian and Ubuntu.
const InstallHint = chserver.InstallHint

// BinaryEnv names the environment variable that, when set, is the path of the server binary to
// run: a clickhouse-server, or a single-binary clickhouse (run as "clickhouse server").
const BinaryEnv = chserver.BinaryEnv

// Server is a private clickhouse-server process (a chserver.Server bound to a test). Its
// methods are safe for concurrent use, but Start, Stop and Restart report failures with
// t.Fatal, so call them from the test's goroutine.
type Server struct {
	t  testing.TB
	cs *chserver.Server

	mu   sync.Mutex
	conn driver.Conn // opened on first use of Conn
}

// Start starts a private server in a temporary directory on free ports and registers its
// shutdown with t.Cleanup. It skips t when no server binary is installed (fails it when
// CI=true), and fails t when the server does not answer SELECT 1 within 90 s.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartConfig(t, chserver.Config{})
}

// StartConfig is Start with cfg's options (QueryLog, ReadyTimeout); its Dir, ports and Binary
// are chosen as Start chooses them.
func StartConfig(t testing.TB, cfg chserver.Config) *Server {
	t.Helper()
	cfg.Dir, cfg.Binary, cfg.TCPPort, cfg.HTTPPort = t.TempDir(), findBinary(t), 0, 0
	return start(t, cfg)
}

// findBinary returns the server's command line, or skips t (fails it under CI=true).
func findBinary(t testing.TB) []string {
	t.Helper()
	bin, err := chserver.FindBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ClickHouse is required under CI=true: %v; install it: %s", err, InstallHint)
		}
		t.Skipf("skipping: %v; install it: %s", err, InstallHint)
	}
	return bin
}

// start starts a server with cfg and registers its shutdown.
func start(t testing.TB, cfg chserver.Config) *Server {
	t.Helper()
	cs, err := chserver.Start(context.Background(), cfg)
	if err != nil {
		if errors.Is(err, chserver.ErrNoBinary) {
			t.Skipf("skipping: %v", err)
		}
		t.Fatalf("%v", err)
	}
	s := &Server{t: t, cs: cs}
	t.Cleanup(s.cleanup)
	return s
}

// Addr returns the host:port of the native protocol (what clickhouse-go dials).
func (s *Server) Addr() string { return s.cs.Addr() }

// HTTPAddr returns the host:port of the HTTP interface.
func (s *Server) HTTPAddr() string { return s.cs.HTTPAddr() }

// Dir returns the server's directory: config, data and logs (log/).
func (s *Server) Dir() string { return s.cs.Dir() }

// Options returns clickhouse-go options for the server with database as the default database
// ("" is "default").
func (s *Server) Options(database string) *clickhouse.Options { return s.cs.Options(database) }

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

// LogTail returns the end of the server's error log and stdout, for failure messages.
func (s *Server) LogTail() string { return s.cs.LogTail() }

// PID returns the process id of the running server, or 0 when it is stopped.
func (s *Server) PID() int { return s.cs.PID() }

// CPUTime returns the CPU time (user plus system) the running server has used so far, read
// from /proc; 0 where that is not available.
func (s *Server) CPUTime() time.Duration { return s.cs.CPUTime() }

// Stop stops the server: SIGTERM, then SIGKILL after 30 s. Its data stays for Restart. Stopping
// a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.cs.Stop(); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// Kill kills the server with SIGKILL, as a crash would. Its data stays for Restart.
func (s *Server) Kill() {
	s.t.Helper()
	if err := s.cs.Kill(); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same ports and data, waiting
// until it answers SELECT 1.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.cs.Restart(context.Background()); err != nil {
		s.t.Fatalf("%v", err)
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
	if err := s.cs.Stop(); err != nil {
		s.t.Errorf("%v", err)
	}
}
