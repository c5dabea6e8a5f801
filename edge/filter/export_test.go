package filter

import (
	"time"

	"github.com/ingestdev/ingest/edge/filter/admission"
)

// KeyCacheOf returns s's cache of resolved API keys, for tests.
func KeyCacheOf(s *Shared) *admission.KeyCache { return s.keys }

// SetQuotaShares sets s's shares as a reply of the control plane at now would.
func SetQuotaShares(s *Shared, edges int, shares map[string]float64, grace time.Duration, now time.Time) {
	s.shares.Set(edges, shares, grace, now)
}
