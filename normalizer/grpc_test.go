package normalizer

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ingestdev/ingest/internal/grpcwire"
	"github.com/ingestdev/ingest/internal/shed"
)

// grpcServer serves ts over h2c, as the normalizer's listener does, and returns a gRPC client
// connection to it.
func grpcServer(t *testing.T, ts *testServer) *grpc.ClientConn {
	t.Helper()
	srv := httptest.NewUnstartedServer(ts.Handler())
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	cc, err := grpc.NewClient("passthrough:///"+srv.Listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// asTenant is a call context with the tenant header the edge sets.
func asTenant(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, strings.ToLower(HeaderTenant), testTenant)
}

// sunk is what a sink was given: its batches' encoded records (compared as bytes: a NaN
// value is not equal to itself).
func sunk(ts *testServer) [][]byte {
	var out [][]byte
	for _, b := range ts.sink.Batches() {
		out = append(out, b.Data)
	}
	return out
}

// viaHTTP returns what the same request gives the sink over OTLP/HTTP protobuf.
func viaHTTP(t *testing.T, path string, body []byte) [][]byte {
	t.Helper()
	ts := newTestServer(t, DefaultConfig())
	if w := ts.do(t, req{path: path, ctype: "application/x-protobuf", tenant: testTenant, body: body}); w.Code != 200 {
		t.Fatalf("%s over HTTP: %d %s", path, w.Code, w.Body)
	}
	return sunk(ts)
}

// Every signal over gRPC, plain and gzip, gives exactly the records of the same request over
// OTLP/HTTP protobuf.
func TestGRPCExportGivesTheRecordsOfHTTP(t *testing.T) {
	logs, metrics, traces := otlpFixtureLogs(), otlpFixtureMetrics(), otlpFixtureTraces()
	logsBody, _ := plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
	metricsBody, _ := pmetricotlp.NewExportRequestFromMetrics(metrics).MarshalProto()
	tracesBody, _ := ptraceotlp.NewExportRequestFromTraces(traces).MarshalProto()
	for _, compress := range []bool{false, true} {
		var opts []grpc.CallOption
		if compress {
			opts = append(opts, grpc.UseCompressor(gzip.Name))
		}
		for _, tc := range []struct {
			name, httpPath string
			body           []byte
			export         func(*grpc.ClientConn) error
		}{
			{"logs", "/v1/logs", logsBody, func(cc *grpc.ClientConn) error {
				_, err := plogotlp.NewGRPCClient(cc).Export(asTenant(t), plogotlp.NewExportRequestFromLogs(logs), opts...)
				return err
			}},
			{"metrics", "/v1/metrics", metricsBody, func(cc *grpc.ClientConn) error {
				_, err := pmetricotlp.NewGRPCClient(cc).Export(asTenant(t), pmetricotlp.NewExportRequestFromMetrics(metrics), opts...)
				return err
			}},
			{"traces", "/v1/traces", tracesBody, func(cc *grpc.ClientConn) error {
				_, err := ptraceotlp.NewGRPCClient(cc).Export(asTenant(t), ptraceotlp.NewExportRequestFromTraces(traces), opts...)
				return err
			}},
		} {
			ts := newTestServer(t, DefaultConfig())
			if err := tc.export(grpcServer(t, ts)); err != nil {
				t.Fatalf("%s (gzip %v): Export: %v", tc.name, compress, err)
			}
			if got, want := sunk(ts), viaHTTP(t, tc.httpPath, tc.body); !reflect.DeepEqual(got, want) || len(got) == 0 {
				t.Fatalf("%s (gzip %v): the batches over gRPC differ from HTTP's:\n%q\n%q", tc.name, compress, got, want)
			}
			if n := testutil.ToFloat64(ts.metrics.requests.WithLabelValues(tc.name, "200")); n != 1 {
				t.Errorf("%s: ingest_normalizer_requests_total{code=200} = %v, want 1", tc.name, n)
			}
		}
	}
}

// Rejected events are a partial success, as the OTLP specification asks of gRPC too.
func TestGRPCExportAnswersPartialSuccess(t *testing.T) {
	ts := newTestServer(t, DefaultConfig())
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().SetTimestamp(otlpTime(0))
	lrs.AppendEmpty() // no time: rejected
	resp, err := plogotlp.NewGRPCClient(grpcServer(t, ts)).Export(asTenant(t), plogotlp.NewExportRequestFromLogs(ld))
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	ps := resp.PartialSuccess()
	if ps.RejectedLogRecords() != 1 || !strings.Contains(ps.ErrorMessage(), "item 1: "+string(ReasonMissingField)) {
		t.Fatalf("partial success = %d %q, want 1 rejected naming item 1 and %s", ps.RejectedLogRecords(), ps.ErrorMessage(), ReasonMissingField)
	}
	if recs, _ := ts.sink.Records(); len(recs) != 1 {
		t.Fatalf("%d records stored, want the 1 accepted", len(recs))
	}
}

// A full sink is RESOURCE_EXHAUSTED with the Retry-After as RetryInfo; a down one UNAVAILABLE.
func TestGRPCExportRefusalsCarryRetryInfo(t *testing.T) {
	ts := newTestServer(t, DefaultConfig())
	client := plogotlp.NewGRPCClient(grpcServer(t, ts))
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetTimestamp(otlpTime(0))
	for _, tc := range []struct {
		err   error
		code  codes.Code
		delay time.Duration
	}{
		{shed.Full(string(ReasonSinkFull), 3*time.Second, nil), codes.ResourceExhausted, 3 * time.Second},
		{shed.Unavailable(string(ReasonSinkUnavailable), 1500*time.Millisecond, nil), codes.Unavailable, 2 * time.Second},
	} {
		ts.sink.SetErr(tc.err)
		_, err := client.Export(asTenant(t), plogotlp.NewExportRequestFromLogs(ld))
		st := status.Convert(err)
		if st.Code() != tc.code || !strings.Contains(st.Message(), string(tc.err.(*shed.Error).Reason)) {
			t.Fatalf("Export error = %v, want %s naming the reason", err, tc.code)
		}
		var delay time.Duration
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				delay = ri.RetryDelay.AsDuration()
			}
		}
		if delay != tc.delay {
			t.Errorf("%s: RetryInfo delay = %v, want %v (the Retry-After, in whole seconds)", tc.code, delay, tc.delay)
		}
	}
}

// Calls the normalizer cannot read get the gRPC code of the HTTP refusal, trailers-only.
func TestGRPCCallsItCannotRead(t *testing.T) {
	ts := newTestServer(t, DefaultConfig())
	msg, _ := plogotlp.NewExportRequestFromLogs(otlpFixtureLogs()).MarshalProto()
	framed := grpcwire.AppendMessage(nil, msg)
	compressed := append([]byte{}, framed...)
	compressed[0] = 1
	for name, tc := range map[string]struct {
		ctype, genc string
		body        []byte
		code        int
		reason      Reason
	}{
		"two messages":            {"application/grpc", "", append(append([]byte{}, framed...), framed...), grpcwire.InvalidArgument, ReasonMalformed},
		"compressed, no encoding": {"application/grpc", "", compressed, grpcwire.InvalidArgument, ReasonMalformed},
		"not gzip":                {"application/grpc", "gzip", compressed, grpcwire.InvalidArgument, ReasonMalformed},
		"snappy":                  {"application/grpc", "snappy", framed, grpcwire.Unimplemented, ReasonUnsupportedEncoding},
		"json codec":              {"application/grpc+json", "", framed, grpcwire.Unimplemented, ReasonUnsupportedMediaType},
	} {
		hr := httptest.NewRequest(http.MethodPost, grpcLogsPath, bytes.NewReader(tc.body))
		hr.Header.Set("Content-Type", tc.ctype)
		hr.Header.Set(HeaderTenant, testTenant)
		if tc.genc != "" {
			hr.Header.Set("Grpc-Encoding", tc.genc)
		}
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, hr)
		b, _ := io.ReadAll(w.Body)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/grpc" || w.Header().Get("Grpc-Status") != strconv.Itoa(tc.code) ||
			!strings.HasPrefix(w.Header().Get("Grpc-Message"), string(tc.reason)+":") || len(b) != 0 {
			t.Errorf("%s: %d %v %q; want a trailers-only grpc-status %d naming %s", name, w.Code, w.Header(), b, tc.code, tc.reason)
		}
	}
	// A gRPC call to a method the normalizer does not serve: NOT_FOUND, in gRPC.
	hr := httptest.NewRequest(http.MethodPost, "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export", bytes.NewReader(framed))
	hr.Header.Set("Content-Type", "application/grpc")
	w := httptest.NewRecorder()
	ts.Handler().ServeHTTP(w, hr)
	if w.Header().Get("Grpc-Status") != strconv.Itoa(grpcwire.NotFound) {
		t.Errorf("unknown method: %d %v, want grpc-status %d", w.Code, w.Header(), grpcwire.NotFound)
	}
}
