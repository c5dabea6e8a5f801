package sinkwriter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

// teeSink passes batches to the sink writer client and keeps a copy of each one it answered
// nil for: the batches the normalizer acknowledged.
type teeSink struct {
	*client.Client
	mu    sync.Mutex
	acked []record.Batch
}

func (s *teeSink) Write(ctx context.Context, b record.Batch) error {
	if err := s.Client.Write(ctx, b); err != nil {
		return err
	}
	b.Data = append([]byte(nil), b.Data...)
	s.mu.Lock()
	s.acked = append(s.acked, b)
	s.mu.Unlock()
	return nil
}

func (s *teeSink) batches() []record.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record.Batch(nil), s.acked...)
}

// pipeline is normalizer → client → sink writer server → kfake, all over loopback.
type pipeline struct {
	writer     *sinkwriter.Writer
	writerReg  *prometheus.Registry
	writerURL  string
	sink       *teeSink
	normalizer *httptest.Server
}

func newPipeline(t *testing.T, cfg sinkwriter.Config, protocol string) *pipeline {
	t.Helper()
	w, wreg := newWriter(t, cfg)
	srv := serve(t, w)
	sink := &teeSink{Client: newClient(t, client.Config{URL: srv.URL, Protocol: protocol})}
	n, err := normalizer.New(normalizer.Config{}, sink, prometheus.NewRegistry(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := httptest.NewServer(n.Handler())
	t.Cleanup(ns.Close)
	return &pipeline{writer: w, writerReg: wreg, writerURL: srv.URL, sink: sink, normalizer: ns}
}

// send posts n NDJSON log events of tenant to the normalizer and returns its answer.
func (p *pipeline) send(t *testing.T, tenant string, n int, tag string) (status int, retryAfter string, body string) {
	t.Helper()
	var sb strings.Builder
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range n {
		fmt.Fprintf(&sb, `{"type":"log","ts":%q,"severity":"info","body":"event %s-%d %s","attributes":{"i":%d}}`+"\n",
			ts, tag, i, strings.Repeat("x", 200), i)
	}
	req, _ := http.NewRequest(http.MethodPost, p.normalizer.URL+"/v1/events", strings.NewReader(sb.String()))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set(normalizer.HeaderTenant, tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("cannot post to normalizer: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(raw)
}

func TestBatchAcknowledgedToNormalizerIsInKafka(t *testing.T) {
	for _, protocol := range []string{"http1", "h2c"} {
		t.Run(protocol, func(t *testing.T) {
			c := newCluster(t)
			p := newPipeline(t, testConfig(c.ListenAddrs()), protocol)
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					if status, _, body := p.send(t, "acme", 250, fmt.Sprint(i)); status != http.StatusOK {
						t.Errorf("normalizer answered %d %s, want 200", status, body)
					}
				})
			}
			wg.Wait()
			if status, _, body := p.send(t, "globex", 100, "g"); status != http.StatusOK {
				t.Fatalf("normalizer answered %d %s, want 200", status, body)
			}
			var acme, globex []record.Batch
			for _, b := range p.sink.batches() {
				if b.Tenant == "acme" {
					acme = append(acme, b)
				} else {
					globex = append(globex, b)
				}
			}
			if len(acme) != 4 || len(globex) != 1 {
				t.Fatalf("acknowledged batches: %d of acme, %d of globex; want 4 and 1", len(acme), len(globex))
			}
			checkInKafka(t, c.ListenAddrs(), "ingest.acme", acme...)
			checkInKafka(t, c.ListenAddrs(), "ingest.globex", globex...)
			// Each value decodes to its tenant's record, keyed by its event id.
			for _, r := range consume(t, c.ListenAddrs(), "ingest.globex", 100) {
				var rec record.Record
				if err := record.Decode(r.value, &rec); err != nil {
					t.Fatalf("cannot decode a record from Kafka: %v", err)
				}
				if rec.Tenant != "globex" || string(r.key) != string(rec.EventID[:]) {
					t.Fatalf("record of tenant %q keyed %x, event id %x", rec.Tenant, r.key, rec.EventID)
				}
			}
		})
	}
}

func TestNormalizerPasses429And503WithRetryAfter(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig(c.ListenAddrs())
	cfg.KafkaTimeout = time.Second
	// 100 events of ~300 bytes make a batch of ~30 KB: acme's share holds one.
	cfg.MaxBufferBytes = 160 << 10
	cfg.MaxBatchBytes = 40 << 10
	p := newPipeline(t, cfg, "http1")
	for _, tenant := range []string{"acme", "globex"} { // create the topics
		if status, _, body := p.send(t, tenant, 1, "warm"); status != http.StatusOK {
			t.Fatalf("warm-up: %d %s", status, body)
		}
	}

	hit, release := blockProduce(c)
	first := make(chan int, 1)
	go func() {
		status, _, _ := p.send(t, "acme", 100, "held")
		first <- status
	}()
	<-hit
	status, retryAfter, body := p.send(t, "acme", 100, "over")
	if status != http.StatusTooManyRequests || retryAfter != "1" || !strings.Contains(body, sinkwriter.ReasonTenantShareFull) {
		t.Errorf("normalizer with acme over its share: %d, Retry-After %q, %s; want 429, 1, %s", status, retryAfter, body, sinkwriter.ReasonTenantShareFull)
	}
	second := make(chan int, 1)
	go func() {
		status, _, _ := p.send(t, "globex", 100, "within")
		second <- status
	}()
	waitFor(t, "globex's batch to be reserved", func() bool {
		return metric(t, p.writerReg, "ingest_sinkwriter_buffer_bytes") > 40<<10
	})
	release()
	if s := <-first; s != http.StatusOK {
		t.Errorf("acme's held batch: %d, want 200", s)
	}
	if s := <-second; s != http.StatusOK {
		t.Errorf("globex within its share: %d, want 200", s)
	}

	c.Close()
	status, retryAfter, body = p.send(t, "acme", 10, "down")
	var eb struct {
		Error struct{ Reason string } `json:"error"`
	}
	json.Unmarshal([]byte(body), &eb)
	if status != http.StatusServiceUnavailable || retryAfter != "5" || eb.Error.Reason != sinkwriter.ReasonKafkaUnavailable {
		t.Errorf("normalizer with Kafka gone: %d, Retry-After %q, %s; want 503, 5, %s", status, retryAfter, body, sinkwriter.ReasonKafkaUnavailable)
	}
	readyReq, _ := http.NewRequest(http.MethodGet, p.normalizer.URL+"/readyz", nil)
	resp, err := http.DefaultClient.Do(readyReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("normalizer /readyz with Kafka gone = %d, want 503 (through the client's Ready)", resp.StatusCode)
	}
}
