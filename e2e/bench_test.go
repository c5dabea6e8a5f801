package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/loadgen"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// The standard benchmark scenario of `make bench-pipeline` (BENCHMARKS.md, "Whole pipeline"):
// every service, ClickHouse and the load generator run as separate processes on loopback, and
// `ingest loadgen` drives the edge over HTTPS (HTTP/2) for benchDuration.
const (
	// benchTenants tenants bench-1 … bench-N, stage v2, no quotas; the offered rate is split
	// evenly between them, each with the profile steady:<rate / benchTenants>.
	benchTenants = 4
	// benchRate is the total offered rate in events/s (INGEST_BENCH_RATE overrides): chosen so
	// that the reference machine (2 vCPUs, BENCHMARKS.md) is saturated but keeps up.
	benchRate = 40000
	// benchMix and benchSignals are the weights of request formats and signals (loadgen's
	// defaults, written out so that the scenario does not move when they do).
	benchMix     = "ndjson=50,otlp-proto=30,otlp-json=20"
	benchSignals = "logs=60,metrics=30,traces=10"
	// benchBatchSize events per request.
	benchBatchSize = 500
	// benchConnections HTTP/2 connections, benchConcurrency requests in flight over all tenants.
	benchConnections = 8
	benchConcurrency = 64
	// benchDuration is how long requests are started (INGEST_BENCH_DURATION overrides).
	benchDuration = 60 * time.Second
	// benchMarkerInterval: a marker log this often from the marker tenant, the cross-check of
	// the loader's visibility histogram. benchMarkerTenant sends them, with benchMarkerRate
	// events/s of its own so that the probe's ClickHouse queries scan a small tenant, not the
	// load being measured.
	benchMarkerInterval = 500 * time.Millisecond
	benchMarkerTenant   = "bench-markers"
	benchMarkerRate     = 100
	benchMarkerGrace    = 30 * time.Second
	// benchDrainTimeout bounds the wait, after the load, for the landed count to stop growing;
	// benchDrainQuiet is how long it must not grow to count as drained.
	benchDrainTimeout = 3 * time.Minute
	benchDrainQuiet   = 3 * time.Second
	// benchReplayTenant is the tenant whose topic a replay re-reads during the load when
	// INGEST_BENCH_REPLAY=1: benchReplayRecords records written to its topic before the load
	// (and loaded into live), replayed at the control plane's default rate
	// (INGEST_BENCH_REPLAY_RATE overrides) while loadgen runs. INGEST_BENCH_REPLAY=idle
	// prepares the same data and plan without starting it: the baseline to compare with.
	benchReplayTenant  = "bench-replay"
	benchReplayRecords = 3_000_000
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat (100 on Linux).
const clockTicks = 100

// benchProcess is one process's resources over the load, from the start of the load until the
// landed count stopped growing.
type benchProcess struct {
	Name                 string  `json:"name"`
	PID                  int     `json:"pid"`
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_events"`
	PeakRSSMiB           float64 `json:"peak_rss_mib"`
}

// benchResult is what TestStandardBenchmarkScenario measures; it is written as JSON to
// INGEST_BENCH_OUT when set.
type benchResult struct {
	Scenario struct {
		Tenants       int     `json:"tenants"`
		OfferedRate   int     `json:"offered_events_per_sec"`
		Profile       string  `json:"profile_per_tenant"`
		Mix           string  `json:"mix"`
		Signals       string  `json:"signals"`
		BatchSize     int     `json:"batch_size"`
		Connections   int     `json:"connections"`
		Concurrency   int     `json:"concurrency"`
		DurationSec   float64 `json:"duration_s"`
		MarkerEveryMS int64   `json:"marker_interval_ms"`
		LoaderFlags   string  `json:"loader_flags,omitempty"` // INGEST_BENCH_LOADER_FLAGS
	} `json:"scenario"`
	// LandedEvents are the scenario tenants' rows in logs, metrics and spans (FINAL, markers
	// excluded) that landed during the run.
	LandedEvents uint64 `json:"landed_events"`
	// LandedPerSec is LandedEvents over the time from loadgen's first request until the last
	// growth of the count: what the whole pipeline sustained, backlog included.
	LandedPerSec float64 `json:"landed_events_per_sec"`
	// DrainSec is how long after loadgen exited the count kept growing.
	DrainSec float64 `json:"drain_s"`
	// Visible is send → visible as the running system measures it: the loader's
	// ingest_loader_visibility_seconds over the run (every table, every tenant).
	Visible struct {
		Rows         uint64  `json:"rows"`
		P50MS        float64 `json:"p50_ms"`
		P95MS        float64 `json:"p95_ms"`
		P99MS        float64 `json:"p99_ms"`
		WithinOneSec float64 `json:"fraction_within_1s"`
	} `json:"visible_loader_histogram"`
	Loadgen loadgenResult `json:"loadgen"`
	// Replay is the replay that ran during the load (INGEST_BENCH_REPLAY=1), else nil.
	Replay *replayResult `json:"replay,omitempty"`
	// Processes: every service, ClickHouse and loadgen.
	Processes []benchProcess `json:"processes"`
	// ClickHouse is ClickHouse's CPU over the load by cause.
	ClickHouse chCost `json:"clickhouse_by_cause"`
}

// replayResult is the replay that ran during the load.
type replayResult struct {
	ID          string  `json:"id"`
	Rate        int     `json:"rate"` // records/s it was throttled to
	Records     int64   `json:"records"`
	DoneAtEnd   int64   `json:"records_done_when_loadgen_ended"`
	DurationSec float64 `json:"duration_s"` // start to loaded (0: not loaded when measured)
}

type loadgenResult struct {
	DurationSec     float64 `json:"duration_s"`
	Requests        uint64  `json:"requests"`
	SentEvents      uint64  `json:"sent_events"`
	SentPerSec      float64 `json:"sent_events_per_sec"`
	AcceptedEvents  uint64  `json:"accepted_events"`
	Status429       uint64  `json:"status_429"`
	Status503       uint64  `json:"status_503"`
	OtherStatus     uint64  `json:"other_status"`
	TransportErrors uint64  `json:"transport_errors"`
	RequestP50MS    float64 `json:"request_p50_ms"`
	RequestP95MS    float64 `json:"request_p95_ms"`
	RequestP99MS    float64 `json:"request_p99_ms"`
	MarkersVisible  uint64  `json:"markers_visible"`
	MarkersLost     uint64  `json:"markers_lost"`
	E2EP50MS        float64 `json:"e2e_p50_ms"`
	E2EP95MS        float64 `json:"e2e_p95_ms"`
	E2EP99MS        float64 `json:"e2e_p99_ms"`
}

// TestStandardBenchmarkScenario runs the standard scenario against the whole pipeline and
// reports sustained events/s landed in ClickHouse, end-to-end latency, and CPU-seconds per
// million events and peak RSS of every process. It runs only with INGEST_BENCH=1.
func TestStandardBenchmarkScenario(t *testing.T) {
	if os.Getenv("INGEST_BENCH") != "1" {
		t.Skip("the standard benchmark scenario runs only with INGEST_BENCH=1 (make bench-pipeline)")
	}
	duration := benchDuration
	if v := os.Getenv("INGEST_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("cannot use INGEST_BENCH_DURATION=%q: want a positive duration such as 60s", v)
		}
		duration = d
	}
	rate := benchRate
	if v := os.Getenv("INGEST_BENCH_RATE"); v != "" {
		r, err := strconv.Atoi(v)
		if err != nil || r < benchTenants {
			t.Fatalf("cannot use INGEST_BENCH_RATE=%q: want total events/s of at least %d", v, benchTenants)
		}
		rate = r
	}

	// The loader runs with its own flush defaults (the e2e harness shortens them for tests):
	// the interval adapts between flush_interval_min and flush_interval to the objective.
	loaderArgs := []string{"--flush-interval", loader.DefaultConfig().FlushInterval.String()}
	if v := os.Getenv("INGEST_BENCH_LOADER_FLAGS"); v != "" {
		loaderArgs = append(loaderArgs, strings.Fields(v)...)
	}
	p := startPipelineWith(t, pipelineOptions{queryLog: true, loaderArgs: loaderArgs})
	var res benchResult
	res.Scenario.LoaderFlags = strings.Join(loaderArgs, " ")
	sc := &res.Scenario
	sc.Tenants, sc.OfferedRate, sc.Profile = benchTenants, rate, fmt.Sprintf("steady:%d", rate/benchTenants)
	sc.Mix, sc.Signals, sc.BatchSize = benchMix, benchSignals, benchBatchSize
	sc.Connections, sc.Concurrency = benchConnections, benchConcurrency
	sc.DurationSec, sc.MarkerEveryMS = duration.Seconds(), benchMarkerInterval.Milliseconds()

	args := []string{"loadgen", "--target", p.url, "--ca-file", p.caFile, "--duration", duration.String(),
		"--mix", benchMix, "--signals", benchSignals, "--batch-size", strconv.Itoa(benchBatchSize),
		"--connections", strconv.Itoa(benchConnections), "--concurrency", strconv.Itoa(benchConcurrency),
		"--clickhouse", p.ch.Addr(), "--database", "ingest", "--marker-interval", benchMarkerInterval.String(),
		"--marker-grace", benchMarkerGrace.String(), "--progress-interval", "10s", "-o", "json"}
	var tenants []string
	for i := 1; i <= benchTenants; i++ {
		id := "bench-" + strconv.Itoa(i)
		tenants = append(tenants, id)
		args = append(args, "--tenant", id+"="+p.tenant(id, "v2", nil)+":"+sc.Profile)
	}
	args = append(args, "--tenant", fmt.Sprintf("%s=%s:steady:%d", benchMarkerTenant, p.tenant(benchMarkerTenant, "v2", nil), benchMarkerRate),
		"--marker-tenant", benchMarkerTenant)

	procs := p.benchProcesses()
	cpuStart := make([]time.Duration, len(procs))
	for i, bp := range procs {
		cpuStart[i], _ = procCPU(bp.PID)
	}
	before := p.landedCount(t, tenants)
	chBefore := snapshotCH(t, p.ch)
	visBefore := scrapeVisibility(t, p.loaderURL)
	var rp *benchReplay
	switch v := os.Getenv("INGEST_BENCH_REPLAY"); v {
	case "":
	case "1", "idle":
		rp = p.prepareReplay(t)
		rp.idle = v == "idle"
	default:
		t.Fatalf("cannot use INGEST_BENCH_REPLAY=%q: 1 (replay during the load) or idle (the same data and plan, not started: the baseline)", v)
	}

	// loadgen: its own process, the JSON report on stdout, progress and logs on stderr.
	var stdout bytes.Buffer
	stderr := &testkit.SyncBuffer{}
	lg := exec.Command(p.h.bin, args...)
	lg.Stdout, lg.Stderr = &stdout, stderr
	loadStart := time.Now()
	if err := lg.Start(); err != nil {
		t.Fatalf("cannot start loadgen: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- lg.Wait() }()
	if rp != nil {
		rp.start(t)
	}
	t.Cleanup(func() {
		if lg.ProcessState == nil {
			_ = lg.Process.Kill()
			<-waited
		}
	})
	limit := duration + 10*time.Second + benchMarkerGrace + time.Minute
	var lgErr error
	select {
	case lgErr = <-waited:
	case <-time.After(limit):
		t.Fatalf("loadgen did not finish within %v; output:\n%s", limit, stderr.String())
	}
	lgEnd := time.Now()
	if rp != nil {
		res.Replay = rp.finish(t)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("cannot read loadgen's JSON report (exit: %v): %v\nstdout:\n%s\nstderr:\n%s", lgErr, err, stdout.String(), stderr.String())
	}
	if lgErr != nil {
		t.Logf("loadgen exited with %v; its report is used anyway; stderr:\n%s", lgErr, stderr.String())
	}

	// Drained: the rows the loader inserted (its visibility histogram's count: every row it
	// inserted, whose ClickHouse acknowledged) have not grown for benchDrainQuiet, or
	// benchDrainTimeout passed. The loader's /metrics, not ClickHouse, is polled, so that the
	// benchmark's own probe adds nothing to ClickHouse's CPU; the landed count is read once,
	// after every CPU figure.
	last, lastGrowth := scrapeVisibility(t, p.loaderURL).total(), lgEnd
	for quietSince := time.Now(); time.Since(quietSince) < benchDrainQuiet; {
		if time.Since(lgEnd) > benchDrainTimeout {
			t.Errorf("the loader still inserts %v after loadgen ended", benchDrainTimeout)
			break
		}
		time.Sleep(250 * time.Millisecond)
		if n := scrapeVisibility(t, p.loaderURL).total(); n != last {
			last, lastGrowth, quietSince = n, time.Now(), time.Now()
		}
	}
	chAfter := snapshotCH(t, p.ch)
	cpuEnd := make([]time.Duration, len(procs))
	for i, bp := range procs {
		var err error
		if cpuEnd[i], err = procCPU(bp.PID); err != nil {
			t.Errorf("cannot read the CPU time of %s: %v", bp.Name, err)
		}
	}
	res.LandedEvents = p.landedCount(t, tenants) - before
	res.ClickHouse = chCostBetween(t, p.ch, chBefore, chAfter)
	vis := scrapeVisibility(t, p.loaderURL).minus(visBefore)
	res.Visible.Rows, res.Visible.WithinOneSec = vis.total(), vis.within(1)
	res.Visible.P50MS, res.Visible.P95MS, res.Visible.P99MS = 1000*vis.quantile(0.5), 1000*vis.quantile(0.95), 1000*vis.quantile(0.99)
	if res.LandedEvents == 0 {
		t.Fatalf("no events landed in ClickHouse; loadgen stderr:\n%s", stderr.String())
	}
	sendStart := loadStart
	if rep.Started.After(sendStart) {
		sendStart = rep.Started // loadgen generates its bodies before the first request
	}
	res.LandedPerSec = float64(res.LandedEvents) / lastGrowth.Sub(sendStart).Seconds()
	res.DrainSec = max(0, lastGrowth.Sub(lgEnd).Seconds())
	perMillion := func(cpu time.Duration) float64 { return cpu.Seconds() / float64(res.LandedEvents) * 1e6 }
	for i, bp := range procs {
		cpu := cpuEnd[i]
		bp.CPUSeconds = (cpu - cpuStart[i]).Seconds()
		bp.CPUSecondsPerMillion = perMillion(cpu - cpuStart[i])
		var err error
		if bp.PeakRSSMiB, err = procPeakRSS(bp.PID); err != nil {
			t.Errorf("cannot read the peak RSS of %s: %v", bp.Name, err)
		}
		res.Processes = append(res.Processes, bp)
	}
	// loadgen has exited: its whole life from the kernel's accounting of the waited child.
	if ru, ok := lg.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		res.Processes = append(res.Processes, benchProcess{Name: "loadgen", PID: lg.Process.Pid, CPUSeconds: cpu.Seconds(),
			CPUSecondsPerMillion: perMillion(cpu), PeakRSSMiB: float64(ru.Maxrss) / 1024})
	}
	tot := rep.Total
	res.Loadgen = loadgenResult{DurationSec: rep.Duration, Requests: tot.Requests, SentEvents: tot.Events,
		SentPerSec: tot.EventsPerSec, AcceptedEvents: tot.AcceptedEvents, Status429: tot.Status429,
		Status503: tot.Status503, OtherStatus: tot.OtherStatus, TransportErrors: tot.TransportErrors,
		RequestP50MS: tot.Latency.P50, RequestP95MS: tot.Latency.P95, RequestP99MS: tot.Latency.P99,
		MarkersVisible: tot.Markers.Visible, MarkersLost: tot.Markers.NotVisible,
		E2EP50MS: tot.Markers.E2E.P50, E2EP95MS: tot.Markers.E2E.P95, E2EP99MS: tot.Markers.E2E.P99}

	t.Log("\n" + res.table())
	if out := os.Getenv("INGEST_BENCH_OUT"); out != "" {
		b, err := json.MarshalIndent(&res, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatalf("cannot write the results to INGEST_BENCH_OUT=%q: %v", out, err)
		}
	}
	var accepted uint64 // by the scenario's tenants, whose rows landedCount counts
	for _, tn := range rep.Tenants {
		if tn.Tenant != benchMarkerTenant {
			accepted += tn.AcceptedEvents
		}
	}
	if res.LandedEvents < accepted {
		t.Errorf("%d events landed in ClickHouse, fewer than the %d loadgen had accepted", res.LandedEvents, accepted)
	}
}

// table renders the result for people.
func (r *benchResult) table() string {
	var b strings.Builder
	sc, lg := r.Scenario, r.Loadgen
	fmt.Fprintf(&b, "scenario: %d tenants × %s (%d events/s offered), mix %s, signals %s, batch %d, %d connections, concurrency %d, %.0fs\n",
		sc.Tenants, sc.Profile, sc.OfferedRate, sc.Mix, sc.Signals, sc.BatchSize, sc.Connections, sc.Concurrency, sc.DurationSec)
	if sc.LoaderFlags != "" {
		fmt.Fprintf(&b, "loader:   %s (INGEST_BENCH_LOADER_FLAGS)\n", sc.LoaderFlags)
	}
	fmt.Fprintf(&b, "loadgen:  %d requests, %d events sent (%.0f/s over %.1fs), %d accepted; 429 %d, 503 %d, other %d, errors %d; request p50/p95/p99 %.1f/%.1f/%.1f ms\n",
		lg.Requests, lg.SentEvents, lg.SentPerSec, lg.DurationSec, lg.AcceptedEvents, lg.Status429, lg.Status503, lg.OtherStatus,
		lg.TransportErrors, lg.RequestP50MS, lg.RequestP95MS, lg.RequestP99MS)
	fmt.Fprintf(&b, "landed:   %d events in ClickHouse, sustained %.0f events/s (first request to last row; drain %.1fs after loadgen)\n",
		r.LandedEvents, r.LandedPerSec, r.DrainSec)
	fmt.Fprintf(&b, "visible:  p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, %.1f%% within 1 s (the loader's ingest_loader_visibility_seconds, %d rows)\n",
		r.Visible.P50MS, r.Visible.P95MS, r.Visible.P99MS, 100*r.Visible.WithinOneSec, r.Visible.Rows)
	fmt.Fprintf(&b, "markers:  p50 %.0f ms, p95 %.0f ms, p99 %.0f ms (%d markers visible, %d lost; loadgen's cross-check)\n",
		lg.E2EP50MS, lg.E2EP95MS, lg.E2EP99MS, lg.MarkersVisible, lg.MarkersLost)
	if r := r.Replay; r != nil {
		fmt.Fprintf(&b, "replay:   %d of %d records done when loadgen ended (rate %d/s; loaded in %.1fs, or 0: cancelled then)\n", r.DoneAtEnd, r.Records, r.Rate, r.DurationSec)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tCPU s\tCPU s / M events\tpeak RSS MiB\t")
	var cpu float64
	for _, p := range r.Processes {
		cpu += p.CPUSeconds
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.0f\t\n", p.Name, p.CPUSeconds, p.CPUSecondsPerMillion, p.PeakRSSMiB)
	}
	fmt.Fprintf(tw, "total\t%.1f\t%.1f\t\t\n", cpu, cpu/float64(r.LandedEvents)*1e6)
	_ = tw.Flush()
	b.WriteString(r.ClickHouse.table(r.LandedEvents))
	return b.String()
}

// benchProcesses lists the pipeline's running processes: every service the harness started
// and the ClickHouse server.
func (p *pipeline) benchProcesses() []benchProcess {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	var out []benchProcess
	for _, pr := range p.h.procs {
		select {
		case <-pr.done: // migrate, which has finished
			continue
		default:
		}
		out = append(out, benchProcess{Name: pr.name, PID: pr.cmd.Process.Pid})
	}
	return append(out, benchProcess{Name: "clickhouse", PID: p.ch.PID()})
}

// landedCount is the tenants' rows in logs, metrics and spans, FINAL, without loadgen's
// markers.
func (p *pipeline) landedCount(t *testing.T, tenants []string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var total uint64
	for _, q := range []string{
		"SELECT count() FROM ingest.logs FINAL WHERE has(?, tenant) AND body NOT LIKE 'loadgen-marker %'",
		"SELECT count() FROM ingest.metrics FINAL WHERE has(?, tenant)",
		"SELECT count() FROM ingest.spans FINAL WHERE has(?, tenant)",
	} {
		var n uint64
		if err := p.ch.Conn().QueryRow(ctx, q, tenants).Scan(&n); err != nil {
			t.Fatalf("cannot count the landed events (%s): %v", q, err)
		}
		total += n
	}
	return total
}

// procCPU returns the user plus system CPU time of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	_, cpu, err := parseStat(path, b)
	return cpu, err
}

// parseStat reads the command name and the user plus system CPU time of a /proc/.../stat
// line. The fields after the command (which may hold spaces) start after the last ')'; utime
// and stime are fields 14 and 15 of the line, in clock ticks.
func parseStat(path string, b []byte) (string, time.Duration, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("cannot parse %s: %q", path, b)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return "", 0, fmt.Errorf("cannot parse %s: %q", path, b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, fmt.Errorf("cannot parse utime/stime of %s: %q", path, b)
	}
	return string(b[open+1 : end]), time.Duration(ut+st) * (time.Second / clockTicks), nil
}

// procPeakRSS returns VmHWM of pid, in MiB.
func procPeakRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse VmHWM of pid %d: %q", pid, v)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
