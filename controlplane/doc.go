// Package controlplane is the ingest control plane as one component: the tenant registry
// (controlplane/registry, one bbolt file), the admin API over it (controlplane/api, served
// with /metrics on the admin listener) and the xDS server that configures the edge
// (controlplane/xds). Config + Validate describe it; New opens the registry and the listeners
// (failing fast), Run serves until its context is done and shuts down gracefully.
package controlplane
