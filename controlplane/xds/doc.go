// Package xds is the control plane's xDS server: it builds the edge Envoy's whole
// configuration from the tenant registry, deep-validates it, and serves it over ADS (state of
// the world and delta, on one gRPC server) with go-control-plane's snapshot cache.
//
// # Resources
//
// One snapshot holds exactly what the edge needs and nothing unreferenced:
//
//   - LDS: listener [ListenerName] on Config.ListenerPort (default 8443), TLS only, its
//     certificate over SDS; an HTTP connection manager whose early header mutation strips client
//     copies of the internal headers, then the edge filter (HTTP filter [FilterConfigName],
//     its configuration over ECDS), then the router. per_connection_buffer_limit_bytes = the
//     maximal body (the filter's buffer). The listener depends on Config only.
//   - ECDS: extension configuration [FilterConfigName], a TypedExtensionConfig holding the
//     golang filter's configuration (plugin [filterconfig.PluginName], plugin_config = the
//     tenant quota table, key hashes, edge limits, marker header). The listener's filter asks
//     for it with config_discovery over ADS, for the golang filter's type only and without a
//     default configuration, so Envoy keeps the listener warming until it arrives.
//   - RDS: route configuration [RouteConfigName] with validate_clusters, described below.
//   - CDS: clusters [ClusterV1] and [ClusterV2], EDS over ADS, with circuit breakers.
//   - EDS: their endpoints, from the registry's upstreams.
//   - SDS: secret [SecretName], the listener certificate from Config.CertFile/KeyFile,
//     reloaded when the files change.
//
// Each resource type has its own version: the number of the generation in which it last
// changed. A tenant's stage change therefore changes only the RDS version; a key or quota
// change only ECDS; an upstream change only EDS; a certificate change only SDS.
//
// Why ECDS: on Envoy, a listener update that changes a filter chain drains every connection
// that filter chain owns. With the filter's configuration inside the listener, creating,
// rotating or revoking one key, or changing one quota, would gracefully close every client
// connection of every edge. An ECDS update applies to the next requests (the next filter
// chain instantiation) and leaves connections alone; the filter keeps its long-lived state
// (token buckets, in-flight bytes, the key cache) across configurations (package edge/filter).
// The golden snapshots pin it (TestGoldenListenerUnchangedByKeysAndQuotas). Generations are
// numbered 1, 2, 3... from process start (monotonic, logged with the registry revision);
// after a restart Envoy is sent identical resources under new versions, which is harmless.
//
// # Routing and the order of header operations
//
// For one request on the edge listener:
//
//  1. The connection manager's early header mutation removes x-tenant-id, x-ingest-version,
//     x-ingest-event-count and x-ingest-edge (the marker) as sent by the client, before
//     anything else looks at the request. This does not depend on the filter.
//  2. The connection manager matches a route on the remaining headers. No client header can
//     carry the marker now, so only the fail-closed route (7) matches.
//  3. The edge filter's (the golang filter's) DecodeHeaders removes every remaining x-ingest-* header (prefix),
//     authenticates the API key, sets x-tenant-id to the key's tenant and x-ingest-edge: 1,
//     and calls RefreshRouteCache so the route is matched again on these trusted headers.
//     (After the body it sets x-ingest-event-count; that does not take part in routing.)
//  4. The tenant's route matches x-tenant-id exactly and x-ingest-edge: 1:
//     legacy → ingest-v1;
//     shadow → ingest-v1, mirrored to ingest-v2 (runtime fraction 100% by default, key
//     [ShadowRuntimeKeyPrefix]<tenant>), with x-ingest-version: v2 added at route level;
//     canary:<p> → weighted clusters, p% to ingest-v2 with x-ingest-version: v2 added to that
//     cluster's requests only, the rest to ingest-v1 without it;
//     v2 → ingest-v2 with x-ingest-version: v2.
//  5. A request the filter admitted but for a tenant without a route yet (the listener with a
//     new tenant's keys can arrive before the routes) goes to ingest-v1: route
//     admitted-default-v1, which also requires the marker.
//  6. The router applies the chosen route's header changes (weighted cluster, then route,
//     then route configuration): it adds x-ingest-version: v2 as above and removes the marker
//     x-ingest-edge, a signal for the route table only. It does not remove x-tenant-id: a
//     route-level removal happens after matching, so it would not protect the match and would
//     only take the tenant away from the upstream. Mirrored requests are copies made after
//     these changes.
//  7. A request without the marker, that is one the filter never saw (the filter is not
//     active, for example a plugin name mismatch that makes Envoy pass traffic through), is
//     answered 503 with Retry-After and body [ErrFilterInactiveID] by route
//     filter-inactive-fail-closed: it reaches neither ingest-v2 nor ingest-v1. This is the
//     "fails closed" of invariant 4: failing over to ingest-v1 would also send unaccounted
//     traffic to the legacy pipeline. [Validate] rejects any route that can reach ingest-v2
//     without requiring the marker.
//
// Shadow marker: Envoy 1.33 cannot change headers of mirrored requests only, and appends
// "-shadow" to their authority (Host). That suffix is the marker by which ingest-v2 writes
// mirrored traffic to shadow tables only. Because x-ingest-version: v2 has to be added at route
// level for the mirror to carry it, ingest-v1 also receives it on shadow tenants' requests and
// ignores it.
//
// Retries: every route retries 429 and 503 from ingest-v1/v2 (and connect failures and
// refused streams) up to Config.Upstream.NumRetries times, waiting as long as the upstream's
// Retry-After says (format SECONDS, capped by Config.Upstream.MaxRetryAfter), with the body
// kept up to the maximal body size (per_request_buffer_limit_bytes). The filter's own 429 and
// 503 are local replies and never retried.
//
// # Serving
//
// [Server] rebuilds on every registry change (coalesced over Config.Debounce, at most 200ms,
// so a change is served well within one second), on a certificate file change (polled every
// Config.CertPollInterval) and when a key's scheduled revocation passes. Every snapshot passes
// [Validate] before SetSnapshot; one that does not is logged and counted, and the previous one
// stays served. Every node (node.id) that opens a stream gets the current snapshot.
//
// Transport security: the gRPC server speaks mutual TLS only (Config.ServerTLS,
// [ServerTLSConfig]): it presents its own certificate (not the edge listener's, which it
// serves over SDS), requires a client certificate signed by the client CA and optionally pins
// client names. A client that fails the handshake (no certificate, another CA, plaintext)
// never reaches the ADS service, so it gets no resource; it is counted in
// ingest_controlplane_xds_handshake_failures_total{reason}. The three files are polled with the
// listener certificate and a valid change applies from the next handshake. The Envoy bootstrap
// (edge/envoy/bootstrap.yaml) reaches the server over mutual TLS; its test deep-validates it
// like a snapshot and refuses an xds_cluster without it. ServerTLS.Insecure (plaintext,
// loopback only, logged as a warning) is the explicit opt-out.
//
// NACKs: the SotW snapshot cache answers a NACK (which carries the last accepted version) by
// resending the rejected snapshot at once, in a loop (go-control-plane issue #962). The
// server's stream callbacks see the NACK first: they count it in
// ingest_controlplane_xds_nacks_total{type_url}, log it, and set that node back to the newest
// earlier generation holding the version it last accepted, so the cache has nothing new to
// send. New generations that still hold the rejected version are not set for that node; the
// next change of that resource type is. See [Server] and ingest_controlplane_xds_nack_fallbacks_total.
package xds
