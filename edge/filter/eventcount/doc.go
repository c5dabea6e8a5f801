// Package eventcount counts the events of a request body exactly as the normalizer will, without
// decoding it, so that the edge filter can charge a tenant's events/s quota before the request
// leaves the edge: the non-blank lines of NDJSON, and the log records, metric data points or
// spans of an OTLP request in protobuf (a walk of the wire format, with no allocation) or JSON
// (one streaming pass). It is pure Go, imports nothing from Envoy, and is safe for concurrent
// use (a [Gunzip] is not: one per goroutine).
//
// # Exact
//
// "Exact" means equal to the count the normalizer reaches with pdata (the count it compares
// with the x-ingest-event-count header). For protobuf that holds for every body pdata decodes,
// including pdata's own quirks, which proto.go lists: a fuzz test checks it on arbitrary bytes,
// and checks that every body Count refuses is one pdata refuses too. For JSON it holds for
// every valid JSON body pdata decodes, with one deliberate exception, the empty object key,
// which json.go explains; on invalid JSON that pdata's lenient parser happens to accept, the
// two may differ. For NDJSON it is the normalizer's line rule, checked against a plain
// reference implementation.
//
// # Malformed bodies: the edge answers 400 itself
//
// Count returns a *[MalformedError] (with the reason and the byte offset) for a body whose
// structure it cannot walk. The filter should answer it at the edge with 400
// err-ingest-malformed-request and the error's message, charging nothing, rather than count
// 0 events and pass it through for the normalizer's more detailed 400. Passing it through would
// open a quota bypass: pdata's JSON parser (json-iterator) accepts some invalid JSON, and some
// valid JSON with an empty key, as requests with log records (TestMalformedJSONThatPdataAccepts
// has examples), so a tenant could send events that the edge charged as 0. For protobuf the
// fuzz-tested property "Count refuses only what pdata refuses" means a 400 at the edge is the
// answer the normalizer would give; for JSON it is a 400 for a body that is not valid JSON (or
// has an empty key, which no encoder writes). Refusing at the edge also spares the normalizer.
// A body that Count accepts may still be refused by the normalizer (Count does not look inside
// records); that costs nothing, since the tokens charged match the records a valid body holds.
//
// # Gzip: the edge counts after bounded decompression
//
// Envoy hands the filter a gzip body compressed. The edge decompresses it, within a bound, and
// counts exactly; it does not defer the count to the normalizer. Reasons:
//   - Most OTLP traffic is gzip: the OpenTelemetry Collector's otlphttp exporter compresses
//     with gzip by default, and so do most SDK exporters. Deferring would leave the events/s
//     quota unenforced for exactly the traffic that matters (invariant 3) and make the
//     normalizer, behind the edge, the place where tenants are limited.
//   - Exactness: [Gunzip] reads gzip as the normalizer does (compress/gzip, concatenated
//     members, the same size limit semantics), so both see the same bytes.
//   - The cost is bounded and paid once: decompression stops at maxDecompressed+1 bytes (a gzip
//     bomb costs at most that much work), the decompressed bytes live only while Count runs on
//     the worker thread (so at most one buffer per Envoy worker, at most maxDecompressed bytes
//     each, reused through a sync.Pool of Gunzips), and only the compressed body travels on to
//     the normalizer. Decompression runs at a few hundred MB/s of output per core (see
//     BenchmarkCountGzip); a 1 MiB body that expands tenfold costs tens of milliseconds of a
//     worker, which is what the normalizer would spend too.
//
// Both sizes are accounted: the raw (compressed) size is what the tenant's bytes/s bucket and
// the edge's in-flight bound are charged with (filterconfig.Quotas defines the byte rate on
// the body as received); the decompressed size, which Gunzip.Count returns, is for a metric
// (bytes by tenant and kind "raw"/"decompressed", as the normalizer labels its own). A body
// that decompresses to more than the bound gets a *[DecompressedTooLargeError]: the filter
// answers 413 err-ingest-decompressed-too-large, which is what the normalizer would answer
// when its max_decompressed_bytes is the same bound (the filter configuration should carry
// that bound). A body that is not valid gzip is a *[MalformedError] (with Err set) and is
// handled like any malformed body.
//
// # gRPC
//
// An OTLP/gRPC Export request (the gRPC kinds, [KindFor] of the three Export methods) is one
// gRPC length-prefixed message, an Export*ServiceRequest in protobuf: its events are counted as
// that message's, with the same exactness (FuzzCountGRPC). A body that is not exactly one
// message (none, a truncated one, two: a unary call carries one) is a *[MalformedError] at the
// offset of the fault. With grpc-encoding gzip the message may be compressed (its flag says
// so; a client may also send it uncompressed): [Gunzip] decompresses it within the same bounds
// as a gzip body and counts it; decompressed is then the message's size, which the bytes quota
// is charged, as for a gzip body. The decompressed bytes of the two protocols are the same
// request, so a tenant pays the same whichever it uses.
//
// # Formats
//
// [KindFor] maps a request's path and Content-Type to a [Kind] exactly as the normalizer
// accepts them; a request it refuses will get 404 or 415 from the normalizer, so the filter can
// answer that itself or pass it through uncounted.
package eventcount
