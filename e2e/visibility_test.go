package e2e

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// visibilityHistogram is ingest_loader_visibility_seconds summed over its tables: cumulative
// row counts by upper bound (the last bound +Inf).
type visibilityHistogram struct {
	bounds []float64
	counts []uint64
}

// scrapeVisibility reads the loader's ingest_loader_visibility_seconds from its /metrics.
func scrapeVisibility(t *testing.T, loaderURL string) visibilityHistogram {
	t.Helper()
	resp, err := http.Get(loaderURL + "/metrics")
	if err != nil {
		t.Fatalf("cannot scrape the loader: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("cannot parse the loader's metrics: %v", err)
	}
	var h visibilityHistogram
	mf := mfs["ingest_loader_visibility_seconds"]
	if mf == nil {
		t.Fatal("the loader exports no ingest_loader_visibility_seconds")
	}
	for _, m := range mf.GetMetric() {
		bs := m.GetHistogram().GetBucket()
		bounds, counts := make([]float64, 0, len(bs)+1), make([]uint64, 0, len(bs)+1)
		for _, b := range bs {
			bounds, counts = append(bounds, b.GetUpperBound()), append(counts, b.GetCumulativeCount())
		}
		if len(bounds) == 0 || !math.IsInf(bounds[len(bounds)-1], 1) { // the exposition may leave +Inf implicit
			bounds, counts = append(bounds, math.Inf(1)), append(counts, m.GetHistogram().GetSampleCount())
		}
		if h.bounds == nil {
			h.bounds, h.counts = bounds, make([]uint64, len(bounds))
		}
		if !slices.Equal(h.bounds, bounds) {
			t.Fatalf("the loader's visibility buckets differ between tables: %v and %v", h.bounds, bounds)
		}
		for i, c := range counts {
			h.counts[i] += c
		}
	}
	return h
}

// minus returns the rows observed in h since before (same buckets).
func (h visibilityHistogram) minus(before visibilityHistogram) visibilityHistogram {
	out := visibilityHistogram{bounds: slices.Clone(h.bounds), counts: slices.Clone(h.counts)}
	for i := range out.counts {
		if i < len(before.counts) {
			out.counts[i] -= before.counts[i]
		}
	}
	return out
}

func (h visibilityHistogram) total() uint64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile estimates the q-quantile as Prometheus' histogram_quantile does: linearly within
// the bucket that holds it; the highest finite bound when it falls in the +Inf bucket.
func (h visibilityHistogram) quantile(q float64) float64 {
	n := h.total()
	if n == 0 {
		return math.NaN()
	}
	rank := q * float64(n)
	lower, below := 0.0, uint64(0)
	for i, c := range h.counts {
		if float64(c) >= rank {
			if math.IsInf(h.bounds[i], 1) {
				return lower
			}
			in := c - below
			if in == 0 {
				return h.bounds[i]
			}
			return lower + (h.bounds[i]-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = h.bounds[i], c
	}
	return lower
}

// within returns the fraction of rows visible within d seconds (d must be a bucket bound).
func (h visibilityHistogram) within(d float64) float64 {
	for i, b := range h.bounds {
		if b == d && h.total() > 0 {
			return float64(h.counts[i]) / float64(h.total())
		}
	}
	return math.NaN()
}

func TestVisibilityQuantilesInterpolateLikePrometheus(t *testing.T) {
	// 100 rows: 50 within 0.5 s, 90 within 1 s, 100 within 3 s.
	h := visibilityHistogram{bounds: []float64{0.5, 1, 3, math.Inf(1)}, counts: []uint64{50, 90, 100, 100}}
	for q, want := range map[float64]float64{0.5: 0.5, 0.7: 0.75, 0.95: 2, 0.25: 0.25} {
		if got := h.quantile(q); math.Abs(got-want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := h.within(1); got != 0.9 {
		t.Errorf("within 1 s: %v, want 0.9", got)
	}
	before := visibilityHistogram{bounds: h.bounds, counts: []uint64{10, 10, 10, 10}}
	if d := h.minus(before); d.total() != 90 || fmt.Sprint(d.counts) != "[40 80 90 90]" {
		t.Errorf("delta %v", d.counts)
	}
}
