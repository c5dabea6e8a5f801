// Package filter is the edge filter: the Go HTTP filter that Envoy's golang filter (and the
// Go edge, through package edge/filter/envoyhost) runs on every client request. It authenticates the
// API key, stamps the request with its tenant for routing, counts its events and admits it
// under the tenant's quotas and the edge's in-flight bound, or answers it itself. It imports
// only Envoy's pure-Go api package, never pkg/http (which cannot load outside Envoy), so it is
// tested through envoyhost and the control plane can run its Parse (invariant 6).
//
// # Per request
//
// DecodeHeaders: removes every client-sent header starting with x-ingest- and x-tenant-id
// (invariant 4: identity comes from credentials only); takes the key from "authorization:
// Bearer <key>" or else "x-api-key"; an unknown, revoked or missing key gets 401. Then it sets
// x-tenant-id to the key's tenant and the marker header (x-ingest-edge: 1) that tenant routes
// require, and calls RefreshRouteCache so that routing sees them. A Content-Length above
// limits.max_request_body_bytes gets 413 at once. A request without body is accounted now;
// otherwise the filter reserves the bytes the body may take from the edge's in-flight bytes
// before any of it is buffered — its Content-Length, or limits.max_request_body_bytes when it
// declares none — and returns StopAndBuffer, so that Envoy buffers the whole body within them.
// When they do not fit, the request is shed at once with the 503 of step 2 below, its body
// unread: no body is ever buffered outside the in-flight bytes (invariant 2).
//
// DecodeData (the whole body; endStream is false when trailers follow, and the decision is
// still made here, since Envoy passes the data on before DecodeTrailers), or DecodeTrailers for
// a request with trailers and an empty body, accounts the request, in the order of package
// admission:
//
//  1. a body above limits.max_request_body_bytes gets 413;
//  2. its bytes are the request's in-flight bytes (what DecodeHeaders reserved, adjusted to
//     the body's size: a body without Content-Length gives back what it did not use); above
//     limits.max_in_flight_bytes the edge is full: 503 with Retry-After limits.default_retry_after_seconds; when the tenant's
//     other requests hold bytes and this one would take them over the tenant's share of the
//     bound (Shared.SetTenantShare, default 0.25), 503 err-ingest-edge-tenant-share-full with the
//     same Retry-After, while other tenants are still admitted (invariant 3);
//  3. its events are counted with package eventcount, after bounded decompression of a gzip
//     body: a malformed body gets 400, one that decompresses above
//     [DefaultMaxDecompressedBytes] 413, neither charged to the tenant. The decompression
//     buffer is reserved from the same in-flight bytes before it is filled or allocated (sized
//     by the gzip trailer's claim, within what the body can inflate to) and released once the
//     events are counted; when it does not fit, the edge is full: 503 err-ingest-edge-full
//     with Retry-After, as in step 2;
//  4. the tenant's token buckets are charged: its events, and its body's content in bytes,
//     which for a counted gzip body is the decompressed size (what the pipeline handles and
//     stores; a small gzip of 10 MiB of newlines costs 10 MiB of bytes quota), and for any
//     other body the bytes as received. Over the rate gets 429 with a Retry-After computed
//     from the bucket, more than the burst can ever hold gets 413;
//  5. x-ingest-event-count is set, and X-Ingest-Hop-Auth, the signature the normalizer
//     verifies (package internal/hopauth: HMAC-SHA256 with the config's hop_key over the
//     tenant and that count, with the time), and the request continues, body unchanged.
//     Without hop_key the filter signs nothing and the normalizer refuses the request (401).
//
// A request whose path and Content-Type are not an ingest format of the client API
// (eventcount.KindFor), or whose Content-Encoding is neither gzip nor identity, is passed
// through uncounted (charged its bytes only, no x-ingest-event-count, counted in
// ingest_edge_uncounted_requests): ingest-v2's normalizer answers such requests with 404 or
// 415, and tenants still on ingest-v1 may use paths of the legacy API.
//
// The in-flight bytes are released when the stream completes (OnStreamComplete or OnDestroy),
// after the upstream exchange, since Envoy holds the body until then (retries resend it).
//
// # Replies
//
// Every refusal is a local reply with a JSON body {"error":{"reason":"<id>","message":"..."}}
// (the normalizer's shape), content-type application/json, the reason id as Envoy's response
// code details, and the gRPC status that matches the HTTP status (internal/grpcwire.Code, the
// same at every stage). A gRPC request (content-type application/grpc...) gets a trailers-only
// gRPC answer instead: grpc-status, grpc-message "<id>: <message>", and grpc-status-details-bin,
// a google.rpc.Status that for a refusal with Retry-After (429 RESOURCE_EXHAUSTED, 503
// UNAVAILABLE) carries a google.rpc.RetryInfo of that delay: OTLP exporters retry
// RESOURCE_EXHAUSTED only when it does, after its delay. An OTLP/gRPC Export call is counted and
// charged like the same request over HTTP (its one message; with grpc-encoding gzip, its
// decompressed size; see package eventcount):
//
//	401 err-ingest-unknown-api-key                (also www-authenticate: Bearer realm="ingest")
//	400 err-ingest-malformed-request
//	413 err-ingest-body-too-large, err-ingest-decompressed-too-large,
//	    err-ingest-request-exceeds-burst-events, err-ingest-request-exceeds-burst-bytes
//	429 err-ingest-tenant-rate-limited-events, err-ingest-tenant-rate-limited-bytes (Retry-After)
//	503 err-ingest-edge-full                      (Retry-After)
//	503 err-ingest-edge-tenant-share-full         (Retry-After)
//	500 err-ingest-edge-filter-unconfigured       (the factory got no parsed config: a bug)
//
// # Metrics
//
// Parse defines Envoy counters when Envoy gives it callbacks (filter level; at route level they
// are nil): ingest_edge_requests, ingest_edge_admitted_requests, ingest_edge_admitted_events,
// ingest_edge_admitted_bytes (as received, compressed or not), ingest_edge_uncounted_requests, one ingest_edge_rejected_<reason>
// per reason id above but the last (the id without "err-ingest-", dashes as underscores, e.g.
// ingest_edge_rejected_unknown_api_key), and the gauge ingest_edge_inflight_bytes. Envoy
// counters have no labels, so there is no per-tenant breakdown here; [Shared.Sheds] counts every
// shed (429, 503) per tenant and reason, which the Go edge exports as
// ingest_edge_shed_total{tenant,reason}, and the normalizer counts per tenant.
//
// # State that outlives a configuration
//
// Envoy parses a new configuration on every xDS push (soon on every API key or quota change)
// and shares it between its workers, so the parsed config ([ParsedConfig]: the configuration,
// its key resolver and the counters) is immutable, and the state that must survive pushes (the
// tenants' token buckets, the in-flight bytes, the cache of resolved API keys, decompressors)
// lives in a [Shared] that the filter factory closes over. The key cache is used by the
// configurations that [Shared.ConfigParser] parses: a key resolved under one configuration is
// not checked with SHA-256 again under the next, as long as the next configures it with the
// same salt and hash, and its tenant and NotAfter are always those of the configuration that
// serves the request (a key removed, moved or given a NotAfter by a push is judged by the new
// keys; see admission.Resolver). The zero [ConfigParser] gives each configuration a cache of
// its own, which is what the control plane's validation needs. edge/filter/so makes the one
// Shared of the .so and registers its ConfigParser; tests and the Go edge make their own.
package filter
