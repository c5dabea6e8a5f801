package filter

import "github.com/ingestdev/ingest/edge/filter/admission"

// KeyCacheOf returns s's cache of resolved API keys, for tests.
func KeyCacheOf(s *Shared) *admission.KeyCache { return s.keys }
