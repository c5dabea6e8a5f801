package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	cpclient "github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

// readyTimeout bounds the wait for one service to be ready.
const readyTimeout = 60 * time.Second

var buildDir string

// builds builds each command of the module once per test run: its path, or why not.
var builds = map[string]func() (string, error){
	"ingest":    sync.OnceValues(func() (string, error) { return buildCommand("ingest") }),
	"ingestctl": sync.OnceValues(func() (string, error) { return buildCommand("ingestctl") }),
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// ingestBinary builds cmd/ingest once per test run and returns its path.
func ingestBinary(t *testing.T) string { return binary(t, "ingest") }

// ingestctlBinary builds cmd/ingestctl once per test run and returns its path.
func ingestctlBinary(t *testing.T) string { return binary(t, "ingestctl") }

// binary builds cmd/<name> once per test run and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	p, err := builds[name]()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var buildDirOnce sync.Once

// buildCommand builds cmd/<name> into the run's build directory and returns its path.
func buildCommand(name string) (string, error) {
	var err error
	buildDirOnce.Do(func() { buildDir, err = os.MkdirTemp("", "ingest-e2e-") })
	if err != nil {
		return "", err
	}
	if buildDir == "" {
		return "", errors.New("cannot build: no build directory")
	}
	path := filepath.Join(buildDir, name)
	cmd := exec.Command("go", "build", "-o", path, "github.com/ingestdev/ingest/cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cannot build cmd/%s: %w\n%s", name, err, out)
	}
	return path, nil
}

// proc is one service process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan struct{}
	// alive ends when the process exits, its cause saying how.
	alive context.Context
}

// harness starts processes of the ingest binary and stops them all when the test ends,
// printing their output when it failed.
type harness struct {
	t     *testing.T
	bin   string
	dir   string
	mu    sync.Mutex
	procs []*proc

	// The internal hops are authenticated as in production: one hop key for the control
	// plane (edges), normalizers and sink writers, which list the tenants from the control
	// plane at cpAdmin with the admin token. All made at first use.
	hopKeyFile, tokenFile, token, cpAdmin string
}

// hopKey returns the harness's hop key file.
func (h *harness) hopKey() string {
	if h.hopKeyFile == "" {
		b := make([]byte, 32) // secret()'s 24 bytes are fewer than a hop key's minimum
		_, _ = rand.Read(b)
		h.hopKeyFile = h.writeFile("hop.key", hex.EncodeToString(b)+"\n")
	}
	return h.hopKeyFile
}

// adminToken returns the admin token of the harness's control planes and the file holding it.
func (h *harness) adminToken() (string, string) {
	if h.token == "" {
		h.token = secret()
		h.tokenFile = h.writeFile("admin-token", h.token+"\n")
	}
	return h.token, h.tokenFile
}

// cpAdminAddr returns the admin address of the harness's first control plane, which the sink
// writers (started before it) list the tenants from.
func (h *harness) cpAdminAddr() string {
	if h.cpAdmin == "" {
		h.cpAdmin = testkit.FreeAddr(h.t)
	}
	return h.cpAdmin
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the end-to-end test in -short mode")
	}
	h := &harness{t: t, bin: ingestBinary(t), dir: t.TempDir()}
	t.Cleanup(h.stop)
	return h
}

// start runs `ingest <args...>` as process name with env added to the test's environment.
func (h *harness) start(name string, env []string, args ...string) *proc {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	alive, exited := context.WithCancelCause(context.Background())
	p := &proc{name: name, cmd: cmd, out: &testkit.SyncBuffer{}, done: make(chan struct{}), alive: alive}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("cannot start %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait()
		exited(fmt.Errorf("%s exited: %v", name, cmd.ProcessState))
		close(p.done)
	}()
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	return p
}

// run runs `ingest <args...>` to completion and fails the test when it does not exit 0.
func (h *harness) run(name string, args ...string) {
	h.t.Helper()
	p := h.start(name, nil, args...)
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		h.t.Fatalf("%s did not finish within 2 minutes", name)
	}
	if !p.cmd.ProcessState.Success() {
		h.t.Fatalf("%s failed: %v", name, p.cmd.ProcessState)
	}
}

// pause stops p (SIGSTOP) until the test ends or resume.
func (p *proc) pause(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("cannot pause %s: %v", p.name, err)
	}
}

// resume continues p (SIGCONT) after pause.
func (p *proc) resume(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("cannot resume %s: %v", p.name, err)
	}
}

// writeFile writes content to name in the harness's directory (0600) and returns its path.
func (h *harness) writeFile(name, content string) string {
	h.t.Helper()
	path := filepath.Join(h.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// secret returns a fresh random token of 48 hex digits.
func secret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (h *harness) stop() {
	h.mu.Lock()
	procs := h.procs
	h.procs = nil
	h.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	}
	if h.t.Failed() {
		for _, p := range procs {
			out := p.out.String()
			if len(out) > 16<<10 {
				out = "…" + out[len(out)-16<<10:]
			}
			h.t.Logf("---- output of %s (%s) ----\n%s", p.name, strings.Join(p.cmd.Args[1:], " "), out)
		}
	}
}

// waitHTTP polls url until it answers 200, failing the test when p exits or after readyTimeout.
func (h *harness) waitHTTP(p *proc, url string) {
	h.t.Helper()
	testkit.WaitHTTP(p.alive, h.t, url, readyTimeout)
}

// waitTCP waits until addr accepts connections, failing the test when p exits or after
// readyTimeout.
func (h *harness) waitTCP(p *proc, addr string) {
	h.t.Helper()
	err := testkit.Poll(p.alive, readyTimeout, 50*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		h.t.Fatalf("%s does not listen on %s: %v", p.name, addr, err)
	}
}

// startKafka starts `ingest kafka` with one partition per topic and returns its address.
func (h *harness) startKafka(name string) (*proc, string) {
	addr := testkit.FreeAddr(h.t)
	p := h.start(name, nil, "kafka", "--data-dir", filepath.Join(h.dir, name), "--listen", addr, "--default-partitions", "1")
	h.waitTCP(p, addr)
	return p, addr
}

// startSinkWriter starts `ingest sinkwriter` on kafka with extra flags and returns its URL.
func (h *harness) startSinkWriter(name, kafka string, extra ...string) string {
	_, url := h.startSinkWriterProc(name, kafka, extra...)
	return url
}

// startSinkWriterProc is startSinkWriter that also returns the process.
func (h *harness) startSinkWriterProc(name, kafka string, extra ...string) (*proc, string) {
	addr := testkit.FreeAddr(h.t)
	_, tokenFile := h.adminToken()
	p := h.start(name, nil, append([]string{"sinkwriter", "--listen", addr, "--brokers", kafka, "--topic-partitions", "1",
		"--hop-key-file", h.hopKey(), "--tenants-url", "http://" + h.cpAdminAddr(), "--tenants-token-file", tokenFile}, extra...)...)
	h.waitHTTP(p, "http://"+addr+"/readyz")
	return p, "http://" + addr
}

// startNormalizer starts `ingest normalizer` writing to the sink writer at sinkURL, with extra
// flags, and returns its address.
func (h *harness) startNormalizer(name, sinkURL string, extra ...string) string {
	addr := testkit.FreeAddr(h.t)
	p := h.start(name, nil, append([]string{"normalizer", "--listen", addr, "--sink-url", sinkURL, "--hop-key-file", h.hopKey()}, extra...)...)
	h.waitHTTP(p, "http://"+addr+"/readyz")
	return addr
}

// controlPlane is a running `ingest controlplane` serving xDS, with an admin client.
type controlPlane struct {
	cp       *cpclient.Client
	adminURL string // http://127.0.0.1:<port>
	token    string // the admin token
	xdsAddr  string
	certFile string // PEM of the edge listener's self-signed certificate (served over SDS)
	pool     *x509.CertPool
	xdsPKI   *testcert.MTLS // mutual TLS of the xDS port: its CA, the server's and the edges' certificates
}

// edgeStack is a control plane and an edge serving its xDS configuration over TLS.
type edgeStack struct {
	h      *harness
	cp     *cpclient.Client
	url    string // https://127.0.0.1:<port>
	admin  string // http://<the edge's admin listener>
	caFile string // PEM of the edge's self-signed certificate, for clients in other processes
	client *http.Client
}

// startEdge starts `ingest controlplane` (with cpFlags added), sets the upstreams v1 and v2
// (host:port), then starts `ingest edge` and waits until it is ready.
func (h *harness) startEdge(name, v1, v2 string, cpFlags ...string) *edgeStack {
	h.t.Helper()
	cp := h.startControlPlane(name, "", v1, v2, cpFlags...)
	return h.startGoEdge(cp, name)
}

// startControlPlane starts `ingest controlplane` as name+"-controlplane" with its admin API on
// adminAddr (empty: a free port) and cpFlags added, and sets the upstreams v1 and v2
// (host:port).
func (h *harness) startControlPlane(name, adminAddr, v1, v2 string, cpFlags ...string) *controlPlane {
	t := h.t
	t.Helper()
	dir := filepath.Join(h.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := writeTLS(t, dir)
	xdsPKI := writeXDSMTLS(t, dir)
	token, _ := h.adminToken()
	if adminAddr == "" {
		adminAddr = h.cpAdminAddr()
	}
	xdsAddr := testkit.FreeAddr(t)
	cpProc := h.start(name+"-controlplane", []string{"INGEST_ADMIN_TOKEN=" + token}, append([]string{"controlplane",
		"--admin-listen", adminAddr, "--data", filepath.Join(dir, "controlplane.db"), "--xds-listen", xdsAddr,
		"--tls-cert", certFile, "--tls-key", keyFile, "--hop-key-file", h.hopKey(),
		"--xds-cert", xdsPKI.ServerCertFile, "--xds-key", xdsPKI.ServerKeyFile, "--xds-client-ca", xdsPKI.CAFile}, cpFlags...)...)
	h.waitHTTP(cpProc, "http://"+adminAddr+"/healthz")
	cl, err := cpclient.New("http://"+adminAddr, token, cpclient.WithActor("e2e"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.SetUpstreams(ctx, 0, []registry.Endpoint{endpointOf(t, v1)}, []registry.Endpoint{endpointOf(t, v2)}); err != nil {
		t.Fatalf("cannot set the upstreams: %v", err)
	}
	return &controlPlane{cp: cl, adminURL: "http://" + adminAddr, token: token, xdsAddr: xdsAddr, certFile: certFile, pool: pool, xdsPKI: xdsPKI}
}

// startGoEdge starts `ingest edge` as name+"-edge" (xDS node id name) on cp and waits until it
// is ready.
func (h *harness) startGoEdge(cp *controlPlane, name string) *edgeStack {
	t := h.t
	t.Helper()
	edgeAddr, edgeAdmin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	edgeProc := h.start(name+"-edge", nil, "edge", "--listen", edgeAddr, "--admin-listen", edgeAdmin, "--xds", cp.xdsAddr, "--node-id", name,
		"--xds-ca", cp.xdsPKI.CAFile, "--xds-cert", cp.xdsPKI.ClientCertFile, "--xds-key", cp.xdsPKI.ClientKeyFile)
	h.waitHTTP(edgeProc, "http://"+edgeAdmin+"/readyz")
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: cp.pool, MinVersion: tls.VersionTLS12, ServerName: "localhost"},
		MaxIdleConnsPerHost: 64,
	}}
	t.Cleanup(hc.CloseIdleConnections)
	return &edgeStack{h: h, cp: cp.cp, url: "https://" + edgeAddr, admin: "http://" + edgeAdmin, caFile: cp.certFile, client: hc}
}

func endpointOf(t *testing.T, hostport string) registry.Endpoint {
	t.Helper()
	ap, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	return registry.Endpoint{Host: ap.IP.String(), Port: uint32(ap.Port)}
}

// tenant creates a tenant at stage with quotas (nil: unlimited) and an API key, and waits
// until the edge routes the key to an upstream (see waitRouted).
func (s *edgeStack) tenant(id, stage string, q *registry.Quotas) string {
	t := s.h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.cp.CreateTenant(ctx, api.CreateTenantRequest{ID: id, Stage: stage, Quotas: q}); err != nil {
		t.Fatalf("cannot create tenant %q: %v", id, err)
	}
	k, err := s.cp.CreateKey(ctx, id)
	if err != nil {
		t.Fatalf("cannot create a key for tenant %q: %v", id, err)
	}
	s.waitRouted(id, k.Key)
	return k.Key
}

// waitRouted waits until the edge routes tenant id's key to an upstream: a GET is answered
// 405 there, 401 while the edge does not know the key yet.
func (s *edgeStack) waitRouted(id, key string) {
	t := s.h.t
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := s.client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusMethodNotAllowed {
				return
			}
			last = resp.Status + ": " + strings.TrimSpace(string(body))
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the edge at %s does not route tenant %q's key within 20s (last answer: %s)", s.url, id, last)
}

// answer is what the edge answered to one request.
type answer struct {
	status     int
	retryAfter string
	body       string
	err        error
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d (Retry-After %q): %s", a.status, a.retryAfter, strings.TrimSpace(a.body))
}

// send posts body as NDJSON with key to the edge.
func (s *edgeStack) send(ctx context.Context, key string, body []byte) answer {
	return s.sendAs(ctx, "", key, body)
}

// sendAs is send with the authority host (empty: the edge's URL's).
func (s *edgeStack) sendAs(ctx context.Context, host, key string, body []byte) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
}

// ndjson returns n log events of tenant, each body padded to at least pad bytes.
func ndjson(tenant string, n, pad int) []byte {
	var b bytes.Buffer
	filler := strings.Repeat("x", pad)
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range n {
		fmt.Fprintf(&b, "{\"type\":\"log\",\"ts\":%q,\"severity\":\"INFO\",\"body\":\"e2e %s %d %s\"}\n", ts, tenant, i, filler)
	}
	return b.Bytes()
}

// writeTLS writes a self-signed certificate for localhost, 127.0.0.1 and ::1 (its own CA) to
// dir and returns the files and a pool that trusts it.
func writeTLS(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool, err := testcert.Write(dir, "localhost", "127.0.0.1", "::1")
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// writeXDSMTLS writes the mutual TLS files of the xDS port to dir/xds: a CA, the control
// plane's xDS server certificate for 127.0.0.1 and an edge client certificate.
func writeXDSMTLS(t *testing.T, dir string) *testcert.MTLS {
	t.Helper()
	xdsDir := filepath.Join(dir, "xds")
	if err := os.MkdirAll(xdsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pki, err := testcert.WriteMTLS(xdsDir, "e2e-edge", "127.0.0.1", "localhost", "::1")
	if err != nil {
		t.Fatal(err)
	}
	return pki
}
