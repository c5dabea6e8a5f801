// Package normalizer is the normalizer service: it accepts OTLP/HTTP (logs, metrics, traces;
// protobuf or JSON; optional gzip) and NDJSON of the native event schema, validates every event,
// converts units to canonical ones, encodes the valid events as normalized records (package
// record) and hands them to a Sink. Every rejected event is reported with a stable reason id.
//
// The normalizer takes the tenant from the x-tenant-id header, which only the edge sets, and
// trusts it only under the edge's signature (package hopauth: x-ingest-hop-auth, an HMAC over
// the tenant and event count with a key shared by the edge, normalizers and sink writers); a
// request without a valid one gets 401 err-ingest-internal-auth and nothing of it reaches the
// sink. It signs its batches to the sink writer with the same keys. The port should still be
// reachable from the edge only: a signature read off the internal network can be replayed
// within the allowed clock skew (see package hopauth).
//
// # Layout
//
// The files follow a request: server.go and routes.go take it; a decoder per format turns its
// body into records; emit.go checks each record against the limits and adds it to the batch for
// the Sink.
//   - OTLP: otlp.go (the mapping to records, shared conversion), otlp_depth.go (the nesting
//     guard before decoding, on the field numbers of package internal/otlpwire),
//     otlp_logs.go, otlp_metrics.go, otlp_traces.go (one signal each), otlp_render.go
//     (attribute values as strings), otlp_status.go (the Status body of a refusal). Protobuf
//     logs are decoded in place from the wire by otlp_logs_wire.go, without pdata and without
//     an allocation per record; pdata's logs decoder stays as the parity oracle of the tests
//     and for JSON, and a protobuf logs body that does not decode falls back to it (for its
//     description of the fault). Metrics, traces and JSON are decoded with pdata.
//   - NDJSON: ndjson.go (framing into lines), ndjson_line.go (one line: scanner or fastjson),
//     ndjson_scan.go (the fast scanner), ndjson_value.go (a JSON value from either parser and
//     its rendering), ndjson_fields.go (the field table), ndjson_record.go (a record from the
//     fields).
//   - Grammars of values, pure functions beside the unit table (units.go): grammar_time.go
//     (RFC 3339 and unix timestamps), grammar_duration.go, grammar_severity.go and
//     grammar_number.go (the JSON number grammar).
package normalizer
