// Command ingestctl is the operator's client of the ingest control plane's admin API: tenants,
// API keys, quotas, cutover stages, upstreams, replays and the audit log.
//
//	ingestctl [--server URL] [--token TOKEN] [-o table|json] [--yes] <command> <subcommand> [args] [flags]
//
// The server and token come from --server/--token or INGEST_SERVER/INGEST_TOKEN. Run
// `ingestctl help` for the commands and `ingestctl completion bash|zsh` for shell completion.
package main
