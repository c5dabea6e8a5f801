package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// patternServer answers each tenant's requests 200, 200, 429, 503, 400 in turn and counts what
// it answered per API key.
type patternServer struct {
	mu     sync.Mutex
	n      map[string]int
	counts map[string]map[int]int
}

func (p *patternServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, _ = io.Copy(io.Discard, r.Body)
	p.mu.Lock()
	i := p.n[key]
	p.n[key]++
	code := []int{200, 200, 429, 503, 400}[i%5]
	if p.counts[key] == nil {
		p.counts[key] = map[int]int{}
	}
	p.counts[key][code]++
	p.mu.Unlock()
	if code == 429 || code == 503 {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
}

func TestReportCountsEveryAnswerExactly(t *testing.T) {
	ps := &patternServer{n: map[string]int{}, counts: map[string]map[int]int{}}
	srv, ca := startTLS(t, ps)
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "k-acme", Profile: steady(1000)}, Tenant{Name: "globex", Key: "k-globex", Profile: steady(400)})
	rep := run(t, cfg)
	var total TenantReport
	for i, tr := range rep.Tenants {
		key := cfg.Tenants[i].Key
		c := ps.counts[key]
		got := [5]uint64{tr.Accepted, tr.Status429, tr.Status503, tr.OtherStatus, tr.TransportErrors}
		want := [5]uint64{uint64(c[200]), uint64(c[429]), uint64(c[503]), uint64(c[400]), 0}
		if got != want {
			t.Errorf("tenant %s: 2xx/429/503/other/errors = %v, server answered %v", tr.Tenant, got, want)
		}
		if tr.Requests != uint64(ps.n[key]) || tr.Events != tr.Requests*10 || tr.AcceptedEvents != tr.Accepted*10 {
			t.Errorf("tenant %s: requests %d events %d accepted events %d; server saw %d requests", tr.Tenant, tr.Requests, tr.Events, tr.AcceptedEvents, ps.n[key])
		}
		if tr.RetryAfter != tr.Status429+tr.Status503 {
			t.Errorf("tenant %s: %d answers with Retry-After, want %d", tr.Tenant, tr.RetryAfter, tr.Status429+tr.Status503)
		}
		if tr.Latency.Count != tr.Requests || tr.Latency.P50 <= 0 || tr.Latency.P99 < tr.Latency.P50 {
			t.Errorf("tenant %s: latency %+v", tr.Tenant, tr.Latency)
		}
		total.Requests += tr.Requests
		total.Accepted += tr.Accepted
	}
	if rep.Total.Requests != total.Requests || rep.Total.Accepted != total.Accepted {
		t.Errorf("total %d requests %d accepted, tenants sum to %d and %d", rep.Total.Requests, rep.Total.Accepted, total.Requests, total.Accepted)
	}
	if rep.Tenants[0].Requests < 50 {
		t.Errorf("acme sent %d requests, want about 100", rep.Tenants[0].Requests)
	}
}

// grpcServer answers OTLP/gRPC calls in a cycle: OK (grpc-status in the trailers), then
// trailers-only RESOURCE_EXHAUSTED, UNAVAILABLE and INVALID_ARGUMENT (in the headers, with HTTP
// status 200, as the edge and the normalizer answer).
type grpcServer struct {
	mu     sync.Mutex
	n      int
	counts map[int]int // by gRPC code
	bad    int         // calls that were not gRPC
}

func (g *grpcServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	code := []int{grpcwire.OK, grpcwire.ResourceExhausted, grpcwire.Unavailable, grpcwire.InvalidArgument}[g.n%4]
	g.n++
	g.counts[code]++
	if _, _, err := grpcwire.Unary(body); err != nil || r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" {
		g.bad++
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/grpc")
	if code != grpcwire.OK {
		w.Header().Set("Grpc-Status", strconv.Itoa(code))
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(grpcwire.AppendMessage(nil, nil))
	w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
}

// An OTLP/gRPC call is judged by its grpc-status, not its HTTP status (always 200).
func TestGRPCCallsCountByTheirGRPCStatus(t *testing.T) {
	gs := &grpcServer{counts: map[int]int{}}
	srv, ca := startTLS(t, gs)
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "k-acme", Profile: steady(400)})
	cfg.Formats = map[Format]int{FormatOTLPGRPC: 1}
	rep := run(t, cfg)
	tr := rep.Tenants[0]
	got := [4]uint64{tr.Accepted, tr.Status429, tr.Status503, tr.OtherStatus}
	want := [4]uint64{uint64(gs.counts[grpcwire.OK]), uint64(gs.counts[grpcwire.ResourceExhausted]), uint64(gs.counts[grpcwire.Unavailable]), uint64(gs.counts[grpcwire.InvalidArgument])}
	if got != want || tr.Requests == 0 || gs.bad != 0 {
		t.Errorf("OK/RESOURCE_EXHAUSTED/UNAVAILABLE/other = %v, server answered %v (%d calls that were not gRPC over HTTP/2)", got, want, gs.bad)
	}
	cfg.HTTP1 = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "otlp-grpc needs HTTP/2") {
		t.Errorf("http1 with otlp-grpc: Validate = %v, want a refusal", err)
	}
}

func TestRequestsOverTheTimeoutCountAsTransportErrorsAndTheRunStaysBounded(t *testing.T) {
	srv, ca := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "k", Profile: steady(200)})
	cfg.Duration = 300 * time.Millisecond
	cfg.RequestTimeout = 100 * time.Millisecond
	start := time.Now()
	rep := run(t, cfg)
	if el := time.Since(start); el > cfg.Duration+cfg.RequestTimeout+300*time.Millisecond {
		t.Errorf("run took %s, want at most duration + request timeout", el)
	}
	tr := rep.Tenants[0]
	if tr.Requests == 0 || tr.TransportErrors != tr.Requests || tr.Accepted != 0 || tr.Latency.Count != 0 {
		t.Errorf("report %+v: want every request a transport error", tr)
	}
}

// arrivals records the time and event count of every request.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	a.mu.Lock()
	a.times = append(a.times, time.Now())
	a.mu.Unlock()
}

func TestSteadyProfileSendsWithinTenPercentOfItsRate(t *testing.T) {
	a := &arrivals{}
	srv, ca := startTLS(t, a)
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "k", Profile: steady(2000)})
	cfg.Duration = 2 * time.Second
	rep := run(t, cfg)
	want := 2000 * cfg.Duration.Seconds()
	if got := float64(rep.Tenants[0].Events); got < 0.9*want || got > 1.1*want {
		t.Errorf("sent %.0f events in %s at steady:2000, want %.0f ± 10%%", got, cfg.Duration, want)
	}
	if got := rep.Tenants[0].EventsPerSec; got < 1800 || got > 2200 {
		t.Errorf("events/s %.1f, want 2000 ± 10%%", got)
	}
}

func TestBurstProfileSendsPeaksAboveItsBase(t *testing.T) {
	a := &arrivals{}
	srv, ca := startTLS(t, a)
	p, err := ParseProfile("burst:200:4000:1s:0.3")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "k", Profile: p})
	cfg.Duration = 2 * time.Second
	r, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// events per 100 ms bin; peaks are bins 0-2 and 10-12, base 4-9 and 14-19 (edges skipped)
	var bins [20]int
	for _, at := range a.times {
		if b := int(at.Sub(start) / (100 * time.Millisecond)); b >= 0 && b < len(bins) {
			bins[b] += cfg.BatchSize
		}
	}
	peak := bins[1] + bins[11]                      // 2 × 400 expected
	base := bins[5] + bins[6] + bins[15] + bins[16] // 4 × 20 expected
	if peak < 500 || base > 200 || peak < 4*base {
		t.Errorf("events per 100ms bin %v: peak bins %d (want ≈800), base bins %d (want ≈80)", bins, peak, base)
	}
}

func TestRespectRetryAfterPausesTheTenant(t *testing.T) {
	var n atomic.Int64
	srv, ca := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "10")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "k", Profile: steady(1000)})
	cfg.RespectRetryAfter = true
	cfg.Concurrency = 1
	rep := run(t, cfg)
	// the first answer pauses the tenant for 10 s; only the requests queued before it arrive
	if got := rep.Tenants[0].Status429; got == 0 || got > 5 {
		t.Errorf("%d answers 429 (server saw %d), want a handful: the tenant pauses after the first", got, n.Load())
	}
}

func TestBodiesDecodeWithTheirEventCounts(t *testing.T) {
	g := &generator{rng: newTestRand(), now: time.Now}
	for _, f := range allFormats {
		for _, s := range allSignals {
			b, err := g.Generate(f, s, 7)
			if err != nil {
				t.Fatal(err)
			}
			data := b.Stamp(0xabcdef0123456789)
			if bytes.Contains(data, []byte(placeholder)) || bytes.Count(data, []byte("LGRQabcdef0123456789")) != 7 {
				t.Errorf("%s %s: stamped body does not carry the request id in every event", f, s)
			}
			if per := len(data) / 7; f != FormatOTLPJSON && (per < 150 || per > 600) {
				t.Errorf("%s %s: %d bytes per event, want about 300", f, s, per)
			}
			var got int
			switch f {
			case FormatNDJSON:
				if b.Path != "/v1/events" || b.ContentType != "application/x-ndjson" {
					t.Errorf("ndjson: path %q content type %q", b.Path, b.ContentType)
				}
				want := map[Signal]string{SignalLogs: "log", SignalMetrics: "metric", SignalTraces: "span"}[s]
				sc := bufio.NewScanner(bytes.NewReader(data))
				for sc.Scan() {
					var ev map[string]any
					if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
						t.Fatalf("ndjson %s line %d: %v", s, got+1, err)
					}
					if ev["type"] != want {
						t.Errorf("ndjson %s: type %v", s, ev["type"])
					}
					got++
				}
			default:
				if f == FormatOTLPGRPC {
					msg, compressed, err := grpcwire.Unary(data)
					if err != nil || compressed || b.Path != grpcPaths[s] || b.ContentType != "application/grpc" {
						t.Fatalf("%s %s: path %q content type %q, framing %v (compressed %v)", f, s, b.Path, b.ContentType, err, compressed)
					}
					data = msg
				} else if b.Path != "/v1/"+string(s) {
					t.Errorf("%s %s: path %q", f, s, b.Path)
				}
				unmarshal := func(u interface {
					UnmarshalProto([]byte) error
					UnmarshalJSON([]byte) error
				}) {
					var err error
					if f == FormatOTLPJSON {
						err = u.UnmarshalJSON(data)
					} else {
						err = u.UnmarshalProto(data)
					}
					if err != nil {
						t.Fatalf("%s %s: %v", f, s, err)
					}
				}
				switch s {
				case SignalLogs:
					req := plogotlp.NewExportRequest()
					unmarshal(req)
					got = req.Logs().LogRecordCount()
				case SignalMetrics:
					req := pmetricotlp.NewExportRequest()
					unmarshal(req)
					got = req.Metrics().DataPointCount()
				case SignalTraces:
					req := ptraceotlp.NewExportRequest()
					unmarshal(req)
					got = req.Traces().SpanCount()
				}
			}
			if got != 7 || b.Events != 7 {
				t.Errorf("%s %s: decoded %d events (body says %d), want 7", f, s, got, b.Events)
			}
		}
	}
}

func TestReportWritesParseableJSONAndATable(t *testing.T) {
	ps := &patternServer{n: map[string]int{}, counts: map[string]map[int]int{}}
	srv, ca := startTLS(t, ps)
	cfg := testConfig(srv.URL, ca, Tenant{Name: "acme", Key: "k", Profile: steady(500)})
	cfg.Duration = 300 * time.Millisecond
	rep := run(t, cfg)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("report JSON does not parse: %v\n%s", err, buf.String())
	}
	if back.Tenants[0].Requests != rep.Tenants[0].Requests || back.Total.Status429 != rep.Total.Status429 {
		t.Errorf("JSON round trip: %+v, want %+v", back.Tenants[0], rep.Tenants[0])
	}
	buf.Reset()
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "acme") || !strings.Contains(buf.String(), "total") {
		t.Errorf("table lacks rows:\n%s", buf.String())
	}
}

// run runs a load generator of cfg (and vis, nil for none) to its end and returns its report.
func run(t *testing.T, cfg Config, vis ...Visibility) *Report {
	t.Helper()
	var v Visibility
	if len(vis) > 0 {
		v = vis[0]
	}
	r, err := New(cfg, v)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
