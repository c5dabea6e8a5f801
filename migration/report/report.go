package report

import (
	"errors"
	"fmt"

	"github.com/ingestdev/ingest/internal/tenant"
)

// Report is what one reporter process sends: counts of the interval since its previous report.
type Report struct {
	Source   string            `json:"source"`        // SourceEdge, SourceNormalizer or SourceLoader
	Instance string            `json:"instance"`      // unique per process (e.g. node id + random suffix)
	Seq      uint64            `json:"seq"`           // +1 per report of this instance; a (Instance, Seq) seen twice counts once
	Start    int64             `json:"start_unix_ms"` // interval start, unix ms
	End      int64             `json:"end_unix_ms"`   // interval end, unix ms; the control plane buckets by End
	Tenants  map[string]Counts `json:"tenants"`
}

// Counts of one tenant in one interval. Zero fields are omitted.
type Counts struct {
	V1AcceptedEvents   uint64   `json:"v1_accepted_events,omitempty"`   // edge: events of requests ingest-v1 answered 2xx
	V1Requests         uint64   `json:"v1_requests,omitempty"`          // edge: requests answered by ingest-v1
	V2AcceptedEvents   uint64   `json:"v2_accepted_events,omitempty"`   // edge: events of requests ingest-v2 answered 2xx (canary share, v2); normalizer: events accepted of mirrored (shadow) requests
	V2Requests         uint64   `json:"v2_requests,omitempty"`          // requests answered by ingest-v2 (edge) / mirrored requests answered (normalizer)
	V2ServerErrors     uint64   `json:"v2_server_errors,omitempty"`     // of those, answered 5xx
	V2LatencyBuckets   []uint64 `json:"v2_latency_buckets,omitempty"`   // counts per LatencyBucketsMs upper bound, last = +Inf (len(LatencyBucketsMs)+1)
	LandedLiveEvents   uint64   `json:"landed_live_events,omitempty"`   // loader: rows ClickHouse acknowledged into the live tables
	LandedShadowEvents uint64   `json:"landed_shadow_events,omitempty"` // loader: rows into the *_shadow tables
	// Admission at the edge, every stage: what the global quota shares follow (QuotaReply).
	AdmittedRequests uint64 `json:"admitted_requests,omitempty"` // edge: requests admitted
	AdmittedEvents   uint64 `json:"admitted_events,omitempty"`   // edge: events of those
	AdmittedBytes    uint64 `json:"admitted_bytes,omitempty"`    // edge: bytes charged for them (decompressed)
	RefusedRequests  uint64 `json:"refused_requests,omitempty"`  // edge: requests refused over the tenant's rate (429)
}

// QuotaReply is the control plane's answer to an edge's report (200, JSON; other sources get
// 204): the share of each tenant's quota this edge may admit until its next report, so that
// all edges together admit the quota (docs/edge.md, "Global quotas").
type QuotaReply struct {
	// Edges is the number of live edges, this one included: an edge that loses the control
	// plane falls back to 1/Edges of every quota once GraceMs passed.
	Edges int `json:"edges"`
	// Shares maps a tenant with a quota to this edge's fraction of it (0 < share ≤ 1), for
	// its rates and its bursts alike. A tenant absent here gets 1/Edges.
	Shares map[string]float64 `json:"shares,omitempty"`
	// GraceMs is how long the edge keeps these shares without a newer reply.
	GraceMs int64 `json:"grace_ms"`
}

// The sources of a report.
const (
	SourceEdge       = "edge"
	SourceNormalizer = "normalizer"
	SourceLoader     = "loader"
)

// LatencyBucketsMs are the upper bounds, in milliseconds, of the v2 latency histogram
// (Counts.V2LatencyBuckets has one more count, for +Inf). Do not modify.
var LatencyBucketsMs = []float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// Path is where a reporter POSTs a JSON Report, with "Authorization: Bearer <report token>";
// the control plane answers 204.
const Path = "/v1/reports"

// Bounds of a valid report.
const (
	// MaxTenants is the most tenants one report may carry.
	MaxTenants = 10000
	// MaxInstanceLen is the longest Instance, in bytes.
	MaxInstanceLen = 128
	// MaxIntervalMs is the longest interval (End-Start) one report may cover: 10 minutes.
	MaxIntervalMs = 10 * 60 * 1000
	// MaxBodyBytes is the largest encoded report the control plane reads: 8 MiB.
	MaxBodyBytes = 8 << 20
)

// ErrInvalid is wrapped by every error of Validate; test with errors.Is.
var ErrInvalid = errors.New("invalid report")

// Validate returns nil for a well-formed report, and otherwise an error wrapping ErrInvalid
// that joins every problem found (tenant problems: at most the first 10 are listed). It does
// not check that times are recent: the aggregator drops reports outside its history.
func (r *Report) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	switch r.Source {
	case SourceEdge, SourceNormalizer, SourceLoader:
	default:
		add("source %.40q must be %q, %q or %q", r.Source, SourceEdge, SourceNormalizer, SourceLoader)
	}
	if r.Instance == "" {
		add("instance must not be empty")
	} else if len(r.Instance) > MaxInstanceLen {
		add("instance of %d bytes exceeds the %d-byte limit", len(r.Instance), MaxInstanceLen)
	}
	if r.End <= 0 {
		add("end_unix_ms %d must be a positive unix time in milliseconds", r.End)
	}
	if r.Start < 0 || r.Start > r.End {
		add("start_unix_ms %d must be between 0 and end_unix_ms %d", r.Start, r.End)
	} else if r.End-r.Start > MaxIntervalMs {
		add("interval of %d ms exceeds the %d ms limit", r.End-r.Start, MaxIntervalMs)
	}
	if len(r.Tenants) > MaxTenants {
		add("%d tenants exceed the limit of %d", len(r.Tenants), MaxTenants)
	}
	bad := 0
	for id, c := range r.Tenants {
		if bad >= 10 {
			break
		}
		if err := tenant.Validate(id); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalid, err))
			bad++
			continue
		}
		if n := len(c.V2LatencyBuckets); n != 0 && n != len(LatencyBucketsMs)+1 {
			add("tenant %q: v2_latency_buckets has %d counts, want %d", id, n, len(LatencyBucketsMs)+1)
			bad++
			continue
		}
		if c.V2ServerErrors > c.V2Requests {
			add("tenant %q: v2_server_errors %d exceed v2_requests %d", id, c.V2ServerErrors, c.V2Requests)
			bad++
		}
	}
	return errors.Join(errs...)
}
