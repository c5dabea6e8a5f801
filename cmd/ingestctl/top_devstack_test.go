package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/chserver"
	"github.com/ingestdev/ingest/internal/devstack"
	"github.com/ingestdev/ingest/internal/testkit"
)

// startDevStack starts the whole pipeline in-process on free ports (package devstack), stopped
// when the test ends. It skips the test under -short and when no ClickHouse is installed (fails
// it under CI=true), as package chtest does.
func startDevStack(t *testing.T) devstack.Info {
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
	const free = "127.0.0.1:0"
	cfg := devstack.Config{
		DataDir: t.TempDir(), EdgeAddr: free, EdgeAdminAddr: free, ControlPlaneAddr: free, XDSAddr: free,
		NormalizerAddr: free, LegacyAddr: free, SinkWriterAddr: free, LoaderAddr: free, KafkaAddr: free, KafkaAdminAddr: free,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := testkit.Logs(t)
	s, err := devstack.Start(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatalf("cannot start the dev stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("the dev stack did not stop cleanly: %v", err)
		}
	})
	return s.Info()
}

// stackScrape is the --scrape list of a dev stack: each service's /metrics, beside its /readyz.
func stackScrape(info devstack.Info) string {
	var parts []string
	for _, name := range []string{"edge", "normalizer", "sinkwriter", "loader"} {
		parts = append(parts, name+"="+strings.TrimSuffix(info.Readyz[name], "/readyz")+"/metrics")
	}
	return strings.Join(parts, ",")
}

// eventSender posts NDJSON batches of the demo tenant to the edge, as a client does.
type eventSender struct {
	hc   *http.Client
	info devstack.Info
}

func newEventSender(t *testing.T, info devstack.Info) *eventSender {
	t.Helper()
	pool, err := info.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	return &eventSender{hc: hc, info: info}
}

// send posts n log events in one request and checks that all were accepted.
func (s *eventSender) send(n int) error {
	var body strings.Builder
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range n {
		fmt.Fprintf(&body, `{"type":"log","ts":"%s","severity":"info","body":"top %d"}`+"\n", ts, i)
	}
	req, err := http.NewRequest(http.MethodPost, s.info.EdgeURL+"/v1/events", strings.NewReader(body.String()))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.info.DemoKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), fmt.Sprintf(`"accepted":%d`, n)) {
		return fmt.Errorf("%s %s, want 200 with %d accepted", resp.Status, b, n)
	}
	return nil
}

// sendWhile sends batches of 10 events every 50 ms until stop is closed, and returns the
// events sent and the first error.
func (s *eventSender) sendWhile(stop <-chan struct{}) (sent int, err error) {
	for {
		select {
		case <-stop:
			return sent, nil
		case <-time.After(50 * time.Millisecond):
		}
		if err := s.send(10); err != nil {
			return sent, err
		}
		sent += 10
	}
}

// waitLoaded waits until the loader's metrics show rows of the demo tenant loaded.
func waitLoaded(t *testing.T, info devstack.Info) {
	t.Helper()
	url := strings.TrimSuffix(info.Readyz["loader"], "/readyz") + "/metrics"
	want := `ingest_loader_tenant_visibility_seconds_count{tenant="` + info.DemoTenant + `"}`
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), want) {
			return
		}
	}
	t.Fatalf("the loader loaded no row of the demo tenant within 60s (%s lacks %s)", url, want)
}

// TestTopAgainstTheDevStackShowsTheTenantsEventsAndStage is issue 16's "done when" for
// `ingestctl top`: with events flowing through the whole pipeline (edge → normalizer → sink
// writer → Kafka → loader → ClickHouse), top's JSON and plain frames show the demo tenant with
// accepted events/s above zero, its stage, and its topic's lag, every target up.
func TestTopAgainstTheDevStackShowsTheTenantsEventsAndStage(t *testing.T) {
	info := startDevStack(t)
	sender := newEventSender(t, info)
	if err := sender.send(10); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	// The loader may be assigned the demo topic's partition a moment after the stack is ready:
	// wait until it loaded the first batch, so that it reports the topic's lag.
	waitLoaded(t, info)
	top := func(args ...string) result {
		var out, errb strings.Builder
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent int
		var sendErr error
		wg.Go(func() { sent, sendErr = sender.sendWhile(stop) })
		full := append([]string{"--server", info.ControlPlane, "--token", info.AdminToken, "top", "--scrape", stackScrape(info)}, args...)
		code := run(context.Background(), full, strings.NewReader(""), &out, &errb)
		close(stop)
		wg.Wait()
		if sendErr != nil || sent == 0 {
			t.Fatalf("sending while top ran: %d events sent, %v", sent, sendErr)
		}
		t.Logf("%d events sent while `ingestctl top %s` ran", sent, strings.Join(args, " "))
		return mustOK(t, result{code, out.String(), errb.String()})
	}

	r := top("--iterations", "2", "--interval", "500ms", "-o", "json")
	frames := jsonFrames(t, r.stdout)
	if len(frames) != 2 {
		t.Fatalf("%d frames, want 2:\n%s", len(frames), r.stdout)
	}
	p95s := 0
	for i, f := range frames {
		for _, tg := range f.Targets {
			if !tg.Up {
				t.Errorf("frame %d: target %s down: %s", i, tg.Name, tg.Error)
			}
		}
		if !f.ControlPlane.Up {
			t.Errorf("frame %d: control plane down: %s", i, f.ControlPlane.Error)
		}
		if len(f.Tenants) == 0 || f.Tenants[0].Tenant != info.DemoTenant {
			t.Fatalf("frame %d: the demo tenant is not the top row: %+v", i, f.Tenants)
		}
		demo := f.Tenants[0]
		if demo.AcceptedEventsPerSec <= 0 || demo.Stage != "v2" || demo.RejectedEventsPerSec != 0 {
			t.Errorf("frame %d: demo tenant %+v, want accepted events/s above 0, none rejected, stage v2", i, demo)
		}
		if demo.LagRecords == nil || demo.LagSeconds == nil {
			t.Errorf("frame %d: no lag for the demo tenant's topic: %+v", i, demo)
		}
		if demo.VisibilityP95Seconds != nil {
			p95s++
		}
	}
	// Rows are loaded every few hundred milliseconds: most frames have a p95.
	if p95s == 0 {
		t.Errorf("no frame has a p95 send → visible for the demo tenant:\n%s", r.stdout)
	}

	r = top("--once", "--interval", "500ms")
	row := rowOf(r.stdout, info.DemoTenant)
	if strings.Contains(r.stdout, "\033") || len(row) < 3 || row[1] != "v2" || row[2] == "0" || !strings.Contains(r.stdout, "targets: edge up, normalizer up, sinkwriter up, loader up") {
		t.Errorf("plain frame, demo row %q:\n%s", row, r.stdout)
	}
}
