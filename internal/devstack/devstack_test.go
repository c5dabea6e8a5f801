package devstack_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/ingestdev/ingest/internal/chserver"
	"github.com/ingestdev/ingest/internal/devstack"
	"github.com/ingestdev/ingest/internal/embedkafka"
	"github.com/ingestdev/ingest/internal/testkit"
)

// requireClickHouse skips the test when no ClickHouse is installed (fails it under CI=true),
// as package chtest does.
func requireClickHouse(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the whole dev stack under -short")
	}
	if _, err := chserver.FindBinary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ClickHouse is required under CI=true: %v; install it: %s", err, chserver.InstallHint)
		}
		t.Skipf("skipping: %v; install it: %s", err, chserver.InstallHint)
	}
}

// freeConfig is a stack on free ports in dir.
func freeConfig(dir string) devstack.Config {
	const free = "127.0.0.1:0"
	return devstack.Config{
		DataDir: dir, EdgeAddr: free, EdgeAdminAddr: free, ControlPlaneAddr: free, XDSAddr: free,
		NormalizerAddr: free, LegacyAddr: free, SinkWriterAddr: free, LoaderAddr: free, KafkaAddr: free, KafkaAdminAddr: free,
		ClickHouseTCPPort: 0, ClickHouseHTTPPort: 0,
	}
}

// startStack starts a stack and registers a cleanup that stops it (if the test did not) and
// checks that it stopped cleanly.
func startStack(t *testing.T, cfg devstack.Config, logs *testkit.SyncBuffer) *devstack.Stack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := devstack.Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("cannot start the dev stack: %v", err)
	}
	t.Cleanup(func() { stopStack(t, s) })
	return s
}

func stopStack(t *testing.T, s *devstack.Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("the dev stack did not stop cleanly: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("stopping took %v", d)
	}
}

// sendDemoEvent does what the banner's curl does: POST one NDJSON event to the edge with the
// demo key, trusting the development CA only.
func sendDemoEvent(t *testing.T, info devstack.Info, body string) {
	t.Helper()
	pool, err := info.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	if !strings.HasPrefix(info.EdgeURL, "https://localhost:") {
		t.Fatalf("edge URL %q, want https://localhost:<port>", info.EdgeURL)
	}
	event := `{"type":"log","ts":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","severity":"info","body":"` + body + `"}` + "\n"
	req, err := http.NewRequest(http.MethodPost, info.EdgeURL+"/v1/events", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+info.DemoKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("cannot send the demo event: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"accepted":1`) {
		t.Fatalf("demo event: %s %s, want 200 with one accepted", resp.Status, b)
	}
}

// waitForBodies polls ClickHouse with the banner's query until every body in want is there.
func waitForBodies(t *testing.T, info devstack.Info, want ...string) {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{info.ClickHouseAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got []string
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, lastErr = queryBodies(conn, info.DemoQuery())
		if lastErr == nil && containsAll(got, want) {
			return
		}
	}
	t.Fatalf("the banner's query shows bodies %q (err %v) after 30s, want %q", got, lastErr, want)
}

func queryBodies(conn clickhouse.Conn, query string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bodies []string
	for rows.Next() {
		var (
			ts       time.Time
			severity string
			body     string
		)
		if err := rows.Scan(&ts, &severity, &body); err != nil {
			return nil, err
		}
		bodies = append(bodies, body)
	}
	return bodies, rows.Err()
}

func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// TestDemoCurlEventShowsInPrintedQueryAndSurvivesRestart is issue 6's "done when": the banner's
// curl sends an event that the banner's query shows; a restart on the same data directory
// keeps the tenant, its key and the data.
func TestDemoCurlEventShowsInPrintedQueryAndSurvivesRestart(t *testing.T) {
	requireClickHouse(t)
	logs := testkit.Logs(t)
	dir := t.TempDir()

	s := startStack(t, freeConfig(dir), logs)
	first := s.Info()
	if first.DemoKey == "" || first.AdminToken == "" {
		t.Fatalf("no demo key or admin token: %+v", first)
	}
	var banner strings.Builder
	if err := devstack.WriteBanner(&banner, first); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"curl --cacert " + first.CAFile, "Authorization: Bearer " + first.DemoKey, first.EdgeURL + "/v1/events",
		first.DemoQuery(), "otlphttp:", "ca_file:", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_CERTIFICATE",
		"INGEST_SERVER=" + first.ControlPlane, "INGEST_TOKEN=", "ingestctl tenants list",
	} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	if st, err := os.Stat(first.DemoKeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("demo key file %q: %v, mode %v; want mode 0600", first.DemoKeyFile, err, st.Mode().Perm())
	}
	sendDemoEvent(t, first, "hello before restart")
	waitForBodies(t, first, "hello before restart")
	stopStack(t, s)

	// A restart on the same directory (other ports) keeps the tenant, its key and the data.
	s2 := startStack(t, freeConfig(dir), logs)
	second := s2.Info()
	if second.DemoKey != first.DemoKey {
		t.Errorf("demo key after restart %q, want the first one %q", second.DemoKey, first.DemoKey)
	}
	if second.AdminToken != first.AdminToken {
		t.Error("the admin token changed across the restart")
	}
	waitForBodies(t, second, "hello before restart")
	sendDemoEvent(t, second, "hello after restart")
	waitForBodies(t, second, "hello before restart", "hello after restart")
}

func TestStartFailureStopsWhatStartedAndSaysWhy(t *testing.T) {
	requireClickHouse(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := freeConfig(dir)
	cfg.NormalizerAddr = taken.Addr().String() // ClickHouse, Kafka, sink writer and loader start first
	logs := &testkit.SyncBuffer{}
	_, err = devstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err == nil || !strings.Contains(err.Error(), "cannot listen on \""+cfg.NormalizerAddr+"\" for the normalizer") {
		t.Fatalf("Start with the normalizer's port taken: %v, want a clear error", err)
	}
	// What started was stopped: Kafka's data directory is free again, ClickHouse is gone.
	k, err := embedkafka.Start(embedkafka.Config{DataDir: filepath.Join(dir, "kafka"), Listen: []string{"127.0.0.1:0"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Kafka's data directory is still held after the failed start: %v", err)
	}
	_ = k.Close(context.Background())
	for _, service := range []string{"clickhouse", "kafka", "sinkwriter", "loader"} {
		if !strings.Contains(logs.String(), "msg=stopped service="+service) {
			t.Errorf("no log that %s was stopped:\n%s", service, logs.String())
		}
	}
}

// readyz answers GET url's status and body.
func readyz(url string) (int, string) {
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestEveryServiceIsReadyOnlyWhenItIs checks the /readyz of every service of the stack, and
// that the loader's follows ClickHouse: 503 while its ClickHouse is down, 200 once it is back.
func TestEveryServiceIsReadyOnlyWhenItIs(t *testing.T) {
	requireClickHouse(t)
	logs := testkit.Logs(t)
	s := startStack(t, freeConfig(t.TempDir()), logs)
	info := s.Info()
	services := []string{"kafka", "sinkwriter", "loader", "normalizer", "legacy", "controlplane", "edge"}
	for _, name := range services {
		url, ok := info.Readyz[name]
		if !ok {
			t.Errorf("Info.Readyz lacks the %s", name)
			continue
		}
		if code, body := readyz(url); code != http.StatusOK || body != "ready" {
			t.Errorf("%s %s: %d %q, want 200 ready", name, url, code, body)
		}
		base := strings.TrimSuffix(url, "/readyz")
		if code, _ := readyz(base + "/healthz"); code != http.StatusOK {
			t.Errorf("%s /healthz: %d", name, code)
		}
		if code, body := readyz(base + "/metrics"); code != http.StatusOK || !strings.Contains(body, "# TYPE") {
			t.Errorf("%s /metrics: %d", name, code)
		}
	}

	loader := info.Readyz["loader"]
	if err := s.ClickHouse().Stop(); err != nil {
		t.Fatal(err)
	}
	var code int
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, body = readyz(loader); code == http.StatusServiceUnavailable {
			break
		}
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "ClickHouse") {
		t.Fatalf("loader /readyz with ClickHouse down: %d %q, want 503 naming ClickHouse", code, body)
	}
	// The services that do not depend on ClickHouse stay ready.
	for _, name := range []string{"sinkwriter", "normalizer", "edge"} {
		if code, body := readyz(info.Readyz[name]); code != http.StatusOK {
			t.Errorf("%s with ClickHouse down: %d %q, want 200", name, code, body)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.ClickHouse().Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, body = readyz(loader); code == http.StatusOK {
			break
		}
	}
	if code != http.StatusOK {
		t.Fatalf("loader /readyz once ClickHouse is back: %d %q, want 200", code, body)
	}
	sendDemoEvent(t, info, "hello after ClickHouse came back")
	waitForBodies(t, info, "hello after ClickHouse came back")
}
