package normalizer

// Reason is a stable id for why an event or a request was rejected. It is the reason label of
// ingest_normalizer_events_rejected_total and appears in every rejection a client sees. Ids never
// change meaning; new ones may be added.
type Reason string

// Per-event reasons: the event is rejected, the other events of the request are still accepted.
const (
	// ReasonInvalidJSON: an NDJSON line is not a JSON object.
	ReasonInvalidJSON Reason = "err-ingest-invalid-json"
	// ReasonMissingField: a required field is absent (the message names it).
	ReasonMissingField Reason = "err-ingest-missing-field"
	// ReasonInvalidField: a field has the wrong type or an invalid value (the message names it).
	ReasonInvalidField Reason = "err-ingest-invalid-field"
	// ReasonTimestampTooOld: the timestamp is further in the past than max_past.
	ReasonTimestampTooOld Reason = "err-ingest-timestamp-too-old"
	// ReasonTimestampTooNew: the timestamp is further in the future than max_future.
	ReasonTimestampTooNew Reason = "err-ingest-timestamp-too-new"
	// ReasonTooManyAttributes: more attributes (or resource attributes) than max_attributes.
	ReasonTooManyAttributes Reason = "err-ingest-too-many-attributes"
	// ReasonAttributeTooLong: an attribute key or value is longer than its limit.
	ReasonAttributeTooLong Reason = "err-ingest-attribute-too-long"
	// ReasonNameTooLong: a name is longer than max_name_bytes.
	ReasonNameTooLong Reason = "err-ingest-name-too-long"
	// ReasonBodyTooLong: a log body is longer than max_log_body_bytes.
	ReasonBodyTooLong Reason = "err-ingest-log-body-too-long"
)

// Request-level reasons: the whole request is refused with the status in parentheses.
const (
	ReasonMissingTenant        Reason = "err-ingest-missing-tenant"         // 401
	ReasonInvalidTenant        Reason = "err-ingest-invalid-tenant"         // 400
	ReasonMalformed            Reason = "err-ingest-malformed-request"      // 400
	ReasonBodyTooLarge         Reason = "err-ingest-body-too-large"         // 413
	ReasonDecompressedTooLarge Reason = "err-ingest-decompressed-too-large" // 413
	ReasonTooManyEvents        Reason = "err-ingest-too-many-events"        // 413
	ReasonUnsupportedMediaType Reason = "err-ingest-unsupported-media-type" // 415
	ReasonUnsupportedEncoding  Reason = "err-ingest-unsupported-encoding"   // 415
	ReasonMethodNotAllowed     Reason = "err-ingest-method-not-allowed"     // 405
	ReasonNormalizerFull       Reason = "err-ingest-normalizer-full"        // 429
	ReasonSinkFull             Reason = "err-ingest-sink-full"              // 429
	ReasonSinkUnavailable      Reason = "err-ingest-sink-unavailable"       // 503
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
