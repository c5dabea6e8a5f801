package otlpwire_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "go.opentelemetry.io/proto/otlp/common/v1"
	_ "go.opentelemetry.io/proto/otlp/logs/v1"
	_ "go.opentelemetry.io/proto/otlp/metrics/v1"
	_ "go.opentelemetry.io/proto/otlp/resource/v1"
	_ "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/ingestdev/ingest/internal/otlpwire"
)

const (
	logs    = "opentelemetry.proto.logs.v1."
	metrics = "opentelemetry.proto.metrics.v1."
	trace   = "opentelemetry.proto.trace.v1."
	common  = "opentelemetry.proto.common.v1."
)

// messageFields lists every field constant of the package that names a field of the OTLP data
// messages: the constant, the field's full protobuf name and the full name of its message type.
var messageFields = []struct {
	name  string // the constant's name
	num   int
	field protoreflect.FullName
	typ   protoreflect.FullName
}{
	{"ResourceLogsResource", otlpwire.ResourceLogsResource, logs + "ResourceLogs.resource", "opentelemetry.proto.resource.v1.Resource"},
	{"ResourceLogsScopeLogs", otlpwire.ResourceLogsScopeLogs, logs + "ResourceLogs.scope_logs", logs + "ScopeLogs"},
	{"ScopeLogsScope", otlpwire.ScopeLogsScope, logs + "ScopeLogs.scope", common + "InstrumentationScope"},
	{"ScopeLogsLogRecords", otlpwire.ScopeLogsLogRecords, logs + "ScopeLogs.log_records", logs + "LogRecord"},
	{"LogRecordBody", otlpwire.LogRecordBody, logs + "LogRecord.body", common + "AnyValue"},
	{"LogRecordAttributes", otlpwire.LogRecordAttributes, logs + "LogRecord.attributes", common + "KeyValue"},

	{"ResourceMetricsResource", otlpwire.ResourceMetricsResource, metrics + "ResourceMetrics.resource", "opentelemetry.proto.resource.v1.Resource"},
	{"ResourceMetricsScopeMetrics", otlpwire.ResourceMetricsScopeMetrics, metrics + "ResourceMetrics.scope_metrics", metrics + "ScopeMetrics"},
	{"ScopeMetricsScope", otlpwire.ScopeMetricsScope, metrics + "ScopeMetrics.scope", common + "InstrumentationScope"},
	{"ScopeMetricsMetrics", otlpwire.ScopeMetricsMetrics, metrics + "ScopeMetrics.metrics", metrics + "Metric"},
	{"MetricGauge", otlpwire.MetricGauge, metrics + "Metric.gauge", metrics + "Gauge"},
	{"MetricSum", otlpwire.MetricSum, metrics + "Metric.sum", metrics + "Sum"},
	{"MetricHistogram", otlpwire.MetricHistogram, metrics + "Metric.histogram", metrics + "Histogram"},
	{"MetricExponentialHistogram", otlpwire.MetricExponentialHistogram, metrics + "Metric.exponential_histogram", metrics + "ExponentialHistogram"},
	{"MetricSummary", otlpwire.MetricSummary, metrics + "Metric.summary", metrics + "Summary"},
	{"MetricMetadata", otlpwire.MetricMetadata, metrics + "Metric.metadata", common + "KeyValue"},
	{"GaugeDataPoints", otlpwire.GaugeDataPoints, metrics + "Gauge.data_points", metrics + "NumberDataPoint"},
	{"SumDataPoints", otlpwire.SumDataPoints, metrics + "Sum.data_points", metrics + "NumberDataPoint"},
	{"HistogramDataPoints", otlpwire.HistogramDataPoints, metrics + "Histogram.data_points", metrics + "HistogramDataPoint"},
	{"ExponentialHistogramDataPoints", otlpwire.ExponentialHistogramDataPoints, metrics + "ExponentialHistogram.data_points", metrics + "ExponentialHistogramDataPoint"},
	{"SummaryDataPoints", otlpwire.SummaryDataPoints, metrics + "Summary.data_points", metrics + "SummaryDataPoint"},
	{"NumberDataPointExemplars", otlpwire.NumberDataPointExemplars, metrics + "NumberDataPoint.exemplars", metrics + "Exemplar"},
	{"NumberDataPointAttributes", otlpwire.NumberDataPointAttributes, metrics + "NumberDataPoint.attributes", common + "KeyValue"},
	{"HistogramDataPointExemplars", otlpwire.HistogramDataPointExemplars, metrics + "HistogramDataPoint.exemplars", metrics + "Exemplar"},
	{"HistogramDataPointAttributes", otlpwire.HistogramDataPointAttributes, metrics + "HistogramDataPoint.attributes", common + "KeyValue"},
	{"ExponentialHistogramDataPointAttributes", otlpwire.ExponentialHistogramDataPointAttributes, metrics + "ExponentialHistogramDataPoint.attributes", common + "KeyValue"},
	{"ExponentialHistogramDataPointExemplars", otlpwire.ExponentialHistogramDataPointExemplars, metrics + "ExponentialHistogramDataPoint.exemplars", metrics + "Exemplar"},
	{"SummaryDataPointAttributes", otlpwire.SummaryDataPointAttributes, metrics + "SummaryDataPoint.attributes", common + "KeyValue"},
	{"ExemplarFilteredAttributes", otlpwire.ExemplarFilteredAttributes, metrics + "Exemplar.filtered_attributes", common + "KeyValue"},

	{"ResourceSpansResource", otlpwire.ResourceSpansResource, trace + "ResourceSpans.resource", "opentelemetry.proto.resource.v1.Resource"},
	{"ResourceSpansScopeSpans", otlpwire.ResourceSpansScopeSpans, trace + "ResourceSpans.scope_spans", trace + "ScopeSpans"},
	{"ScopeSpansScope", otlpwire.ScopeSpansScope, trace + "ScopeSpans.scope", common + "InstrumentationScope"},
	{"ScopeSpansSpans", otlpwire.ScopeSpansSpans, trace + "ScopeSpans.spans", trace + "Span"},
	{"SpanAttributes", otlpwire.SpanAttributes, trace + "Span.attributes", common + "KeyValue"},
	{"SpanEvents", otlpwire.SpanEvents, trace + "Span.events", trace + "Span.Event"},
	{"SpanLinks", otlpwire.SpanLinks, trace + "Span.links", trace + "Span.Link"},
	{"SpanEventAttributes", otlpwire.SpanEventAttributes, trace + "Span.Event.attributes", common + "KeyValue"},
	{"SpanLinkAttributes", otlpwire.SpanLinkAttributes, trace + "Span.Link.attributes", common + "KeyValue"},

	{"ResourceAttributes", otlpwire.ResourceAttributes, "opentelemetry.proto.resource.v1.Resource.attributes", common + "KeyValue"},
	{"InstrumentationScopeAttributes", otlpwire.InstrumentationScopeAttributes, common + "InstrumentationScope.attributes", common + "KeyValue"},
	{"KeyValueValue", otlpwire.KeyValueValue, common + "KeyValue.value", common + "AnyValue"},
	{"AnyValueArrayValue", otlpwire.AnyValueArrayValue, common + "AnyValue.array_value", common + "ArrayValue"},
	{"AnyValueKvlistValue", otlpwire.AnyValueKvlistValue, common + "AnyValue.kvlist_value", common + "KeyValueList"},
	{"ArrayValueValues", otlpwire.ArrayValueValues, common + "ArrayValue.values", common + "AnyValue"},
	{"KeyValueListValues", otlpwire.KeyValueListValues, common + "KeyValueList.values", common + "KeyValue"},
}

// The fields that the data messages' descriptors do not hold: the requests' (in the collector
// service protos, checked against pdata's encoding) and the deprecated scope lists (reserved in
// the protos, checked against pdata's decoding).
var pdataFields = map[string]int{
	"LogsRequestResourceLogs":               otlpwire.LogsRequestResourceLogs,
	"MetricsRequestResourceMetrics":         otlpwire.MetricsRequestResourceMetrics,
	"TracesRequestResourceSpans":            otlpwire.TracesRequestResourceSpans,
	"ResourceLogsDeprecatedScopeLogs":       otlpwire.ResourceLogsDeprecatedScopeLogs,
	"ResourceMetricsDeprecatedScopeMetrics": otlpwire.ResourceMetricsDeprecatedScopeMetrics,
	"ResourceSpansDeprecatedScopeSpans":     otlpwire.ResourceSpansDeprecatedScopeSpans,
}

// wireOf returns the wire type a field of kind k is encoded with (packed repeated scalars
// aside, which the table has none of).
func wireOf(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.BytesType // string, bytes, message
}

func TestFieldNumbersMatchTheOTLPDescriptors(t *testing.T) {
	for _, f := range messageFields {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(f.field)
		if err != nil {
			t.Errorf("%s: no descriptor for %s: %v", f.name, f.field, err)
			continue
		}
		fd, ok := d.(protoreflect.FieldDescriptor)
		if !ok {
			t.Errorf("%s: %s is a %T, not a field", f.name, f.field, d)
			continue
		}
		if int(fd.Number()) != f.num {
			t.Errorf("otlpwire.%s = %d, but %s is field %d", f.name, f.num, f.field, fd.Number())
		}
		if w := wireOf(fd.Kind()); w != otlpwire.WireLen {
			t.Errorf("otlpwire.%s: %s is of wire type %d, the table says every field is WireLen (%d)", f.name, f.field, w, otlpwire.WireLen)
		}
		if fd.Message() == nil || fd.Message().FullName() != f.typ {
			t.Errorf("otlpwire.%s: %s is of type %v, want %s", f.name, f.field, fd.Kind(), f.typ)
		}
	}
}

func TestWireTypesMatchProtowire(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  int
		want protowire.Type
	}{
		{"WireVarint", otlpwire.WireVarint, protowire.VarintType},
		{"WireI64", otlpwire.WireI64, protowire.Fixed64Type},
		{"WireLen", otlpwire.WireLen, protowire.BytesType},
		{"WireStartGroup", otlpwire.WireStartGroup, protowire.StartGroupType},
		{"WireEndGroup", otlpwire.WireEndGroup, protowire.EndGroupType},
		{"WireI32", otlpwire.WireI32, protowire.Fixed32Type},
	} {
		if tc.got != int(tc.want) {
			t.Errorf("otlpwire.%s = %d, protowire says %d", tc.name, tc.got, tc.want)
		}
	}
}

// firstTag returns the field number and wire type of the first field of b.
func firstTag(t *testing.T, b []byte) (int, int) {
	t.Helper()
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		t.Fatalf("cannot read the first tag of % x: %v", b, protowire.ParseError(n))
	}
	return int(num), int(typ)
}

func TestRequestFieldsMatchPdataEncoding(t *testing.T) {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty()
	lb, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty()
	mb, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty()
	tb, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		num  int
		body []byte
	}{
		{"LogsRequestResourceLogs", otlpwire.LogsRequestResourceLogs, lb},
		{"MetricsRequestResourceMetrics", otlpwire.MetricsRequestResourceMetrics, mb},
		{"TracesRequestResourceSpans", otlpwire.TracesRequestResourceSpans, tb},
	} {
		if num, typ := firstTag(t, tc.body); num != tc.num || typ != otlpwire.WireLen {
			t.Errorf("otlpwire.%s = %d (wire type %d), pdata encodes the resource list as field %d (wire type %d)", tc.name, tc.num, otlpwire.WireLen, num, typ)
		}
	}
}

// message returns field num holding the message made of parts, as protobuf.
func message(num int, parts ...[]byte) []byte {
	b := protowire.AppendTag(nil, protowire.Number(num), protowire.BytesType)
	return protowire.AppendBytes(b, slices.Concat(parts...))
}

func TestDeprecatedScopeFieldsAreReservedAndReadByPdata(t *testing.T) {
	for _, tc := range []struct {
		name     string
		num      int
		resource protoreflect.FullName
		body     []byte
		count    func([]byte) (int, error)
	}{
		{
			"ResourceLogsDeprecatedScopeLogs", otlpwire.ResourceLogsDeprecatedScopeLogs, logs + "ResourceLogs",
			message(otlpwire.LogsRequestResourceLogs, message(otlpwire.ResourceLogsDeprecatedScopeLogs, message(otlpwire.ScopeLogsLogRecords))),
			func(b []byte) (int, error) {
				r := plogotlp.NewExportRequest()
				err := r.UnmarshalProto(b)
				return r.Logs().LogRecordCount(), err
			},
		},
		{
			"ResourceMetricsDeprecatedScopeMetrics", otlpwire.ResourceMetricsDeprecatedScopeMetrics, metrics + "ResourceMetrics",
			message(otlpwire.MetricsRequestResourceMetrics, message(otlpwire.ResourceMetricsDeprecatedScopeMetrics, message(otlpwire.ScopeMetricsMetrics,
				message(otlpwire.MetricGauge, message(otlpwire.GaugeDataPoints))))),
			func(b []byte) (int, error) {
				r := pmetricotlp.NewExportRequest()
				err := r.UnmarshalProto(b)
				return r.Metrics().DataPointCount(), err
			},
		},
		{
			"ResourceSpansDeprecatedScopeSpans", otlpwire.ResourceSpansDeprecatedScopeSpans, trace + "ResourceSpans",
			message(otlpwire.TracesRequestResourceSpans, message(otlpwire.ResourceSpansDeprecatedScopeSpans, message(otlpwire.ScopeSpansSpans))),
			func(b []byte) (int, error) {
				r := ptraceotlp.NewExportRequest()
				err := r.UnmarshalProto(b)
				return r.Traces().SpanCount(), err
			},
		},
	} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(tc.resource)
		if err != nil {
			t.Fatal(err)
		}
		md := d.(protoreflect.MessageDescriptor)
		if !md.ReservedRanges().Has(protoreflect.FieldNumber(tc.num)) {
			t.Errorf("otlpwire.%s = %d, which %s does not reserve", tc.name, tc.num, tc.resource)
		}
		if n, err := tc.count(tc.body); err != nil || n != 1 {
			t.Errorf("otlpwire.%s = %d: pdata reads %d items from a resource with one scope there (err %v), want 1", tc.name, tc.num, n, err)
		}
	}
}

// TestEveryFieldIsChecked fails when a constant is added to fields.go without a line in
// messageFields or pdataFields.
func TestEveryFieldIsChecked(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(".", "fields.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, f := range messageFields {
		checked[f.name] = true
	}
	for name := range pdataFields {
		checked[name] = true
	}
	var declared []string
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for _, id := range spec.(*ast.ValueSpec).Names {
				declared = append(declared, id.Name)
				if !checked[id.Name] {
					t.Errorf("otlpwire.%s is not checked against the descriptors or pdata; add it to messageFields", id.Name)
				}
			}
		}
	}
	if len(declared) != len(checked) {
		t.Errorf("fields.go declares %d constants, the test checks %d: %s", len(declared), len(checked), strings.Join(declared, " "))
	}
}
