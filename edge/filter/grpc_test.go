package filter_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/admission"
	"github.com/ingestdev/ingest/edge/filter/envoyhost"
	"github.com/ingestdev/ingest/edge/filter/eventcount"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
	"github.com/ingestdev/ingest/internal/grpcwire"
)

// otlpLogs returns an ExportLogsServiceRequest of n log records in protobuf.
func otlpLogs(t testing.TB, n int) []byte {
	t.Helper()
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		lrs.AppendEmpty().Body().SetStr("record " + strconv.Itoa(i))
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// grpcRequest is an OTLP/gRPC LogsService/Export call of n log records from apiKey; with gz,
// its message is compressed and the call says grpc-encoding gzip.
func grpcRequest(t testing.TB, apiKey string, n int, gz bool) *http.Request {
	msg := otlpLogs(t, n)
	flag := byte(0)
	if gz {
		msg, flag = gzippedTB(t, msg), 1
	}
	body := grpcwire.AppendMessage(nil, msg)
	body[0] = flag
	r := request(eventcount.GRPCLogsPath, apiKey, "application/grpc", body)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set("TE", "trailers")
	if gz {
		r.Header.Set("Grpc-Encoding", "gzip")
	}
	return r
}

// wantGRPCRefusal checks that res is a trailers-only gRPC answer with code, whose message names
// reason and whose status details carry a RetryInfo of retryAfter seconds (none for "").
func wantGRPCRefusal(t *testing.T, res *envoyhost.Result, code int, reason, retryAfter string) {
	t.Helper()
	lr := res.Local
	if lr == nil {
		t.Fatalf("request forwarded with headers %v, want gRPC status %d %s", res.Header, code, reason)
	}
	h := lr.Header
	if lr.Status != 200 || h.Get("Content-Type") != "application/grpc" || h.Get("Grpc-Status") != strconv.Itoa(code) ||
		!strings.HasPrefix(h.Get("Grpc-Message"), reason+":") || lr.Details != reason || len(lr.Body) != 0 {
		t.Fatalf("reply = %d, headers %v, body %q (details %q); want a trailers-only answer with grpc-status %d and a message naming %s",
			lr.Status, h, lr.Body, lr.Details, code, reason)
	}
	raw, err := base64.RawStdEncoding.DecodeString(h.Get(grpcwire.HeaderStatusDetails))
	var st spb.Status
	if err != nil || proto.Unmarshal(raw, &st) != nil || int(st.Code) != code || !strings.HasPrefix(st.Message, reason+":") {
		t.Fatalf("grpc-status-details-bin %q (%v) is not a google.rpc.Status of code %d naming %s", h.Get(grpcwire.HeaderStatusDetails), err, code, reason)
	}
	var ri errdetails.RetryInfo
	switch {
	case retryAfter == "" && len(st.Details) != 0:
		t.Fatalf("status details %v, want none (the request must not be retried as it is)", st.Details)
	case retryAfter == "":
	case len(st.Details) != 1 || st.Details[0].UnmarshalTo(&ri) != nil || strconv.Itoa(int(ri.RetryDelay.AsDuration()/time.Second)) != retryAfter:
		t.Fatalf("status details %v, want a RetryInfo of %s s", st.Details, retryAfter)
	}
}

// An OTLP/gRPC call is counted exactly as its message, compressed or not, and charged to the
// tenant's quotas like the same request over HTTP.
func TestGRPCCallsAreCountedAsTheirMessage(t *testing.T) {
	e := newEnv(t, testConfig()) // acme: 2 events/s, burst 10
	for _, gz := range []bool{false, true} {
		res := e.sendDone(grpcRequest(t, acmeKey, 4, gz))
		if res.Local != nil {
			t.Fatalf("gzip %v: refused: %v %s", gz, res.Local.Header, res.Local.Body)
		}
		if got := res.Header.Get(filterconfig.HeaderEventCount); got != "4" {
			t.Errorf("gzip %v: x-ingest-event-count = %q, want 4", gz, got)
		}
	}
	// 8 of the burst's 10 events are spent: a call of 4 is over the rate, RESOURCE_EXHAUSTED
	// with the wait for 2 more events (1 s) as RetryInfo.
	wantGRPCRefusal(t, e.sendDone(grpcRequest(t, acmeKey, 4, true)), grpcwire.ResourceExhausted, admission.ReasonRateLimitedEvents, "1")
	// More than the burst can ever hold: RESOURCE_EXHAUSTED without RetryInfo (not retried).
	e.clock.Advance(time.Minute)
	wantGRPCRefusal(t, e.sendDone(grpcRequest(t, acmeKey, 11, false)), grpcwire.ResourceExhausted, admission.ReasonExceedsBurstEvents, "")
	// An unknown key, and a body that is not one message.
	wantGRPCRefusal(t, e.sendDone(grpcRequest(t, "ik_unknown_0123456789abcdef0123456789", 1, false)), grpcwire.Unauthenticated, filter.ReasonUnknownAPIKey, "")
	r := grpcRequest(t, betaKey, 1, false)
	r.Body, r.ContentLength = http.NoBody, 0
	wantGRPCRefusal(t, e.sendDone(r), grpcwire.InvalidArgument, filter.ReasonMalformed, "")
}

// A full edge (here: the tenant's share of it) answers gRPC callers UNAVAILABLE with the Retry-After as RetryInfo.
func TestGRPCCallsToAFullEdgeGetUnavailable(t *testing.T) {
	e := newEnv(t, testConfig())                                                                              // 10,000 bytes in flight
	if res := e.send(request("/v1/events", betaKey, "application/x-ndjson", events(180))); res.Local != nil { // 4,680 bytes held
		t.Fatalf("a request holding the edge was refused: %s", res.Local.Body)
	}
	wantGRPCRefusal(t, e.sendDone(grpcRequest(t, betaKey, 100, false)), grpcwire.Unavailable, filter.ReasonEdgeTenantShareFull, "5")
}

// A grpc-encoding the edge does not read passes uncounted (the normalizer answers
// UNIMPLEMENTED), as does a gRPC call with a Content-Encoding.
func TestGRPCCallsTheEdgeCannotCountPassUncounted(t *testing.T) {
	e := newEnv(t, testConfig())
	for name, set := range map[string][2]string{"grpc-encoding snappy": {"Grpc-Encoding", "snappy"}, "content-encoding gzip": {"Content-Encoding", "gzip"}} {
		r := grpcRequest(t, betaKey, 2, false)
		r.Header.Set(set[0], set[1])
		res := e.sendDone(r)
		if res.Local != nil || res.Header.Get(filterconfig.HeaderEventCount) != "" {
			t.Errorf("%s: reply %v, count %q; want it forwarded uncounted", name, res.Local, res.Header.Get(filterconfig.HeaderEventCount))
		}
	}
}
