// Command ingestctl is the operator's client of the ingest control plane's admin API: tenants,
// API keys, quotas, cutover stages, upstreams, replays and the audit log; and `ingestctl top`,
// a live view per tenant of the running pipeline.
//
//	ingestctl [--server URL] [--token TOKEN] [-o table|json] [--yes] <command> <subcommand> [args] [flags]
//
// The server and token come from --server/--token or INGEST_SERVER/INGEST_TOKEN. Run
// `ingestctl help` for the commands and `ingestctl completion bash|zsh` for shell completion.
//
// `ingestctl top` also reads the services' Prometheus metrics directly (their /metrics,
// --scrape name=URL, by default the local stack of `ingest dev`) and computes rates between
// successive scrapes with package internal/tenantrates; see docs/controlplane.md, "ingestctl
// top".
package main
