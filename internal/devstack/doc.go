// Package devstack runs the whole pipeline in one process for a laptop (`ingest dev`, `make
// run`), wired over loopback exactly as in production: every service listens on its own
// 127.0.0.1 port and talks to the others over HTTP, Kafka, xDS and ClickHouse's native
// protocol, and every one of ours is built by the same NewService constructor as its own
// `ingest <service>` subcommand (package service), so that the dev stack runs the production
// code paths, /healthz, /readyz and /metrics included (Info.Readyz).
//
// Start runs them as a service.Group, in dependency order, each constructed only once the one
// before it is ready: a private ClickHouse (package chserver) → embedded Kafka (embedkafka) →
// sink writer → the schema migrations (as `ingest migrate`) and loader → normalizer (its sink
// the sink writer's client) → a stand-in for the legacy pipeline ingest-v1, which only counts
// what it receives (GET /stats) → control plane (registry, admin API, xDS with a development
// certificate); then the demo tenant and the upstreams (ingest-v2: the normalizer; ingest-v1:
// the stand-in) → the Go edge on HTTPS. Stop stops them in reverse order; the first service
// to fail stops the rest (Run). If one fails to start, what started is stopped again and
// Start returns the error.
//
// Everything it keeps lives under Config.DataDir (./.data by default), so that a restart keeps
// the data and the tenants: clickhouse/, kafka/, controlplane.db, the admin token (admin-token),
// the development CA and the edge certificate (tls/), and the demo tenant's API key
// (demo-api-key, mode 0600: the control plane shows a key only once). On first start a demo
// tenant at stage v2 is created, and its Kafka topic, so that the loader joins its consumer
// group (and is ready) before the first event.
package devstack
