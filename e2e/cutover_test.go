package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	cpclient "github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/testkit"
)

// The cutover settings of the test's control plane: one-second buckets, so that the gate can
// be passed within seconds. Reporters report four times a bucket, so that every bucket holds
// reports of the edges and the loader while the background traffic runs.
const (
	cutBucket      = time.Second
	cutLag         = 2 * time.Second
	cutWindow      = 8 * time.Second
	cutReportEvery = 250 * time.Millisecond
	// statusRows is how many buckets the tests read: the gate window, the buckets not yet
	// complete and some before, so that every count of a scenario is in the table.
	statusRows = 30
)

// legacyBody is the answer of the legacy stand-in (ingest-v1) to a POST, legacyGetBody to a
// GET; the normalizer (ingest-v2) answers a POST with counts and a GET with a JSON error.
const (
	legacyBody    = `{"accepted":true}`
	legacyGetBody = "use POST"
)

// cutoverStack is the whole pipeline with the cutover report stream wired, every service its
// own process: ClickHouse, Kafka, the migration, sink writer, loader and normalizer (both
// reporting), the control plane (report token, cutover settings, edge reports over xDS), two Go
// edges on it, and the in-test legacy stand-in as ingest-v1.
type cutoverStack struct {
	h      *harness
	ch     *chtest.Server
	legacy *upstream
	cp     *controlPlane
	edges  []*edgeStack
	// sinkWriter is the sink writer's process, to pause.
	sinkWriter *proc
	// cpStarted is when the control plane was started: it counts from then on.
	cpStarted time.Time
}

func startCutoverStack(t *testing.T) *cutoverStack {
	h := newHarness(t)
	ingestctlBinary(t) // built now: the test runs it while a gate passes
	ch := chtest.Start(t)
	_, kafka := h.startKafka("kafka")
	h.run("migrate", "migrate", "--clickhouse", ch.Addr())
	swProc, sw := h.startSinkWriterProc("sinkwriter", kafka)

	// The reporters start before the control plane (they retry until it answers): its admin
	// address is chosen now.
	cpAdmin := h.cpAdminAddr() // the sink writer lists the tenants there
	reportURL := "http://" + cpAdmin
	tokenFile := h.writeFile("report-token", secret()+"\n")
	reporting := fmt.Sprintf("url: %s\n  token_file: %s\n  interval: %s", reportURL, tokenFile, cutReportEvery)

	loaderAddr := testkit.FreeAddr(t)
	loaderCfg := h.writeFile("loader.yaml", "loader:\n  report:\n    "+strings.ReplaceAll(reporting, "\n", "\n  ")+"\n")
	lp := h.start("loader", nil, "loader", "--config", loaderCfg, "--brokers", kafka, "--clickhouse", ch.Addr(), "--listen", loaderAddr,
		"--skip-migrate", "--topic-refresh-interval", "1s", "--flush-interval", "200ms")
	h.waitHTTP(lp, "http://"+loaderAddr+"/healthz")
	normCfg := h.writeFile("normalizer.yaml", "report:\n  "+reporting+"\n")
	norm := h.startNormalizer("normalizer", sw, "--config", normCfg)
	legacy := startUpstream(t, false)

	cpCfg := h.writeFile("controlplane.yaml", fmt.Sprintf(`admin:
  report_token_file: %s
cutover:
  bucket_width: %s
  landing_lag: %s
  gate:
    window: %s
xds:
  report:
    %s
`, tokenFile, cutBucket, cutLag, cutWindow, strings.ReplaceAll(reporting, "\n", "\n  ")))
	started := time.Now()
	cp := h.startControlPlane("cut", cpAdmin, legacy.addr, norm, "--config", cpCfg)
	s := &cutoverStack{h: h, ch: ch, legacy: legacy, cp: cp, sinkWriter: swProc, cpStarted: started}
	for _, name := range []string{"edge-a", "edge-b"} {
		s.edges = append(s.edges, h.startGoEdge(cp, name))
	}
	return s
}

// tenant creates a tenant at stage and an API key, and waits until both edges route it.
func (s *cutoverStack) tenant(t *testing.T, id, stage string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.cp.cp.CreateTenant(ctx, api.CreateTenantRequest{ID: id, Stage: stage}); err != nil {
		t.Fatalf("cannot create tenant %q: %v", id, err)
	}
	k, err := s.cp.cp.CreateKey(ctx, id)
	if err != nil {
		t.Fatalf("cannot create a key for tenant %q: %v", id, err)
	}
	for _, e := range s.edges {
		e.waitRouted(id, k.Key)
	}
	return k.Key
}

// count returns the tenant's rows in table (ingest.logs or ingest.logs_shadow), FINAL.
func (s *cutoverStack) count(t *testing.T, table, tenant string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n uint64
	if err := s.ch.Conn().QueryRow(ctx, "SELECT count() FROM "+table+" FINAL WHERE tenant = ?", tenant).Scan(&n); err != nil {
		t.Fatalf("cannot count the rows of tenant %q in %s: %v", tenant, table, err)
	}
	return n
}

// waitRows polls until the tenant has exactly want rows in table (see waitCount).
func (s *cutoverStack) waitRows(t *testing.T, table, tenant string, want uint64) {
	t.Helper()
	waitCount(t, table, tenant, want, func() uint64 { return s.count(t, table, tenant) })
}

// status returns the tenant's cutover status with statusRows buckets.
func (s *cutoverStack) status(t *testing.T, tenant string) api.CutoverStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.cp.cp.Cutover(ctx, tenant, statusRows)
	if err != nil {
		t.Fatalf("cannot read the cutover status of tenant %q: %v", tenant, err)
	}
	return st
}

// waitVerdict polls the tenant's cutover status until done holds for it, for up to 40 s, and
// returns it; it fails the test with the last status otherwise.
func (s *cutoverStack) waitVerdict(t *testing.T, tenant, what string, done func(api.CutoverStatus) bool) api.CutoverStatus {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		st := s.status(t, tenant)
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s: no %s within 40s; last status:\n%s", tenant, what, statusText(st))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// statusText renders st's verdict and the buckets with counts, for failure messages.
func statusText(st api.CutoverStatus) string {
	var b strings.Builder
	v := st.Parity.Verdict
	fmt.Fprintf(&b, "stage %s since %s; verdict pass=%v observed %d/%d expected %d landed %d 5xx %d: %s %q\n",
		st.Stage, st.StageChangedAt.Format(time.RFC3339Nano), v.Pass, v.ObservedBuckets, v.RequiredBuckets,
		v.ExpectedEvents, v.LandedEvents, v.V2ServerErrors, v.Summary, v.Reasons)
	fmt.Fprintf(&b, "window %s – %s\n", v.WindowStart.Format("15:04:05"), v.WindowEnd.Format("15:04:05"))
	for _, r := range st.Parity.Rows {
		fmt.Fprintf(&b, "  %s v1 %d v2 %d expected %d landed %d 5xx %d complete=%v observed=%v %s\n",
			r.Start.Format("15:04:05"), r.V1Accepted, r.V2Accepted, r.Expected, r.Landed, r.V2ServerErrors, r.Complete, r.Observed, r.Note)
	}
	return b.String()
}

// sums adds up the columns of st's parity table since the current stage began.
func sums(st api.CutoverStatus) (v1, v2, expected, landed uint64) {
	for _, r := range st.Parity.Rows {
		if !r.End.After(st.StageChangedAt) {
			continue
		}
		v1 += r.V1Accepted
		v2 += r.V2Accepted
		expected += r.Expected
		landed += r.Landed
	}
	return v1, v2, expected, landed
}

// passesWith says the verdict passes over a window that holds exactly want expected events,
// all of which landed.
func passesWith(want uint64) func(api.CutoverStatus) bool {
	return func(st api.CutoverStatus) bool {
		v := st.Parity.Verdict
		return v.Pass && v.ExpectedEvents == want && v.LandedEvents == want
	}
}

// sent is one request of a test and its answer.
type sent struct {
	edge   int
	events int
	start  time.Time
	end    time.Time
	answer answer
}

func (r sent) ok() bool       { return r.answer.err == nil && r.answer.status/100 == 2 }
func (r sent) byLegacy() bool { return strings.TrimSpace(r.answer.body) == legacyBody }

// sendSpread sends requests of events each for tenant with key, request i through edge i%2,
// workers at a time, and returns them in order. Every body is distinct (prefix and i).
func (s *cutoverStack) sendSpread(key, prefix string, requests, events, workers int) []sent {
	out := make([]sent, requests)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				e := i % len(s.edges)
				start := time.Now()
				a := s.edges[e].send(context.Background(), key, ndjson(prefix+"-"+strconv.Itoa(i), events, 16))
				out[i] = sent{edge: e, events: events, start: start, end: time.Now(), answer: a}
			}
		})
	}
	for i := range requests {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// mustAllSucceed fails the test for every request not answered 2xx.
func mustAllSucceed(t *testing.T, what string, rs []sent) {
	t.Helper()
	var bad []string
	for i, r := range rs {
		if !r.ok() {
			bad = append(bad, fmt.Sprintf("request %d (edge %d): %v", i, r.edge, r.answer))
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%s: %d of %d requests not answered 2xx:\n%s", what, len(bad), len(rs), strings.Join(bad, "\n"))
	}
}

// background sends one event of tenant every interval, alternating edges, until stopped, so
// that every bucket holds reports of the edges and the loader (a bucket without them is not
// observed by the gate, whatever tenant they count). It returns a stop function that reports
// how many requests were not answered 2xx.
func (s *cutoverStack) background(key, tenant string, interval time.Duration) (stop func() (sent, failed int)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var n, bad int
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			a := s.edges[i%len(s.edges)].send(rctx, key, ndjson(tenant+"-"+strconv.Itoa(i), 1, 0))
			rcancel()
			if ctx.Err() != nil {
				return
			}
			n++
			if a.err != nil || a.status/100 != 2 {
				bad++
			}
		}
	}()
	return func() (int, int) {
		cancel()
		<-done
		return n, bad
	}
}

// oldEvents returns n log events of tenant stamped in 2020: ingest-v1 (the stand-in) takes
// them, ingest-v2 rejects every one (older than its max_past of 7 days).
func oldEvents(tenant string, n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"type\":\"log\",\"ts\":\"2020-01-01T00:00:%02dZ\",\"body\":\"e2e %s %d\"}\n", i%60, tenant, i)
	}
	return []byte(b.String())
}

// TestCutoverShadowCanaryV2RollbackAndTheGateOverRealProcesses drives tenants through the
// cutover stages with the parity gate fed by the reports of two edges, the normalizer and the
// loader, and checks at each stage where every event went (docs/cutover.md).
func TestCutoverShadowCanaryV2RollbackAndTheGateOverRealProcesses(t *testing.T) {
	testStart := time.Now()
	s := startCutoverStack(t)
	t.Logf("stack up in %v", time.Since(testStart).Round(time.Millisecond))
	cl := s.cp.cp

	const (
		acme   = "e2e-cut-acme"
		broken = "e2e-cut-broken"
		ticker = "e2e-cut-ticker"
		stall  = "e2e-cut-stall"
	)
	tickKey := s.tenant(t, ticker, "v2")
	stopTicker := s.background(tickKey, ticker, 100*time.Millisecond)
	defer stopTicker()
	acmeKey := s.tenant(t, acme, "shadow")
	brokenKey := s.tenant(t, broken, "shadow")
	stallKey := s.tenant(t, stall, "shadow")
	// Landed counts go to the bucket of their report's end minus the landing lag: make sure
	// that even the first one falls after the control plane started counting.
	time.Sleep(time.Until(s.cpStarted.Add(cutLag + 2*cutBucket)))

	ctx := context.Background()
	var v1Req, v1Events int // of acme at the legacy stand-in so far
	var canaryAt time.Time  // when acme advanced to canary:10

	t.Run("ShadowMirrorsEverythingAndParityIsTheSumOfBothEdges", func(t *testing.T) {
		const requests, events = 20, 10
		rs := s.sendSpread(acmeKey, "shadow", requests, events, 2)
		mustAllSucceed(t, "shadow", rs)
		perEdge := map[int]int{}
		for i, r := range rs {
			if !r.byLegacy() {
				t.Errorf("shadow request %d was answered by %q, want ingest-v1's answer", i, r.answer.body)
			}
			perEdge[r.edge] += r.events
		}
		if len(perEdge) != 2 || perEdge[0] == 0 || perEdge[1] == 0 {
			t.Fatalf("events per edge %v, want both edges to carry a part", perEdge)
		}
		const n = requests * events
		v1Req, v1Events = s.legacy.counts(acme)
		if v1Req != requests || v1Events != n {
			t.Errorf("ingest-v1 received %d requests with %d events, want %d with %d", v1Req, v1Events, requests, n)
		}
		s.waitRows(t, "ingest.logs_shadow", acme, n)
		if got := s.count(t, "ingest.logs", acme); got != 0 {
			t.Errorf("the shadow tenant has %d rows in the live table, want none", got)
		}

		st := s.waitVerdict(t, acme, fmt.Sprintf("passing verdict over all %d events", n), passesWith(n))
		v := st.Parity.Verdict
		if v.LandedPercent == nil || *v.LandedPercent != 100 {
			t.Errorf("landed percent %v, want 100", v.LandedPercent)
		}
		if v.ObservedBuckets != v.RequiredBuckets || v.RequiredBuckets != int(cutWindow/cutBucket) {
			t.Errorf("observed %d of %d buckets, want all %d", v.ObservedBuckets, v.RequiredBuckets, int(cutWindow/cutBucket))
		}
		v1, v2, expected, landed := sums(st)
		// Each edge saw only its part (perEdge); the v1-accepted column holds both.
		if v1 != n || v2 != n || expected != n || landed != n {
			t.Errorf("parity columns sum to v1 %d, v2 %d, expected %d, landed %d; want %d each (edges carried %v)\n%s",
				v1, v2, expected, landed, n, perEdge, statusText(st))
		}
		if st.Parity.ExpectedIs != "v1_accepted_events" || st.Parity.LandedIs != "landed_shadow_events" {
			t.Errorf("shadow parity compares %s with %s, want v1_accepted_events with landed_shadow_events", st.Parity.ExpectedIs, st.Parity.LandedIs)
		}
		t.Logf("shadow: %s (edge a %d, edge b %d events)", v.Summary, perEdge[0], perEdge[1])

		// The CLI against the real stack.
		out := s.ingestctl(t, "cutover", "status", acme, "--buckets", "3")
		for _, want := range []string{"tenant " + acme, "stage shadow", "gate: PASS", "ingestctl cutover advance " + acme} {
			if !strings.Contains(out, want) {
				t.Errorf("ingestctl cutover status does not say %q:\n%s", want, out)
			}
		}

		// Advance while the gate window still holds the traffic (the window slides on, and
		// the tenant sends nothing more in shadow).
		ch, err := cl.AdvanceCutover(ctx, acme, 0, api.CutoverAdvanceRequest{})
		canaryAt = time.Now()
		if err != nil {
			t.Fatalf("advance from shadow with a passing gate: %v", err)
		}
		if ch.To.String() != "canary:10" || ch.Forced || ch.Verdict == nil || !ch.Verdict.Pass {
			t.Fatalf("advance answered to %s forced=%v verdict %+v, want canary:10 on a passing gate", ch.To, ch.Forced, ch.Verdict)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("AFailingGateRefusesAndForceWithAReasonIsAudited", func(t *testing.T) {
		// ingest-v2 refuses every event of this tenant (timestamps from 2020) that ingest-v1
		// took: its v2 side is broken, nothing lands in the shadow tables.
		const requests, events = 4, 5
		for i := range requests {
			a := s.edges[i%2].send(ctx, brokenKey, oldEvents(broken, events))
			if a.err != nil || a.status/100 != 2 || strings.TrimSpace(a.body) != legacyBody {
				t.Fatalf("request %d of the broken tenant: %v, want ingest-v1's 2xx", i, a)
			}
		}
		const n = requests * events
		if req, ev := s.legacy.counts(broken); req != requests || ev != n {
			t.Errorf("ingest-v1 received %d requests with %d events of the broken tenant, want %d with %d", req, ev, requests, n)
		}
		st := s.waitVerdict(t, broken, fmt.Sprintf("window over all %d expected events", n), func(st api.CutoverStatus) bool {
			v := st.Parity.Verdict
			return v.ObservedBuckets == v.RequiredBuckets && v.ExpectedEvents == n
		})
		v := st.Parity.Verdict
		if v.Pass || v.LandedEvents != 0 || !strings.Contains(strings.Join(v.Reasons, "; "), "landed") {
			t.Fatalf("verdict with nothing landed: pass=%v landed %d reasons %q, want a failure saying what landed", v.Pass, v.LandedEvents, v.Reasons)
		}
		if got := s.count(t, "ingest.logs_shadow", broken); got != 0 {
			t.Errorf("the broken tenant has %d rows in the shadow table, want none", got)
		}

		_, err := cl.AdvanceCutover(ctx, broken, 0, api.CutoverAdvanceRequest{})
		var ae *cpclient.Error
		if !errors.Is(err, cpclient.ErrGateRefused) || !errors.As(err, &ae) || !strings.Contains(ae.Message, "landed") {
			t.Fatalf("advance of the broken tenant: %v, want ErrGateRefused saying what landed", err)
		}
		t.Logf("refused: %s", ae.Message)
		if tn, err := cl.GetTenant(ctx, broken); err != nil || tn.Stage.String() != "shadow" {
			t.Fatalf("after the refusal the broken tenant is at %v (%v), want shadow", tn.Stage, err)
		}

		const reason = "e2e: v1 keeps 2020 data that v2 refuses by design"
		ch, err := cl.AdvanceCutover(ctx, broken, 0, api.CutoverAdvanceRequest{Force: true, Reason: reason})
		if err != nil {
			t.Fatalf("forced advance: %v", err)
		}
		if !ch.Forced || ch.To.String() != "canary:10" || ch.Reason != reason {
			t.Errorf("forced advance answered forced=%v to %s reason %q, want forced to canary:10 with the reason", ch.Forced, ch.To, ch.Reason)
		}
		al, err := cl.Audit(ctx, cpclient.AuditQuery{Tenant: broken})
		if err != nil {
			t.Fatalf("cannot read the audit log: %v", err)
		}
		var found *registry.AuditEntry
		for i := range al.Entries {
			if e := &al.Entries[i]; e.Action == registry.ActionCutoverAdvance {
				found = e
			}
		}
		if found == nil || found.Reason != reason || found.Actor != "e2e" || !strings.Contains(found.Summary, "landed") {
			b, _ := json.MarshalIndent(al.Entries, "", "  ")
			t.Errorf("audit log of the broken tenant has no cutover.advance by e2e with the reason and the gate's reasons:\n%s", b)
		} else {
			t.Logf("audited: %s: %s (reason %q)", found.Action, found.Summary, found.Reason)
		}
	})

	var live uint64 // acme's rows in the live table so far
	t.Run("CanaryTenPercentSplitsWithNothingLostOrDoubled", func(t *testing.T) {
		// The routes reach the edges within a second; the landed counts of the first requests
		// go a landing lag back: wait until that is after the stage began.
		time.Sleep(time.Until(canaryAt.Add(cutLag + cutBucket)))
		shadowBefore := s.count(t, "ingest.logs_shadow", acme)

		const requests, events = 200, 5
		rs := s.sendSpread(acmeKey, "canary", requests, events, 8)
		mustAllSucceed(t, "canary", rs)
		toV1 := 0
		for _, r := range rs {
			if r.byLegacy() {
				toV1++
			}
		}
		req, ev := s.legacy.counts(acme)
		if req-v1Req != toV1 || ev-v1Events != toV1*events {
			t.Errorf("ingest-v1 received %d requests with %d events, the clients saw %d answered by it (%d events)", req-v1Req, ev-v1Events, toV1, toV1*events)
		}
		v1Req, v1Events = req, ev
		toV2 := requests - toV1
		if toV2 < requests*4/100 || toV2 > requests*18/100 {
			t.Errorf("%d of %d requests went to ingest-v2 at canary:10, want 4–18 %%", toV2, requests)
		}
		t.Logf("canary:10: %d of %d requests to ingest-v2 (%.1f %%)", toV2, requests, float64(toV2)*100/requests)
		live = uint64(toV2 * events)
		s.waitRows(t, "ingest.logs", acme, live)
		// Nothing lost or doubled: every event sent is in exactly one of the pipelines.
		if got := int(live) + toV1*events; got != requests*events {
			t.Errorf("live rows %d + ingest-v1 events %d = %d, want the %d sent", live, toV1*events, got, requests*events)
		}
		if got := s.count(t, "ingest.logs_shadow", acme); got != shadowBefore {
			t.Errorf("the shadow table grew from %d to %d rows at canary, want no mirror", shadowBefore, got)
		}

		st := s.waitVerdict(t, acme, fmt.Sprintf("passing verdict over the %d events ingest-v2 accepted", live), passesWith(live))
		if _, v2, _, landed := sums(st); v2 != live || landed != live {
			t.Errorf("canary parity columns: v2 accepted %d, landed %d, want %d each\n%s", v2, landed, live, statusText(st))
		}
		if st.Parity.ExpectedIs != "v2_accepted_events" || st.Parity.LandedIs != "landed_live_events" {
			t.Errorf("canary parity compares %s with %s, want v2_accepted_events with landed_live_events", st.Parity.ExpectedIs, st.Parity.LandedIs)
		}
		t.Logf("canary: %s", st.Parity.Verdict.Summary)
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("V2TakesEverything", func(t *testing.T) {
		ch, err := cl.AdvanceCutover(ctx, acme, 0, api.CutoverAdvanceRequest{})
		if err != nil {
			t.Fatalf("advance from canary with a passing gate: %v", err)
		}
		if ch.To.String() != "v2" || ch.Forced || ch.Verdict == nil || !ch.Verdict.Pass {
			t.Fatalf("advance answered to %s forced=%v verdict %+v, want v2 on a passing gate", ch.To, ch.Forced, ch.Verdict)
		}
		s.waitAllToV2(t, acmeKey)
		const requests, events = 20, 5
		rs := s.sendSpread(acmeKey, "v2", requests, events, 4)
		mustAllSucceed(t, "v2", rs)
		for i, r := range rs {
			if r.byLegacy() {
				t.Errorf("request %d at stage v2 was answered by ingest-v1", i)
			}
		}
		if req, ev := s.legacy.counts(acme); req != v1Req || ev != v1Events {
			t.Errorf("ingest-v1 received %d more requests (%d events) at stage v2, want none", req-v1Req, ev-v1Events)
		}
		live += requests * events
		s.waitRows(t, "ingest.logs", acme, live)
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("RollbackToLegacyWithinASecondAndNoRequestFails", func(t *testing.T) {
		const events = 2
		var (
			mu      sync.Mutex
			rs      []sent
			stopped = make(chan struct{})
			wg      sync.WaitGroup
		)
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stopped:
						return
					default:
					}
					e := (w + i) % len(s.edges)
					start := time.Now()
					a := s.edges[e].send(ctx, acmeKey, ndjson(fmt.Sprintf("rollback-%d-%d", w, i), events, 16))
					mu.Lock()
					rs = append(rs, sent{edge: e, events: events, start: start, end: time.Now(), answer: a})
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		time.Sleep(500 * time.Millisecond) // the stream is in flight
		called := time.Now()
		ch, err := cl.RollbackCutover(ctx, acme, 0, api.CutoverRollbackRequest{To: "legacy", Reason: "e2e rollback"})
		if err != nil {
			close(stopped)
			wg.Wait()
			t.Fatalf("rollback: %v", err)
		}
		if ch.From.String() != "v2" || ch.To.String() != "legacy" {
			t.Errorf("rollback answered %s -> %s, want v2 -> legacy", ch.From, ch.To)
		}
		var took time.Duration
		err = testkit.Poll(ctx, 5*time.Second, 5*time.Millisecond, func() error {
			at, ok := s.legacy.firstArrivalAfter(acme, called)
			if !ok {
				return errors.New("no request at ingest-v1 yet")
			}
			took = at.Sub(called)
			return nil
		})
		// Keep streaming a while after the switch: every later request must be answered too.
		time.Sleep(time.Second)
		close(stopped)
		wg.Wait()
		if err != nil {
			t.Fatalf("no request reached ingest-v1 after the rollback: %v", err)
		}
		t.Logf("rollback: the first request reached ingest-v1 %v after the call; %d requests in the stream", took.Round(time.Millisecond), len(rs))
		if took > time.Second {
			t.Errorf("the first request reached ingest-v1 %v after the rollback call, want within 1s", took)
		}
		mustAllSucceed(t, "rollback stream", rs)
		// Per edge: once it sent a request to ingest-v1, every request it got afterwards goes
		// there, and that happened within a second.
		for e := range s.edges {
			var switched time.Time
			for _, r := range rs {
				if r.edge == e && r.byLegacy() && (switched.IsZero() || r.end.Before(switched)) {
					switched = r.end
				}
			}
			if switched.IsZero() {
				t.Errorf("edge %d never answered from ingest-v1 after the rollback", e)
				continue
			}
			if d := switched.Sub(called); d > time.Second {
				t.Errorf("edge %d answered from ingest-v1 first %v after the rollback call, want within 1s", e, d)
			}
			for i, r := range rs {
				if r.edge == e && r.start.After(switched) && !r.byLegacy() {
					t.Errorf("edge %d: request %d sent %v after it switched went to ingest-v2", e, i, r.start.Sub(switched))
				}
			}
		}
		// Nothing lost or doubled.
		total, toV1 := 0, 0
		for _, r := range rs {
			total += r.events
			if r.byLegacy() {
				toV1 += r.events
			}
		}
		req, ev := s.legacy.counts(acme)
		if ev-v1Events != toV1 {
			t.Errorf("ingest-v1 received %d events (%d requests) in the stream, the clients saw %d answered by it", ev-v1Events, req-v1Req, toV1)
		}
		live += uint64(total - toV1)
		s.waitRows(t, "ingest.logs", acme, live)
	})

	// The background tenant is a v2 tenant: with the sink writer stopped (next) its requests
	// cannot succeed, so its traffic, which must all have been answered 2xx, stops here.
	sentN, failed := stopTicker()
	if failed > 0 {
		t.Errorf("the background tenant got %d of %d requests not answered 2xx", failed, sentN)
	}

	t.Run("AStalledV2SideHoldsTheGate", func(t *testing.T) {
		// The sink writer stops (SIGSTOP): ingest-v1 still answers the shadow tenant, its
		// mirrors wait in the normalizer and fail at its sink deadline, nothing lands, while
		// every reporter keeps reporting (empty intervals too): the gate sees the shortfall.
		s.sinkWriter.pause(t)
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				s.sinkWriter.resume(t)
			}
		}
		defer resume()
		const requests, events = 4, 5
		for i := range requests {
			a := s.edges[i%2].send(ctx, stallKey, ndjson(stall+"-"+strconv.Itoa(i), events, 16))
			if a.err != nil || a.status/100 != 2 || strings.TrimSpace(a.body) != legacyBody {
				t.Fatalf("request %d of the shadow tenant with the sink writer stopped: %v, want ingest-v1's 2xx", i, a)
			}
		}
		const why = "below 99.9 %"
		st := s.waitVerdict(t, stall, "verdict of events not landed", func(st api.CutoverStatus) bool {
			return strings.Contains(strings.Join(st.Parity.Verdict.Reasons, "; "), why)
		})
		if st.Parity.Verdict.Pass {
			t.Fatalf("the gate passes with the sink writer stopped:\n%s", statusText(st))
		}
		_, err := cl.AdvanceCutover(ctx, stall, 0, api.CutoverAdvanceRequest{})
		var ae *cpclient.Error
		if !errors.Is(err, cpclient.ErrGateRefused) || !errors.As(err, &ae) || !strings.Contains(ae.Message, why) {
			t.Fatalf("advance with the sink writer stopped: %v, want ErrGateRefused saying %q", err, why)
		}
		t.Logf("refused: %s", ae.Message)
		resume()
	})

	t.Logf("whole test %v", time.Since(testStart).Round(time.Millisecond))
}

// waitAllToV2 waits until both edges route tenant key's requests to ingest-v2 only: ten GETs
// in a row on each edge answered by the normalizer (a GET reaches the upstream, which
// answers 405, without counting any event), so that no stale route of the previous stage is
// left.
func (s *cutoverStack) waitAllToV2(t *testing.T, key string) {
	t.Helper()
	for i, e := range s.edges {
		inARow := 0
		deadline := time.Now().Add(10 * time.Second)
		for inARow < 10 {
			if time.Now().After(deadline) {
				t.Fatalf("edge %d does not route to ingest-v2 only within 10s", i)
			}
			a := e.get(key)
			switch {
			case a.err == nil && a.status == http.StatusMethodNotAllowed && strings.TrimSpace(a.body) != legacyGetBody:
				inARow++
			default:
				inARow = 0
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// get sends GET /v1/events with key and returns the answer.
func (s *edgeStack) get(key string) answer {
	req, err := http.NewRequest(http.MethodGet, s.url+"/v1/events", nil)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return answer{status: resp.StatusCode, body: string(b)}
}

// ingestctl runs `ingestctl <args...>` against the stack's control plane and returns its
// output, failing the test when it does not exit 0.
func (s *cutoverStack) ingestctl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(ingestctlBinary(t), args...)
	cmd.Env = append(os.Environ(), "INGEST_SERVER="+s.cp.adminURL, "INGEST_TOKEN="+s.cp.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ingestctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
