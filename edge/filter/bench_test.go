package filter_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

// BenchmarkAdmitThroughHost measures one admitted request (authentication, stripping, counting
// 100 NDJSON events, admission) through the Go edge host, as the Go edge runs it. Tenant beta
// has no quota; in "ndjson-quota" it has one that never runs out, so that the token buckets
// are asked at the headers (Peek) and charged with the body (Admit).
func BenchmarkAdmitThroughHost(b *testing.B) {
	for _, tc := range []struct {
		name     string
		body     func(testing.TB) []byte
		encoding string
		quota    bool
	}{
		{"ndjson", func(testing.TB) []byte { return events(100) }, "", false},
		{"ndjson-quota", func(testing.TB) []byte { return events(100) }, "", true},
		{"ndjson-gzip", func(t testing.TB) []byte { return gzippedTB(t, events(100)) }, "gzip", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := testConfig()
			if tc.quota {
				cfg.Tenants[1].Quotas = filterconfig.Quotas{EventsPerSecond: 1e12, BytesPerSecond: 1e15}
			}
			e := newEnv(b, cfg)
			body := tc.body(b)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "https://edge.example/v1/events", bytes.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+betaKey)
				r.Header.Set("Content-Type", "application/x-ndjson")
				if tc.encoding != "" {
					r.Header.Set("Content-Encoding", tc.encoding)
				}
				res, err := e.host.Decode(context.Background(), e.filter, r, 0)
				if err != nil || res.Local != nil {
					b.Fatalf("Decode: %v %+v", err, res)
				}
				res.Finish(200, nil)
			}
		})
	}
}

// FuzzFilterNeverPanics sends arbitrary bodies, content types and encodings through the filter:
// every request is admitted or refused with a 4xx or 503, never a panic's 500.
func FuzzFilterNeverPanics(f *testing.F) {
	f.Add([]byte(`{"resourceLogs":[]}`), uint8(1), false)
	f.Add([]byte("\x0a\x02\x12\x00"), uint8(0), false)
	f.Add(events(3), uint8(2), true)
	paths := []struct{ path, contentType string }{
		{"/v1/logs", "application/x-protobuf"}, {"/v1/logs", "application/json"}, {"/v1/events", "application/x-ndjson"},
		{"/v1/metrics", "application/json"}, {"/v1/traces", "application/x-protobuf"}, {"/other", "text/plain"},
	}
	e := newEnv(f, testConfig())
	f.Fuzz(func(t *testing.T, body []byte, which uint8, gz bool) {
		p := paths[int(which)%len(paths)]
		r := request(p.path, betaKey, p.contentType, body)
		if gz {
			r.Header.Set("Content-Encoding", "gzip")
		}
		res, err := e.host.Decode(context.Background(), e.filter, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Finish(200, nil)
		if res.Local != nil && (res.Local.Status >= 500 && res.Local.Status != 503) {
			t.Fatalf("reply %d %s (%s)", res.Local.Status, res.Local.Body, res.Local.Details)
		}
	})
}
