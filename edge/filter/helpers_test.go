package filter_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/fakeclock"
)

// Test keys: "ik_" + 8-character prefix + "_" + secret, in the registry's alphabet.
const (
	acmeKey    = "ik_acmeaaaa_" + "secretacmesecretacmesecretacme2345"
	betaKey    = "ik_betabbbb_" + "secretbetasecretbetasecretbeta2345"
	revokedKey = "ik_acmeaaaa_" + "revokedacmerevokedacmerevokedacme2"
)

// start is the fake clock's first reading.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func key(tenant, k string, notAfter *time.Time) filterconfig.Key {
	salt := sha256.Sum256([]byte("salt:" + k))
	h := filterconfig.HashKey(salt[:16], k)
	return filterconfig.Key{ID: tenant + "-" + k[3:11], Tenant: tenant, Salt: salt[:16], Hash: h[:], NotAfter: notAfter}
}

// testConfig is a configuration with tenants acme (2 events/s, burst 10; 1000 bytes/s, burst
// 4000) and beta (unlimited), an edge bound of 10,000 bytes in flight and bodies of at most
// 5,000 bytes.
func testConfig() *filterconfig.Config {
	past := start.Add(-time.Hour)
	prefix := func(k string) string { p, _ := filterconfig.ParseKeyPrefix(k); return p }
	return &filterconfig.Config{
		Tenants: []filterconfig.Tenant{
			{ID: "acme", Quotas: filterconfig.Quotas{EventsPerSecond: 2, BurstEvents: 10, BytesPerSecond: 1000, BurstBytes: 4000}},
			{ID: "beta"},
		},
		Keys: map[string][]filterconfig.Key{
			prefix(acmeKey): {key("acme", acmeKey, nil), key("acme", revokedKey, &past)},
			prefix(betaKey): {key("beta", betaKey, nil)},
		},
		Limits:       filterconfig.Limits{MaxInFlightBytes: 10_000, MaxRequestBodyBytes: 5_000, DefaultRetryAfterSeconds: 5},
		MarkerHeader: filterconfig.DefaultMarkerHeader,
	}
}

// env runs the filter through the Go edge host, with its own shared state, metrics and clock.
type env struct {
	t       testing.TB
	host    *envoyhost.Host
	metrics *envoyhost.Metrics
	shared  *filter.Shared
	clock   *fakeclock.Clock
	filter  envoyhost.Filter
}

func newEnv(t testing.TB, cfg *filterconfig.Config) *env {
	t.Helper()
	a, err := filterconfig.Encode(cfg)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	m, err := envoyhost.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := envoyhost.ParseConfig(filter.ConfigParser{}, a, m)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c := fakeclock.New(start)
	shared := filter.NewShared(c.Now)
	return &env{
		t: t, host: envoyhost.New(nil), metrics: m, shared: shared, clock: c,
		filter: envoyhost.Filter{Factory: shared.FilterFactory, Config: parsed},
	}
}

// send decodes r; the stream is finished at the end of the test unless the caller does it.
func (e *env) send(r *http.Request) *envoyhost.Result {
	e.t.Helper()
	res, err := e.host.Decode(context.Background(), e.filter, r, 0)
	if err != nil {
		e.t.Fatalf("Decode: %v", err)
	}
	e.t.Cleanup(func() { res.Finish(200, nil) })
	return res
}

// sendDone decodes r and finishes the stream at once, as after a quick upstream answer.
func (e *env) sendDone(r *http.Request) *envoyhost.Result {
	e.t.Helper()
	res := e.send(r)
	if res.Local != nil {
		res.Finish(res.Local.Status, res.Local.Header)
	} else {
		res.Finish(200, nil)
	}
	return res
}

// request builds a POST to path with the given key (sent as a bearer token), content type and body.
func request(path, apiKey, contentType string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://edge.example"+path, bytes.NewReader(body))
	if apiKey != "" {
		r.Header.Set("Authorization", "Bearer "+apiKey)
	}
	r.Header.Set("Content-Type", contentType)
	return r
}

// events returns an NDJSON body of n events.
func events(n int) []byte {
	return []byte(strings.Repeat(`{"type":"log","body":"x"}`+"\n", n))
}

func gzipped(t *testing.T, b []byte) []byte { return gzippedTB(t, b) }

func gzippedTB(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// reply is the decoded JSON body of a refusal.
type reply struct {
	Error struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantRefusal checks that res is a local reply with status, reason and Retry-After.
func wantRefusal(t *testing.T, res *envoyhost.Result, status int, reason, retryAfter string) reply {
	t.Helper()
	lr := res.Local
	if lr == nil {
		t.Fatalf("request forwarded with headers %v, want %d %s", res.Header, status, reason)
	}
	var body reply
	if err := json.Unmarshal(lr.Body, &body); err != nil {
		t.Fatalf("reply body %q is not JSON: %v", lr.Body, err)
	}
	if lr.Status != status || body.Error.Reason != reason || lr.Details != reason || lr.Header.Get("Retry-After") != retryAfter ||
		lr.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("reply = %d %q (details %q), Retry-After %q, content-type %q; want %d %q, Retry-After %q, application/json",
			lr.Status, lr.Body, lr.Details, lr.Header.Get("Retry-After"), lr.Header.Get("Content-Type"), status, reason, retryAfter)
	}
	return body
}

// panicking wraps the filter and panics after its DecodeData, to check the host's RecoverPanic
// path and that the in-flight bytes are still released.
type panicking struct{ api.StreamFilter }

func (p panicking) DecodeData(b api.BufferInstance, end bool) api.StatusType {
	p.StreamFilter.DecodeData(b, end)
	panic("filter bug")
}
