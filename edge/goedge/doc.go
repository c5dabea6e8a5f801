// Package goedge is the Go edge: an HTTPS server that stands in for Envoy where no Envoy runs
// (laptops, CI). It takes the same configuration from the control plane over ADS as Envoy
// does, runs the same edge filter (package edge/filter, through the Envoy Go filter API of
// package edge/filter/envoyhost), routes with the same route table and proxies to the same clusters.
// docs/edge.md lists what of Envoy it implements and what not.
//
// # Configuration
//
// An ADS stream (state of the world, over mutual TLS with the control plane: the edge presents
// Config.XDSCertFile and accepts only a server certificate that chains to Config.XDSCAFile for
// the server name, so a rogue server's configuration is never applied) subscribes to CDS and LDS as wildcards, then to EDS, RDS
// and SDS by the names the accepted clusters and listener reference. Each response is decoded,
// validated (protoc-gen-validate rules, and every typed config it unpacks) and compiled; a
// response that does not compile (the filter's own Parse fails, a field the edge cannot honour
// is set) is NACKed with the last accepted version and an error_detail, and changes nothing.
// Whenever the accepted resources form a complete configuration (a listener with its route
// configuration, certificate, clusters and their endpoints), it becomes an immutable snapshot
// that replaces the current one atomically: a request keeps the snapshot it started with, so a
// stage change never fails a request in flight. State that outlives snapshots — the filter's
// token buckets and in-flight bytes (one envoyfilter.Shared), the clusters' circuit breaker
// counts and connection pools — lives outside them.
//
// # Requests
//
// For each request, in Envoy's order: the connection manager's work (early header mutation,
// connection-specific headers, headers with underscores, path normalization, x-forwarded-for,
// x-forwarded-proto, x-request-id), the route match, the golang filter (a local reply ends the
// request), the route match again if the filter refreshed the route cache, then the route: a
// direct response, or header changes (weighted cluster, route, route
// configuration), mirrors (asynchronous, bounded, the authority suffixed "-shadow"), and the
// upstream exchange with the cluster's circuit breakers and the route's retry policy; the
// response is streamed back, the filter's stream finished at its end.
//
// # Memory
//
// The edge's memory is bounded by its configuration (invariant 2), by construction:
//
//	live bytes ≤ max_in_flight_bytes                       request bodies, decompression buffers
//	           + max_mirror_bytes_in_flight                 bodies of mirrors still in flight
//	           + reading × 256 KiB                          read buffers, pooled-class rounding of each request's body
//	           + max_connections × (~48 KiB + HTTP/2 1 MiB)  TLS, HTTP state; HTTP/2 receive window
//
// where reading ≤ max_connections for HTTP/1.1, ≤ max_connections × max_concurrent_streams for
// HTTP/2. Every request body is buffered only within the filter's in-flight bytes
// (limits.max_in_flight_bytes, from the control plane): the filter reserves a body's
// Content-Length (or limits.max_request_body_bytes without one) before the host reads any of
// it, and sheds the request unread when it does not fit. The host takes the buffer of a
// declared body of up to 1 MiB at once from a pool in 64 KiB classes (given back once the
// upstream exchange, its retries and any mirror closed the body: at most 64 KiB above the
// reservation, and allocated only when none is free, so pooled and used buffers together never
// exceed the most in use at once); a larger or undeclared body's buffer grows as it arrives,
// never past the declared length. An
// HTTP/2 connection holds at most 1 MiB of body data its streams have not read
// (MaxReceiveBufferPerConnection) in frames of at most 16 KiB. With GOGC=100 the heap may reach
// twice the live bytes; the process adds its runtime, code and configuration (docs/reliability.md).
//
// An Edge is safe for concurrent use.
package goedge
