// Package report is the wire format of the cutover report stream: what every reporter (edge,
// normalizer, loader) sends the control plane about once a second, so that it can compute the
// per-tenant parity that gates a tenant's move from ingest-v1 to ingest-v2.
//
// A reporter POSTs one JSON Report to Path on the control plane's admin listener with
// "Authorization: Bearer <report token>"; the control plane answers 204. Counts are those of
// the interval since the reporter's previous report, so a report lost in transit loses its
// counts (the gate then sees a mismatch and refuses, never the reverse), and a report sent
// twice counts once because the control plane deduplicates (Instance, Seq).
//
// The types are shared: the server side (controlplane/api, migration) decodes and checks them
// with Validate; the client (client.go) builds and sends them.
package report
