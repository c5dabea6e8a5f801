package filter_test

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/internal/reason"
)

// Invariant 3 at the edge: with the in-flight bound B = 10,000 bytes and the default tenant
// share of 0.25 (2,500 bytes), tenant beta holding its share gets its next request shed with
// 503 err-ingest-edge-tenant-share-full and Retry-After, while tenant acme is still admitted.
// Before the share existed, beta could hold the whole bound and acme got 503 err-ingest-edge-full.
func TestTenantOverItsInflightShareIsShedWhileOthersAreAdmitted(t *testing.T) {
	e := newEnv(t, testConfig())
	held := e.send(request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("{}\n"), 800))) // 2,400 bytes
	if held.Local != nil {
		t.Fatalf("beta's first request was refused: %s", held.Local.Body)
	}
	body := wantRefusal(t, e.send(request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("{}\n"), 100))),
		503, filter.ReasonEdgeTenantShareFull, "5")
	if !strings.Contains(body.Error.Message, `"beta"`) || !strings.Contains(body.Error.Message, "2500") {
		t.Errorf("message %q does not name the tenant and its share", body.Error.Message)
	}
	if res := e.send(request("/v1/events", acmeKey, "application/x-ndjson", events(1))); res.Local != nil {
		t.Fatalf("acme was refused while beta holds its share: %d %s", res.Local.Status, res.Local.Body)
	}
	if got := e.metrics.Counter(filter.RejectedMetric(filter.ReasonEdgeTenantShareFull)); got != 1 {
		t.Errorf("%s = %d, want 1", filter.RejectedMetric(filter.ReasonEdgeTenantShareFull), got)
	}
	if got := e.shared.InflightBytes(); got != 2400+int64(len(events(1))) {
		t.Errorf("in-flight bytes = %d after the shed, want the two admitted requests' %d", got, 2400+len(events(1)))
	}
	held.Finish(200, nil) // beta's bytes are released: its next request fits its share again
	if res := e.send(request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("{}\n"), 100))); res.Local != nil {
		t.Fatalf("beta was refused after its held request completed: %s", res.Local.Body)
	}
}

// Every shed is counted per tenant and reason (Envoy's counters have no labels): beta shed once
// for its share, acme once for its event rate; a refusal that is not a shed (401) is not counted.
func TestShedsAreCountedPerTenantAndReason(t *testing.T) {
	e := newEnv(t, testConfig())
	e.send(request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("{}\n"), 800)))
	e.sendDone(request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("{}\n"), 100)))
	e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(10)))
	e.sendDone(request("/v1/events", acmeKey, "application/x-ndjson", events(1))) // over 2 events/s, burst 10
	e.sendDone(request("/v1/events", "ik_nobodyxx_nosuchkeynosuchkeynosuchkey12", "application/x-ndjson", events(1)))
	want := []filter.ShedCount{
		{Tenant: "acme", Reason: string(reason.TenantRateLimitedEvents), N: 1},
		{Tenant: "beta", Reason: filter.ReasonEdgeTenantShareFull, N: 1},
	}
	if got := e.shared.Sheds(); !slices.Equal(got, want) {
		t.Errorf("Sheds() = %+v, want %+v", got, want)
	}
}

func TestSetTenantShareIsValidated(t *testing.T) {
	s := filter.NewShared(nil)
	for _, share := range []float64{0, -0.1, 1.01, math.NaN()} {
		if err := s.SetTenantShare(share); err == nil {
			t.Errorf("SetTenantShare(%v) succeeded", share)
		}
	}
	for _, share := range []float64{0.01, 0.25, 1} {
		if err := s.SetTenantShare(share); err != nil {
			t.Errorf("SetTenantShare(%v): %v", share, err)
		}
	}
}

// failingReader fails the test that reads it: a body that must not be read.
type failingReader struct{ t *testing.T }

func (r failingReader) Read([]byte) (int, error) {
	r.t.Error("the body of a request shed at its headers was read")
	return 0, io.ErrUnexpectedEOF
}

// Invariant 2: a body is buffered only within the in-flight bytes, reserved before it is read
// (its content-length), so a request that does not fit is shed at its headers and its body
// is never buffered. Before, the whole body was buffered first and the decision made on it.
func TestRequestThatDoesNotFitIsShedBeforeItsBodyIsRead(t *testing.T) {
	e := newEnv(t, testConfig())
	held := e.send(request("/v1/events", betaKey, "application/x-ndjson", bytes.Repeat([]byte("{}\n"), 800))) // 2,400 of beta's 2,500
	if held.Local != nil {
		t.Fatalf("beta's first request was refused: %s", held.Local.Body)
	}
	defer held.Finish(200, nil)
	r := request("/v1/events", betaKey, "application/x-ndjson", nil)
	r.Body, r.ContentLength = io.NopCloser(failingReader{t}), 300
	wantRefusal(t, e.send(r), 503, filter.ReasonEdgeTenantShareFull, "5")
	if got := e.shared.InflightBytes(); got != 2400 {
		t.Errorf("in-flight bytes = %d after the shed, want the held request's 2400", got)
	}
}
