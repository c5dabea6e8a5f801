package filter_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/hopauth"
)

// An admitted request carries the filter's signature over the tenant and event count it set,
// which the normalizer verifies; a client's own copy of the header never gets through.
func TestAdmittedRequestsAreSignedForTheNormalizer(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	cfg := testConfig()
	cfg.HopKey = secret
	e := newEnv(t, cfg)
	k, err := hopauth.NewKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := hopauth.NewVerifier([]*hopauth.Key{k}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := request("/v1/events", betaKey, "application/x-ndjson", events(3))
	r.Header.Set(hopauth.Header, "v1.1.deadbeef.forged")
	res := e.sendDone(r)
	if res.Local != nil {
		t.Fatalf("refused: %+v", res.Local)
	}
	sig := res.Header.Get(hopauth.Header)
	claims := hopauth.Claims{Audience: hopauth.AudienceNormalizer, Tenant: "beta", Count: "3"}
	if err := v.Verify(sig, e.clock.Now().Add(time.Second), claims); err != nil {
		t.Errorf("signature %q does not verify for tenant beta and 3 events: %v", sig, err)
	}
	if got := res.Header.Get("X-Tenant-Id"); got != "beta" || res.Header.Get("X-Ingest-Event-Count") != "3" {
		t.Errorf("tenant %q count %q, want beta 3", got, res.Header.Get("X-Ingest-Event-Count"))
	}

	// Without a key the filter signs nothing, and strips the client's copy.
	plain := newEnv(t, testConfig())
	r = request("/v1/events", betaKey, "application/x-ndjson", events(1))
	r.Header.Set(hopauth.Header, sig)
	if res := plain.sendDone(r); res.Header.Get(hopauth.Header) != "" {
		t.Errorf("a filter without a hop key forwarded %q", res.Header.Get(hopauth.Header))
	}
}
