// Package envoyhost is the one Go implementation of Envoy's Go HTTP filter API (package
// github.com/envoyproxy/envoy/contrib/golang/common/go/api, Envoy 1.33): it runs a filter written
// for Envoy's golang HTTP filter inside a Go program. The Go edge runs the edge filter with it
// where no Envoy exists (dev, CI), and the filter's unit tests run the filter through it, so
// there is one fake of Envoy, not two.
//
// # Use
//
//	m, err := envoyhost.NewMetrics(reg)                        // counters and gauges the filter defines
//	cfg, err := envoyhost.ParseConfig(parser, pluginConfig, m) // filter-level Parse, once per push
//	h := envoyhost.New(logger)
//	res, err := h.Decode(ctx, envoyhost.Filter{Factory: factory, Config: cfg}, r, bufferLimit)
//	// res.Local != nil: write the local reply; else forward res.Method, res.Path, res.Host,
//	// res.Header, res.Body and res.Trailer upstream, re-matching routes if res.RouteRefreshed.
//	res.SetUpstreamCluster(cluster)           // the cluster the router chose, for StreamInfo
//	res.EncodeHeaders(status, responseHeader, endStream)
//	res.Finish(status, responseHeader) // OnStreamComplete, OnLog, OnDestroy
//
// # What it mirrors
//
// Read from Envoy 1.33's contrib/golang sources (filters/http/source: golang_filter.cc,
// processor_state.cc, cgo.cc and the Go shim in go/pkg/http):
//
//   - One filter instance per request, made by the factory with the parsed config and the
//     request's callbacks. DecodeHeaders(headers, endStream) with endStream true for a request
//     without body and trailers.
//   - Statuses. Continue passes the phase on. StopAndBuffer from DecodeHeaders makes the host
//     buffer the whole body and call DecodeData once with it and endStream=true, or, when the
//     request has trailers, DecodeData(body, false) (skipped when the body is empty) and then
//     DecodeTrailers. Above the buffer limit (Envoy's per_connection_buffer_limit_bytes, default
//     1 MiB) the request gets Envoy's 413 local reply. Continue from DecodeHeaders makes the host
//     call DecodeData for each chunk as it is read (streaming), where StopAndBuffer,
//     StopAndBufferWatermark and StopNoBuffer act as in Envoy; a data status that waits for data
//     when trailers follow lets the data pass, as Envoy does. Returning StopAndBuffer or
//     StopAndBufferWatermark from DecodeHeaders with endStream=true panics (as in Envoy's shim)
//     and so becomes a 500.
//   - Running: the filter decides later from a goroutine with Continue(status) or SendLocalReply
//     on DecoderFilterCallbacks(); the host waits for it, or for ctx.
//   - SendLocalReply(code, body, headers, grpcStatus, details) ends the request with that reply,
//     built like Envoy's Utility::sendLocalReply: header names lower-cased, empty values
//     dropped, content-type text/plain when the body is not empty and the filter set none; for a
//     gRPC request (content-type application/grpc...) a trailers-only answer: status 200,
//     content-type application/grpc, grpc-status (grpcStatus unless the headers set one, and it
//     is always sent: 0 means OK) and the body as percent-encoded grpc-message.
//   - Exactly one of Continue/SendLocalReply per phase: a second one panics with Envoy's
//     "not proccessing Go", like every callback made when no phase waits for one.
//   - Panics: a panic in a phase, or one recovered by DecoderFilterCallbacks().RecoverPanic() in
//     the filter's goroutine, ends the request with Envoy's panic reply (500, "error happened in
//     filter\r\n", gRPC status 0), logged with its stack; panics with Envoy's "request has been
//     finished" and "golang filter has been destroyed" are logged and ignored, as in Envoy.
//   - Header maps: keys lower-cased on every method, pseudo-headers :method, :path, :authority
//     and :scheme, Values returns the map's own slice, GetAllHeaders a copy. Writes (and
//     Continue, SendLocalReply, AddData, buffer access) outside a phase panic with "not
//     proccessing Go"; header writes after the headers were continued, and buffer access after
//     its data phase, panic with Envoy's "invalid phase" message.
//   - RefreshRouteCache and ClearRouteCache are recorded in Result.RouteRefreshed: the caller's
//     router must match the route again on the changed headers.
//   - At the end, Result.Finish calls OnStreamComplete, OnLog (request headers and trailers as
//     forwarded, response headers) and OnDestroy, in Envoy's order. The filter counts as
//     destroyed from the start of OnDestroy: every callback after that panics with "golang
//     filter has been destroyed", which catches goroutines that outlive their request.
//   - Metrics: DefineCounterMetric/DefineGaugeMetric share a metric per name; a counter's
//     Increment ignores offsets <= 0 and Record adds; a gauge's Increment adds or subtracts and
//     Record sets (see [Metrics]).
//
// # What it does not mirror
//
//   - Encoding: the upstream response is the caller's. EncodeHeaders is called only when the
//     caller calls Result.EncodeHeaders (the Go edge does, for every forwarded request, once
//     the response is written), with a read-only header map, and only Continue is supported;
//     EncodeData and EncodeTrailers are never called. EncoderFilterCallbacks() exists, and its
//     Continue, SendLocalReply and AddData panic with "not proccessing Go".
//   - Envoy stalls on some filter bugs (returning LocalReply without SendLocalReply, Continue
//     and a returned status in the same phase, StopAndBuffer on the last data, an unknown
//     status, Continue(LocalReply)). The host answers these with 500 (details
//     "golang_filter_protocol_error") and logs the bug instead. Panic replies carry details
//     "golang_filter_panic" (Envoy's are empty). A panic in the factory or the config parser is
//     recovered (Envoy crashes).
//   - The host holds every body in memory, bounded by the buffer limit, also when the filter
//     streams (Envoy would stream it on): Result.Body is the whole body. Result.Header holds no
//     Content-Length or Transfer-Encoding; the body length is len(Result.Body).
//   - The HTTP connection manager's own work (route matching, x-request-id, x-forwarded-*,
//     early header mutation) is the caller's, before Decode and after it.
//   - Range does not hold the map's lock while it calls f (in Envoy a map method called inside
//     Range deadlocks): filters must not rely on it.
//   - api.LogInfof and the other package-level log functions of the api package panic until
//     api.SetCommonCAPI installs a logger, in Envoy and here alike: filters log through
//     callbacks.Log, which the host sends to its slog.Logger.
//   - StreamInfo: no upstream address, route name or filter chain name; the upstream
//     cluster name is the one the caller set with Result.SetUpstreamCluster. GetProperty knows
//     request.path, request.url_path, request.host, request.scheme, request.method,
//     request.referer, request.useragent, request.id, request.protocol, request.time,
//     source.address, source.port, destination.address, destination.port, response.code and
//     response.code_details; other attributes are api.ErrValueNotFound.
//
// A Host and a Metrics are safe for concurrent use; one Result belongs to one request.
package envoyhost
