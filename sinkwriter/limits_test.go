package sinkwriter_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/service/servicetest"
	"github.com/ingestdev/ingest/internal/testkit"
	"github.com/ingestdev/ingest/sinkwriter"
)

func TestStalledBatchDoesNotHoldTheBufferItDeclares(t *testing.T) {
	const size = 4 << 20
	c := newCluster(t)
	cfg := testConfig(c.ListenAddrs())
	cfg.MaxBufferBytes, cfg.TenantShare, cfg.MaxBatchBytes = size, 1, size
	w, reg := newWriter(t, cfg)
	srv := serve(t, w)

	// A batch declaring the whole buffer sends 10 bytes, then stalls.
	pr, pw := io.Pipe()
	stalled := httptest.NewRequest(http.MethodPost, sinkwriter.PathBatches, pr)
	stalled.ContentLength = size
	stalled.Header.Set(sinkwriter.HeaderTenant, "acme")
	stalled.Header.Set(sinkwriter.HeaderRecordCount, "1")
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		w.Handler().ServeHTTP(rec, stalled)
		done <- rec.Code
	}()
	if _, err := pw.Write(make([]byte, 10)); err != nil { // returns once the handler read them
		t.Fatal(err)
	}

	b := makeBatch("acme", 10, 100, 1)
	if code, _, body := postBatch(t, srv.URL, b, strconv.Itoa(b.Count)); code != http.StatusOK {
		t.Fatalf("a batch while another stalls: %d %s", code, body)
	}

	pw.CloseWithError(io.ErrUnexpectedEOF) // the stalled batch is cut
	if code := <-done; code != http.StatusBadRequest {
		t.Errorf("the cut batch: status %d, want 400", code)
	}
	testkit.Eventually(t, 5*time.Second, "the buffer released", func() bool {
		return metric(t, reg, "ingest_sinkwriter_buffer_bytes") == 0
	})
}

func TestStalledBatchIsAnswered408AfterTheBodyIdleTimeoutAndReleased(t *testing.T) {
	const idle = 200 * time.Millisecond
	c := newCluster(t)
	w, reg := newWriter(t, testConfig(c.ListenAddrs()))
	s, err := service.New(service.Options{Name: "sinkwriter", Listen: "127.0.0.1:0", Handler: w.Handler(), BodyIdleTimeout: idle},
		service.Settings{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "sink writer", 10*time.Second, s.Run)
	addr := s.Addr().String()
	testkit.WaitHTTP(t.Context(), t, "http://"+addr+"/healthz", 5*time.Second)
	hdr := []string{sinkwriter.HeaderTenant, "acme", sinkwriter.HeaderRecordCount, "1"}

	t.Run("HTTP/1.1", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		servicetest.StallHTTP1(t, conn, sinkwriter.PathBatches, 1<<20, make([]byte, 10), hdr...)
		code := servicetest.Answer(t, conn, 5*time.Second)
		if took := time.Since(start); code != http.StatusRequestTimeout || took < idle {
			t.Fatalf("got %d after %v, want 408 after the %v body idle timeout", code, took, idle)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		start := time.Now()
		resp, err := servicetest.StallHTTP2(t, servicetest.H2CClient(5*time.Second), "http://"+addr+sinkwriter.PathBatches, 1<<20, make([]byte, 10), hdr...)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); resp.StatusCode != http.StatusRequestTimeout || took < idle {
			t.Fatalf("got %d after %v, want 408 after the %v body idle timeout", resp.StatusCode, took, idle)
		}
	})
	if got := metric(t, reg, "ingest_sinkwriter_buffer_bytes"); got != 0 {
		t.Errorf("ingest_sinkwriter_buffer_bytes = %v after the cut batches", got)
	}
	if got := metric(t, reg, "ingest_sinkwriter_body_read_timeouts_total"); got != 2 {
		t.Errorf("ingest_sinkwriter_body_read_timeouts_total = %v, want 2", got)
	}
}
