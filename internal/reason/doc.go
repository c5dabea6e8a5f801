// Package reason is the catalogue of reason ids: every stable id the pipeline answers a request
// or an event with, or counts a refusal under, with its HTTP status and what the caller can do.
//
// An id (err-ingest-...) is a public contract: clients match on it, dashboards and alerts on the
// metric label that is the same id. Ids never change meaning and are never reused; new ones may
// be added. Where two stages refuse the same thing, they answer the same id with the same
// status, because both take it from here: "the edge answers what the normalizer would" holds
// by construction.
//
// Every stage (the edge filter and its admission limiter, the Go edge, the control plane's
// fail-closed route, the normalizer, the sink writer and its client) names its ids through this
// package; a test fails if an "err-ingest-" literal appears in code outside it. [Lookup] gives
// an id's [Info]; [All] lists the catalogue in a stable order (documentation, tests, metric
// pre-registration). The package has no dependencies beyond the standard library, so that the
// Envoy filter can import it.
package reason
