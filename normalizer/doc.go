// Package normalizer is the normalizer service: it accepts OTLP/HTTP (logs, metrics, traces;
// protobuf or JSON; optional gzip) and NDJSON of the native event schema, validates every event,
// converts units to canonical ones, encodes the valid events as normalized records (package
// record) and hands them to a Sink. Every rejected event is reported with a stable reason id.
//
// The normalizer trusts the x-tenant-id header, which only the edge sets; it must never be
// exposed to clients directly.
package normalizer
