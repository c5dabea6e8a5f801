// Package admission is the edge filter's accounting core: it resolves an API key to its
// tenant, keeps every tenant to its event and byte rates, and bounds the bytes the whole edge
// holds. It is pure Go, imports nothing from Envoy, and does no I/O; the filter calls it
// synchronously on Envoy's worker threads.
//
// # The three parts
//
//   - [Resolver] maps a key to a tenant with the keys of one filterconfig.Config (invariant 4:
//     identity comes from credentials only). It is rebuilt on every configuration push; its
//     cache of resolved keys, a [KeyCache], is shared by the Resolvers of successive pushes,
//     so that a push does not make every client's key cost SHA-256 again. An entry names the
//     configured key that matched by its salt and hash, and each Resolver takes the tenant and
//     NotAfter from its own configuration.
//   - [Limiter] holds two token buckets per tenant (events/s and bytes/s, each with a burst)
//     and decides, all or nothing, whether a request may pass. One Limiter lives for the
//     process, across pushes, so that tokens survive a push (invariant 3: a tenant over its
//     quota gets 429 and costs the others nothing).
//   - [Inflight] bounds the body bytes held by the whole edge (invariant 2); full means 503.
//
// # How the filter uses it
//
// Per request, in DecodeHeaders then DecodeData, with now = time.Now() read once:
//
//  1. tenant, ok := resolver.Resolve(key, now); not ok → 401.
//  2. A body larger than Limits.MaxRequestBodyBytes → 413 (err-ingest-body-too-large).
//  3. inflight.Acquire(len(body)) (or the Content-Length up front); false → 503 with
//     Retry-After of Limits.DefaultRetryAfterSeconds. Release when the stream completes
//     (OnStreamComplete / OnDestroy), whatever the outcome.
//  4. Count the events with package eventcount: a MalformedError → 400
//     (err-ingest-malformed-request), a DecompressedTooLargeError → 413
//     (err-ingest-decompressed-too-large), both without charging the tenant.
//  5. q, _ := resolver.Quotas(tenant); d := limiter.Admit(tenant, q, events, len(body), now).
//     Not d.OK → d.Status() (429 with Retry-After shed.RetryAfterSeconds(d.RetryAfter), or
//     413 when the request exceeds the burst and no retry can pass), with d.Reason as the
//     stable reason id and the reason label of the rejection counter.
//
// Bytes are charged as the body's content: the decompressed size of a gzip body that the
// filter counts, the size as received otherwise (see the filter's package documentation). A
// gzip body's decompression buffer is reserved from the Inflight while its events are counted
// (eventcount.Gunzip.Budget). Admit comes after counting because it needs the event count; a
// request refused for its bytes could be refused before counting, which saves decompressing a
// gzip body of a tenant already over its byte rate.
//
// # Why a request larger than the burst gets 413
//
// A bucket never holds more than its burst, so a request of more events (or bytes) than the
// burst can never be admitted, however long the client waits. A 429 would tell the client to
// retry, and OpenTelemetry exporters retry 429 with backoff until they give up, resending the
// same batch for minutes; 413 is not retryable and tells the client (or its operator) to send
// smaller batches. Such a refusal takes no tokens and has no Retry-After. The reasons are
// err-ingest-request-exceeds-burst-events and -bytes.
//
// # Performance
//
// Everything on the request path is allocation-free once warm. Resolve of a cached key is an
// xxh3 hash, a read-locked map lookup and a constant-time comparison of the cached hash with
// each one configured for the key's prefix (one, or two during a rotation); Admit is a
// lock-free lookup in a sharded copy-on-write map plus one uncontended mutex per tenant. See
// the benchmarks in *_test.go and BENCHMARKS.md.
package admission
