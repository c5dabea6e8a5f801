package normalizer

import (
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// otlpStatus renders the body of a refused OTLP request: a google.rpc.Status in the request's
// format, as the OTLP/HTTP specification asks, with the code a gRPC caller gets for the same
// refusal (grpcwire.Code).
func otlpStatus(f otlpFormat, status int, msg string) (body []byte, contentType string) {
	st := &spb.Status{Code: int32(grpcwire.Code(status)), Message: msg}
	if f == otlpProto {
		b, err := proto.Marshal(st)
		if err == nil {
			return b, "application/x-protobuf"
		}
	}
	b, _ := protojson.Marshal(st)
	return b, "application/json"
}
