package devstack_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/devstack"
	"github.com/ingestdev/ingest/internal/testkit"
)

// sdkOptions are what an application sets to send OTLP/gRPC to the edge (README, "Send data
// with an OpenTelemetry SDK"): the edge's host:port, TLS trusting its CA, the API key as the
// authorization metadata, gzip.
type sdkOptions struct {
	endpoint string
	creds    credentials.TransportCredentials
	headers  map[string]string
}

func sdkFor(t *testing.T, info devstack.Info) sdkOptions {
	t.Helper()
	pool, err := info.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	return sdkOptions{
		endpoint: strings.TrimPrefix(info.EdgeURL, "https://"),
		creds:    credentials.NewClientTLSFromCert(pool, ""),
		headers:  map[string]string{"authorization": "Bearer " + info.DemoKey},
	}
}

func (o sdkOptions) traces(t *testing.T, retry bool) *otlptrace.Exporter {
	t.Helper()
	exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(o.endpoint), otlptracegrpc.WithTLSCredentials(o.creds),
		otlptracegrpc.WithHeaders(o.headers), otlptracegrpc.WithCompressor("gzip"),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: retry, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 20 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// spans are n ended spans named name-<i>, as a TracerProvider hands them to its exporter.
func spans(name string, n int) []sdktrace.ReadOnlySpan {
	stubs := make(tracetest.SpanStubs, n)
	now := time.Now()
	for i := range stubs {
		stubs[i] = tracetest.SpanStub{
			Name: fmt.Sprintf("%s-%d", name, i),
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1, 2, 3, byte(i + 1)}, SpanID: trace.SpanID{4, 5, byte(i + 1)}, TraceFlags: trace.FlagsSampled}),
			StartTime: now.Add(-time.Second), EndTime: now,
			Attributes: []attribute.KeyValue{attribute.Int("i", i)},
			Resource:   resource.NewSchemaless(attribute.String("service.name", "grpc-test")),
		}
	}
	return stubs.Snapshots()
}

// waitForRows polls ClickHouse until query (of the demo tenant's rows) returns want names.
func waitForRows(t *testing.T, info devstack.Info, what, query string, want int) {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{info.ClickHouseAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	names := func() ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rows, err := conn.Query(ctx, query)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, rows.Err()
	}
	var got []string
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, lastErr = names()
		if lastErr == nil && len(got) == want {
			return
		}
	}
	t.Fatalf("%s: %d rows (err %v) after 30s, want %d: %q", what, len(got), lastErr, want, got)
}

// TestOTelSDKsSendOverGRPCThroughTheEdge sends logs, metrics and traces with the official
// OpenTelemetry Go SDK's gRPC exporters (TLS, the API key as metadata, gzip) through the edge
// to ClickHouse; checks partial success; then gives the tenant a quota and checks that an
// exporter without retries gets RESOURCE_EXHAUSTED with RetryInfo, and that one with the
// SDK's retries gets through after the delay.
func TestOTelSDKsSendOverGRPCThroughTheEdge(t *testing.T) {
	requireClickHouse(t)
	var logs testkit.SyncBuffer
	s := startStack(t, freeConfig(t.TempDir()), &logs)
	info := s.Info()
	o := sdkFor(t, info)
	ctx := t.Context()
	db, tenant := info.Database, info.DemoTenant

	// Traces.
	if err := o.traces(t, false).ExportSpans(ctx, spans("grpc-span", 3)); err != nil {
		t.Fatalf("traces: %v", err)
	}
	waitForRows(t, info, "spans", fmt.Sprintf("SELECT name FROM %s.spans FINAL WHERE tenant = '%s' AND name LIKE 'grpc-span-%%'", db, tenant), 3)

	// Metrics: a gauge of two points.
	mexp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(o.endpoint), otlpmetricgrpc.WithTLSCredentials(o.creds),
		otlpmetricgrpc.WithHeaders(o.headers), otlpmetricgrpc.WithCompressor("gzip"), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mexp.Shutdown(context.Background()) })
	now := time.Now()
	rm := &metricdata.ResourceMetrics{
		Resource: resource.NewSchemaless(attribute.String("service.name", "grpc-test")),
		ScopeMetrics: []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{{
			Name: "grpc.queue.depth", Unit: "{items}",
			Data: metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{
				{Attributes: attribute.NewSet(attribute.String("queue", "a")), Time: now, Value: 3},
				{Attributes: attribute.NewSet(attribute.String("queue", "b")), Time: now, Value: 4},
			}},
		}}}},
	}
	if err := mexp.Export(ctx, rm); err != nil {
		t.Fatalf("metrics: %v", err)
	}
	waitForRows(t, info, "metrics", fmt.Sprintf("SELECT name FROM %s.metrics FINAL WHERE tenant = '%s' AND name = 'grpc.queue.depth'", db, tenant), 2)

	// Logs, one of them without any time: a partial success, which the SDK reports to the
	// global error handler while Export succeeds.
	var handled errorsSeen
	otel.SetErrorHandler(&handled)
	lexp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(o.endpoint), otlploggrpc.WithTLSCredentials(o.creds),
		otlploggrpc.WithHeaders(o.headers), otlploggrpc.WithCompressor("gzip"), otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lexp.Shutdown(context.Background()) })
	var good, bad sdklog.Record
	good.SetTimestamp(now)
	good.SetBody(attribute.StringValue("grpc-log-ok"))
	good.SetSeverity(otellog.SeverityInfo)
	bad.SetBody(attribute.StringValue("grpc-log-without-time"))
	// (The logs exporter returns the partial success as its error; the others hand it to the
	// global error handler.)
	reported := ""
	if err := lexp.Export(ctx, []sdklog.Record{good, bad}); err != nil {
		reported = err.Error()
	}
	reported += handled.String()
	if !strings.Contains(reported, "partial success") || !strings.Contains(reported, "item 1: err-ingest-missing-field") {
		t.Errorf("the SDK reported %q for the partial success, want the rejected record and its reason", reported)
	}
	waitForRows(t, info, "logs", fmt.Sprintf("SELECT body FROM %s.logs FINAL WHERE tenant = '%s' AND body LIKE 'grpc-log-%%'", db, tenant), 1)

	// A quota of 5 events/s (burst 5): 5 spans pass, the next 5 are over the rate.
	cp, err := client.New(info.ControlPlane, info.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := cp.GetTenant(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.SetQuotas(ctx, tenant, tn.Revision, registry.Quotas{EventsPerSecond: 5, BurstEvents: 5}); err != nil {
		t.Fatal(err)
	}
	noRetry := o.traces(t, false)
	var refusal *status.Status
	testkit.Eventually(t, 10*time.Second, "the quota applies at the edge", func() bool {
		err := noRetry.ExportSpans(ctx, spans("grpc-quota", 5))
		refusal, _ = status.FromError(errors.Unwrap(err))
		if refusal == nil {
			refusal, _ = status.FromError(err)
		}
		return err != nil && refusal.Code() == codes.ResourceExhausted
	})
	var delay time.Duration
	for _, d := range refusal.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.RetryDelay.AsDuration()
		}
	}
	if delay < time.Second || !strings.Contains(refusal.Message(), "err-ingest-tenant-rate-limited-events") {
		t.Fatalf("refusal %q with RetryInfo %v, want the rate-limit reason and a delay of at least 1 s", refusal.Message(), delay)
	}
	start := time.Now()
	if err := o.traces(t, true).ExportSpans(ctx, spans("grpc-retried", 5)); err != nil {
		t.Fatalf("an exporter with retries did not get through after the RetryInfo delay: %v", err)
	}
	t.Logf("over quota: RESOURCE_EXHAUSTED with RetryInfo %v; the retrying exporter got through after %v", delay, time.Since(start).Round(time.Millisecond))
	waitForRows(t, info, "retried spans", fmt.Sprintf("SELECT name FROM %s.spans FINAL WHERE tenant = '%s' AND name LIKE 'grpc-retried-%%'", db, tenant), 5)
}

// errorsSeen is an otel.ErrorHandler that keeps what it is given.
type errorsSeen struct {
	mu   sync.Mutex
	errs []string
}

func (e *errorsSeen) Handle(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err.Error())
}

func (e *errorsSeen) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.errs, "; ")
}
