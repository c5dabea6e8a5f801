package chserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ZooKeeperInstallHint is the command that installs the ZooKeeper this package runs, on Debian
// and Ubuntu.
const ZooKeeperInstallHint = "sudo apt-get update && sudo apt-get install -y --no-install-recommends zookeeper" +
	" (or run scripts/ensure-zookeeper.sh as root)"

// ZooKeeperJarEnv names the environment variable that, when set, is the path of the ZooKeeper
// server jar to run (its manifest must name its dependencies, as Debian's does).
const ZooKeeperJarEnv = "INGEST_ZOOKEEPER_JAR"

// debianZooKeeperJar is where Debian's package libzookeeper-java puts the server jar.
const debianZooKeeperJar = "/usr/share/java/zookeeper.jar"

// slf4jSimpleJar is Debian's SLF4J binding that logs to stderr (package libslf4j-java).
const slf4jSimpleJar = "/usr/share/java/slf4j-simple.jar"

// ErrNoZooKeeper is returned by FindZooKeeper and StartZooKeeper when ZooKeeper or java is not
// installed.
var ErrNoZooKeeper = errors.New("no ZooKeeper jar (" + debianZooKeeperJar + ") or no java on PATH")

// ZooKeeperConfig configures a private ZooKeeper.
type ZooKeeperConfig struct {
	// Dir holds the configuration (zoo.cfg), the data (data/) and the output (zookeeper.log).
	// Required; created (0700) if missing. What a previous server left there is kept.
	Dir string
	// Port is the loopback client port. 0 picks a free port (and retries with a new one if it is
	// taken before the server binds it).
	Port int
	// ReadyTimeout bounds the wait from exec until the server serves. Default
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// ZooKeeper is a private standalone ZooKeeper process. Its methods are safe for concurrent use.
type ZooKeeper struct {
	argv         []string // java … QuorumPeerMain, without the config file
	dir          string
	port         int
	readyTimeout time.Duration

	mu   sync.Mutex
	proc *process // nil: stopped
}

// FindZooKeeper returns the command line that runs a ZooKeeper server up to its configuration
// file: java with ZooKeeperJarEnv's jar or Debian's on the classpath. It returns an error
// wrapping ErrNoZooKeeper when either is missing.
func FindZooKeeper() ([]string, error) {
	jar := debianZooKeeperJar
	if p := os.Getenv(ZooKeeperJarEnv); p != "" {
		jar = p
	}
	if fi, err := os.Stat(jar); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("%q is not a file: %w", jar, ErrNoZooKeeper)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("java: %w", ErrNoZooKeeper)
	}
	// Debian's jar logs through SLF4J and ships no binding: with slf4j-simple (where installed)
	// its warnings and errors reach zookeeper.log.
	cp := jar
	if _, err := os.Stat(slf4jSimpleJar); err == nil {
		cp += ":" + slf4jSimpleJar
	}
	// A small heap and the serial collector: a test's ZooKeeper holds a few thousand nodes.
	return []string{java, "-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-Xss512k",
		"-Dzookeeper.admin.enableServer=false", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", cp, "org.apache.zookeeper.server.quorum.QuorumPeerMain"}, nil
}

// StartZooKeeper writes the configuration into cfg.Dir, runs a standalone server and returns
// once it serves (its "srvr" answer says "Mode: standalone"). It fails with an error wrapping ErrNoZooKeeper when
// ZooKeeper or java is not installed, and with the tail of the server's output when it does not
// come up within cfg.ReadyTimeout or ctx.
func StartZooKeeper(ctx context.Context, cfg ZooKeeperConfig) (*ZooKeeper, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cannot start ZooKeeper: no directory")
	}
	argv, err := FindZooKeeper()
	if err != nil {
		return nil, fmt.Errorf("cannot start ZooKeeper: %w; install it: %s", err, ZooKeeperInstallHint)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot start ZooKeeper in %q: %w", cfg.Dir, err)
	}
	z := &ZooKeeper{argv: argv, dir: dir, readyTimeout: cfg.ReadyTimeout}
	if z.readyTimeout <= 0 {
		z.readyTimeout = DefaultReadyTimeout
	}
	var lastErr error
	for range startTries {
		z.port = cfg.Port
		if z.port == 0 {
			ports, err := FreePorts(1)
			if err != nil {
				return nil, fmt.Errorf("cannot pick a free port for ZooKeeper: %w", err)
			}
			z.port = ports[0]
		}
		if err := z.writeConfig(); err != nil {
			return nil, fmt.Errorf("cannot write the ZooKeeper configuration into %q: %w", dir, err)
		}
		if lastErr = z.start(ctx); lastErr == nil {
			return z, nil
		}
		if cfg.Port != 0 || !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	return nil, fmt.Errorf("cannot start ZooKeeper in %q: %w", dir, lastErr)
}

// Addr returns the host:port of the client port.
func (z *ZooKeeper) Addr() string { return "127.0.0.1:" + strconv.Itoa(z.port) }

// Dir returns the server's directory: zoo.cfg, data/ and zookeeper.log.
func (z *ZooKeeper) Dir() string { return z.dir }

// Stop stops the server: SIGTERM, then SIGKILL after 30 s. Its data stays. Stopping a stopped
// server does nothing.
func (z *ZooKeeper) Stop() error {
	z.mu.Lock()
	p := z.proc
	z.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.stop(syscall.SIGTERM, stopTimeout); err != nil {
		return fmt.Errorf("cannot stop ZooKeeper: %w", err)
	}
	z.mu.Lock()
	z.proc = nil
	z.mu.Unlock()
	return nil
}

func (z *ZooKeeper) start(ctx context.Context) error {
	z.mu.Lock()
	if z.proc != nil {
		z.mu.Unlock()
		return errors.New("already running")
	}
	argv := append(append([]string(nil), z.argv...), filepath.Join(z.dir, "zoo.cfg"))
	p, err := startProcess(argv, z.dir, filepath.Join(z.dir, "zookeeper.log"))
	if err != nil {
		z.mu.Unlock()
		return err
	}
	z.proc = p
	z.mu.Unlock()
	if err := z.waitReady(ctx, p.done); err != nil {
		_ = z.Stop()
		return fmt.Errorf("%w\n%s", err, z.logTail())
	}
	return nil
}

// waitReady sends "srvr" until the server says it serves ("Mode: standalone"; "ruok" answers
// "imok" before the server takes sessions), the process exits, ctx is done or the ready timeout
// passes.
func (z *ZooKeeper) waitReady(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, z.readyTimeout)
	defer cancel()
	for {
		if strings.Contains(fourLetterWord(z.Addr(), "srvr"), "Mode: standalone") {
			return nil
		}
		select {
		case <-done:
			return errors.New("ZooKeeper exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("ZooKeeper did not serve on %s within %v: %w", z.Addr(), z.readyTimeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fourLetterWord sends a ZooKeeper four-letter command and returns the answer ("" on error).
func fourLetterWord(addr, word string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(word)); err != nil {
		return ""
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

// logTail returns the end of the server's output, for failure messages.
func (z *ZooKeeper) logTail() string {
	data, err := os.ReadFile(filepath.Join(z.dir, "zookeeper.log"))
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return "--- zookeeper.log (tail):\n" + string(data)
}

func (z *ZooKeeper) writeConfig() error {
	if err := os.MkdirAll(filepath.Join(z.dir, "data"), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(z.dir, "zoo.cfg"), []byte(fmt.Sprintf(zooCfg, z.dir, z.port)), 0o644)
}

// zooCfg is a standalone server on loopback: ticks of 500 ms (sessions of 1 to 10 s, what
// ClickHouse asks for within that), no admin HTTP server, ruok and srvr only. Arguments:
// directory, client port.
const zooCfg = `tickTime=500
minSessionTimeout=1000
maxSessionTimeout=30000
dataDir=%[1]s/data
clientPort=%[2]d
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
maxClientCnxns=0
`
