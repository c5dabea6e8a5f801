package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/replay"
)

// The replay routes (/v1/replays) are a thin front end of a replay.Service (the engine in
// migration/replay): they check the request, call the engine, audit every change and map the
// engine's *replay.Error codes to statuses, passing its message through verbatim (it names
// the valid range, state or next step).

// replayStatus is the HTTP status of each code of *replay.Error: one status per code.
// Malformed requests are 400 like every invalid request of this API; a window or partition
// that Kafka does not hold is a well-formed request the topic's current state refuses, 422.
var replayStatus = map[string]int{
	replay.CodeNotFound:      http.StatusNotFound,
	replay.CodeUnknownTenant: http.StatusNotFound,
	replay.CodeInvalid:       http.StatusBadRequest,
	replay.CodeBadRange:      http.StatusUnprocessableEntity,
	replay.CodeBadPartition:  http.StatusUnprocessableEntity,
	replay.CodeState:         http.StatusConflict,
	replay.CodeChanged:       http.StatusConflict,
	replay.CodeNotReady:      http.StatusConflict,
	replay.CodeKafka:         http.StatusBadGateway,
	replay.CodeClickHouse:    http.StatusBadGateway,
	replay.CodeNotConfigured: http.StatusNotImplemented,
	replay.CodeUnavailable:   http.StatusServiceUnavailable,
	replay.CodeTimeout:       http.StatusGatewayTimeout,
}

// replayAPIError is the answer of an engine error: its code and message as they are. An
// unknown code (a newer engine) is a 500 that still carries the message.
func replayAPIError(e *replay.Error) *apiError {
	status, ok := replayStatus[e.Code]
	if !ok {
		return &apiError{status: http.StatusInternalServerError, code: CodeInternal, msg: e.Error()}
	}
	return &apiError{status: status, code: e.Code, msg: e.Error()}
}

// errNoReplay answers the replay routes of a control plane without replay.
var errNoReplay = &apiError{status: http.StatusNotImplemented, code: CodeNotConfigured,
	msg: "replay is not configured on this control plane: set replay.brokers (--replay-brokers, the Kafka brokers of the tenant topics) " +
		"and clickhouse.addr (--clickhouse, where replays write) in its config, then restart it"}

// replayReady refuses every replay route of a control plane without replay.
func (h *handler) replayReady() error {
	if h.replay == nil {
		return errNoReplay
	}
	return nil
}

// maxAuditRanges bounds the partitions an audit summary of a replay names one by one.
const maxAuditRanges = 8

// rangesSummary is "ingest.acme partitions 0 [100, 200), 1 [5, 9)": what a job reads.
func rangesSummary(p replay.Plan) string {
	parts := make([]string, 0, min(len(p.Partitions), maxAuditRanges))
	for i, pr := range p.Partitions {
		if i == maxAuditRanges {
			parts = append(parts, fmt.Sprintf("and %d more", len(p.Partitions)-maxAuditRanges))
			break
		}
		parts = append(parts, fmt.Sprintf("%d [%d, %d)", pr.Partition, pr.From, pr.To))
	}
	return fmt.Sprintf("%s partitions %s", p.Topic, strings.Join(parts, ", "))
}

// replaySummary is the one-line audit summary of a replay operation on job j.
func replaySummary(verb string, j replay.Job) string {
	p := j.Plan
	s := fmt.Sprintf("replay %s of tenant %s %s: %s; %d records", j.ID, p.Tenant, verb, rangesSummary(p), p.Records)
	switch verb {
	case "planned":
		s += fmt.Sprintf(", %d events", p.Events)
		if p.EventTimeMin != nil && p.EventTimeMax != nil {
			s += fmt.Sprintf(", event time %s … %s", formatUTC(*p.EventTimeMin), formatUTC(*p.EventTimeMax))
		}
		tables := make([]string, 0, len(p.Tables))
		for _, t := range p.Tables {
			tables = append(tables, t.Replay)
		}
		if len(tables) > 0 {
			s += "; writes " + strings.Join(tables, ", ")
		}
	case "started", "cancelled":
		s += fmt.Sprintf(", %d done at %d rec/s; state %s", j.Progress.RecordsDone, p.Rate, j.State)
	default:
		s += fmt.Sprintf("; state %s", j.State)
	}
	return s
}

func formatUTC(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// promoteSummary is the one-line audit summary of a promote.
func promoteSummary(res replay.PromoteResult) string {
	var tables []string
	for _, c := range res.Changes {
		if !slices.Contains(tables, c.Table) {
			tables = append(tables, c.Table)
		}
	}
	where := "no live table"
	if len(tables) > 0 {
		where = "live " + strings.Join(tables, ", ")
	}
	return fmt.Sprintf("replay %s of tenant %s promoted into %s: %d rows inserted, %d deleted (planned %d, %d), %d roll-up windows marked for recompute",
		res.ID, res.Tenant, where, res.Inserted, res.Deleted, res.Insert, res.Delete, res.RollupWindows)
}

// audit records a replay operation that happened. The operation is done: it is audited even
// if the caller went away.
func (h *handler) auditReplay(r *http.Request, action registry.Action, tenant, summary, reason string, after any) error {
	_, err := h.reg.RecordAction(context.WithoutCancel(r.Context()), actor(r), action, tenant, summary, reason, after)
	return err
}

// listReplays is GET /v1/replays: every job, newest first.
func (h *handler) listReplays(w http.ResponseWriter, r *http.Request) error {
	if err := h.replayReady(); err != nil {
		return err
	}
	jobs, err := h.replay.List(r.Context())
	if err != nil {
		return err
	}
	if jobs == nil {
		jobs = []replay.Job{}
	}
	sort.SliceStable(jobs, func(i, j int) bool { return newerJob(jobs[i], jobs[j]) })
	writeJSON(w, http.StatusOK, ReplayList{Replays: jobs})
	return nil
}

// newerJob orders jobs newest first: by creation time, then by numeric id.
func newerJob(a, b replay.Job) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	na, errA := strconv.ParseUint(a.ID, 10, 64)
	nb, errB := strconv.ParseUint(b.ID, 10, 64)
	if errA == nil && errB == nil {
		return na > nb
	}
	return a.ID > b.ID
}

// planReplay is POST /v1/replays: plan (and persist) a replay of a registered tenant.
func (h *handler) planReplay(w http.ResponseWriter, r *http.Request) error {
	if err := h.replayReady(); err != nil {
		return err
	}
	var req PlanReplayRequest
	if err := h.decode(w, r, &req, false); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && strings.HasPrefix(ae.field, "PlanRequest.") {
			// The body is flat: name the field as sent.
			ae.field = strings.TrimPrefix(ae.field, "PlanRequest.")
			ae.msg = strings.TrimPrefix(ae.msg, "PlanRequest.")
		}
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Tenant == "" {
		return invalid("tenant", "required: the tenant whose Kafka topic to replay")
	}
	if err := registry.ValidateAction(actor(r), "", req.Reason); err != nil {
		return err // before planning: the audit entry must be writable
	}
	if _, err := h.reg.Tenant(r.Context(), req.Tenant); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return &apiError{status: http.StatusNotFound, code: CodeNotFound,
				msg: fmt.Sprintf("tenant %q is not in the registry: replay only registered tenants (list them with GET /v1/tenants, `ingestctl tenants list`)", req.Tenant)}
		}
		return err
	}
	job, err := h.replay.Plan(r.Context(), req.PlanRequest)
	if err != nil {
		return err
	}
	if err := h.auditReplay(r, registry.ActionReplayPlan, job.Plan.Tenant, replaySummary("planned", job), req.Reason, job); err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/replays/"+job.ID)
	writeJSON(w, http.StatusCreated, job)
	return nil
}

// getReplay is GET /v1/replays/{id}: the job with its current progress.
func (h *handler) getReplay(w http.ResponseWriter, r *http.Request) error {
	if err := h.replayReady(); err != nil {
		return err
	}
	job, err := h.replay.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}

// replayAction runs a state change of a job (start, cancel, discard) and audits it.
func (h *handler) replayAction(w http.ResponseWriter, r *http.Request, action registry.Action, verb string,
	do func(ctx context.Context, id string) (replay.Job, error)) error {
	if err := h.replayReady(); err != nil {
		return err
	}
	var req ReplayActionRequest
	if err := h.decode(w, r, &req, true); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if err := registry.ValidateAction(actor(r), "", req.Reason); err != nil {
		return err
	}
	job, err := do(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := h.auditReplay(r, action, job.Plan.Tenant, replaySummary(verb, job), req.Reason, job); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, job)
	return nil
}

// startReplay is POST /v1/replays/{id}/start: run (or resume) a job.
func (h *handler) startReplay(w http.ResponseWriter, r *http.Request) error {
	return h.replayAction(w, r, registry.ActionReplayStart, "started", func(ctx context.Context, id string) (replay.Job, error) {
		return h.replay.Start(ctx, id)
	})
}

// cancelReplay is POST /v1/replays/{id}/cancel: stop a running job at its next checkpoint.
func (h *handler) cancelReplay(w http.ResponseWriter, r *http.Request) error {
	return h.replayAction(w, r, registry.ActionReplayCancel, "cancelled", func(ctx context.Context, id string) (replay.Job, error) {
		return h.replay.Cancel(ctx, id)
	})
}

// discardReplay is POST /v1/replays/{id}/discard: drop a job's replay tables.
func (h *handler) discardReplay(w http.ResponseWriter, r *http.Request) error {
	return h.replayAction(w, r, registry.ActionReplayDiscard, "discarded", func(ctx context.Context, id string) (replay.Job, error) {
		return h.replay.Discard(ctx, id)
	})
}

// diffReplay is GET /v1/replays/{id}/diff?by=minute|hour: the job's tables against live.
func (h *handler) diffReplay(w http.ResponseWriter, r *http.Request) error {
	if err := h.replayReady(); err != nil {
		return err
	}
	by := r.URL.Query().Get("by")
	switch by {
	case "", replay.ByMinute, replay.ByHour:
	default:
		return invalid("by", "%q must be %s or %s (default %s)", by, replay.ByMinute, replay.ByHour, replay.ByMinute)
	}
	d, err := h.replay.Diff(r.Context(), r.PathValue("id"), by)
	if err != nil {
		return err
	}
	if d.Windows == nil {
		d.Windows = []replay.DiffWindow{}
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// promotePlan is GET /v1/replays/{id}/promote: what a promote would change, and its
// fingerprint.
func (h *handler) promotePlan(w http.ResponseWriter, r *http.Request) error {
	if err := h.replayReady(); err != nil {
		return err
	}
	p, err := h.replay.PromotePlan(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if p.Changes == nil {
		p.Changes = []replay.PromoteChange{}
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// promoteReplay is POST /v1/replays/{id}/promote: make the tenant's window in live equal the
// replayed rows, if the promote plan still has the fingerprint the operator saw.
func (h *handler) promoteReplay(w http.ResponseWriter, r *http.Request) error {
	if err := h.replayReady(); err != nil {
		return err
	}
	var req PromoteReplayRequest
	if err := h.decode(w, r, &req, false); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if strings.TrimSpace(req.Fingerprint) == "" {
		return invalid("fingerprint", "required: the fingerprint of the promote plan you reviewed (GET /v1/replays/%s/promote, which `ingestctl replay promote` shows first)", r.PathValue("id"))
	}
	if err := registry.ValidateAction(actor(r), "", req.Reason); err != nil {
		return err
	}
	res, err := h.replay.Promote(r.Context(), r.PathValue("id"), req.Fingerprint)
	if err != nil {
		return err
	}
	if err := h.auditReplay(r, registry.ActionReplayPromote, res.Tenant, promoteSummary(res), req.Reason, res); err != nil {
		return err
	}
	if res.Changes == nil {
		res.Changes = []replay.PromoteChange{}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
