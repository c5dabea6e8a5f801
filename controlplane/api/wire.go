package api

import (
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
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
)
