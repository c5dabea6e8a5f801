package normalizer

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/service/servicetest"
	"github.com/ingestdev/ingest/internal/testkit"
)

func TestStalledBodyDeclaringTheWholeBudgetDoesNotHoldIt(t *testing.T) {
	const budget = 1 << 20
	ts := newTestServer(t, Config{MaxBodyBytes: budget, MaxDecompressedBytes: budget, MaxInflightBytes: budget})

	// A request declaring the whole budget sends 10 bytes, then stalls.
	pr, pw := io.Pipe()
	stalled := httptest.NewRequest(http.MethodPost, "/v1/events", pr)
	stalled.ContentLength = budget
	stalled.Header.Set("Content-Type", "application/x-ndjson")
	stalled.Header.Set(HeaderTenant, testTenant)
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, stalled)
		done <- w.Code
	}()
	if _, err := pw.Write([]byte(goodLine[:10])); err != nil { // returns once the handler read them
		t.Fatal(err)
	}

	if w := ts.do(t, ndjsonReq(goodLine)); w.Code != http.StatusOK {
		t.Fatalf("a request while another stalls: status %d: %s", w.Code, w.Body)
	}

	pw.CloseWithError(io.ErrUnexpectedEOF) // the stalled request is cut
	if code := <-done; code != http.StatusBadRequest {
		t.Errorf("the cut request: status %d, want 400", code)
	}
	if n := ts.inflight.Load(); n != 0 {
		t.Errorf("%d bytes still reserved after the requests finished", n)
	}
}

// runService runs `ingest normalizer` on a free port with the discard sink and the listener
// bounds of cfg, and returns its address and registry.
func runService(t *testing.T, cfg ServiceConfig) (string, *prometheus.Registry) {
	t.Helper()
	cfg.Listen, cfg.Sink = "127.0.0.1:0", SinkDiscard
	cfg.HopAuth.InsecureInternalHops = true // these tests are about the listener's bounds
	reg := prometheus.NewRegistry()
	s, err := NewService(cfg, service.Settings{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "normalizer", 10*time.Second, s.Run)
	addr := s.Addr().String()
	testkit.WaitHTTP(t.Context(), t, "http://"+addr+"/healthz", 5*time.Second)
	return addr, reg
}

func TestServiceCutsAStalledBodyAfterBodyIdleTimeoutAndReleasesItsBytes(t *testing.T) {
	const idle = 200 * time.Millisecond
	addr, reg := runService(t, ServiceConfig{BodyIdleTimeout: idle})
	hdr := []string{"Content-Type", "application/x-ndjson", HeaderTenant, testTenant}
	value := func(name string) float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if m := mf.GetMetric(); mf.GetName() == name && len(m) == 1 {
				if m[0].GetCounter() != nil {
					return m[0].GetCounter().GetValue()
				}
				return m[0].GetGauge().GetValue()
			}
		}
		return -1
	}

	t.Run("HTTP/1.1", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		servicetest.StallHTTP1(t, c, "/v1/events", 1<<20, []byte(goodLine[:10]), hdr...)
		code := servicetest.Answer(t, c, 5*time.Second)
		if took := time.Since(start); code != http.StatusRequestTimeout || took < idle {
			t.Fatalf("got %d after %v, want 408 after the %v body idle timeout", code, took, idle)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		start := time.Now()
		resp, err := servicetest.StallHTTP2(t, servicetest.H2CClient(5*time.Second), "http://"+addr+"/v1/events", 1<<20, []byte(goodLine[:10]), hdr...)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if took := time.Since(start); resp.StatusCode != http.StatusRequestTimeout || took < idle || !strings.Contains(string(b), "no data for") {
			t.Fatalf("got %d %q after %v, want 408 after the %v body idle timeout", resp.StatusCode, b, took, idle)
		}
	})
	if got := value("ingest_normalizer_inflight_bytes"); got != 0 {
		t.Errorf("ingest_normalizer_inflight_bytes = %v after the cut requests", got)
	}
	if got := value("ingest_normalizer_body_read_timeouts_total"); got != 2 {
		t.Errorf("ingest_normalizer_body_read_timeouts_total = %v, want 2", got)
	}
}

func TestServiceClosesConnectionsAboveMaxConnections(t *testing.T) {
	addr, _ := runService(t, ServiceConfig{MaxConnections: 1})
	testkit.Eventually(t, 5*time.Second, "the probe's connection closed and one held", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		t.Cleanup(func() { _ = c.Close() })
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
		return servicetest.Answer(t, c, 5*time.Second) == http.StatusOK
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
	if code := servicetest.Answer(t, c, 5*time.Second); code != 0 {
		t.Fatalf("connection 2 of 1 got %d, want it closed", code)
	}
}

func TestServiceListenerBoundsMustNotBeNegative(t *testing.T) {
	err := ServiceConfig{Sink: SinkDiscard, MaxConnections: -1, ReadHeaderTimeout: -1, BodyIdleTimeout: -1}.Validate()
	for _, key := range []string{"max_connections", "read_header_timeout", "body_idle_timeout"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate: %v, want it to name %s", err, key)
		}
	}
}

// A gzip body is inflated into memory that its in-flight reservation covers: a bomb at the
// decompressed limit holds one buffer of the limit, not a doubled one (before, 8 MiB of
// newlines grew a bytes.Buffer to 16 MiB, having allocated 32 MiB on the way, while 8 MiB
// were reserved), and an honest body is inflated into one exact allocation.
func TestGzipBodyIsInflatedWithinItsReservation(t *testing.T) {
	const limit = 8 << 20
	ts := newTestServer(t, Config{MaxDecompressedBytes: limit})
	for _, tc := range []struct {
		name     string
		inflated int
		code     int
	}{
		{"bomb past the limit", 2 * limit, 413},
		{"body at the limit", limit - 1024, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ndjsonReq("")
			r.body, r.encoding = gzipped(t, append([]byte(goodLine+"\n"), bytes.Repeat([]byte("\n"), tc.inflated-len(goodLine)-1)...)), "gzip"
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			w := ts.do(t, r)
			runtime.ReadMemStats(&after)
			if w.Code != tc.code {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit+limit/4 {
				t.Errorf("allocated %.1f MiB to inflate at most %d MiB", float64(alloc)/(1<<20), limit>>20)
			}
			if n := ts.inflight.Load(); n != 0 {
				t.Errorf("%d bytes still reserved", n)
			}
		})
	}
}
