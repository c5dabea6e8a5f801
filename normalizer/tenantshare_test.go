package normalizer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Invariant 3 in the normalizer: with max_inflight_bytes B = 4,000 and the default tenant share
// of 0.25 (1,000 bytes), tenant acme holding its share in a request whose body stalls gets its
// next request shed with 429 err-ingest-normalizer-tenant-share-full and Retry-After, counted
// per tenant and reason, while tenant beta is still accepted. Before the share existed, acme
// could hold the whole bound and beta got 429 err-ingest-normalizer-full.
func TestTenantOverItsInflightShareIsShedWhileOthersAreAccepted(t *testing.T) {
	ts := newTestServer(t, Config{MaxBodyBytes: 3000, MaxDecompressedBytes: 3000, MaxInflightBytes: 4000})

	pr, pw := io.Pipe()
	stalled := httptest.NewRequest(http.MethodPost, "/v1/events", pr)
	stalled.ContentLength = 3000
	stalled.Header.Set("Content-Type", "application/x-ndjson")
	stalled.Header.Set(HeaderTenant, testTenant)
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, stalled)
		done <- w.Code
	}()
	if _, err := pw.Write(bytes.Repeat([]byte(" "), 1000)); err != nil {
		t.Fatal(err)
	}
	// This write returns once the handler reads again, after it reserved the 1,000 bytes.
	if _, err := pw.Write([]byte(" ")); err != nil {
		t.Fatal(err)
	}

	w := ts.do(t, ndjsonReq(goodLine))
	var body struct {
		Error struct{ Reason, Message string }
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusTooManyRequests || body.Error.Reason != string(ReasonNormalizerTenantShareFull) || w.Header().Get("Retry-After") == "" {
		t.Errorf("acme's second request: %d %s (Retry-After %q), want 429 %s with Retry-After",
			w.Code, w.Body, w.Header().Get("Retry-After"), ReasonNormalizerTenantShareFull)
	}
	if !strings.Contains(body.Error.Message, `"acme"`) {
		t.Errorf("message %q does not name the tenant", body.Error.Message)
	}
	beta := ndjsonReq(goodLine)
	beta.tenant = "beta"
	if w := ts.do(t, beta); w.Code != http.StatusOK {
		t.Errorf("beta while acme holds its share: %d %s, want 200", w.Code, w.Body)
	}
	if got := testutil.ToFloat64(ts.metrics.shed.WithLabelValues(testTenant, string(ReasonNormalizerTenantShareFull))); got != 1 {
		t.Errorf("ingest_normalizer_shed_total{tenant=acme,reason=tenant-share-full} = %v, want 1", got)
	}

	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	if n := ts.inflight.Load(); n != 0 {
		t.Errorf("%d bytes still reserved after the requests finished", n)
	}
	if w := ts.do(t, ndjsonReq(goodLine)); w.Code != http.StatusOK {
		t.Errorf("acme after its stalled request ended: %d %s, want 200", w.Code, w.Body)
	}
}
