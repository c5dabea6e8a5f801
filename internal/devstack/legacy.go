package devstack

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/service"
)

// maxLegacyTenants bounds the tenants the legacy stand-in keeps counts for; requests of
// further tenants are counted under "(other)".
const maxLegacyTenants = 1000

// LegacyStats are what the legacy stand-in received from one tenant.
type LegacyStats struct {
	Requests uint64 `json:"requests"`
	// Events is the sum of the event counts the edge accounted (x-ingest-event-count).
	Events uint64 `json:"events"`
	Bytes  uint64 `json:"bytes"`
}

// legacy stands in for the legacy pipeline (the ingest-v1 cluster): it accepts every request
// with 200, discards the body and counts requests, events and bytes per tenant. GET /stats
// answers the counts as JSON by tenant. It is safe for concurrent use.
type legacy struct {
	mu    sync.Mutex
	stats map[string]*LegacyStats
}

func newLegacy() *legacy { return &legacy{stats: map[string]*LegacyStats{}} }

// newLegacyService is the legacy stand-in as a service on addr: its handler with /healthz,
// /readyz (ready while it runs: it depends on nothing) and /metrics.
func newLegacyService(addr string, set service.Settings) (*service.Server, error) {
	return service.New(service.Options{Name: "legacy stand-in", Listen: addr, Handler: newLegacy().handler()}, set)
}

func (l *legacy) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(l.snapshot())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		events, _ := strconv.ParseUint(r.Header.Get(filterconfig.HeaderEventCount), 10, 64)
		l.add(r.Header.Get(filterconfig.HeaderTenantID), events, uint64(n))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{\"legacy\":\"accepted\"}\n")
	})
	return mux
}

func (l *legacy) add(tenant string, events, bytes uint64) {
	if tenant == "" {
		tenant = "(none)"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.stats[tenant]
	if !ok {
		if len(l.stats) >= maxLegacyTenants {
			tenant = "(other)"
		}
		if s, ok = l.stats[tenant]; !ok {
			s = &LegacyStats{}
			l.stats[tenant] = s
		}
	}
	s.Requests++
	s.Events += events
	s.Bytes += bytes
}

func (l *legacy) snapshot() map[string]LegacyStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]LegacyStats, len(l.stats))
	for k, v := range l.stats {
		out[k] = *v
	}
	return out
}
