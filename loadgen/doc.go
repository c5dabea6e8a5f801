// Package loadgen is the load generator of the ingest pipeline (`ingest loadgen`): it drives the
// client API over HTTPS with several tenants, each paced by its own rate profile, sends OTLP
// (protobuf and JSON) and NDJSON bodies of a configurable batch size over a fixed number of
// connections, and reports per tenant what the pipeline answered (2xx, 429, 503, other), the
// request latency percentiles, and the end-to-end latency from send to visible in ClickHouse,
// measured with marker events.
//
// The run is bounded: Run stops sending at Config.Duration, gives requests in flight at most
// Config.RequestTimeout, waits at most Config.MarkerGrace for outstanding markers, and returns
// the Report. Where markers become visible is pluggable (Visibility); ClickHouseVisibility is
// the documented query path of docs/sinkwriter.md.
//
// Generators reuse nothing from the normalizer: OTLP is built with pdata, NDJSON by hand, so the
// load generator checks the pipeline from the outside.
package loadgen
