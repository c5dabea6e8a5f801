// Package api is the control plane's admin API: JSON over HTTP under /v1, authenticated with a
// bearer admin token, over the tenant registry (tenants, API keys, quotas, cutover stages,
// upstreams, audit log) and the replays of a replay.Service (/v1/replays). The routes, bodies
// and errors are documented in openapi.yaml beside this file; a test keeps the two in step.
//
// Optimistic concurrency: every tenant answer carries `ETag: "<revision>"`. Every update of a
// tenant or of the upstreams (PATCH, PUT, DELETE of a tenant) must say which revision it
// changes, with `If-Match: "<revision>"` or `"revision": <n>` in the body; without either it is
// refused with 428, with a stale one with 409 and the current revision. `If-Match: *` updates
// unconditionally. Key creation, rotation and revocation do not need a revision (they
// overwrite nothing) but honour one if given.
//
// Errors are `{"error":{"code":"…","field":"…","message":"…"}}` with a stable code, the field
// at fault for 400, and a message that says what to do.
package api
