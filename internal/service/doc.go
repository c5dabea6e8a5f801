// Package service is the one shape of every deployable of ingest (normalizer, sink writer,
// loader, control plane, edge, embedded Kafka, the dev stack's legacy stand-in) and the one
// copy of the code that serves their internal HTTP listeners and drains them.
//
// A service is built by its package's NewService(cfg, Settings): the constructor checks the
// configuration and binds every listener, so that a bad setting or a port in use is an error
// there, before anything runs. Run(ctx) then serves until ctx ends and drains within the
// service's shutdown timeout: /readyz turns 503, the component is told to stop taking work
// (Options.Drain), its background work ends (Options.Run), the listener stops accepting and
// lets the requests in progress finish, and the component flushes and closes
// (Options.Shutdown). Ready(ctx) says whether it should get traffic.
//
// Every listener a Server binds serves, besides the component's own endpoints:
//
//	GET /healthz   liveness: 200 "ok" while the process serves
//	GET /readyz    readiness: 200 "ready" when the component's Ready check passes; 503 with the
//	               reason before Run, while it fails, and while draining
//	GET /metrics   the Prometheus metrics of Settings.Registry
//
// over HTTP/1.1 and h2c (HTTP/2 without TLS, prior knowledge: internal traffic has no TLS),
// with ReadHeaderTimeout 10 s and IdleTimeout 2 min. Every listener is bounded (Options): at
// most MaxConnections connections open (default 1024; one accepted above it is closed at
// once and counted in <prefix>_connections_refused_total), headers read within
// ReadHeaderTimeout, and a request body that sends nothing for BodyIdleTimeout (default
// 10 s) cut: its Read fails with ErrBodyIdle, which the component answers with 408
// (<prefix>_body_read_timeouts_total).
//
// A Group runs an ordered list of services as one: each is constructed and started only once
// the one before it is ready (within a ready timeout), they stop in reverse order, and the
// first to fail stops the rest. `ingest dev` is such a group.
package service
