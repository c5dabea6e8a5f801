package normalizer

import (
	"fmt"
	"sync"

	"github.com/ingestdev/ingest/internal/shed"
)

// tenantBytes accounts the request bytes each tenant's requests hold against the tenant's share
// of max_inflight_bytes (invariant 3: one slow or heavy tenant must not take the whole bound from
// the others), as the sink writer's buffer does with its tenant_share. The global bound is the
// Server's inflight counter. Safe for concurrent use.
type tenantBytes struct {
	mu       sync.Mutex
	byTenant map[string]int64 // tenants holding bytes; entries are dropped at 0
}

// tenantMaxBytes is one tenant's share of max_inflight_bytes.
func (s *Server) tenantMaxBytes() int64 {
	return int64(float64(s.cfg.MaxInflightBytes) * s.cfg.TenantShare)
}

// reserve takes n more bytes for a request of tenant that holds own bytes already, or returns
// a shed (429 err-ingest-normalizer-tenant-share-full) when the tenant's other requests hold
// bytes and n would take the tenant over max. A tenant whose other requests hold nothing is not
// bounded here, so that one request within the body limits is never refused for ever.
func (t *tenantBytes) reserve(tenant string, n, own, max int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	held := t.byTenant[tenant]
	if others := held - own; others > 0 && held+n > max {
		return shed.Full(string(ReasonNormalizerTenantShareFull), defaultRetryAfter,
			fmt.Errorf("tenant %q's requests in progress hold %d bytes; %d more would exceed its share of %d bytes of max_inflight_bytes "+
				"(other tenants are not affected; the operator can raise tenant_share)", tenant, held, n, max))
	}
	if t.byTenant == nil {
		t.byTenant = make(map[string]int64)
	}
	t.byTenant[tenant] = held + n
	return nil
}

// release returns n bytes that tenant's requests reserved.
func (t *tenantBytes) release(tenant string, n int64) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	held := t.byTenant[tenant] - n
	if held < 0 {
		panic(fmt.Sprintf("normalizer: tenant %q released %d bytes more than it reserved", tenant, -held))
	}
	if held == 0 {
		delete(t.byTenant, tenant)
	} else {
		t.byTenant[tenant] = held
	}
}
