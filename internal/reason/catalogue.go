package reason

// The ids. Each is documented in the catalogue below with its status and the action it asks for.
const (
	// Refusals of the Go edge and the control plane's routes.
	EdgeNotReady       ID = "err-ingest-edge-not-ready"
	EdgeFilterInactive ID = "err-ingest-edge-filter-inactive"

	// Refusals of the edge filter.
	UnknownAPIKey          ID = "err-ingest-unknown-api-key"
	EdgeFull               ID = "err-ingest-edge-full"
	EdgeTenantShareFull    ID = "err-ingest-edge-tenant-share-full"
	EdgeFilterUnconfigured ID = "err-ingest-edge-filter-unconfigured"

	// Refusals of the edge filter's admission limiter.
	TenantRateLimitedEvents   ID = "err-ingest-tenant-rate-limited-events"
	TenantRateLimitedBytes    ID = "err-ingest-tenant-rate-limited-bytes"
	RequestExceedsBurstEvents ID = "err-ingest-request-exceeds-burst-events"
	RequestExceedsBurstBytes  ID = "err-ingest-request-exceeds-burst-bytes"

	// Refusals of a whole request: the normalizer, and the edge filter where it checks the
	// same thing first.
	MissingTenant             ID = "err-ingest-missing-tenant"
	InvalidTenant             ID = "err-ingest-invalid-tenant"
	MalformedRequest          ID = "err-ingest-malformed-request"
	BodyTimeout               ID = "err-ingest-body-timeout"
	BodyTooLarge              ID = "err-ingest-body-too-large"
	DecompressedTooLarge      ID = "err-ingest-decompressed-too-large"
	TooManyEvents             ID = "err-ingest-too-many-events"
	UnsupportedMediaType      ID = "err-ingest-unsupported-media-type"
	UnsupportedEncoding       ID = "err-ingest-unsupported-encoding"
	MethodNotAllowed          ID = "err-ingest-method-not-allowed"
	UnknownPath               ID = "err-ingest-unknown-path"
	NormalizerFull            ID = "err-ingest-normalizer-full"
	NormalizerTenantShareFull ID = "err-ingest-normalizer-tenant-share-full"

	// Refusals of an internal hop (edge → normalizer → sink writer) that is not authenticated.
	InternalAuth ID = "err-ingest-internal-auth"

	// Rejections of one event by the normalizer.
	InvalidJSON       ID = "err-ingest-invalid-json"
	MissingField      ID = "err-ingest-missing-field"
	InvalidField      ID = "err-ingest-invalid-field"
	TimestampTooOld   ID = "err-ingest-timestamp-too-old"
	TimestampTooNew   ID = "err-ingest-timestamp-too-new"
	TooManyAttributes ID = "err-ingest-too-many-attributes"
	AttributeTooLong  ID = "err-ingest-attribute-too-long"
	NameTooLong       ID = "err-ingest-name-too-long"
	LogBodyTooLong    ID = "err-ingest-log-body-too-long"
	EventTooLarge     ID = "err-ingest-event-too-large"

	// Refusals of the sink writer (and its client, in the normalizer).
	SinkFull            ID = "err-ingest-sink-full"
	SinkTenantShareFull ID = "err-ingest-sink-tenant-share-full"
	SinkUnavailable     ID = "err-ingest-sink-unavailable"
	KafkaUnavailable    ID = "err-ingest-kafka-unavailable"
	SinkShuttingDown    ID = "err-ingest-sink-shutting-down"
	InvalidRecordCount  ID = "err-ingest-invalid-record-count"
	RecordCountMismatch ID = "err-ingest-record-count-mismatch"
	CorruptBatch        ID = "err-ingest-corrupt-batch"
	LengthRequired      ID = "err-ingest-length-required"
	BatchTooLarge       ID = "err-ingest-batch-too-large"
	RecordTooLarge      ID = "err-ingest-record-too-large"
	UnknownTenant       ID = "err-ingest-unknown-tenant"
	TenantsUnavailable  ID = "err-ingest-tenants-unavailable"

	// Internal is an error no other id describes: a bug (500).
	Internal ID = "err-ingest-internal"
)

const (
	cp  = StageControlPlane
	edg = StageEdge
	nrm = StageNormalizer
	snk = StageSinkWriter
)

// catalogue is every id with its status and action. Never modified after init.
var catalogue = []Info{
	// The edge.
	{ID: EdgeNotReady, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{edg},
		Action: "client: retry later, the edge has no configuration from the control plane yet; operator: check that the edge reaches the control plane (xds_address)"},
	{ID: EdgeFilterInactive, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{cp, edg},
		Action: "client: retry later; operator: the edge filter is not active (the request failed closed): check the edge's filter plugin and its logs"},
	{ID: UnknownAPIKey, Status: 401, Scope: ScopeRequest, Stages: []Stage{edg},
		Action: `client: send a valid key as "authorization: Bearer <key>" or "x-api-key: <key>"; operator: create one with ingestctl keys create <tenant>`},
	{ID: EdgeFull, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{edg},
		Action: "client: retry after Retry-After; operator: the edge holds limits.max_in_flight_bytes of requests: add edges or raise the bound"},
	{ID: EdgeTenantShareFull, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{edg},
		Action: "client: retry after Retry-After (other tenants are not affected): the tenant's requests in progress hold its share of the edge's in-flight bytes; operator: raise the edge's tenant_share if the tenant needs more"},
	{ID: EdgeFilterUnconfigured, Status: 500, Scope: ScopeRequest, Stages: []Stage{edg},
		Action: "operator: the edge filter got no configuration, a bug of the edge: report it"},
	{ID: TenantRateLimitedEvents, Status: 429, Scope: ScopeRequest, Retry: true, Stages: []Stage{edg},
		Action: "client: retry after Retry-After and send less often; operator: raise the tenant's events_per_second"},
	{ID: TenantRateLimitedBytes, Status: 429, Scope: ScopeRequest, Retry: true, Stages: []Stage{edg},
		Action: "client: retry after Retry-After and send less often; operator: raise the tenant's bytes_per_second"},
	{ID: RequestExceedsBurstEvents, Status: 413, Scope: ScopeRequest, Stages: []Stage{edg},
		Action: "client: split the request into smaller batches (a smaller max batch size); operator: raise the tenant's burst_events"},
	{ID: RequestExceedsBurstBytes, Status: 413, Scope: ScopeRequest, Stages: []Stage{edg},
		Action: "client: split the request into smaller batches; operator: raise the tenant's burst_bytes"},

	// Whole requests.
	{ID: MissingTenant, Status: 401, Scope: ScopeRequest, Stages: []Stage{nrm},
		Action: "client: send through the edge, which sets the tenant from the API key"},
	{ID: InvalidTenant, Status: 400, Scope: ScopeRequest, Stages: []Stage{nrm, snk},
		Action: "operator: the tenant header is not a tenant id, a bug of the stage before: report it"},
	{ID: MalformedRequest, Status: 400, Scope: ScopeRequest, Stages: []Stage{edg, nrm},
		Action: "client: fix the body: it cannot be decoded (bad protobuf or JSON, broken gzip)"},
	{ID: BodyTimeout, Status: 408, Scope: ScopeRequest, Stages: []Stage{nrm, snk},
		Action: "client: send the whole body without pauses: it sent nothing for body_idle_timeout, and the connection is closed"},
	{ID: BodyTooLarge, Status: 413, Scope: ScopeRequest, Stages: []Stage{edg, nrm},
		Action: "client: send smaller batches"},
	{ID: DecompressedTooLarge, Status: 413, Scope: ScopeRequest, Stages: []Stage{edg, nrm},
		Action: "client: send smaller batches: the gzip body decompresses above the bound"},
	{ID: TooManyEvents, Status: 413, Scope: ScopeRequest, Stages: []Stage{nrm},
		Action: "client: split the batch: it holds more than max_events_per_request events"},
	{ID: UnsupportedMediaType, Status: 415, Scope: ScopeRequest, Stages: []Stage{nrm},
		Action: "client: send a supported Content-Type (see the README's format table)"},
	{ID: UnsupportedEncoding, Status: 415, Scope: ScopeRequest, Stages: []Stage{nrm},
		Action: "client: send gzip or an uncompressed body"},
	{ID: MethodNotAllowed, Status: 405, Scope: ScopeRequest, Stages: []Stage{nrm, snk},
		Action: "client: use POST"},
	{ID: UnknownPath, Status: 404, Scope: ScopeRequest, Stages: []Stage{nrm},
		Action: "client: send to /v1/logs, /v1/metrics, /v1/traces or /v1/events exactly as spelled (no percent-encoding, repeated or trailing slashes, or dot segments)"},
	{ID: NormalizerFull, Status: 429, Scope: ScopeRequest, Retry: true, Stages: []Stage{nrm},
		Action: "client: retry after Retry-After; operator: the normalizer holds max_inflight_bytes of requests: add normalizers"},
	{ID: NormalizerTenantShareFull, Status: 429, Scope: ScopeRequest, Retry: true, Stages: []Stage{nrm},
		Action: "client: retry after Retry-After (other tenants are not affected): the tenant's requests in progress hold its share of the normalizer's max_inflight_bytes; operator: raise the normalizer's tenant_share if the tenant needs more"},
	{ID: InternalAuth, Status: 401, Scope: ScopeRequest, Stages: []Stage{nrm, snk},
		Action: "client: send through the edge; operator: the internal request has no valid x-ingest-hop-auth signature (missing, unknown key, forged or outside the clock skew): give every service the same hop_auth.key_file (the control plane's xds.hop_key_file for the edges), check clocks"},

	// Single events (the request succeeds).
	{ID: InvalidJSON, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: send each NDJSON line as one JSON object"},
	{ID: MissingField, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: add the required field the message names"},
	{ID: InvalidField, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: fix the type or value of the field the message names"},
	{ID: TimestampTooOld, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: send events sooner, or fix the clock: the timestamp is further in the past than max_past"},
	{ID: TimestampTooNew, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: fix the clock: the timestamp is further in the future than max_future"},
	{ID: TooManyAttributes, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: send at most max_attributes attributes (and resource attributes) per event"},
	{ID: AttributeTooLong, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: shorten the attribute key or value to its limit"},
	{ID: NameTooLong, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: shorten the name to max_name_bytes"},
	{ID: LogBodyTooLong, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: shorten the log body to max_log_body_bytes"},
	{ID: EventTooLarge, Status: 200, Scope: ScopeEvent, Stages: []Stage{nrm},
		Action: "client: shrink its attributes or body: the event, encoded, exceeds max_record_bytes (default 960 KiB) although each part is within its own limit"},

	// The sink writer.
	{ID: SinkFull, Status: 429, Scope: ScopeRequest, Retry: true, Stages: []Stage{nrm, snk},
		Action: "client: retry after Retry-After; operator: if it persists Kafka is slower than the traffic: add sink writers or partitions"},
	{ID: SinkTenantShareFull, Status: 429, Scope: ScopeRequest, Retry: true, Stages: []Stage{nrm, snk},
		Action: "client: retry after Retry-After (other tenants are not affected); operator: raise tenant_share if the tenant needs more"},
	{ID: SinkUnavailable, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{nrm, snk},
		Action: "client: retry after Retry-After; operator: the normalizer cannot reach the sink writer or it refused the batch: check the sink writer"},
	{ID: KafkaUnavailable, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{nrm, snk},
		Action: "client: retry after Retry-After (safe: the loader deduplicates by event id); operator: check Kafka"},
	{ID: SinkShuttingDown, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{nrm, snk},
		Action: "client: retry (on another instance) after Retry-After"},
	{ID: InvalidRecordCount, Status: 400, Scope: ScopeRequest, Stages: []Stage{snk},
		Action: "operator: the batch's record count header is invalid, a bug of the sender: report it"},
	{ID: RecordCountMismatch, Status: 400, Scope: ScopeRequest, Stages: []Stage{snk},
		Action: "operator: the batch does not hold the records it announces, a bug of the sender: report it"},
	{ID: CorruptBatch, Status: 400, Scope: ScopeRequest, Stages: []Stage{snk},
		Action: "operator: the batch's frames or records are corrupt, a bug of the sender: report it"},
	{ID: LengthRequired, Status: 411, Scope: ScopeRequest, Stages: []Stage{snk},
		Action: "operator: send batches with a Content-Length"},
	{ID: BatchTooLarge, Status: 413, Scope: ScopeRequest, Stages: []Stage{snk},
		Action: "operator: send smaller batches (max_batch_bytes)"},
	{ID: RecordTooLarge, Status: 413, Scope: ScopeRequest, Stages: []Stage{snk},
		Action: "operator: a record exceeds max_record_bytes: set the normalizer's max_record_bytes to at most the sink writer's, or raise the bound"},
	{ID: UnknownTenant, Status: 403, Scope: ScopeRequest, Stages: []Stage{snk},
		Action: "operator: the tenant is not in the control plane's registry (deleted, or never created): create it with ingestctl tenants create, or stop sending for it"},
	{ID: TenantsUnavailable, Status: 503, Scope: ScopeRequest, Retry: true, Stages: []Stage{snk},
		Action: "client: retry after Retry-After; operator: the sink writer has not loaded the tenant list yet: check that it reaches the control plane (tenants.url, tenants.token_file)"},

	{ID: Internal, Status: 500, Scope: ScopeRequest, Stages: []Stage{nrm, snk},
		Action: "operator: an unexpected error, a bug: report it with the stage's log"},
}
