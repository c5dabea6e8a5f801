// Package grpcwire is the little of gRPC's wire protocol (doc/PROTOCOL-HTTP2.md of grpc/grpc)
// that the edge filter and the normalizer speak without a gRPC server: OTLP/gRPC's Export calls
// are unary, so a request body is one length-prefixed message, and an answer is one message
// followed by trailers, or trailers only.
//
//   - [Unary] splits a request body into its message, saying whether it is compressed (with
//     the request's grpc-encoding); [AppendMessage] frames an answer.
//   - [Code] maps the pipeline's HTTP statuses to gRPC codes, one table for every stage, as
//     the OTLP specification asks of a server: a quota (429) is RESOURCE_EXHAUSTED and a full
//     stage (503) UNAVAILABLE, both with a RetryInfo ([StatusDetails]) so that an exporter
//     retries after the delay; a request that can never succeed (400, 413) is not retried.
//   - [IsGRPC] is Envoy's test for a gRPC request (Grpc::Common::hasGrpcContentType).
//
// The edge filter builds into Envoy's shared object: the package imports only protobuf
// messages, never grpc-go.
package grpcwire
