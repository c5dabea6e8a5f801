// Package e2e holds the end-to-end tests of the pipeline: every service runs as its own process
// of the ingest binary (built once per test run) on free loopback ports, with a private
// ClickHouse (internal/chtest) and the embedded Kafka (`ingest kafka`), configured through the
// control plane's admin API, and driven over TLS through `ingest edge` as a client would.
//
// The tests need the ClickHouse server binary for the ClickHouse checks (they skip without it,
// except under CI=true) and are skipped with -short. The package has no non-test code.
//
// TestCutoverShadowCanaryV2RollbackAndTheGateOverRealProcesses runs a tenant through the
// cutover stages with two Go edges on one control plane and the parity report stream wired
// (docs/cutover.md): shadow into the shadow tables only with parity summed over both edges, a
// refused and a forced gate, canary, v2, a rollback within a second with no request failing.
//
// TestStandardBenchmarkScenario is the whole-pipeline benchmark of `make bench-pipeline`
// (BENCHMARKS.md): it runs only with INGEST_BENCH=1.
package e2e
