// Package registry is the control plane's tenant registry: tenants, their API keys (salted
// hashes only), quotas and cutover stages, the upstream endpoints of ingest-v1 and ingest-v2,
// and an append-only audit log of every change, in one embedded bbolt file that survives
// restarts.
package registry
