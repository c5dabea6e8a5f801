package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
)

const (
	// faultSustainableRate is the load this machine sustains, in events/s: the standard
	// scenario's landed rate (BENCHMARKS.md, "Whole pipeline": 38,242 events/s on the 2-vCPU
	// reference machine). INGEST_FAULTS_SUSTAINABLE_RATE overrides it.
	faultSustainableRate = 38000
	// faultOverloadFactor × the sustainable rate is offered for faultOverloadDuration.
	faultOverloadFactor   = 10
	faultOverloadDuration = 60 * time.Second
	// faultOverloadTenants tenants share the overload; each sends faultFloodBodies distinct
	// requests of faultFloodBatch events over and over (the same ids each time, so what lands
	// twice is deduplicated, and the set to check stays bounded).
	faultOverloadTenants = 4
	faultFloodBodies     = 24
	faultFloodBatch      = 4000
	faultFloodConc       = 48 // requests in progress per tenant
	// faultRecoveryBound bounds the time from the end of the overload until a normal request
	// is acknowledged again.
	faultRecoveryBound = 30 * time.Second

	// The noisy neighbour: faultQuietTenants tenants at faultQuietRate requests/s of
	// faultQuietBatch events (well within their quota, faultQuietQuota events/s), and one
	// tenant with quota faultNoisyQuota offered 20× it. What the noisy tenant is admitted is
	// load like any other tenant's; what is measured is the cost of its excess, so its quota
	// is a tenth of the quiet tenants' load (with a quota equal to it, the noisy phases would
	// double the pipeline's work and measure that, not isolation) while its requests come as
	// often as the quiet tenants' together, twice over (40/s of 50 events).
	faultQuietTenants = 2
	faultQuietRate    = 10
	faultQuietBatch   = 50
	faultQuietQuota   = 5000
	faultNoisyQuota   = 100
	faultNoisyFactor  = 20
	faultNoisyBatch   = 50
	// faultNoisyRounds rounds of a baseline phase (quiet tenants only) then a noisy phase
	// (quiet tenants plus the noisy one), each faultNoisyPhase long, with the same quiet load.
	// Short phases, many rounds: the machine's drift (ClickHouse merges, the roll-up worker)
	// falls on both kinds of phase alike rather than on whichever ran during it.
	faultNoisyRounds = 6
	faultNoisyPhase  = 10 * time.Second
	// faultP95Tolerance: the quiet tenants' p95 in the noisy phases may exceed the baseline's
	// by at most this fraction (INGEST_FAULTS_P95_TOLERANCE overrides it; docs/reliability.md
	// gives the measured figures).
	faultP95Tolerance = 0.10
	// faultFloodWindow is the window number in the ids of flooded events.
	faultFloodWindow = 0xf00
)

// flood offers one tenant's pre-built bodies round robin at rate requests/s with at most conc
// in progress, never waiting for Retry-After: many clients that do not back off. It remembers
// which bodies were acknowledged.
type flood struct {
	f      *faultPipeline
	tn     faultTenant
	bodies [][]byte
	rate   float64
	conc   int

	mu        sync.Mutex
	attempts  int
	ok        int
	byStatus  map[int]int
	transport int
	noRetry   int // 429 and 503 without Retry-After
	rejected  int // events a 200 reported rejected (none expected)
	skipped   int // ticks with conc requests in progress: offered load the client could not send
	acked     []bool
}

func newFlood(f *faultPipeline, tn faultTenant, nBodies, batch, pad int, rate float64, conc int) *flood {
	fl := &flood{f: f, tn: tn, rate: rate, conc: conc, byStatus: map[int]int{}, acked: make([]bool, nBodies)}
	for i := range nBodies {
		fl.bodies = append(fl.bodies, f.faultBody(tn, faultFloodWindow, uint64(i*batch), batch, pad))
	}
	return fl
}

// run offers the load until ctx ends and waits for the requests in progress.
func (fl *flood) run(ctx context.Context) {
	sem := make(chan struct{}, fl.conc)
	tick := time.NewTicker(time.Duration(float64(time.Second) / fl.rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			fl.mu.Lock()
			fl.skipped++
			fl.mu.Unlock()
			continue
		}
		b := i % len(fl.bodies)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			a := fl.f.send(rctx, fl.tn.key, fl.bodies[b])
			cancel()
			fl.mu.Lock()
			defer fl.mu.Unlock()
			fl.attempts++
			switch {
			case a.err != nil:
				fl.transport++
			case a.status/100 == 2:
				var na ndjsonAnswer
				_ = json.Unmarshal([]byte(a.body), &na)
				fl.ok++
				fl.rejected += na.Rejected
				fl.acked[b] = true
			default:
				fl.byStatus[a.status]++
				if (a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable) && a.retryAfter == "" {
					fl.noRetry++
				}
			}
		}()
	}
}

// ackedSeqs returns the sequence numbers of the acknowledged bodies' events.
func (fl *flood) ackedSeqs(batch int) map[uint64]struct{} {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	out := map[uint64]struct{}{}
	for b, ok := range fl.acked {
		if ok {
			for i := range batch {
				out[uint64(b*batch+i)] = struct{}{}
			}
		}
	}
	return out
}

func (fl *flood) sheds() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.byStatus[http.StatusTooManyRequests] + fl.byStatus[http.StatusServiceUnavailable]
}

// waitFlood checks the acknowledged flooded events of tn until none is missing or timeout.
func (f *faultPipeline) waitFlood(t *testing.T, tn faultTenant, acked map[uint64]struct{}, timeout time.Duration) (idCheck, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		c, err := f.checkWindow(context.Background(), tn, faultFloodWindow, acked)
		if err == nil && c.Lost == 0 || time.Since(start) > timeout {
			if err != nil {
				t.Errorf("cannot check the flooded events of %s: %v", tn.id, err)
			}
			return c, time.Since(start)
		}
		time.Sleep(2 * time.Second)
	}
}

// shedCounters reads ingest_edge_shed_total, ingest_normalizer_shed_total and
// ingest_sinkwriter_shed_total, keyed by process.
func (f *faultPipeline) shedCounters(t *testing.T) map[string]map[[2]string]float64 {
	t.Helper()
	out := map[string]map[[2]string]float64{}
	for _, src := range []struct{ proc, flag, metric string }{
		{"main-edge", "--admin-listen", "ingest_edge_shed_total"},
		{"normalizer", "--listen", "ingest_normalizer_shed_total"},
		{"sinkwriter", "--listen", "ingest_sinkwriter_shed_total"},
	} {
		m, err := scrapeSheds("http://"+argOf(f.h.latest(src.proc), src.flag)+"/metrics", src.metric)
		if err != nil {
			t.Fatalf("cannot read %s of %s: %v", src.metric, src.proc, err)
		}
		out[src.proc] = m
	}
	return out
}

func envFloat(t *testing.T, name string, def float64) float64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		t.Fatalf("cannot use %s=%q: want a positive number", name, v)
	}
	return f
}

// TestFaultOverload offers faultOverloadFactor × the sustainable load for
// faultOverloadDuration to the pipeline with the suite's bounds: the peak RSS of the edge,
// normalizer, sink writer and loader stays under its bound (faultRSSBounds), every 429 and 503
// a client got is counted per tenant and reason at the edge or the normalizer and carries
// Retry-After, a normal request is acknowledged within faultRecoveryBound of the end, and every
// acknowledged event is visible exactly once through FINAL.
func TestFaultOverload(t *testing.T) {
	requireFaults(t)
	f := startFaultPipeline(t)
	sustainable := envFloat(t, "INGEST_FAULTS_SUSTAINABLE_RATE", faultSustainableRate)
	offered := faultOverloadFactor * sustainable
	perTenant := offered / faultOverloadTenants / faultFloodBatch // requests/s
	var floods []*flood
	for i := range faultOverloadTenants {
		id := "over-" + string(rune('a'+i))
		tn := faultTenant{id: id, key: f.tenant(id, "v2", nil), idx: i}
		floods = append(floods, newFlood(f, tn, faultFloodBodies, faultFloodBatch, 0, perTenant, faultFloodConc))
	}
	probeTn := faultTenant{id: "over-probe", idx: faultOverloadTenants}
	probeTn.key = f.tenant(probeTn.id, "v2", nil)

	before := f.shedCounters(t)
	f.rss.reset()
	sampling, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	go f.rss.sampleEvery(sampling, 250*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), faultOverloadDuration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, fl := range floods {
		wg.Add(1)
		go func() { defer wg.Done(); fl.run(ctx) }()
	}
	<-ctx.Done()
	end := time.Now()

	// Recovery: a normal request (one tracked event, as the steady load sends) every 250 ms
	// from the end of the overload until it is acknowledged; the requests still in progress
	// finish meanwhile.
	var recovery time.Duration
	for {
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		a := f.send(rctx, probeTn.key, f.faultBody(probeTn, 0, 0, 1, 0))
		rcancel()
		if a.err == nil && a.status/100 == 2 {
			recovery = time.Since(end)
			break
		}
		if time.Since(end) > 2*faultRecoveryBound {
			t.Fatalf("no normal request acknowledged within %v of the end of the overload (last: %v)", 2*faultRecoveryBound, a)
		}
		time.Sleep(250 * time.Millisecond)
	}
	wg.Wait()
	loadTime := time.Since(start)
	stopSampling()
	rss := f.rss.snapshot()
	after := f.shedCounters(t)

	// Sheds: what each tenant's clients got against the counters of the edge and normalizer.
	var notes []string
	var attempts, ok, sheds, transport, skipped, noRetry, rejected int
	var total idCheck
	statuses := map[int]int{}
	for _, fl := range floods {
		fl.mu.Lock()
		attempts += fl.attempts
		ok += fl.ok
		transport += fl.transport
		skipped += fl.skipped
		noRetry += fl.noRetry
		rejected += fl.rejected
		for c, n := range fl.byStatus {
			statuses[c] += n
		}
		fl.mu.Unlock()
		counted := map[string]map[string]float64{}
		for proc, m := range after {
			for k, v := range m {
				if k[0] != fl.tn.id {
					continue
				}
				if d := v - before[proc][k]; d > 0 {
					if counted[proc] == nil {
						counted[proc] = map[string]float64{}
					}
					counted[proc][k[1]] += d
				}
			}
		}
		got := fl.sheds()
		sheds += got
		var atEdgeOrNormalizer float64
		for _, p := range []string{"main-edge", "normalizer"} {
			for _, v := range counted[p] {
				atEdgeOrNormalizer += v
			}
		}
		t.Logf("tenant %s: %d attempts, %d acknowledged, 429/503 %d (%v), no answer %d; counted sheds: %v", fl.tn.id, fl.attempts, fl.ok, got, fl.byStatus, fl.transport, counted)
		notes = append(notes, fmt.Sprintf("%s: %d shed, counted %s", fl.tn.id, got, shedSummary(counted)))
		if float64(got) > atEdgeOrNormalizer {
			t.Errorf("tenant %s got %d answers 429/503, but the edge and normalizer counted %v sheds of it: a shed is not counted per tenant and reason",
				fl.tn.id, got, atEdgeOrNormalizer)
		}
		c, visible := f.waitFlood(t, fl.tn, fl.ackedSeqs(faultFloodBatch), 3*time.Minute)
		t.Logf("tenant %s: %d events acknowledged, %d lost, %d duplicated through FINAL, %d raw copies (visible %v after the load)",
			fl.tn.id, c.Acked, c.Lost, c.Duplicated, c.RawCopies, visible.Round(time.Millisecond))
		total.add(c)
	}
	pc, err := f.checkWindow(context.Background(), probeTn, 0, map[uint64]struct{}{0: {}})
	if err != nil {
		t.Errorf("cannot check the recovery request: %v", err)
	}
	total.add(pc)
	if total.Lost > 0 || total.Duplicated > 0 {
		t.Errorf("overload: %d acknowledged events lost, %d duplicated through FINAL (e.g. %v)", total.Lost, total.Duplicated, total.lostSample)
	}
	if sheds == 0 {
		// Not a failure: 10× the sustainable load is 10× what lands in ClickHouse, and the
		// acknowledgement path (edge → normalizer → sink writer → Kafka) may keep up with it,
		// Kafka holding what the loader has not loaded yet. The bounds, the exactly-once check
		// and the recovery are checked all the same; on this machine runs shed from 0 to 1 %.
		t.Logf("no request was shed: the acknowledgement path kept up with %.0f events/s (Kafka buffered the backlog)", offered)
	}
	if noRetry > 0 {
		t.Errorf("%d answers 429/503 without Retry-After", noRetry)
	}
	if rejected > 0 {
		t.Errorf("%d events were rejected in 200 answers", rejected)
	}
	if recovery > faultRecoveryBound {
		t.Errorf("a normal request was acknowledged %v after the overload, above the %v bound", recovery.Round(time.Millisecond), faultRecoveryBound)
	}
	var rssNotes []string
	for _, b := range faultRSSBounds() {
		bound := float64(b.bytes()) / (1 << 20)
		got := rss[b.process]
		rssNotes = append(rssNotes, fmt.Sprintf("%s %.0f ≤ %.0f", b.process, got, bound))
		if got > bound {
			t.Errorf("%s: peak RSS %.0f MiB above its bound %.0f MiB (%s)", b.process, got, bound, b.formula)
		}
	}
	sent := float64(attempts*faultFloodBatch) / loadTime.Seconds()
	t.Logf("overload: %.0f events/s asked (%d× %.0f), %.0f events/s sent (%d requests, %d ticks skipped with %d in progress per tenant), %d acknowledged, statuses %v, no answer %d; recovery %v; RSS MiB vs bounds: %s",
		offered, faultOverloadFactor, sustainable, sent, attempts, skipped, faultFloodConc, ok, statuses, transport, recovery.Round(time.Millisecond), strings.Join(rssNotes, ", "))
	report(t, faultRow{Test: "TestFaultOverload",
		Fault:   fmt.Sprintf("%d× the sustainable load (%.0f events/s asked, %.0f sent) for %v", faultOverloadFactor, offered, sent, faultOverloadDuration),
		Checked: "peak RSS ≤ bound (" + strings.Join(rssNotes, ", ") + "); every 429/503 counted per tenant and reason with Retry-After; acked ids exactly once through FINAL; a normal request acked again",
		Acked:   total.Acked, Lost: total.Lost, Dup: total.Duplicated, Raw: total.RawCopies, RSS: rss, Recovery: recovery.Seconds(),
		Notes: fmt.Sprintf("%d requests: %d acked, statuses %v, no answer %d; %s", attempts, ok, statuses, transport, strings.Join(notes, "; "))})
}

// shedSummary renders per-process shed counts by reason.
func shedSummary(m map[string]map[string]float64) string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(m)) {
		var rs []string
		for _, r := range slices.Sorted(maps.Keys(m[p])) {
			rs = append(rs, fmt.Sprintf("%s %.0f", strings.TrimPrefix(r, "err-ingest-"), m[p][r]))
		}
		parts = append(parts, p+" "+strings.Join(rs, " "))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// TestFaultNoisyTenant runs faultQuietTenants tenants at a steady load within their quota, in
// rounds of a baseline phase and a phase in which one more tenant offers faultNoisyFactor × its
// quota: the quiet tenants see no error in any phase, and their p95 request latency over the
// noisy phases stays within faultP95Tolerance of the baseline phases'. Every event acknowledged
// to any of them is visible exactly once through FINAL.
func TestFaultNoisyTenant(t *testing.T) {
	requireFaults(t)
	tolerance := envFloat(t, "INGEST_FAULTS_P95_TOLERANCE", faultP95Tolerance)
	f := startFaultPipeline(t)
	var quiet []faultTenant
	for i := range faultQuietTenants {
		id := "quiet-" + string(rune('a'+i))
		quiet = append(quiet, faultTenant{id: id, key: f.tenant(id, "v2", &registry.Quotas{EventsPerSecond: faultQuietQuota}), idx: i})
	}
	noisyTn := faultTenant{id: "noisy", idx: faultQuietTenants}
	noisyTn.key = f.tenant(noisyTn.id, "v2", &registry.Quotas{EventsPerSecond: faultNoisyQuota})
	noisyRate := float64(faultNoisyFactor*faultNoisyQuota) / faultNoisyBatch // requests/s
	noisy := newFlood(f, noisyTn, 40, faultNoisyBatch, 0, noisyRate, 32)

	l := newSteadyLoad(f, quiet, faultQuietRate, faultQuietBatch, 4)
	l.setWindow(0) // warm-up, not measured
	l.start()
	defer l.stop()
	time.Sleep(5 * time.Second)
	f.rss.reset()
	var baseW, noisyW []int
	w := 1
	for range faultNoisyRounds {
		baseW = append(baseW, w)
		l.setWindow(w)
		time.Sleep(faultNoisyPhase)
		w++
		noisyW = append(noisyW, w)
		l.setWindow(w)
		ctx, cancel := context.WithTimeout(context.Background(), faultNoisyPhase)
		noisy.run(ctx)
		cancel()
		w++
	}
	l.setWindow(w)
	time.Sleep(time.Second)
	l.stop()
	rss := f.rss.snapshot()

	phase := func(ws []int) (lat []time.Duration, requests, failed int, statuses string) {
		var ss []string
		for _, w := range ws {
			s := l.windowSnapshot(w)
			lat = append(lat, s.latencies...)
			requests += s.requests
			failed += s.failed + s.abandoned
			ss = append(ss, statusSummary(s))
		}
		return lat, requests, failed, strings.Join(ss, "; ")
	}
	baseLat, baseReq, baseFailed, baseStatus := phase(baseW)
	noisyLat, noisyReq, noisyFailed, noisyStatus := phase(noisyW)
	p95b, p95n := percentile(baseLat, 0.95), percentile(noisyLat, 0.95)
	p50b, p50n := percentile(baseLat, 0.50), percentile(noisyLat, 0.50)
	ratio := float64(p95n)/float64(p95b) - 1
	t.Logf("quiet tenants, baseline: %d requests, %d failed (%s), p50 %v p95 %v; with the noisy tenant: %d requests, %d failed (%s), p50 %v p95 %v; p95 %+.1f%% (tolerance %.0f%%)",
		baseReq, baseFailed, baseStatus, p50b, p95b, noisyReq, noisyFailed, noisyStatus, p50n, p95n, 100*ratio, 100*tolerance)
	noisy.mu.Lock()
	t.Logf("noisy tenant: %d attempts (%.0f requests/s of %d events asked: %d× its quota of %d events/s), %d acknowledged, statuses %v, no answer %d, ticks skipped %d",
		noisy.attempts, noisyRate, faultNoisyBatch, faultNoisyFactor, faultNoisyQuota, noisy.ok, noisy.byStatus, noisy.transport, noisy.skipped)
	noisyNote := fmt.Sprintf("noisy: %d attempts, %d acked, statuses %v", noisy.attempts, noisy.ok, noisy.byStatus)
	noisy.mu.Unlock()
	if baseFailed+noisyFailed > 0 {
		t.Errorf("the quiet tenants got %d errors in the baseline and %d with the noisy tenant; want 0", baseFailed, noisyFailed)
	}
	if noisy.rejected > 0 {
		t.Errorf("%d events of the noisy tenant were rejected in 200 answers", noisy.rejected)
	}
	if noisy.sheds() == 0 {
		t.Errorf("the noisy tenant at %d× its quota was never answered 429", faultNoisyFactor)
	}
	if ratio > tolerance {
		t.Errorf("the quiet tenants' p95 rose %.1f%% with the noisy tenant (%v → %v), above the %.0f%% tolerance (INGEST_FAULTS_P95_TOLERANCE)",
			100*ratio, p95b, p95n, 100*tolerance)
	}

	var total idCheck
	for _, w := range slices.Concat([]int{0}, baseW, noisyW, []int{w}) {
		c, _ := f.waitWindow(t, l, w, 2*time.Minute)
		total.add(c)
	}
	nc, _ := f.waitFlood(t, noisyTn, noisy.ackedSeqs(faultNoisyBatch), 2*time.Minute)
	total.add(nc)
	if total.Lost > 0 || total.Duplicated > 0 {
		t.Errorf("%d acknowledged events lost, %d duplicated through FINAL (e.g. %v)", total.Lost, total.Duplicated, total.lostSample)
	}
	report(t, faultRow{Test: "TestFaultNoisyTenant",
		Fault: fmt.Sprintf("one tenant at %d× its quota (%d events/s), %d quiet tenants at %d events/s each", faultNoisyFactor, faultNoisyQuota,
			faultQuietTenants, faultQuietRate*faultQuietBatch),
		Checked: fmt.Sprintf("quiet tenants: errors %d (baseline %d); p95 %v vs %v baseline (%+.1f%%, tolerance %.0f%%); acked ids exactly once through FINAL",
			noisyFailed, baseFailed, p95n.Round(100*time.Microsecond), p95b.Round(100*time.Microsecond), 100*ratio, 100*tolerance),
		Acked: total.Acked, Lost: total.Lost, Dup: total.Duplicated, Raw: total.RawCopies, RSS: rss,
		Notes: fmt.Sprintf("p50 %v vs %v; %d rounds of %v + %v; %s", p50n.Round(100*time.Microsecond), p50b.Round(100*time.Microsecond),
			faultNoisyRounds, faultNoisyPhase, faultNoisyPhase, noisyNote)})
}
