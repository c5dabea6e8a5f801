package otlpwire

// Field numbers, named <Message><Field> after the opentelemetry-proto message and field. Every
// field below is a (repeated or singular) embedded message: wire type WireLen.

// Logs: opentelemetry.proto.collector.logs.v1 and opentelemetry.proto.logs.v1.
const (
	LogsRequestResourceLogs = 1 // ExportLogsServiceRequest.resource_logs: ResourceLogs

	ResourceLogsResource  = 1 // ResourceLogs.resource: Resource
	ResourceLogsScopeLogs = 2 // ResourceLogs.scope_logs: ScopeLogs
	// ResourceLogsDeprecatedScopeLogs is the former instrumentation_library_logs: reserved in
	// the proto, still read by pdata, which gives a resource without scope_logs these instead.
	ResourceLogsDeprecatedScopeLogs = 1000

	ScopeLogsScope      = 1 // ScopeLogs.scope: InstrumentationScope
	ScopeLogsLogRecords = 2 // ScopeLogs.log_records: LogRecord

	LogRecordBody       = 5 // LogRecord.body: AnyValue
	LogRecordAttributes = 6 // LogRecord.attributes: KeyValue
)

// Metrics: opentelemetry.proto.collector.metrics.v1 and opentelemetry.proto.metrics.v1.
const (
	MetricsRequestResourceMetrics = 1 // ExportMetricsServiceRequest.resource_metrics: ResourceMetrics

	ResourceMetricsResource     = 1 // ResourceMetrics.resource: Resource
	ResourceMetricsScopeMetrics = 2 // ResourceMetrics.scope_metrics: ScopeMetrics
	// ResourceMetricsDeprecatedScopeMetrics is the former instrumentation_library_metrics (see
	// ResourceLogsDeprecatedScopeLogs).
	ResourceMetricsDeprecatedScopeMetrics = 1000

	ScopeMetricsScope   = 1 // ScopeMetrics.scope: InstrumentationScope
	ScopeMetricsMetrics = 2 // ScopeMetrics.metrics: Metric

	// The Metric data oneof.
	MetricGauge                = 5  // Metric.gauge: Gauge
	MetricSum                  = 7  // Metric.sum: Sum
	MetricHistogram            = 9  // Metric.histogram: Histogram
	MetricExponentialHistogram = 10 // Metric.exponential_histogram: ExponentialHistogram
	MetricSummary              = 11 // Metric.summary: Summary
	MetricMetadata             = 12 // Metric.metadata: KeyValue

	GaugeDataPoints                = 1 // Gauge.data_points: NumberDataPoint
	SumDataPoints                  = 1 // Sum.data_points: NumberDataPoint
	HistogramDataPoints            = 1 // Histogram.data_points: HistogramDataPoint
	ExponentialHistogramDataPoints = 1 // ExponentialHistogram.data_points: ExponentialHistogramDataPoint
	SummaryDataPoints              = 1 // Summary.data_points: SummaryDataPoint

	NumberDataPointExemplars                = 5  // NumberDataPoint.exemplars: Exemplar
	NumberDataPointAttributes               = 7  // NumberDataPoint.attributes: KeyValue
	HistogramDataPointExemplars             = 8  // HistogramDataPoint.exemplars: Exemplar
	HistogramDataPointAttributes            = 9  // HistogramDataPoint.attributes: KeyValue
	ExponentialHistogramDataPointAttributes = 1  // ExponentialHistogramDataPoint.attributes: KeyValue
	ExponentialHistogramDataPointExemplars  = 11 // ExponentialHistogramDataPoint.exemplars: Exemplar
	SummaryDataPointAttributes              = 7  // SummaryDataPoint.attributes: KeyValue
	ExemplarFilteredAttributes              = 7  // Exemplar.filtered_attributes: KeyValue
)

// Traces: opentelemetry.proto.collector.trace.v1 and opentelemetry.proto.trace.v1.
const (
	TracesRequestResourceSpans = 1 // ExportTraceServiceRequest.resource_spans: ResourceSpans

	ResourceSpansResource   = 1 // ResourceSpans.resource: Resource
	ResourceSpansScopeSpans = 2 // ResourceSpans.scope_spans: ScopeSpans
	// ResourceSpansDeprecatedScopeSpans is the former instrumentation_library_spans (see
	// ResourceLogsDeprecatedScopeLogs).
	ResourceSpansDeprecatedScopeSpans = 1000

	ScopeSpansScope = 1 // ScopeSpans.scope: InstrumentationScope
	ScopeSpansSpans = 2 // ScopeSpans.spans: Span

	SpanAttributes      = 9  // Span.attributes: KeyValue
	SpanEvents          = 11 // Span.events: Span.Event
	SpanLinks           = 13 // Span.links: Span.Link
	SpanEventAttributes = 3  // Span.Event.attributes: KeyValue
	SpanLinkAttributes  = 4  // Span.Link.attributes: KeyValue
)

// Common: opentelemetry.proto.resource.v1 and opentelemetry.proto.common.v1.
const (
	ResourceAttributes             = 1 // Resource.attributes: KeyValue
	InstrumentationScopeAttributes = 3 // InstrumentationScope.attributes: KeyValue

	KeyValueValue       = 2 // KeyValue.value: AnyValue
	AnyValueArrayValue  = 5 // AnyValue.array_value: ArrayValue
	AnyValueKvlistValue = 6 // AnyValue.kvlist_value: KeyValueList
	ArrayValueValues    = 1 // ArrayValue.values: AnyValue
	KeyValueListValues  = 1 // KeyValueList.values: KeyValue
)
