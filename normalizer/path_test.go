package normalizer

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ingestdev/ingest/internal/grpcwire"
	"github.com/ingestdev/ingest/internal/reason"
)

// The normalizer serves an ingest endpoint only on its path exactly as sent: the edge counts a
// request's events from its path, and a spelling it does not count (percent-encoding, repeated
// or trailing slashes, dot segments) would otherwise be served as /v1/logs without being charged.
func TestPathOtherThanTheExactEndpointIs404UnknownPath(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, path := range []string{
		"/v1/%6Cogs", "/v1/%6cogs", "/%76%31/logs", "/v1/log%73", "/v1%2Flogs", "/v1%2flogs", "/v1%5Clogs",
		"/v1//logs", "//v1/logs", "/v1/logs/", "/v1/./logs", "/v1/x/../logs", "/v1/%2E/logs", "/v1/logs%20",
		"/v1/LOGS", "/v1/log", "/v1/logs/x", "/v1/%65vents", "/v1/events/", "/v1//events", "/v1/metric%73",
		"/v1/trace%73", "/v1//metrics", "/v1/traces/", "/", "/v1/", "/v1", "/healthz/", "/%68ealthz",
	} {
		r := ndjsonReq(goodLine + "\n")
		r.path = path
		r.header = map[string]string{HeaderRequestID: "req-7"}
		w := ts.do(t, r)
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404: %s", path, w.Code, w.Body)
			continue
		}
		var got struct {
			Error struct{ Reason, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Error.Reason != string(reason.UnknownPath) {
			t.Errorf("%s: body %s (%v), want reason %s", path, w.Body, err, reason.UnknownPath)
		}
		if w.Header().Get(HeaderRequestID) != "req-7" {
			t.Errorf("%s: request id not echoed", path)
		}
	}
	if n := len(ts.sink.Batches()); n != 0 {
		t.Errorf("the sink got %d batches from unknown paths", n)
	}
	if got := testutil.ToFloat64(ts.metrics.requests.WithLabelValues(unknownEndpoint, "404")); got != 29 {
		t.Errorf("ingest_normalizer_requests_total{endpoint=unknown,code=404} = %v, want 29", got)
	}
	if reason.UnknownPath.Status() != http.StatusNotFound {
		t.Errorf("the catalogue answers %s with %d", reason.UnknownPath, reason.UnknownPath.Status())
	}
}

// An OTLP/protobuf client gets the 404 as a google.rpc.Status.
func TestUnknownPathAnswersProtobufStatusToProtobufClients(t *testing.T) {
	ts := newTestServer(t, Config{})
	w := ts.do(t, req{path: "/v1/%6Cogs", ctype: "application/x-protobuf", tenant: testTenant})
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("status %d content-type %q, want 404 protobuf", w.Code, w.Header().Get("Content-Type"))
	}
	var st spb.Status
	if err := proto.Unmarshal(w.Body.Bytes(), &st); err != nil || !strings.HasPrefix(st.GetMessage(), string(reason.UnknownPath)+": ") {
		t.Errorf("status %+v (%v), want a message starting with %s", &st, err, reason.UnknownPath)
	}
	if st.GetCode() != grpcwire.NotFound { // the code a gRPC caller gets for the same refusal
		t.Errorf("status code %d, want NOT_FOUND (%d)", st.GetCode(), grpcwire.NotFound)
	}
}

// The exact paths are still served.
func TestExactEndpointPathsAreServed(t *testing.T) {
	ts := newTestServer(t, Config{})
	if w := ts.do(t, ndjsonReq(goodLine+"\n")); w.Code != http.StatusOK {
		t.Errorf("/v1/events: status %d: %s", w.Code, w.Body)
	}
	body, err := plogotlp.NewExportRequest().MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/logs", "/v1/metrics", "/v1/traces", "/v1/logs?x=%6C"} {
		if w := ts.do(t, req{path: path, ctype: "application/x-protobuf", tenant: testTenant, body: body}); w.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, w.Code, w.Body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if w := ts.do(t, req{path: path}); w.Code != http.StatusOK {
			t.Errorf("%s: status %d", path, w.Code)
		}
	}
}
