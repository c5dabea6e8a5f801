package migration

import (
	"fmt"

	"github.com/ingestdev/ingest/controlplane/registry"
)

// DefaultCanaryPercent is the canary share the default advance from shadow moves to.
const DefaultCanaryPercent = 10

// NextStage returns the stage an advance moves s to by default: legacy → shadow, shadow →
// canary:10, canary:p → v2. ok is false for v2 (the last stage) and for an unknown stage.
func NextStage(s registry.Stage) (next registry.Stage, ok bool) {
	switch s.Kind {
	case registry.StageLegacy:
		return registry.Stage{Kind: registry.StageShadow}, true
	case registry.StageShadow:
		return registry.Stage{Kind: registry.StageCanary, Percent: DefaultCanaryPercent}, true
	case registry.StageCanary:
		return registry.Stage{Kind: registry.StageV2}, true
	}
	return registry.Stage{}, false
}

// RollbackStage returns the stage a rollback moves a tenant at cur to by default: previous,
// the stage it was at before its last change, when that is earlier than cur; otherwise the
// stage before cur in the order legacy < shadow < canary < v2 (v2 → canary:10, canary:p →
// shadow, shadow → legacy). ok is false at legacy.
func RollbackStage(cur, previous registry.Stage) (to registry.Stage, ok bool) {
	if !previous.IsZero() && previous.Before(cur) {
		return previous, true
	}
	switch cur.Kind {
	case registry.StageShadow:
		return registry.Stage{Kind: registry.StageLegacy}, true
	case registry.StageCanary:
		return registry.Stage{Kind: registry.StageShadow}, true
	case registry.StageV2:
		return registry.Stage{Kind: registry.StageCanary, Percent: DefaultCanaryPercent}, true
	}
	return registry.Stage{}, false
}

// Gated reports whether leaving stage s forward needs the parity gate: it does from shadow
// and canary, where v2 traffic can be compared with what landed. Leaving legacy needs none
// (nothing reached ingest-v2 yet, and shadow writes only the shadow tables); v2 is the last
// stage.
func Gated(s registry.Stage) bool {
	return s.Kind == registry.StageShadow || s.Kind == registry.StageCanary
}

// Effect is what a stage does with a tenant's traffic, for people deciding on a change.
type Effect struct {
	Stage registry.Stage `json:"stage"`
	// V1Percent and V2Percent are the shares of the tenant's requests that ingest-v1 and
	// ingest-v2 answer; they add up to 100.
	V1Percent int `json:"v1_percent"`
	V2Percent int `json:"v2_percent"`
	// MirrorToV2 says every request is also copied to ingest-v2, whose answer is ignored.
	MirrorToV2 bool `json:"mirror_to_v2"`
	// V2Tables are the ClickHouse tables the tenant's data written by ingest-v2 lands in:
	// "none", "shadow" (logs_shadow, metrics_shadow, spans_shadow) or "live" (logs, metrics,
	// spans).
	V2Tables string `json:"v2_tables"`
}

// Describe returns the effect of stage s.
func Describe(s registry.Stage) Effect {
	e := Effect{Stage: s, V1Percent: 100, V2Tables: "none"}
	switch s.Kind {
	case registry.StageShadow:
		e.MirrorToV2, e.V2Tables = true, "shadow"
	case registry.StageCanary:
		e.V1Percent, e.V2Percent, e.V2Tables = 100-s.Percent, s.Percent, "live"
	case registry.StageV2:
		e.V1Percent, e.V2Percent, e.V2Tables = 0, 100, "live"
	}
	return e
}

// Lines describes the effect in a few lines for a terminal.
func (e Effect) Lines() []string {
	routes := fmt.Sprintf("routes: ingest-v1 answers %d %%, ingest-v2 %d %% of requests", e.V1Percent, e.V2Percent)
	mirror := "mirror: none"
	if e.MirrorToV2 {
		mirror = "mirror: every request copied to ingest-v2 (its answer ignored)"
	}
	var tables string
	switch e.V2Tables {
	case "shadow":
		tables = "v2 data lands in: logs_shadow, metrics_shadow, spans_shadow (live tables untouched)"
	case "live":
		tables = "v2 data lands in: logs, metrics, spans (live)"
	default:
		tables = "v2 data lands in: nothing (no traffic reaches ingest-v2)"
	}
	return []string{routes, mirror, tables}
}
