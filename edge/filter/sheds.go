package filter

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ingestdev/ingest/edge/filter/admission"
)

// shedReasons are the reasons of the filter's sheds (429 and 503: the refusals a retry can get
// past), in the order of a tenant's counters.
var shedReasons = [...]string{
	ReasonEdgeFull, ReasonEdgeTenantShareFull, admission.ReasonRateLimitedEvents, admission.ReasonRateLimitedBytes,
}

// shedIndex returns the position of id in shedReasons; false when id is not a shed.
func shedIndex(id string) (int, bool) {
	for i, r := range shedReasons {
		if r == id {
			return i, true
		}
	}
	return 0, false
}

// shedCounts counts the filter's sheds per tenant and reason (Envoy counters have no labels).
// Tenants are the ids of the configuration's tenants, resolved from an API key (a request with
// no valid key is never counted here), so the cardinality is bounded by the tenant registry
// times len(shedReasons). A tenant's counters stay once it has been shed, for the process's
// life, as Prometheus counters do. Safe for concurrent use; counting an already-seen tenant
// takes a read lock and does not allocate.
type shedCounts struct {
	mu sync.RWMutex
	m  map[string]*[len(shedReasons)]atomic.Uint64
}

func (c *shedCounts) add(tenant, id string) {
	i, ok := shedIndex(id)
	if !ok || tenant == "" {
		return
	}
	c.mu.RLock()
	n := c.m[tenant]
	c.mu.RUnlock()
	if n == nil {
		c.mu.Lock()
		if n = c.m[tenant]; n == nil {
			if c.m == nil {
				c.m = make(map[string]*[len(shedReasons)]atomic.Uint64)
			}
			n = new([len(shedReasons)]atomic.Uint64)
			c.m[tenant] = n
		}
		c.mu.Unlock()
	}
	n[i].Add(1)
}

// ShedCount is the number of requests of one tenant the filter shed with one reason.
type ShedCount struct {
	Tenant string
	// Reason is err-ingest-edge-full, err-ingest-edge-tenant-share-full,
	// err-ingest-tenant-rate-limited-events or err-ingest-tenant-rate-limited-bytes.
	Reason string
	N      uint64
}

// Sheds returns the requests shed (answered 429 or 503 after the API key was accepted) per
// tenant and reason since the process started, sorted by tenant then reason; pairs never shed
// are left out. The Go edge exports them as ingest_edge_shed_total{tenant,reason}.
func (s *Shared) Sheds() []ShedCount {
	s.sheds.mu.RLock()
	out := make([]ShedCount, 0, len(s.sheds.m))
	for t, n := range s.sheds.m {
		for i := range n {
			if v := n[i].Load(); v > 0 {
				out = append(out, ShedCount{Tenant: t, Reason: shedReasons[i], N: v})
			}
		}
	}
	s.sheds.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}
