package migration

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ingestdev/ingest/migration/report"
)

// Outcome is what the Aggregator did with a report; it is also the outcome label of the
// control plane's report counter.
type Outcome string

// Outcomes of Aggregator.Add.
const (
	// OutcomeAccepted: the report's counts were added.
	OutcomeAccepted Outcome = "accepted"
	// OutcomeDuplicate: this (Instance, Seq) was already added, or Seq is more than
	// DedupeWindow behind the instance's newest; nothing was added.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeStale: the report ended before the kept history; nothing was added.
	OutcomeStale Outcome = "stale"
	// OutcomeFuture: the report ends more than one bucket after the control plane's clock
	// (a reporter's clock is wrong); nothing was added.
	OutcomeFuture Outcome = "future"
	// OutcomeTooManyInstances: the report comes from a new instance while MaxInstances are
	// remembered; nothing was added.
	OutcomeTooManyInstances Outcome = "too_many_instances"
	// OutcomeInvalid: the report failed report.Validate; nothing was added.
	OutcomeInvalid Outcome = "invalid"
)

// DedupeWindow is how many sequence numbers per instance the Aggregator remembers: a Seq more
// than this far behind the newest of its instance counts as a duplicate.
const DedupeWindow = 1024

// ErrRefused is wrapped by the error of Add for every outcome but accepted and invalid (whose
// error wraps report.ErrInvalid); the reporter should not retry such a report.
var ErrRefused = errors.New("report refused")

// Option configures an Aggregator.
type Option func(*Aggregator)

// WithClock sets the clock. Default time.Now.
func WithClock(now func() time.Time) Option { return func(a *Aggregator) { a.now = now } }

// WithTracked sets which tenants the Aggregator keeps counts of; counts of other tenants are
// ignored. The control plane tracks the tenants in shadow and canary. Default: every tenant.
// track is called with the Aggregator's lock held: it must be fast and must not call back.
func WithTracked(track func(tenant string) bool) Option {
	return func(a *Aggregator) { a.track = track }
}

// Aggregator sums reports per tenant and bucket, deduplicating (Instance, Seq), and keeps a
// bounded history (Config.History of buckets, at most Config.MaxTenants tenants). It is safe
// for concurrent use.
type Aggregator struct {
	cfg     Config
	now     func() time.Time
	track   func(string) bool
	started time.Time

	mu        sync.Mutex
	tenants   map[string]*series
	sources   map[int64]uint8 // bucket start (unix ms) → sources that reported in it
	instances map[string]*instance
	lastSweep time.Time
	dropped   uint64 // tenant counts dropped at MaxTenants
}

// series is one tenant's buckets, sorted by start.
type series struct {
	buckets []bucket
}

type bucket struct {
	start int64 // unix ms
	c     report.Counts
}

// instance remembers the sequence numbers of one reporter process.
type instance struct {
	max  uint64
	seen [DedupeWindow / 64]uint64 // bit s%DedupeWindow: seq s in (max-DedupeWindow, max] seen
	last time.Time
}

// NewAggregator returns an empty aggregator. cfg takes its defaults for zero fields and must
// be valid.
func NewAggregator(cfg Config, opts ...Option) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create the cutover aggregator: %w", err)
	}
	a := &Aggregator{
		cfg:       cfg.WithDefaults(),
		now:       time.Now,
		track:     func(string) bool { return true },
		tenants:   map[string]*series{},
		sources:   map[int64]uint8{},
		instances: map[string]*instance{},
	}
	for _, o := range opts {
		o(a)
	}
	a.started = a.now()
	a.lastSweep = a.started
	return a, nil
}

// Config returns the configuration in effect (defaults filled in).
func (a *Aggregator) Config() Config { return a.cfg }

// Started returns when the aggregator started: buckets before it are not observed.
func (a *Aggregator) Started() time.Time { return a.started }

// DroppedTenantCounts returns how many tenant counts were dropped because MaxTenants tenants
// were tracked.
func (a *Aggregator) DroppedTenantCounts() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

func sourceBit(s string) uint8 {
	switch s {
	case report.SourceEdge:
		return 1
	case report.SourceNormalizer:
		return 2
	case report.SourceLoader:
		return 4
	}
	return 0
}

// bucketOf returns the start (unix ms) of the bucket holding unix ms t.
func (a *Aggregator) bucketOf(t int64) int64 {
	w := a.cfg.BucketWidth.Milliseconds()
	b := t / w * w
	if t < 0 && t%w != 0 {
		b -= w
	}
	return b
}

// Add adds a report: edge and normalizer counts to the bucket of r.End, the loader's landed
// counts to the bucket of r.End minus LandingLag. It returns OutcomeAccepted and nil, or
// another outcome with an error saying why (wrapping report.ErrInvalid or ErrRefused).
func (a *Aggregator) Add(r *report.Report) (Outcome, error) {
	if err := r.Validate(); err != nil {
		return OutcomeInvalid, err
	}
	now := a.now()
	nowMs := now.UnixMilli()
	if r.End > nowMs+a.cfg.BucketWidth.Milliseconds() {
		return OutcomeFuture, fmt.Errorf("%w: end_unix_ms %d is %s ahead of the control plane's clock; check the reporter's clock (NTP)",
			ErrRefused, r.End, time.Duration(r.End-nowMs)*time.Millisecond)
	}
	oldest := a.bucketOf(nowMs - a.cfg.History.Milliseconds())
	at := r.End
	if r.Source == report.SourceLoader {
		at -= a.cfg.LandingLag.Milliseconds()
	}
	b := a.bucketOf(at)
	if b < oldest {
		return OutcomeStale, fmt.Errorf("%w: end_unix_ms %d is older than the %s of history kept", ErrRefused, r.End, a.cfg.History)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.lastSweep) >= a.cfg.BucketWidth {
		a.sweep(now, oldest)
	}
	in := a.instances[r.Instance]
	if in == nil {
		if len(a.instances) >= a.cfg.MaxInstances {
			return OutcomeTooManyInstances, fmt.Errorf("%w: %d reporter instances are already known (max_instances); instances silent for %s are forgotten",
				ErrRefused, len(a.instances), a.cfg.History)
		}
		in = &instance{}
		a.instances[r.Instance] = in
	}
	if !in.mark(r.Seq) {
		return OutcomeDuplicate, fmt.Errorf("%w: report %d of instance %q was already counted", ErrRefused, r.Seq, r.Instance)
	}
	in.last = now
	a.sources[b] |= sourceBit(r.Source)
	for id, c := range r.Tenants {
		if !a.track(id) {
			continue
		}
		s := a.tenants[id]
		if s == nil {
			if len(a.tenants) >= a.cfg.MaxTenants {
				a.dropped++
				continue
			}
			s = &series{}
			a.tenants[id] = s
		}
		s.add(b, &c)
	}
	return OutcomeAccepted, nil
}

// mark records seq and reports whether it is new.
func (in *instance) mark(seq uint64) bool {
	bit := func(s uint64) (int, uint64) { i := s % DedupeWindow; return int(i / 64), 1 << (i % 64) }
	switch {
	case seq > in.max || (in.max == 0 && in.seen == [DedupeWindow / 64]uint64{}):
		// Clear the bits of the sequence numbers that leave the window.
		if seq-in.max >= DedupeWindow {
			in.seen = [DedupeWindow / 64]uint64{}
		} else {
			for s := in.max + 1; s <= seq; s++ {
				w, m := bit(s)
				in.seen[w] &^= m
			}
		}
		in.max = seq
	case in.max-seq >= DedupeWindow:
		return false
	}
	w, m := bit(seq)
	if in.seen[w]&m != 0 {
		return false
	}
	in.seen[w] |= m
	return true
}

func (s *series) add(start int64, c *report.Counts) {
	i, found := slices.BinarySearchFunc(s.buckets, start, func(b bucket, t int64) int { return compare(b.start, t) })
	if !found {
		s.buckets = slices.Insert(s.buckets, i, bucket{start: start})
	}
	addCounts(&s.buckets[i].c, c)
}

func compare(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func addCounts(dst, c *report.Counts) {
	dst.V1AcceptedEvents += c.V1AcceptedEvents
	dst.V1Requests += c.V1Requests
	dst.V2AcceptedEvents += c.V2AcceptedEvents
	dst.V2Requests += c.V2Requests
	dst.V2ServerErrors += c.V2ServerErrors
	dst.LandedLiveEvents += c.LandedLiveEvents
	dst.LandedShadowEvents += c.LandedShadowEvents
	if len(c.V2LatencyBuckets) > 0 {
		if dst.V2LatencyBuckets == nil {
			dst.V2LatencyBuckets = make([]uint64, len(report.LatencyBucketsMs)+1)
		}
		for i, n := range c.V2LatencyBuckets {
			dst.V2LatencyBuckets[i] += n
		}
	}
}

// sweep forgets buckets before oldest, tenants left without buckets and instances silent for
// the history. a.mu is held.
func (a *Aggregator) sweep(now time.Time, oldest int64) {
	a.lastSweep = now
	for b := range a.sources {
		if b < oldest {
			delete(a.sources, b)
		}
	}
	for id, s := range a.tenants {
		i := 0
		for i < len(s.buckets) && s.buckets[i].start < oldest {
			i++
		}
		s.buckets = slices.Delete(s.buckets, 0, i)
		if len(s.buckets) == 0 || !a.track(id) {
			delete(a.tenants, id)
		}
	}
	for id, in := range a.instances {
		if now.Sub(in.last) > a.cfg.History {
			delete(a.instances, id)
		}
	}
}

// Forget drops everything kept of tenant (when it leaves the tracked stages).
func (a *Aggregator) Forget(tenant string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tenants, tenant)
}

// Bucket is the counts of one tenant in one bucket, summed over every report, with the
// sources that reported in the bucket at all (for any tenant).
type Bucket struct {
	Start   time.Time
	Counts  report.Counts
	Sources []string // of report.SourceEdge, SourceNormalizer, SourceLoader, in that order
}

// Buckets returns tenant's buckets in the history, oldest first: every bucket in which any
// report arrived, with the tenant's counts (zero when it had none). The slices are copies.
func (a *Aggregator) Buckets(tenant string) []Bucket {
	a.mu.Lock()
	defer a.mu.Unlock()
	oldest := a.bucketOf(a.now().UnixMilli() - a.cfg.History.Milliseconds())
	starts := make([]int64, 0, len(a.sources))
	for b := range a.sources {
		if b >= oldest {
			starts = append(starts, b)
		}
	}
	slices.Sort(starts)
	var mine []bucket
	if s := a.tenants[tenant]; s != nil {
		mine = s.buckets
	}
	out := make([]Bucket, 0, len(starts))
	j := 0
	for _, b := range starts {
		for j < len(mine) && mine[j].start < b {
			j++
		}
		bk := Bucket{Start: time.UnixMilli(b).UTC(), Sources: sourceNames(a.sources[b])}
		if j < len(mine) && mine[j].start == b {
			bk.Counts = mine[j].c
			bk.Counts.V2LatencyBuckets = slices.Clone(bk.Counts.V2LatencyBuckets)
		}
		out = append(out, bk)
	}
	return out
}

func sourceNames(bits uint8) []string {
	var out []string
	for _, s := range []string{report.SourceEdge, report.SourceNormalizer, report.SourceLoader} {
		if bits&sourceBit(s) != 0 {
			out = append(out, s)
		}
	}
	return out
}
