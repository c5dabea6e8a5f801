package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var batch = record.Batch{Tenant: "acme", Data: record.AppendFrame(nil, []byte("record")), Count: 1}

func TestWriteMapsStatusesToSheds(t *testing.T) {
	type want struct {
		kind       error // nil: success
		reason     string
		retryAfter time.Duration
	}
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		want       want
	}{
		{"200 is success", 200, "", `{"records":1}`, want{}},
		{"429 passes reason and Retry-After", 429, "7", `{"error":{"reason":"err-ingest-sink-tenant-share-full","message":"m"}}`,
			want{shed.ErrFull, sinkwriter.ReasonTenantShareFull, 7 * time.Second}},
		{"429 without body or header", 429, "", "", want{shed.ErrFull, sinkwriter.ReasonSinkFull, time.Second}},
		{"503 passes reason and Retry-After", 503, "5", `{"error":{"reason":"err-ingest-kafka-unavailable","message":"m"}}`,
			want{shed.ErrUnavailable, sinkwriter.ReasonKafkaUnavailable, 5 * time.Second}},
		{"503 with a reason that is not ours", 503, "2", `{"error":{"reason":"Drop Table","message":"m"}}`,
			want{shed.ErrUnavailable, client.ReasonSinkUnavailable, 2 * time.Second}},
		{"400 is unavailable", 400, "", `{"error":{"reason":"err-ingest-corrupt-batch","message":"m"}}`,
			want{shed.ErrUnavailable, client.ReasonSinkUnavailable, time.Second}},
		{"500 is unavailable", 500, "", "oops", want{shed.ErrUnavailable, client.ReasonSinkUnavailable, time.Second}},
		{"502 from a proxy", 502, "3", "<html>", want{shed.ErrUnavailable, client.ReasonSinkUnavailable, 3 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type request struct {
				tenant, count, ctype string
				body                 []byte
			}
			reqs := make(chan request, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				reqs <- request{r.Header.Get(sinkwriter.HeaderTenant), r.Header.Get(sinkwriter.HeaderRecordCount), r.Header.Get("Content-Type"), body}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := newClient(t, client.Config{URL: srv.URL})
			err := c.Write(t.Context(), batch)
			got := <-reqs
			if got.tenant != "acme" || got.count != "1" || got.ctype != sinkwriter.ContentType || string(got.body) != string(batch.Data) {
				t.Errorf("request: tenant %q, count %q, type %q, body %q", got.tenant, got.count, got.ctype, got.body)
			}
			if tt.want.kind == nil {
				if err != nil {
					t.Fatalf("Write = %v, want nil", err)
				}
				return
			}
			var se *shed.Error
			if !errors.As(err, &se) || !errors.Is(err, tt.want.kind) || se.Reason != tt.want.reason || se.RetryAfter != tt.want.retryAfter {
				t.Fatalf("Write = %v, want a %v shed %s after %v", err, tt.want.kind, tt.want.reason, tt.want.retryAfter)
			}
		})
	}
}

func TestUnreachableOrSlowWriterIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, client.Config{URL: "http://" + addr})
	err = c.Write(t.Context(), batch)
	var se *shed.Error
	if !errors.As(err, &se) || !errors.Is(err, shed.ErrUnavailable) || se.Reason != client.ReasonSinkUnavailable {
		t.Errorf("Write to a closed port = %v, want an unavailable shed %s", err, client.ReasonSinkUnavailable)
	}

	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c = newClient(t, client.Config{URL: srv.URL, Timeout: 100 * time.Millisecond})
	start := time.Now()
	if err := c.Write(t.Context(), batch); !errors.Is(err, shed.ErrUnavailable) {
		t.Errorf("Write to a writer that does not answer = %v, want an unavailable shed", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Write took %v with a 100ms timeout", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	c = newClient(t, client.Config{URL: srv.URL})
	if err := c.Write(ctx, batch); !errors.Is(err, shed.ErrUnavailable) {
		t.Errorf("Write past the caller's deadline = %v, want an unavailable shed", err)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		if r.Header.Get(sinkwriter.HeaderRecordCount) == "0" { // refuse without reading the body
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			io.WriteString(w, strings.Repeat(" ", 10000))
			return
		}
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	c := newClient(t, client.Config{URL: srv.URL})
	for i := range 20 {
		b := batch
		if i%2 == 1 {
			b.Count = 0
		}
		c.Write(t.Context(), b)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) > 2 {
		t.Errorf("20 sequential writes used %d connections, want them reused", len(conns))
	}
}

func TestReadyFollowsWriterReadyz(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			t.Errorf("Ready asked %s", r.URL.Path)
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	c := newClient(t, client.Config{URL: srv.URL + "/"})
	if err := c.Ready(t.Context()); err != nil {
		t.Errorf("Ready = %v with /readyz 200", err)
	}
	status.Store(503)
	if err := c.Ready(t.Context()); err == nil {
		t.Error("Ready = nil with /readyz 503")
	}
}

func TestConfigValidateNamesKeys(t *testing.T) {
	err := client.Config{URL: "ftp://x", Timeout: -1, MaxIdleConns: -1, Protocol: "spdy", RetryAfter: -1}.Validate()
	for _, key := range []string{"url:", "timeout:", "max_idle_conns:", "protocol:", "retry_after:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate = %v, want it to name %s", err, key)
		}
	}
	if err := (client.Config{URL: "http://127.0.0.1:4320"}).Validate(); err != nil {
		t.Errorf("Validate of a good config = %v", err)
	}
}
