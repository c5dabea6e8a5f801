package eventcount

import (
	"fmt"
	"mime"
	"strings"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// Kind selects the format of a request body. The zero Kind is not a format.
type Kind int

// The body formats of the client API (DESIGN.md, "Client API").
const (
	// NDJSON is the native event schema, one JSON object per line (POST /v1/events).
	NDJSON Kind = iota + 1
	// OTLPLogsProto is an OTLP ExportLogsServiceRequest in protobuf (POST /v1/logs).
	OTLPLogsProto
	// OTLPMetricsProto is an OTLP ExportMetricsServiceRequest in protobuf (POST /v1/metrics).
	OTLPMetricsProto
	// OTLPTracesProto is an OTLP ExportTraceServiceRequest in protobuf (POST /v1/traces).
	OTLPTracesProto
	// OTLPLogsJSON is an OTLP ExportLogsServiceRequest in the OTLP JSON encoding.
	OTLPLogsJSON
	// OTLPMetricsJSON is an OTLP ExportMetricsServiceRequest in the OTLP JSON encoding.
	OTLPMetricsJSON
	// OTLPTracesJSON is an OTLP ExportTraceServiceRequest in the OTLP JSON encoding.
	OTLPTracesJSON
	// OTLPLogsGRPC is an OTLP/gRPC LogsService/Export request body: one gRPC length-prefixed
	// ExportLogsServiceRequest in protobuf.
	OTLPLogsGRPC
	// OTLPMetricsGRPC is an OTLP/gRPC MetricsService/Export request body.
	OTLPMetricsGRPC
	// OTLPTracesGRPC is an OTLP/gRPC TraceService/Export request body.
	OTLPTracesGRPC
)

// The OTLP/gRPC methods (opentelemetry-proto, collector/*/v1), as the :path of their requests.
const (
	GRPCLogsPath    = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
	GRPCMetricsPath = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	GRPCTracesPath  = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
)

// GRPC reports whether the kind is an OTLP/gRPC body (a length-prefixed message).
func (k Kind) GRPC() bool { return k >= OTLPLogsGRPC && k <= OTLPTracesGRPC }

// message is the kind of a gRPC body's message (protobuf); other kinds are themselves.
func (k Kind) message() Kind {
	switch k {
	case OTLPLogsGRPC:
		return OTLPLogsProto
	case OTLPMetricsGRPC:
		return OTLPMetricsProto
	case OTLPTracesGRPC:
		return OTLPTracesProto
	}
	return k
}

// String returns the kind's name for messages and metric labels, e.g. "otlp-logs-proto".
func (k Kind) String() string {
	switch k {
	case NDJSON:
		return "ndjson"
	case OTLPLogsProto:
		return "otlp-logs-proto"
	case OTLPMetricsProto:
		return "otlp-metrics-proto"
	case OTLPTracesProto:
		return "otlp-traces-proto"
	case OTLPLogsJSON:
		return "otlp-logs-json"
	case OTLPMetricsJSON:
		return "otlp-metrics-json"
	case OTLPTracesJSON:
		return "otlp-traces-json"
	case OTLPLogsGRPC:
		return "otlp-logs-grpc"
	case OTLPMetricsGRPC:
		return "otlp-metrics-grpc"
	case OTLPTracesGRPC:
		return "otlp-traces-grpc"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// KindFor returns the body format of a request to path (the request path as Envoy's :path
// gives it; a query string is ignored, nothing is unescaped) with the given Content-Type
// header. It accepts exactly what the normalizer accepts (normalizer/server.go,
// requestFormat): /v1/logs, /v1/metrics and /v1/traces with application/x-protobuf or
// application/protobuf (protobuf) or application/json (OTLP JSON); /v1/events with
// application/x-ndjson, application/ndjson, application/jsonl, application/x-jsonlines or
// application/json. Media types are case-insensitive and may carry parameters
// ("application/json; charset=utf-8"); a header that mime.ParseMediaType rejects is not
// accepted. The OTLP/gRPC methods (GRPCLogsPath, GRPCMetricsPath, GRPCTracesPath) with a gRPC
// Content-Type of protobuf are the gRPC kinds (application/grpc or application/grpc+proto, exactly). ok is false for any other path (the normalizer answers 404) or media type
// (415). It does not allocate for the exact media types above.
func KindFor(path, contentType string) (k Kind, ok bool) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	switch path {
	case GRPCLogsPath:
		k = OTLPLogsGRPC
	case GRPCMetricsPath:
		k = OTLPMetricsGRPC
	case GRPCTracesPath:
		k = OTLPTracesGRPC
	}
	if k != 0 {
		if !grpcProto(contentType) {
			return 0, false
		}
		return k, true
	}
	mt := contentType
	switch contentType {
	case "application/x-protobuf", "application/protobuf", "application/json", "application/x-ndjson":
	default:
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return 0, false
		}
	}
	proto := mt == "application/x-protobuf" || mt == "application/protobuf"
	json := mt == "application/json"
	switch path {
	case "/v1/logs":
		k = pick(proto, json, OTLPLogsProto, OTLPLogsJSON)
	case "/v1/metrics":
		k = pick(proto, json, OTLPMetricsProto, OTLPMetricsJSON)
	case "/v1/traces":
		k = pick(proto, json, OTLPTracesProto, OTLPTracesJSON)
	case "/v1/events":
		switch mt {
		case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/json":
			k = NDJSON
		}
	}
	return k, k != 0
}

// grpcProto reports whether a gRPC Content-Type says protobuf: application/grpc or
// application/grpc+proto (the codec names are case-sensitive, as grpc-go reads them).
func grpcProto(contentType string) bool {
	return contentType == grpcwire.ContentType || contentType == grpcwire.ContentType+"+proto"
}

func pick(proto, json bool, p, j Kind) Kind {
	switch {
	case proto:
		return p
	case json:
		return j
	}
	return 0
}

// Count returns the number of events in body, exactly as the normalizer will count them: the
// non-blank lines of NDJSON, the log records, metric data points or spans of an OTLP request.
// It builds nothing: protobuf is walked on the wire format (no allocation, several GB/s), JSON
// is scanned in one pass, NDJSON lines are counted.
//
// It returns a *MalformedError when the body cannot be walked: for protobuf, only a body that
// pdata refuses too; for JSON, a body that is not valid JSON, has an empty object key, or that
// pdata refuses. The filter answers it with 400 (see the package documentation). NDJSON never
// fails: a bad line is one event that the normalizer rejects on its own. A body the normalizer
// refuses may still be counted here, since the count does not look inside the counted items.
// A gRPC kind's body must hold one uncompressed message (Gunzip.Count reads a compressed one),
// whose events are counted as protobuf's.
// Count is safe for concurrent use.
func Count(k Kind, body []byte) (int, error) {
	if k.GRPC() {
		msg, compressed, err := unframe(k, body)
		if err != nil {
			return 0, err
		}
		if compressed {
			return 0, &MalformedError{Kind: k, Offset: 0, Reason: "compressed gRPC message without a grpc-encoding the edge reads (gzip)"}
		}
		return countMessage(k, msg)
	}
	var n int
	var err *protoErr
	switch k {
	case NDJSON:
		return countNDJSON(body), nil
	case OTLPLogsProto:
		n, err = countLogsProto(body)
	case OTLPMetricsProto:
		n, err = countMetricsProto(body)
	case OTLPTracesProto:
		n, err = countTracesProto(body)
	case OTLPLogsJSON:
		n, err = countJSON(body, "resourceLogs", "resource_logs", resourceLogsL)
	case OTLPMetricsJSON:
		n, err = countJSON(body, "resourceMetrics", "resource_metrics", resourceMetricsL)
	case OTLPTracesJSON:
		n, err = countJSON(body, "resourceSpans", "resource_spans", resourceSpansL)
	default:
		return 0, fmt.Errorf("cannot count events of body kind %q: unknown kind", k)
	}
	if err != nil {
		return 0, &MalformedError{Kind: k, Offset: err.off, Reason: err.reason}
	}
	return n, nil
}

// unframe returns the one message of a gRPC body.
func unframe(k Kind, body []byte) (msg []byte, compressed bool, err error) {
	msg, compressed, ferr := grpcwire.Unary(body)
	if ferr != nil {
		fe := ferr.(*grpcwire.FrameError)
		return nil, false, &MalformedError{Kind: k, Offset: fe.Offset, Reason: fe.Reason}
	}
	return msg, compressed, nil
}

// countMessage counts the events of a gRPC kind's message, with the gRPC kind in an error.
func countMessage(k Kind, msg []byte) (int, error) {
	n, err := Count(k.message(), msg)
	if me, ok := err.(*MalformedError); ok {
		me.Kind = k
		me.Offset += grpcwire.HeaderLen // an offset in the body, as for the other kinds
	}
	return n, err
}

// MalformedError reports a body whose structure cannot be walked (a truncated protobuf field,
// broken JSON syntax) or, from the gzip functions, a body that does not decompress. The filter
// answers it with 400 err-ingest-malformed-request and this error's message.
type MalformedError struct {
	// Kind is the body's format.
	Kind Kind
	// Offset is the byte offset of the fault in the (decompressed) body, or -1 when the body
	// did not decompress.
	Offset int
	// Reason says what is wrong, e.g. "truncated field".
	Reason string
	// Err is the decompressor's error, when the body did not decompress.
	Err error
}

// Error returns e.g. "cannot count events of otlp-logs-proto body: truncated field at byte 12".
func (e *MalformedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("cannot count events of %s body: %s: %v", e.Kind, e.Reason, e.Err)
	}
	return fmt.Sprintf("cannot count events of %s body: %s at byte %d", e.Kind, e.Reason, e.Offset)
}

// Unwrap returns the decompressor's error, if any.
func (e *MalformedError) Unwrap() error { return e.Err }
