package registry

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StageKind is where a tenant's traffic goes during cutover from the legacy pipeline (v1) to
// this one (v2).
type StageKind string

// Stages, in cutover order.
const (
	// StageLegacy: all traffic to ingest-v1, no x-ingest-version header.
	StageLegacy StageKind = "legacy"
	// StageShadow: traffic to ingest-v1 and mirrored to ingest-v2, which writes it to shadow
	// tables only.
	StageShadow StageKind = "shadow"
	// StageCanary: Percent of requests to ingest-v2 (with x-ingest-version: v2), the rest to v1.
	StageCanary StageKind = "canary"
	// StageV2: all traffic to ingest-v2 with x-ingest-version: v2.
	StageV2 StageKind = "v2"
)

// Stage is a tenant's cutover stage. Its text form is "legacy", "shadow", "canary:<percent>"
// (1..99) or "v2".
type Stage struct {
	Kind    StageKind
	Percent int // canary only: share of requests to v2, 1..99
}

// String returns the text form.
func (s Stage) String() string {
	if s.Kind == StageCanary {
		return "canary:" + strconv.Itoa(s.Percent)
	}
	return string(s.Kind)
}

// ParseStage parses the text form of a stage.
func ParseStage(s string) (Stage, error) {
	switch StageKind(s) {
	case StageLegacy, StageShadow, StageV2:
		return Stage{Kind: StageKind(s)}, nil
	}
	if p, ok := strings.CutPrefix(s, "canary:"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 99 {
			return Stage{}, fmt.Errorf("canary percent %q must be an integer from 1 to 99", p)
		}
		return Stage{Kind: StageCanary, Percent: n}, nil
	}
	return Stage{}, fmt.Errorf("stage %q must be legacy, shadow, canary:<1..99> or v2", s)
}

// Quotas are a tenant's admission limits at the edge. A zero rate means unlimited.
type Quotas struct {
	EventsPerSecond float64 `json:"events_per_second"`
	BytesPerSecond  float64 `json:"bytes_per_second"`
	// BurstEvents and BurstBytes are the token bucket sizes; zero means one second of the rate.
	BurstEvents float64 `json:"burst_events"`
	BurstBytes  float64 `json:"burst_bytes"`
}

// APIKey is one credential of a tenant. Only a salted hash of the secret is stored; Prefix is
// the public part of the key, used to find the candidate keys before a constant-time compare.
type APIKey struct {
	ID        string    `json:"id"`
	Prefix    string    `json:"prefix"`
	Salt      []byte    `json:"salt,omitempty"` // 16 random bytes; omitted from API answers and audit entries
	Hash      []byte    `json:"hash,omitempty"` // SHA-256(salt || key); omitted from API answers and audit entries
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the key stops being accepted: nil while active; in the future during
	// the grace period of a rotation.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Tenant is one tenant of the pipeline.
type Tenant struct {
	ID          string `json:"id"` // [a-z0-9][a-z0-9-]{0,62}; used in topic and table names
	DisplayName string `json:"display_name"`
	Quotas      Quotas `json:"quotas"`
	Stage       Stage  `json:"stage"`
	// PreviousStage is the stage before the last stage change (zero if the stage never
	// changed); a rollback is setting it (or any earlier stage) again.
	PreviousStage Stage `json:"previous_stage,omitzero"`
	// StageChangedAt is when the stage last changed (zero if never).
	StageChangedAt time.Time `json:"stage_changed_at,omitzero"`
	Keys           []APIKey  `json:"keys"`
	// Revision is the global registry revision of the tenant's last change (like etcd's
	// mod_revision): it only grows, also across a delete and re-create of the same id, and is
	// the ETag of the admin API's optimistic concurrency.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Endpoint is one upstream address of a cluster.
type Endpoint struct {
	Host string `json:"host"`
	Port uint32 `json:"port"`
}

// Upstreams are the endpoints of the two clusters the edge routes to.
type Upstreams struct {
	V1       []Endpoint `json:"ingest_v1"` // the legacy pipeline
	V2       []Endpoint `json:"ingest_v2"` // this pipeline's normalizers
	Revision int64      `json:"revision"`  // global revision of the last change; 0 if never set
}

// State is everything the xDS snapshot is built from: a consistent view of the registry at one
// revision.
type State struct {
	Revision  int64 // global, monotonic; bumped by every change
	Tenants   []Tenant
	Upstreams Upstreams
}
