package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/chserver"
	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/internal/testkit"
)

// upstream is an in-test HTTP server (HTTP/1.1 and h2c, as the services) standing in for an
// external system: it counts the POSTs and events per tenant that the edge forwards, and, with
// hold set, keeps every POST open until release is closed.
type upstream struct {
	addr    string
	hold    bool
	arrived chan struct{} // one value per POST received, while it has room
	release chan struct{}
	once    sync.Once

	mu       sync.Mutex
	requests map[string]int
	events   map[string]int
	arrivals map[string][]time.Time // when each POST of the tenant arrived, in order
}

func startUpstream(t *testing.T, hold bool) *upstream {
	t.Helper()
	u := &upstream{hold: hold, arrived: make(chan struct{}, 1024), release: make(chan struct{}),
		requests: map[string]int{}, events: map[string]int{}, arrivals: map[string][]time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	hs := &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 10 * time.Second}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	go hs.Serve(ln)
	t.Cleanup(func() {
		u.releaseAll()
		hs.Close()
	})
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	tenant := r.Header.Get(filterconfig.HeaderTenantID)
	events, _ := strconv.Atoi(r.Header.Get(filterconfig.HeaderEventCount))
	u.mu.Lock()
	u.requests[tenant]++
	u.events[tenant] += events
	u.arrivals[tenant] = append(u.arrivals[tenant], time.Now())
	u.mu.Unlock()
	select {
	case u.arrived <- struct{}{}:
	default: // nobody waits for this many
	}
	if u.hold {
		select {
		case <-u.release:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{\"accepted\":true}\n")
}

// releaseAll lets every held request, and every later one, complete.
func (u *upstream) releaseAll() { u.once.Do(func() { close(u.release) }) }

func (u *upstream) counts(tenant string) (requests, events int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[tenant], u.events[tenant]
}

// firstArrivalAfter returns when the first POST of tenant after t arrived, and false when none
// did yet.
func (u *upstream) firstArrivalAfter(tenant string, t time.Time) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, at := range u.arrivals[tenant] {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// pipeline is the whole pipeline as separate processes: ClickHouse, Kafka, the schema
// migration, sink writer, loader, normalizer, the control plane and the edge, with an in-test
// legacy stand-in as the ingest-v1 upstream.
type pipeline struct {
	*edgeStack
	loaderURL string // http://<the loader's listener>: /metrics
	ch        *chtest.Server
	legacy    *upstream
	kafka     string // the brokers
}

func startPipeline(t *testing.T) *pipeline { return startPipelineWith(t, pipelineOptions{}) }

// pipelineOptions are the benchmarks' changes to startPipeline's pipeline.
type pipelineOptions struct {
	queryLog   bool     // ClickHouse logs its queries (chserver.Config.QueryLog)
	loaderArgs []string // appended to the loader's flags (a later flag wins)
}

func startPipelineWith(t *testing.T, o pipelineOptions) *pipeline {
	h := newHarness(t)
	ch := chtest.StartConfig(t, chserver.Config{QueryLog: o.queryLog})
	_, kafka := h.startKafka("kafka")
	h.run("migrate", "migrate", "--clickhouse", ch.Addr())
	sw := h.startSinkWriter("sinkwriter", kafka)
	loaderAddr := testkit.FreeAddr(t)
	lp := h.start("loader", nil, append([]string{"loader", "--brokers", kafka, "--clickhouse", ch.Addr(), "--listen", loaderAddr,
		"--skip-migrate", "--topic-refresh-interval", "1s", "--flush-interval", "200ms"}, o.loaderArgs...)...)
	h.waitHTTP(lp, "http://"+loaderAddr+"/healthz")
	norm := h.startNormalizer("normalizer", sw)
	legacy := startUpstream(t, false)
	// The control plane runs replays (ingestctl replay) against this Kafka and ClickHouse.
	return &pipeline{edgeStack: h.startEdge("main", legacy.addr, norm, "--clickhouse", ch.Addr(), "--replay-brokers", kafka),
		loaderURL: "http://" + loaderAddr, ch: ch, legacy: legacy, kafka: kafka}
}

// logCount is the documented query path: the tenant's rows in ingest.logs, FINAL.
func (p *pipeline) logCount(t *testing.T, tenant string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n uint64
	if err := p.ch.Conn().QueryRow(ctx, "SELECT count() FROM ingest.logs FINAL WHERE tenant = ?", tenant).Scan(&n); err != nil {
		t.Fatalf("cannot count the logs of tenant %q: %v", tenant, err)
	}
	return n
}

// shadowLogCount is logCount of the shadow table logs_shadow.
func (p *pipeline) shadowLogCount(t *testing.T, tenant string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n uint64
	if err := p.ch.Conn().QueryRow(ctx, "SELECT count() FROM ingest.logs_shadow FINAL WHERE tenant = ?", tenant).Scan(&n); err != nil {
		t.Fatalf("cannot count the shadow logs of tenant %q: %v", tenant, err)
	}
	return n
}

// waitLogCount polls ClickHouse until tenant has exactly want rows, for up to 30 s.
func (p *pipeline) waitLogCount(t *testing.T, tenant string, want uint64) {
	t.Helper()
	waitCount(t, "ingest.logs", tenant, want, func() uint64 { return p.logCount(t, tenant) })
}

// waitCount polls count until it returns exactly want, for up to 30 s.
func waitCount(t *testing.T, table, tenant string, want uint64, count func() uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got uint64
	for time.Now().Before(deadline) {
		if got = count(); got == want {
			return
		}
		if got > want {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("tenant %q has %d rows in %s, want exactly %d", tenant, got, table, want)
}

// mustAccept posts body and fails the test unless the edge answers 2xx.
func (p *pipeline) mustAccept(t *testing.T, key string, body []byte) {
	t.Helper()
	a := p.send(context.Background(), key, body)
	if a.err != nil || a.status/100 != 2 {
		t.Fatalf("POST /v1/events: %v, want 2xx", a)
	}
}

func TestPipeline(t *testing.T) {
	p := startPipeline(t)

	t.Run("ThreeTenantsOverTLSLandInClickHouseWithExactCounts", func(t *testing.T) {
		tenants := []struct {
			id               string
			requests, events int
		}{{"e2e-alpha", 3, 7}, {"e2e-beta", 5, 11}, {"e2e-gamma", 2, 50}}
		keys := map[string]string{}
		for _, tn := range tenants {
			keys[tn.id] = p.tenant(tn.id, "v2", nil)
		}
		var wg sync.WaitGroup
		for _, tn := range tenants {
			for r := range tn.requests {
				wg.Go(func() {
					p.mustAccept(t, keys[tn.id], ndjson(tn.id+"-"+strconv.Itoa(r), tn.events, 16))
				})
			}
		}
		wg.Wait()
		for _, tn := range tenants {
			p.waitLogCount(t, tn.id, uint64(tn.requests*tn.events))
		}
	})

	t.Run("LegacyTenantReachesTheLegacyPipelineAndNotV2", func(t *testing.T) {
		legKey := p.tenant("e2e-legacy", "legacy", nil)
		v2Key := p.tenant("e2e-marker", "v2", nil)
		for range 4 {
			p.mustAccept(t, legKey, ndjson("e2e-legacy", 5, 8))
		}
		if req, ev := p.legacy.counts("e2e-legacy"); req != 4 || ev != 20 {
			t.Errorf("the legacy stand-in received %d requests with %d events of tenant e2e-legacy, want 4 with 20", req, ev)
		}
		// A v2 tenant's batch sent after the legacy tenant's requests has landed: had any of
		// them gone to v2, it would have had time to land too.
		p.mustAccept(t, v2Key, ndjson("e2e-marker", 1, 0))
		p.waitLogCount(t, "e2e-marker", 1)
		time.Sleep(time.Second)
		if n := p.logCount(t, "e2e-legacy"); n != 0 {
			t.Errorf("tenant e2e-legacy (stage legacy) has %d rows in ClickHouse, want none", n)
		}
		if req, _ := p.legacy.counts("e2e-marker"); req != 0 {
			t.Errorf("the legacy stand-in received %d requests of v2 tenant e2e-marker, want none", req)
		}
	})

	t.Run("ShadowTenantsMirrorLandsInTheShadowTablesOnlyAndClientsCannotForgeIt", func(t *testing.T) {
		shadowKey := p.tenant("e2e-shadow", "shadow", nil)
		liveKey := p.tenant("e2e-forger", "v2", nil)
		for i := range 3 {
			// The client sends an authority that looks mirrored: it changes nothing.
			if a := p.sendAs(context.Background(), "ingest-v2-shadow", shadowKey, ndjson("e2e-shadow-"+strconv.Itoa(i), 4, 8)); a.err != nil || a.status/100 != 2 {
				t.Fatalf("shadow tenant: %v, want 2xx (v1's answer)", a)
			}
			if a := p.sendAs(context.Background(), "evil-shadow", liveKey, ndjson("e2e-forger-"+strconv.Itoa(i), 5, 8)); a.err != nil || a.status/100 != 2 {
				t.Fatalf("v2 tenant: %v, want 2xx", a)
			}
		}
		if req, ev := p.legacy.counts("e2e-shadow"); req != 3 || ev != 12 {
			t.Errorf("v1 received %d requests with %d events of the shadow tenant, want 3 with 12", req, ev)
		}
		waitCount(t, "ingest.logs_shadow", "e2e-shadow", 12, func() uint64 { return p.shadowLogCount(t, "e2e-shadow") })
		p.waitLogCount(t, "e2e-forger", 15)
		time.Sleep(time.Second) // anything misrouted has had time to land too
		if n := p.logCount(t, "e2e-shadow"); n != 0 {
			t.Errorf("the shadow tenant has %d rows in the live table, want none", n)
		}
		if n := p.shadowLogCount(t, "e2e-forger"); n != 0 {
			t.Errorf("the v2 tenant that sent a forged shadow authority has %d rows in the shadow table, want none", n)
		}
	})

	t.Run("TenantOverQuotaGets429WhileOthersAreUnaffected", func(t *testing.T) {
		limited := p.tenant("e2e-limited", "v2", &registry.Quotas{EventsPerSecond: 1, BurstEvents: 5})
		keyA := p.tenant("e2e-steady-a", "v2", nil)
		keyB := p.tenant("e2e-steady-b", "v2", nil)
		const rounds = 6
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			limAns  []answer
			badOthr []string
		)
		for r := range rounds {
			wg.Go(func() {
				a := p.send(context.Background(), limited, ndjson("e2e-limited", 5, 8))
				mu.Lock()
				limAns = append(limAns, a)
				mu.Unlock()
			})
			for _, k := range []struct{ id, key string }{{"e2e-steady-a", keyA}, {"e2e-steady-b", keyB}} {
				wg.Go(func() {
					a := p.send(context.Background(), k.key, ndjson(k.id+"-"+strconv.Itoa(r), 10, 8))
					if a.err != nil || a.status/100 != 2 {
						mu.Lock()
						badOthr = append(badOthr, k.id+": "+a.String())
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if len(badOthr) > 0 {
			t.Errorf("tenants within their quota got answers other than 2xx:\n%s", strings.Join(badOthr, "\n"))
		}
		limited429 := 0
		for _, a := range limAns {
			switch {
			case a.err == nil && a.status == http.StatusTooManyRequests:
				limited429++
				if a.retryAfter == "" {
					t.Errorf("429 without Retry-After: %v", a)
				}
			case a.err == nil && a.status/100 == 2:
			default:
				t.Errorf("tenant e2e-limited got %v, want 2xx or 429", a)
			}
		}
		// The bucket holds 5 events and refills 1 a second: at most two of the six requests of
		// 5 events sent at once can fit.
		if limited429 < rounds-2 {
			t.Errorf("tenant e2e-limited got %d answers 429 of %d requests over its quota, want at least %d: %v", limited429, rounds, rounds-2, limAns)
		}
		t.Logf("tenant e2e-limited: %d of %d requests answered 429", limited429, rounds)
		p.waitLogCount(t, "e2e-steady-a", rounds*10)
		p.waitLogCount(t, "e2e-steady-b", rounds*10)
	})
}

// TestSinkWriterFullAnswers429WithRetryAfter: with Kafka paused, batches hold their
// reservation of the sink writer's (tiny) buffer, and the next client request through edge →
// normalizer → sink writer is answered 429 with Retry-After.
func TestSinkWriterFullAnswers429WithRetryAfter(t *testing.T) {
	h := newHarness(t)
	kproc, kafka := h.startKafka("kafka")
	sw := h.startSinkWriter("sinkwriter", kafka, "--max-buffer-bytes", "65536", "--tenant-share", "1",
		"--max-batch-bytes", "65536", "--max-record-bytes", "16384", "--kafka-timeout", "20s")
	norm := h.startNormalizer("normalizer", sw)
	s := h.startEdge("full-sink", norm, norm)
	key := s.tenant("e2e-sinkfull", "v2", nil)
	kproc.pause(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answers := make(chan answer, 16)
	for i := range 8 {
		go func() { answers <- s.send(ctx, key, ndjson("e2e-sinkfull-"+strconv.Itoa(i), 16, 1024)) }()
	}
	timeout := time.After(30 * time.Second)
	var got []answer
	for {
		select {
		case a := <-answers:
			got = append(got, a)
			if a.err == nil && a.status == http.StatusTooManyRequests {
				if a.retryAfter == "" {
					t.Fatalf("429 without Retry-After: %v", a)
				}
				t.Logf("client answer with Kafka paused: %v", a)
				if !strings.Contains(a.body, "err-ingest-sink") {
					t.Errorf("429 body %q names no sink writer reason", a.body)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no 429 within 30s with Kafka paused; answers so far: %v", got)
		}
	}
}

// TestEdgeFullAnswers503WithRetryAfter: with the edge's in-flight bound (set through the
// control plane) held by a request that the upstream keeps open, the next request is answered
// 503 err-ingest-edge-full with Retry-After, and the held one completes once released.
func TestEdgeFullAnswers503WithRetryAfter(t *testing.T) {
	h := newHarness(t)
	up := startUpstream(t, true)
	s := h.startEdge("full-edge", up.addr, up.addr, "--edge-max-inflight-bytes", "65536", "--edge-max-request-body-bytes", "65536")
	key := s.tenant("e2e-edgefull", "v2", nil)

	body := ndjson("e2e-edgefull", 40, 1000) // ~42 KB: one fits in the 64 KiB bound, two do not
	held := make(chan answer, 1)
	go func() { held <- s.send(context.Background(), key, body) }()
	select {
	case <-up.arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the first request did not reach the upstream within 20s")
	}
	a := s.send(context.Background(), key, body)
	if a.err != nil || a.status != http.StatusServiceUnavailable || a.retryAfter == "" || !strings.Contains(a.body, "err-ingest-edge-full") {
		t.Errorf("second request: %v, want 503 err-ingest-edge-full with Retry-After", a)
	}
	t.Logf("second request: %v", a)
	up.releaseAll()
	if a := <-held; a.err != nil || a.status/100 != 2 {
		t.Errorf("held request: %v, want 2xx once the upstream answers", a)
	}
}
