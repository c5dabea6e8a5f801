// Package controlplane is the ingest control plane as one component: the tenant registry
// (controlplane/registry, one bbolt file), the admin API over it (controlplane/api, served
// with /healthz, /readyz and /metrics on the admin listener) and the xDS server that
// configures the edge (controlplane/xds). Config + Validate describe it; NewService opens the
// registry and binds the listeners (failing fast), Run serves until its context is done and
// shuts down gracefully: the shape of every service (package internal/service).
package controlplane
