package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/deadletter"
	"github.com/ingestdev/ingest/migration/replay"
)

// Kinds of errors, matched with errors.Is. An answer of the API is an *Error; a failure to
// reach it is an *UnreachableError.
var (
	ErrUnreachable   = errors.New("control plane unreachable") // no answer: connection refused, DNS, timeout
	ErrUnauthorized  = errors.New("admin token refused")       // 401
	ErrInvalid       = errors.New("invalid request")           // 400; Error.Field names the field
	ErrNotFound      = errors.New("not found")                 // 404
	ErrConflict      = errors.New("revision conflict")         // 409 revision_conflict; Error.CurrentRevision
	ErrAlreadyExists = errors.New("already exists")            // 409 already_exists
	ErrRevisionReq   = errors.New("revision required")         // 428
	ErrServer        = errors.New("control plane error")       // 5xx
	ErrGateRefused   = errors.New("cutover gate refused")      // 409 gate_refused; Error.Message says why
	ErrInShadow      = errors.New("tenant in shadow")          // 409 in_shadow: clear-shadow without force
	ErrNotConfigured = errors.New("not configured")            // 501 not_configured: e.g. no ClickHouse; Error.Message says which setting
	ErrTimeout       = errors.New("timed out in ClickHouse")   // 504 timeout: the work goes on there; Error.Message says what
	ErrBadRange      = errors.New("window not in Kafka")       // 422 bad_range or bad_partition: Error.Message names the valid range
	ErrBadState      = errors.New("replay state refuses it")   // 409 bad_state: Error.Message says which state would do
	ErrChanged       = errors.New("promote plan changed")      // 409 changed: read the promote plan again
)

// Error is an error answer of the API.
type Error struct {
	Method, Path    string // the request
	Status          int    // HTTP status
	Code            string // api.Code*
	Field           string // the field at fault, for 400 and 428
	Message         string // the server's message
	CurrentRevision int64  // for 409 revision_conflict
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// Is maps the answer to one of the Err* kinds.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict && e.Code == api.CodeRevisionConflict
	case ErrAlreadyExists:
		return e.Status == http.StatusConflict && e.Code == api.CodeAlreadyExists
	case ErrRevisionReq:
		return e.Status == http.StatusPreconditionRequired
	case ErrGateRefused:
		return e.Status == http.StatusConflict && e.Code == api.CodeGateRefused
	case ErrInShadow:
		return e.Status == http.StatusConflict && e.Code == api.CodeInShadow
	case ErrNotConfigured:
		return e.Status == http.StatusNotImplemented
	case ErrTimeout:
		return e.Status == http.StatusGatewayTimeout && e.Code == api.CodeTimeout
	case ErrBadRange:
		return e.Status == http.StatusUnprocessableEntity
	case ErrBadState:
		return e.Status == http.StatusConflict && e.Code == api.CodeBadState
	case ErrChanged:
		return e.Status == http.StatusConflict && e.Code == api.CodeChanged
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// UnreachableError is a request that got no answer. errors.Is(err, ErrUnreachable) holds.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the control plane at %s: %v", e.Server, e.Err)
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// Unwrap returns the transport error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Client calls the admin API.
type Client struct {
	base  *url.URL
	token string
	actor string
	hc    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client. Default: a client with a 30 s timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithActor sets the X-Actor header, recorded in the audit log. Default: none (the server
// records "admin").
func WithActor(actor string) Option { return func(c *Client) { c.actor = actor } }

// New returns a client of the control plane at server (e.g. "http://localhost:9090") that
// authenticates with the admin token.
func New(server, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cannot use server %q: want a URL such as http://localhost:9090", server)
	}
	c := &Client{base: u, token: token, hc: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Server returns the server URL the client calls.
func (c *Client) Server() string { return c.base.String() }

// ifMatch renders an expected revision: 0 means no check ("*").
func ifMatch(rev int64) string {
	if rev == 0 {
		return "*"
	}
	return `"` + strconv.FormatInt(rev, 10) + `"`
}

// do sends one request and decodes a 2xx answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, header map[string]string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("cannot encode the request to %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return fmt.Errorf("cannot build the request %s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.actor != "" {
		req.Header.Set("X-Actor", c.actor)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Server: c.base.String(), Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return &UnreachableError{Server: c.base.String(), Err: err}
	}
	if res.StatusCode >= 300 {
		e := &Error{Method: method, Path: path, Status: res.StatusCode}
		var eb api.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Field, e.Message, e.CurrentRevision = eb.Error.Code, eb.Error.Field, eb.Error.Message, eb.Error.CurrentRevision
		} else {
			e.Code, e.Message = "unknown", strings.TrimSpace(string(b))
			if e.Message == "" {
				e.Message = http.StatusText(res.StatusCode)
			}
		}
		return e
	}
	if out != nil && res.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("cannot decode the answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

func tenantPath(id string, rest ...string) string {
	p := "/v1/tenants/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Health calls GET /healthz (no token needed).
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var h api.Health
	err := c.do(ctx, "GET", "/healthz", nil, nil, &h)
	return h, err
}

// ListTenants returns every tenant, sorted by id.
func (c *Client) ListTenants(ctx context.Context) (api.TenantList, error) {
	var l api.TenantList
	err := c.do(ctx, "GET", "/v1/tenants", nil, nil, &l)
	return l, err
}

// GetTenant returns one tenant; its Revision is what updates send back.
func (c *Client) GetTenant(ctx context.Context, id string) (registry.Tenant, error) {
	var t registry.Tenant
	err := c.do(ctx, "GET", tenantPath(id), nil, nil, &t)
	return t, err
}

// ListDeadLetters returns a page of the loaders' dead letters of partition from offset from.
func (c *Client) ListDeadLetters(ctx context.Context, partition int32, from int64, limit int) (deadletter.Page, error) {
	var p deadletter.Page
	q := fmt.Sprintf("/v1/deadletters?partition=%d&from=%d&limit=%d", partition, from, limit)
	err := c.do(ctx, "GET", q, nil, nil, &p)
	return p, err
}

// RedriveDeadLetters produces the dead letters at offsets again to their source topics.
func (c *Client) RedriveDeadLetters(ctx context.Context, partition int32, offsets []int64, reason string) (deadletter.Redriven, error) {
	var res deadletter.Redriven
	err := c.do(ctx, "POST", "/v1/deadletters/redrive", nil, api.RedriveRequest{Partition: partition, Offsets: offsets, Reason: reason}, &res)
	return res, err
}

// GetQuotaShares returns how the live edges share a tenant's quota.
func (c *Client) GetQuotaShares(ctx context.Context, id string) (api.QuotaSharesView, error) {
	var v api.QuotaSharesView
	err := c.do(ctx, "GET", tenantPath(id)+"/quota-shares", nil, nil, &v)
	return v, err
}

// CreateTenant creates a tenant.
func (c *Client) CreateTenant(ctx context.Context, req api.CreateTenantRequest) (registry.Tenant, error) {
	var t registry.Tenant
	err := c.do(ctx, "POST", "/v1/tenants", nil, req, &t)
	return t, err
}

// UpdateTenant changes a tenant's display name at revision rev (0: no check).
func (c *Client) UpdateTenant(ctx context.Context, id string, rev int64, displayName string) (registry.Tenant, error) {
	var t registry.Tenant
	err := c.do(ctx, "PATCH", tenantPath(id), map[string]string{"If-Match": ifMatch(rev)},
		api.UpdateTenantRequest{DisplayName: &displayName}, &t)
	return t, err
}

// DeleteTenant deletes a tenant at revision rev (0: no check).
func (c *Client) DeleteTenant(ctx context.Context, id string, rev int64) error {
	err := c.do(ctx, "DELETE", tenantPath(id), map[string]string{"If-Match": ifMatch(rev)}, nil, nil)
	return err
}

// SetQuotas replaces a tenant's quotas at revision rev (0: no check).
func (c *Client) SetQuotas(ctx context.Context, id string, rev int64, q registry.Quotas) (registry.Tenant, error) {
	var t registry.Tenant
	err := c.do(ctx, "PUT", tenantPath(id, "quotas"), map[string]string{"If-Match": ifMatch(rev)},
		api.SetQuotasRequest{Quotas: q}, &t)
	return t, err
}

// SetStage moves a tenant to a stage ("legacy", "shadow", "canary:10", "v2") at revision rev
// (0: no check).
func (c *Client) SetStage(ctx context.Context, id string, rev int64, stage string) (registry.Tenant, error) {
	var t registry.Tenant
	err := c.do(ctx, "PUT", tenantPath(id, "stage"), map[string]string{"If-Match": ifMatch(rev)},
		api.SetStageRequest{Stage: stage}, &t)
	return t, err
}

// CreateKey creates an API key; the answer's Key is the only time the key is shown.
func (c *Client) CreateKey(ctx context.Context, id string) (api.KeyResponse, error) {
	var k api.KeyResponse
	err := c.do(ctx, "POST", tenantPath(id, "keys"), nil, nil, &k)
	return k, err
}

// RotateKey replaces a key with a new one; the old key stays valid for grace (0: revoked now).
func (c *Client) RotateKey(ctx context.Context, id, keyID string, grace time.Duration) (api.KeyResponse, error) {
	var k api.KeyResponse
	req := api.RotateKeyRequest{}
	if grace > 0 {
		req.Grace = grace.String()
	}
	err := c.do(ctx, "POST", tenantPath(id, "keys", keyID, "rotate"), nil, req, &k)
	return k, err
}

// RevokeKey revokes a key now.
func (c *Client) RevokeKey(ctx context.Context, id, keyID string) (registry.Tenant, error) {
	var t registry.Tenant
	err := c.do(ctx, "DELETE", tenantPath(id, "keys", keyID), nil, nil, &t)
	return t, err
}

// GetUpstreams returns the endpoints of ingest-v1 and ingest-v2.
func (c *Client) GetUpstreams(ctx context.Context) (registry.Upstreams, error) {
	var u registry.Upstreams
	err := c.do(ctx, "GET", "/v1/upstreams", nil, nil, &u)
	return u, err
}

// SetUpstreams replaces the endpoints at revision rev (0: no check).
func (c *Client) SetUpstreams(ctx context.Context, rev int64, v1, v2 []registry.Endpoint) (registry.Upstreams, error) {
	if v1 == nil {
		v1 = []registry.Endpoint{}
	}
	if v2 == nil {
		v2 = []registry.Endpoint{}
	}
	var u registry.Upstreams
	err := c.do(ctx, "PUT", "/v1/upstreams", map[string]string{"If-Match": ifMatch(rev)},
		api.SetUpstreamsRequest{V1: &v1, V2: &v2}, &u)
	return u, err
}

// AuditQuery selects audit entries; see GET /v1/audit.
type AuditQuery struct {
	Tenant string  // only this tenant's entries
	Limit  int     // 0: the server's default (100)
	Since  *uint64 // nil: the newest entries; else the entries after this seq
}

// Audit reads the audit log.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (api.AuditList, error) {
	v := url.Values{}
	if q.Tenant != "" {
		v.Set("tenant", q.Tenant)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Since != nil {
		v.Set("since", strconv.FormatUint(*q.Since, 10))
	}
	path := "/v1/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var l api.AuditList
	err := c.do(ctx, "GET", path, nil, nil, &l)
	return l, err
}

// Cutover returns a tenant's cutover status: stage, parity table of the last buckets (0: the
// server's default, the gate window plus the open bucket) and the gate's verdict.
func (c *Client) Cutover(ctx context.Context, id string, buckets int) (api.CutoverStatus, error) {
	path := tenantPath(id, "cutover")
	if buckets > 0 {
		path += "?buckets=" + strconv.Itoa(buckets)
	}
	var st api.CutoverStatus
	err := c.do(ctx, "GET", path, nil, nil, &st)
	return st, err
}

// AdvanceCutover moves a tenant to a later stage at revision rev (0: no check). A gate that
// refuses is an error matching ErrGateRefused.
func (c *Client) AdvanceCutover(ctx context.Context, id string, rev int64, req api.CutoverAdvanceRequest) (api.CutoverChange, error) {
	var ch api.CutoverChange
	err := c.do(ctx, "POST", tenantPath(id, "cutover", "advance"), map[string]string{"If-Match": ifMatch(rev)}, req, &ch)
	return ch, err
}

// RollbackCutover moves a tenant back to an earlier stage at revision rev (0: no check).
func (c *Client) RollbackCutover(ctx context.Context, id string, rev int64, req api.CutoverRollbackRequest) (api.CutoverChange, error) {
	var ch api.CutoverChange
	err := c.do(ctx, "POST", tenantPath(id, "cutover", "rollback"), map[string]string{"If-Match": ifMatch(rev)}, req, &ch)
	return ch, err
}

// Shadow returns a tenant's rows per shadow table: what ClearShadow would delete. Without
// ClickHouse configured on the control plane the error matches ErrNotConfigured.
func (c *Client) Shadow(ctx context.Context, id string) (api.ShadowRows, error) {
	var sr api.ShadowRows
	err := c.do(ctx, "GET", tenantPath(id, "cutover", "shadow"), nil, nil, &sr)
	return sr, err
}

// ClearShadow deletes a tenant's rows in every shadow table and waits for the deletes, if the
// tenant is at revision rev (0: no check). A tenant in shadow without req.Force is an error
// matching ErrInShadow; deletes that did not finish within the control plane's
// clickhouse.timeout, ErrTimeout (they go on in ClickHouse). The answer can take that long:
// keep the HTTP client's timeout above it (the default 30 s is above the default 20 s).
func (c *Client) ClearShadow(ctx context.Context, id string, rev int64, req api.ClearShadowRequest) (api.ClearShadowResult, error) {
	var res api.ClearShadowResult
	h := map[string]string{}
	if rev != 0 {
		h["If-Match"] = ifMatch(rev)
	}
	err := c.do(ctx, "POST", tenantPath(id, "cutover", "clear-shadow"), h, req, &res)
	return res, err
}

func replayPath(id string, rest ...string) string {
	p := "/v1/replays/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Replays answer 501 (ErrNotConfigured) on a control plane without replay.brokers and
// clickhouse.addr. Planning, diffing and promoting read Kafka or ClickHouse and can take up to
// the control plane's replay.request_timeout (5 m by default): give them an HTTP client whose
// timeout is above it (WithHTTPClient), or bound them with ctx.

// PlanReplay plans a replay of req.Tenant's Kafka window (reason: optional, audited). A window
// Kafka does not hold is an error matching ErrBadRange whose Message names the valid range.
func (c *Client) PlanReplay(ctx context.Context, req replay.PlanRequest, reason string) (replay.Job, error) {
	var j replay.Job
	err := c.do(ctx, "POST", "/v1/replays", nil, api.PlanReplayRequest{PlanRequest: req, Reason: reason}, &j)
	return j, err
}

// Replays returns every replay job, newest first.
func (c *Client) Replays(ctx context.Context) ([]replay.Job, error) {
	var l api.ReplayList
	err := c.do(ctx, "GET", "/v1/replays", nil, nil, &l)
	return l.Replays, err
}

// Replay returns one replay job with its current progress.
func (c *Client) Replay(ctx context.Context, id string) (replay.Job, error) {
	var j replay.Job
	err := c.do(ctx, "GET", replayPath(id), nil, nil, &j)
	return j, err
}

// StartReplay runs a planned, cancelled or failed job (reason: optional, audited).
func (c *Client) StartReplay(ctx context.Context, id, reason string) (replay.Job, error) {
	var j replay.Job
	err := c.do(ctx, "POST", replayPath(id, "start"), nil, api.ReplayActionRequest{Reason: reason}, &j)
	return j, err
}

// CancelReplay stops a running job at its next checkpoint (reason: optional, audited).
func (c *Client) CancelReplay(ctx context.Context, id, reason string) (replay.Job, error) {
	var j replay.Job
	err := c.do(ctx, "POST", replayPath(id, "cancel"), nil, api.ReplayActionRequest{Reason: reason}, &j)
	return j, err
}

// ReplayDiff compares a loaded job's tables with live per window of by (replay.ByMinute or
// replay.ByHour; "" is the server's default, minute).
func (c *Client) ReplayDiff(ctx context.Context, id, by string) (replay.Diff, error) {
	path := replayPath(id, "diff")
	if by != "" {
		path += "?by=" + url.QueryEscape(by)
	}
	var d replay.Diff
	err := c.do(ctx, "GET", path, nil, nil, &d)
	return d, err
}

// ReplayPromotePlan returns what PromoteReplay would change, and the fingerprint it needs.
func (c *Client) ReplayPromotePlan(ctx context.Context, id string) (replay.PromotePlan, error) {
	var p replay.PromotePlan
	err := c.do(ctx, "GET", replayPath(id, "promote"), nil, nil, &p)
	return p, err
}

// PromoteReplay makes the tenant's window in live equal the replayed rows, if the promote
// plan still has fingerprint (else an error matching ErrChanged).
func (c *Client) PromoteReplay(ctx context.Context, id, fingerprint, reason string) (replay.PromoteResult, error) {
	var res replay.PromoteResult
	err := c.do(ctx, "POST", replayPath(id, "promote"), nil, api.PromoteReplayRequest{Fingerprint: fingerprint, Reason: reason}, &res)
	return res, err
}

// DiscardReplay drops a job's replay tables (reason: optional, audited).
func (c *Client) DiscardReplay(ctx context.Context, id, reason string) (replay.Job, error) {
	var j replay.Job
	err := c.do(ctx, "POST", replayPath(id, "discard"), nil, api.ReplayActionRequest{Reason: reason}, &j)
	return j, err
}
