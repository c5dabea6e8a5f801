package normalizer

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/record/recordtest"
)

func testHopKey(t *testing.T, fill byte) *hopauth.Key {
	t.Helper()
	k, err := hopauth.NewKey(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newAuthServer is newTestServer verifying hop signatures with key.
func newAuthServer(t *testing.T, key *hopauth.Key) *testServer {
	t.Helper()
	v, err := hopauth.NewVerifier([]*hopauth.Key{key}, 0)
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordtest.Sink{}
	reg := prometheus.NewRegistry()
	s, err := New(Config{}, sink, reg, slog.New(slog.DiscardHandler), WithClock(func() time.Time { return testNow }), WithHopAuth(v))
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s, sink: sink, reg: reg}
}

func TestForgedTenantWithoutAValidEdgeSignatureGets401AndNothingReachesTheSink(t *testing.T) {
	key := testHopKey(t, 1)
	ts := newAuthServer(t, key)
	claims := hopauth.Claims{Audience: hopauth.AudienceNormalizer, Tenant: testTenant, Count: "1"}
	sign := func(k *hopauth.Key, at time.Time, c hopauth.Claims) string {
		s, err := hopauth.Sign(k, at, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other := claims
	other.Tenant = "someone-else"
	moreEvents := claims
	moreEvents.Count = "1000"
	sinkHop := claims
	sinkHop.Audience = hopauth.AudienceSinkWriter
	for name, tc := range map[string]struct{ sig, cause string }{
		"no signature":           {"", "missing"},
		"another key":            {sign(testHopKey(t, 2), testNow, claims), "unknown_key"},
		"expired":                {sign(key, testNow.Add(-6*time.Minute), claims), "expired"},
		"from the future":        {sign(key, testNow.Add(6*time.Minute), claims), "expired"},
		"another tenant's":       {sign(key, testNow, other), "bad_signature"},
		"another event count":    {sign(key, testNow, moreEvents), "bad_signature"},
		"the sink writer hop's":  {sign(key, testNow, sinkHop), "bad_signature"},
		"not a signature at all": {"trust me", "malformed"},
	} {
		r := ndjsonReq(goodLine)
		r.header = map[string]string{HeaderEventCount: "1"}
		if tc.sig != "" {
			r.header[hopauth.Header] = tc.sig
		}
		w := ts.do(t, r)
		if w.Code != http.StatusUnauthorized || errorReason(t, w) != string(ReasonInternalAuth) {
			t.Errorf("%s: %d %s, want 401 %s", name, w.Code, w.Body, ReasonInternalAuth)
		}
		if got := testutil.ToFloat64(ts.metrics.authFailures.WithLabelValues(tc.cause)); got == 0 {
			t.Errorf("%s: not counted under cause %s", name, tc.cause)
		}
	}
	if n := len(ts.sink.Batches()); n != 0 {
		t.Fatalf("%d batches of unauthenticated requests reached the sink", n)
	}
	// No series names the claimed tenant.
	if n := testutil.CollectAndCount(ts.metrics.eventsAccepted) + testutil.CollectAndCount(ts.metrics.requestBytes); n != 0 {
		t.Errorf("%d per-tenant series for unauthenticated requests", n)
	}

	// The edge's signature over the same headers gets the request through.
	r := ndjsonReq(goodLine)
	r.header = map[string]string{HeaderEventCount: "1", hopauth.Header: sign(key, testNow.Add(-time.Minute), claims)}
	if w := ts.do(t, r); w.Code != http.StatusOK {
		t.Fatalf("signed request: %d %s", w.Code, w.Body)
	}
	if b := ts.sink.Batches(); len(b) != 1 || b[0].Tenant != testTenant {
		t.Errorf("signed request: batches %+v, want one of %s", b, testTenant)
	}
}

func TestServiceRefusesToStartWithoutAHopKey(t *testing.T) {
	cfg := ServiceConfig{Sink: SinkDiscard}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "hop_auth.key_file") {
		t.Errorf("Validate without hop_auth = %v, want an error naming hop_auth.key_file", err)
	}
	cfg.HopAuth.InsecureInternalHops = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("with the explicit opt-out: %v", err)
	}
}
