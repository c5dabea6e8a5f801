package goedge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/service"
)

// Bodies of the replies the edge makes itself, as Envoy words them.
const (
	bodyNoHealthyUpstream = "no healthy upstream"
	bodyOverflow          = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
	bodyConnectFailure    = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	bodyReset             = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
	bodyTimeout           = "upstream request timeout"
	bodyStreamTimeout     = "stream timeout"
	bodyNotReady          = string(reason.EdgeNotReady) + ": the edge has no configuration from the control plane yet; retry later\n"
)

// maxDrainBytes is how much of a discarded response (a retried attempt, a mirror) the edge
// reads so that its connection can be reused; a longer body closes the connection.
const maxDrainBytes = 64 << 10

// forward is the request to send upstream, as the filter left it.
type forward struct {
	method, path, host string
	header             http.Header
	body               []byte
	// ref counts the readers of body: the request itself and every upstream or mirrored
	// attempt until the transport closed its body; the last gives the buffer back.
	ref *bodyRef
}

// bodyRef releases a request body's buffer (envoyhost.Result.ReleaseBody) once nothing reads
// it: the request holds one reference until it is answered, each attempt one until the
// transport closes its body (http.RoundTripper closes it, even after RoundTrip returned),
// each mirror one until its goroutine ends. A nil *bodyRef counts nothing.
type bodyRef struct {
	n       atomic.Int32
	release func()
}

func newBodyRef(release func()) *bodyRef {
	r := &bodyRef{release: release}
	r.n.Store(1)
	return r
}

func (r *bodyRef) acquire() {
	if r != nil {
		r.n.Add(1)
	}
}

func (r *bodyRef) done() {
	if r != nil && r.n.Add(-1) == 0 {
		r.release()
	}
}

// refBody is an attempt's request body: it reads the forwarded body and drops its reference
// when the transport closes it.
type refBody struct {
	*bytes.Reader
	ref    *bodyRef
	closed atomic.Bool
}

func (b *refBody) Close() error {
	if !b.closed.Swap(true) {
		b.ref.done()
	}
	return nil
}

// serveHTTP is the request path: the connection manager's own header work, the filter, the
// route, and the upstream exchange. The request keeps the configuration it started with.
func (e *Edge) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w = e.drainIfListenerChanged(w, r)
	s := e.snap.Load()
	if s == nil {
		e.reply(w, r, http.StatusServiceUnavailable, bodyNotReady, true, nil)
		e.observe(labelNone, http.StatusServiceUnavailable, start)
		return
	}
	if !e.prepare(r, &s.listener.hcm) {
		e.reply(w, r, http.StatusBadRequest, "", false, nil)
		e.observe(labelNone, http.StatusBadRequest, start)
		return
	}
	view := requestView{path: r.URL.RequestURI(), header: r.Header}
	rt := s.routes.match(&view)

	var fwd forward
	finish := func(int, http.Header) {}
	encode := func(string, int, http.Header) {}
	if f := s.filter; f != nil {
		res, err := e.host.Decode(r.Context(), *f, r, s.bufferLimit)
		if err != nil {
			// The client went away or its body could not be read: Envoy resets the stream,
			// or answers 408 when the body stalled past the idle timeout.
			status := bodyErrorStatus(err)
			e.reply(w, r, status, bodyErrorText(status), false, nil)
			e.observe(labelNone, status, start)
			return
		}
		if lr := res.Local; lr != nil {
			res.ReleaseBody() // nothing forwards it
			writeLocal(w, r, lr)
			res.Finish(lr.Status, lr.Header)
			e.observe(labelLocalReply, lr.Status, start)
			return
		}
		fwd = forward{method: res.Method, path: res.Path, host: res.Host, header: res.Header, body: res.Body, ref: newBodyRef(res.ReleaseBody)}
		defer fwd.ref.done()
		finish = res.Finish
		encode = func(label string, status int, h http.Header) {
			// The filter's response phase, with the cluster the router chose (Envoy's upstream
			// cluster info): after the response, as the host holds no response of its own.
			if status > 0 {
				if label != labelNoRoute && label != labelDirectResponse {
					res.SetUpstreamCluster(label)
				}
				res.EncodeHeaders(status, h, false)
			}
		}
		if res.RouteRefreshed {
			view = requestView{path: fwd.path, header: fwd.header}
			rt = s.routes.match(&view)
		}
	} else {
		// No filter (another plugin_name): Envoy passes the request through unfiltered.
		body, err := readBody(r, s.bufferLimit)
		if err != nil {
			status := bodyErrorStatus(err)
			e.reply(w, r, status, bodyErrorText(status), false, nil)
			e.observe(labelNone, status, start)
			return
		}
		h := r.Header.Clone()
		delete(h, "Content-Length")
		fwd = forward{method: r.Method, path: r.URL.RequestURI(), host: r.Host, header: h, body: body}
	}

	label, status, header, abort := e.route(w, r, s, rt, &fwd)
	encode(label, status, header)
	finish(status, header)
	e.observe(label, status, start)
	if abort {
		panic(http.ErrAbortHandler) // the response is cut: reset the stream, as Envoy does
	}
}

func (e *Edge) observe(cluster string, status int, start time.Time) {
	e.m.requests.WithLabelValues(cluster, e.m.code(status)).Inc()
	e.m.duration.WithLabelValues(cluster).Observe(time.Since(start).Seconds())
}

// route answers a request from its route: 404 without one, the direct response, or the
// upstream's response. It returns the metrics label, the status and headers written, and
// whether the response was cut after its headers.
func (e *Edge) route(w http.ResponseWriter, r *http.Request, s *snapshot, rt *route, fwd *forward) (string, int, http.Header, bool) {
	if rt == nil {
		e.reply(w, r, http.StatusNotFound, "", false, nil)
		return labelNoRoute, http.StatusNotFound, w.Header(), false
	}
	if d := rt.direct; d != nil {
		h := w.Header()
		rt.respOps.apply(h)
		if len(d.body) > 0 && h.Get("Content-Type") == "" {
			h.Set("Content-Type", "text/plain")
		}
		writeBody(w, r, d.status, d.body)
		return labelDirectResponse, d.status, h, false
	}
	a := rt.action
	name := a.cluster
	var wc *weightedCluster
	if len(a.weighted) > 0 {
		wc = a.pick(e.rand())
		name = wc.name
	}
	h := fwd.header
	if wc != nil {
		wc.reqOps.apply(h)
	}
	// host_rewrite_literal, as Envoy's router applies it before it copies a mirror: the
	// weighted cluster's, else the action's.
	switch {
	case wc != nil && wc.hostRewrite != "":
		fwd.host = wc.hostRewrite
	case a.hostRewrite != "":
		fwd.host = a.hostRewrite
	}
	rt.reqOps.apply(h)
	s.routes.reqOps.apply(h)
	timeout := a.timeout
	if timeout < 0 {
		timeout = e.cfg.DefaultRouteTimeout
	}
	for i := range a.mirrors {
		if m := &a.mirrors[i]; m.sampled(e.rand()) {
			e.mirror(s, m, fwd, timeout)
		}
	}
	cl := s.clusters[name]
	if cl == nil {
		// Envoy: cluster_not_found, 503 without a body.
		e.m.upstreamErrors.WithLabelValues(labelNone, "cluster_not_found").Inc()
		e.reply(w, r, http.StatusServiceUnavailable, "", true, nil)
		return name, http.StatusServiceUnavailable, w.Header(), false
	}
	status, abort := e.proxy(w, r, cl, name, a, fwd, timeout, rt.respOps)
	return name, status, w.Header(), abort
}

// proxy sends the request to the cluster, retrying as the route's retry policy says, and
// streams the response back. It returns the status written (0 if the client went away
// first) and whether the response was cut after its headers.
// waitRetry waits out a retry's backoff (false when ctx ended first) and gives back the
// retry's slot of the cluster's max_retries.
func waitRetry(ctx context.Context, cl *upstreamCluster, wait time.Duration) bool {
	ok := sleep(ctx, wait)
	cl.releaseRetry()
	return ok
}

func (e *Edge) proxy(w http.ResponseWriter, r *http.Request, cl *upstreamCluster, name string, a *routeAction, fwd *forward, timeout time.Duration, respOps headerOps) (int, bool) {
	ctx := r.Context()
	var deadline time.Time
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		deadline, _ = ctx.Deadline()
	}
	p := a.retry
	retriesLeft := 0
	if p != nil && (a.bufferLimit == 0 || int64(len(fwd.body)) <= a.bufferLimit) {
		retriesLeft = p.numRetries
	}
	for retry := 1; ; retry++ {
		ep, ok := cl.pick()
		if !ok {
			e.m.upstreamErrors.WithLabelValues(name, "no_healthy_upstream").Inc()
			e.reply(w, r, http.StatusServiceUnavailable, bodyNoHealthyUpstream, true, nil)
			return http.StatusServiceUnavailable, false
		}
		if !cl.acquire() {
			e.m.upstreamErrors.WithLabelValues(name, "overflow").Inc()
			e.reply(w, r, http.StatusServiceUnavailable, bodyOverflow, true, http.Header{"X-Envoy-Overloaded": {"true"}})
			return http.StatusServiceUnavailable, false
		}
		req, err := upstreamRequest(ctx, ep, fwd.method, fwd.path, fwd.host, fwd.header, fwd.body, fwd.ref)
		if err != nil {
			cl.release()
			e.reply(w, r, http.StatusBadRequest, "", false, nil)
			return http.StatusBadRequest, false
		}
		resp, err := cl.transport.RoundTrip(req)
		if err != nil {
			cl.release()
			if ctx.Err() != nil {
				return e.interrupted(w, r, name)
			}
			connect := isConnectError(err)
			cause := "reset"
			if connect {
				cause = "connect_failure"
			}
			e.m.upstreamErrors.WithLabelValues(name, cause).Inc()
			if retriesLeft > 0 && connect && p.onConnectFailure {
				if wait := p.backoff(retry, nil, e.rand()); e.startRetry(cl, name, cause, wait, deadline) {
					if !waitRetry(ctx, cl, wait) {
						return e.interrupted(w, r, name)
					}
					retriesLeft--
					continue
				}
			}
			body := bodyReset
			if connect {
				body = bodyConnectFailure
			}
			e.reply(w, r, http.StatusServiceUnavailable, body, true, nil)
			return http.StatusServiceUnavailable, false
		}
		if retriesLeft > 0 && p.retriableStatus(resp.StatusCode) {
			// The response is passed on unless a retry can happen before the route's deadline
			// and within the cluster's max_retries.
			if wait := p.backoff(retry, resp.Header, e.rand()); e.startRetry(cl, name, "status_"+e.m.code(resp.StatusCode), wait, deadline) {
				drain(resp.Body)
				cl.release()
				if !waitRetry(ctx, cl, wait) {
					return e.interrupted(w, r, name)
				}
				retriesLeft--
				continue
			}
		}
		status, abort := e.stream(w, r, resp, respOps)
		cl.release()
		return status, abort
	}
}

// interrupted answers a request whose context ended during the upstream exchange: nothing
// when the client went away, else (the route's timeout) Envoy's 504.
func (e *Edge) interrupted(w http.ResponseWriter, r *http.Request, name string) (int, bool) {
	if r.Context().Err() != nil {
		return 0, false
	}
	e.m.upstreamErrors.WithLabelValues(name, "timeout").Inc()
	e.reply(w, r, http.StatusGatewayTimeout, bodyTimeout, false, nil)
	return http.StatusGatewayTimeout, false
}

// startRetry decides whether a retry can happen after wait: before the route's deadline and
// within the cluster's max_retries, whose slot it then holds (release with releaseRetry).
func (e *Edge) startRetry(cl *upstreamCluster, name, cause string, wait time.Duration, deadline time.Time) bool {
	if !deadline.IsZero() && !time.Now().Add(wait).Before(deadline) {
		return false
	}
	if !cl.acquireRetry() {
		e.m.retries.WithLabelValues(name, "overflow").Inc()
		return false
	}
	e.m.retries.WithLabelValues(name, cause).Inc()
	return true
}

// sleep waits for d; false if ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff returns the wait before retry number n (1-based) as Envoy computes it: the
// upstream's reset header (Retry-After) when it holds a usable interval, jittered up by at
// most half of it; otherwise full-jitter exponential from base_interval, capped at
// max_interval.
func (p *retryPolicy) backoff(n int, h http.Header, rnd uint64) time.Duration {
	if h != nil {
		if d, ok := p.resetInterval(h); ok && d > time.Millisecond {
			return d + time.Duration(rnd%uint64(d/2+1))
		}
	}
	upper := p.maxInterval
	if n < 31 {
		if b := time.Duration(1<<n-1) * p.baseInterval; b > 0 && b < upper {
			upper = b
		}
	}
	return time.Duration(rnd % uint64(upper))
}

// stream writes the upstream response to the client: status, headers (without hop-by-hop
// ones, with the route's response header changes), body (flushed as it comes when its length
// is unknown) and trailers.
func (e *Edge) stream(w http.ResponseWriter, r *http.Request, resp *http.Response, respOps headerOps) (int, bool) {
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	removeHopByHop(h)
	delete(h, "Trailer")
	respOps.apply(h)
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	w.WriteHeader(resp.StatusCode)
	var err error
	if resp.ContentLength < 0 {
		err = copyFlushing(w, resp.Body)
	} else {
		_, err = io.Copy(w, resp.Body)
	}
	if err != nil {
		return resp.StatusCode, true
	}
	// The trailers as they arrived, declared or not (an undeclared one, such as gRPC's
	// grpc-status from a server that did not announce it, is only known now): TrailerPrefix
	// sends either.
	for k, vs := range resp.Trailer {
		h[http.TrailerPrefix+k] = vs
	}
	return resp.StatusCode, false
}

func copyFlushing(w http.ResponseWriter, r io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// mirror sends a copy of the request to the mirror policy's cluster, asynchronously: its
// authority gets the "-shadow" suffix, its response is discarded, and it never delays or
// fails the main request. Mirrors above the edge's bounds are dropped and counted.
func (e *Edge) mirror(s *snapshot, m *mirrorPolicy, fwd *forward, timeout time.Duration) {
	cl := s.clusters[m.cluster]
	if cl == nil {
		e.m.mirrors.WithLabelValues(labelNone, "dropped_no_cluster").Inc()
		return
	}
	size := int64(len(fwd.body))
	if !e.mirrors.acquire(size) {
		e.m.mirrors.WithLabelValues(m.cluster, "dropped_full").Inc()
		return
	}
	host := shadowHost(fwd.host)
	method, path, body, ref := fwd.method, fwd.path, fwd.body, fwd.ref
	h := fwd.header.Clone()
	ref.acquire()
	go func() {
		defer ref.done()
		defer e.mirrors.release(size)
		ctx := e.mirrorCtx
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		ep, ok := cl.pick()
		if !ok {
			e.m.mirrors.WithLabelValues(m.cluster, "failed").Inc()
			return
		}
		if !cl.acquire() {
			e.m.mirrors.WithLabelValues(m.cluster, "dropped_overflow").Inc()
			return
		}
		defer cl.release()
		req, err := upstreamRequest(ctx, ep, method, path, host, h, body, ref)
		if err != nil {
			e.m.mirrors.WithLabelValues(m.cluster, "failed").Inc()
			return
		}
		resp, err := cl.transport.RoundTrip(req)
		if err != nil {
			e.m.mirrors.WithLabelValues(m.cluster, "failed").Inc()
			return
		}
		drain(resp.Body)
		e.m.mirrors.WithLabelValues(m.cluster, "sent").Inc()
	}()
}

// shadowHost appends "-shadow" to the host part of an authority, before the port (Envoy's
// shadowAppendedHost).
func shadowHost(host string) string {
	if i := portStart(host); i >= 0 {
		return host[:i] + "-shadow" + host[i:]
	}
	return host + "-shadow"
}

// portStart is Envoy's HeaderUtility::getPortStart: the index of the ':' before the port,
// or -1.
func portStart(host string) int {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return -1
	}
	if j := strings.LastIndexByte(host, ']'); j > i {
		return -1
	}
	return i
}

// upstreamRequest builds one attempt to endpoint ep (host:port) over plaintext HTTP/1.1. Its
// body holds a reference of ref until the transport closes it.
func upstreamRequest(ctx context.Context, ep, method, path, host string, h http.Header, body []byte, ref *bodyRef) (*http.Request, error) {
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = "http", ep
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       host,
	}
	if len(body) > 0 {
		ref.acquire()
		req.Body = &refBody{Reader: bytes.NewReader(body), ref: ref}
		req.ContentLength = int64(len(body))
	} else {
		req.Body = http.NoBody
	}
	return req.WithContext(ctx), nil
}

// isConnectError reports whether err means the connection to the upstream could not be made.
func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// drain reads a little of a discarded body so that its connection can be reused, and
// closes it.
func drain(b io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, b, maxDrainBytes)
	_ = b.Close()
}

// reply writes a reply the edge makes itself, as Envoy's sendLocalReply does: content-type
// text/plain with a body. A 503 of the edge's own carries Retry-After (invariant 2).
func (e *Edge) reply(w http.ResponseWriter, r *http.Request, status int, body string, retryAfter bool, extra http.Header) {
	h := w.Header()
	for k, vs := range extra {
		h[k] = vs
	}
	if body != "" {
		h.Set("Content-Type", "text/plain")
	}
	if retryAfter {
		h.Set("Retry-After", strconv.Itoa(int(e.cfg.RetryAfter/time.Second)))
	}
	writeBody(w, r, status, []byte(body))
}

// writeLocal writes the filter's local reply.
func writeLocal(w http.ResponseWriter, r *http.Request, lr *envoyhost.LocalReply) {
	h := w.Header()
	for k, vs := range lr.Header {
		h[k] = vs
	}
	writeBody(w, r, lr.Status, lr.Body)
}

func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead && len(body) > 0 {
		_, _ = w.Write(body)
	}
}

var errBodyTooLarge = errors.New("request body too large")

// readBody reads a request body of at most limit bytes.
// bodyErrorStatus is the status of a request whose body could not be read: 413 above the
// buffer limit, 408 when it stalled past the body idle timeout, else 400.
func bodyErrorStatus(err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, service.ErrBodyIdle):
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// bodyErrorText is the body of a bodyErrorStatus answer: Envoy's "stream timeout" for 408.
func bodyErrorText(status int) string {
	if status == http.StatusRequestTimeout {
		return bodyStreamTimeout
	}
	return ""
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// hopByHop are the connection-specific headers a proxy does not forward.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Proxy-Authenticate"}

// removeHopByHop removes the connection-specific headers, and those Connection names.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				delete(h, http.CanonicalHeaderKey(tok))
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
	if te := h["Te"]; len(te) > 0 {
		// Only "te: trailers" passes (Envoy).
		if len(te) == 1 && strings.EqualFold(strings.TrimSpace(te[0]), "trailers") {
			h["Te"] = []string{"trailers"}
		} else {
			delete(h, "Te")
		}
	}
}

// prepare does the HTTP connection manager's work on a request before the filter sees it, in
// Envoy's order: the early header mutation, the connection-specific headers, headers with
// underscores, path normalization, then what use_remote_address does at the first proxy:
// x-forwarded-for gets the peer address, x-forwarded-proto is https, x-request-id is a new
// one. It returns false when the request must be rejected (400).
func (e *Edge) prepare(r *http.Request, h *hcmConfig) bool {
	hd := r.Header
	for _, k := range h.earlyRemove {
		delete(hd, k)
	}
	removeHopByHop(hd)
	delete(hd, "Expect") // Envoy answers 100-continue itself and does not forward Expect
	if h.dropUnderscores {
		for k := range hd {
			if strings.IndexByte(k, '_') >= 0 {
				delete(hd, k)
			}
		}
	}
	if (h.normalizePath || h.mergeSlashes) && !normalizeRequest(r.URL, h.normalizePath, h.mergeSlashes) {
		return false
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := hd["X-Forwarded-For"]; len(prior) > 0 {
			hd["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ip}
		} else {
			hd["X-Forwarded-For"] = []string{ip}
		}
	}
	hd["X-Forwarded-Proto"] = []string{"https"}
	hd["X-Request-Id"] = []string{requestID()}
	return true
}

// requestID returns a random UUID (version 4), as Envoy's x-request-id.
func requestID() string {
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(out)
}

// connGenKey is the context key of a connection's listener generation: e.listenerGen when it
// was accepted.
type connGenKey struct{}

// connContext records the listener generation a connection is accepted under.
func (e *Edge) connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connGenKey{}, e.listenerGen.Load())
}

// drainIfListenerChanged returns w, or, when the listener changed since r's connection was
// accepted, a writer whose response carries Connection: close: HTTP/1.1 closes the connection
// after it, HTTP/2 sends GOAWAY and closes once its streams are done. This is Envoy's drain
// of a changed filter chain, minus the drain timer (idle connections drain at their next
// request). Requests served by Handler without the edge's server are never drained.
func (e *Edge) drainIfListenerChanged(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	g, ok := r.Context().Value(connGenKey{}).(uint64)
	if !ok || g == e.listenerGen.Load() {
		return w
	}
	e.m.listenerDrains.Inc()
	return &drainingWriter{ResponseWriter: w}
}

// drainingWriter adds Connection: close to the final response's headers.
type drainingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (d *drainingWriter) WriteHeader(code int) {
	if !d.wrote && code >= http.StatusOK {
		d.wrote = true
		d.Header().Set("Connection", "close")
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *drainingWriter) Write(b []byte) (int, error) {
	if !d.wrote {
		d.WriteHeader(http.StatusOK)
	}
	return d.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer (Flush).
func (d *drainingWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
