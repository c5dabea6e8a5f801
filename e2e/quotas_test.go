package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/registry"
)

// The global quota scenario of `make test-quotas` (docs/edge.md, "Global quotas"): three Go
// edges, each its own process, and the control plane dividing a tenant's quota between them
// from their reports.
const (
	quotaEvents       = 2000 // the tenants' events_per_second (burst: one second of it)
	quotaBatch        = 20   // events per request
	quotaOverload     = 3    // the bursty tenant offers this many times its quota
	quotaSteadyRate   = 600  // events/s the steady tenant offers, spread over the live edges
	quotaConverge     = 2 * time.Second
	quotaWindow       = 30 * time.Second
	quotaMoveWindow   = 10 * time.Second
	quotaCPDown       = 30 * time.Second
	quotaEdgeTakeover = 5 * time.Second
	quotaTolerance    = 0.05
)

// quotaLoad sends requests to edges at set rates and counts, per tenant and 100 ms slot, the
// events admitted (2xx) and the requests refused with 429.
type quotaLoad struct {
	t     *testing.T
	start time.Time
	sem   chan struct{}

	mu       sync.Mutex
	admitted map[string][]int // tenant → events per slot
	refused  map[string]int   // tenant → 429s
	failed   map[string]int   // tenant → other answers or transport errors
	lastFail string
}

const quotaSlot = 100 * time.Millisecond

// quotaStream is one client: rate requests/s of quotaBatch events of tenant to edge.
type quotaStream struct {
	edge   *edgeStack
	tenant string
	key    string
	rate   float64
}

// run sends the streams for d, each request on time whatever the previous one's answer (a
// client that retries at once, as an overloaded client does).
func (l *quotaLoad) run(d time.Duration, streams ...quotaStream) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range streams {
		if s.rate <= 0 {
			continue
		}
		body := ndjson(s.tenant, quotaBatch, 40)
		wg.Go(func() {
			tick := time.NewTicker(time.Duration(float64(time.Second) / s.rate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				select {
				case l.sem <- struct{}{}:
				default:
					l.record(s.tenant, 0, "the client's 256 requests in flight are all taken")
					continue
				}
				wg.Go(func() {
					defer func() { <-l.sem }()
					rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer rcancel()
					a := s.edge.send(rctx, s.key, body)
					switch {
					case a.err == nil && a.status/100 == 2:
						l.record(s.tenant, quotaBatch, "")
					case a.err == nil && a.status == 429:
						l.record(s.tenant, -1, "")
					default:
						l.record(s.tenant, 0, a.String())
					}
				})
			}
		})
	}
	wg.Wait()
}

// record counts one answer: events admitted (> 0), a 429 (-1) or a failure (why != "").
func (l *quotaLoad) record(tenant string, events int, why string) {
	slot := int(time.Since(l.start) / quotaSlot)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case why != "":
		l.failed[tenant]++
		l.lastFail = why
	case events < 0:
		l.refused[tenant]++
	default:
		for len(l.admitted[tenant]) <= slot {
			l.admitted[tenant] = append(l.admitted[tenant], 0)
		}
		l.admitted[tenant][slot] += events
	}
}

// rate returns tenant's admitted events per second between from and to (since l.start).
func (l *quotaLoad) rate(tenant string, from, to time.Duration) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	sum := 0
	for i := int(from / quotaSlot); i < int(to/quotaSlot) && i < len(l.admitted[tenant]); i++ {
		sum += l.admitted[tenant][i]
	}
	return float64(sum) / (to - from).Seconds()
}

// TestGlobalQuotaHoldsAcrossThreeEdges (INGEST_QUOTAS=1, make test-quotas): a tenant whose
// clients offer 3× its quota, 90% to one edge and 10% to another, is admitted its quota
// (±5%) across the three edges after 2 s; when its traffic moves to the third edge, again after
// 2 s; with the control plane killed for 30 s, at most 10% above it; with an edge killed and its
// clients moved to the others, its quota again within 5 s. A second tenant under its quota on
// the same edges sees no 429 throughout.
func TestGlobalQuotaHoldsAcrossThreeEdges(t *testing.T) {
	if os.Getenv("INGEST_QUOTAS") != "1" {
		t.Skip("the global quota scenario runs only with INGEST_QUOTAS=1 (make test-quotas)")
	}
	h := newHarness(t)
	up := startUpstream(t, false)
	adminAddr := h.cpAdminAddr()
	tokenFile := h.writeFile("report-token", secret()+"\n")
	cpCfg := h.writeFile("controlplane.yaml", fmt.Sprintf("admin:\n  report_token_file: %s\nxds:\n  report:\n    url: http://%s\n    token_file: %s\n    interval: 1s\n",
		tokenFile, adminAddr, tokenFile))
	cp := h.startControlPlane("q", adminAddr, up.addr, up.addr, "--config", cpCfg)
	a, b, c := h.startGoEdge(cp, "edge-a"), h.startGoEdge(cp, "edge-b"), h.startGoEdge(cp, "edge-c")
	edges := []*edgeStack{a, b, c}

	keys := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range []string{"bursty", "steady"} {
		if _, err := cp.cp.CreateTenant(ctx, api.CreateTenantRequest{ID: id, Stage: "v2", Quotas: &registry.Quotas{EventsPerSecond: quotaEvents}}); err != nil {
			t.Fatalf("cannot create tenant %s: %v", id, err)
		}
		k, err := cp.cp.CreateKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k.Key
		for _, e := range edges {
			e.waitRouted(id, k.Key)
		}
	}

	l := &quotaLoad{t: t, start: time.Now(), sem: make(chan struct{}, 256),
		admitted: map[string][]int{}, refused: map[string]int{}, failed: map[string]int{}}
	offered := float64(quotaOverload*quotaEvents) / quotaBatch // requests/s
	steady := func(live ...*edgeStack) []quotaStream {
		var out []quotaStream
		for _, e := range live {
			out = append(out, quotaStream{e, "steady", keys["steady"], float64(quotaSteadyRate) / quotaBatch / float64(len(live))})
		}
		return out
	}
	check := func(phase string, from, to time.Duration, lo, hi float64) {
		t.Helper()
		got := l.rate("bursty", from, to)
		t.Logf("%s: bursty admitted %.0f events/s over %v (quota %d)", phase, got, to-from, quotaEvents)
		if got < lo*quotaEvents || got > hi*quotaEvents {
			t.Errorf("%s: bursty admitted %.0f events/s, want %.0f..%.0f", phase, got, lo*quotaEvents, hi*quotaEvents)
		}
	}
	at := func() time.Duration { return time.Since(l.start) }

	// 1. 90% to a, 10% to b.
	p1 := at()
	l.run(quotaConverge+quotaWindow, append(steady(a, b, c),
		quotaStream{a, "bursty", keys["bursty"], 0.9 * offered}, quotaStream{b, "bursty", keys["bursty"], 0.1 * offered})...)
	check("90% to edge-a, 10% to edge-b", p1+quotaConverge, p1+quotaConverge+quotaWindow, 1-quotaTolerance, 1+quotaTolerance)

	// 2. Everything to c.
	p2 := at()
	l.run(quotaConverge+quotaMoveWindow, append(steady(a, b, c), quotaStream{c, "bursty", keys["bursty"], offered})...)
	check("moved to edge-c", p2+quotaConverge, p2+quotaConverge+quotaMoveWindow, 1-quotaTolerance, 1+quotaTolerance)

	// 3. The control plane is killed for 30 s.
	f := &faultPipeline{edgeStack: &edgeStack{h: h}}
	f.kill9(t, "q-controlplane")
	p3 := at()
	l.run(quotaCPDown, append(steady(a, b, c), quotaStream{c, "bursty", keys["bursty"], offered})...)
	check("control plane down", p3, p3+quotaCPDown, 0, 1.10)
	old := h.latest("q-controlplane")
	cpProc := h.start("q-controlplane", old.cmd.Env, old.cmd.Args[1:]...)
	h.waitHTTP(cpProc, "http://"+argOf(cpProc, "--admin-listen")+"/healthz")
	l.run(3*time.Second, append(steady(a, b, c), quotaStream{c, "bursty", keys["bursty"], offered})...)

	// 4. Edge c dies; its clients move to a and b.
	l.run(3*time.Second, append(steady(a, b), quotaStream{c, "bursty", keys["bursty"], offered})...)
	f.kill9(t, "edge-c-edge")
	p4 := at()
	l.run(quotaEdgeTakeover+quotaMoveWindow, append(steady(a, b),
		quotaStream{a, "bursty", keys["bursty"], offered / 2}, quotaStream{b, "bursty", keys["bursty"], offered / 2})...)
	check("edge-c killed", p4+quotaEdgeTakeover, p4+quotaEdgeTakeover+quotaMoveWindow, 1-quotaTolerance, 1+quotaTolerance)

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("steady: %d requests refused with 429, %d failed; bursty: %d refused, %d failed (last failure: %s)",
		l.refused["steady"], l.failed["steady"], l.refused["bursty"], l.failed["bursty"], l.lastFail)
	if l.refused["steady"] > 0 {
		t.Errorf("the steady tenant, under its quota, was refused %d requests with 429", l.refused["steady"])
	}
	if l.failed["steady"]+l.failed["bursty"] > 0 {
		t.Errorf("%d requests failed otherwise (last: %s)", l.failed["steady"]+l.failed["bursty"], l.lastFail)
	}
}
