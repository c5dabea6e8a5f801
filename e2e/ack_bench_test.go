package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/loadgen"
)

// The acknowledgement-path scenario of `make bench-ack` (BENCHMARKS.md, "Acknowledgement path"):
// the edge (TLS), the normalizer, the sink writer and a storing Kafka broker (`ingest kafka`)
// run as separate processes, with the control plane that configures the edge; `ingest loadgen`
// is its own process and sends as fast as the path acknowledges (a closed loop: its rate is
// far above what the machine can do, so concurrency is the bound). Every 2xx means every
// event of the request is acknowledged by Kafka with acks=all. There is no loader and no
// ClickHouse: this measures what it costs to accept an event, nothing after.
const (
	// ackBenchTenants tenants ack-1 … ack-N, stage v2, no quotas.
	ackBenchTenants = 4
	// ackBenchBatchSize events per request, ackBenchConnections HTTP/2 connections and
	// ackBenchConcurrency requests in flight (over all tenants).
	ackBenchBatchSize   = 500
	ackBenchConnections = 16
	ackBenchConcurrency = 32
	// ackBenchDuration per case (INGEST_BENCH_DURATION overrides).
	ackBenchDuration = 20 * time.Second
	// ackBenchOffered is each tenant's offered rate: unreachable, so loadgen runs closed-loop.
	ackBenchOffered = 10_000_000
)

// ackBenchCase is one run: a request format and signal, over so many connections.
type ackBenchCase struct {
	Format      string `json:"format"`
	Signal      string `json:"signal"`
	Connections int    `json:"connections"`
	Concurrency int    `json:"concurrency"`
}

func (c ackBenchCase) String() string {
	return fmt.Sprintf("%s %s ×%d", c.Format, c.Signal, c.Connections)
}

// ackBenchCases are the default cases; INGEST_BENCH_ACK_CASES picks some, as
// format:signal[:connections] separated by commas (otlp-proto:logs,ndjson:logs:4).
func ackBenchCases(t *testing.T) []ackBenchCase {
	spec := "otlp-proto:logs,ndjson:logs,otlp-json:logs,otlp-proto:metrics,otlp-proto:traces,otlp-proto:logs:4"
	if v := os.Getenv("INGEST_BENCH_ACK_CASES"); v != "" {
		spec = v
	}
	var out []ackBenchCase
	for _, s := range strings.Split(spec, ",") {
		f := strings.Split(strings.TrimSpace(s), ":")
		if len(f) < 2 || len(f) > 3 {
			t.Fatalf("cannot use INGEST_BENCH_ACK_CASES case %q: want format:signal[:connections]", s)
		}
		c := ackBenchCase{Format: f[0], Signal: f[1], Connections: ackBenchConnections, Concurrency: ackBenchConcurrency}
		if len(f) == 3 {
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 1 {
				t.Fatalf("cannot use INGEST_BENCH_ACK_CASES case %q: connections %q is not a positive number", s, f[2])
			}
			// Few connections stand for a client with little concurrency: one request each.
			c.Connections, c.Concurrency = n, n
		}
		out = append(out, c)
	}
	return out
}

// ackBenchResult is one case's figures.
type ackBenchResult struct {
	Case         ackBenchCase   `json:"case"`
	DurationSec  float64        `json:"duration_s"`
	Acknowledged uint64         `json:"acknowledged_events"`
	AckedPerSec  float64        `json:"acknowledged_events_per_sec"`
	Refused      uint64         `json:"refused_requests"` // 429, 503, other, transport errors
	RequestP50MS float64        `json:"request_p50_ms"`
	RequestP99MS float64        `json:"request_p99_ms"`
	Processes    []benchProcess `json:"processes"`
	// PathCPUPerMillion is edge + normalizer + sink writer, CPU-s per million acknowledged
	// events: the figure the target is set on.
	PathCPUPerMillion float64 `json:"path_cpu_seconds_per_million"`
	// KafkaBytesPerEvent is what the broker's data directory grew by per acknowledged event:
	// the record, its share of the batch headers, after compression.
	KafkaBytesPerEvent float64 `json:"kafka_bytes_per_event"`
}

// dirBytes returns the bytes of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatalf("cannot measure %s: %v", dir, err)
	}
	return n
}

// TestAckBenchmarkScenario measures the acknowledgement path's throughput, request latency
// and CPU-seconds per million events of each process, case by case. It runs only with
// INGEST_BENCH_ACK=1.
func TestAckBenchmarkScenario(t *testing.T) {
	if os.Getenv("INGEST_BENCH_ACK") != "1" {
		t.Skip("the acknowledgement-path scenario runs only with INGEST_BENCH_ACK=1 (make bench-ack)")
	}
	duration := ackBenchDuration
	if v := os.Getenv("INGEST_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("cannot use INGEST_BENCH_DURATION=%q: want a positive duration such as 20s", v)
		}
		duration = d
	}
	cases := ackBenchCases(t)

	profileDir := os.Getenv("INGEST_BENCH_PROFILE")
	if profileDir != "" {
		// The services serve /debug/pprof/ (they inherit the environment).
		t.Setenv(service.PprofEnv, "1")
	}
	h := newHarness(t)
	_, kafka := h.startKafka("kafka")
	// INGEST_BENCH_ACK_SINK_FLAGS: extra sink writer flags, to compare settings
	// (--compression lz4).
	sw := h.startSinkWriter("sinkwriter", kafka, strings.Fields(os.Getenv("INGEST_BENCH_ACK_SINK_FLAGS"))...)
	norm := h.startNormalizer("normalizer", sw)
	// ingest-v1 is never used (every tenant is at v2): the normalizer stands in for it.
	edge := h.startEdge("main", norm, norm)
	profiled := map[string]string{"edge": edge.admin, "normalizer": "http://" + norm, "sinkwriter": sw}
	var tenantArgs []string
	for i := 1; i <= ackBenchTenants; i++ {
		id := "ack-" + strconv.Itoa(i)
		tenantArgs = append(tenantArgs, "--tenant", id+"="+edge.tenant(id, "v2", nil)+":steady:"+strconv.Itoa(ackBenchOffered))
	}

	var results []ackBenchResult
	for _, c := range cases {
		var stopProfiles func()
		if profileDir != "" {
			stopProfiles = profileServices(t, profileDir, c, duration, profiled)
		}
		kafkaBefore := dirBytes(t, filepath.Join(h.dir, "kafka"))
		results = append(results, runAckCase(t, h, edge, c, duration, tenantArgs))
		r := &results[len(results)-1]
		r.KafkaBytesPerEvent = float64(dirBytes(t, filepath.Join(h.dir, "kafka"))-kafkaBefore) / float64(r.Acknowledged)
		if stopProfiles != nil {
			stopProfiles()
		}
		t.Logf("%s: %.0f events/s acknowledged", c, results[len(results)-1].AckedPerSec)
	}
	t.Log("\n" + ackTable(results))
	if out := os.Getenv("INGEST_BENCH_OUT"); out != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatalf("cannot write the results to INGEST_BENCH_OUT=%q: %v", out, err)
		}
	}
}

// profileServices takes a CPU profile of each service (name → base URL) over the middle of a
// case (from 3 s after its start, for duration - 6 s) and writes it to
// dir/<format>-<signal>-<connections>-<service>.pprof; the returned function waits for them.
func profileServices(t *testing.T, dir string, c ackBenchCase, duration time.Duration, services map[string]string) func() {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secs := int((duration - 6*time.Second).Seconds())
	if secs < 1 {
		t.Fatalf("INGEST_BENCH_PROFILE needs INGEST_BENCH_DURATION of at least 7s")
	}
	var wg sync.WaitGroup
	for name, base := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(3 * time.Second)
			path := filepath.Join(dir, fmt.Sprintf("%s-%s-%d-%s.pprof", c.Format, c.Signal, c.Connections, name))
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs))
			if err != nil {
				t.Errorf("cannot profile %s: %v", name, err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: %s", resp.Status, b)
			}
			if err == nil {
				err = os.WriteFile(path, b, 0o644)
			}
			if err != nil {
				t.Errorf("cannot profile %s: %v", name, err)
			}
		}()
	}
	return wg.Wait
}

// runAckCase runs loadgen for one case and returns its figures. The CPU of each service is
// its /proc time over loadgen's life; loadgen's is its own rusage.
func runAckCase(t *testing.T, h *harness, edge *edgeStack, c ackBenchCase, duration time.Duration, tenantArgs []string) ackBenchResult {
	t.Helper()
	args := append([]string{"loadgen", "--target", edge.url, "--ca-file", edge.caFile, "--duration", duration.String(),
		"--mix", c.Format + "=1", "--signals", c.Signal + "=1", "--batch-size", strconv.Itoa(ackBenchBatchSize),
		"--connections", strconv.Itoa(c.Connections), "--concurrency", strconv.Itoa(c.Concurrency),
		"--marker-interval", "0", "--progress-interval", "10s", "-o", "json"}, tenantArgs...)
	var procs []benchProcess
	h.mu.Lock()
	for _, pr := range h.procs {
		procs = append(procs, benchProcess{Name: strings.TrimPrefix(pr.name, "main-"), PID: pr.cmd.Process.Pid})
	}
	h.mu.Unlock()

	var stdout bytes.Buffer
	stderr := &testkit.SyncBuffer{}
	lg := exec.Command(h.bin, args...)
	lg.Stdout, lg.Stderr = &stdout, stderr
	cpuStart := make([]time.Duration, len(procs))
	for i, p := range procs {
		cpuStart[i], _ = procCPU(p.PID)
	}
	if err := lg.Start(); err != nil {
		t.Fatalf("cannot start loadgen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- lg.Wait() }()
	var lgErr error
	select {
	case lgErr = <-done:
	case <-time.After(duration + 2*time.Minute):
		_ = lg.Process.Kill()
		t.Fatalf("%s: loadgen did not finish; output:\n%s", c, stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%s: cannot read loadgen's JSON report (exit: %v): %v\nstderr:\n%s", c, lgErr, err, stderr.String())
	}
	tot := rep.Total
	if tot.AcceptedEvents == 0 {
		t.Fatalf("%s: no event acknowledged; loadgen stderr:\n%s", c, stderr.String())
	}
	res := ackBenchResult{Case: c, DurationSec: rep.Duration, Acknowledged: tot.AcceptedEvents,
		AckedPerSec:  float64(tot.AcceptedEvents) / rep.Duration,
		Refused:      tot.Status429 + tot.Status503 + tot.OtherStatus + tot.TransportErrors,
		RequestP50MS: tot.Latency.P50, RequestP99MS: tot.Latency.P99}
	perMillion := func(cpu time.Duration) float64 { return cpu.Seconds() / float64(tot.AcceptedEvents) * 1e6 }
	for i, p := range procs {
		cpu, err := procCPU(p.PID)
		if err != nil {
			t.Errorf("cannot read the CPU time of %s: %v", p.Name, err)
		}
		p.CPUSeconds, p.CPUSecondsPerMillion = (cpu - cpuStart[i]).Seconds(), perMillion(cpu-cpuStart[i])
		switch p.Name {
		case "edge", "normalizer", "sinkwriter":
			res.PathCPUPerMillion += p.CPUSecondsPerMillion
		}
		res.Processes = append(res.Processes, p)
	}
	if ru, ok := lg.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		res.Processes = append(res.Processes, benchProcess{Name: "loadgen", PID: lg.Process.Pid, CPUSeconds: cpu.Seconds(),
			CPUSecondsPerMillion: perMillion(cpu), PeakRSSMiB: float64(ru.Maxrss) / 1024})
	}
	if res.Refused > 0 {
		t.Errorf("%s: %d requests were refused or failed (429 %d, 503 %d, other %d, errors %d): the path did not acknowledge everything it was sent",
			c, res.Refused, tot.Status429, tot.Status503, tot.OtherStatus, tot.TransportErrors)
	}
	return res
}

// ackTable renders the results for people: one line per case, CPU-s per million events per
// process.
func ackTable(rs []ackBenchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "acknowledgement path: %d tenants, %d events per request, closed loop\n", ackBenchTenants, ackBenchBatchSize)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "case\tevents/s acked\tp50 ms\tp99 ms\tKafka B/event\tedge+norm+sink CPU s/M\t")
	var names []string
	if len(rs) > 0 {
		for _, p := range rs[0].Processes {
			names = append(names, p.Name)
			fmt.Fprintf(tw, "%s\t", p.Name)
		}
	}
	fmt.Fprintln(tw)
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f\t%.0f\t%.2f\t", r.Case, r.AckedPerSec, r.RequestP50MS, r.RequestP99MS, r.KafkaBytesPerEvent, r.PathCPUPerMillion)
		for i := range names {
			if i < len(r.Processes) {
				fmt.Fprintf(tw, "%.2f\t", r.Processes[i].CPUSecondsPerMillion)
			}
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	return b.String()
}
