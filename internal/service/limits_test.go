package service_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/service/servicetest"
	"github.com/ingestdev/ingest/internal/testkit"
)

// bodyEcho reads the whole body: 408 when it stalled past the body idle timeout, else 200
// after waiting for work (nil: none) with its request's context still live.
func bodyEcho(work <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			if errors.Is(err, service.ErrBodyIdle) {
				http.Error(w, err.Error(), http.StatusRequestTimeout)
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if work != nil {
			select {
			case <-work:
			case <-r.Context().Done():
				http.Error(w, "request context ended while working", http.StatusInternalServerError)
				return
			}
		}
		_, _ = io.WriteString(w, "read")
	})
}

func runServer(t *testing.T, o service.Options) (*service.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Name, o.Listen = "test", "127.0.0.1:0"
	s, err := service.New(o, service.Settings{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "test service", 10*time.Second, s.Run)
	testkit.WaitHTTP(t.Context(), t, "http://"+s.Addr().String()+"/healthz", 5*time.Second)
	return s, reg
}

func TestConnectionAboveMaxConnectionsIsClosedAtOnceAndCounted(t *testing.T) {
	s, reg := runServer(t, service.Options{MaxConnections: 2, Handler: bodyEcho(nil)})
	addr := s.Addr().String()
	// WaitHTTP's connection may still be open: two of ours hold the limit once it closed.
	testkit.Eventually(t, 5*time.Second, "the probe's connection closed", func() bool {
		return metricValue(t, reg, "ingest_test_connections_open") == 0
	})
	held := make([]net.Conn, 2)
	for i := range held {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		servicetest.StallHTTP1(t, c, "/", 3, []byte("ok"))
		held[i] = c
	}
	testkit.Eventually(t, 5*time.Second, "two connections open", func() bool { return metricValue(t, reg, "ingest_test_connections_open") == 2 })

	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_, _ = io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n") // fails once the server closed it
	if code := servicetest.Answer(t, third, 5*time.Second); code != 0 {
		t.Fatalf("connection 3 of 2 got %d, want it closed without an answer", code)
	}
	if got := metricValue(t, reg, "ingest_test_connections_refused_total"); got != 1 {
		t.Errorf("ingest_test_connections_refused_total = %v, want 1", got)
	}

	// A slot frees when a connection closes.
	_ = held[0].Close()
	testkit.Eventually(t, 5*time.Second, "a connection accepted again", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		servicetest.StallHTTP1(t, c, "/", 1, []byte("x"))
		return servicetest.Answer(t, c, 5*time.Second) == http.StatusOK
	})
}

func TestStalledBodyIsCutAfterTheBodyIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	s, reg := runServer(t, service.Options{BodyIdleTimeout: idle, Handler: bodyEcho(nil)})
	addr := s.Addr().String()

	t.Run("HTTP/1.1", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		servicetest.StallHTTP1(t, c, "/", 60_000_000, []byte("0123456789"))
		code := servicetest.Answer(t, c, 5*time.Second)
		if took := time.Since(start); code != http.StatusRequestTimeout || took < idle {
			t.Fatalf("got %d after %v, want 408 after the %v body idle timeout", code, took, idle)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		start := time.Now()
		resp, err := servicetest.StallHTTP2(t, servicetest.H2CClient(5*time.Second), "http://"+addr+"/", 60_000_000, []byte("0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); resp.StatusCode != http.StatusRequestTimeout || took < idle {
			t.Fatalf("got %d after %v, want 408 after the %v body idle timeout", resp.StatusCode, took, idle)
		}
	})
	if got := metricValue(t, reg, "ingest_test_body_read_timeouts_total"); got != 2 {
		t.Errorf("ingest_test_body_read_timeouts_total = %v, want 2", got)
	}
}

// The idle timeout bounds the body only: a handler working longer than it once the body is
// read keeps its request (HTTP/1.1 reads the connection in the background meanwhile).
func TestBodyIdleTimeoutDoesNotCutTheHandlersWorkAfterTheBody(t *testing.T) {
	const idle = 100 * time.Millisecond
	work := make(chan struct{})
	s, _ := runServer(t, service.Options{BodyIdleTimeout: idle, Handler: bodyEcho(work)})
	go func() {
		<-time.After(4 * idle) // the handler works for 4 idle timeouts
		close(work)
	}()
	resp, err := http.Post("http://"+s.Addr().String()+"/", "text/plain", io.NopCloser(io.LimitReader(zeros{}, 100_000)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

func TestHeadersNotSentWithinReadHeaderTimeoutCloseTheConnection(t *testing.T) {
	s, _ := runServer(t, service.Options{ReadHeaderTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n"); err != nil { // no blank line
		t.Fatal(err)
	}
	if code := servicetest.Answer(t, c, 5*time.Second); code != 0 && code != http.StatusRequestTimeout {
		t.Fatalf("got %d, want the connection closed", code)
	}
}

func TestNegativeListenerBoundsAreRefused(t *testing.T) {
	for _, o := range []service.Options{{MaxConnections: -1}, {ReadHeaderTimeout: -1}, {BodyIdleTimeout: -1}} {
		o.Name = "test"
		if _, err := service.New(o, service.Settings{}); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// metricValue returns the value of the unlabelled counter or gauge name in reg; 0 when absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return 0
}

func TestValidateListenerBoundsNamesEveryNegativeKey(t *testing.T) {
	errs := service.ValidateListenerBounds(-1, -time.Second, -time.Second)
	if len(errs) != 3 {
		t.Fatalf("%d errors, want 3: %v", len(errs), errs)
	}
	for i, key := range []string{"max_connections", "read_header_timeout", "body_idle_timeout"} {
		if !strings.HasPrefix(errs[i].Error(), key+": ") {
			t.Errorf("error %d = %q, want it to name %s", i, errs[i], key)
		}
	}
	if errs := service.ValidateListenerBounds(0, 0, 0); len(errs) != 0 {
		t.Errorf("zero (default) bounds refused: %v", errs)
	}
}
