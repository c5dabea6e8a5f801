package normalizer

import "github.com/ingestdev/ingest/internal/reason"

// Reason is a stable id for why an event or a request was rejected: an id of the pipeline's
// one catalogue, internal/reason, which gives its status and what the caller can do. It is the
// reason label of ingest_normalizer_events_rejected_total and appears in every rejection a
// client sees. Ids never change meaning; new ones may be added (to the catalogue).
type Reason = reason.ID

// Per-event reasons: the event is rejected, the other events of the request are still accepted.
const (
	// ReasonInvalidJSON: an NDJSON line is not a JSON object.
	ReasonInvalidJSON = reason.InvalidJSON
	// ReasonMissingField: a required field is absent (the message names it).
	ReasonMissingField = reason.MissingField
	// ReasonInvalidField: a field has the wrong type or an invalid value (the message names it).
	ReasonInvalidField = reason.InvalidField
	// ReasonTimestampTooOld: the timestamp is further in the past than max_past.
	ReasonTimestampTooOld = reason.TimestampTooOld
	// ReasonTimestampTooNew: the timestamp is further in the future than max_future.
	ReasonTimestampTooNew = reason.TimestampTooNew
	// ReasonTooManyAttributes: more attributes (or resource attributes) than max_attributes.
	ReasonTooManyAttributes = reason.TooManyAttributes
	// ReasonAttributeTooLong: an attribute key or value is longer than its limit.
	ReasonAttributeTooLong = reason.AttributeTooLong
	// ReasonNameTooLong: a name is longer than max_name_bytes.
	ReasonNameTooLong = reason.NameTooLong
	// ReasonBodyTooLong: a log body is longer than max_log_body_bytes.
	ReasonBodyTooLong = reason.LogBodyTooLong
	// ReasonEventTooLarge: the encoded event is larger than max_record_bytes.
	ReasonEventTooLarge = reason.EventTooLarge
)

// Request-level reasons: the whole request is refused with the catalogue's status (in
// parentheses), which statusOf answers.
const (
	ReasonMissingTenant             = reason.MissingTenant             // 401
	ReasonInternalAuth              = reason.InternalAuth              // 401
	ReasonInvalidTenant             = reason.InvalidTenant             // 400
	ReasonMalformed                 = reason.MalformedRequest          // 400
	ReasonBodyTimeout               = reason.BodyTimeout               // 408
	ReasonBodyTooLarge              = reason.BodyTooLarge              // 413
	ReasonDecompressedTooLarge      = reason.DecompressedTooLarge      // 413
	ReasonTooManyEvents             = reason.TooManyEvents             // 413
	ReasonUnsupportedMediaType      = reason.UnsupportedMediaType      // 415
	ReasonUnsupportedEncoding       = reason.UnsupportedEncoding       // 415
	ReasonMethodNotAllowed          = reason.MethodNotAllowed          // 405
	ReasonNormalizerFull            = reason.NormalizerFull            // 429
	ReasonNormalizerTenantShareFull = reason.NormalizerTenantShareFull // 429
	ReasonSinkFull                  = reason.SinkFull                  // 429
	ReasonSinkUnavailable           = reason.SinkUnavailable           // 503
	// ReasonInternal: an unexpected error (500).
	ReasonInternal = reason.Internal
)

// Rejection is one rejected event.
type Rejection struct {
	// Index is the event's 0-based position in the request: the NDJSON line's event index, or
	// the OTLP log record, data point or span counted in order over resources and scopes.
	Index int `json:"index"`
	// Line is the 1-based NDJSON line number; 0 for OTLP.
	Line    int    `json:"line,omitempty"`
	Reason  Reason `json:"reason"`
	Message string `json:"message"`
}
