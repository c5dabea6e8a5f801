package sinkwriter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/shed"
)

// Refusals of a batch's tenant (see Tenants).
const (
	// ReasonUnknownTenant (403): the tenant is not in the control plane's registry. Nothing of
	// the batch is produced and no topic is created.
	ReasonUnknownTenant = Reason(reason.UnknownTenant)
	// ReasonTenantsUnavailable (503): the writer has no tenant list yet (the control plane
	// has not answered since startup). Retry after Retry-After.
	ReasonTenantsUnavailable = Reason(reason.TenantsUnavailable)
	// ReasonInternalAuth (401): the batch has no valid hop signature (package hopauth).
	ReasonInternalAuth = Reason(reason.InternalAuth)
)

// TenantsConfig says where the sink writer learns the registered tenants: the control plane's
// GET /v1/tenants. A batch of a tenant not in the list is refused (403
// err-ingest-unknown-tenant) before its topic is created. Secure by default: URL is required
// unless AllowAnyTenant is set. The zero value of every other field means its default.
type TenantsConfig struct {
	// URL is the control plane's admin API base URL (http or https), e.g.
	// http://10.0.0.5:9090. Required unless AllowAnyTenant.
	URL string `yaml:"url"`
	// TokenFile holds the bearer token for GET /v1/tenants: the control plane's report token
	// (enough to read the list, not to change anything) or its admin token. Required with
	// URL unless Token is set.
	TokenFile string `yaml:"token_file"`
	// Token is the token itself, for a caller that holds it in memory; never read from a
	// config file. It takes precedence over TokenFile.
	Token string `yaml:"-"`
	// RefreshInterval is how often the list is fetched again. Default 30 s.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MissRefreshInterval bounds how often a batch of a tenant not in the list makes the
	// writer fetch the list (a tenant created since the last fetch), so that batches of
	// made-up tenants cannot make it hammer the control plane: such a batch waits until this
	// long after the last fetch started (at most this long), then fetches, and every batch that
	// missed meanwhile shares that one fetch. Default 1 s.
	MissRefreshInterval time.Duration `yaml:"miss_refresh_interval"`
	// Timeout bounds one fetch. Default 5 s.
	Timeout time.Duration `yaml:"timeout"`
	// AllowAnyTenant turns the check off: a batch of any valid tenant id is produced and its
	// topic created. Only for a closed test setup; logged as a warning at startup.
	// Default false.
	AllowAnyTenant bool `yaml:"allow_any_tenant"`
}

func (c TenantsConfig) withDefaults() TenantsConfig {
	config.Default(&c.RefreshInterval, 30*time.Second)
	config.Default(&c.MissRefreshInterval, time.Second)
	config.Default(&c.Timeout, 5*time.Second)
	return c
}

// Validate reports every problem at once, naming the key under "tenants".
func (c TenantsConfig) Validate() error {
	var errs []error
	switch {
	case c.AllowAnyTenant && c.URL != "":
		errs = append(errs, errors.New("tenants.allow_any_tenant: true with tenants.url set: choose one"))
	case c.AllowAnyTenant:
	case c.URL == "":
		errs = append(errs, errors.New("tenants.url: required: the sink writer refuses tenants the control plane does not know, "+
			"and reads them from its GET /v1/tenants (e.g. http://127.0.0.1:9090, with tenants.token_file holding the report token); "+
			"set tenants.allow_any_tenant: true only to accept every tenant id on purpose"))
	default:
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("tenants.url: %q is not an http(s) URL of the control plane", c.URL))
		}
		if c.TokenFile == "" && c.Token == "" {
			errs = append(errs, errors.New("tenants.token_file: required with tenants.url (the control plane's report token)"))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"refresh_interval", c.RefreshInterval}, {"miss_refresh_interval", c.MissRefreshInterval}, {"timeout", c.Timeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("tenants.%s: %v must not be negative (0 means the default)", d.key, d.v))
		}
	}
	return errors.Join(errs...)
}

// maxTenantListBytes bounds the answer of GET /v1/tenants that the writer reads.
const maxTenantListBytes = 64 << 20

// Tenants is the list of registered tenants a Writer checks every batch against: fetched from
// the control plane at startup (Run), every refresh_interval, and at once on a batch of a tenant
// not in it (at most every miss_refresh_interval). When a fetch fails the last list stays in
// use; until the first fetch succeeds every batch gets 503 err-ingest-tenants-unavailable, so
// that normalizers retry. It is safe for concurrent use.
type Tenants struct {
	cfg   TenantsConfig
	fetch func(ctx context.Context) (map[string]struct{}, error)
	log   *slog.Logger
	now   func() time.Time

	list      atomic.Pointer[map[string]struct{}] // nil: none yet
	fetching  chan struct{}                       // a semaphore of 1: one fetch at a time
	lastFetch atomic.Int64                        // unix nanoseconds of the last fetch started

	fetches *prometheus.CounterVec // outcome
	size    prometheus.Gauge
}

// NewTenants returns the Tenants of cfg (cfg.URL must be set), registering its metrics with
// reg. It fetches nothing: Run does.
func NewTenants(cfg TenantsConfig, reg prometheus.Registerer, log *slog.Logger) (*Tenants, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("cannot create the tenant list: no tenants.url")
	}
	cfg = cfg.withDefaults()
	hc := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{Proxy: nil, MaxIdleConns: 2, IdleConnTimeout: time.Minute}}
	endpoint := strings.TrimRight(cfg.URL, "/") + "/v1/tenants"
	t := newTenants(cfg, log, func(ctx context.Context) (map[string]struct{}, error) {
		return fetchTenants(ctx, hc, endpoint, cfg)
	})
	for _, c := range []prometheus.Collector{t.fetches, t.size} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("cannot register the tenant list metrics: %w", err)
		}
	}
	return t, nil
}

// StaticTenants returns Tenants that know exactly ids and never fetch (tests, fixed setups).
func StaticTenants(ids ...string) *Tenants {
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	t := newTenants(TenantsConfig{}.withDefaults(), slog.New(slog.DiscardHandler), nil)
	t.list.Store(&set)
	return t
}

func newTenants(cfg TenantsConfig, log *slog.Logger, fetch func(context.Context) (map[string]struct{}, error)) *Tenants {
	return &Tenants{
		cfg: cfg, fetch: fetch, log: log, now: time.Now, fetching: make(chan struct{}, 1),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_sinkwriter_tenant_list_fetches_total",
			Help: "Fetches of the tenant list from the control plane, by outcome (ok, error).",
		}, []string{"outcome"}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_sinkwriter_tenant_list_size",
			Help: "Tenants in the list the sink writer checks batches against.",
		}),
	}
}

// Run fetches the list at once and then every refresh_interval until ctx ends; a failed fetch
// is retried after a second, doubling up to refresh_interval. It returns when ctx ends.
func (t *Tenants) Run(ctx context.Context) {
	if t.fetch == nil {
		return
	}
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := t.refresh(ctx); err != nil {
			wait = min(max(2*wait, time.Second), t.cfg.RefreshInterval)
			continue
		}
		wait = t.cfg.RefreshInterval
	}
}

// refresh fetches the list and keeps it; on failure the last list stays.
func (t *Tenants) refresh(ctx context.Context) error {
	select {
	case t.fetching <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-t.fetching }()
	return t.refreshLocked(ctx)
}

// refreshLocked is refresh with the fetching semaphore held.
func (t *Tenants) refreshLocked(ctx context.Context) error {
	t.lastFetch.Store(t.now().UnixNano())
	set, err := t.fetch(ctx)
	if err != nil {
		t.fetches.WithLabelValues("error").Inc()
		if t.list.Load() == nil {
			t.log.Warn("cannot fetch the tenant list: batches get 503 until it is fetched", "url", t.cfg.URL, "err", err)
		} else {
			t.log.Warn("cannot fetch the tenant list: keeping the last one", "url", t.cfg.URL, "err", err)
		}
		return err
	}
	t.fetches.WithLabelValues("ok").Inc()
	if old := t.list.Swap(&set); old == nil || len(*old) != len(set) {
		t.log.Info("tenant list loaded", "tenants", len(set))
	}
	t.size.Set(float64(len(set)))
	return nil
}

// Check returns nil when id is a registered tenant; else a *BatchError with
// ReasonUnknownTenant (403), or a shed with ReasonTenantsUnavailable (503) while no list was
// ever fetched. A miss fetches the list at once, at most every miss_refresh_interval.
func (t *Tenants) Check(ctx context.Context, id string, retryAfter time.Duration) error {
	if t.has(id) {
		return nil
	}
	if t.fetch != nil {
		t.refreshAfterMiss(ctx)
		if t.has(id) {
			return nil
		}
	}
	if t.list.Load() == nil {
		return shed.Unavailable(ReasonTenantsUnavailable, retryAfter,
			fmt.Errorf("the sink writer has no tenant list yet: the control plane at %s has not answered; retry later", t.cfg.URL))
	}
	return &BatchError{Status: reason.UnknownTenant.Status(), Reason: ReasonUnknownTenant, Err: fmt.Errorf(
		"tenant %q %w: nothing of the batch was written; create the tenant (ingestctl tenants create) or stop sending for it", id, errUnknownTenant)}
}

// errUnknownTenant is the cause of the refusal of a batch of an unknown tenant.
var errUnknownTenant = errors.New("is not registered at the control plane")

// refreshAfterMiss fetches the list for a batch whose tenant was not in it, at most once per
// miss_refresh_interval: it waits for the fetch in progress, and for the interval since the
// last fetch started, then fetches, unless a fetch started after the miss (its list is fresh
// enough). It gives up when ctx ends.
func (t *Tenants) refreshAfterMiss(ctx context.Context) {
	missAt := t.now().UnixNano()
	select {
	case t.fetching <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-t.fetching }()
	last := t.lastFetch.Load()
	if last >= missAt {
		return // fetched since the miss
	}
	if wait := time.Duration(last + int64(t.cfg.MissRefreshInterval) - t.now().UnixNano()); wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
	}
	_ = t.refreshLocked(ctx)
}

func (t *Tenants) has(id string) bool {
	l := t.list.Load()
	if l == nil {
		return false
	}
	_, ok := (*l)[id]
	return ok
}

// fetchTenants reads GET /v1/tenants: {"tenants":[{"id":...},...]}.
func fetchTenants(ctx context.Context, hc *http.Client, endpoint string, cfg TenantsConfig) (map[string]struct{}, error) {
	tok := cfg.Token
	if tok == "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read tenants.token_file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build request to %q: %w", endpoint, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch tenants from %q: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return nil, fmt.Errorf("cannot fetch tenants from %q: %s: %.200s", endpoint, resp.Status, strings.TrimSpace(string(msg)))
	}
	var list struct {
		Tenants []struct {
			ID string `json:"id"`
		} `json:"tenants"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTenantListBytes)).Decode(&list); err != nil {
		return nil, fmt.Errorf("cannot decode the tenant list from %q (at most %d bytes): %w", endpoint, maxTenantListBytes, err)
	}
	set := make(map[string]struct{}, len(list.Tenants))
	for _, t := range list.Tenants {
		set[t.ID] = struct{}{}
	}
	return set, nil
}
