package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/controlplane/quotashare"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/tenant"
	"github.com/ingestdev/ingest/migration"
	"github.com/ingestdev/ingest/migration/deadletter"
	"github.com/ingestdev/ingest/migration/replay"
)

// Config configures the admin API handler.
type Config struct {
	// Registry is the tenant registry the API reads and changes. Required.
	Registry *registry.Registry
	// Token is the admin bearer token every /v1 request must carry. Required; at least
	// MinTokenLen bytes.
	Token string
	// Metrics registers ingest_controlplane_api_requests_total{route,code}. Nil: not
	// registered (the counter still counts).
	Metrics prometheus.Registerer
	// Log receives server-side errors (5xx). Nil: discard.
	Log *slog.Logger
	// MaxBodyBytes bounds a request body; larger bodies get 413. Zero means 1 MiB. Reports
	// have their own bound, report.MaxBodyBytes.
	MaxBodyBytes int64
	// ReportToken is the bearer token of POST /v1/reports (the cutover report stream),
	// separate from the admin token. Empty: the report stream is disabled (503). Else at
	// least MinTokenLen bytes, and not the admin token.
	ReportToken string
	// Cutover configures the report aggregator and the parity gate (zero fields: defaults).
	Cutover migration.Config
	// Clock is the aggregator's and the quota shares' clock, for tests. Nil: time.Now.
	Clock func() time.Time
	// QuotaShares tunes how the tenants' quotas are divided between the edges that report
	// (controlplane/quotashare); zero fields take the defaults.
	QuotaShares quotashare.Config
	// ClickHouse holds the shadow tables that GET /v1/tenants/{id}/cutover/shadow counts and
	// POST /v1/tenants/{id}/cutover/clear-shadow empties. Zero: those routes answer 501.
	ClickHouse ClickHouse
	// Replay serves /v1/replays (plan, run, diff, promote and discard replays of a tenant's
	// Kafka window; *replay.Manager). Nil: those routes answer 501 not_configured.
	Replay replay.Service
	// DeadLetters lists and re-drives the loaders' dead letters (/v1/deadletters). Nil: those
	// routes answer 501.
	DeadLetters deadletter.Service
}

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns a copy of the OpenAPI 3.0 document of this API, which is also served at
// GET /openapi.yaml.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// MinTokenLen is the shortest admin token New accepts.
const MinTokenLen = 16

// DefaultActor is the actor recorded in the audit log when a request has no X-Actor header.
const DefaultActor = "admin"

// handler serves the admin API.
type handler struct {
	reg       *registry.Registry
	tokenHash [sha256.Size]byte
	log       *slog.Logger
	maxBody   int64
	requests  *prometheus.CounterVec
	mux       *http.ServeMux

	reportsEnabled  bool
	reportTokenHash [sha256.Size]byte
	reports         *prometheus.CounterVec
	agg             *migration.Aggregator
	shares          *quotashare.Allocator // the edges' shares of the quotas; with the report stream
	clock           func() time.Time
	track           *tracker
	shadow          *shadowStore       // nil without ClickHouse
	replay          replay.Service     // nil without replay
	deadLetters     deadletter.Service // nil without Kafka
}

// route is one path of the API with a handler per method.
type route struct {
	pattern string
	auth    bool
	methods map[string]func(w http.ResponseWriter, r *http.Request) error
}

// New returns the admin API handler. It serves /v1/... and /healthz; every other path answers
// 404 in the API's error format. It is safe for concurrent use.
func New(cfg Config) (http.Handler, error) {
	if cfg.Registry == nil {
		return nil, errors.New("cannot create the admin API: no registry")
	}
	if len(cfg.Token) < MinTokenLen {
		return nil, fmt.Errorf("cannot create the admin API: the admin token has %d bytes, fewer than the minimum of %d", len(cfg.Token), MinTokenLen)
	}
	h := &handler{
		reg:         cfg.Registry,
		replay:      cfg.Replay,
		deadLetters: cfg.DeadLetters,
		tokenHash:   sha256.Sum256([]byte(cfg.Token)),
		log:         cfg.Log,
		maxBody:     cfg.MaxBodyBytes,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_controlplane_api_requests_total",
			Help: "Admin API requests by route (method and path pattern) and HTTP status code.",
		}, []string{"route", "code"}),
		mux: http.NewServeMux(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReportToken != "" {
		if len(cfg.ReportToken) < MinTokenLen {
			return nil, fmt.Errorf("cannot create the admin API: the report token has %d bytes, fewer than the minimum of %d", len(cfg.ReportToken), MinTokenLen)
		}
		if cfg.ReportToken == cfg.Token {
			return nil, errors.New("cannot create the admin API: the report token must differ from the admin token (reporters must not be able to change the registry)")
		}
		h.reportsEnabled = true
		h.reportTokenHash = sha256.Sum256([]byte(cfg.ReportToken))
	}
	h.reports = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingest_controlplane_reports_total",
		Help: "Cutover reports received at POST /v1/reports, by source and outcome (accepted, duplicate, stale, future, invalid, too_many_instances, unauthorized, too_large, disabled).",
	}, []string{"source", "outcome"})
	h.track = &tracker{reg: cfg.Registry}
	h.clock = cfg.Clock
	if h.clock == nil {
		h.clock = time.Now
	}
	reg := cfg.Registry
	h.shares = quotashare.New(cfg.QuotaShares, func(id string) (float64, float64, bool) {
		q, ok := reg.TenantQuotas(id)
		return q.EventsPerSecond, q.BytesPerSecond, ok
	})
	opts := []migration.Option{migration.WithTracked(h.track.has)}
	if cfg.Clock != nil {
		opts = append(opts, migration.WithClock(cfg.Clock))
	}
	agg, err := migration.NewAggregator(cfg.Cutover, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the admin API: %w", err)
	}
	h.agg = agg
	if h.shadow, err = newShadowStore(cfg.ClickHouse); err != nil {
		return nil, fmt.Errorf("cannot create the admin API: %w", err)
	}
	if h.maxBody == 0 {
		h.maxBody = 1 << 20
	}
	if cfg.Metrics != nil {
		dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ingest_controlplane_report_tenants_dropped_total",
			Help: "Tenant counts of reports dropped because the cutover aggregator tracked its maximum of tenants.",
		}, func() float64 { return float64(agg.DroppedTenantCounts()) })
		for _, c := range []prometheus.Collector{h.requests, h.reports, dropped, newCutoverCollector(agg, h.track)} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("cannot register the admin API metrics: %w", err)
			}
		}
	}
	for _, rt := range h.routes() {
		h.mux.Handle(rt.pattern, h.serveRoute(rt))
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.count("unmatched", h.writeError(w, r, &apiError{status: http.StatusNotFound, code: CodeNotFound,
			msg: fmt.Sprintf("no route %s %s; the API is under /v1 (see openapi.yaml)", r.Method, r.URL.Path)}))
	})
	return h.mux, nil
}

// routes lists every route of the API. openapi.yaml documents exactly these.
func (h *handler) routes() []route {
	type m = map[string]func(http.ResponseWriter, *http.Request) error
	return []route{
		{"/healthz", false, m{"GET": h.health}},
		{"/openapi.yaml", false, m{"GET": serveOpenAPI}},
		{"/v1/tenants", true, m{"GET": h.listTenants, "POST": h.createTenant}},
		{"/v1/tenants/{id}", true, m{"GET": h.getTenant, "PATCH": h.updateTenant, "DELETE": h.deleteTenant}},
		{"/v1/tenants/{id}/quotas", true, m{"PUT": h.setQuotas}},
		{"/v1/tenants/{id}/quota-shares", true, m{"GET": h.getQuotaShares}},
		{"/v1/tenants/{id}/stage", true, m{"PUT": h.setStage}},
		{"/v1/tenants/{id}/keys", true, m{"POST": h.createKey}},
		{"/v1/tenants/{id}/keys/{key_id}", true, m{"DELETE": h.revokeKey}},
		{"/v1/tenants/{id}/keys/{key_id}/rotate", true, m{"POST": h.rotateKey}},
		{"/v1/upstreams", true, m{"GET": h.getUpstreams, "PUT": h.setUpstreams}},
		{"/v1/audit", true, m{"GET": h.listAudit}},
		{"/v1/reports", false, m{"POST": h.postReport}}, // its own token: the report token
		{"/v1/tenants/{id}/cutover", true, m{"GET": h.getCutover}},
		{"/v1/tenants/{id}/cutover/advance", true, m{"POST": h.advanceCutover}},
		{"/v1/tenants/{id}/cutover/rollback", true, m{"POST": h.rollbackCutover}},
		{"/v1/tenants/{id}/cutover/shadow", true, m{"GET": h.getShadow}},
		{"/v1/tenants/{id}/cutover/clear-shadow", true, m{"POST": h.clearShadow}},
		{"/v1/replays", true, m{"GET": h.listReplays, "POST": h.planReplay}},
		{"/v1/replays/{id}", true, m{"GET": h.getReplay}},
		{"/v1/replays/{id}/start", true, m{"POST": h.startReplay}},
		{"/v1/replays/{id}/cancel", true, m{"POST": h.cancelReplay}},
		{"/v1/replays/{id}/diff", true, m{"GET": h.diffReplay}},
		{"/v1/replays/{id}/promote", true, m{"GET": h.promotePlan, "POST": h.promoteReplay}},
		{"/v1/replays/{id}/discard", true, m{"POST": h.discardReplay}},
		{"/v1/deadletters", true, m{"GET": h.listDeadLetters}},
		{"/v1/deadletters/redrive", true, m{"POST": h.redriveDeadLetters}},
	}
}

// readableWithReportToken says whether the route and method also accept the report token,
// not only the admin token: GET /v1/tenants, the tenant list the sink writers poll to refuse
// unknown tenants (keys redacted). The report token changes nothing in the registry.
func readableWithReportToken(pattern, method string) bool {
	return pattern == "/v1/tenants" && method == http.MethodGet
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (h *handler) count(route string, code int) {
	h.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// serveRoute authenticates, dispatches by method, writes errors and counts the request.
func (h *handler) serveRoute(rt route) http.Handler {
	allowed := make([]string, 0, len(rt.methods))
	for m := range rt.methods {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		label := rt.pattern
		fn, ok := rt.methods[r.Method]
		if ok {
			label = r.Method + " " + rt.pattern
		}
		var err error
		switch {
		case rt.auth && !h.authorized(r) && !(readableWithReportToken(rt.pattern, r.Method) && h.reportAuthorized(r)):
			err = h.unauthorized(r)
		case !ok:
			sw.Header().Set("Allow", allow)
			err = &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed,
				msg: fmt.Sprintf("%s does not allow %s; use %s", rt.pattern, r.Method, allow)}
		default:
			err = fn(sw, r)
		}
		if err != nil {
			h.writeError(sw, r, err)
		}
		h.count(label, sw.code)
	})
}

// authorized compares the bearer token with the admin token in constant time (over SHA-256
// digests, so that not even the length leaks).
func (h *handler) authorized(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
}

func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (h *handler) unauthorized(r *http.Request) error {
	msg := "missing admin token: send the header `Authorization: Bearer <token>` with the token the control plane was started with (--admin-token-file or INGEST_ADMIN_TOKEN); ingestctl reads it from --token or INGEST_TOKEN"
	if _, ok := bearer(r); ok {
		msg = "the admin token sent in `Authorization: Bearer <token>` does not match: use the token the control plane was started with (--admin-token-file or INGEST_ADMIN_TOKEN); ingestctl reads it from --token or INGEST_TOKEN"
	}
	return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, msg: msg}
}

// apiError is an error answer.
type apiError struct {
	status  int
	code    string
	field   string
	msg     string
	current int64
}

func (e *apiError) Error() string { return e.msg }

// toAPIError maps an error kind to its HTTP answer. It is the only place that does.
func toAPIError(err error) *apiError {
	var ae *apiError
	var ve *registry.ValidationError
	var ce *registry.ConflictError
	var mbe *http.MaxBytesError
	var che *clickHouseError
	var mpe *mutationsPendingError
	var re *replay.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &re):
		return replayAPIError(re)
	case errors.Is(err, replay.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, msg: err.Error()}
	case errors.As(err, &mpe):
		return &apiError{status: http.StatusGatewayTimeout, code: CodeTimeout, msg: err.Error()}
	case errors.As(err, &che):
		return &apiError{status: http.StatusBadGateway, code: CodeClickHouse, msg: err.Error()}
	case errors.As(err, &ve):
		field := ve.Field
		if field == "actor" {
			field = "X-Actor"
		}
		return &apiError{status: http.StatusBadRequest, code: CodeInvalid, field: field, msg: err.Error()}
	case errors.As(err, &ce):
		return &apiError{status: http.StatusConflict, code: CodeRevisionConflict, current: ce.Current,
			msg: err.Error() + "; read it again (GET), then retry with the new revision"}
	case errors.Is(err, registry.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, msg: err.Error()}
	case errors.Is(err, registry.ErrAlreadyExists):
		return &apiError{status: http.StatusConflict, code: CodeAlreadyExists, field: "id", msg: err.Error()}
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeBodyTooLarge,
			msg: fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, registry.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, msg: "the control plane is shutting down; retry in a moment"}
	}
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal, msg: "internal error; see the control plane's log"}
}

// writeError writes err as a JSON error answer and returns the status.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	ae := toAPIError(err)
	if ae.status >= 500 {
		h.log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ingest-controlplane"`)
	}
	writeJSON(w, ae.status, ErrorBody{Error: ErrorDetail{Code: ae.code, Field: ae.field, Message: ae.msg, CurrentRevision: ae.current}})
	return ae.status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func setETag(w http.ResponseWriter, rev int64) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(rev, 10)+`"`)
}

func invalid(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalid, field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// readJSONBody reads a request body of at most max bytes whose Content-Type, if any, is
// application/json. A body over max is an *http.MaxBytesError (413).
func readJSONBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
				msg: fmt.Sprintf("Content-Type %q is not supported; send application/json (with curl: -H 'Content-Type: application/json')", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, invalid("body", "cannot read the request body: %v", err)
	}
	return body, nil
}

// decode reads a JSON object body into dst (a pointer to a struct). An empty body leaves dst
// as it is when optional. Unknown top-level fields are refused by name.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	body, err := readJSONBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return invalid("body", "a JSON object is required")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return invalid("body", "not a JSON object: %v", err)
	}
	known := jsonFields(reflect.TypeOf(dst).Elem())
	for name := range fields {
		if !known[name] {
			names := make([]string, 0, len(known))
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			return invalid(name, "unknown field; the fields are %s", strings.Join(names, ", "))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(te.Field, "must be a JSON %s, not %s", jsonKind(te.Type), te.Value)
		}
		return invalid("body", "%v", err)
	}
	return nil
}

// jsonFields returns the JSON names of a struct's fields, embedded structs included.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k := range jsonFields(f.Type) {
				out[k] = true
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "number"
}

// expectedRevision returns the revision an update expects, from If-Match or the body's
// revision (they must agree when both are given). "*" means any (0). Without either, a
// required revision is a 428. min is the smallest revision that can exist (1 for tenants, 0 for
// upstreams never set).
func expectedRevision(r *http.Request, body *int64, required bool, min int64) (int64, error) {
	header, hasHeader := r.Header["If-Match"]
	if !hasHeader && body == nil {
		if required {
			return 0, &apiError{status: http.StatusPreconditionRequired, code: CodeRevisionRequired, field: "If-Match",
				msg: `this update must say which revision it changes: send If-Match: "<revision>" with the ETag of a GET (or "revision": <n> in the body); If-Match: * overwrites unconditionally`}
		}
		return 0, nil
	}
	var rev int64 = -1
	if hasHeader {
		v := strings.TrimSpace(strings.Join(header, ","))
		if v == "*" {
			rev = 0
		} else {
			v = strings.TrimPrefix(v, "W/")
			n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
			if err != nil || n < min {
				return 0, invalid("If-Match", "%q must be one revision as sent in the ETag header, e.g. \"%d\", or *", v, max(min, 1))
			}
			rev = n
		}
	}
	if body != nil {
		if *body < min {
			return 0, invalid("revision", "%d must be at least %d", *body, min)
		}
		if hasHeader && *body != rev {
			return 0, invalid("revision", "%d differs from If-Match %s; send one of them", *body, strings.Join(header, ","))
		}
		rev = *body
	}
	return rev, nil
}

// actor is who the audit log records: the X-Actor header, or DefaultActor.
func actor(r *http.Request) string {
	if a := r.Header.Get("X-Actor"); a != "" {
		return a
	}
	return DefaultActor
}

func (h *handler) health(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok", Revision: h.reg.Revision(), Time: time.Now().UTC()})
	return nil
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
	return nil
}

func (h *handler) listTenants(w http.ResponseWriter, r *http.Request) error {
	ts, rev, err := h.reg.Tenants(r.Context())
	if err != nil {
		return err
	}
	for i := range ts {
		ts[i] = ts[i].Redacted()
	}
	setETag(w, rev)
	writeJSON(w, http.StatusOK, TenantList{Tenants: ts, Revision: rev})
	return nil
}

func (h *handler) createTenant(w http.ResponseWriter, r *http.Request) error {
	var req CreateTenantRequest
	if err := h.decode(w, r, &req, false); err != nil {
		return err
	}
	spec := registry.TenantSpec{ID: req.ID, DisplayName: req.DisplayName}
	if req.ID == "" {
		return invalid("id", "required: "+tenant.Rule)
	}
	if req.Quotas != nil {
		spec.Quotas = *req.Quotas
	}
	if req.Stage != "" {
		st, err := registry.ParseStage(req.Stage)
		if err != nil {
			return invalid("stage", "%v", err)
		}
		spec.Stage = st
	}
	t, err := h.reg.CreateTenant(r.Context(), actor(r), spec)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/tenants/"+t.ID)
	setETag(w, t.Revision)
	writeJSON(w, http.StatusCreated, t.Redacted())
	return nil
}

func (h *handler) writeTenant(w http.ResponseWriter, status int, t registry.Tenant) {
	setETag(w, t.Revision)
	writeJSON(w, status, t.Redacted())
}

func (h *handler) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := h.reg.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h.writeTenant(w, http.StatusOK, t)
	return nil
}

// QuotaSharesView is GET /v1/tenants/{id}/quota-shares: the tenant's quota and how the live
// edges share it.
type QuotaSharesView struct {
	Tenant string          `json:"tenant"`
	Quotas registry.Quotas `json:"quotas"`
	quotashare.TenantView
}

func (h *handler) getQuotaShares(w http.ResponseWriter, r *http.Request) error {
	t, err := h.reg.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, QuotaSharesView{Tenant: t.ID, Quotas: t.Quotas, TenantView: h.shares.Tenant(t.ID, h.clock())})
	return nil
}

func (h *handler) updateTenant(w http.ResponseWriter, r *http.Request) error {
	var req UpdateTenantRequest
	if err := h.decode(w, r, &req, true); err != nil {
		return err
	}
	rev, err := expectedRevision(r, req.Revision, true, 1)
	if err != nil {
		return err
	}
	t, err := h.reg.UpdateTenant(r.Context(), actor(r), r.PathValue("id"), rev, registry.TenantUpdate{DisplayName: req.DisplayName})
	if err != nil {
		return err
	}
	h.writeTenant(w, http.StatusOK, t)
	return nil
}

func (h *handler) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	rev, err := expectedRevision(r, nil, true, 1)
	if err != nil {
		return err
	}
	if err := h.reg.DeleteTenant(r.Context(), actor(r), r.PathValue("id"), rev); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) setQuotas(w http.ResponseWriter, r *http.Request) error {
	var req SetQuotasRequest
	if err := h.decode(w, r, &req, false); err != nil {
		return err
	}
	rev, err := expectedRevision(r, req.Revision, true, 1)
	if err != nil {
		return err
	}
	t, err := h.reg.SetQuotas(r.Context(), actor(r), r.PathValue("id"), rev, req.Quotas)
	if err != nil {
		var ve *registry.ValidationError
		if errors.As(err, &ve) && strings.HasPrefix(ve.Field, "quotas.") {
			// The body is the quotas object itself: name the field as sent.
			return invalid(strings.TrimPrefix(ve.Field, "quotas."), "%s", ve.Msg)
		}
		return err
	}
	h.writeTenant(w, http.StatusOK, t)
	return nil
}

func (h *handler) setStage(w http.ResponseWriter, r *http.Request) error {
	var req SetStageRequest
	if err := h.decode(w, r, &req, false); err != nil {
		return err
	}
	if req.Stage == "" {
		return invalid("stage", "required: legacy, shadow, canary:<1..99> or v2")
	}
	st, err := registry.ParseStage(req.Stage)
	if err != nil {
		return invalid("stage", "%v", err)
	}
	rev, err := expectedRevision(r, req.Revision, true, 1)
	if err != nil {
		return err
	}
	t, err := h.reg.SetStage(r.Context(), actor(r), r.PathValue("id"), rev, st)
	if err != nil {
		return err
	}
	h.writeTenant(w, http.StatusOK, t)
	return nil
}

func redactKey(k registry.APIKey) registry.APIKey {
	k.Salt, k.Hash = nil, nil
	return k
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request) error {
	var req CreateKeyRequest
	if err := h.decode(w, r, &req, true); err != nil {
		return err
	}
	rev, err := expectedRevision(r, req.Revision, false, 1)
	if err != nil {
		return err
	}
	t, nk, err := h.reg.CreateKey(r.Context(), actor(r), r.PathValue("id"), rev)
	if err != nil {
		return err
	}
	setETag(w, t.Revision)
	writeJSON(w, http.StatusCreated, KeyResponse{Key: nk.Key, APIKey: redactKey(nk.APIKey), Tenant: t.Redacted()})
	return nil
}

func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var req RotateKeyRequest
	if err := h.decode(w, r, &req, true); err != nil {
		return err
	}
	var grace time.Duration
	if req.Grace != "" {
		d, err := time.ParseDuration(req.Grace)
		if err != nil {
			return invalid("grace", "%q is not a duration such as \"90m\" or \"24h\"", req.Grace)
		}
		grace = d
	}
	rev, err := expectedRevision(r, req.Revision, false, 1)
	if err != nil {
		return err
	}
	keyID := r.PathValue("key_id")
	t, nk, err := h.reg.RotateKey(r.Context(), actor(r), r.PathValue("id"), keyID, rev, grace)
	if err != nil {
		return err
	}
	resp := KeyResponse{Key: nk.Key, APIKey: redactKey(nk.APIKey), Tenant: t.Redacted()}
	for _, k := range t.Keys {
		if k.ID == keyID {
			old := redactKey(k)
			resp.Replaced = &old
		}
	}
	setETag(w, t.Revision)
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request) error {
	rev, err := expectedRevision(r, nil, false, 1)
	if err != nil {
		return err
	}
	t, err := h.reg.RevokeKey(r.Context(), actor(r), r.PathValue("id"), r.PathValue("key_id"), rev)
	if err != nil {
		return err
	}
	h.writeTenant(w, http.StatusOK, t)
	return nil
}

func (h *handler) getUpstreams(w http.ResponseWriter, r *http.Request) error {
	u, err := h.reg.Upstreams(r.Context())
	if err != nil {
		return err
	}
	setETag(w, u.Revision)
	writeJSON(w, http.StatusOK, nonNilUpstreams(u))
	return nil
}

func nonNilUpstreams(u registry.Upstreams) registry.Upstreams {
	if u.V1 == nil {
		u.V1 = []registry.Endpoint{}
	}
	if u.V2 == nil {
		u.V2 = []registry.Endpoint{}
	}
	return u
}

func (h *handler) setUpstreams(w http.ResponseWriter, r *http.Request) error {
	var req SetUpstreamsRequest
	if err := h.decode(w, r, &req, false); err != nil {
		return err
	}
	if req.V1 == nil {
		return invalid("ingest_v1", "required: the endpoints of the legacy pipeline ([] for none)")
	}
	if req.V2 == nil {
		return invalid("ingest_v2", "required: the endpoints of the v2 normalizers ([] for none)")
	}
	rev, err := expectedRevision(r, req.Revision, true, 0)
	if err != nil {
		return err
	}
	u, err := h.reg.SetUpstreams(r.Context(), actor(r), rev, registry.Upstreams{V1: *req.V1, V2: *req.V2})
	if err != nil {
		return err
	}
	setETag(w, u.Revision)
	writeJSON(w, http.StatusOK, nonNilUpstreams(u))
	return nil
}

func (h *handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := registry.AuditQuery{Tenant: q.Get("tenant"), Tail: !q.Has("since")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return invalid("limit", "%q must be an integer from 1 to %d", v, registry.MaxAuditLimit)
		}
		aq.Limit = n
		if n == 0 {
			return invalid("limit", "0 must be from 1 to %d", registry.MaxAuditLimit)
		}
	}
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return invalid("since", "%q must be an audit seq (an integer >= 0)", v)
		}
		aq.Since = n
	}
	entries, err := h.reg.Audit(r.Context(), aq)
	if err != nil {
		return err
	}
	next := aq.Since
	if len(entries) > 0 {
		next = entries[len(entries)-1].Seq
	}
	writeJSON(w, http.StatusOK, AuditList{Entries: entries, NextSince: next})
	return nil
}
