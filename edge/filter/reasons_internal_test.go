package filter

import (
	"testing"

	"github.com/ingestdev/ingest/internal/reason"
)

// Every reason the filter answers is in the catalogue, which gives the status refuse answers;
// each has its counter.
func TestReasonsAreCatalogueIDs(t *testing.T) {
	for _, r := range append(reasons, ReasonUnconfigured) {
		info, ok := reason.Lookup(reason.ID(r))
		if !ok || info.Scope != reason.ScopeRequest || info.Status < 400 {
			t.Errorf("%s: catalogue has %+v, %v", r, info, ok)
		}
	}
}
