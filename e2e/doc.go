// Package e2e holds the end-to-end tests of the pipeline: every service runs as its own process
// of the ingest binary (built once per test run) on free loopback ports, with a private
// ClickHouse (internal/chtest) and the embedded Kafka (`ingest kafka`), configured through the
// control plane's admin API, and driven over TLS through `ingest edge` as a client would.
//
// The tests need the ClickHouse server binary for the ClickHouse checks (they skip without it,
// except under CI=true) and are skipped with -short. The package has no non-test code.
//
// TestStandardBenchmarkScenario is the whole-pipeline benchmark of `make bench-pipeline`
// (BENCHMARKS.md): it runs only with INGEST_BENCH=1.
package e2e
