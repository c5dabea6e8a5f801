package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// The fault suite of `make test-faults` (docs/reliability.md): the whole pipeline as separate
// processes (the harness's start functions), a private ClickHouse and the embedded Kafka, with
// the bounds below, driven by senders that remember every event id acknowledged with 2xx and
// retry everything else with the same ids, as a client should. It runs only with
// INGEST_FAULTS=1.
//
//   - TestFaultKill9 (this file): under a steady multi-tenant load, one window per fault: kill -9
//     of the edge, normalizer, sink writer, loader and Kafka (each restarted on its ports and
//     data), and of ClickHouse (restarted on its data); every acknowledged event is visible
//     exactly once through FINAL, and the metric roll-ups equal metrics FINAL.
//   - TestFaultOverload (faults_load_test.go): 10× the sustainable load for 60 s: peak RSS of
//     every bounded process under its bound (faultRSSBounds), every shed counted per tenant and
//     reason, recovery afterwards, nothing acknowledged lost.
//   - TestFaultNoisyTenant (faults_load_test.go): one tenant at 20× its quota; the others see
//     no error and a p95 within faultP95Tolerance of the run without it.
//
// INGEST_FAULTS_OUT names a file the rows of the report table are written to as JSON.
const (
	// The configured bounds of the suite's pipeline: small enough that 10× the sustainable
	// load reaches them, so that the RSS bounds derived from them mean something.
	faultEdgeInflight       = 32 << 20 // controlplane --edge-max-inflight-bytes
	faultNormalizerInflight = 32 << 20 // normalizer --max-inflight-bytes
	faultSinkBuffer         = 32 << 20 // sinkwriter --max-buffer-bytes
	faultSinkMaxBatch       = 8 << 20  // sinkwriter --max-batch-bytes (≤ its tenant share, 0.25 × the buffer)
	faultLoaderFlushBytes   = 16 << 20 // loader --flush-bytes
	// faultLimitSlack is what a process with a soft memory limit may hold above it: memory
	// the Go runtime does not count (code, stacks' OS overhead, cgo) and the collector's lag;
	// measured at most 16 MiB for the loader.
	faultLimitSlack = 32 << 20
	// faultBaseRSS is the base allowance of every bounded Go process: runtime, code, TLS and
	// HTTP state of its connections, Kafka clients' metadata, the xDS configuration; measured
	// idle at 20–60 MiB (BENCHMARKS.md: 48–67 MiB under the standard load).
	faultBaseRSS = 96 << 20
	// faultGCFactor: with GOGC=100 (no service sets another) the heap may reach twice the
	// live bytes before a collection.
	faultGCFactor = 2

	// faultWindowSpan is the event-time span of one window (events carry explicit ts inside
	// it; windows never overlap, so each is checked on its own).
	faultWindowSpan = 2 * time.Minute
	// faultIDTag starts every event id the suite sends: 32 hex digits, tag, tenant index,
	// window, sequence number.
	faultIDTag = 0xfa017e57
)

// faultLoaderMemoryLimit is the memory_limit the suite's loader sets: its default for
// faultLoaderFlushBytes and the default fetch_max_bytes, one broker (sinkwriter/loader
// Config.MemoryLimit: 64 MiB + 6 × flush_bytes + 6 × fetch_max_bytes).
var faultLoaderMemoryLimit = func() int64 {
	var c loader.ServiceConfig
	c.Loader.FlushBytes = faultLoaderFlushBytes
	return c.WithDefaults().Loader.MemoryLimit
}()

// faultRSSBound is one bounded process's peak RSS bound: faultBaseRSS + faultGCFactor × live,
// where live is what its configured limits let it hold; or, for a process that sets a soft
// memory limit, that limit + faultLimitSlack.
type faultRSSBound struct {
	process string
	live    int64
	limit   int64 // the process's soft memory limit; 0: none
	formula string
}

func (b faultRSSBound) bytes() int64 {
	if b.limit > 0 {
		return b.limit + faultLimitSlack
	}
	return faultBaseRSS + faultGCFactor*b.live
}

// faultRSSBounds derives the RSS bound of each bounded process from its configured limits
// (docs/reliability.md states the same formulas). Kafka (kfake keeps its log in memory),
// ClickHouse and the control plane are measured, not bounded.
func faultRSSBounds() []faultRSSBound {
	return []faultRSSBound{
		{"main-edge", faultEdgeInflight, 0,
			"base + 2 × max_in_flight_bytes (bodies held while counted and proxied, decompression buffers included)"},
		{"normalizer", 2 * faultNormalizerInflight, 0,
			"base + 2 × 2 × max_inflight_bytes (the bodies, and the encoded batch of each at most as large, until the sink answers)"},
		{"sinkwriter", 3 * faultSinkBuffer, 0,
			"base + 2 × 3 × max_buffer_bytes (pooled batch buffers by power-of-two size ≤ 2×, franz-go's compressed copies ≤ 1×)"},
		{"loader", 0, faultLoaderMemoryLimit,
			"memory_limit + 32 MiB, memory_limit = 64 MiB + 6 × flush_bytes + 6 × fetch_max_bytes (its default; live ≈ 32 MiB + 5 × flush_bytes + (2 + r) × fetch_max_bytes per broker, sinkwriter.md \"Memory\")"},
	}
}

// requireFaults skips t unless INGEST_FAULTS=1, before anything is built or started.
func requireFaults(t *testing.T) {
	t.Helper()
	if os.Getenv("INGEST_FAULTS") != "1" {
		t.Skip("the fault suite runs only with INGEST_FAULTS=1 (make test-faults)")
	}
}

// faultPipeline is the whole pipeline of startPipeline, started with the suite's bounds and a
// loader whose group session is short (a killed loader's partitions move within 6 s).
type faultPipeline struct {
	*edgeStack
	ch    *chtest.Server
	kafka string
	// base is the event time of window 0: an hour boundary two hours ago, so that every
	// window's minutes are closed (their roll-ups computed at once) and every window of a test
	// lies within one 60m roll-up window.
	base time.Time
	rss  *peakRSS
}

func startFaultPipeline(t *testing.T) *faultPipeline {
	h := newHarness(t)
	ch := chtest.Start(t)
	_, kafka := h.startKafka("kafka")
	h.run("migrate", "migrate", "--clickhouse", ch.Addr())
	sw := h.startSinkWriter("sinkwriter", kafka,
		"--max-buffer-bytes", strconv.Itoa(faultSinkBuffer), "--max-batch-bytes", strconv.Itoa(faultSinkMaxBatch))
	loaderAddr := testkit.FreeAddr(t)
	lp := h.start("loader", nil, "loader", "--brokers", kafka, "--clickhouse", ch.Addr(), "--listen", loaderAddr,
		"--skip-migrate", "--topic-refresh-interval", "1s", "--flush-interval", "200ms",
		"--flush-bytes", strconv.Itoa(faultLoaderFlushBytes), "--session-timeout", "6s", "--heartbeat-interval", "1s")
	h.waitHTTP(lp, "http://"+loaderAddr+"/healthz")
	norm := h.startNormalizer("normalizer", sw, "--max-inflight-bytes", strconv.Itoa(faultNormalizerInflight))
	legacy := startUpstream(t, false)
	cp := h.startControlPlane("main", "", legacy.addr, norm, "--edge-max-inflight-bytes", strconv.Itoa(faultEdgeInflight))
	f := &faultPipeline{edgeStack: h.startGoEdge(cp, "main"), ch: ch, kafka: kafka,
		base: time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)}
	f.rss = newPeakRSS(f)
	return f
}

// latest returns the process last started as name, or nil.
func (h *harness) latest(name string) *proc {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.procs) - 1; i >= 0; i-- {
		if h.procs[i].name == name {
			return h.procs[i]
		}
	}
	return nil
}

// argOf returns the value of flag (--name value or --name=value) in p's command line.
func argOf(p *proc, flag string) string {
	args := p.cmd.Args
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// kill9 kills the running process name with SIGKILL and waits until it is gone.
func (f *faultPipeline) kill9(t *testing.T, name string) {
	t.Helper()
	p := f.h.latest(name)
	if p == nil {
		t.Fatalf("no process %s", name)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("cannot kill %s: %v", name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10 s of SIGKILL", name)
	}
}

// restart starts the process name again with its last command line and environment (so on
// the same ports and data directory) and waits until it is ready: what it took.
func (f *faultPipeline) restart(t *testing.T, name string) time.Duration {
	t.Helper()
	old := f.h.latest(name)
	start := time.Now()
	// old.cmd.Env is the test's environment plus what its start function added; appended
	// again to the environment, its values win.
	p := f.h.start(name, old.cmd.Env, old.cmd.Args[1:]...)
	switch name {
	case "kafka":
		f.h.waitTCP(p, argOf(p, "--listen"))
	case "main-edge":
		f.h.waitHTTP(p, "http://"+argOf(p, "--admin-listen")+"/readyz")
	case "loader":
		f.h.waitHTTP(p, "http://"+argOf(p, "--listen")+"/healthz")
	default:
		f.h.waitHTTP(p, "http://"+argOf(p, "--listen")+"/readyz")
	}
	return time.Since(start)
}

// running lists the pipeline's running processes (name, pid), ClickHouse included.
func (f *faultPipeline) running() map[string]int {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	out := map[string]int{}
	for _, p := range f.h.procs {
		select {
		case <-p.done:
			continue
		default:
		}
		out[p.name] = p.cmd.Process.Pid
	}
	if pid := f.ch.PID(); pid != 0 {
		out["clickhouse"] = pid
	}
	return out
}

// peakRSS follows the peak RSS (VmHWM) of every process of the pipeline over a span: reset
// resets the kernel's high-water marks (clear_refs 5), sample records them, so that a process
// killed during the span keeps the peak it reached.
type peakRSS struct {
	f    *faultPipeline
	mu   sync.Mutex
	peak map[string]float64 // MiB
}

func newPeakRSS(f *faultPipeline) *peakRSS { return &peakRSS{f: f, peak: map[string]float64{}} }

func (r *peakRSS) reset() {
	r.mu.Lock()
	r.peak = map[string]float64{}
	r.mu.Unlock()
	for _, pid := range r.f.running() {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

func (r *peakRSS) sample() {
	for name, pid := range r.f.running() {
		mib, err := procPeakRSS(pid)
		if err != nil {
			continue // exited meanwhile
		}
		r.mu.Lock()
		r.peak[name] = max(r.peak[name], mib)
		r.mu.Unlock()
	}
}

// sampleEvery samples until ctx ends.
func (r *peakRSS) sampleEvery(ctx context.Context, d time.Duration) {
	for {
		r.sample()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

func (r *peakRSS) snapshot() map[string]float64 {
	r.sample()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]float64, len(r.peak))
	for k, v := range r.peak {
		out[k] = v
	}
	return out
}

// faultTenant is one tenant the suite sends as; idx is its place in event ids.
type faultTenant struct {
	id, key string
	idx     int
}

// faultEventID is the id of event seq of tenant idx in window w.
func faultEventID(idx, w int, seq uint64) string {
	return fmt.Sprintf("%08x%04x%04x%016x", faultIDTag, idx, w, seq)
}

// parseFaultEventID is faultEventID's inverse; ok is false for an id the suite did not make.
func parseFaultEventID(id string) (idx, w int, seq uint64, ok bool) {
	if len(id) != 32 || !strings.EqualFold(id[:8], fmt.Sprintf("%08x", faultIDTag)) {
		return 0, 0, 0, false
	}
	i, err1 := strconv.ParseUint(id[8:12], 16, 16)
	ww, err2 := strconv.ParseUint(id[12:16], 16, 16)
	s, err3 := strconv.ParseUint(id[16:], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return int(i), int(ww), s, true
}

// windowBase is the event time where window w's span starts: window 0 at base, the flooded
// windows (faultFloodWindow and on) from an hour after it.
func (f *faultPipeline) windowBase(w int) time.Time {
	if w >= faultFloodWindow {
		return f.base.Add(time.Hour + time.Duration(w-faultFloodWindow)*faultWindowSpan)
	}
	return f.base.Add(time.Duration(w) * faultWindowSpan)
}

// faultBody returns n native events of tn in window w from sequence number seq0: a log, a
// metric (value 1, four series) and a span in turn, each with its event id and an explicit ts
// inside the window's span. pad pads log bodies.
func (f *faultPipeline) faultBody(tn faultTenant, w int, seq0 uint64, n, pad int) []byte {
	var b bytes.Buffer
	base := f.windowBase(w)
	filler := strings.Repeat("x", pad)
	for seq := seq0; seq < seq0+uint64(n); seq++ {
		id := faultEventID(tn.idx, w, seq)
		ts := base.Add(time.Duration(seq%110)*time.Second + time.Duration(seq%997)*time.Millisecond).Format(time.RFC3339Nano)
		switch seq % 3 {
		case 0:
			fmt.Fprintf(&b, `{"type":"log","ts":%q,"event_id":%q,"severity":"info","body":"fault %s %d %s","attributes":{"fault.window":"%d"}}`+"\n",
				ts, id, tn.id, seq, filler, w)
		case 1:
			fmt.Fprintf(&b, `{"type":"metric","ts":%q,"event_id":%q,"name":"fault.requests","value":1,"attributes":{"route":"/r%d"}}`+"\n",
				ts, id, seq%4)
		default:
			fmt.Fprintf(&b, `{"type":"span","ts":%q,"event_id":%q,"name":"GET /fault","trace_id":%q,"span_id":"%016x","duration":"1ms"}`+"\n",
				ts, id, id, seq+1)
		}
	}
	return b.Bytes()
}

// ndjsonAnswer is the body of a 200 to POST /v1/events.
type ndjsonAnswer struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
}

// windowStats is what the senders saw in one window.
type windowStats struct {
	inflight  int // requests of the window not finished (acknowledged or abandoned)
	requests  int // requests made (not attempts)
	acked     int // requests acknowledged with 2xx
	failed    int // attempts answered otherwise (retried)
	byStatus  map[int]int
	transport int // attempts that got no answer
	noRetry   int // 429 and 503 without Retry-After
	rejected  int // events a 200 reported rejected (none expected)
	abandoned int // requests given up after the retry budget (not acknowledged)
	latencies []time.Duration
	// killAt is when the window's fault struck; recoveredAt when the probe was answered 2xx
	// again after it failed after killAt (zero: it never failed); lastFailAt when the last
	// attempt after killAt failed.
	killAt, probeFailedAt, recoveredAt, lastFailAt time.Time
}

// steadyLoad is a steady multi-tenant load of tracked events: each tenant starts rate requests
// of batch events a second (at most conc in progress), each retried with its ids until it is
// acknowledged or retryBudget after stop, and a probe sends one event every 100 ms. The window
// (setWindow) tags every event.
type steadyLoad struct {
	f           *faultPipeline
	tenants     []faultTenant
	rate        float64
	batch       int
	conc        int
	pad         int
	probe       bool
	retryBudget time.Duration

	window   atomic.Int64
	seq      []atomic.Uint64 // per tenant
	stopped  chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu    sync.Mutex
	stats map[int]*windowStats
	acked map[[2]int]map[uint64]struct{} // (tenant idx, window) → acknowledged sequence numbers
}

func newSteadyLoad(f *faultPipeline, tenants []faultTenant, rate float64, batch, conc int) *steadyLoad {
	return &steadyLoad{f: f, tenants: tenants, rate: rate, batch: batch, conc: conc, retryBudget: 2 * time.Minute,
		seq: make([]atomic.Uint64, len(tenants)), stopped: make(chan struct{}),
		stats: map[int]*windowStats{}, acked: map[[2]int]map[uint64]struct{}{}}
}

func (l *steadyLoad) win(w int) *windowStats {
	s := l.stats[w]
	if s == nil {
		s = &windowStats{byStatus: map[int]int{}}
		l.stats[w] = s
	}
	return s
}

// setWindow tags the events of the requests started from now on with w.
func (l *steadyLoad) setWindow(w int) {
	l.mu.Lock()
	l.win(w)
	l.mu.Unlock()
	l.window.Store(int64(w))
}

// markKill records that window w's fault strikes now.
func (l *steadyLoad) markKill(w int) {
	l.mu.Lock()
	l.win(w).killAt = time.Now()
	l.mu.Unlock()
}

func (l *steadyLoad) start() {
	for i := range l.tenants {
		l.wg.Add(1)
		go l.run(i)
	}
	if l.probe {
		l.wg.Add(1)
		go l.runProbe()
	}
}

// stop stops starting requests and waits until every request started is acknowledged or
// abandoned. Calling it again does nothing.
func (l *steadyLoad) stop() {
	l.stopOnce.Do(func() {
		close(l.stopped)
		l.wg.Wait()
	})
}

func (l *steadyLoad) run(i int) {
	defer l.wg.Done()
	sem := make(chan struct{}, l.conc)
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-l.stopped:
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // conc requests in progress: a client with backpressure sends no more
		}
		w := int(l.window.Load())
		seq0 := l.seq[i].Add(uint64(l.batch)) - uint64(l.batch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l.post(l.tenants[i], w, seq0, l.batch, false)
		}()
	}
}

// runProbe sends one tracked event of the first tenant every 100 ms, each retried until
// acknowledged: the answers time the window's recovery.
func (l *steadyLoad) runProbe() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stopped:
			return
		case <-time.After(100 * time.Millisecond):
		}
		w := int(l.window.Load())
		seq0 := l.seq[0].Add(1) - 1
		l.post(l.tenants[0], w, seq0, 1, true)
	}
}

// post sends n events of tn in window w from seq0 until they are acknowledged, or until the
// retry budget after stop is spent.
func (l *steadyLoad) post(tn faultTenant, w int, seq0 uint64, n int, probe bool) {
	body := l.f.faultBody(tn, w, seq0, n, l.pad)
	l.mu.Lock()
	s := l.win(w)
	s.inflight++
	s.requests++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		s.inflight--
		l.mu.Unlock()
	}()
	var giveUp time.Time
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		start := time.Now()
		a := l.f.send(ctx, tn.key, body)
		lat := time.Since(start)
		cancel()
		if a.err == nil && a.status/100 == 2 {
			var na ndjsonAnswer
			_ = json.Unmarshal([]byte(a.body), &na)
			l.mu.Lock()
			s.acked++
			s.rejected += na.Rejected
			s.latencies = append(s.latencies, lat)
			if probe && !s.probeFailedAt.IsZero() && s.recoveredAt.IsZero() {
				s.recoveredAt = time.Now()
			}
			set := l.acked[[2]int{tn.idx, w}]
			if set == nil {
				set = map[uint64]struct{}{}
				l.acked[[2]int{tn.idx, w}] = set
			}
			for seq := seq0; seq < seq0+uint64(n); seq++ {
				set[seq] = struct{}{}
			}
			l.mu.Unlock()
			return
		}
		retryAfter := time.Duration(0)
		l.mu.Lock()
		s.failed++
		if a.err != nil {
			s.transport++
		} else {
			s.byStatus[a.status]++
			if a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable {
				if secs, err := strconv.Atoi(a.retryAfter); err == nil {
					retryAfter = time.Duration(secs) * time.Second
				} else {
					s.noRetry++
				}
			}
		}
		if !s.killAt.IsZero() && start.After(s.killAt) {
			s.lastFailAt = time.Now()
		}
		if probe && !s.killAt.IsZero() && s.probeFailedAt.IsZero() && start.After(s.killAt) {
			s.probeFailedAt = time.Now()
		}
		l.mu.Unlock()
		select {
		case <-l.stopped:
			if giveUp.IsZero() {
				giveUp = time.Now().Add(l.retryBudget)
			}
		default:
		}
		if !giveUp.IsZero() && time.Now().After(giveUp) {
			l.mu.Lock()
			s.abandoned++
			l.mu.Unlock()
			return
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if retryAfter > 0 {
			wait = min(retryAfter, 5*time.Second) // honour Retry-After, capped for the test's time
		}
		if probe {
			wait = 100 * time.Millisecond
		}
		time.Sleep(wait)
		backoff = min(2*backoff, 2*time.Second)
	}
}

// ackedSet returns a copy of the acknowledged sequence numbers of tenant idx in window w.
func (l *steadyLoad) ackedSet(idx, w int) map[uint64]struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[uint64]struct{}, len(l.acked[[2]int{idx, w}]))
	for k := range l.acked[[2]int{idx, w}] {
		out[k] = struct{}{}
	}
	return out
}

// waitWindowSettled waits until no request of window w is in progress.
func (l *steadyLoad) waitWindowSettled(t *testing.T, w int, timeout time.Duration) {
	t.Helper()
	err := testkit.Poll(context.Background(), timeout, 100*time.Millisecond, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if n := l.win(w).inflight; n > 0 {
			return fmt.Errorf("%d requests of window %d still in progress", n, w)
		}
		return nil
	})
	if err != nil {
		t.Errorf("%v", err)
	}
}

// windowSnapshot returns a copy of window w's stats.
func (l *steadyLoad) windowSnapshot(w int) windowStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := *l.win(w)
	s.byStatus = map[int]int{}
	for k, v := range l.win(w).byStatus {
		s.byStatus[k] = v
	}
	s.latencies = slices.Clone(l.win(w).latencies)
	return s
}

// idCheck compares acknowledged events with what ClickHouse shows.
type idCheck struct {
	Acked      int `json:"acked"`
	Lost       int `json:"lost"`            // acknowledged, not visible through FINAL
	Duplicated int `json:"duplicated"`      // acknowledged, visible more than once through FINAL
	RawCopies  int `json:"raw_copies"`      // rows without FINAL beyond one per event: copies a merge or FINAL folds
	Unacked    int `json:"unacked_visible"` // visible, never acknowledged (a request answered non-2xx that landed, then abandoned): allowed
	lostSample []string
}

func (c *idCheck) add(o idCheck) {
	c.Acked += o.Acked
	c.Lost += o.Lost
	c.Duplicated += o.Duplicated
	c.RawCopies += o.RawCopies
	c.Unacked += o.Unacked
	if len(c.lostSample) < 5 {
		c.lostSample = append(c.lostSample, o.lostSample...)
	}
}

// checkWindow checks the acknowledged events (sequence numbers) of tn in window w against
// logs, metrics and spans: through FINAL (the documented query path) by id, and without FINAL
// for the copies before merge.
func (f *faultPipeline) checkWindow(ctx context.Context, tn faultTenant, w int, acked map[uint64]struct{}) (idCheck, error) {
	from, to := f.windowBase(w).Unix(), f.windowBase(w).Add(faultWindowSpan).Unix()
	c := idCheck{Acked: len(acked)}
	seen := map[uint64]struct{}{}
	for _, table := range []string{"logs", "metrics", "spans"} {
		rows, err := f.ch.Conn().Query(ctx, "SELECT lower(hex(event_id)), count() FROM ingest."+table+
			" FINAL WHERE tenant = ? AND time >= toDateTime(?) AND time < toDateTime(?) GROUP BY event_id", tn.id, from, to)
		if err != nil {
			return c, fmt.Errorf("cannot read the event ids of %s: %w", table, err)
		}
		distinct := 0
		for rows.Next() {
			var id string
			var n uint64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return c, err
			}
			distinct++
			idx, ww, seq, ok := parseFaultEventID(id)
			if _, ack := acked[seq]; !ok || idx != tn.idx || ww != w || !ack {
				c.Unacked++
				continue
			}
			seen[seq] = struct{}{}
			if n > 1 {
				c.Duplicated++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return c, err
		}
		var raw uint64
		if err := f.ch.Conn().QueryRow(ctx, "SELECT count() FROM ingest."+table+
			" WHERE tenant = ? AND time >= toDateTime(?) AND time < toDateTime(?)", tn.id, from, to).Scan(&raw); err != nil {
			return c, fmt.Errorf("cannot count the rows of %s: %w", table, err)
		}
		c.RawCopies += int(raw) - distinct
	}
	for seq := range acked {
		if _, ok := seen[seq]; !ok {
			c.Lost++
			if len(c.lostSample) < 5 {
				c.lostSample = append(c.lostSample, faultEventID(tn.idx, w, seq))
			}
		}
	}
	return c, nil
}

// waitWindow checks window w of every tenant until nothing acknowledged is missing or
// timeout passes, and returns the last check and how long the events took to be visible.
func (f *faultPipeline) waitWindow(t *testing.T, l *steadyLoad, w int, timeout time.Duration) (idCheck, time.Duration) {
	t.Helper()
	start := time.Now()
	var last idCheck
	for {
		last = idCheck{}
		var err error
		for _, tn := range l.tenants {
			var c idCheck
			if c, err = f.checkWindow(context.Background(), tn, w, l.ackedSet(tn.idx, w)); err != nil {
				break
			}
			last.add(c)
		}
		if err == nil && last.Lost == 0 {
			return last, time.Since(start)
		}
		if time.Since(start) > timeout {
			if err != nil {
				t.Errorf("cannot check window %d: %v", w, err)
			}
			return last, time.Since(start)
		}
		time.Sleep(2 * time.Second)
	}
}

// rollupCheck compares, for the tenants over [from, to), the points of a roll-up table read
// through its query path (FINAL, points > 0) with the rows of metrics FINAL.
func (f *faultPipeline) rollupCheck(ctx context.Context, table string, tenants []string, from, to time.Time) (points, want uint64, err error) {
	var sum float64
	if err = f.ch.Conn().QueryRow(ctx, "SELECT toUInt64(sum(points)), sum(value_sum) FROM ingest."+table+
		" FINAL WHERE has(?, tenant) AND window_start >= toDateTime(?) AND window_start < toDateTime(?) AND points > 0",
		tenants, from.Unix(), to.Unix()).Scan(&points, &sum); err != nil {
		return 0, 0, fmt.Errorf("cannot read %s: %w", table, err)
	}
	if err = f.ch.Conn().QueryRow(ctx, "SELECT count() FROM ingest.metrics FINAL WHERE has(?, tenant) AND time >= toDateTime(?) AND time < toDateTime(?)",
		tenants, from.Unix(), to.Unix()).Scan(&want); err != nil {
		return 0, 0, fmt.Errorf("cannot count metrics: %w", err)
	}
	if uint64(sum) != points {
		return points, want, fmt.Errorf("%s: value_sum %v differs from points %d (every value is 1)", table, sum, points)
	}
	return points, want, nil
}

// scrapeSheds returns the counter name's values by tenant and reason from the /metrics page at
// url (Prometheus text format).
func scrapeSheds(url, name string) (map[[2]string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[[2]string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			continue
		}
		labels := map[string]string{}
		for _, m := range labelRE.FindAllStringSubmatch(rest[:end], -1) {
			labels[m[1]] = m[2]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[end+1:]), 64)
		if err != nil {
			continue
		}
		out[[2]string{labels["tenant"], labels["reason"]}] += v
	}
	return out, sc.Err()
}

var labelRE = regexp.MustCompile(`(\w+)="([^"]*)"`)

// faultRow is one row of the table of docs/reliability.md.
type faultRow struct {
	Test     string             `json:"test"`
	Fault    string             `json:"fault"`
	Checked  string             `json:"checked"`
	Acked    int                `json:"events_acknowledged"`
	Lost     int                `json:"lost"`
	Dup      int                `json:"duplicated"`
	Raw      int                `json:"raw_copies_before_merge"`
	RSS      map[string]float64 `json:"peak_rss_mib"`
	Recovery float64            `json:"recovery_s"`
	Notes    string             `json:"notes,omitempty"`
}

// faultReport collects the rows of every fault test of the run, for INGEST_FAULTS_OUT.
var faultReport struct {
	mu   sync.Mutex
	rows []faultRow
}

// report logs rows as a table and writes every row of the run so far to INGEST_FAULTS_OUT.
func report(t *testing.T, rows ...faultRow) {
	t.Helper()
	faultReport.mu.Lock()
	faultReport.rows = append(faultReport.rows, rows...)
	all := slices.Clone(faultReport.rows)
	faultReport.mu.Unlock()
	t.Log("\n" + faultTable(rows))
	if out := os.Getenv("INGEST_FAULTS_OUT"); out != "" {
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Errorf("cannot write INGEST_FAULTS_OUT=%q: %v", out, err)
		}
	}
}

// rssShort names processes in the table's RSS column.
var rssShort = []struct{ name, short string }{
	{"main-edge", "edge"}, {"normalizer", "norm"}, {"sinkwriter", "sw"}, {"loader", "loader"},
	{"kafka", "kafka"}, {"clickhouse", "ch"}, {"main-controlplane", "cp"},
}

func rssColumn(m map[string]float64) string {
	var parts []string
	for _, p := range rssShort {
		if v, ok := m[p.name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", p.short, v))
		}
	}
	return strings.Join(parts, ", ")
}

// faultTable renders rows as the Markdown table of docs/reliability.md.
func faultTable(rows []faultRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| fault or load\t| checked\t| acked\t| lost\t| dup (FINAL)\t| raw copies\t| peak RSS MiB\t| recovery s\t| notes\t|")
	fmt.Fprintln(tw, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
	for _, r := range rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %d\t| %d\t| %d\t| %d\t| %s\t| %.1f\t| %s\t|\n",
			r.Fault, r.Checked, r.Acked, r.Lost, r.Dup, r.Raw, rssColumn(r.RSS), r.Recovery, r.Notes)
	}
	_ = tw.Flush()
	return b.String()
}

// percentile returns the p-quantile (0..1) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// statusSummary renders the failed attempts of s, e.g. "503×12 429×3 no answer×4".
func statusSummary(s windowStats) string {
	var parts []string
	codes := make([]int, 0, len(s.byStatus))
	for c := range s.byStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, s.byStatus[c]))
	}
	if s.transport > 0 {
		parts = append(parts, fmt.Sprintf("no answer×%d", s.transport))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// faultCase is one window of TestFaultKill9: what strikes and how long the process stays down.
type faultCase struct {
	name    string // subtest name: the process
	label   string // the report's "fault or load"
	process string // harness process name, or "clickhouse"
	down    time.Duration
}

const (
	// faultWindow is the load time of each window; the fault strikes faultStrike into it.
	faultWindow = 25 * time.Second
	faultStrike = 8 * time.Second
	// faultTenants tenants × faultRate requests/s × faultBatch events: the steady load.
	faultTenants = 3
	faultRate    = 10
	faultBatch   = 100
)

// TestFaultKill9 runs a steady load of faultTenants tenants through the whole pipeline and, in
// one window each, kills a process with SIGKILL and restarts it: the edge, normalizer, sink
// writer, loader, Kafka (on its data directory) and ClickHouse (on its data). After each
// window every event acknowledged with 2xx is visible exactly once through FINAL; at the end
// every window is checked again and the roll-ups (1m per window, 10m and 60m over all) equal
// metrics FINAL. Each window is a subtest (make test-faults FAULT=Kill9/kafka runs one).
func TestFaultKill9(t *testing.T) {
	requireFaults(t)
	began := time.Now()
	f := startFaultPipeline(t)
	t.Logf("pipeline ready after %v", time.Since(began).Round(time.Millisecond))
	var tenants []faultTenant
	var ids []string
	for i := range faultTenants {
		id := "fault-" + string(rune('a'+i))
		tenants = append(tenants, faultTenant{id: id, key: f.tenant(id, "v2", nil), idx: i})
		ids = append(ids, id)
	}
	l := newSteadyLoad(f, tenants, faultRate, faultBatch, 8)
	l.probe = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.rss.sampleEvery(ctx, 500*time.Millisecond)
	l.setWindow(0)
	l.start()
	defer l.stop()

	cases := []faultCase{
		{"none", "steady load, no fault", "", 0},
		{"edge", "kill -9 edge, restarted", "main-edge", time.Second},
		{"normalizer", "kill -9 normalizer, restarted", "normalizer", time.Second},
		{"sinkwriter", "kill -9 sink writer, restarted", "sinkwriter", time.Second},
		{"loader", "kill -9 loader, restarted", "loader", time.Second},
		{"kafka", "kill -9 Kafka, restarted on its data directory", "kafka", time.Second},
		{"clickhouse", "kill -9 ClickHouse, restarted on its data", "clickhouse", 3 * time.Second},
	}
	type ran struct {
		c       faultCase
		w       int
		rss     map[string]float64
		restart time.Duration
		visible time.Duration
	}
	var runs []ran
	next := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := next
			next++
			l.setWindow(w)
			f.rss.reset()
			start := time.Now()
			var restart time.Duration
			if c.process != "" {
				time.Sleep(faultStrike)
				f.rss.sample()
				l.markKill(w)
				if c.process == "clickhouse" {
					f.ch.Kill()
					time.Sleep(c.down)
					rs := time.Now()
					f.ch.Restart()
					restart = time.Since(rs)
				} else {
					f.kill9(t, c.process)
					time.Sleep(c.down)
					restart = f.restart(t, c.process)
				}
				t.Logf("%s killed; restarted and ready in %v", c.process, restart.Round(time.Millisecond))
			}
			time.Sleep(time.Until(start.Add(faultWindow)))
			rss := f.rss.snapshot()
			l.setWindow(w + 1) // the next window's requests start now; this one's finish
			l.waitWindowSettled(t, w, 3*time.Minute)
			chk, visible := f.waitWindow(t, l, w, 2*time.Minute)
			s := l.windowSnapshot(w)
			t.Logf("window %d (%s): %d requests, %d acknowledged, failed attempts: %s, abandoned %d; %d events acknowledged, %d lost, %d duplicated, %d raw copies, %d unacknowledged visible; all visible %v after the window",
				w, c.name, s.requests, s.acked, statusSummary(s), s.abandoned, chk.Acked, chk.Lost, chk.Duplicated, chk.RawCopies, chk.Unacked, visible.Round(time.Millisecond))
			if chk.Lost > 0 {
				t.Errorf("window %d (%s): %d acknowledged events are not visible after %v (e.g. %v)", w, c.name, chk.Lost, visible.Round(time.Second), chk.lostSample)
			}
			if chk.Duplicated > 0 {
				t.Errorf("window %d (%s): %d acknowledged events are visible more than once through FINAL", w, c.name, chk.Duplicated)
			}
			if s.rejected > 0 {
				t.Errorf("window %d (%s): %d events were rejected in 200 answers", w, c.name, s.rejected)
			}
			if s.noRetry > 0 {
				t.Errorf("window %d (%s): %d answers 429/503 without Retry-After", w, c.name, s.noRetry)
			}
			if chk.Acked == 0 {
				t.Errorf("window %d (%s): no event was acknowledged", w, c.name)
			}
			runs = append(runs, ran{c: c, w: w, rss: rss, restart: restart, visible: visible})
		})
	}
	l.stop()
	if len(runs) == 0 {
		return
	}
	t.Logf("load stopped after %v; checking every window again", time.Since(began).Round(time.Millisecond))

	// Again at the end, every window: a later fault (Kafka, ClickHouse) must not lose what an
	// earlier window had made visible. Then the roll-ups.
	var rows []faultRow
	var total idCheck
	var rollupErrs []string
	for _, r := range runs {
		var c idCheck
		for _, tn := range tenants {
			cc, err := f.checkWindow(context.Background(), tn, r.w, l.ackedSet(tn.idx, r.w))
			if err != nil {
				t.Fatalf("cannot check window %d: %v", r.w, err)
			}
			c.add(cc)
		}
		total.add(c)
		if c.Lost > 0 || c.Duplicated > 0 {
			t.Errorf("at the end, window %d (%s): %d acknowledged events lost, %d duplicated through FINAL (e.g. %v)", r.w, r.c.name, c.Lost, c.Duplicated, c.lostSample)
		}
		s := l.windowSnapshot(r.w)
		from := f.windowBase(r.w)
		var points, want uint64
		err := testkit.Poll(context.Background(), time.Minute, time.Second, func() error {
			var err error
			if points, want, err = f.rollupCheck(context.Background(), "metrics_1m", ids, from, from.Add(faultWindowSpan)); err != nil {
				return err
			}
			if points != want {
				return fmt.Errorf("metrics_1m has %d points, metrics FINAL %d rows", points, want)
			}
			return nil
		})
		rollup := fmt.Sprintf("1m roll-ups %d = %d metrics", points, want)
		if err != nil {
			t.Errorf("window %d (%s): the 1m roll-ups are not exact: %v", r.w, r.c.name, err)
			rollup = fmt.Sprintf("1m roll-ups %d ≠ %d metrics", points, want)
			rollupErrs = append(rollupErrs, r.c.name)
		}
		fault := r.c.label
		rec := 0.0
		notes := fmt.Sprintf("client errors (retried): %s; visible %.1fs after the window", statusSummary(s), r.visible.Seconds())
		if r.c.process != "" {
			// Recovery: until the probe was acknowledged again, or the last failed attempt
			// of any request, whichever is later (0: no client saw an error).
			if !s.recoveredAt.IsZero() {
				rec = s.recoveredAt.Sub(s.killAt).Seconds()
			}
			if !s.lastFailAt.IsZero() {
				rec = max(rec, s.lastFailAt.Sub(s.killAt).Seconds())
			}
			notes = fmt.Sprintf("down %v, ready %.1fs after restart; ", r.c.down, r.restart.Seconds()) + notes
		}
		rows = append(rows, faultRow{Test: "TestFaultKill9/" + r.c.name, Fault: fault,
			Checked: "acked ids exactly once through FINAL; " + rollup, Acked: c.Acked, Lost: c.Lost, Dup: c.Duplicated,
			Raw: c.RawCopies, RSS: r.rss, Recovery: rec, Notes: notes})
	}
	// The 10m and 60m roll-ups over every window (they lie within one hour).
	for _, table := range []string{"metrics_10m", "metrics_60m"} {
		err := testkit.Poll(context.Background(), time.Minute, time.Second, func() error {
			points, want, err := f.rollupCheck(context.Background(), table, ids, f.base, f.base.Add(time.Hour))
			if err == nil && points != want {
				err = fmt.Errorf("%s has %d points, metrics FINAL %d rows", table, points, want)
			}
			return err
		})
		if err != nil {
			t.Errorf("the %s roll-ups are not exact: %v", table, err)
			rollupErrs = append(rollupErrs, table)
		}
	}
	t.Logf("checked after %v", time.Since(began).Round(time.Millisecond))
	t.Logf("all windows: %d events acknowledged, %d lost, %d duplicated through FINAL, %d raw copies before merge, %d unacknowledged visible; roll-up mismatches: %v",
		total.Acked, total.Lost, total.Duplicated, total.RawCopies, total.Unacked, rollupErrs)
	report(t, rows...)
}
