package normalizer

import (
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// grpcCode maps an HTTP status to the gRPC code OTLP clients expect in a Status body.
func grpcCode(status int) int32 {
	switch status {
	case 400, 413:
		return 3 // INVALID_ARGUMENT
	case 401:
		return 16 // UNAUTHENTICATED
	case 415, 405:
		return 12 // UNIMPLEMENTED
	case 429:
		return 8 // RESOURCE_EXHAUSTED
	case 503:
		return 14 // UNAVAILABLE
	}
	return 13 // INTERNAL
}

// otlpStatus renders the body of a refused OTLP request: a google.rpc.Status in the request's
// format, as the OTLP/HTTP specification asks.
func otlpStatus(f otlpFormat, status int, msg string) (body []byte, contentType string) {
	st := &spb.Status{Code: grpcCode(status), Message: msg}
	if f == otlpProto {
		b, err := proto.Marshal(st)
		if err == nil {
			return b, "application/x-protobuf"
		}
	}
	b, _ := protojson.Marshal(st)
	return b, "application/json"
}
