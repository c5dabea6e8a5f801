package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration"
	"github.com/ingestdev/ingest/migration/report"
)

// MaxCutoverBuckets bounds the buckets query parameter of GET /v1/tenants/{id}/cutover.
const MaxCutoverBuckets = 240

// tracker is the set of tenants whose reports the aggregator keeps (those in shadow and
// canary), refreshed from the registry when its revision changes.
type tracker struct {
	reg *registry.Registry

	mu      sync.RWMutex
	rev     int64
	tenants map[string]registry.Tenant // stage and stage_changed_at only
}

func tracked(s registry.Stage) bool {
	return s.Kind == registry.StageShadow || s.Kind == registry.StageCanary
}

// refresh reloads the set if the registry changed since the last call.
func (t *tracker) refresh() {
	rev := t.reg.Revision()
	t.mu.RLock()
	fresh := t.tenants != nil && t.rev == rev
	t.mu.RUnlock()
	if fresh {
		return
	}
	st := t.reg.Snapshot()
	m := map[string]registry.Tenant{}
	for _, tn := range st.Tenants {
		if tracked(tn.Stage) {
			m[tn.ID] = registry.Tenant{ID: tn.ID, Stage: tn.Stage, StageChangedAt: tn.StageChangedAt}
		}
	}
	t.mu.Lock()
	t.rev, t.tenants = st.Revision, m
	t.mu.Unlock()
}

func (t *tracker) has(id string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.tenants[id]
	return ok
}

func (t *tracker) list() []registry.Tenant {
	t.refresh()
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]registry.Tenant, 0, len(t.tenants))
	for _, tn := range t.tenants {
		out = append(out, tn)
	}
	return out
}

// cutoverCollector exports the parity of the tenants in shadow and canary at scrape time, so
// that a tenant's series disappear when it leaves those stages.
type cutoverCollector struct {
	agg *migration.Aggregator
	trk *tracker

	pass, observed, landed, errors5xx *prometheus.Desc
}

func newCutoverCollector(agg *migration.Aggregator, trk *tracker) *cutoverCollector {
	l := []string{"tenant", "stage"}
	return &cutoverCollector{agg: agg, trk: trk,
		pass:      prometheus.NewDesc("ingest_controlplane_cutover_gate_pass", "1 when the tenant's parity gate passes, else 0 (tenants in shadow and canary only).", l, nil),
		observed:  prometheus.NewDesc("ingest_controlplane_cutover_observed_buckets", "Buckets of the gate window observed since the tenant entered its stage.", l, nil),
		landed:    prometheus.NewDesc("ingest_controlplane_cutover_landed_ratio", "Share (0..1) of the expected events that landed on the v2 side over the gate window; absent when none were expected.", l, nil),
		errors5xx: prometheus.NewDesc("ingest_controlplane_cutover_v2_server_errors", "5xx answers of ingest-v2 for the tenant over the gate window.", l, nil),
	}
}

func (c *cutoverCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pass
	ch <- c.observed
	ch <- c.landed
	ch <- c.errors5xx
}

func (c *cutoverCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.trk.list() {
		v := c.agg.Parity(t.ID, t.Stage, t.StageChangedAt, 1).Verdict
		st := t.Stage.String()
		pass := 0.0
		if v.Pass {
			pass = 1
		}
		ch <- prometheus.MustNewConstMetric(c.pass, prometheus.GaugeValue, pass, t.ID, st)
		ch <- prometheus.MustNewConstMetric(c.observed, prometheus.GaugeValue, float64(v.ObservedBuckets), t.ID, st)
		ch <- prometheus.MustNewConstMetric(c.errors5xx, prometheus.GaugeValue, float64(v.V2ServerErrors), t.ID, st)
		if v.LandedPercent != nil {
			ch <- prometheus.MustNewConstMetric(c.landed, prometheus.GaugeValue, *v.LandedPercent/100, t.ID, st)
		}
	}
}

// reportAuthorized compares the bearer token with the report token in constant time.
func (h *handler) reportAuthorized(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok || !h.reportsEnabled {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], h.reportTokenHash[:]) == 1
}

func (h *handler) countReport(source string, outcome migration.Outcome) {
	switch source {
	case report.SourceEdge, report.SourceNormalizer, report.SourceLoader:
	default:
		source = "unknown"
	}
	h.reports.WithLabelValues(source, string(outcome)).Inc()
}

// postReport is POST /v1/reports: one report of the cutover report stream.
func (h *handler) postReport(w http.ResponseWriter, r *http.Request) error {
	if !h.reportsEnabled {
		h.countReport("", "disabled")
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable,
			msg: "the report stream is disabled: start the control plane with admin.report_token_file (or INGEST_REPORT_TOKEN) and give the reporters the same token"}
	}
	if !h.reportAuthorized(r) {
		h.countReport("", "unauthorized")
		msg := "missing report token: send `Authorization: Bearer <report token>` with the token the control plane was started with (admin.report_token_file or INGEST_REPORT_TOKEN); the admin token is not accepted here"
		if _, ok := bearer(r); ok {
			msg = "the report token sent in `Authorization: Bearer <token>` does not match the control plane's (admin.report_token_file or INGEST_REPORT_TOKEN)"
		}
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, msg: msg}
	}
	body, err := readJSONBody(w, r, report.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.countReport("", "too_large")
		} else {
			h.countReport("", migration.OutcomeInvalid)
		}
		return err
	}
	var rep report.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		h.countReport("", migration.OutcomeInvalid)
		return invalid("body", "not a report (see migration/report): %v", err)
	}
	h.track.refresh()
	outcome, err := h.agg.Add(&rep)
	h.countReport(rep.Source, outcome)
	switch outcome {
	case migration.OutcomeAccepted, migration.OutcomeDuplicate:
		if rep.Source == report.SourceEdge {
			// An edge's report is answered with its shares of the quotas (a duplicate too: its
			// first answer may be the one that was lost).
			writeJSON(w, http.StatusOK, h.shares.Observe(&rep, h.clock()))
			return nil
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case migration.OutcomeTooManyInstances:
		w.Header().Set("Retry-After", "60")
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, msg: err.Error()}
	}
	return invalid("body", "%v", err)
}

// cutoverBuckets reads the buckets query parameter.
func cutoverBuckets(r *http.Request) (int, error) {
	v := r.URL.Query().Get("buckets")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxCutoverBuckets {
		return 0, invalid("buckets", "%q must be an integer from 1 to %d", v, MaxCutoverBuckets)
	}
	return n, nil
}

func (h *handler) cutoverStatus(t registry.Tenant, buckets int) CutoverStatus {
	st := CutoverStatus{Tenant: t.ID, Stage: t.Stage, PreviousStage: t.PreviousStage, StageChangedAt: t.StageChangedAt,
		Revision: t.Revision, Effect: migration.Describe(t.Stage), Gated: migration.Gated(t.Stage),
		Parity: h.agg.Parity(t.ID, t.Stage, t.StageChangedAt, buckets)}
	if next, ok := migration.NextStage(t.Stage); ok {
		st.Next = &next
	}
	if prev, ok := migration.RollbackStage(t.Stage, t.PreviousStage); ok {
		st.Rollback = &prev
	}
	return st
}

func (h *handler) getCutover(w http.ResponseWriter, r *http.Request) error {
	n, err := cutoverBuckets(r)
	if err != nil {
		return err
	}
	t, err := h.reg.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	setETag(w, t.Revision)
	writeJSON(w, http.StatusOK, h.cutoverStatus(t, n))
	return nil
}

// cutoverTarget reads the tenant and the revision the request expects.
func (h *handler) cutoverTarget(r *http.Request, body *int64) (registry.Tenant, error) {
	rev, err := expectedRevision(r, body, true, 1)
	if err != nil {
		return registry.Tenant{}, err
	}
	t, err := h.reg.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return registry.Tenant{}, err
	}
	if rev != 0 && rev != t.Revision {
		return registry.Tenant{}, &registry.ConflictError{Object: "tenant", ID: t.ID, Expected: rev, Current: t.Revision}
	}
	return t, nil
}

func (h *handler) advanceCutover(w http.ResponseWriter, r *http.Request) error {
	var req CutoverAdvanceRequest
	if err := h.decode(w, r, &req, true); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Force && req.Reason == "" {
		return invalid("reason", "required with force: say why the parity gate is overridden; it is recorded in the audit log")
	}
	t, err := h.cutoverTarget(r, req.Revision)
	if err != nil {
		return err
	}
	to, ok := migration.NextStage(t.Stage)
	if req.To != "" {
		if to, err = registry.ParseStage(req.To); err != nil {
			return invalid("to", "%v", err)
		}
	} else if !ok {
		return invalid("to", "tenant %s is at %s, the last stage: nothing to advance to", t.ID, t.Stage)
	}
	switch {
	case to == t.Stage:
		return invalid("to", "tenant %s is already at %s", t.ID, t.Stage)
	case to.Before(t.Stage):
		return invalid("to", "%s is before the current stage %s: use rollback (POST /v1/tenants/%s/cutover/rollback)", to, t.Stage, t.ID)
	case t.Stage.Kind == registry.StageLegacy && to.Kind != registry.StageShadow && !req.Force:
		return &apiError{status: http.StatusConflict, code: CodeGateRefused,
			msg: fmt.Sprintf("cannot advance tenant %s from legacy to %s: parity is measured in shadow, so advance to shadow first (or force with a reason)", t.ID, to)}
	}
	out := CutoverChange{From: t.Stage, To: to, Before: migration.Describe(t.Stage), After: migration.Describe(to), Reason: req.Reason}
	note := ""
	if migration.Gated(t.Stage) {
		v := h.agg.Parity(t.ID, t.Stage, t.StageChangedAt, 1).Verdict
		out.Verdict = &v
		switch {
		case v.Pass:
			note = "gate passed: " + strings.TrimPrefix(v.Summary, "parity passes: ")
		case !req.Force:
			return &apiError{status: http.StatusConflict, code: CodeGateRefused,
				msg: fmt.Sprintf("cannot advance tenant %s from %s to %s: the parity gate fails: %s; wait and check `ingestctl cutover status %s`, roll back, or force with a reason",
					t.ID, t.Stage, to, strings.Join(v.Reasons, "; "), t.ID)}
		default:
			out.Forced = true
			note = "forced past the gate: " + strings.Join(v.Reasons, "; ")
		}
	} else if req.Force && t.Stage.Kind == registry.StageLegacy && to.Kind != registry.StageShadow {
		out.Forced = true
		note = "forced: skipped shadow"
	}
	nt, err := h.reg.ChangeStage(r.Context(), actor(r), t.ID, t.Revision, to,
		registry.StageChange{Action: registry.ActionCutoverAdvance, Note: note, Reason: req.Reason, From: t.Stage})
	if err != nil {
		return err
	}
	out.Tenant = nt.Redacted()
	setETag(w, nt.Revision)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) rollbackCutover(w http.ResponseWriter, r *http.Request) error {
	var req CutoverRollbackRequest
	if err := h.decode(w, r, &req, true); err != nil {
		return err
	}
	t, err := h.cutoverTarget(r, req.Revision)
	if err != nil {
		return err
	}
	to, ok := migration.RollbackStage(t.Stage, t.PreviousStage)
	if req.To != "" {
		if to, err = registry.ParseStage(req.To); err != nil {
			return invalid("to", "%v", err)
		}
	} else if !ok {
		return invalid("to", "tenant %s is at legacy, the first stage: nothing to roll back to", t.ID)
	}
	if !to.Before(t.Stage) {
		return invalid("to", "%s is not before the current stage %s: use advance to move forward", to, t.Stage)
	}
	nt, err := h.reg.ChangeStage(r.Context(), actor(r), t.ID, t.Revision, to,
		registry.StageChange{Action: registry.ActionCutoverRollback, Reason: strings.TrimSpace(req.Reason), From: t.Stage})
	if err != nil {
		return err
	}
	setETag(w, nt.Revision)
	writeJSON(w, http.StatusOK, CutoverChange{Tenant: nt.Redacted(), From: t.Stage, To: to,
		Before: migration.Describe(t.Stage), After: migration.Describe(to), Reason: strings.TrimSpace(req.Reason)})
	return nil
}
