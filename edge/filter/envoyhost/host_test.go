package envoyhost_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/internal/testkit"
)

// scripted is a filter whose decode methods are given by the test; it records every call.
type scripted struct {
	api.PassThroughStreamFilter
	cb       api.FilterCallbackHandler
	headers  func(f *scripted, h api.RequestHeaderMap, end bool) api.StatusType
	data     func(f *scripted, b api.BufferInstance, end bool) api.StatusType
	trailers func(f *scripted, t api.RequestTrailerMap) api.StatusType
	rec      *recorder
	h        api.RequestHeaderMap
}

// recorder collects the calls a scripted filter saw.
type recorder struct {
	mu     sync.Mutex
	calls  []string
	bodies [][]byte
	done   chan struct{} // closed by OnDestroy
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (f *scripted) DecodeHeaders(h api.RequestHeaderMap, end bool) api.StatusType {
	f.h = h
	f.rec.add("DecodeHeaders end=%v", end)
	if f.headers == nil {
		return api.Continue
	}
	return f.headers(f, h, end)
}

func (f *scripted) DecodeData(b api.BufferInstance, end bool) api.StatusType {
	f.rec.add("DecodeData len=%d end=%v", b.Len(), end)
	f.rec.mu.Lock()
	f.rec.bodies = append(f.rec.bodies, bytes.Clone(b.Bytes()))
	f.rec.mu.Unlock()
	if f.data == nil {
		return api.Continue
	}
	return f.data(f, b, end)
}

func (f *scripted) DecodeTrailers(t api.RequestTrailerMap) api.StatusType {
	v, _ := t.Get("X-Checksum")
	f.rec.add("DecodeTrailers x-checksum=%s", v)
	if f.trailers == nil {
		return api.Continue
	}
	return f.trailers(f, t)
}

func (f *scripted) OnStreamComplete() { f.rec.add("OnStreamComplete") }

func (f *scripted) OnLog(h api.RequestHeaderMap, t api.RequestTrailerMap, rh api.ResponseHeaderMap, _ api.ResponseTrailerMap) {
	status := 0
	if rh != nil {
		status, _ = rh.Status()
	}
	tenant, _ := h.Get("x-tenant-id")
	f.rec.add("OnLog tenant=%s trailers=%v status=%d", tenant, t != nil, status)
}

func (f *scripted) OnDestroy(r api.DestroyReason) {
	f.rec.add("OnDestroy reason=%d", r)
	close(f.rec.done)
}

type harness struct {
	host *envoyhost.Host
	logs *testkit.SyncBuffer
	rec  *recorder
	f    *scripted
}

func newHarness(t *testing.T, f *scripted) (*harness, envoyhost.Filter) {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	h := &harness{
		host: envoyhost.New(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		logs: logs,
		rec:  &recorder{done: make(chan struct{})},
	}
	factory := func(config interface{}, cb api.FilterCallbackHandler) api.StreamFilter {
		f.cb, f.rec = cb, h.rec
		h.f = f
		return f
	}
	return h, envoyhost.Filter{Factory: factory, Config: "cfg"}
}

// decode runs req through f and finishes the stream with the local reply or a 200.
func decode(t *testing.T, f *scripted, req *http.Request, limit int64) (*envoyhost.Result, *harness) {
	t.Helper()
	h, filter := newHarness(t, f)
	res, err := h.host.Decode(context.Background(), filter, req, limit)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	t.Cleanup(func() { res.Finish(200, nil) })
	return res, h
}

func post(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://edge.example/v1/events?x=1", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-ndjson")
	return r
}

func stopAndBuffer(*scripted, api.RequestHeaderMap, bool) api.StatusType { return api.StopAndBuffer }

func TestHeaderMapIsLowerCasedWithPseudoHeaders(t *testing.T) {
	var all map[string][]string
	var got [6]string
	f := &scripted{headers: func(f *scripted, h api.RequestHeaderMap, end bool) api.StatusType {
		all = h.GetAllHeaders()
		got = [6]string{h.Method(), h.Path(), h.Host(), h.Scheme(), h.GetRaw("content-type"), h.GetRaw("Content-Type")}
		h.Set("X-Added", "Yes")
		h.Add("x-added", "again")
		h.Set("x-empty", "")
		h.Del("X-Drop")
		h.SetPath("/v1/logs")
		return api.Continue
	}}
	r := post("{}\n")
	r.Header.Set("X-Drop", "1")
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	res, _ := decode(t, f, r, 0)

	for k := range all {
		if k != strings.ToLower(k) {
			t.Errorf("header map key %q is not lower-case", k)
		}
	}
	if want := [6]string{"POST", "/v1/events?x=1", "edge.example", "https", "application/x-ndjson", ""}; got != want {
		t.Errorf("method, path, host, scheme, GetRaw(lower), GetRaw(upper) = %q, want %q", got, want)
	}
	if !slices.Equal(all["x-multi"], []string{"a", "b"}) || all["content-length"][0] != "3" {
		t.Errorf("headers = %v, want x-multi [a b] and content-length 3", all)
	}
	if res.Local != nil || res.Path != "/v1/logs" || res.Method != "POST" || res.Host != "edge.example" {
		t.Fatalf("result = %+v, want forwarded POST edge.example/v1/logs", res)
	}
	if v := res.Header["X-Added"]; !slices.Equal(v, []string{"Yes", "again"}) {
		t.Errorf("X-Added = %q", v)
	}
	if _, ok := res.Header["X-Drop"]; ok {
		t.Error("a deleted header was forwarded")
	}
	if v, ok := res.Header["X-Empty"]; !ok || v[0] != "" {
		t.Errorf("X-Empty = %q, %v: Envoy keeps empty request header values", v, ok)
	}
	if _, ok := res.Header["Content-Length"]; ok {
		t.Error("Result.Header holds Content-Length")
	}
	if string(res.Body) != "{}\n" {
		t.Errorf("body = %q", res.Body)
	}
}

func TestStopAndBufferDeliversTheWholeBodyOnce(t *testing.T) {
	body := strings.Repeat("x", 200<<10) // several read chunks
	f := &scripted{headers: stopAndBuffer}
	r := post(body)
	r.ContentLength = -1 // chunked: the host learns the end by reading
	res, h := decode(t, f, r, 1<<20)
	want := []string{"DecodeHeaders end=false", fmt.Sprintf("DecodeData len=%d end=true", len(body))}
	if got := h.rec.get(); !slices.Equal(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
	if string(res.Body) != body {
		t.Errorf("forwarded %d bytes, want the %d sent", len(res.Body), len(body))
	}
}

func TestContinuedHeadersStreamTheBodyInChunks(t *testing.T) {
	body := strings.Repeat("y", 150<<10)
	f := &scripted{}
	res, h := decode(t, f, post(body), 1<<20)
	calls := h.rec.get()
	if len(calls) < 3 || calls[len(calls)-1] != fmt.Sprintf("DecodeData len=%d end=true", 150<<10-2*(64<<10)) {
		t.Fatalf("calls = %q, want headers then 64 KiB chunks, the last with end=true", calls)
	}
	if string(res.Body) != body {
		t.Errorf("forwarded %d bytes, want %d", len(res.Body), len(body))
	}
}

func TestStopAndBufferInStreamingHoldsDataUntilTheEnd(t *testing.T) {
	body := strings.Repeat("z", 130<<10)
	f := &scripted{data: func(f *scripted, b api.BufferInstance, end bool) api.StatusType {
		if !end {
			return api.StopAndBuffer
		}
		return api.Continue
	}}
	res, h := decode(t, f, post(body), 1<<20)
	calls := h.rec.get()
	if calls[len(calls)-1] != fmt.Sprintf("DecodeData len=%d end=true", len(body)) {
		t.Fatalf("calls = %q, want the last DecodeData to get the whole body", calls)
	}
	if string(res.Body) != body {
		t.Errorf("forwarded %d bytes, want %d", len(res.Body), len(body))
	}
}

func TestBodyAboveTheBufferLimitGetsEnvoys413(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		status int
	}{
		{"at the limit", 1000, 0},
		{"one byte above", 1001, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, h := decode(t, &scripted{headers: stopAndBuffer}, post(strings.Repeat("a", tc.size)), 1000)
			if tc.status == 0 {
				if res.Local != nil {
					t.Fatalf("local reply %+v, want the request forwarded", res.Local)
				}
				return
			}
			lr := res.Local
			if lr == nil || lr.Status != 413 || string(lr.Body) != "Payload Too Large" || lr.Details != "request_payload_too_large" ||
				lr.Header.Get("Content-Type") != "text/plain" {
				t.Fatalf("local reply = %+v, want Envoy's 413", lr)
			}
			if got := h.rec.get(); len(got) != 1 {
				t.Errorf("calls = %q, want DecodeHeaders only", got)
			}
		})
	}
}

func TestTrailersVariant(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"body and trailers", "{}\n{}\n", []string{"DecodeHeaders end=false", "DecodeData len=6 end=false", "DecodeTrailers x-checksum=abc"}},
		{"trailers only", "", []string{"DecodeHeaders end=false", "DecodeTrailers x-checksum=abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &scripted{headers: stopAndBuffer, data: func(f *scripted, b api.BufferInstance, end bool) api.StatusType {
				f.h.Set("x-seen", "data") // headers are still held: writable
				return api.Continue
			}, trailers: func(f *scripted, tr api.RequestTrailerMap) api.StatusType {
				tr.Set("x-checksum", "def")
				f.h.Set("x-seen-trailers", "1")
				return api.Continue
			}}
			r := post(tc.body)
			r.ContentLength = -1
			r.Trailer = http.Header{"X-Checksum": {"abc"}}
			res, h := decode(t, f, r, 0)
			if got := h.rec.get(); !slices.Equal(got, tc.want) {
				t.Fatalf("calls = %q, want %q", got, tc.want)
			}
			if res.Local != nil || string(res.Body) != tc.body || res.Trailer.Get("X-Checksum") != "def" || res.Header.Get("X-Seen-Trailers") != "1" {
				t.Fatalf("result = %+v, want body, trailer and header forwarded", res)
			}
		})
	}
}

func TestTrailersFromARealClient(t *testing.T) {
	rec := &recorder{done: make(chan struct{})}
	host := envoyhost.New(nil)
	var got *envoyhost.Result
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := &scripted{headers: stopAndBuffer, rec: rec}
		res, err := host.Decode(r.Context(), envoyhost.Filter{Factory: func(_ interface{}, cb api.FilterCallbackHandler) api.StreamFilter {
			f.cb = cb
			return f
		}}, r, 0)
		if err != nil {
			t.Errorf("Decode: %v", err)
			return
		}
		got = res
		res.Finish(204, nil)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/events", io.MultiReader(strings.NewReader("{}\n")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": {"abc"}}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []string{"DecodeHeaders end=false", "DecodeData len=3 end=false", "DecodeTrailers x-checksum=abc", "OnStreamComplete",
		"OnLog tenant= trailers=true status=204", "OnDestroy reason=0"}
	if calls := rec.get(); !slices.Equal(calls, want) {
		t.Fatalf("calls = %q, want %q", calls, want)
	}
	if got.Trailer.Get("X-Checksum") != "abc" || string(got.Body) != "{}\n" {
		t.Errorf("result = %+v", got)
	}
}

func TestWaitingForDataWithoutBodyIsABugAnswered500(t *testing.T) {
	for _, st := range []api.StatusType{api.StopAndBuffer, api.StopAndBufferWatermark} {
		r := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
		res, h := decode(t, &scripted{headers: func(*scripted, api.RequestHeaderMap, bool) api.StatusType { return st }}, r, 0)
		if lr := res.Local; lr == nil || lr.Status != 500 || string(lr.Body) != "error happened in filter\r\n" {
			t.Errorf("status %d with endStream=true: local reply %+v, want Envoy's panic reply", st, lr)
		}
		if !strings.Contains(h.logs.String(), "received wait data status when there is no data") {
			t.Errorf("log does not name the bug: %s", h.logs)
		}
	}
}

func TestLocalReplyIsBuiltLikeEnvoys(t *testing.T) {
	reply := func(code int, body string, hdr map[string][]string, grpc int64) func(*scripted, api.RequestHeaderMap, bool) api.StatusType {
		return func(f *scripted, _ api.RequestHeaderMap, _ bool) api.StatusType {
			f.cb.DecoderFilterCallbacks().SendLocalReply(code, body, hdr, grpc, "my_details")
			return api.LocalReply
		}
	}
	for _, tc := range []struct {
		name        string
		contentType string
		method      string
		code        int
		body        string
		hdr         map[string][]string
		want        envoyhost.LocalReply
	}{
		{
			name: "plain text default, empty values dropped", contentType: "application/json", method: "POST",
			code: 429, body: "slow down", hdr: map[string][]string{"Retry-After": {"3"}, "x-empty": {""}},
			want: envoyhost.LocalReply{Status: 429, Body: []byte("slow down"), Details: "my_details",
				Header: http.Header{"Retry-After": {"3"}, "Content-Type": {"text/plain"}}},
		},
		{
			name: "own content type kept", contentType: "application/json", method: "POST",
			code: 401, body: `{"e":1}`, hdr: map[string][]string{"content-type": {"application/json"}},
			want: envoyhost.LocalReply{Status: 401, Body: []byte(`{"e":1}`), Details: "my_details",
				Header: http.Header{"Content-Type": {"application/json"}}},
		},
		{
			name: "no body, no content type", contentType: "application/json", method: "POST",
			code: 503, hdr: map[string][]string{"content-type": {"application/json"}},
			want: envoyhost.LocalReply{Status: 503, Details: "my_details", Header: http.Header{}},
		},
		{
			name: "HEAD has no body", contentType: "", method: "HEAD",
			code: 401, body: "no",
			want: envoyhost.LocalReply{Status: 401, Details: "my_details", Header: http.Header{"Content-Type": {"text/plain"}}},
		},
		{
			name: "gRPC trailers-only", contentType: "application/grpc+proto", method: "POST",
			code: 429, body: "100% full\n", hdr: map[string][]string{"retry-after": {"2"}},
			want: envoyhost.LocalReply{Status: 200, Details: "my_details", Header: http.Header{
				"Retry-After": {"2"}, "Content-Type": {"application/grpc"}, "Grpc-Status": {"8"}, "Grpc-Message": {"100%25 full%0A"}}},
		},
		{
			name: "grpc-web is not gRPC", contentType: "application/grpc-web", method: "POST",
			code: 429, body: "x",
			want: envoyhost.LocalReply{Status: 429, Body: []byte("x"), Details: "my_details", Header: http.Header{"Content-Type": {"text/plain"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/v1/logs", strings.NewReader("body"))
			r.Header.Set("Content-Type", tc.contentType)
			res, _ := decode(t, &scripted{headers: reply(tc.code, tc.body, tc.hdr, 8)}, r, 0)
			lr := res.Local
			if lr == nil {
				t.Fatal("no local reply")
			}
			if lr.Status != tc.want.Status || !bytes.Equal(lr.Body, tc.want.Body) || lr.Details != tc.want.Details || fmt.Sprint(lr.Header) != fmt.Sprint(tc.want.Header) {
				t.Errorf("local reply = %d %q %q %v, want %d %q %q %v", lr.Status, lr.Body, lr.Details, lr.Header,
					tc.want.Status, tc.want.Body, tc.want.Details, tc.want.Header)
			}
		})
	}
}

func TestPanicsBecomeEnvoysPanicReply(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *scripted
	}{
		{"in DecodeHeaders", &scripted{headers: func(*scripted, api.RequestHeaderMap, bool) api.StatusType { panic("boom") }}},
		{"in DecodeData", &scripted{headers: stopAndBuffer, data: func(*scripted, api.BufferInstance, bool) api.StatusType {
			panic(fmt.Errorf("a bug in DecodeData"))
		}}},
		{"in a goroutine, recovered with RecoverPanic", &scripted{headers: func(f *scripted, _ api.RequestHeaderMap, _ bool) api.StatusType {
			go func() {
				defer f.cb.DecoderFilterCallbacks().RecoverPanic()
				panic("boom in goroutine")
			}()
			return api.Running
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, h := decode(t, tc.f, post("{}"), 0)
			lr := res.Local
			if lr == nil || lr.Status != 500 || string(lr.Body) != "error happened in filter\r\n" || lr.Details != "golang_filter_panic" {
				t.Fatalf("local reply = %+v, want Envoy's 500 panic reply", lr)
			}
			if !strings.Contains(h.logs.String(), "golang filter panicked") {
				t.Errorf("the panic is not logged: %s", h.logs)
			}
		})
	}
}

func TestRunningWaitsForContinueFromAGoroutine(t *testing.T) {
	f := &scripted{headers: func(f *scripted, h api.RequestHeaderMap, _ bool) api.StatusType {
		go func() {
			defer f.cb.DecoderFilterCallbacks().RecoverPanic()
			time.Sleep(10 * time.Millisecond)
			h.Set("x-async", "1")
			f.cb.DecoderFilterCallbacks().Continue(api.StopAndBuffer)
		}()
		return api.Running
	}, data: func(f *scripted, b api.BufferInstance, _ bool) api.StatusType {
		go func() {
			defer f.cb.DecoderFilterCallbacks().RecoverPanic()
			b.AppendString("!")
			f.cb.DecoderFilterCallbacks().Continue(api.Continue)
		}()
		return api.Running
	}}
	res, h := decode(t, f, post("{}"), 0)
	if res.Local != nil || res.Header.Get("X-Async") != "1" || string(res.Body) != "{}!" {
		t.Fatalf("result = %+v, body %q", res, res.Body)
	}
	if want := []string{"DecodeHeaders end=false", "DecodeData len=2 end=true"}; !slices.Equal(h.rec.get(), want) {
		t.Errorf("calls = %q, want %q", h.rec.get(), want)
	}
}

func TestRunningFilterIsTerminatedWhenTheContextEnds(t *testing.T) {
	late := make(chan any, 1)
	release := make(chan struct{})
	f := &scripted{headers: func(f *scripted, _ api.RequestHeaderMap, _ bool) api.StatusType {
		go func() {
			defer func() { late <- recover() }()
			<-release
			f.cb.DecoderFilterCallbacks().Continue(api.Continue)
		}()
		return api.Running
	}}
	h, filter := newHarness(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res, err := h.host.Decode(ctx, filter, post("{}"), 0)
	if err == nil || res != nil {
		t.Fatalf("Decode = %v, %v; want a context error", res, err)
	}
	<-h.rec.done
	if calls := h.rec.get(); calls[len(calls)-1] != "OnDestroy reason=1" {
		t.Errorf("calls = %q, want OnDestroy(Terminate) last", calls)
	}
	close(release)
	if p := <-late; p != "golang filter has been destroyed" {
		t.Errorf("Continue after OnDestroy panicked with %v, want Envoy's destroyed panic", p)
	}
}

func TestExactlyOneDecisionPerPhase(t *testing.T) {
	t.Run("Continue and a returned status", func(t *testing.T) {
		f := &scripted{headers: func(f *scripted, _ api.RequestHeaderMap, _ bool) api.StatusType {
			f.cb.DecoderFilterCallbacks().Continue(api.Continue)
			return api.Continue
		}}
		res, h := decode(t, f, post("{}"), 0)
		if res.Local == nil || res.Local.Status != 500 || res.Local.Details != "golang_filter_protocol_error" {
			t.Fatalf("local reply = %+v, want 500 protocol error", res.Local)
		}
		if !strings.Contains(h.logs.String(), "exactly one") {
			t.Errorf("log does not explain: %s", h.logs)
		}
	})
	t.Run("a second callback panics", func(t *testing.T) {
		var second any
		f := &scripted{headers: func(f *scripted, _ api.RequestHeaderMap, _ bool) api.StatusType {
			f.cb.DecoderFilterCallbacks().SendLocalReply(401, "no", nil, 16, "first")
			func() {
				defer func() { second = recover() }()
				f.cb.DecoderFilterCallbacks().Continue(api.Continue)
			}()
			return api.LocalReply
		}}
		res, _ := decode(t, f, post("{}"), 0)
		if second != "not proccessing Go" {
			t.Errorf("second decision panicked with %v, want Envoy's not-in-Go panic", second)
		}
		if res.Local == nil || res.Local.Details != "first" {
			t.Errorf("local reply = %+v, want the first", res.Local)
		}
	})
	t.Run("LocalReply without SendLocalReply", func(t *testing.T) {
		res, _ := decode(t, &scripted{headers: func(*scripted, api.RequestHeaderMap, bool) api.StatusType { return api.LocalReply }}, post("{}"), 0)
		if res.Local == nil || res.Local.Status != 500 {
			t.Fatalf("local reply = %+v, want 500", res.Local)
		}
	})
}

func TestHeaderWritesAfterTheHeadersContinuedPanic(t *testing.T) {
	var got any
	f := &scripted{data: func(f *scripted, b api.BufferInstance, end bool) (st api.StatusType) {
		defer func() { got, st = recover(), api.Continue }()
		f.h.Set("x-late", "1")
		return api.Continue
	}}
	decode(t, f, post("{}"), 0)
	if got != "invalid phase, maybe headers/buffer already continued" {
		t.Errorf("late header write panicked with %v, want Envoy's invalid phase", got)
	}
}

func TestFinishRunsTheEndCallbacksInEnvoysOrderOnce(t *testing.T) {
	f := &scripted{headers: func(f *scripted, h api.RequestHeaderMap, _ bool) api.StatusType {
		h.Set("x-tenant-id", "acme")
		f.cb.RefreshRouteCache()
		return api.Continue
	}}
	h, filter := newHarness(t, f)
	res, err := h.host.Decode(context.Background(), filter, httptest.NewRequest("GET", "/", nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.RouteRefreshed {
		t.Error("RouteRefreshed = false after RefreshRouteCache")
	}
	res.Finish(202, http.Header{"X-Upstream": {"1"}})
	res.Finish(500, nil)
	want := []string{"DecodeHeaders end=true", "OnStreamComplete", "OnLog tenant=acme trailers=false status=202", "OnDestroy reason=0"}
	if got := h.rec.get(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestCallbacksAfterOnDestroyPanic(t *testing.T) {
	f := &scripted{}
	h, filter := newHarness(t, f)
	res, err := h.host.Decode(context.Background(), filter, httptest.NewRequest("GET", "/", nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	res.Finish(200, nil)
	for name, call := range map[string]func(){
		"Continue":          func() { f.cb.DecoderFilterCallbacks().Continue(api.Continue) },
		"SendLocalReply":    func() { f.cb.DecoderFilterCallbacks().SendLocalReply(500, "", nil, 0, "") },
		"RefreshRouteCache": func() { f.cb.RefreshRouteCache() },
		"header Set":        func() { f.h.Set("a", "b") },
		"StreamInfo":        func() { f.cb.StreamInfo().Protocol() },
		"GetProperty":       func() { _, _ = f.cb.GetProperty("request.path") },
		"AddData":           func() { f.cb.DecoderFilterCallbacks().AddData([]byte("x"), false) },
	} {
		func() {
			defer func() {
				if p := recover(); p != "golang filter has been destroyed" {
					t.Errorf("%s after OnDestroy panicked with %v, want Envoy's destroyed panic", name, p)
				}
			}()
			call()
		}()
	}
}

func TestAddDataTurnsAHeadersOnlyRequestIntoOneWithBody(t *testing.T) {
	f := &scripted{headers: func(f *scripted, _ api.RequestHeaderMap, end bool) api.StatusType {
		f.cb.DecoderFilterCallbacks().AddData([]byte("added"), false)
		return api.Continue
	}}
	res, _ := decode(t, f, httptest.NewRequest("POST", "/", nil), 0)
	if string(res.Body) != "added" {
		t.Errorf("body = %q, want the added data", res.Body)
	}
}

func TestStreamInfoAndProperties(t *testing.T) {
	var proto, remote, path, urlPath string
	var missing error
	f := &scripted{headers: func(f *scripted, _ api.RequestHeaderMap, _ bool) api.StatusType {
		proto, _ = f.cb.StreamInfo().Protocol()
		remote = f.cb.StreamInfo().DownstreamRemoteAddress()
		path, _ = f.cb.GetProperty("request.path")
		urlPath, _ = f.cb.GetProperty("request.url_path")
		_, missing = f.cb.GetProperty("xds.cluster_name")
		f.cb.StreamInfo().FilterState().SetString("k", "v", api.StateTypeReadOnly, api.LifeSpanRequest, api.None)
		f.cb.StreamInfo().DynamicMetadata().Set("ingest", "tenant", "acme")
		if f.cb.StreamInfo().FilterState().GetString("k") != "v" || f.cb.StreamInfo().DynamicMetadata().Get("ingest")["tenant"] != "acme" {
			t.Error("filter state or dynamic metadata lost a value")
		}
		return api.Continue
	}}
	decode(t, f, httptest.NewRequest("GET", "/v1/logs?a=b", nil), 0)
	if proto != "HTTP/1.1" || remote != "192.0.2.1:1234" || path != "/v1/logs?a=b" || urlPath != "/v1/logs" || missing != api.ErrValueNotFound {
		t.Errorf("protocol %q remote %q path %q url_path %q missing %v", proto, remote, path, urlPath, missing)
	}
}

// TestStopAndBufferWithALengthReadsTheBodyInPlaceIntact: a declared body the filter buffers
// is read straight into its buffer, chunk by chunk; every byte must land where it was sent,
// across chunk boundaries and in the short last chunk.
func TestStopAndBufferWithALengthReadsTheBodyInPlaceIntact(t *testing.T) {
	var sb strings.Builder
	for i := 0; sb.Len() < 3*(64<<10)+123; i++ { // three read chunks and a short one
		fmt.Fprintf(&sb, "%d,", i)
	}
	body := sb.String()
	f := &scripted{headers: stopAndBuffer}
	res, h := decode(t, f, post(body), 1<<20) // Content-Length set
	want := []string{"DecodeHeaders end=false", fmt.Sprintf("DecodeData len=%d end=true", len(body))}
	if got := h.rec.get(); !slices.Equal(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
	if string(res.Body) != body {
		t.Errorf("the forwarded body (%d bytes) differs from the %d sent", len(res.Body), len(body))
	}
}

// TestReleasedBodyBuffersAreReusedWithoutLeakingOldBytes: a body buffer given back with
// ReleaseBody may serve a later request; that request's body is exactly its own bytes, and
// the buffer shows it nothing of the earlier one (its capacity is its declared length).
func TestReleasedBodyBuffersAreReusedWithoutLeakingOldBytes(t *testing.T) {
	first := strings.Repeat("A", 100<<10)
	res, _ := decode(t, &scripted{headers: stopAndBuffer}, post(first), 1<<20)
	if string(res.Body) != first {
		t.Fatal("the first body is not forwarded intact")
	}
	res.ReleaseBody()
	res.ReleaseBody()   // a second call does nothing
	for i := range 20 { // sync.Pool may drop a buffer now and then: reuse is likely, not certain
		second := strings.Repeat(fmt.Sprint(i%10), 70<<10+i)
		res2, _ := decode(t, &scripted{headers: stopAndBuffer}, post(second), 1<<20)
		if string(res2.Body) != second || cap(res2.Body) != len(second) {
			t.Fatalf("round %d: body of %d bytes (capacity %d) for the %d sent, or not the bytes sent", i, len(res2.Body), cap(res2.Body), len(second))
		}
		res2.ReleaseBody()
	}
}
