package filter

import (
	"encoding/json"

	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/internal/reason"
)

// Reason ids of the filter's own refusals (stable; also the suffix of the rejection counters),
// from the pipeline's catalogue, internal/reason, which also gives their statuses: the ids the
// normalizer answers for the same checks are the same ids with the same statuses. The
// limiter's are admission.Reason*.
const (
	// ReasonUnknownAPIKey: no key, a key in the wrong format, unknown, or revoked (401).
	ReasonUnknownAPIKey = string(reason.UnknownAPIKey)
	// ReasonBodyTooLarge: the body is above limits.max_request_body_bytes (413).
	ReasonBodyTooLarge = string(reason.BodyTooLarge)
	// ReasonDecompressedTooLarge: a gzip body decompresses above DefaultMaxDecompressedBytes (413).
	ReasonDecompressedTooLarge = string(reason.DecompressedTooLarge)
	// ReasonMalformed: the body's structure cannot be walked to count its events, or it is not
	// valid gzip (400).
	ReasonMalformed = string(reason.MalformedRequest)
	// ReasonEdgeFull: the edge holds limits.max_in_flight_bytes of request bodies (503).
	ReasonEdgeFull = string(reason.EdgeFull)
	// ReasonEdgeTenantShareFull: the tenant's requests in progress hold its share of
	// limits.max_in_flight_bytes (see Shared.SetTenantShare) (503).
	ReasonEdgeTenantShareFull = string(reason.EdgeTenantShareFull)
	// ReasonUnconfigured: the filter factory got no parsed configuration, a bug (500).
	ReasonUnconfigured = string(reason.EdgeFilterUnconfigured)
)

// reasons are every reason id a request can be refused with, each with its counter.
var reasons = []string{
	ReasonUnknownAPIKey, ReasonBodyTooLarge, ReasonDecompressedTooLarge, ReasonMalformed, ReasonEdgeFull, ReasonEdgeTenantShareFull,
	admission.ReasonRateLimitedEvents, admission.ReasonRateLimitedBytes,
	admission.ReasonExceedsBurstEvents, admission.ReasonExceedsBurstBytes,
}

// errorBody is the JSON body of a refusal, in the normalizer's shape.
type errorBody struct {
	Error struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

func replyBody(id, message string) string {
	var b errorBody
	b.Error.Reason, b.Error.Message = id, message
	js, _ := json.Marshal(b) // two strings: cannot fail
	return string(js) + "\n"
}
