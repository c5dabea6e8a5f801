// Package migration is the tenant cutover from ingest-v1 to ingest-v2: the stage order and
// what each stage routes where (stages.go), the aggregator of the report stream that edges,
// normalizers and loaders send the control plane (Aggregator), and the parity table and gate
// that decide whether a tenant may advance to its next stage (Evaluate).
//
// The package is pure apart from the Aggregator's mutex: it does no I/O, takes its clock as
// an option, and is safe for concurrent use where said. The control plane (controlplane/api)
// is its front end: it feeds reports in at POST /v1/reports, serves the parity table at GET
// /v1/tenants/{id}/cutover and applies the gate in POST /v1/tenants/{id}/cutover/advance.
// The wire format of a report is package migration/report. docs/cutover.md is the operator's
// view. Replay (re-ingesting a Kafka window into tables of its own, diff, promote) is package
// migration/replay.
package migration
