package sinkwriter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

func hopKey(t testing.TB, fill byte) *hopauth.Key {
	t.Helper()
	k, err := hopauth.NewKey(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// authWriter serves a writer that verifies hop signatures with key and knows tenants.
func authWriter(t *testing.T, brokers []string, key *hopauth.Key, tenants *sinkwriter.Tenants) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	v, err := hopauth.NewVerifier([]*hopauth.Key{key}, 0)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w, err := sinkwriter.New(testConfig(brokers), reg, testLog(t), sinkwriter.WithHopAuth(v), sinkwriter.WithTenants(tenants))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return serve(t, w), reg
}

// postSigned posts b with the signature sig (none when empty) and returns the status and
// the reason of the answer.
func postSigned(t *testing.T, url string, b record.Batch, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+sinkwriter.PathBatches, bytes.NewReader(b.Data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(sinkwriter.HeaderTenant, b.Tenant)
	req.Header.Set(sinkwriter.HeaderRecordCount, strconv.Itoa(b.Count))
	if sig != "" {
		req.Header.Set(hopauth.Header, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb sinkwriter.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb.Error.Reason
}

// topicExists reports whether topic exists in the cluster.
func topicExists(t *testing.T, brokers []string, topic string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return td.Has(topic)
}

func TestBatchWithoutAValidHopSignatureGets401AndCreatesNoTopic(t *testing.T) {
	brokers := newCluster(t).ListenAddrs()
	key := hopKey(t, 1)
	srv, reg := authWriter(t, brokers, key, sinkwriter.StaticTenants("acme", "evil"))
	b := makeBatch("evil", 3, 200, 1)
	claims := hopauth.Claims{Audience: hopauth.AudienceSinkWriter, Tenant: "evil", Count: "3"}
	sign := func(k *hopauth.Key, at time.Time, c hopauth.Claims) string {
		s, err := hopauth.Sign(k, at, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	acmeClaims := claims
	acmeClaims.Tenant = "acme"
	edgeClaims := claims
	edgeClaims.Audience = hopauth.AudienceNormalizer
	for name, tc := range map[string]struct{ sig, cause string }{
		"no signature":            {"", "missing"},
		"another key":             {sign(hopKey(t, 2), time.Now(), claims), "unknown_key"},
		"expired":                 {sign(key, time.Now().Add(-6*time.Minute), claims), "expired"},
		"another tenant's":        {sign(key, time.Now(), acmeClaims), "bad_signature"},
		"the edge hop's":          {sign(key, time.Now(), edgeClaims), "bad_signature"},
		"garbage":                 {"v1.1.deadbeef.x", "malformed"},
		"forged x-tenant-id only": {"", "missing"},
	} {
		if status, reason := postSigned(t, srv.URL, b, tc.sig); status != http.StatusUnauthorized || reason != sinkwriter.ReasonInternalAuth {
			t.Errorf("%s: %d %s, want 401 %s", name, status, reason, sinkwriter.ReasonInternalAuth)
		}
		if got := metric(t, reg, "ingest_sinkwriter_internal_auth_failures_total", "cause", tc.cause); got == 0 {
			t.Errorf("%s: not counted under cause %s", name, tc.cause)
		}
	}
	if topicExists(t, brokers, "ingest.evil") {
		t.Error("an unauthenticated batch created topic ingest.evil")
	}
	if n := metric(t, reg, "ingest_sinkwriter_records_produced_total", "tenant", "evil"); n != 0 {
		t.Errorf("%v records of unauthenticated batches produced", n)
	}

	// The normalizer's client signs: the same batch goes through.
	c, err := client.New(client.Config{URL: srv.URL}, testLog(t), client.WithHopKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Write(context.Background(), b); err != nil {
		t.Fatalf("signed batch: %v", err)
	}
	checkInKafka(t, brokers, "ingest.evil", b)
}

func TestSignedBatchOfAnUnknownTenantGets403AndCreatesNoTopic(t *testing.T) {
	brokers := newCluster(t).ListenAddrs()
	key := hopKey(t, 1)
	var listed atomic.Value // the control plane's tenant ids, as JSON
	listed.Store(`{"tenants":[{"id":"acme"}],"revision":1}`)
	var fetches atomic.Int32
	cp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/tenants" || r.Header.Get("Authorization") != "Bearer report-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fetches.Add(1)
		w.Write([]byte(listed.Load().(string)))
	}))
	defer cp.Close()
	const every = 200 * time.Millisecond
	tenants, err := sinkwriter.NewTenants(sinkwriter.TenantsConfig{URL: cp.URL, Token: "report-token", MissRefreshInterval: every},
		prometheus.NewRegistry(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	srv, reg := authWriter(t, brokers, key, tenants)
	c, err := client.New(client.Config{URL: srv.URL}, testLog(t), client.WithHopKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The first batch fetches the list (none yet); ghost is not in it.
	ghost := makeBatch("ghost", 2, 200, 1)
	sig, _ := hopauth.Sign(key, time.Now(), hopauth.Claims{Audience: hopauth.AudienceSinkWriter, Tenant: "ghost", Count: "2"})
	if status, reason := postSigned(t, srv.URL, ghost, sig); status != http.StatusForbidden || reason != sinkwriter.ReasonUnknownTenant {
		t.Errorf("unknown tenant: %d %s, want 403 %s", status, reason, sinkwriter.ReasonUnknownTenant)
	}
	if err := c.Write(context.Background(), makeBatch("acme", 2, 200, 2)); err != nil {
		t.Errorf("known tenant: %v", err)
	}
	// Misses do not hammer the control plane: concurrent ones share a fetch, and there is at
	// most one per miss_refresh_interval.
	before, started := fetches.Load(), time.Now()
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); postSigned(t, srv.URL, ghost, sig) }()
	}
	wg.Wait()
	if n, most := fetches.Load()-before, int32(time.Since(started)/every)+1; n > most || n < 1 {
		t.Errorf("%d fetches of the tenant list for 5 concurrent misses in %v, want 1 to %d", n, time.Since(started), most)
	}
	// A tenant created since the last fetch is found by the miss.
	listed.Store(`{"tenants":[{"id":"acme"},{"id":"new"}],"revision":2}`)
	if err := c.Write(context.Background(), makeBatch("new", 1, 100, 3)); err != nil {
		t.Errorf("a tenant created since the last fetch: %v", err)
	}
	if topicExists(t, brokers, "ingest.ghost") {
		t.Error("a batch of an unknown tenant created topic ingest.ghost")
	}
	if got := metric(t, reg, "ingest_sinkwriter_unknown_tenant_batches_total"); got != 6 {
		t.Errorf("unknown tenant batches = %v, want 6", got)
	}
}

func TestWithoutATenantListBatchesGet503(t *testing.T) {
	brokers := newCluster(t).ListenAddrs()
	key := hopKey(t, 1)
	cp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer cp.Close()
	tenants, err := sinkwriter.NewTenants(sinkwriter.TenantsConfig{URL: cp.URL, Token: "t"}, prometheus.NewRegistry(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := authWriter(t, brokers, key, tenants)
	b := makeBatch("acme", 1, 100, 1)
	sig, _ := hopauth.Sign(key, time.Now(), hopauth.Claims{Audience: hopauth.AudienceSinkWriter, Tenant: "acme", Count: "1"})
	if status, reason := postSigned(t, srv.URL, b, sig); status != http.StatusServiceUnavailable || reason != sinkwriter.ReasonTenantsUnavailable {
		t.Errorf("no tenant list: %d %s, want 503 %s", status, reason, sinkwriter.ReasonTenantsUnavailable)
	}
}

func TestServiceRefusesToStartWithoutHopKeyOrTenantSource(t *testing.T) {
	err := sinkwriter.ServiceConfig{}.Validate()
	for _, key := range []string{"hop_auth.key_file", "hop_auth.insecure_internal_hops", "tenants.url", "tenants.allow_any_tenant"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate of the zero config = %v, want it to name %s", err, key)
		}
	}
	ok := sinkwriter.ServiceConfig{HopAuth: hopauth.Config{InsecureInternalHops: true}, Tenants: sinkwriter.TenantsConfig{AllowAnyTenant: true}}
	if err := ok.Validate(); err != nil {
		t.Errorf("the explicit opt-outs: %v", err)
	}
}
