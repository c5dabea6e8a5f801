package normalizer

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMirroredRequestsAreMarkedShadowByTheirAuthorityOnly checks the normalizer's half of the
// shadow data path: only a request whose authority ends with "-shadow" (what the edge's
// mirror makes of it) produces a shadow batch; the authority the control plane gives every
// request routed to ingest-v2 and any other one give live batches, and no header can make a
// batch shadow.
func TestMirroredRequestsAreMarkedShadowByTheirAuthorityOnly(t *testing.T) {
	for _, tc := range []struct {
		host   string
		header map[string]string
		shadow bool
	}{
		{host: "ingest-v2-shadow", shadow: true},
		{host: "ingest-v2-shadow:4318", shadow: true},
		{host: "api.example.com-shadow", shadow: true},
		{host: "ingest-v2"},
		{host: "127.0.0.1:4318"},
		{host: "shadow.ingest-v2"},
		{host: "ingest-v2", header: map[string]string{"X-Ingest-Shadow": "true", "X-Forwarded-Host": "ingest-v2-shadow"}},
	} {
		ts := newTestServer(t, DefaultConfig())
		hr := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader([]byte(goodLine+"\n")))
		hr.Host = tc.host
		hr.Header.Set("Content-Type", "application/x-ndjson")
		hr.Header.Set(HeaderTenant, testTenant)
		for k, v := range tc.header {
			hr.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, hr)
		if w.Code != http.StatusOK {
			t.Fatalf("host %q: status %d: %s", tc.host, w.Code, w.Body)
		}
		bs := ts.sink.Batches()
		if len(bs) != 1 || bs[0].Count != 1 {
			t.Fatalf("host %q: %d batches, want one of 1 record", tc.host, len(bs))
		}
		if bs[0].Shadow != tc.shadow {
			t.Errorf("host %q, headers %v: batch Shadow = %v, want %v", tc.host, tc.header, bs[0].Shadow, tc.shadow)
		}
	}
}
