package service_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/testkit"
)

// get answers GET url's status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerServesItsEndpointsHealthReadinessAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "ingest_test_hits_total", Help: "hits"})
	reg.MustRegister(hits)
	var notReady atomic.Pointer[error]
	down := errors.New("the sink is down")
	notReady.Store(&down)
	release := make(chan struct{})
	s, err := service.New(service.Options{
		Name:   "test",
		Listen: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Inc()
			_, _ = io.WriteString(w, "hello "+r.URL.Path)
		}),
		Ready: func(context.Context) error {
			if e := notReady.Load(); e != nil {
				return *e
			}
			return nil
		},
		// Background work that drains slowly, so that /readyz can be seen while draining.
		Run: func(ctx context.Context) error {
			<-ctx.Done()
			<-release
			return nil
		},
	}, service.Settings{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(context.Background()); !errors.Is(err, service.ErrNotRunning) {
		t.Fatalf("Ready before Run: %v, want ErrNotRunning", err)
	}
	stop := testkit.Go(t, 10*time.Second, s.Run).Stop
	base := "http://" + s.Addr().String()

	if code, body := get(t, base+"/v1/things"); code != 200 || body != "hello /v1/things" {
		t.Errorf("the component's endpoint: %d %q", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	testkit.Eventually(t, 5*time.Second, "running", func() bool { return !errors.Is(s.Ready(context.Background()), service.ErrNotRunning) })
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "the sink is down") {
		t.Errorf("/readyz while the check fails: %d %q, want 503 with the reason", code, body)
	}
	notReady.Store(nil)
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz once the check passes: %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "ingest_test_hits_total 1") {
		t.Errorf("/metrics: %d, lacks the component's counter:\n%s", code, body)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	testkit.Eventually(t, 5*time.Second, "/readyz to answer 503 while draining", func() bool {
		code, body := get(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "draining")
	})
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the listener still answers after Run returned")
	}
}

func TestServerSpeaksH2CAndHTTP1(t *testing.T) {
	s, err := service.New(service.Options{Name: "test", Listen: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	})}, service.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer testkit.Go(t, 10*time.Second, s.Run).Stop()
	for proto, want := range map[string]string{"h2c": "HTTP/2.0", "http1": "HTTP/1.1"} {
		var p http.Protocols
		if proto == "h2c" {
			p.SetUnencryptedHTTP2(true)
		} else {
			p.SetHTTP1(true)
		}
		c := &http.Client{Transport: &http.Transport{Protocols: &p}}
		resp, err := c.Get("http://" + s.Addr().String() + "/")
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("%s: served as %q, want %q", proto, b, want)
		}
	}
}

func TestDrainRunsInOrderAndLetsRequestsInProgressFinish(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	entered := make(chan struct{})
	s, err := service.New(service.Options{
		Name:   "test",
		Listen: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			time.Sleep(300 * time.Millisecond)
			record("request finished")
			_, _ = io.WriteString(w, "finished")
		}),
		Drain: func() { record("drain") },
		Run: func(ctx context.Context) error {
			<-ctx.Done()
			record("work stopped")
			return nil
		},
		Shutdown:        func(context.Context) error { record("shutdown"); return nil },
		ShutdownTimeout: 5 * time.Second,
	}, service.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Go(t, 10*time.Second, s.Run).Stop
	got := make(chan string, 1)
	go func() {
		_, body := get(t, "http://"+s.Addr().String()+"/slow")
		got <- body
	}()
	<-entered
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if body := <-got; body != "finished" {
		t.Errorf("the request in progress at shutdown got %q", body)
	}
	want := "drain, work stopped, request finished, shutdown"
	if g := strings.Join(events, ", "); g != want {
		t.Errorf("drain order: %s, want %s", g, want)
	}
}

func TestDrainIsBoundedByTheShutdownTimeout(t *testing.T) {
	entered := make(chan struct{})
	unblock := make(chan struct{})
	defer close(unblock)
	var shutdownLeft time.Duration
	s, err := service.New(service.Options{
		Name:   "test",
		Listen: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			close(entered)
			<-unblock
		}),
		Shutdown: func(ctx context.Context) error {
			d, _ := ctx.Deadline()
			shutdownLeft = time.Until(d)
			return nil
		},
		ShutdownTimeout: 200 * time.Millisecond,
	}, service.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Go(t, 10*time.Second, s.Run).Stop
	go func() { _, _ = http.Get("http://" + s.Addr().String() + "/stuck") }()
	<-entered
	start := time.Now()
	err = stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run took %v to return with a shutdown timeout of 200ms", took)
	}
	if err == nil || !strings.Contains(err.Error(), "were cut") {
		t.Errorf("Run: %v, want the requests cut at the shutdown timeout", err)
	}
	if shutdownLeft > 200*time.Millisecond {
		t.Errorf("Shutdown got %v, more than the shutdown timeout", shutdownLeft)
	}
}

func TestNewFailsWhenThePortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, err = service.New(service.Options{Name: "normalizer", Listen: addr}, service.Settings{})
	if err == nil || !strings.Contains(err.Error(), `cannot listen on "`+addr+`" for the normalizer`) {
		t.Fatalf("New on a taken port: %v, want an error naming the service and the address", err)
	}
}

func TestRunReturnsWhenItsWorkFails(t *testing.T) {
	boom := errors.New("boom")
	shutdown := false
	s, err := service.New(service.Options{
		Name:     "test",
		Listen:   "127.0.0.1:0",
		Run:      func(context.Context) error { return boom },
		Shutdown: func(context.Context) error { shutdown = true; return nil },
	}, service.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Run: %v, want the work's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its work failed")
	}
	if !shutdown {
		t.Error("the component was not shut down")
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestCloseReleasesTheListenerOfAServerThatNeverRan(t *testing.T) {
	shutdown := false
	s, err := service.New(service.Options{Name: "test", Listen: "127.0.0.1:0", Shutdown: func(context.Context) error { shutdown = true; return nil }}, service.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !shutdown {
		t.Error("Close did not shut the component down")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port is still held after Close: %v", err)
	}
	ln.Close()
	if err := s.Run(context.Background()); err == nil {
		t.Error("Run after Close succeeded")
	}
}

func TestPprofIsServedOnlyWhenAskedFor(t *testing.T) {
	for _, on := range []bool{false, true} {
		if on {
			t.Setenv(service.PprofEnv, "1")
		} else {
			t.Setenv(service.PprofEnv, "")
		}
		s, err := service.New(service.Options{Name: "test", Listen: "127.0.0.1:0",
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) })},
			service.Settings{Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		stop := testkit.Go(t, 10*time.Second, s.Run).Stop
		code, body := get(t, "http://"+s.Addr().String()+"/debug/pprof/goroutine?debug=1")
		if want := map[bool]int{false: 404, true: 200}[on]; code != want || on && !strings.Contains(body, "goroutine profile") {
			t.Errorf("%s=%v: /debug/pprof/goroutine answered %d, want %d", service.PprofEnv, on, code, want)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}
