package report

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/metricdef"
)

// Defaults of the reporter.
const (
	// DefaultInterval is how often a reporter sends a report.
	DefaultInterval = time.Second
	// DefaultMaxRetain is how long a reporter keeps the counts of a report the control plane
	// did not take, retrying it, before it drops them.
	DefaultMaxRetain = 60 * time.Second
	// DefaultTimeout bounds one POST.
	DefaultTimeout = 5 * time.Second
	// MinInterval and MaxInterval bound Config.Interval.
	MinInterval = 100 * time.Millisecond
	MaxInterval = time.Minute
)

// Config configures a reporter of a service (normalizer, loader): the `report` section of its
// configuration. The zero value turns reporting off.
type Config struct {
	// URL is the control plane's admin URL (scheme, host and port, e.g.
	// http://127.0.0.1:9090); reports go to URL + Path. Empty: reporting is off.
	URL string `yaml:"url"`
	// TokenFile is a file holding the report bearer token (surrounding whitespace ignored),
	// read once at startup. Required with URL.
	TokenFile string `yaml:"token_file"`
	// Interval is how often a report is sent, from 100 ms to 1 min. Default 1 s.
	Interval time.Duration `yaml:"interval"`
}

// Validate reports every problem at once, naming its key. A zero Config is valid (off).
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		if c.TokenFile != "" {
			errs = append(errs, errors.New("token_file: set without url; set url too, or leave both out to turn reporting off"))
		}
	} else {
		if err := validURL(c.URL); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
		if c.TokenFile == "" {
			errs = append(errs, errors.New("token_file: required with url (a file holding the control plane's report token)"))
		}
	}
	if c.Interval != 0 && (c.Interval < MinInterval || c.Interval > MaxInterval) {
		errs = append(errs, fmt.Errorf("interval: %v must be from %v to %v (0 means %v)", c.Interval, MinInterval, MaxInterval, DefaultInterval))
	}
	return errors.Join(errs...)
}

// validURL checks a report URL: http or https with a host, no query or fragment.
func validURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("cannot parse %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be an http or https URL with a host and no query, e.g. http://127.0.0.1:9090", s)
	}
	return nil
}

// Endpoint is where a reporter sends its reports.
type Endpoint struct {
	// URL is the control plane's base URL; reports go to URL + Path. Empty: off.
	URL string
	// Token is the report bearer token; required with URL.
	Token string
	// Interval between reports; 0 means DefaultInterval.
	Interval time.Duration
}

// Validate checks e; the zero Endpoint (off) is valid.
func (e Endpoint) Validate() error {
	if e.URL == "" {
		return nil
	}
	var errs []error
	if err := validURL(e.URL); err != nil {
		errs = append(errs, fmt.Errorf("report url: %w", err))
	}
	if e.Token == "" {
		errs = append(errs, errors.New("report token: required with a report url"))
	}
	if e.Interval != 0 && (e.Interval < MinInterval || e.Interval > MaxInterval) {
		errs = append(errs, fmt.Errorf("report interval: %v must be from %v to %v", e.Interval, MinInterval, MaxInterval))
	}
	return errors.Join(errs...)
}

// Options are a reporter's fixed settings. Zero fields take their defaults.
type Options struct {
	// Source is SourceEdge, SourceNormalizer or SourceLoader. Required.
	Source string
	// Instance identifies the process; default: the host name, "-" and 8 random hex digits.
	Instance string
	// MaxTenants bounds the tenants counted per interval; observations of further tenants are
	// dropped and counted (ingest_report_dropped_observations_total). Default MaxTenants.
	MaxTenants int
	// MaxRetain is how long a report the control plane did not take is retried before its
	// counts are dropped. Default DefaultMaxRetain.
	MaxRetain time.Duration
	// Timeout bounds one POST. Default DefaultTimeout.
	Timeout time.Duration
	// Client sends the reports; default a client of its own.
	Client *http.Client
	// Registerer takes the reporter's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Log receives state changes (sending fails, sending recovers); nil discards them.
	Log *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnQuotaReply receives the control plane's quota shares whenever it answers a report
	// with them (edges); nil ignores them.
	OnQuotaReply func(*QuotaReply)
}

// Delta is one observation of a tenant: every count is added to the same field of the tenant's
// Counts.
type Delta struct {
	V1AcceptedEvents, V1Requests, V2AcceptedEvents, V2Requests, V2ServerErrors uint64
	LandedLiveEvents, LandedShadowEvents                                       uint64
	AdmittedRequests, AdmittedEvents, AdmittedBytes, RefusedRequests           uint64
	// V2Latency is the latency of the V2Requests requests: V2Requests is added to its
	// V2LatencyBuckets bucket. Ignored when V2Requests is 0.
	V2Latency time.Duration
}

// Stats are a reporter's counters since it started, for tests and status pages.
type Stats struct {
	Sent, Failed, DroppedReports, DroppedObservations uint64
	// Seq is the Seq of the last report built.
	Seq uint64
}

// numBuckets is the length of Counts.V2LatencyBuckets.
var numBuckets = len(LatencyBucketsMs) + 1

// acc are one tenant's counts in the current interval. Guarded by Reporter.mu.
type acc struct {
	v1Events, v1Requests, v2Events, v2Requests, v2Errors, live, shadow uint64
	admReqs, admEvents, admBytes, refReqs                              uint64
	buckets                                                            [16]uint64 // numBuckets used
}

func (a *acc) zero() bool { return *a == acc{} }

// Reporter accumulates per-tenant counts and sends them to the control plane every interval
// (see the package documentation for the wire format). Add is cheap and never blocks on the
// network: a mutex-guarded map, no allocation for a tenant already seen in the previous or the
// current interval. A nil *Reporter is valid and counts nothing. A Reporter is safe for
// concurrent use.
//
// Sending: one report per interval, Seq +1 per new report. A report the control plane did not
// take (a transport error, 5xx, 408 or 429) is retried unchanged, with its Seq, at the next
// interval, before the counts gathered since then are sent as the next report: the control
// plane deduplicates (Instance, Seq), so a report whose answer was lost counts once. After
// MaxRetain of failures, or at once for any other 4xx, the report is dropped and counted.
type Reporter struct {
	opts   Options
	bounds [16]time.Duration // latency upper bounds; numBuckets-1 used
	client *http.Client
	m      *reporterMetrics

	enabled atomic.Bool
	target  atomic.Pointer[Endpoint]
	wake    chan struct{}

	mu       sync.Mutex
	cur      map[string]*acc
	curStart time.Time
	dropObs  uint64

	// Owned by the loop goroutine (and by Close once the loop stopped).
	pending      *Report
	pendingSince time.Time
	failing      bool

	seq, sent, failed, droppedReports atomic.Uint64

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	started   atomic.Bool
}

// New returns a reporter without an endpoint: it counts nothing until SetEndpoint gives it one.
// It fails only on bad options or when its metrics cannot be registered.
func New(opts Options) (*Reporter, error) {
	switch opts.Source {
	case SourceEdge, SourceNormalizer, SourceLoader:
	default:
		return nil, fmt.Errorf("cannot create reporter: source %q must be %q, %q or %q", opts.Source, SourceEdge, SourceNormalizer, SourceLoader)
	}
	if opts.Instance == "" {
		opts.Instance = defaultInstance()
	}
	if len(opts.Instance) > MaxInstanceLen {
		return nil, fmt.Errorf("cannot create reporter: instance of %d bytes exceeds the %d-byte limit", len(opts.Instance), MaxInstanceLen)
	}
	if opts.MaxTenants <= 0 || opts.MaxTenants > MaxTenants {
		opts.MaxTenants = MaxTenants
	}
	if opts.MaxRetain <= 0 {
		opts.MaxRetain = DefaultMaxRetain
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Reporter{
		opts:   opts,
		client: opts.Client,
		wake:   make(chan struct{}, 1),
		cur:    make(map[string]*acc),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if r.client == nil {
		r.client = &http.Client{}
	}
	for i, ms := range LatencyBucketsMs {
		r.bounds[i] = time.Duration(ms * float64(time.Millisecond))
	}
	r.m = newReporterMetrics()
	if err := metricdef.Register(opts.Registerer, r.m.reports, r.m.dropped); err != nil {
		return nil, fmt.Errorf("cannot register reporter metrics: %w", err)
	}
	r.target.Store(&Endpoint{})
	return r, nil
}

// Open returns the reporter a service's cfg describes, reading its token file, and starts it;
// nil (reporting off) when cfg.URL is empty. Close it at shutdown.
func Open(cfg Config, opts Options) (*Reporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid report config: %w", err)
	}
	if cfg.URL == "" {
		return nil, nil
	}
	b, err := os.ReadFile(cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read report token file %q: %w", cfg.TokenFile, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return nil, fmt.Errorf("report token file %q is empty", cfg.TokenFile)
	}
	r, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := r.SetEndpoint(Endpoint{URL: cfg.URL, Token: tok, Interval: cfg.Interval}); err != nil {
		return nil, err
	}
	return r, nil
}

// defaultInstance is the host name and a random suffix.
func defaultInstance() string {
	host, _ := os.Hostname()
	if len(host) > 100 {
		host = host[:100]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	if host == "" {
		host = "ingest"
	}
	return host + "-" + hex.EncodeToString(b[:])
}

// Instance returns the reporter's instance name.
func (r *Reporter) Instance() string { return r.opts.Instance }

// SetEndpoint sets where reports go and how often, and starts sending at the first endpoint
// with a URL. An endpoint without URL turns counting off (counts not yet sent are dropped at
// the next interval). Safe to call at any time, e.g. on every configuration push: an unchanged
// endpoint changes nothing. It returns an error, and changes nothing, for an invalid endpoint.
func (r *Reporter) SetEndpoint(e Endpoint) error {
	if r == nil {
		return nil
	}
	if err := e.Validate(); err != nil {
		return err
	}
	if e.Interval == 0 {
		e.Interval = DefaultInterval
	}
	if old := r.target.Load(); *old == e {
		return nil
	}
	select {
	case <-r.stop:
		return errors.New("cannot set the report endpoint: the reporter is closed")
	default:
	}
	r.target.Store(&e)
	r.enabled.Store(e.URL != "")
	if e.URL != "" {
		r.startOnce.Do(func() {
			r.mu.Lock()
			r.curStart = r.opts.Now()
			r.mu.Unlock()
			r.started.Store(true)
			go r.loop()
		})
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Enabled reports whether the reporter counts (it has an endpoint with a URL).
func (r *Reporter) Enabled() bool { return r != nil && r.enabled.Load() }

// Add adds d to tenant's counts of the current interval. It never blocks on the network and
// does not allocate for a tenant counted in this or the previous interval. Beyond
// Options.MaxTenants tenants in one interval, the observation is dropped and counted.
func (r *Reporter) Add(tenant string, d Delta) {
	if r == nil || !r.enabled.Load() {
		return
	}
	b := -1
	if d.V2Requests > 0 {
		b = numBuckets - 1
		for i := range numBuckets - 1 {
			if d.V2Latency <= r.bounds[i] {
				b = i
				break
			}
		}
	}
	r.mu.Lock()
	a := r.cur[tenant]
	if a == nil {
		if len(r.cur) >= r.opts.MaxTenants {
			r.dropObs++
			r.mu.Unlock()
			r.m.tooManyTenants.Inc()
			return
		}
		a = new(acc)
		r.cur[strings.Clone(tenant)] = a
	}
	a.v1Events += d.V1AcceptedEvents
	a.v1Requests += d.V1Requests
	a.v2Events += d.V2AcceptedEvents
	a.v2Requests += d.V2Requests
	a.v2Errors += d.V2ServerErrors
	a.live += d.LandedLiveEvents
	a.shadow += d.LandedShadowEvents
	a.admReqs += d.AdmittedRequests
	a.admEvents += d.AdmittedEvents
	a.admBytes += d.AdmittedBytes
	a.refReqs += d.RefusedRequests
	if b >= 0 {
		a.buckets[b] += d.V2Requests
	}
	r.mu.Unlock()
}

// Stats returns the reporter's counters.
func (r *Reporter) Stats() Stats {
	if r == nil {
		return Stats{}
	}
	r.mu.Lock()
	dropObs := r.dropObs
	r.mu.Unlock()
	return Stats{Sent: r.sent.Load(), Failed: r.failed.Load(), DroppedReports: r.droppedReports.Load(),
		DroppedObservations: dropObs, Seq: r.seq.Load()}
}

// Close stops the reporter after a final flush: the report being retried and the counts of
// the current interval are sent once more, within ctx. Idempotent; Add counts nothing after it.
func (r *Reporter) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		if !r.started.Load() {
			r.enabled.Store(false)
			return
		}
		<-r.done
		r.enabled.Store(false)
		err = r.flush(ctx, true)
	})
	return err
}

// loop sends a report every interval until Close.
func (r *Reporter) loop() {
	defer close(r.done)
	t := time.NewTimer(r.target.Load().Interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
			// The interval may have changed: restart the timer.
		case <-t.C:
			_ = r.flush(ctx, false)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(r.target.Load().Interval)
	}
}

// flush sends the pending report, if any, and then the counts of the interval that ends now.
// At the last flush (Close) the pending report is dropped if it fails again.
func (r *Reporter) flush(ctx context.Context, last bool) error {
	e := *r.target.Load()
	now := r.opts.Now()
	if e.URL == "" {
		r.mu.Lock()
		clear(r.cur)
		r.curStart = now
		r.mu.Unlock()
		r.dropPending("off")
		return nil
	}
	if r.pending != nil {
		err := r.send(ctx, e, r.pending)
		switch {
		case err == nil:
			r.pending = nil
		case last || now.Sub(r.pendingSince) >= r.opts.MaxRetain || !retriable(err):
			r.dropPending(dropReason(err, last)) // and go on with the current counts
		default:
			return err // the current counts wait for the pending report
		}
	}
	// An interval without counts is reported too: the control plane tells a quiet reporter
	// from a dead one by its reports, and counts a bucket for the gate only when reports of
	// edges and loaders arrived in it.
	rep := r.take(now)
	if rep.Tenants == nil {
		rep.Tenants = map[string]Counts{}
	}
	rep.Seq = r.seq.Add(1)
	if err := r.send(ctx, e, rep); err != nil {
		if last || !retriable(err) {
			r.m.reports.WithLabelValues("dropped").Inc()
			r.droppedReports.Add(1)
			return err
		}
		r.pending, r.pendingSince = rep, now
		return err
	}
	return nil
}

func dropReason(err error, last bool) string {
	switch {
	case !retriable(err):
		return "rejected"
	case last:
		return "closed"
	}
	return "retention"
}

func (r *Reporter) dropPending(reason string) {
	if r.pending == nil {
		return
	}
	r.opts.Log.Warn("dropping a report the control plane did not take", "seq", r.pending.Seq,
		"tenants", len(r.pending.Tenants), "reason", reason)
	r.pending = nil
	r.m.reports.WithLabelValues("dropped").Inc()
	r.droppedReports.Add(1)
}

// take returns the counts of the interval that ends at now and starts the next one. Tenants
// without counts in the interval are forgotten, which keeps the map bounded by the active ones.
func (r *Reporter) take(now time.Time) *Report {
	rep := &Report{Source: r.opts.Source, Instance: r.opts.Instance}
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Start, rep.End = r.curStart.UnixMilli(), now.UnixMilli()
	if rep.End < rep.Start {
		rep.End = rep.Start
	}
	if rep.End == 0 {
		rep.End = 1
	}
	r.curStart = now
	for id, a := range r.cur {
		if a.zero() {
			delete(r.cur, id)
			continue
		}
		if rep.Tenants == nil {
			rep.Tenants = make(map[string]Counts, len(r.cur))
		}
		c := Counts{
			V1AcceptedEvents: a.v1Events, V1Requests: a.v1Requests,
			V2AcceptedEvents: a.v2Events, V2Requests: a.v2Requests, V2ServerErrors: a.v2Errors,
			LandedLiveEvents: a.live, LandedShadowEvents: a.shadow,
			AdmittedRequests: a.admReqs, AdmittedEvents: a.admEvents, AdmittedBytes: a.admBytes, RefusedRequests: a.refReqs,
		}
		if a.v2Requests > 0 {
			c.V2LatencyBuckets = append([]uint64(nil), a.buckets[:numBuckets]...)
		}
		rep.Tenants[id] = c
		*a = acc{}
	}
	return rep
}

// statusError is an answer other than 2xx.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("control plane answered %d: %s", e.status, e.body)
}

// retriable reports whether a failed POST may succeed later: transport errors, 5xx, 408, 429.
func retriable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.status >= 500 || se.status == http.StatusRequestTimeout || se.status == http.StatusTooManyRequests
	}
	return true
}

// send POSTs rep and logs the changes between failing and succeeding.
func (r *Reporter) send(ctx context.Context, e Endpoint, rep *Report) error {
	err := r.post(ctx, e, rep)
	if err != nil {
		r.failed.Add(1)
		r.m.reports.WithLabelValues("failed").Inc()
		if !r.failing {
			r.failing = true
			r.opts.Log.Warn("cannot send report to the control plane; retrying", "url", e.URL+Path, "seq", rep.Seq, "error", err)
		}
		return err
	}
	r.sent.Add(1)
	r.m.reports.WithLabelValues("sent").Inc()
	if r.failing {
		r.failing = false
		r.opts.Log.Info("sending reports to the control plane again", "url", e.URL+Path, "seq", rep.Seq)
	}
	return nil
}

func (r *Reporter) post(ctx context.Context, e Endpoint, rep *Report) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(e.URL, "/")+Path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cannot build report request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.Token)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot post report to %q: %w", e.URL+Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && r.opts.OnQuotaReply != nil {
		var qr QuotaReply
		if err := json.NewDecoder(io.LimitReader(resp.Body, MaxBodyBytes)).Decode(&qr); err != nil {
			return nil // the report was taken; a reply that does not decode leaves the shares as they are
		}
		r.opts.OnQuotaReply(&qr)
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{status: resp.StatusCode, body: strings.TrimSpace(string(msg))}
	}
	return nil
}

type reporterMetrics struct {
	reports *prometheus.CounterVec // result: sent, failed, dropped
	dropped *prometheus.CounterVec // reason: too_many_tenants

	tooManyTenants prometheus.Counter
}

func newReporterMetrics() *reporterMetrics {
	m := &reporterMetrics{
		reports: metricdef.CounterVec("ingest_report_reports_total",
			"Parity reports by result: sent, failed (a POST the control plane did not take; retried) and dropped (given up after the retention, a 4xx answer or at close).", "result"),
		dropped: metricdef.CounterVec("ingest_report_dropped_observations_total",
			"Observations not counted in parity reports, by reason (too_many_tenants: more tenants in one interval than the bound).", "reason"),
	}
	for _, res := range []string{"sent", "failed", "dropped"} {
		m.reports.WithLabelValues(res)
	}
	m.tooManyTenants = m.dropped.WithLabelValues("too_many_tenants")
	return m
}
