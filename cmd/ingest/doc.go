// Command ingest runs one service of the ingest pipeline per subcommand:
//
//	ingest normalizer     validate and convert telemetry, hand batches to the sink
//	ingest controlplane   tenant registry, admin API and xDS for the edge
//	ingest sinkwriter     write path: batches to Kafka, answered once Kafka acknowledged them
//	ingest kafka          embedded Kafka (kfake) with a data directory, for laptops and CI
//	ingest loader         load the tenant topics into ClickHouse, exactly once
//	ingest migrate        apply the ClickHouse schema migrations and exit
//	ingest edge           the Go edge: TLS, the edge filter, routes and proxy, driven over xDS
//	ingest dev            every service in one process over loopback, for a laptop (make run)
//
// Each subcommand parses its own flags (ingest <subcommand> -h) and --config file.yaml, a YAML
// file of its Config (snake_case keys; unknown keys and bad values are errors naming the key
// and the file); a flag given overrides the file (package internal/config). Each service
// subcommand then builds its service with its package's NewService, which binds every
// listener, and runs it (package internal/service): its endpoints with /healthz, /readyz and
// /metrics, until SIGINT/SIGTERM, then a drain within its shutdown timeout.
package main
