package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/tenant"
	"github.com/ingestdev/ingest/internal/tenantrates"
)

// defaultScrapeTargets are the /metrics endpoints of the local stack (`ingest dev`, package
// devstack's DefaultConfig): the edge's admin listener, the normalizer, the sink writer and the
// loader. Each service serves /metrics on its own listener.
func defaultScrapeTargets() []tenantrates.Target {
	return []tenantrates.Target{
		{Name: "edge", URL: "http://127.0.0.1:9901/metrics"},
		{Name: "normalizer", URL: "http://127.0.0.1:4318/metrics"},
		{Name: "sinkwriter", URL: "http://127.0.0.1:4320/metrics"},
		{Name: "loader", URL: "http://127.0.0.1:9465/metrics"},
	}
}

// Bounds of `ingestctl top`.
const (
	minTopInterval     = 100 * time.Millisecond
	maxScrapeTimeout   = 10 * time.Second
	minScrapeTimeout   = time.Second
	quotaShareRequests = 4 // quota-shares requests in flight at once, per refresh
)

// topOptions are the flags of `ingestctl top`.
type topOptions struct {
	interval     time.Duration
	limit        int
	iterations   int // 0: until interrupted
	targets      scrapeTargets
	topicPattern string
}

// scrapeTargets is --scrape: name=URL, repeatable or comma separated. The first use replaces
// the defaults.
type scrapeTargets struct {
	targets []tenantrates.Target
	set     bool
}

func (s *scrapeTargets) String() string {
	if s == nil {
		return ""
	}
	parts := make([]string, 0, len(s.targets))
	for _, t := range s.targets {
		parts = append(parts, t.Name+"="+t.URL)
	}
	return strings.Join(parts, ",")
}

func (s *scrapeTargets) Set(v string) error {
	if !s.set {
		s.targets, s.set = nil, true
	}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, raw, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(raw) == "" {
			return fmt.Errorf("%q is not name=URL, e.g. normalizer=http://10.0.0.7:4318/metrics", part)
		}
		u, err := metricsURL(strings.TrimSpace(raw))
		if err != nil {
			return err
		}
		s.targets = append(s.targets, tenantrates.Target{Name: strings.TrimSpace(name), URL: u})
	}
	return nil
}

// metricsURL completes a target's address: http:// when it has no scheme, /metrics when it
// has no path ("10.0.0.7:4318" is http://10.0.0.7:4318/metrics).
func metricsURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL of a /metrics endpoint", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/metrics"
	}
	return u.String(), nil
}

// topCommands is `ingestctl top`: a live view per tenant of what the services' metrics and the
// control plane say (docs/controlplane.md, "ingestctl top").
func topCommands() []*command {
	return []*command{{group: "top", summary: "a live view per tenant: events/s accepted and rejected, 429/503, Kafka lag, p95 send→visible, stage and quota use",
		help: "ingestctl top reads the services' /metrics (--scrape, default: the local stack of `ingest dev`) and the\n" +
			"control plane's tenants and quota shares, and shows a frame every --interval with rates since the\n" +
			"previous one (the first frame comes after one interval). On a terminal it redraws in place until\n" +
			"interrupted; otherwise, or with --once or --iterations N, it prints plain frames; -o json prints one\n" +
			"JSON object per frame, one a line. A target that does not answer is shown down, not fatal.",
		setup: func(fs *flag.FlagSet) runFunc {
			o := topOptions{targets: scrapeTargets{targets: defaultScrapeTargets()}}
			fs.DurationVar(&o.interval, "interval", 2*time.Second, "time between frames (at least 100ms)")
			fs.IntVar(&o.limit, "limit", 20, "show the N tenants with the most events/s (0: all)")
			fs.IntVar(&o.iterations, "iterations", 0, "stop after N frames, printed plainly (default: until interrupted)")
			once := fs.Bool("once", false, "one frame, then exit (--iterations 1)")
			fs.Var(&o.targets, "scrape", "a service's /metrics to read, `name=URL` (repeatable, or comma separated; replicas may share a name)")
			fs.StringVar(&o.topicPattern, "topic-pattern", tenant.DefaultTopicPattern, "the sink writer's topic_pattern, to map the loaders' topics to tenants")
			return func(ctx context.Context, a *app, _ []string) error {
				if *once {
					if o.iterations > 1 {
						return usagef("--once is --iterations 1; not both")
					}
					o.iterations = 1
				}
				if err := o.validate(); err != nil {
					return err
				}
				// The control plane is read every frame: a slow one must not stall the view.
				c, err := a.client(client.WithHTTPClient(&http.Client{Timeout: scrapeTimeout(o.interval)}))
				if err != nil {
					return err
				}
				return a.top(ctx, c, o)
			}
		}}}
}

// validate reports every wrong flag at once.
func (o *topOptions) validate() error {
	var errs []string
	if o.interval < minTopInterval {
		errs = append(errs, fmt.Sprintf("--interval %v is below the %v minimum", o.interval, minTopInterval))
	}
	if o.limit < 0 {
		errs = append(errs, fmt.Sprintf("--limit %d: want 0 (all) or more", o.limit))
	}
	if o.iterations < 0 {
		errs = append(errs, fmt.Sprintf("--iterations %d: want 0 (until interrupted) or more", o.iterations))
	}
	if len(o.targets.targets) == 0 {
		errs = append(errs, "--scrape: no target; give name=URL")
	}
	if !strings.Contains(o.topicPattern, tenant.Placeholder) {
		errs = append(errs, fmt.Sprintf("--topic-pattern %q lacks %s", o.topicPattern, tenant.Placeholder))
	}
	if len(errs) > 0 {
		return usagef("%s", strings.Join(errs, "; "))
	}
	return nil
}

// scrapeTimeout bounds one scrape, and one request to the control plane: the interval, within
// [1 s, 10 s].
func scrapeTimeout(interval time.Duration) time.Duration {
	return min(max(interval, minScrapeTimeout), maxScrapeTimeout)
}

// top scrapes, waits an interval, and prints a frame after each further scrape, until ctx ends
// or o.iterations frames are printed. Targets and the control plane that fail are shown in the
// frame; only a token the control plane refuses, found at the start, or a failed write ends it.
func (a *app) top(ctx context.Context, c *client.Client, o topOptions) error {
	if _, err := c.ListTenants(ctx); errors.Is(err, client.ErrUnauthorized) {
		return a.explain(err, target{})
	}
	sc := &tenantrates.Scraper{Client: &http.Client{Timeout: scrapeTimeout(o.interval)}}
	redraw := a.output != "json" && o.iterations == 0 && a.outTTY != nil && a.outTTY()
	if redraw {
		fmt.Fprintf(a.stdout, "%singestctl top: the first frame comes in %v (rates need two scrapes)\n", clearScreen, o.interval)
	}
	prev, prevAt := sc.ScrapeAll(ctx, o.targets.targets), time.Now()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for n := 0; o.iterations == 0 || n < o.iterations; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, curAt := sc.ScrapeAll(ctx, o.targets.targets), time.Now()
		l, cpErr := c.ListTenants(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if cpErr != nil {
			cpErr = a.explain(cpErr, target{})
		}
		f := buildTopFrame(prev, cur, curAt.Sub(prevAt), l.Tenants, cpErr, o)
		f.ControlPlane.URL = a.server
		if cpErr == nil {
			addQuotaShares(ctx, c, f.Tenants)
		}
		if err := a.printTopFrame(f, redraw); err != nil {
			return err
		}
		prev, prevAt = cur, curAt
	}
	return nil
}

// topFrame is one frame of `ingestctl top`; -o json prints each as one line. The fields are
// documented in docs/controlplane.md, "ingestctl top".
type topFrame struct {
	Time            time.Time       `json:"time"`
	IntervalSeconds float64         `json:"interval_seconds"`
	Targets         []topTarget     `json:"targets"`
	ControlPlane    topControlPlane `json:"controlplane"`
	TenantsTotal    int             `json:"tenants_total"`
	Limit           int             `json:"limit"`
	Tenants         []topTenant     `json:"tenants"`
}

type topTarget struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

type topControlPlane struct {
	URL   string `json:"url"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

// topTenant is one row. Rates are per second over the frame's interval, summed over replicas;
// a pointer is null when nothing measures it.
type topTenant struct {
	Tenant                string             `json:"tenant"`
	Stage                 string             `json:"stage"`
	AcceptedEventsPerSec  float64            `json:"accepted_events_per_second"`
	RejectedEventsPerSec  float64            `json:"rejected_events_per_second"`
	RejectedByReason      map[string]float64 `json:"rejected_by_reason"`
	Shed429PerSec         float64            `json:"shed_429_per_second"`
	Shed503PerSec         float64            `json:"shed_503_per_second"`
	ShedByReason          map[string]float64 `json:"shed_by_reason"`
	ProducedRecordsPerSec float64            `json:"produced_records_per_second"`
	LagRecords            *float64           `json:"lag_records"`
	LagSeconds            *float64           `json:"lag_seconds"`
	VisibilityP95Seconds  *float64           `json:"visibility_p95_seconds"`
	QuotaEventsPerSec     float64            `json:"quota_events_per_second"`
	QuotaBytesPerSec      float64            `json:"quota_bytes_per_second"`
	AdmittedEventsPerSec  *float64           `json:"admitted_events_per_second"`
	AdmittedBytesPerSec   *float64           `json:"admitted_bytes_per_second"`
	QuotaUse              *float64           `json:"quota_use"`

	known bool // the control plane lists the tenant
}

// buildTopFrame makes a frame from two rounds of scrapes interval apart and the control
// plane's tenants (nil with cpErr when it could not be read): every tenant either names, sorted
// by accepted events/s, then requests shed, then id; the first o.limit of them.
func buildTopFrame(prev, cur []tenantrates.Scrape, interval time.Duration, tenants []registry.Tenant, cpErr error, o topOptions) topFrame {
	f := topFrame{Time: time.Now().UTC(), IntervalSeconds: interval.Seconds(), Limit: o.limit, Tenants: []topTenant{},
		ControlPlane: topControlPlane{Up: cpErr == nil}}
	if cpErr != nil {
		f.ControlPlane.Error = cpErr.Error()
	}
	for _, s := range cur {
		t := topTarget{Name: s.Target.Name, URL: s.Target.URL, Up: s.Up()}
		if s.Err != nil {
			t.Error = s.Err.Error()
		}
		f.Targets = append(f.Targets, t)
	}
	st := tenantrates.Compute(prev, cur, tenantrates.Options{TopicPattern: o.topicPattern})
	rows := map[string]*topTenant{}
	row := func(id string) *topTenant {
		r, ok := rows[id]
		if !ok {
			r = &topTenant{Tenant: id, RejectedByReason: map[string]float64{}, ShedByReason: map[string]float64{}}
			rows[id] = r
		}
		return r
	}
	for id, t := range st.Tenants {
		r := row(id)
		r.AcceptedEventsPerSec = t.AcceptedPerSec
		r.RejectedEventsPerSec = t.RejectedTotal()
		r.RejectedByReason = t.RejectedPerSec
		r.Shed429PerSec, r.Shed503PerSec = t.ShedByStatus()
		r.ShedByReason = t.ShedPerSec
		r.ProducedRecordsPerSec = t.ProducedPerSec
		r.LagRecords, r.LagSeconds, r.VisibilityP95Seconds = t.LagRecords, t.LagSeconds, t.VisibilitySeconds
	}
	for _, t := range tenants {
		r := row(t.ID)
		r.known = true
		r.Stage = t.Stage.String()
		r.QuotaEventsPerSec, r.QuotaBytesPerSec = t.Quotas.EventsPerSecond, t.Quotas.BytesPerSecond
	}
	for _, r := range rows {
		f.Tenants = append(f.Tenants, *r)
	}
	sort.Slice(f.Tenants, func(i, j int) bool {
		x, y := &f.Tenants[i], &f.Tenants[j]
		if x.AcceptedEventsPerSec != y.AcceptedEventsPerSec {
			return x.AcceptedEventsPerSec > y.AcceptedEventsPerSec
		}
		if sx, sy := x.Shed429PerSec+x.Shed503PerSec, y.Shed429PerSec+y.Shed503PerSec; sx != sy {
			return sx > sy
		}
		return x.Tenant < y.Tenant
	})
	f.TenantsTotal = len(f.Tenants)
	if o.limit > 0 && len(f.Tenants) > o.limit {
		f.Tenants = f.Tenants[:o.limit]
	}
	return f
}

// addQuotaShares fills the admitted rates and the quota use of the rows the control plane
// knows, from GET /v1/tenants/{id}/quota-shares (the edges' reports): a few requests at once.
// A tenant the edges do not report, or whose request fails, keeps them null.
func addQuotaShares(ctx context.Context, c *client.Client, rows []topTenant) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(quotaShareRequests, len(rows)) {
		wg.Go(func() {
			for i := range next {
				r := &rows[i]
				v, err := c.GetQuotaShares(ctx, r.Tenant)
				if err != nil || v.LiveEdges == 0 {
					continue
				}
				r.AdmittedEventsPerSec, r.AdmittedBytesPerSec = &v.AdmittedEventsPerSec, &v.AdmittedBytesPerSec
				r.QuotaUse = quotaUse(v)
			}
		})
	}
	for i := range rows {
		if rows[i].known {
			next <- i
		}
	}
	close(next)
	wg.Wait()
}

// quotaUse is the admitted rate over the quota, the larger of events and bytes; nil without a
// quota.
func quotaUse(v api.QuotaSharesView) *float64 {
	var use *float64
	for _, p := range [][2]float64{{v.AdmittedEventsPerSec, v.Quotas.EventsPerSecond}, {v.AdmittedBytesPerSec, v.Quotas.BytesPerSecond}} {
		if p[1] > 0 {
			if u := p[0] / p[1]; use == nil || u > *use {
				use = &u
			}
		}
	}
	return use
}

// clearScreen moves the cursor home and clears the terminal: a frame redraws in place.
const clearScreen = "\033[H\033[2J"

// printTopFrame prints a frame: one JSON line, or text (after clearScreen when redraw).
func (a *app) printTopFrame(f topFrame, redraw bool) error {
	if a.output == "json" {
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("cannot encode the frame: %w", err)
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", b)
		return err
	}
	var buf bytes.Buffer
	if redraw {
		buf.WriteString(clearScreen)
	}
	a.writeTopFrame(&buf, f)
	if !redraw {
		buf.WriteString("\n")
	}
	_, err := a.stdout.Write(buf.Bytes())
	return err
}

// writeTopFrame writes a frame as text: a header, the targets (and why any is down), the
// control plane if it failed, and a table of the tenants.
func (a *app) writeTopFrame(buf *bytes.Buffer, f topFrame) {
	shown := fmt.Sprintf("%d tenant(s)", f.TenantsTotal)
	if len(f.Tenants) < f.TenantsTotal {
		shown = fmt.Sprintf("top %d of %d tenants", len(f.Tenants), f.TenantsTotal)
	}
	fmt.Fprintf(buf, "ingestctl top  %s  over %.1fs  %s by accepted events/s\n", f.Time.Format(time.RFC3339), f.IntervalSeconds, shown)
	fmt.Fprintf(buf, "targets: %s\n", targetSummary(f.Targets))
	for _, t := range f.Targets {
		if !t.Up {
			fmt.Fprintf(buf, "  %s\n", t.Error)
		}
	}
	if !f.ControlPlane.Up {
		fmt.Fprintf(buf, "control plane: %s (stage and quota unknown)\n", f.ControlPlane.Error)
	}
	buf.WriteString("\n")
	if len(f.Tenants) == 0 {
		buf.WriteString("No tenants: the targets count no tenant's traffic and the control plane lists none.\n")
		return
	}
	w := a.tableTo(buf)
	fmt.Fprintln(w, "TENANT\tSTAGE\tACCEPTED/S\tREJECTED/S\tTOP REJECT REASON\t429/S\t503/S\tLAG\tLAG S\tP95 S\tQUOTA USE")
	for _, r := range f.Tenants {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Tenant, orDash(r.Stage),
			perSec(r.AcceptedEventsPerSec), perSec(r.RejectedEventsPerSec), topReason(r.RejectedByReason),
			perSec(r.Shed429PerSec), perSec(r.Shed503PerSec),
			optional(r.LagRecords, "%.0f"), optional(r.LagSeconds, "%.1f"), optional(r.VisibilityP95Seconds, "%.2f"), quotaText(r))
	}
	_ = w.Flush()
}

// targetSummary is "edge up, normalizer 2/3 up, loader down": targets grouped by name, in
// order.
func targetSummary(ts []topTarget) string {
	var names []string
	up, total := map[string]int{}, map[string]int{}
	for _, t := range ts {
		if total[t.Name] == 0 {
			names = append(names, t.Name)
		}
		total[t.Name]++
		if t.Up {
			up[t.Name]++
		}
	}
	parts := make([]string, 0, len(names))
	for _, n := range names {
		switch {
		case total[n] == 1 && up[n] == 1:
			parts = append(parts, n+" up")
		case up[n] == 0:
			parts = append(parts, n+" DOWN")
		default:
			parts = append(parts, fmt.Sprintf("%s %d/%d up", n, up[n], total[n]))
		}
	}
	return strings.Join(parts, ", ")
}

func perSec(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1f", v)
}

func optional(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

// topReason is the reason most events were rejected for, without its err-ingest- prefix.
func topReason(by map[string]float64) string {
	best, bestV := "", 0.0
	for id, v := range by {
		if v > bestV || (v == bestV && v > 0 && id < best) {
			best, bestV = id, v
		}
	}
	if best == "" {
		return "-"
	}
	return strings.TrimPrefix(best, reason.Prefix)
}

// quotaText is the quota use: "12% of 1000 ev/s" (the quota used most), "? of 1000 ev/s" when
// no edge reports the tenant, "unlimited" without a quota, "-" for a tenant the control plane
// does not list.
func quotaText(r topTenant) string {
	if !r.known {
		return "-"
	}
	if r.QuotaEventsPerSec == 0 && r.QuotaBytesPerSec == 0 {
		return "unlimited"
	}
	quota := fmt.Sprintf("%s ev/s", formatRate(r.QuotaEventsPerSec))
	if r.QuotaEventsPerSec == 0 || (r.QuotaBytesPerSec > 0 && r.AdmittedEventsPerSec != nil &&
		*r.AdmittedBytesPerSec/r.QuotaBytesPerSec > *r.AdmittedEventsPerSec/r.QuotaEventsPerSec) {
		quota = fmt.Sprintf("%s B/s", formatRate(r.QuotaBytesPerSec))
	}
	if r.QuotaUse == nil {
		return "? of " + quota
	}
	return fmt.Sprintf("%.0f%% of %s", 100**r.QuotaUse, quota)
}
