package migration

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/report"
)

// Row is one bucket of a tenant's parity table.
type Row struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Complete says the bucket ended at least LandingLag ago, so its landed count is final.
	Complete bool `json:"complete"`
	// Observed says the gate may count the bucket: complete, wholly in the current stage and
	// in the control plane's memory, with reports from the edge and the loader.
	Observed bool `json:"observed"`
	// Note says why a complete bucket is not observed.
	Note string `json:"note,omitempty"`

	V1Accepted     uint64 `json:"v1_accepted_events"`
	V2Accepted     uint64 `json:"v2_accepted_events"`
	Expected       uint64 `json:"expected_events"` // v1 accepted in shadow, v2 accepted in canary and v2
	Landed         uint64 `json:"landed_events"`   // landed shadow in shadow, landed live in canary and v2
	V2Requests     uint64 `json:"v2_requests"`
	V2ServerErrors uint64 `json:"v2_server_errors"`
	// V2P95Ms is the upper bound of the histogram bucket holding the 95th percentile of
	// ingest-v2's answer latency, in ms (the largest finite bound when it is above all); absent
	// without latency counts.
	V2P95Ms *float64 `json:"v2_p95_ms,omitempty"`
	// MismatchPercent is (expected - landed) / expected × 100; negative when more landed
	// than expected; absent when nothing was expected.
	MismatchPercent *float64 `json:"mismatch_percent,omitempty"`
}

// Verdict is the gate's decision for a tenant's current stage.
type Verdict struct {
	// Pass says the tenant may advance without --force.
	Pass bool `json:"pass"`
	// Summary is one line for people.
	Summary string `json:"summary"`
	// Reasons say, in operator terms, every reason the gate fails; empty when it passes.
	Reasons []string `json:"reasons,omitempty"`

	ObservedBuckets int       `json:"observed_buckets"`
	RequiredBuckets int       `json:"required_buckets"`
	WindowStart     time.Time `json:"window_start,omitzero"`
	WindowEnd       time.Time `json:"window_end,omitzero"`
	ExpectedEvents  uint64    `json:"expected_events"`
	LandedEvents    uint64    `json:"landed_events"`
	// LandedPercent is LandedEvents / ExpectedEvents × 100 over the window; absent when
	// nothing was expected.
	LandedPercent    *float64 `json:"landed_percent,omitempty"`
	MinLandedPercent float64  `json:"min_landed_percent"`
	V2ServerErrors   uint64   `json:"v2_server_errors"`
}

// Parity is a tenant's parity table and gate verdict.
type Parity struct {
	Tenant     string         `json:"tenant"`
	Stage      registry.Stage `json:"stage"`
	StageSince time.Time      `json:"stage_since,omitzero"`
	// ExpectedIs and LandedIs say what the expected and landed columns count in this stage.
	ExpectedIs    string  `json:"expected_is"`
	LandedIs      string  `json:"landed_is"`
	BucketSeconds float64 `json:"bucket_seconds"`
	Rows          []Row   `json:"buckets"` // oldest first; the last one may be still open
	Verdict       Verdict `json:"verdict"`
}

// Input is what Evaluate decides from.
type Input struct {
	Tenant string
	Stage  registry.Stage
	// StageSince is when the tenant entered Stage (registry.Tenant.StageChangedAt; zero if
	// it never changed). Buckets that start before it are not observed.
	StageSince time.Time
	// Started is when the counting began (Aggregator.Started): buckets before it are not
	// observed.
	Started time.Time
	Now     time.Time
	// Buckets are the tenant's buckets, oldest first (Aggregator.Buckets); gaps are buckets in
	// which no report arrived.
	Buckets []Bucket
	// Rows is how many buckets, up to the current one, the table shows. 0: the gate window
	// plus the open bucket.
	Rows int
	// Config gives the bucket width, landing lag and gate (defaults for zero fields).
	Config Config
}

// Evaluate builds the parity table and applies the gate. It is pure.
func Evaluate(in Input) Parity {
	cfg := in.Config.WithDefaults()
	width := cfg.BucketWidth
	need := cfg.windowBuckets()
	rows := in.Rows
	if rows <= 0 {
		rows = need + 1
	}
	p := Parity{Tenant: in.Tenant, Stage: in.Stage, StageSince: in.StageSince, BucketSeconds: width.Seconds(),
		ExpectedIs: "v2_accepted_events", LandedIs: "landed_live_events"}
	if in.Stage.Kind == registry.StageShadow {
		p.ExpectedIs, p.LandedIs = "v1_accepted_events", "landed_shadow_events"
	}
	byStart := make(map[int64]Bucket, len(in.Buckets))
	for _, b := range in.Buckets {
		byStart[b.Start.UnixMilli()] = b
	}
	wm := width.Milliseconds()
	cur := in.Now.UnixMilli() / wm * wm // the open bucket
	// Enough buckets for the table and for the gate window (which may reach back past
	// buckets not yet complete).
	lagBuckets := int((cfg.LandingLag + width - 1) / width)
	span := max(rows, need+lagBuckets+1)
	all := make([]Row, 0, span)
	for i := span - 1; i >= 0; i-- {
		start := cur - int64(i)*wm
		all = append(all, makeRow(in, cfg, start, byStart[start]))
	}
	p.Rows = all[len(all)-rows:]
	p.Verdict = verdict(in, cfg, all, need)
	return p
}

func makeRow(in Input, cfg Config, start int64, b Bucket) Row {
	c := b.Counts
	r := Row{
		Start: time.UnixMilli(start).UTC(), End: time.UnixMilli(start).Add(cfg.BucketWidth).UTC(),
		V1Accepted: c.V1AcceptedEvents, V2Accepted: c.V2AcceptedEvents,
		V2Requests: c.V2Requests, V2ServerErrors: c.V2ServerErrors,
		Expected: c.V2AcceptedEvents, Landed: c.LandedLiveEvents,
	}
	if in.Stage.Kind == registry.StageShadow {
		r.Expected, r.Landed = c.V1AcceptedEvents, c.LandedShadowEvents
	}
	if r.Expected > 0 {
		m := (float64(r.Expected) - float64(r.Landed)) / float64(r.Expected) * 100
		r.MismatchPercent = &m
	}
	if p, ok := p95(c.V2LatencyBuckets); ok {
		r.V2P95Ms = &p
	}
	r.Complete = !r.End.Add(cfg.LandingLag).After(in.Now)
	switch {
	case !r.Complete:
	case !in.StageSince.IsZero() && r.Start.Before(in.StageSince):
		r.Note = "before the stage began"
	case r.Start.Before(in.Started):
		r.Note = "before the control plane started counting"
	case !hasSource(b.Sources, report.SourceEdge) && !hasSource(b.Sources, report.SourceLoader):
		r.Note = "no reports from edges and loaders"
	case !hasSource(b.Sources, report.SourceEdge):
		r.Note = "no reports from edges"
	case !hasSource(b.Sources, report.SourceLoader):
		r.Note = "no reports from loaders"
	default:
		r.Observed = true
	}
	return r
}

func hasSource(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// p95 returns the upper bound of the latency bucket holding the 95th percentile.
func p95(counts []uint64) (float64, bool) {
	var total uint64
	for _, n := range counts {
		total += n
	}
	if total == 0 || len(counts) != len(report.LatencyBucketsMs)+1 {
		return 0, false
	}
	target := uint64(math.Ceil(0.95 * float64(total)))
	var cum uint64
	for i, n := range counts {
		cum += n
		if cum >= target {
			if i < len(report.LatencyBucketsMs) {
				return report.LatencyBucketsMs[i], true
			}
			break
		}
	}
	return report.LatencyBucketsMs[len(report.LatencyBucketsMs)-1], true
}

// verdict applies the gate to the last need complete buckets of all (oldest first).
func verdict(in Input, cfg Config, all []Row, need int) Verdict {
	v := Verdict{RequiredBuckets: need, MinLandedPercent: cfg.Gate.MinLandedPercent}
	switch in.Stage.Kind {
	case registry.StageLegacy:
		v.Pass = true
		v.Summary = "no parity needed to leave legacy: no traffic reaches ingest-v2 yet, and shadow writes only the shadow tables"
		return v
	case registry.StageV2:
		v.Summary = "v2 is the last stage: nothing to advance to"
		v.Reasons = []string{v.Summary}
		return v
	}
	var window []Row
	for i := len(all) - 1; i >= 0 && len(window) < need; i-- {
		if all[i].Complete {
			window = append([]Row{all[i]}, window...)
		}
	}
	if len(window) > 0 {
		v.WindowStart, v.WindowEnd = window[0].Start, window[len(window)-1].End
	}
	var missing []string
	var errBuckets []string
	var worst *Row
	for i := range window {
		r := &window[i]
		if !r.Observed {
			missing = append(missing, r.Note)
			continue
		}
		v.ObservedBuckets++
		v.ExpectedEvents += r.Expected
		v.LandedEvents += r.Landed
		v.V2ServerErrors += r.V2ServerErrors
		if r.V2ServerErrors > 0 {
			errBuckets = append(errBuckets, fmt.Sprintf("%d answers 5xx from ingest-v2 in %s", r.V2ServerErrors, clock(r.Start, cfg.BucketWidth)))
		}
		if r.MismatchPercent != nil && (worst == nil || *r.MismatchPercent > *worst.MismatchPercent) {
			worst = r
		}
	}
	unit := unitName(cfg.BucketWidth)
	if v.ObservedBuckets < need {
		why := ""
		if len(missing) > 0 {
			why = " (" + strings.Join(uniq(missing), "; ") + ")"
		}
		v.Reasons = append(v.Reasons, fmt.Sprintf("only %d of %d %s observed%s", v.ObservedBuckets, need, unit, why))
	}
	if v.ExpectedEvents > 0 {
		pct := float64(v.LandedEvents) / float64(v.ExpectedEvents) * 100
		v.LandedPercent = &pct
	}
	span := ""
	if len(window) > 0 {
		span = clock(v.WindowStart, cfg.BucketWidth) + "–" + clock(v.WindowEnd, cfg.BucketWidth)
	}
	switch {
	case v.ObservedBuckets == 0:
	case v.ExpectedEvents == 0:
		v.Reasons = append(v.Reasons, fmt.Sprintf("no events expected in %s: the tenant sent nothing to compare (%s)", span, expectedWord(in.Stage)))
	case *v.LandedPercent < cfg.Gate.MinLandedPercent:
		msg := fmt.Sprintf("%s %% landed in %s (%d of %d events), below %g %%", pct(*v.LandedPercent), span, v.LandedEvents, v.ExpectedEvents, cfg.Gate.MinLandedPercent)
		if worst != nil && len(window) > 1 {
			msg += fmt.Sprintf("; worst %s: %s %% landed", clock(worst.Start, cfg.BucketWidth), pct(100-*worst.MismatchPercent))
		}
		v.Reasons = append(v.Reasons, msg)
	}
	if int64(v.V2ServerErrors) > cfg.Gate.MaxServerErrors {
		if len(errBuckets) > 3 {
			errBuckets = append(errBuckets[:3], fmt.Sprintf("and in %d more %s", len(errBuckets)-3, unit))
		}
		if cfg.Gate.MaxServerErrors > 0 {
			errBuckets = append(errBuckets, fmt.Sprintf("%d in all, above the %d allowed", v.V2ServerErrors, cfg.Gate.MaxServerErrors))
		}
		v.Reasons = append(v.Reasons, strings.Join(errBuckets, ", "))
	}
	if len(v.Reasons) == 0 {
		v.Pass = true
		v.Summary = fmt.Sprintf("parity passes: %s %% of %d expected events landed in %s, %d answers 5xx from ingest-v2", pct(*v.LandedPercent), v.ExpectedEvents, span, v.V2ServerErrors)
	} else {
		v.Summary = "parity fails: " + strings.Join(v.Reasons, "; ")
	}
	return v
}

func expectedWord(s registry.Stage) string {
	if s.Kind == registry.StageShadow {
		return "events ingest-v1 accepted"
	}
	return "events ingest-v2 accepted"
}

// pct formats a percentage with one decimal, or more when that would round to a bound.
func pct(p float64) string {
	s := fmt.Sprintf("%.1f", p)
	if (s == "100.0" && p < 100) || (s == "99.9" && p < 99.9) {
		s = fmt.Sprintf("%.3f", math.Floor(p*1000)/1000)
	}
	return s
}

func clock(t time.Time, width time.Duration) string {
	if width%time.Minute == 0 {
		return t.UTC().Format("15:04")
	}
	return t.UTC().Format("15:04:05")
}

func unitName(width time.Duration) string {
	if width == time.Minute {
		return "minutes"
	}
	return fmt.Sprintf("buckets of %s", width)
}

func uniq(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Parity returns tenant's parity table and verdict at stage (entered at since) from the
// aggregator's buckets; rows is as Input.Rows.
func (a *Aggregator) Parity(tenant string, stage registry.Stage, since time.Time, rows int) Parity {
	return Evaluate(Input{Tenant: tenant, Stage: stage, StageSince: since, Started: a.started, Now: a.now(),
		Buckets: a.Buckets(tenant), Rows: rows, Config: a.cfg})
}
