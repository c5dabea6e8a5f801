package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
)

const token = "test-admin-token-0123456789"

type env struct {
	t       *testing.T
	srv     *httptest.Server
	reg     *registry.Registry
	metrics *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	metrics := prometheus.NewRegistry()
	srv, reg := apitest.Start(t, api.Config{Token: token, Metrics: metrics})
	return &env{t: t, srv: srv, reg: reg, metrics: metrics}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errBody(t *testing.T) api.ErrorDetail {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not an error body (%v): %s", err, r.body)
	}
	return eb.Error
}

// do sends a request with the admin token; headers are given as "Name", "value" pairs.
func (e *env) do(method, path, body string, headers ...string) resp {
	e.t.Helper()
	return e.doToken(token, method, path, body, headers...)
}

func (e *env) doToken(tok, method, path, body string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) tenant(r resp) registry.Tenant {
	e.t.Helper()
	var tn registry.Tenant
	if err := json.Unmarshal(r.body, &tn); err != nil {
		e.t.Fatalf("not a tenant (%v): %s", err, r.body)
	}
	return tn
}

func (e *env) mustStatus(r resp, want int) resp {
	e.t.Helper()
	if r.status != want {
		e.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

func TestMissingOrWrongTokenIs401WithHowToPassIt(t *testing.T) {
	e := newEnv(t)
	for _, tok := range []string{"", "wrong-token-of-some-length", token + "x"} {
		r := e.doToken(tok, "GET", "/v1/tenants", "")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("token %q: status %d", tok, r.status)
		}
		eb := r.errBody(t)
		if eb.Code != api.CodeUnauthorized || !strings.Contains(eb.Message, "Authorization: Bearer") || !strings.Contains(eb.Message, "INGEST_TOKEN") {
			t.Fatalf("token %q: error %+v", tok, eb)
		}
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("no WWW-Authenticate: %v", r.header)
		}
	}
	// Also on writes: nothing changes without the token.
	e.mustStatus(e.doToken("", "POST", "/v1/tenants", `{"id":"acme"}`), 401)
	if e.reg.Revision() != 0 {
		t.Fatal("an unauthenticated write changed the registry")
	}
	e.mustStatus(e.doToken("", "GET", "/healthz", ""), 200)
	e.mustStatus(e.doToken("", "GET", "/openapi.yaml", ""), 200)
}

func TestNewRefusesAShortToken(t *testing.T) {
	reg, err := registry.Open(filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := api.New(api.Config{Registry: reg, Token: "short"}); err == nil {
		t.Fatal("short token accepted")
	}
}

func TestTenantLifecycleWithETags(t *testing.T) {
	e := newEnv(t)
	r := e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme","display_name":"Acme","quotas":{"events_per_second":100},"stage":"shadow"}`, "X-Actor", "alice@laptop"), 201)
	tn := e.tenant(r)
	if tn.ID != "acme" || tn.Stage.String() != "shadow" || tn.Quotas.EventsPerSecond != 100 || r.header.Get("ETag") != `"1"` || r.header.Get("Location") != "/v1/tenants/acme" {
		t.Fatalf("create: %+v, headers %v", tn, r.header)
	}
	r = e.mustStatus(e.do("GET", "/v1/tenants/acme", ""), 200)
	if r.header.Get("ETag") != `"1"` {
		t.Fatalf("ETag %q", r.header.Get("ETag"))
	}
	r = e.mustStatus(e.do("PATCH", "/v1/tenants/acme", `{"display_name":"Acme Corp"}`, "If-Match", `"1"`), 200)
	if e.tenant(r).DisplayName != "Acme Corp" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("patch: %s %v", r.body, r.header)
	}
	r = e.mustStatus(e.do("PUT", "/v1/tenants/acme/quotas", `{"events_per_second":5,"bytes_per_second":1e6,"revision":2}`), 200)
	if q := e.tenant(r).Quotas; q.EventsPerSecond != 5 || q.BytesPerSecond != 1e6 {
		t.Fatalf("quotas %+v", q)
	}
	r = e.mustStatus(e.do("PUT", "/v1/tenants/acme/stage", `{"stage":"canary:10"}`, "If-Match", `"3"`), 200)
	if tn := e.tenant(r); tn.Stage.String() != "canary:10" || tn.PreviousStage.String() != "shadow" {
		t.Fatalf("stage %s previous %s", tn.Stage, tn.PreviousStage)
	}
	var list api.TenantList
	r = e.mustStatus(e.do("GET", "/v1/tenants", ""), 200)
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Tenants) != 1 || list.Revision != 4 {
		t.Fatalf("list: %v %s", err, r.body)
	}
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 409)
	if eb := e.do("POST", "/v1/tenants", `{"id":"acme"}`).errBody(t); eb.Code != api.CodeAlreadyExists {
		t.Fatalf("duplicate: %+v", eb)
	}
	e.mustStatus(e.do("DELETE", "/v1/tenants/acme", "", "If-Match", `"4"`), 204)
	e.mustStatus(e.do("GET", "/v1/tenants/acme", ""), 404)
	if eb := e.do("GET", "/v1/tenants/acme", "").errBody(t); eb.Code != api.CodeNotFound {
		t.Fatalf("get deleted: %+v", eb)
	}

	var audit api.AuditList
	r = e.mustStatus(e.do("GET", "/v1/audit?tenant=acme", ""), 200)
	if err := json.Unmarshal(r.body, &audit); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range audit.Entries {
		actions = append(actions, string(en.Action))
	}
	if got := strings.Join(actions, ","); got != "tenant.create,tenant.update,tenant.quotas,tenant.stage,tenant.delete" {
		t.Fatalf("audit actions %s", got)
	}
	if audit.Entries[0].Actor != "alice@laptop" || audit.Entries[1].Actor != api.DefaultActor || audit.NextSince != 5 {
		t.Fatalf("audit actors %q %q next %d", audit.Entries[0].Actor, audit.Entries[1].Actor, audit.NextSince)
	}
	r = e.mustStatus(e.do("GET", "/v1/audit?since=3&limit=1", ""), 200)
	if err := json.Unmarshal(r.body, &audit); err != nil || len(audit.Entries) != 1 || audit.Entries[0].Seq != 4 {
		t.Fatalf("audit since: %s", r.body)
	}
}

func TestUpdatesNeedARevisionAndStaleOnesAre409(t *testing.T) {
	e := newEnv(t)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/v1/tenants/acme", `{"display_name":"x"}`},
		{"PUT", "/v1/tenants/acme/quotas", `{"events_per_second":1}`},
		{"PUT", "/v1/tenants/acme/stage", `{"stage":"v2"}`},
		{"DELETE", "/v1/tenants/acme", ``},
		{"PUT", "/v1/upstreams", `{"ingest_v1":[],"ingest_v2":[]}`},
	} {
		r := e.do(c.method, c.path, c.body)
		if r.status != http.StatusPreconditionRequired {
			t.Fatalf("%s %s without a revision: %d %s", c.method, c.path, r.status, r.body)
		}
		if eb := r.errBody(t); eb.Code != api.CodeRevisionRequired || eb.Field != "If-Match" {
			t.Fatalf("428 body %+v", eb)
		}
	}
	// Alice and Bob both read revision 1; Alice writes first.
	e.mustStatus(e.do("PUT", "/v1/tenants/acme/stage", `{"stage":"shadow"}`, "If-Match", `"1"`), 200)
	r := e.mustStatus(e.do("PUT", "/v1/tenants/acme/stage", `{"stage":"v2"}`, "If-Match", `"1"`), 409)
	if eb := r.errBody(t); eb.Code != api.CodeRevisionConflict || eb.CurrentRevision != 2 {
		t.Fatalf("409 body %+v", eb)
	}
	e.mustStatus(e.do("PUT", "/v1/tenants/acme/stage", `{"stage":"v2","revision":1}`), 409)
	e.mustStatus(e.do("DELETE", "/v1/tenants/acme", "", "If-Match", `"1"`), 409)
	e.mustStatus(e.do("POST", "/v1/tenants/acme/keys", `{"revision":1}`), 409)
	e.mustStatus(e.do("PUT", "/v1/tenants/acme/stage", `{"stage":"v2","revision":2}`, "If-Match", `"1"`), 400)
	if tn, _ := e.reg.Tenant(t.Context(), "acme"); tn.Stage.String() != "shadow" {
		t.Fatalf("stale writes changed the stage to %s", tn.Stage)
	}
	// If-Match: * overwrites on purpose.
	e.mustStatus(e.do("PUT", "/v1/tenants/acme/stage", `{"stage":"v2"}`, "If-Match", `*`), 200)
	// Upstreams: revision 0 until set, then their own.
	r = e.mustStatus(e.do("PUT", "/v1/upstreams", `{"ingest_v1":[{"host":"legacy","port":80}],"ingest_v2":[]}`, "If-Match", `"0"`), 200)
	etag := r.header.Get("ETag")
	e.mustStatus(e.do("PUT", "/v1/upstreams", `{"ingest_v1":[],"ingest_v2":[]}`, "If-Match", `"2"`), 409)
	e.mustStatus(e.do("PUT", "/v1/upstreams", `{"ingest_v1":[],"ingest_v2":[{"host":"n1","port":4318}]}`, "If-Match", etag), 200)
}

func TestValidationErrorsNameTheField(t *testing.T) {
	e := newEnv(t)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	for _, c := range []struct {
		method, path, body string
		headers            []string
		field              string
	}{
		{"POST", "/v1/tenants", `{"id":"Acme"}`, nil, "id"},
		{"POST", "/v1/tenants", `{"display_name":"x"}`, nil, "id"},
		{"POST", "/v1/tenants", `{"id":5}`, nil, "id"},
		{"POST", "/v1/tenants", `{"id":"b","idd":"x"}`, nil, "idd"},
		{"POST", "/v1/tenants", `{"id":"b","quotas":{"events_per_second":-1}}`, nil, "quotas.events_per_second"},
		{"POST", "/v1/tenants", `{"id":"b","quotas":{"bytes_per_second":"fast"}}`, nil, "quotas.bytes_per_second"},
		{"POST", "/v1/tenants", `{"id":"b","stage":"canary:0"}`, nil, "stage"},
		{"POST", "/v1/tenants", `{"id":"b","display_name":"` + strings.Repeat("x", 201) + `"}`, nil, "display_name"},
		{"POST", "/v1/tenants", `[1]`, nil, "body"},
		{"POST", "/v1/tenants", ``, nil, "body"},
		{"PUT", "/v1/tenants/acme/quotas", `{"bytes_per_second":-2}`, []string{"If-Match", "*"}, "bytes_per_second"},
		{"PUT", "/v1/tenants/acme/stage", `{"stage":"blue"}`, []string{"If-Match", "*"}, "stage"},
		{"PUT", "/v1/tenants/acme/stage", `{}`, []string{"If-Match", "*"}, "stage"},
		{"PUT", "/v1/tenants/acme/stage", `{"stage":"v2"}`, []string{"If-Match", "abc"}, "If-Match"},
		{"PUT", "/v1/tenants/acme/stage", `{"stage":"v2"}`, []string{"If-Match", `"0"`}, "If-Match"},
		{"PUT", "/v1/tenants/acme/stage", `{"stage":"v2","revision":-1}`, nil, "revision"},
		{"PUT", "/v1/tenants/acme/stage", `{"stage":"v2"}`, []string{"If-Match", "*", "X-Actor", strings.Repeat("a", 300)}, "X-Actor"},
		{"POST", "/v1/tenants/acme/keys/nokey/rotate", `{"grace":"soon"}`, nil, "grace"},
		{"PUT", "/v1/upstreams", `{"ingest_v1":[{"host":"a","port":0}],"ingest_v2":[]}`, []string{"If-Match", "*"}, "ingest_v1[0].port"},
		{"PUT", "/v1/upstreams", `{"ingest_v1":[]}`, []string{"If-Match", "*"}, "ingest_v2"},
		{"GET", "/v1/audit?limit=abc", ``, nil, "limit"},
		{"GET", "/v1/audit?limit=5000", ``, nil, "limit"},
		{"GET", "/v1/audit?since=-1", ``, nil, "since"},
	} {
		r := e.do(c.method, c.path, c.body, c.headers...)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s %s %s: status %d, want 400: %s", c.method, c.path, c.body, r.status, r.body)
			continue
		}
		if eb := r.errBody(t); eb.Code != api.CodeInvalid || eb.Field != c.field || eb.Message == "" {
			t.Errorf("%s %s %s: error %+v, want field %q", c.method, c.path, c.body, eb, c.field)
		}
	}
	if e.reg.Revision() != 1 {
		t.Fatalf("invalid requests changed the registry: revision %d", e.reg.Revision())
	}
}

func TestKeyIsShownOnceAndOnlyHashesAreStored(t *testing.T) {
	e := newEnv(t)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	r := e.mustStatus(e.do("POST", "/v1/tenants/acme/keys", ""), 201)
	var kr api.KeyResponse
	if err := json.Unmarshal(r.body, &kr); err != nil {
		t.Fatal(err)
	}
	if p, ok := registry.ParseKeyPrefix(kr.Key); !ok || p != kr.APIKey.ID || len(kr.Tenant.Keys) != 1 {
		t.Fatalf("key response %s", r.body)
	}
	if bytes.Contains(r.body, []byte(`"salt"`)) || bytes.Contains(r.body, []byte(`"hash"`)) {
		t.Fatalf("key response leaks salt or hash: %s", r.body)
	}
	for _, path := range []string{"/v1/tenants/acme", "/v1/tenants", "/v1/audit"} {
		b := e.mustStatus(e.do("GET", path, ""), 200).body
		if bytes.Contains(b, []byte(kr.Key)) || bytes.Contains(b, []byte(`"salt"`)) || bytes.Contains(b, []byte(`"hash"`)) {
			t.Fatalf("GET %s shows the key or its hash: %s", path, b)
		}
	}
	// The registry can still verify it.
	tn, _ := e.reg.Tenant(t.Context(), "acme")
	if !tn.Keys[0].Verify(kr.Key) {
		t.Fatal("stored key does not verify")
	}

	r = e.mustStatus(e.do("POST", "/v1/tenants/acme/keys/"+kr.APIKey.ID+"/rotate", `{"grace":"1h"}`), 201)
	var rot api.KeyResponse
	if err := json.Unmarshal(r.body, &rot); err != nil {
		t.Fatal(err)
	}
	if rot.Key == kr.Key || rot.Replaced == nil || rot.Replaced.ID != kr.APIKey.ID || rot.Replaced.RevokedAt == nil {
		t.Fatalf("rotate: %s", r.body)
	}
	e.mustStatus(e.do("POST", "/v1/tenants/acme/keys/"+kr.APIKey.ID+"/rotate", ``), 400)
	r = e.mustStatus(e.do("DELETE", "/v1/tenants/acme/keys/"+rot.APIKey.ID, ""), 200)
	if k := e.tenant(r).Keys[1]; k.ID != rot.APIKey.ID || k.RevokedAt == nil {
		t.Fatalf("revoke: %+v", k)
	}
	e.mustStatus(e.do("DELETE", "/v1/tenants/acme/keys/nokey", ""), 404)
	e.mustStatus(e.do("POST", "/v1/tenants/nobody/keys", ""), 404)
}

func TestConcurrentHTTPUpdatesEitherSucceedOrConflict(t *testing.T) {
	e := newEnv(t)
	e.mustStatus(e.do("POST", "/v1/tenants", `{"id":"acme"}`), 201)
	const workers, rounds = 8, 4
	var ok, conflict atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				req, _ := http.NewRequest("GET", e.srv.URL+"/v1/tenants/acme", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_ = res.Body.Close()
				etag := res.Header.Get("ETag")
				body := fmt.Sprintf(`{"events_per_second":%d}`, w*100+i+1)
				req, _ = http.NewRequest("PUT", e.srv.URL+"/v1/tenants/acme/quotas", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("If-Match", etag)
				res, err = e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_ = res.Body.Close()
				switch res.StatusCode {
				case 200:
					ok.Add(1)
				case 409:
					conflict.Add(1)
				default:
					t.Errorf("status %d", res.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load()+conflict.Load() != workers*rounds || ok.Load() == 0 {
		t.Fatalf("%d ok, %d conflicts of %d", ok.Load(), conflict.Load(), workers*rounds)
	}
	tn, _ := e.reg.Tenant(t.Context(), "acme")
	if tn.Revision != 1+ok.Load() {
		t.Fatalf("final revision %d, want 1 + %d successes", tn.Revision, ok.Load())
	}
}

func TestUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	e := newEnv(t)
	r := e.mustStatus(e.do("GET", "/v2/nothing", ""), 404)
	if eb := r.errBody(t); eb.Code != api.CodeNotFound {
		t.Fatalf("%+v", eb)
	}
	r = e.mustStatus(e.do("POST", "/v1/tenants/acme", "{}"), 405)
	if eb := r.errBody(t); eb.Code != api.CodeMethodNotAllowed || r.header.Get("Allow") != "DELETE, GET, PATCH" {
		t.Fatalf("%+v allow %q", eb, r.header.Get("Allow"))
	}
	r = e.do("POST", "/v1/tenants", `{"id":"x"}`, "Content-Type", "text/plain")
	if r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", r.status)
	}
	big := `{"id":"x","display_name":"` + strings.Repeat("x", 2<<20) + `"}`
	r = e.do("POST", "/v1/tenants", big)
	if r.status != http.StatusRequestEntityTooLarge || r.errBody(t).Code != api.CodeBodyTooLarge {
		t.Fatalf("big body: %d %s", r.status, r.body)
	}
}

func TestRequestsAreCountedByRouteAndCode(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/v1/tenants", `{"id":"acme"}`)
	e.do("GET", "/v1/tenants/acme", "")
	e.do("GET", "/v1/tenants/nope", "")
	e.doToken("", "GET", "/v1/tenants", "")
	e.do("GET", "/nowhere", "")
	want := `
# HELP ingest_controlplane_api_requests_total Admin API requests by route (method and path pattern) and HTTP status code.
# TYPE ingest_controlplane_api_requests_total counter
ingest_controlplane_api_requests_total{code="200",route="GET /v1/tenants/{id}"} 1
ingest_controlplane_api_requests_total{code="201",route="POST /v1/tenants"} 1
ingest_controlplane_api_requests_total{code="401",route="GET /v1/tenants"} 1
ingest_controlplane_api_requests_total{code="404",route="GET /v1/tenants/{id}"} 1
ingest_controlplane_api_requests_total{code="404",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(e.metrics, strings.NewReader(want), "ingest_controlplane_api_requests_total"); err != nil {
		t.Fatal(err)
	}
}
