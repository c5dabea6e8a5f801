package normalizer

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ingestdev/ingest/internal/grpcwire"
	"github.com/ingestdev/ingest/internal/shed"
)

// OTLP/gRPC. The normalizer serves the three Export methods of OTLP/gRPC (logs, metrics,
// traces) on its HTTP listener, which speaks h2c behind the edge, without a gRPC server: a
// unary Export call is a POST of one length-prefixed message, so it goes through exactly the
// path of OTLP/HTTP protobuf (hop signature, tenant, body bounds, decoding, sink, metrics with
// format "grpc"), and only the framing of the body and of the answer differ:
//
//   - the request: content-type application/grpc or application/grpc+proto, as the edge
//     counts them (other codecs: UNIMPLEMENTED); grpc-encoding identity or gzip (others: UNIMPLEMENTED, as gRPC answers
//     an unknown compressor); exactly one message, compressed when its flag says so, else
//     INVALID_ARGUMENT; its size bounded by max_body_bytes as sent and max_decompressed_bytes
//     decompressed, as a gzip body is;
//   - a success: 200, content-type application/grpc, the Export*ServiceResponse as one message
//     (with partial_success when events were rejected, as OTLP asks: rejected_<items> and an
//     error_message naming the first rejections), then the trailer grpc-status 0;
//   - a refusal: a trailers-only answer (200, grpc-status, grpc-message, and
//     grpc-status-details-bin), with the code of the HTTP status the same refusal gets over HTTP
//     (internal/grpcwire.Code): 429 RESOURCE_EXHAUSTED and 503 UNAVAILABLE carry the Retry-After
//     as a google.rpc.RetryInfo, which OTLP exporters honour.
//
// The request metrics count the HTTP status the refusal would have had (429, 503, ...), so
// that one dashboard serves both protocols.

// The OTLP/gRPC Export methods, as the :path of their calls (eventcount.GRPC*Path at the edge).
const (
	grpcLogsPath    = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
	grpcMetricsPath = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	grpcTracesPath  = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
)

// bodyEncoding is how a request body is encoded.
type bodyEncoding int

const (
	encodingIdentity bodyEncoding = iota
	encodingGzip                  // Content-Encoding: gzip
	encodingGRPC                  // one gRPC message, uncompressed
	encodingGRPCGzip              // one gRPC message, compressed with gzip when its flag says so
)

// requestEncoding is what the request's Content-Encoding (or, for gRPC, grpc-encoding) says.
func requestEncoding(ep *endpoint, h http.Header) (bodyEncoding, error) {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	if ep.grpc {
		if enc != "" && enc != "identity" {
			return 0, newRequestError(ReasonUnsupportedEncoding,
				"content encoding %q is not supported on gRPC: compress messages with grpc-encoding gzip", enc)
		}
		switch genc := h.Get(grpcwire.HeaderEncoding); genc {
		case "", "identity":
			return encodingGRPC, nil
		case "gzip":
			return encodingGRPCGzip, nil
		default:
			return 0, newRequestError(ReasonUnsupportedEncoding,
				"grpc-encoding %q is not supported: send gzip or uncompressed messages", genc)
		}
	}
	switch enc {
	case "", "identity":
		return encodingIdentity, nil
	case "gzip", "x-gzip":
		return encodingGzip, nil
	}
	return 0, newRequestError(ReasonUnsupportedEncoding,
		"content encoding %q is not supported: send gzip or an uncompressed body", enc)
}

// grpcFormat checks a gRPC call's content type: protobuf is the only codec.
func grpcFormat(contentType string) (otlpFormat, error) {
	if contentType == grpcwire.ContentType || contentType == grpcwire.ContentType+"+proto" {
		return otlpProto, nil
	}
	return 0, newRequestError(ReasonUnsupportedMediaType,
		"content type %q is not supported here: OTLP/gRPC is application/grpc (protobuf)", contentType)
}

// grpcMessage returns the one message of a gRPC body and whether it is gzip-compressed.
func grpcMessage(body []byte, enc bodyEncoding) ([]byte, bool, error) {
	msg, compressed, err := grpcwire.Unary(body)
	if err != nil {
		return nil, false, errMalformed("%v", err)
	}
	if compressed && enc != encodingGRPCGzip {
		return nil, false, errMalformed("the gRPC message is compressed, but the call declares no grpc-encoding")
	}
	return msg, compressed, nil
}

// writeGRPCStatus answers a refused gRPC call trailers-only, with the code of the HTTP status,
// the message, and the status details (a RetryInfo when the refusal has a Retry-After).
func writeGRPCStatus(w http.ResponseWriter, status int, msg string, retryAfter time.Duration) {
	code := grpcwire.Code(status)
	h := w.Header()
	h.Set("Content-Type", grpcwire.ContentType)
	h.Set(grpcwire.HeaderStatus, strconv.Itoa(code))
	h.Set(grpcwire.HeaderMessage, grpcwire.EncodeMessage(msg))
	if retryAfter > 0 {
		// Whole seconds, as Retry-After says it: a client waits at least as long either way.
		retryAfter, _ = time.ParseDuration(shed.RetryAfterSeconds(retryAfter) + "s")
	}
	h.Set(grpcwire.HeaderStatusDetails, grpcwire.StatusDetails(code, msg, retryAfter))
	w.WriteHeader(http.StatusOK)
}

// writeGRPCMessage answers a gRPC call with one message and the OK status in trailers.
func writeGRPCMessage(w http.ResponseWriter, msg []byte) {
	h := w.Header()
	h.Set("Content-Type", grpcwire.ContentType)
	h.Set("Trailer", grpcwire.HeaderStatus) // announced, for proxies that forward only what was
	w.WriteHeader(http.StatusOK)
	w.Write(grpcwire.AppendMessage(make([]byte, 0, grpcwire.HeaderLen+len(msg)), msg))
	h.Set(grpcwire.HeaderStatus, "0")
}
