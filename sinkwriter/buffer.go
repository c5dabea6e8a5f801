package sinkwriter

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// buffer accounts the bytes held by batches in progress against a global bound and a bound per
// tenant. Reserving never blocks: a batch that does not fit is refused. It is safe for
// concurrent use.
type buffer struct {
	max       int64 // max_buffer_bytes
	tenantMax int64 // max_buffer_bytes × tenant_share

	mu       sync.Mutex
	used     atomic.Int64     // written under mu, read without it by the gauge
	byTenant map[string]int64 // tenants holding bytes; entries are dropped at 0
}

func newBuffer(max, tenantMax int64) *buffer {
	return &buffer{max: max, tenantMax: tenantMax, byTenant: make(map[string]int64)}
}

// reserve takes n bytes for tenant, or returns the reason it cannot and why. The tenant's share
// is checked first, so that a tenant over its share is told so even when the buffer is full too.
func (b *buffer) reserve(tenant string, n int64) (Reason, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.byTenant[tenant]
	if held+n > b.tenantMax {
		return ReasonTenantShareFull, fmt.Errorf("tenant %q holds %d bytes of the buffer; a batch of %d bytes would exceed its share of %d bytes",
			tenant, held, n, b.tenantMax)
	}
	used := b.used.Load()
	if used+n > b.max {
		return ReasonSinkFull, fmt.Errorf("%d bytes are in progress; a batch of %d bytes would exceed the %d-byte buffer", used, n, b.max)
	}
	b.byTenant[tenant] = held + n
	b.used.Store(used + n)
	return "", nil
}

// release returns n bytes that tenant reserved.
func (b *buffer) release(tenant string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.byTenant[tenant] - n
	if held < 0 {
		panic(fmt.Sprintf("sinkwriter: tenant %q released %d bytes more than it reserved", tenant, -held))
	}
	if held == 0 {
		delete(b.byTenant, tenant)
	} else {
		b.byTenant[tenant] = held
	}
	b.used.Add(-n)
}

// tenantBytes returns the bytes tenant holds (tests).
func (b *buffer) tenantBytes(tenant string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byTenant[tenant]
}
