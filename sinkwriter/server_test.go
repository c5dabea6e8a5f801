package sinkwriter_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
)

func TestServerRefusesInvalidBatchesWith4xx(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig(c.ListenAddrs())
	cfg.MaxBatchBytes = 64 << 10
	w, reg := newWriter(t, cfg)
	srv := serve(t, w)
	good := makeBatch("acme", 5, 200, 1)
	other := makeBatch("globex", 5, 200, 1)
	tests := []struct {
		name    string
		method  string
		tenant  string
		count   string
		body    io.Reader
		chunked bool
		status  int
		reason  string
	}{
		{"corrupt frames", "POST", "acme", "5", bytes.NewReader(good.Data[:len(good.Data)-3]), false, 400, sinkwriter.ReasonCorruptBatch},
		{"fewer records than announced", "POST", "acme", "6", bytes.NewReader(good.Data), false, 400, sinkwriter.ReasonRecordCountMismatch},
		{"more records than announced", "POST", "acme", "4", bytes.NewReader(good.Data), false, 400, sinkwriter.ReasonRecordCountMismatch},
		{"a count the body cannot hold", "POST", "acme", "1000000", bytes.NewReader(good.Data), false, 400, sinkwriter.ReasonRecordCountMismatch},
		{"records of another tenant", "POST", "acme", "5", bytes.NewReader(other.Data), false, 400, sinkwriter.ReasonCorruptBatch},
		{"no tenant", "POST", "", "5", bytes.NewReader(good.Data), false, 400, sinkwriter.ReasonInvalidTenant},
		{"bad tenant", "POST", "ACME", "5", bytes.NewReader(good.Data), false, 400, sinkwriter.ReasonInvalidTenant},
		{"no count", "POST", "acme", "", bytes.NewReader(good.Data), false, 400, sinkwriter.ReasonInvalidRecordCount},
		{"negative count", "POST", "acme", "-1", bytes.NewReader(good.Data), false, 400, sinkwriter.ReasonInvalidRecordCount},
		{"GET", "GET", "acme", "5", nil, false, 405, sinkwriter.ReasonMethodNotAllowed},
		{"no Content-Length", "POST", "acme", "5", io.MultiReader(bytes.NewReader(good.Data)), true, 411, sinkwriter.ReasonLengthRequired},
		{"too large", "POST", "acme", "5", bytes.NewReader(make([]byte, 65<<10)), false, 413, sinkwriter.ReasonBatchTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+sinkwriter.PathBatches, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked {
				req.ContentLength = -1
			}
			req.Header.Set(sinkwriter.HeaderTenant, tt.tenant)
			req.Header.Set(sinkwriter.HeaderRecordCount, tt.count)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body sinkwriter.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.status || body.Error.Reason != tt.reason || body.Error.Message == "" {
				t.Errorf("%d %+v, want %d %s with a message", resp.StatusCode, body, tt.status, tt.reason)
			}
			if resp.Header.Get("Retry-After") != "" {
				t.Errorf("a %d carries Retry-After", resp.StatusCode)
			}
		})
	}
	if c.TopicInfo("ingest.acme") != nil {
		t.Error("an invalid batch created the tenant's topic")
	}
	if got := metric(t, reg, "ingest_sinkwriter_batches_total", "code", "400"); got != 9 {
		t.Errorf("batches answered 400 = %v, want 9", got)
	}
	if got := metric(t, reg, "ingest_sinkwriter_buffer_bytes"); got != 0 {
		t.Errorf("buffer bytes after refusals = %v, want 0", got)
	}

	// The valid batch goes through, and an empty one is fine.
	if status, _, body := postBatch(t, srv.URL, good, "5"); status != 200 || !strings.Contains(body, `"records":5`) {
		t.Errorf("valid batch: %d %s", status, body)
	}
	if status, _, body := postBatch(t, srv.URL, record.Batch{Tenant: "acme"}, "0"); status != 200 {
		t.Errorf("empty batch: %d %s", status, body)
	}
	checkInKafka(t, c.ListenAddrs(), "ingest.acme", good)
}
