package api

import (
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration"
	"github.com/ingestdev/ingest/migration/replay"
)

// The JSON bodies of the admin API, shared with controlplane/client. Tenants, upstreams and
// audit entries are sent as registry.Tenant (without keys' salts and hashes),
// registry.Upstreams and registry.AuditEntry.

// CreateTenantRequest is the body of POST /v1/tenants.
type CreateTenantRequest struct {
	ID          string           `json:"id"`                     // required
	DisplayName string           `json:"display_name,omitempty"` // default: the id
	Quotas      *registry.Quotas `json:"quotas,omitempty"`       // default: unlimited
	Stage       string           `json:"stage,omitempty"`        // default: legacy
}

// UpdateTenantRequest is the body of PATCH /v1/tenants/{id}; absent fields stay as they are.
type UpdateTenantRequest struct {
	DisplayName *string `json:"display_name,omitempty"`
	Revision    *int64  `json:"revision,omitempty"` // alternative to If-Match
}

// SetQuotasRequest is the body of PUT /v1/tenants/{id}/quotas. It replaces all four quotas: an
// absent one becomes 0 (unlimited).
type SetQuotasRequest struct {
	registry.Quotas
	Revision *int64 `json:"revision,omitempty"` // alternative to If-Match
}

// SetStageRequest is the body of PUT /v1/tenants/{id}/stage.
type SetStageRequest struct {
	Stage    string `json:"stage"`              // legacy, shadow, canary:<1..99> or v2
	Revision *int64 `json:"revision,omitempty"` // alternative to If-Match
}

// CreateKeyRequest is the optional body of POST /v1/tenants/{id}/keys.
type CreateKeyRequest struct {
	Revision *int64 `json:"revision,omitempty"` // optional check, like If-Match
}

// RotateKeyRequest is the optional body of POST /v1/tenants/{id}/keys/{key_id}/rotate.
type RotateKeyRequest struct {
	// Grace is how long the old key is still accepted, as a Go duration ("90m", "24h"); empty
	// or "0s" revokes it at once. At most 720h.
	Grace    string `json:"grace,omitempty"`
	Revision *int64 `json:"revision,omitempty"` // optional check, like If-Match
}

// KeyResponse answers key creation and rotation. Key is the full API key: it is shown in this
// answer only and cannot be read again.
type KeyResponse struct {
	Key      string           `json:"key"`
	APIKey   registry.APIKey  `json:"api_key"`            // the new key's metadata
	Replaced *registry.APIKey `json:"replaced,omitempty"` // rotation: the old key, with its revoked_at
	Tenant   registry.Tenant  `json:"tenant"`
}

// TenantList answers GET /v1/tenants.
type TenantList struct {
	Tenants  []registry.Tenant `json:"tenants"`
	Revision int64             `json:"revision"` // the global revision the list was read at
}

// SetUpstreamsRequest is the body of PUT /v1/upstreams. Both lists are required (send [] for
// none), so that a forgotten field does not empty a cluster.
type SetUpstreamsRequest struct {
	V1       *[]registry.Endpoint `json:"ingest_v1"`
	V2       *[]registry.Endpoint `json:"ingest_v2"`
	Revision *int64               `json:"revision,omitempty"` // alternative to If-Match
}

// AuditList answers GET /v1/audit.
type AuditList struct {
	Entries []registry.AuditEntry `json:"entries"`
	// NextSince is the seq to pass as since to get the entries after these: the last seq
	// returned, or the since given when there is none.
	NextSince uint64 `json:"next_since"`
}

// Health answers GET /healthz.
type Health struct {
	Status   string    `json:"status"` // "ok"
	Revision int64     `json:"revision"`
	Time     time.Time `json:"time"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes one error.
type ErrorDetail struct {
	Code    string `json:"code"`            // stable; see the Code* constants
	Field   string `json:"field,omitempty"` // the field, parameter or header at fault (400, 428)
	Message string `json:"message"`         // what went wrong and what to do
	// CurrentRevision is the object's current revision, for 409 revision_conflict.
	CurrentRevision int64 `json:"current_revision,omitempty"`
}

// Error codes. Each maps to one HTTP status.
const (
	CodeUnauthorized         = "unauthorized"           // 401: missing or wrong admin token
	CodeInvalid              = "invalid"                // 400: a field is invalid; field names it
	CodeNotFound             = "not_found"              // 404: no such tenant, key or route
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeRevisionConflict     = "revision_conflict"      // 409: stale revision; current_revision says the new one
	CodeAlreadyExists        = "already_exists"         // 409: tenant id taken
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeRevisionRequired     = "revision_required"      // 428: update without If-Match or revision
	CodeInternal             = "internal"               // 500
	CodeUnavailable          = "unavailable"            // 503: registry closed or shutting down
	CodeGateRefused          = "gate_refused"           // 409: a cutover advance the parity gate refuses; the message says why
	CodeInShadow             = "in_shadow"              // 409: clear-shadow of a tenant in shadow without force
	CodeNotConfigured        = "not_configured"         // 501: the route needs a setting the control plane lacks (clickhouse.addr)
	CodeClickHouse           = "clickhouse_error"       // 502: ClickHouse failed or could not be reached; the message says which table
	CodeTimeout              = "timeout"                // 504: ClickHouse did not finish within clickhouse.timeout; the work goes on there
)

// CutoverStatus answers GET /v1/tenants/{id}/cutover.
type CutoverStatus struct {
	Tenant         string         `json:"tenant"`
	Stage          registry.Stage `json:"stage"`
	PreviousStage  registry.Stage `json:"previous_stage,omitzero"`
	StageChangedAt time.Time      `json:"stage_changed_at,omitzero"`
	Revision       int64          `json:"revision"`
	// Effect is what the current stage routes where.
	Effect migration.Effect `json:"effect"`
	// Next is the stage a plain advance moves to; absent at v2.
	Next *registry.Stage `json:"next,omitempty"`
	// Rollback is the stage a plain rollback moves to; absent at legacy.
	Rollback *registry.Stage `json:"rollback,omitempty"`
	// Gated says an advance from this stage needs the parity gate to pass (shadow, canary).
	Gated  bool             `json:"gated"`
	Parity migration.Parity `json:"parity"`
}

// CutoverAdvanceRequest is the body of POST /v1/tenants/{id}/cutover/advance.
type CutoverAdvanceRequest struct {
	// To is the stage to move to; default the next one (legacy → shadow, shadow → canary:10,
	// canary:p → v2). It must be after the current stage.
	To string `json:"to,omitempty"`
	// Force advances although the parity gate fails; Reason is then required and audited.
	Force    bool   `json:"force,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Revision *int64 `json:"revision,omitempty"` // alternative to If-Match
}

// CutoverRollbackRequest is the body of POST /v1/tenants/{id}/cutover/rollback.
type CutoverRollbackRequest struct {
	// To is the stage to move back to, any stage before the current one; default the
	// previous stage.
	To       string `json:"to,omitempty"`
	Reason   string `json:"reason,omitempty"`   // optional, audited
	Revision *int64 `json:"revision,omitempty"` // alternative to If-Match
}

// CutoverChange answers an advance or a rollback: what changed.
type CutoverChange struct {
	Tenant registry.Tenant  `json:"tenant"` // after the change
	From   registry.Stage   `json:"from"`
	To     registry.Stage   `json:"to"`
	Before migration.Effect `json:"before"`
	After  migration.Effect `json:"after"`
	// Verdict is the gate's verdict an advance from shadow or canary was decided on.
	Verdict *migration.Verdict `json:"verdict,omitempty"`
	Forced  bool               `json:"forced,omitempty"`
	Reason  string             `json:"reason,omitempty"`
}

// ShadowTableRows is a tenant's rows in one shadow table.
type ShadowTableRows struct {
	Table string `json:"table"` // e.g. "logs_shadow"
	Rows  uint64 `json:"rows"`  // count() WHERE tenant = id, not deduplicated (what a delete removes)
}

// ShadowRows answers GET /v1/tenants/{id}/cutover/shadow: what clear-shadow would delete.
type ShadowRows struct {
	Tenant    string            `json:"tenant"`
	Stage     registry.Stage    `json:"stage"`
	Revision  int64             `json:"revision"`
	Database  string            `json:"database"`
	Tables    []ShadowTableRows `json:"tables"` // every shadow table, in schema order
	TotalRows uint64            `json:"total_rows"`
}

// ClearShadowRequest is the optional body of POST /v1/tenants/{id}/cutover/clear-shadow.
type ClearShadowRequest struct {
	// Force clears a tenant in shadow too; its mirrored traffic keeps landing, so rows come
	// back. Without it a tenant in shadow is refused with 409 in_shadow.
	Force    bool   `json:"force,omitempty"`
	Reason   string `json:"reason,omitempty"`   // optional, audited
	Revision *int64 `json:"revision,omitempty"` // optional check, like If-Match
}

// ClearShadowResult answers POST /v1/tenants/{id}/cutover/clear-shadow, and is the After of
// its audit entry (cutover.clear-shadow).
type ClearShadowResult struct {
	Tenant     string            `json:"tenant"`
	Stage      registry.Stage    `json:"stage"`
	Database   string            `json:"database"`
	Forced     bool              `json:"forced,omitempty"` // cleared while in shadow
	Before     []ShadowTableRows `json:"before"`
	After      []ShadowTableRows `json:"after,omitempty"` // absent when the deletes did not finish
	RowsBefore uint64            `json:"rows_before"`
	RowsAfter  uint64            `json:"rows_after"`
	Mutations  int               `json:"mutations"` // ALTER TABLE … DELETE submitted, one per table
	Done       bool              `json:"done"`      // every mutation finished
	Duration   string            `json:"duration"`  // counting, deleting and waiting, e.g. "1.204s"
	Reason     string            `json:"reason,omitempty"`
	AuditSeq   uint64            `json:"audit_seq,omitempty"` // the audit entry's seq (not in the entry itself)
}

// Error codes of the replay routes (/v1/replays): the engine's (migration/replay) codes, sent
// as they are, with its message. not_found, invalid, not_configured, unavailable,
// clickhouse_error and timeout are the codes above, with their statuses.
const (
	CodeUnknownTenant = "unknown_tenant" // 404: the tenant has no topic, or it never wrote a record
	CodeBadRange      = "bad_range"      // 422: the window is outside what Kafka holds, empty or reversed; the message names the valid range
	CodeBadPartition  = "bad_partition"  // 422: a partition the topic does not have; the message names those it has
	CodeBadState      = "bad_state"      // 409: the job's state does not allow it; the message says which would
	CodeChanged       = "changed"        // 409: the promote plan changed since it was shown; read it again
	CodeNotReady      = "not_ready"      // 409: live has not loaded the window yet
	CodeKafka         = "kafka_error"    // 502: Kafka failed or could not be reached
)

// PlanReplayRequest is the body of POST /v1/replays: the window to replay and, optionally,
// why (audited).
type PlanReplayRequest struct {
	replay.PlanRequest
	Reason string `json:"reason,omitempty"`
}

// ReplayActionRequest is the optional body of POST /v1/replays/{id}/start, …/cancel and
// …/discard.
type ReplayActionRequest struct {
	Reason string `json:"reason,omitempty"` // optional, audited
}

// PromoteReplayRequest is the body of POST /v1/replays/{id}/promote.
type PromoteReplayRequest struct {
	// Fingerprint is the promote plan's (GET /v1/replays/{id}/promote) the operator saw; the
	// promote is refused with 409 changed if the plan is no longer the same. Required.
	Fingerprint string `json:"fingerprint"`
	Reason      string `json:"reason,omitempty"` // optional, audited
}

// ReplayList answers GET /v1/replays.
type ReplayList struct {
	Replays []replay.Job `json:"replays"` // newest first
}
