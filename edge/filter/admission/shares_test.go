package admission_test

import (
	"testing"
	"time"

	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// TestSharesHoldForTheirGraceThenFallBackToAnEvenShare: unassigned is 1; an assignment gives
// its tenants their share and others 1/edges; past the grace every tenant has 1/edges.
func TestSharesHoldForTheirGraceThenFallBackToAnEvenShare(t *testing.T) {
	var s admission.Shares
	now := time.Unix(1_800_000_000, 0)
	if v, st := s.Share("acme", now); v != 1 || st != admission.ShareUnassigned {
		t.Fatalf("before any assignment: %v %v, want 1 unassigned", v, st)
	}
	s.Set(4, map[string]float64{"acme": 0.7, "bad": 1.5}, 10*time.Second, now)
	for _, tc := range []struct {
		tenant string
		at     time.Duration
		want   float64
		st     admission.ShareState
	}{
		{"acme", 0, 0.7, admission.ShareAssigned},
		{"other", 0, 0.25, admission.ShareAssigned},
		{"bad", 0, 0.25, admission.ShareAssigned}, // a share above 1 is not taken
		{"acme", 10 * time.Second, 0.7, admission.ShareAssigned},
		{"acme", 11 * time.Second, 0.25, admission.ShareFallback},
	} {
		if v, st := s.Share(tc.tenant, now.Add(tc.at)); v != tc.want || st != tc.st {
			t.Errorf("%s after %v: %v %v, want %v %v", tc.tenant, tc.at, v, st, tc.want, tc.st)
		}
	}
	if m, edges, st := s.Snapshot(now.Add(time.Minute)); edges != 4 || st != admission.ShareFallback || m["acme"] != 0.25 {
		t.Errorf("snapshot after the grace: %v %d %v", m, edges, st)
	}
	if n := testing.AllocsPerRun(100, func() { s.Share("acme", now) }); n != 0 {
		t.Errorf("Share allocates %v times", n)
	}
}

// TestAdmitShareRefillsAtTheShareAndKeepsTheWholeBurstAsTheLimit: with 30% of a 1000 events/s
// quota (burst 1000), the bucket holds 300 and refills 300/s; a request of 500 is within the
// burst (not 413) but beyond this edge's part of it: 429 with a Retry-After of a second; 1200
// is beyond the whole burst: 413.
func TestAdmitShareRefillsAtTheShareAndKeepsTheWholeBurstAsTheLimit(t *testing.T) {
	l := admission.NewLimiter()
	q := filterconfig.Quotas{EventsPerSecond: 1000}
	now := time.Now()
	if d := l.AdmitShare("acme", q, 0.3, 300, 0, now); !d.OK {
		t.Fatalf("300 of a 300 share: %+v", d)
	}
	if d := l.AdmitShare("acme", q, 0.3, 1, 0, now); d.OK || d.Reason != admission.ReasonRateLimitedEvents {
		t.Fatalf("one more at once: %+v, want rate-limited", d)
	}
	if d := l.AdmitShare("acme", q, 0.3, 150, 0, now.Add(500*time.Millisecond)); !d.OK {
		t.Fatalf("150 after 0.5 s at 300/s: %+v", d)
	}
	if d := l.AdmitShare("acme", q, 0.3, 500, 0, now.Add(time.Hour)); d.OK || d.Reason != admission.ReasonRateLimitedEvents || d.RetryAfter != time.Second {
		t.Errorf("500 beyond the share's burst: %+v, want 429 after 1 s", d)
	}
	if d := l.AdmitShare("acme", q, 0.3, 1200, 0, now.Add(time.Hour)); d.OK || d.Reason != admission.ReasonExceedsBurstEvents {
		t.Errorf("1200 beyond the whole burst: %+v, want 413", d)
	}
}
