package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ingestdev/ingest/internal/tenant"
)

// Format is the wire format of a request body.
type Format string

// Formats the load generator sends.
const (
	FormatNDJSON    Format = "ndjson"     // POST /v1/events, application/x-ndjson (native schema)
	FormatOTLPProto Format = "otlp-proto" // POST /v1/{logs,metrics,traces}, application/x-protobuf
	FormatOTLPJSON  Format = "otlp-json"  // POST /v1/{logs,metrics,traces}, application/json
	// FormatOTLPGRPC is OTLP/gRPC: a unary Export call of the signal's service (HTTP/2 only).
	FormatOTLPGRPC Format = "otlp-grpc"
)

// Signal is the kind of telemetry in a request body.
type Signal string

// Signals the load generator sends.
const (
	SignalLogs    Signal = "logs"
	SignalMetrics Signal = "metrics"
	SignalTraces  Signal = "traces"
)

var (
	allFormats = []Format{FormatNDJSON, FormatOTLPProto, FormatOTLPJSON, FormatOTLPGRPC}
	allSignals = []Signal{SignalLogs, SignalMetrics, SignalTraces}
)

// Profile is a tenant's rate profile: the events per second it sends at each moment of the run.
type Profile struct {
	// Kind is "steady" or "burst".
	Kind string
	// Base is the rate in events/s; for steady the only rate, for burst the rate outside peaks.
	Base float64
	// Peak is the rate in events/s during a burst's peak; unused for steady.
	Peak float64
	// Period is the length of one burst cycle; unused for steady.
	Period time.Duration
	// Duty is the fraction of each Period spent at Peak, at its start (0 < Duty < 1; default 0.2).
	Duty float64
}

// RateAt returns the rate in events/s at elapsed time since the start of the run.
func (p Profile) RateAt(elapsed time.Duration) float64 {
	if p.Kind != "burst" || p.Period <= 0 {
		return p.Base
	}
	phase := elapsed % p.Period
	if float64(phase) < p.Duty*float64(p.Period) {
		return p.Peak
	}
	return p.Base
}

// MaxRate returns the highest rate of the profile in events/s.
func (p Profile) MaxRate() float64 {
	if p.Kind == "burst" && p.Peak > p.Base {
		return p.Peak
	}
	return p.Base
}

// String renders the profile in the syntax ParseProfile reads.
func (p Profile) String() string {
	if p.Kind == "burst" {
		return fmt.Sprintf("burst:%g:%g:%s:%g", p.Base, p.Peak, p.Period, p.Duty)
	}
	return fmt.Sprintf("steady:%g", p.Base)
}

// ParseProfile reads `steady:<events/s>` or `burst:<base events/s>:<peak events/s>:<period>[:<duty>]`
// (period a Go duration such as 10s; duty the fraction of each period at peak, default 0.2).
func ParseProfile(s string) (Profile, error) {
	parts := strings.Split(s, ":")
	rate := func(v string) (float64, error) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1e8 {
			return 0, fmt.Errorf("cannot parse profile %q: rate %q is not a number of events/s in (0, 1e8]", s, v)
		}
		return f, nil
	}
	switch parts[0] {
	case "steady":
		if len(parts) != 2 {
			return Profile{}, fmt.Errorf("cannot parse profile %q: want steady:<events/s>", s)
		}
		r, err := rate(parts[1])
		if err != nil {
			return Profile{}, err
		}
		return Profile{Kind: "steady", Base: r}, nil
	case "burst":
		if len(parts) != 4 && len(parts) != 5 {
			return Profile{}, fmt.Errorf("cannot parse profile %q: want burst:<base events/s>:<peak events/s>:<period>[:<duty>]", s)
		}
		base, err := rate(parts[1])
		if err != nil {
			return Profile{}, err
		}
		peak, err := rate(parts[2])
		if err != nil {
			return Profile{}, err
		}
		period, err := time.ParseDuration(parts[3])
		if err != nil || period < 10*time.Millisecond {
			return Profile{}, fmt.Errorf("cannot parse profile %q: period %q is not a duration of at least 10ms", s, parts[3])
		}
		duty := 0.2
		if len(parts) == 5 {
			duty, err = strconv.ParseFloat(parts[4], 64)
			if err != nil || duty <= 0 || duty >= 1 {
				return Profile{}, fmt.Errorf("cannot parse profile %q: duty %q is not a fraction in (0, 1)", s, parts[4])
			}
		}
		return Profile{Kind: "burst", Base: base, Peak: peak, Period: period, Duty: duty}, nil
	}
	return Profile{}, fmt.Errorf("cannot parse profile %q: kind %q is neither steady nor burst", s, parts[0])
}

// Tenant is one simulated tenant.
type Tenant struct {
	// Name labels the tenant in the report and is the tenant column queried for markers; it must
	// be the tenant id the edge resolves Key to.
	Name string
	// Key is the API key sent as `Authorization: Bearer <Key>`.
	Key string
	// Profile paces the tenant's events.
	Profile Profile
}

// ParseTenant reads `name=KEY[:profile]`; without a profile the tenant gets def. Keys cannot
// contain ':'.
func ParseTenant(s string, def Profile) (Tenant, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return Tenant{}, fmt.Errorf("cannot parse tenant %q: want name=KEY[:profile]", s)
	}
	t := Tenant{Name: name, Key: rest, Profile: def}
	if key, prof, ok := strings.Cut(rest, ":"); ok {
		p, err := ParseProfile(prof)
		if err != nil {
			return Tenant{}, fmt.Errorf("cannot parse tenant %q: %w", name, err)
		}
		t.Key, t.Profile = key, p
	}
	return t, nil
}

// ParseTenantsFile reads one tenant per line, `name,key[,profile]`; blank lines and lines
// starting with '#' are skipped. Tenants without a profile get def.
func ParseTenantsFile(r io.Reader, def Profile) ([]Tenant, error) {
	var out []Tenant
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("cannot parse tenants line %d %q: want name,key[,profile]", n, line)
		}
		t := Tenant{Name: f[0], Key: f[1], Profile: def}
		if len(f) == 3 && f[2] != "" {
			p, err := ParseProfile(f[2])
			if err != nil {
				return nil, fmt.Errorf("cannot parse tenants line %d: %w", n, err)
			}
			t.Profile = p
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read tenants file: %w", err)
	}
	return out, nil
}

// ParseWeights reads `a=50,b=30` into weights; names must be among allowed, weights integers ≥ 0.
func ParseWeights[T ~string](s string, allowed []T) (map[T]int, error) {
	out := make(map[T]int)
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("cannot parse weight %q: want name=weight", item)
		}
		w, err := strconv.Atoi(v)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("cannot parse weight %q: %q is not an integer ≥ 0", item, v)
		}
		known := false
		for _, a := range allowed {
			if string(a) == k {
				known = true
			}
		}
		if !known {
			return nil, fmt.Errorf("cannot parse weight %q: %q is not one of %v", item, k, allowed)
		}
		out[T(k)] = w
	}
	return out, nil
}

// Config configures a run. The zero value is not usable: start from DefaultConfig.
type Config struct {
	// Target is the base URL of the edge (default https://localhost:8443).
	Target string
	// CAFile is a PEM file of CAs that sign the edge's certificate; empty: the system pool.
	CAFile string
	// Insecure skips verification of the edge's certificate (dev only).
	Insecure bool
	// HTTP1 disables HTTP/2: each connection then carries one request at a time (keep-alive).
	HTTP1 bool
	// Tenants are the simulated tenants; at least one.
	Tenants []Tenant
	// Formats weighs the wire formats of requests (default ndjson=50, otlp-proto=30, otlp-json=20).
	Formats map[Format]int
	// Signals weighs the signals of requests (default logs=60, metrics=30, traces=10).
	Signals map[Signal]int
	// BatchSize is the number of events per request (default 100; at most 100,000, the
	// normalizer's bound).
	BatchSize int
	// Connections is the number of HTTP clients, each with its own connection pool: with HTTP/2
	// about one connection each, with HTTP/1.1 exactly one connection each (default 4).
	Connections int
	// Concurrency bounds the requests in flight over all tenants (default 64); with HTTP/1.1 it is
	// at most Connections.
	Concurrency int
	// Duration is how long requests are started (default 30 s); the run then ends within
	// RequestTimeout plus MarkerGrace.
	Duration time.Duration
	// RequestTimeout bounds each request, response body included (default 10 s).
	RequestTimeout time.Duration
	// PoolSize is the number of pre-generated bodies per tenant, format and signal (default 8).
	PoolSize int
	// RespectRetryAfter pauses a tenant for the Retry-After of a 429 or 503 answer; by default
	// the tenant keeps its profile and the answers are only counted.
	RespectRetryAfter bool
	// MarkerInterval is how often each tenant sends a marker log (default 1 s; 0: no markers).
	// Markers need Visibility.
	MarkerInterval time.Duration
	// MarkerTenants names the tenants that send markers; empty: every tenant. A dedicated,
	// low-volume marker tenant keeps the probe (a ClickHouse query per poll over that tenant's
	// recent logs) off the tenants whose load is being measured.
	MarkerTenants []string
	// MarkerGrace is how long after the last request markers may still become visible before
	// they count as not visible (default 30 s).
	MarkerGrace time.Duration
	// PollInterval is how often outstanding markers are looked up (default 150 ms); it is the
	// resolution of end-to-end latency.
	PollInterval time.Duration
	// ProgressInterval is how often a progress line is written to Progress (default 5 s).
	ProgressInterval time.Duration
	// Progress receives progress lines; nil: none.
	Progress io.Writer
	// Seed seeds the body generators and the format choice (0: a fixed default), so runs are
	// reproducible.
	Seed int64
}

// DefaultConfig returns a Config with every default set and no tenants.
func DefaultConfig() Config {
	return Config{
		Target:           "https://localhost:8443",
		Formats:          map[Format]int{FormatNDJSON: 50, FormatOTLPProto: 30, FormatOTLPJSON: 20},
		Signals:          map[Signal]int{SignalLogs: 60, SignalMetrics: 30, SignalTraces: 10},
		BatchSize:        100,
		Connections:      4,
		Concurrency:      64,
		Duration:         30 * time.Second,
		RequestTimeout:   10 * time.Second,
		PoolSize:         8,
		MarkerInterval:   time.Second,
		MarkerGrace:      30 * time.Second,
		PollInterval:     150 * time.Millisecond,
		ProgressInterval: 5 * time.Second,
		Seed:             1,
	}
}

// Validate reports every problem of the configuration at once, naming the setting at fault.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("target %q is not an http(s) URL", c.Target))
	}
	if len(c.Tenants) == 0 {
		errs = append(errs, errors.New("tenants: at least one tenant is needed (--tenant name=KEY[:profile] or --tenants-file)"))
	}
	seen := map[string]bool{}
	for _, t := range c.Tenants {
		if err := tenant.Validate(t.Name); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: name is not a tenant id: %w", t.Name, err))
		}
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("tenant %q: listed twice", t.Name))
		}
		seen[t.Name] = true
		if t.Key == "" {
			errs = append(errs, fmt.Errorf("tenant %q: empty key", t.Name))
		}
		if t.Profile.Base <= 0 {
			errs = append(errs, fmt.Errorf("tenant %q: profile %s has no positive rate", t.Name, t.Profile))
		}
	}
	if sumWeights(c.Formats) == 0 {
		errs = append(errs, errors.New("mix: at least one format needs a weight above 0"))
	}
	if c.HTTP1 && c.Formats[FormatOTLPGRPC] > 0 {
		errs = append(errs, errors.New("mix: otlp-grpc needs HTTP/2: drop http1 or the otlp-grpc weight"))
	}
	if sumWeights(c.Signals) == 0 {
		errs = append(errs, errors.New("signals: at least one signal needs a weight above 0"))
	}
	if c.BatchSize < 1 || c.BatchSize > 100_000 {
		errs = append(errs, fmt.Errorf("batch_size %d is not in [1, 100000]", c.BatchSize))
	}
	if c.Connections < 1 || c.Connections > 10_000 {
		errs = append(errs, fmt.Errorf("connections %d is not in [1, 10000]", c.Connections))
	}
	if c.Concurrency < 1 || c.Concurrency > 100_000 {
		errs = append(errs, fmt.Errorf("concurrency %d is not in [1, 100000]", c.Concurrency))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %s is not positive: the run must be bounded", c.Duration))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("request_timeout %s is not positive", c.RequestTimeout))
	}
	if c.PoolSize < 1 || c.PoolSize > 1024 {
		errs = append(errs, fmt.Errorf("pool_size %d is not in [1, 1024]", c.PoolSize))
	}
	for _, name := range c.MarkerTenants {
		if !slices.ContainsFunc(c.Tenants, func(t Tenant) bool { return t.Name == name }) {
			errs = append(errs, fmt.Errorf("marker tenant %q is not one of the tenants", name))
		}
	}
	if c.MarkerInterval < 0 {
		errs = append(errs, fmt.Errorf("marker_interval %s is negative", c.MarkerInterval))
	}
	if c.MarkerInterval > 0 && c.MarkerInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("marker_interval %s is below 10ms", c.MarkerInterval))
	}
	if c.MarkerGrace < 0 {
		errs = append(errs, fmt.Errorf("marker_grace %s is negative", c.MarkerGrace))
	}
	if c.PollInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll_interval %s is below 10ms", c.PollInterval))
	}
	if c.ProgressInterval <= 0 {
		errs = append(errs, fmt.Errorf("progress_interval %s is not positive", c.ProgressInterval))
	}
	return errors.Join(errs...)
}

func sumWeights[T comparable](m map[T]int) int {
	s := 0
	for _, w := range m {
		s += w
	}
	return s
}

// weighted picks keys in proportion to their weights, in a fixed order so that a seed
// reproduces the choices.
type weighted[T ~string] struct {
	keys []T
	cum  []int
}

func newWeighted[T ~string](m map[T]int) weighted[T] {
	var w weighted[T]
	keys := make([]T, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	total := 0
	for _, k := range keys {
		total += m[k]
		w.keys = append(w.keys, k)
		w.cum = append(w.cum, total)
	}
	return w
}

// pick maps n in [0, total) to a key.
func (w weighted[T]) pick(n int) T {
	for i, c := range w.cum {
		if n < c {
			return w.keys[i]
		}
	}
	return w.keys[len(w.keys)-1]
}

func (w weighted[T]) total() int { return w.cum[len(w.cum)-1] }
