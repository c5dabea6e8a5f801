package loadgen

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// Runner runs one load test. Create it with New; Run may be called once.
type Runner struct {
	cfg     Config
	vis     Visibility
	target  string
	clients []*http.Client
	pools   map[string]*bodyPool // tenant → bodies
	now     func() time.Time
}

// bodyPool holds a tenant's pre-generated bodies by format and signal.
type bodyPool struct {
	formats weighted[Format]
	signals weighted[Signal]
	bodies  map[Format]map[Signal][]*Body
}

// New validates cfg, reads the CA file and pre-generates every tenant's bodies. vis may be nil:
// then no markers are sent and the report has no end-to-end latency.
func New(cfg Config, vis Visibility) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid loadgen config: %w", err)
	}
	r := &Runner{cfg: cfg, vis: vis, target: strings.TrimRight(cfg.Target, "/"), pools: make(map[string]*bodyPool), now: time.Now}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure} //nolint:gosec // --insecure is for dev
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read CA file %q: %w", cfg.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cannot use CA file %q: no PEM certificate in it", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	for range cfg.Connections {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsCfg.Clone(),
			TLSHandshakeTimeout: 5 * time.Second,
			IdleConnTimeout:     90 * time.Second,
			MaxIdleConnsPerHost: cfg.Concurrency,
			Protocols:           new(http.Protocols),
		}
		tr.Protocols.SetHTTP1(true)
		if cfg.HTTP1 {
			tr.MaxConnsPerHost = 1
		} else {
			tr.Protocols.SetHTTP2(true)
		}
		r.clients = append(r.clients, &http.Client{Transport: tr, Timeout: cfg.RequestTimeout})
	}
	seed := uint64(cfg.Seed)
	for i, t := range cfg.Tenants {
		g := &generator{rng: rand.New(rand.NewPCG(seed, uint64(i))), now: time.Now}
		bp := &bodyPool{formats: newWeighted(cfg.Formats), signals: newWeighted(cfg.Signals), bodies: make(map[Format]map[Signal][]*Body)}
		for _, f := range bp.formats.keys {
			bp.bodies[f] = make(map[Signal][]*Body)
			for _, s := range bp.signals.keys {
				for range cfg.PoolSize {
					b, err := g.Generate(f, s, cfg.BatchSize)
					if err != nil {
						return nil, fmt.Errorf("cannot generate bodies of tenant %q: %w", t.Name, err)
					}
					bp.bodies[f][s] = append(bp.bodies[f][s], b)
				}
			}
		}
		r.pools[t.Name] = bp
	}
	return r, nil
}

// job is one request for a worker.
type job struct {
	tenant *tenantState
	body   *Body  // a paced request; nil for a marker
	marker string // the marker text of a marker request
	seq    uint64
}

type tenantState struct {
	Tenant
	stats       *tenantStats
	pausedUntil atomic.Int64 // unix ns; Retry-After with RespectRetryAfter
}

// Run sends load until cfg.Duration passed or ctx is done, waits for requests in flight (each
// bounded by RequestTimeout), waits up to MarkerGrace for outstanding markers, and returns the
// report. It returns an error only when ctx is done before the report is complete; the report is
// still returned then, with what was measured.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	start := r.now()
	total := &tenantStats{}
	stats := make(map[string]*tenantStats)
	tenants := make([]*tenantState, len(cfg.Tenants))
	for i, t := range cfg.Tenants {
		tenants[i] = &tenantState{Tenant: t, stats: &tenantStats{}}
		stats[t.Name] = tenants[i].stats
	}
	var markers *markerTracker
	if r.vis != nil && cfg.MarkerInterval > 0 {
		markers = newMarkerTracker(r.vis, r.now, stats, total)
	}

	sendCtx, stopSending := context.WithTimeout(ctx, cfg.Duration)
	defer stopSending()
	jobs := make(chan job, cfg.Concurrency)
	var seq atomic.Uint64

	workers := cfg.Concurrency
	if cfg.HTTP1 && workers > cfg.Connections {
		workers = cfg.Connections
	}
	var wg sync.WaitGroup
	for i := range workers {
		client := r.clients[i%len(r.clients)]
		wg.Go(func() {
			for j := range jobs {
				if sendCtx.Err() != nil {
					continue // hard stop: nothing starts after the deadline
				}
				r.do(ctx, client, j, total, markers)
			}
		})
	}

	var producers sync.WaitGroup
	for i, t := range tenants {
		producers.Go(func() {
			r.pace(sendCtx, t, r.pools[t.Name], rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)+1000)), jobs, &seq)
		})
		if markers != nil && (len(cfg.MarkerTenants) == 0 || slices.Contains(cfg.MarkerTenants, t.Name)) {
			producers.Go(func() { sendMarkers(sendCtx, cfg.MarkerInterval, t, jobs) })
		}
	}
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	var pollers sync.WaitGroup
	if markers != nil {
		pollers.Go(func() { markers.run(pollCtx, cfg.PollInterval) })
	}
	progressCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	var progress sync.WaitGroup
	if cfg.Progress != nil {
		progress.Go(func() { r.progress(progressCtx, start, total, markers) })
	}

	producers.Wait()
	sendEnd := r.now()
	close(jobs)
	wg.Wait()
	end := r.now()

	if markers != nil {
		grace := time.NewTimer(cfg.MarkerGrace)
		tick := time.NewTicker(cfg.PollInterval)
	wait:
		for markers.outstanding() > 0 {
			select {
			case <-ctx.Done():
				break wait
			case <-grace.C:
				break wait
			case <-tick.C:
			}
		}
		grace.Stop()
		tick.Stop()
		stopPolling()
		pollers.Wait() // the poller may record markers until here
		markers.expire()
	}
	stopProgress()
	progress.Wait()

	rep := &Report{Target: cfg.Target, Started: start, Duration: round3(end.Sub(start).Seconds()), E2E: markers != nil}
	window := sendEnd.Sub(start).Seconds()
	for _, t := range tenants {
		rep.Tenants = append(rep.Tenants, t.stats.report(t.Name, t.Profile.String(), window))
	}
	rep.Total = total.report("total", "", window)
	if markers != nil {
		rep.PollErrors, _ = markers.errors()
		if _, err := markers.errors(); err != nil {
			rep.LastPollError = err.Error()
		}
	}
	return rep, ctx.Err()
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// pace is a tenant's token bucket: tokens accrue at the profile's rate; a request of BatchSize
// events is queued whenever the bucket holds that many. The bucket holds at most a quarter
// second of events (at least one batch), so a stall does not turn into a burst later.
func (r *Runner) pace(ctx context.Context, t *tenantState, bp *bodyPool, rng *rand.Rand, jobs chan<- job, seq *atomic.Uint64) {
	const tick = 5 * time.Millisecond
	batch := float64(r.cfg.BatchSize)
	start := r.now()
	last := start
	tokens := 0.0
	every(ctx, tick, func() bool {
		now := r.now()
		rate := t.Profile.RateAt(now.Sub(start))
		if now.UnixNano() < t.pausedUntil.Load() {
			tokens, last = 0, now
			return true
		}
		tokens += rate * now.Sub(last).Seconds()
		last = now
		if limit := max(batch, rate/4); tokens > limit {
			tokens = limit
		}
		for tokens >= batch {
			tokens -= batch
			f := bp.formats.pick(rng.IntN(bp.formats.total()))
			s := bp.signals.pick(rng.IntN(bp.signals.total()))
			list := bp.bodies[f][s]
			if !send(ctx, jobs, job{tenant: t, body: list[rng.IntN(len(list))], seq: seq.Add(1)}) {
				return false
			}
		}
		return true
	})
}

// sendMarkers queues a marker request for t every interval.
func sendMarkers(ctx context.Context, interval time.Duration, t *tenantState, jobs chan<- job) {
	every(ctx, interval, func() bool {
		var id [16]byte
		_, _ = crand.Read(id[:])
		return send(ctx, jobs, job{tenant: t, marker: MarkerPrefix + hex.EncodeToString(id[:])})
	})
}

// every calls f every interval (the first time after one interval) until ctx is done or f
// returns false.
func every(ctx context.Context, interval time.Duration, f func() bool) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if !f() {
			return
		}
	}
}

// send queues j, and reports false instead when ctx is done first.
func send(ctx context.Context, jobs chan<- job, j job) bool {
	select {
	case jobs <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

// do sends one request and records its outcome.
func (r *Runner) do(ctx context.Context, client *http.Client, j job, total *tenantStats, markers *markerTracker) {
	var (
		data        []byte
		path, ctype string
		events      int
	)
	sentAt := r.now()
	if j.body != nil {
		data, path, ctype, events = j.body.Stamp(j.seq), j.body.Path, j.body.ContentType, j.body.Events
	} else {
		data, path, ctype = markerBody(j.marker, sentAt), "/v1/events", "application/x-ndjson"
		markers.add(j.tenant.Name, j.marker, sentAt)
	}
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, r.target+path, bytes.NewReader(data))
	if err != nil {
		panic(fmt.Sprintf("loadgen: cannot build request for %q: %v", r.target+path, err)) // target validated in New
	}
	req.Header.Set("Authorization", "Bearer "+j.tenant.Key)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "ingest-loadgen")
	grpc := j.body != nil && j.body.Format == FormatOTLPGRPC
	if grpc {
		req.Header.Set("TE", "trailers")
	}
	resp, err := client.Do(req)
	o := outcomeTransportError
	retryAfter := ""
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		retryAfter = resp.Header.Get("Retry-After")
		status := resp.StatusCode
		if grpc && status == http.StatusOK {
			status = grpcOutcome(resp)
		}
		switch {
		case status >= 200 && status < 300:
			o = outcomeAccepted
		case status == http.StatusTooManyRequests:
			o = outcome429
		case status == http.StatusServiceUnavailable:
			o = outcome503
		default:
			o = outcomeOtherStatus
		}
	}
	latency := r.now().Sub(sentAt)
	if j.body == nil {
		if o != outcomeAccepted {
			markers.drop(j.tenant.Name, j.marker)
		}
		return
	}
	j.tenant.stats.record(events, o, retryAfter != "", latency)
	total.record(events, o, retryAfter != "", latency)
	if r.cfg.RespectRetryAfter && (o == outcome429 || o == outcome503) {
		if d, ok := parseRetryAfter(retryAfter, r.now()); ok {
			until := r.now().Add(d).UnixNano()
			for {
				cur := j.tenant.pausedUntil.Load()
				if cur >= until || j.tenant.pausedUntil.CompareAndSwap(cur, until) {
					break
				}
			}
		}
	}
}

// grpcOutcome maps a gRPC answer (grpc-status in the trailers, or in the headers of a
// trailers-only answer) to the HTTP status it stands for: OK 200, RESOURCE_EXHAUSTED 429,
// UNAVAILABLE 503, anything else (or none) 500.
func grpcOutcome(resp *http.Response) int {
	code := resp.Trailer.Get(grpcwire.HeaderStatus)
	if code == "" {
		code = resp.Header.Get(grpcwire.HeaderStatus)
	}
	switch code {
	case "0":
		return http.StatusOK
	case strconv.Itoa(grpcwire.ResourceExhausted):
		return http.StatusTooManyRequests
	case strconv.Itoa(grpcwire.Unavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// parseRetryAfter reads delay-seconds or an HTTP date; it caps the delay at 5 minutes.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), 5*time.Minute), true
}

// progress writes a line every ProgressInterval.
func (r *Runner) progress(ctx context.Context, start time.Time, total *tenantStats, markers *markerTracker) {
	every(ctx, r.cfg.ProgressInterval, func() bool {
		el := r.now().Sub(start)
		rep := total.report("total", "", el.Seconds())
		line := fmt.Sprintf("loadgen %5.1fs: requests=%d events=%d (%.0f/s) 2xx=%d 429=%d 503=%d other=%d errors=%d p99=%.1fms",
			el.Seconds(), rep.Requests, rep.Events, rep.EventsPerSec, rep.Accepted, rep.Status429, rep.Status503,
			rep.OtherStatus, rep.TransportErrors, rep.Latency.P99)
		if markers != nil {
			line += fmt.Sprintf(" markers visible=%d/%d e2e p99=%.0fms", rep.Markers.Visible, rep.Markers.Sent, rep.Markers.E2E.P99)
		}
		fmt.Fprintln(r.cfg.Progress, line)
		return true
	})
}
