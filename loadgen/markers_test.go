package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// fakeVisibility makes a marker visible delay after the fake ingest server received it; markers
// of tenants in hidden never become visible. It counts its calls.
type fakeVisibility struct {
	delay  time.Duration
	hidden map[string]bool
	err    error

	mu       sync.Mutex
	received map[string]time.Time // marker → receive time
	calls    int
}

func (f *fakeVisibility) receive(marker string) {
	f.mu.Lock()
	f.received[marker] = time.Now()
	f.mu.Unlock()
}

func (f *fakeVisibility) Visible(_ context.Context, tenant string, _ time.Time, markers []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if f.hidden[tenant] {
		return nil, nil
	}
	var out []string
	for _, m := range markers {
		if at, ok := f.received[m]; ok && time.Since(at) >= f.delay {
			out = append(out, m)
		}
	}
	return out, nil
}

// markerServer accepts everything and hands every marker body it receives to vis.
func markerServer(vis *fakeVisibility) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/events" && bytes.Contains(data, []byte(MarkerPrefix)) {
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				var ev struct{ Body string }
				if json.Unmarshal(sc.Bytes(), &ev) == nil && strings.HasPrefix(ev.Body, MarkerPrefix) {
					vis.receive(ev.Body)
				}
			}
		}
	})
}

func TestMarkerLatencyIsTheTimeUntilVisibleAndHiddenMarkersAreLost(t *testing.T) {
	vis := &fakeVisibility{delay: 300 * time.Millisecond, hidden: map[string]bool{"globex": true}, received: map[string]time.Time{}}
	srv, ca := startTLS(t, markerServer(vis))
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "a", Profile: steady(200)}, Tenant{Name: "globex", Key: "g", Profile: steady(200)})
	cfg.MarkerInterval = 50 * time.Millisecond
	cfg.PollInterval = 20 * time.Millisecond
	cfg.MarkerGrace = 600 * time.Millisecond
	rep := run(t, cfg, vis)
	acme, globex := rep.Tenants[0].Markers, rep.Tenants[1].Markers
	if acme.Sent < 10 || acme.Visible != acme.Sent || acme.NotVisible != 0 || acme.NotTracked != 0 {
		t.Errorf("acme markers %+v: want every one sent visible", acme)
	}
	if acme.E2E.P50 < 290 || acme.E2E.P50 > 450 || acme.E2E.P99 > 600 {
		t.Errorf("acme e2e latency %+v, want about 300 ms (+ poll interval)", acme.E2E)
	}
	if globex.Sent < 10 || globex.Visible != 0 || globex.NotVisible != globex.Sent {
		t.Errorf("globex markers %+v: want every one not visible", globex)
	}
	if rep.Total.Markers.Sent != acme.Sent+globex.Sent || rep.Total.Markers.Visible != acme.Visible {
		t.Errorf("total markers %+v", rep.Total.Markers)
	}
	if !rep.E2E {
		t.Error("report says no e2e")
	}
	// markers are not paced requests
	if rep.Tenants[0].Requests*uint64(cfg.BatchSize) != rep.Tenants[0].Events {
		t.Errorf("markers counted as paced requests: %+v", rep.Tenants[0])
	}
}

func TestMarkerTrackerMeasuresFromSendToThePollThatSeesIt(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	now := t0
	vis := &fakeVisibility{received: map[string]time.Time{"m1": {}, "m2": {}}}
	stats := map[string]*tenantStats{"acme": {}}
	total := &tenantStats{}
	m := newMarkerTracker(vis, func() time.Time { return now }, stats, total)
	m.add("acme", "m1", t0)
	m.add("acme", "m2", t0.Add(100*time.Millisecond))
	m.add("acme", "m3", t0) // never visible
	m.add("acme", "m4", t0)
	m.drop("acme", "m4") // its request failed
	now = t0.Add(250 * time.Millisecond)
	m.poll(context.Background())
	if got := m.outstanding(); got != 1 {
		t.Fatalf("%d outstanding, want 1 (m3)", got)
	}
	m.expire()
	rep := stats["acme"].report("acme", "", 1)
	if rep.Markers.Sent != 4 || rep.Markers.NotTracked != 1 || rep.Markers.Visible != 2 || rep.Markers.NotVisible != 1 {
		t.Errorf("markers %+v", rep.Markers)
	}
	// latencies 250 ms and 150 ms; the histogram is within 1%
	if p := rep.Markers.E2E.P99; p < 247 || p > 253 {
		t.Errorf("p99 %v ms, want 250", p)
	}
	if p := rep.Markers.E2E.P50; p < 148 || p > 152 {
		t.Errorf("p50 %v ms, want 150", p)
	}
	if total.report("total", "", 1).Markers != rep.Markers {
		t.Error("total markers differ from the only tenant's")
	}
}

func TestMarkerLookupErrorsAreCountedNotFatal(t *testing.T) {
	vis := &fakeVisibility{err: errors.New("clickhouse down"), received: map[string]time.Time{}}
	m := newMarkerTracker(vis, time.Now, map[string]*tenantStats{"acme": {}}, &tenantStats{})
	m.add("acme", "m1", time.Now())
	m.poll(context.Background())
	m.poll(context.Background())
	if n, err := m.errors(); n != 2 || err == nil {
		t.Errorf("%d poll errors (%v), want 2", n, err)
	}
	if m.outstanding() != 1 {
		t.Error("marker dropped on a lookup error")
	}
}

// TestOnlyTheMarkerTenantsSendMarkers: with MarkerTenants set, the other tenants send their
// load and no marker, so the probe stays off the load it measures.
func TestOnlyTheMarkerTenantsSendMarkers(t *testing.T) {
	vis := &fakeVisibility{delay: 50 * time.Millisecond, received: map[string]time.Time{}}
	srv, ca := startTLS(t, markerServer(vis))
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "a", Profile: steady(200)}, Tenant{Name: "probe", Key: "p", Profile: steady(10)})
	cfg.MarkerInterval = 50 * time.Millisecond
	cfg.PollInterval = 20 * time.Millisecond
	cfg.MarkerGrace = 300 * time.Millisecond
	cfg.MarkerTenants = []string{"probe"}
	rep := run(t, cfg, vis)
	acme, probe := rep.Tenants[0], rep.Tenants[1]
	if acme.Markers.Sent != 0 || acme.Requests == 0 {
		t.Errorf("acme sent %d markers and %d requests; want its load and no marker", acme.Markers.Sent, acme.Requests)
	}
	if probe.Markers.Sent < 5 || probe.Markers.Visible != probe.Markers.Sent {
		t.Errorf("probe markers %+v: want them sent and visible", probe.Markers)
	}
	cfg.MarkerTenants = []string{"nobody"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `marker tenant "nobody" is not one of the tenants`) {
		t.Errorf("Validate = %v, want the unknown marker tenant named", err)
	}
}
