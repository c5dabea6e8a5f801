package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
)

// ReasonSinkUnavailable is the reason of the shed Write returns when the sink writer cannot be
// reached, does not answer in time, or answers an error other than 429 and 503.
const ReasonSinkUnavailable = string(reason.SinkUnavailable)

// Config configures a Client. The zero value of every field but URL means its default.
type Config struct {
	// URL is the sink writer's base URL, e.g. http://127.0.0.1:4320. Required; http or https.
	URL string `yaml:"url"`
	// Timeout bounds one Write or Ready, connection included; the caller's ctx may end it
	// sooner. Keep it above the writer's kafka_timeout, so that the writer's own 503 arrives.
	// Default 15 s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxIdleConns is how many idle keep-alive connections to the sink writer are kept for
	// reuse. Default 64.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// Protocol is http1 (HTTP/1.1 keep-alive, a connection per concurrent batch) or h2c
	// (HTTP/2 without TLS, prior knowledge: every batch multiplexed over one connection). Both
	// cost the same CPU (BenchmarkProducePathHTTP); with http1 a lost connection costs one
	// batch, not every batch in flight. Default http1.
	Protocol string `yaml:"protocol"`
	// RetryAfter is the Retry-After of a shed the writer did not give one for (connection
	// errors, answers without the header). Default 1 s.
	RetryAfter time.Duration `yaml:"retry_after"`
}

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = 64
	}
	if c.Protocol == "" {
		c.Protocol = "http1"
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = time.Second
	}
	return c
}

// Validate reports every problem at once, naming its key.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL of the sink writer", c.URL))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %v must not be negative (0 means the default)", c.Timeout))
	}
	if c.MaxIdleConns < 0 {
		errs = append(errs, fmt.Errorf("max_idle_conns: %d must not be negative (0 means the default)", c.MaxIdleConns))
	}
	if c.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry_after: %v must not be negative (0 means the default)", c.RetryAfter))
	}
	switch c.Protocol {
	case "", "http1", "h2c":
	default:
		errs = append(errs, fmt.Errorf("protocol: %q is not http1 or h2c", c.Protocol))
	}
	return errors.Join(errs...)
}

// Client posts batches to a sink writer. It implements normalizer.Sink and the normalizer's
// optional readiness check. It is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	hc       *http.Client
	batchURL string
	readyURL string
	hopKey   *hopauth.Key // nil: batches are not signed
	now      func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithHopKey signs every batch with k (package hopauth, audience sinkwriter: its tenant,
// record count and shadow flag), as a sink writer that verifies (hop_auth) requires.
// Default: batches are not signed.
func WithHopKey(k *hopauth.Key) Option { return func(c *Client) { c.hopKey = k } }

// New returns a Client for cfg.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create sink writer client: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	tr := &http.Transport{
		Proxy:                 nil, // internal traffic never goes through a proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   cfg.MaxIdleConns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		DisableCompression:    true,
	}
	var p http.Protocols
	if cfg.Protocol == "h2c" {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
		p.SetHTTP2(true) // for https URLs
	}
	tr.Protocols = &p
	base := strings.TrimSuffix(cfg.URL, "/")
	c := &Client{
		cfg:      cfg,
		log:      log,
		hc:       &http.Client{Transport: tr, Timeout: cfg.Timeout},
		batchURL: base + sinkwriter.PathBatches,
		readyURL: base + "/readyz",
		now:      time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Close closes idle connections. In-flight calls complete.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Write posts b and returns nil once the sink writer answered 200: every record is
// acknowledged by Kafka. Otherwise it returns a shed.Error of kind shed.ErrFull for a 429 and
// shed.ErrUnavailable for anything else (503, other statuses, connection errors, timeouts),
// with the writer's reason and Retry-After when it sent them. b.Data is not used after Write
// returns.
func (c *Client) Write(ctx context.Context, b record.Batch) error {
	body := &batchBody{shared: &bodyState{}, data: b.Data}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.batchURL, body)
	if err != nil {
		return shed.Unavailable(ReasonSinkUnavailable, c.cfg.RetryAfter, fmt.Errorf("cannot build request to %q: %w", c.batchURL, err))
	}
	// The transport may still read a body after Do returns (an early answer, a retry on a
	// fresh connection); detach makes such reads fail rather than read b.Data after the
	// caller reused it.
	defer body.detach()
	req.ContentLength = int64(len(b.Data))
	req.GetBody = func() (io.ReadCloser, error) { return body.reopen(), nil }
	req.Header.Set("Content-Type", sinkwriter.ContentType)
	count := strconv.Itoa(b.Count)
	req.Header.Set(sinkwriter.HeaderTenant, b.Tenant)
	req.Header.Set(sinkwriter.HeaderRecordCount, count)
	if b.Shadow {
		req.Header.Set(sinkwriter.HeaderShadow, "true")
	}
	if c.hopKey != nil {
		sig, err := hopauth.Sign(c.hopKey, c.now(), hopauth.Claims{Audience: hopauth.AudienceSinkWriter, Tenant: b.Tenant, Count: count, Shadow: b.Shadow})
		if err != nil {
			return shed.Unavailable(ReasonSinkUnavailable, c.cfg.RetryAfter, fmt.Errorf("cannot sign batch of tenant %.70q: %w", b.Tenant, err))
		}
		req.Header.Set(hopauth.Header, sig)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return shed.Unavailable(ReasonSinkUnavailable, c.cfg.RetryAfter, fmt.Errorf("cannot post batch to %q: %w", c.batchURL, err))
	}
	defer drain(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return c.shedFrom(resp)
}

// shedFrom turns a refusal into a shed with the writer's reason and Retry-After.
func (c *Client) shedFrom(resp *http.Response) error {
	var eb sinkwriter.ErrorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &eb)
	id := eb.Error.Reason
	cause := fmt.Errorf("sink writer answered %s: %s", resp.Status, strings.TrimSpace(eb.Error.Message))
	if eb.Error.Message == "" {
		cause = fmt.Errorf("sink writer answered %s: %.200q", resp.Status, raw)
	}
	retryAfter := shed.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.RetryAfter)
	if retryAfter <= 0 {
		retryAfter = c.cfg.RetryAfter
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if !validReason(id) {
			id = sinkwriter.ReasonSinkFull
		}
		return shed.Full(id, retryAfter, cause)
	case http.StatusServiceUnavailable:
		if !validReason(id) {
			id = ReasonSinkUnavailable
		}
		return shed.Unavailable(id, retryAfter, cause)
	}
	// A 4xx says the batch is broken (a bug upstream), anything else that the writer is:
	// neither is the client's fault, and neither gets better by itself. The normalizer answers
	// 503 and counts it under this reason; the writer's reason is in the message.
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		c.log.Error("sink writer refused a batch as invalid", "status", resp.StatusCode, "reason", id, "err", cause)
	}
	return shed.Unavailable(ReasonSinkUnavailable, retryAfter, cause)
}

// validReason says whether a reason from the wire is one of the catalogue's (internal/reason),
// so that label values stay bounded even if the writer misbehaves.
func validReason(r string) bool {
	return len(r) <= 64 && reason.Known(reason.ID(r))
}

// Ready returns nil when the sink writer's /readyz answers 200 (it can reach Kafka).
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.readyURL, nil)
	if err != nil {
		return fmt.Errorf("cannot build request to %q: %w", c.readyURL, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach sink writer at %q: %w", c.readyURL, err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("sink writer not ready: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// drain reads what is left of a response body (bounded) and closes it, so that the connection
// goes back to the pool.
func drain(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, 256<<10))
	body.Close()
}

// batchBody reads a batch's data until detached. Reopened copies share the detach.
type batchBody struct {
	shared *bodyState // never nil
	data   []byte
	r      *bytes.Reader
}

type bodyState struct {
	mu       sync.Mutex
	detached bool
}

// errDetached is what a read of a body gets after Write returned.
var errDetached = errors.New("batch body read after the write returned")

func (b *batchBody) Read(p []byte) (int, error) {
	s := b.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.detached {
		return 0, errDetached
	}
	if b.r == nil {
		b.r = bytes.NewReader(b.data)
	}
	return b.r.Read(p)
}

func (b *batchBody) Close() error { return nil }

func (b *batchBody) reopen() *batchBody {
	return &batchBody{shared: b.shared, data: b.data}
}

func (b *batchBody) detach() {
	s := b.shared
	s.mu.Lock()
	s.detached = true
	s.mu.Unlock()
}
