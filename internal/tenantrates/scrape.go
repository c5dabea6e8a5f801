package tenantrates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Target is one /metrics endpoint.
type Target struct {
	// Name is what a frame calls the target: edge, normalizer, sinkwriter, loader. Replicas of
	// a service share a name.
	Name string
	// URL is the endpoint, e.g. http://127.0.0.1:4318/metrics.
	URL string
}

// Scrape is what one target answered at one time.
type Scrape struct {
	Target Target
	// Time is when the answer arrived (the service gathers its metrics as it answers).
	Time time.Time
	// Err says why the target is down: unreachable, an answer other than 200, too large, or
	// not the text format. Families is nil then.
	Err error
	// Families are the metric families of the answer, by name.
	Families map[string]*dto.MetricFamily
}

// Up reports whether the target answered.
func (s Scrape) Up() bool { return s.Err == nil }

// DefaultMaxBytes bounds the body of one answer when Scraper.MaxBytes is zero: 32 MiB.
const DefaultMaxBytes = 32 << 20

// DefaultTimeout bounds one scrape when Scraper.Client is nil: 5 s.
const DefaultTimeout = 5 * time.Second

// textFormat is the Accept header of a scrape: the text format, which promhttp serves without
// negotiation too.
const textFormat = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// Scraper reads targets over HTTP. The zero Scraper is ready; it is safe for concurrent use if
// its fields are not changed.
type Scraper struct {
	// Client does the requests; its Timeout bounds each scrape. Nil: a client with
	// DefaultTimeout.
	Client *http.Client
	// MaxBytes bounds the body of one answer; a larger one is a failed scrape. Zero:
	// DefaultMaxBytes.
	MaxBytes int64
}

// ScrapeAll reads every target at once (one goroutine per target) and returns their scrapes in
// the order of targets. A target that fails is a Scrape with Err; the call itself does not
// fail. ctx bounds the whole round.
func (s *Scraper) ScrapeAll(ctx context.Context, targets []Target) []Scrape {
	out := make([]Scrape, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { out[i] = s.Scrape(ctx, t) })
	}
	wg.Wait()
	return out
}

// Scrape reads one target.
func (s *Scraper) Scrape(ctx context.Context, t Target) Scrape {
	fams, err := s.get(ctx, t.URL)
	out := Scrape{Target: t, Time: time.Now(), Families: fams, Err: err}
	if err != nil {
		out.Families = nil
		out.Err = fmt.Errorf("cannot scrape %s %s: %w", t.Name, t.URL, err)
	}
	return out
}

func (s *Scraper) get(ctx context.Context, endpoint string) (map[string]*dto.MetricFamily, error) {
	hc := s.Client
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	limit := s.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", textFormat)
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the method and URL are said already
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("answered %s, want 200", resp.Status)
	}
	body := &countingReader{r: io.LimitReader(resp.Body, limit+1)}
	fams, err := Parse(body)
	if body.n > limit {
		return nil, fmt.Errorf("the answer exceeds the %d MiB limit", limit>>20)
	}
	return fams, err
}

// Parse reads the Prometheus text exposition format (what a /metrics endpoint answers).
func Parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("not the Prometheus text format: %w", err)
	}
	return fams, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
