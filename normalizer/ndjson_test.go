package normalizer

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ingestdev/ingest/record"
)

// decodeNDJSONString decodes body with cfg's limits (zero fields: defaults), received at testNow
// by testTenant, and fails the test if the whole request is refused.
func decodeNDJSONString(t *testing.T, cfg Config, body string) *emitter {
	t.Helper()
	e := newTestEmitter(cfg)
	var p fastjson.Parser
	if err := decodeNDJSON(&p, []byte(body), e); err != nil {
		t.Fatalf("decodeNDJSON refused the request: %v", err)
	}
	return e
}

// decodeOneNDJSON decodes a body of valid events and returns its records, failing on any
// rejection.
func decodeOneNDJSON(t *testing.T, body string) []record.Record {
	t.Helper()
	e := decodeNDJSONString(t, Config{}, body)
	if e.rejected() != 0 {
		t.Fatalf("unexpected rejections: %+v", e.rejections)
	}
	return decodedRecords(t, e)
}

// byName indexes records by name, or by body for unnamed logs.
func byName(rs []record.Record) map[string]record.Record {
	m := make(map[string]record.Record, len(rs))
	for _, r := range rs {
		key := r.Name
		if key == "" {
			key = r.Body
		}
		m[key] = r
	}
	return m
}

func TestNDJSONGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "ndjson", "*.ndjson"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata/ndjson: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".ndjson")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			e := decodeNDJSONString(t, Config{}, string(body))
			if e.rejected() != 0 {
				t.Fatalf("fixture lines were rejected: %+v", e.rejections)
			}
			if want := countNonBlankLines(body); e.accepted() != want {
				t.Fatalf("accepted %d events, want %d", e.accepted(), want)
			}
			checkGolden(t, "ndjson_"+name, e)
		})
	}
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ndjson", name+".ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNDJSONConvertsMetricUnits(t *testing.T) {
	e := decodeNDJSONString(t, Config{}, readFixture(t, "metrics"))
	if e.rejected() != 0 {
		t.Fatalf("unexpected rejections: %+v", e.rejections)
	}
	got := byName(decodedRecords(t, e))
	for _, tc := range []struct {
		name  string
		value float64
		unit  string
	}{
		{"http.server.duration", 2.5e8, "ns"}, // 250 ms
		{"job.runtime", 1.5e9, "ns"},          // 1.5 s
		{"gc.pause", 250e3, "ns"},             // 250 us
		{"uptime", 7.2e12, "ns"},              // 2 h
		{"heap.used", 512 * 1024, "By"},       // 512 KiBy
		{"disk.free", 2.5e6, "By"},            // 2.5 MB
		{"link.bits", 8, "By"},                // 64 bit
		{"link.speed", 1.25e8, "By/s"},        // 1 Gbit/s
		{"cpu.utilization", 0.5, "1"},         // 50 %
		{"cache.hit_ratio", 0.75, "1"},
		{"net.throughput", 3 << 20, "By/s"},       // 3 MiBy/s
		{"net.throughput.fast", 1024e3, "By/s"},   // 1 KiBy/ms
		{"http.requests", 1234, "{requests}"},     // annotation: dimensionless
		{"http.request.rate", 12, "By/{request}"}, // size per annotation
		{"queue.delta", -3, ""},
		{"temperature", 21.5, "Cel"},    // unknown: passes through
		{"race.distance", 7, "furlong"}, // unknown: passes through
	} {
		r, ok := got[tc.name]
		if !ok {
			t.Errorf("%s: no record", tc.name)
			continue
		}
		if math.Abs(r.Value-tc.value) > 1e-9*math.Abs(tc.value) || r.Unit != tc.unit {
			t.Errorf("%s: got %v %q, want %v %q", tc.name, r.Value, r.Unit, tc.value, tc.unit)
		}
	}
	if e.unknownUnits != 2 {
		t.Errorf("unknownUnits = %d, want 2 (Cel, furlong)", e.unknownUnits)
	}
}

func TestNDJSONMetricKinds(t *testing.T) {
	got := byName(decodeOneNDJSON(t, readFixture(t, "metrics")))
	for _, tc := range []struct {
		name        string
		kind        record.MetricKind
		temporality record.Temporality
		monotonic   bool
	}{
		{"http.server.duration", record.MetricGauge, record.TemporalityUnspecified, false}, // default
		{"temperature", record.MetricGauge, record.TemporalityUnspecified, false},
		{"queue.delta", record.MetricSum, record.TemporalityCumulative, false},
		{"http.requests", record.MetricSum, record.TemporalityCumulative, true},
	} {
		r := got[tc.name]
		if r.MetricKind != tc.kind || r.Temporality != tc.temporality || r.Monotonic != tc.monotonic {
			t.Errorf("%s: got kind %d temporality %d monotonic %v, want %d %d %v",
				tc.name, r.MetricKind, r.Temporality, r.Monotonic, tc.kind, tc.temporality, tc.monotonic)
		}
	}
}

func TestNDJSONTimestamps(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	got := byName(decodeOneNDJSON(t, readFixture(t, "timestamps")))
	for body, want := range map[string]int64{
		"rfc3339 utc":                at("2026-11-21T11:00:00Z"),
		"rfc3339 +01:30":             at("2026-11-21T11:00:00Z"),
		"rfc3339 -06:00":             at("2026-11-21T11:00:00Z"),
		"rfc3339 ms fraction":        at("2026-11-21T11:00:00.123Z"),
		"rfc3339 ns fraction":        at("2026-11-21T11:00:00.123456789Z"),
		"rfc3339 10-digit fraction":  at("2026-11-21T11:00:00.123456789Z"),
		"seconds":                    1795258800e9,
		"seconds with ns fraction":   1795258800_123456789,
		"seconds with fraction":      1795258800_500000000,
		"milliseconds":               1795258800_123000000,
		"milliseconds with fraction": 1795258800_123456000,
		"microseconds":               1795258800_123456000,
		"nanoseconds":                1795258800_123456789,
		"seconds in exponent form":   1795258800e9,
	} {
		r, ok := got[body]
		if !ok {
			t.Errorf("%q: no record", body)
			continue
		}
		if r.Timestamp != want {
			t.Errorf("%q: timestamp %s (%d), want %s (%d)", body,
				time.Unix(0, r.Timestamp).UTC().Format(time.RFC3339Nano), r.Timestamp,
				time.Unix(0, want).UTC().Format(time.RFC3339Nano), want)
		}
	}
}

func TestNDJSONSpans(t *testing.T) {
	got := byName(decodeOneNDJSON(t, readFixture(t, "spans")))
	for name, want := range map[string]int64{
		"GET /checkout": 150e6,
		"SELECT orders": 1.5e9,
		"batch":         120e9,
		"cache.get":     250e3,
		"numeric":       1200,
		"with space":    7200e9,
		"no duration":   0,
		"micro sign":    500,
	} {
		r := got[name]
		if r.Signal != record.SignalSpan || !r.HasTrace || r.Duration != want {
			t.Errorf("%s: signal %v has trace %v duration %d, want span with trace and %d", name, r.Signal, r.HasTrace, r.Duration, want)
		}
	}
	r := got["SELECT orders"]
	if fmt.Sprintf("%x/%x/%x", r.TraceID, r.SpanID, r.ParentSpanID) != "4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b8/00f067aa0ba902b7" {
		t.Errorf("ids: got %x/%x/%x", r.TraceID, r.SpanID, r.ParentSpanID)
	}
}

func TestNDJSONLogs(t *testing.T) {
	rs := decodeOneNDJSON(t, readFixture(t, "logs"))
	type log struct {
		severity uint8
		text     string
		body     string
		hasTrace bool
	}
	want := []log{
		{9, "INFO", "user logged in", false},
		{13, "warn", `{"msg":"disk almost full","free_pct":3.5}`, false},
		{17, "", "42.5", false},
		{19, "Error3", "upper-case trace id", true},
		{13, "WARNING", `["a",1,true,null]`, true},
		{21, "fatal", "true", false},
		{1, "trace", "", false},
		{5, "DEBUG", "uuid event id", false},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d records, want %d", len(rs), len(want))
	}
	for i, w := range want {
		r := rs[i]
		if g := (log{r.SeverityNumber, r.SeverityText, r.Body, r.HasTrace}); g != w {
			t.Errorf("line %d: got %+v, want %+v", i+1, g, w)
		}
	}
	if want := time.Date(2026, 11, 21, 11, 59, 30, 0, time.UTC).UnixNano(); rs[3].Name != "login.failed" || rs[3].Timestamp != want {
		t.Errorf("line 4: name %q timestamp %d, want login.failed at %d", rs[3].Name, rs[3].Timestamp, want)
	}
	if got := fmt.Sprintf("%x", rs[3].TraceID); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("line 4: upper-case trace id decoded as %s", got)
	}
	if rs[4].SpanID != [8]byte{} {
		t.Errorf("line 5: log with a trace id but no span id has span id %x", rs[4].SpanID)
	}
	if want := record.IDFromString(testTenant, "evt-0001"); rs[5].EventID != want {
		t.Errorf("line 6: event id %s, want IDFromString(tenant, evt-0001) = %s", rs[5].EventID, want)
	}
	if got := rs[6].EventID.String(); got != "0123456789abcdef0123456789abcdef" {
		t.Errorf("line 7: hex event id taken as %s", got)
	}
	if got := rs[7].EventID.String(); got != "0123456789abcdef0123456789abcdef" {
		t.Errorf("line 8: uuid event id taken as %s", got)
	}
}

func TestNDJSONRendersAttributeValues(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`"text"`, "text"},
		{`"esc\"aped\n\u00e9"`, "esc\"aped\né"},
		{`""`, ""},
		{`200`, "200"},
		{`-17`, "-17"},
		{`0`, "0"},
		{`-0`, "0"},
		{`12345678901234567890123`, "12345678901234567890123"}, // integers as written, any size
		{`1.0`, "1"},
		{`-2.000`, "-2"},
		{`1e3`, "1000"},
		{`1E+3`, "1000"},
		{`2.50`, "2.5"},
		{`0.1`, "0.1"},
		{`1.5e-7`, "1.5e-07"},
		{`1e300`, "1e+300"},
		{`9007199254740993.0`, "9.007199254740992e+15"}, // whole but beyond 2^53: 'g' format
		{`1e400`, "1e400"}, // beyond float64: as written
		{`true`, "true"},
		{`false`, "false"},
		{`null`, ""},
		{`[1, "a", true, null, {"b": 2.50}]`, `[1,"a",true,null,{"b":2.50}]`},  // compact, numbers as written
		{`{"z": 1, "a": {"\u00e9": "x\"y"}}`, `{"z":1,"a":{"\u00e9":"x\"y"}}`}, // keys in order, strings as written
		{`{}`, `{}`},
		{`[]`, `[]`},
	} {
		line := `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"k":` + tc.json + `}}`
		rs := decodeOneNDJSON(t, line)
		if got := rs[0].Attributes; len(got) != 1 || got[0].Key != "k" || got[0].Value != tc.want {
			t.Errorf("%s: got %q, want %q", tc.json, got, tc.want)
		}
	}
}

func TestNDJSONKeepsAttributeOrderAndDuplicates(t *testing.T) {
	rs := decodeOneNDJSON(t, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"z":"1","a":"2","m":"3","a":"4"},"resource":{"service.name":"s","k\u00e9y":"v"}}`)
	got := fmt.Sprint(rs[0].Attributes, rs[0].Resource)
	if want := "[{z 1} {a 2} {m 3} {a 4}] [{service.name s} {kéy v}]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestNDJSONTreatsNullAsAbsent(t *testing.T) {
	rs := decodeOneNDJSON(t, `{"type":"log","ts":"2026-11-21T11:59:00Z","name":null,"body":null,"severity":null,"trace_id":null,"attributes":null,"event_id":null}`)
	r := rs[0]
	if r.Name != "" || r.Body != "" || r.SeverityNumber != 0 || r.HasTrace || len(r.Attributes) != 0 {
		t.Errorf("nulls were not treated as absent: %+v", r)
	}
}

func TestNDJSONSeverities(t *testing.T) {
	for text, want := range map[string]uint8{
		"TRACE": 1, "trace2": 2, "Trace4": 4, "DEBUG": 5, "debug3": 7, "INFO": 9, "info": 9, "Info2": 10,
		"WARN": 13, "warn": 13, "Warning": 13, "WARN4": 16, "ERROR": 17, "error2": 18, "FATAL": 21, "fatal4": 24,
	} {
		rs := decodeOneNDJSON(t, `{"type":"log","ts":"2026-11-21T11:59:00Z","severity":"`+text+`"}`)
		if rs[0].SeverityNumber != want || rs[0].SeverityText != text {
			t.Errorf("%q: got %d %q, want %d %q", text, rs[0].SeverityNumber, rs[0].SeverityText, want, text)
		}
	}
	for _, bad := range []string{`"LOUD"`, `"info5"`, `"warning2"`, `"info1"`, `"INFOO"`, `0`, `25`, `9.5`, `-1`, `true`} {
		e := decodeNDJSONString(t, Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","severity":`+bad+`}`)
		if e.accepted() != 0 || e.rejected() != 1 || e.rejections[0].Reason != ReasonInvalidField {
			t.Errorf("severity %s: accepted %d, rejections %+v; want one %s", bad, e.accepted(), e.rejections, ReasonInvalidField)
		}
	}
}

func TestNDJSONUnknownTopLevelFieldsAreIgnored(t *testing.T) {
	rs := decodeOneNDJSON(t, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":1,"schema_version":2,"labels":{"a":[1,{"b":null}]},"Type":"nonsense"}`)
	if rs[0].Name != "m" || rs[0].Value != 1 {
		t.Errorf("got %+v", rs[0])
	}
}

// Lines around the one under test in rejection tests.
const (
	validLogLine    = `{"type":"log","ts":"2026-11-21T11:59:00Z","severity":"info","body":"ok before"}`
	validMetricLine = `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"ok.after","value":1,"unit":"ms"}`
)

// TestNDJSONRejections checks each per-event rejection reachable from NDJSON: the reason, the
// line number and event index of the bad line, a message naming what to fix, and that the valid
// lines around it are still accepted.
func TestNDJSONRejections(t *testing.T) {
	const span = `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"`
	for _, tc := range []struct {
		name   string
		cfg    Config
		line   string
		reason Reason
		msg    string // a substring of the message
	}{
		// Invalid JSON.
		{"unterminated object", Config{}, `{"type":"log"`, ReasonInvalidJSON, "not valid JSON"},
		{"garbage", Config{}, `hello`, ReasonInvalidJSON, "not valid JSON"},
		{"trailing data", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z"} {}`, ReasonInvalidJSON, "not valid JSON"},
		{"array line", Config{}, `[{"type":"log","ts":"2026-11-21T11:59:00Z"}]`, ReasonInvalidJSON, "JSON array, not an object"},
		{"string line", Config{}, `"log"`, ReasonInvalidJSON, "JSON string, not an object"},
		{"NaN value", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":NaN}`, ReasonInvalidJSON, `"value"`},
		{"leading zero", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":01}`, ReasonInvalidJSON, `"value"`},
		{"infinity ts", Config{}, `{"type":"log","ts":inf,"ts_unit":"s"}`, ReasonInvalidJSON, `"ts"`},
		{"bad attribute number", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"n":1.}}`, ReasonInvalidJSON, `"attributes" key "n"`},
		{"bad nested attribute", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","resource":{"n":[1,01]}}`, ReasonInvalidJSON, `"resource" key "n"`},
		{"control character in nested body", Config{}, "{\"type\":\"log\",\"ts\":\"2026-11-21T11:59:00Z\",\"body\":{\"a\":\"x\x01\"}}", ReasonInvalidJSON, `"body"`},

		// Missing fields.
		{"no type", Config{}, `{"body":"x"}`, ReasonMissingField, `"type"`},
		{"empty type", Config{}, `{"type":""}`, ReasonMissingField, `"type"`},
		{"null type", Config{}, `{"type":null}`, ReasonMissingField, `"type"`},
		{"metric without name", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","value":1}`, ReasonMissingField, `"name"`},
		{"metric with empty name", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"","value":1}`, ReasonMissingField, `"name"`},
		{"metric without value", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m"}`, ReasonMissingField, `"value"`},
		{"span without name", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z",` + span + `}`, ReasonMissingField, `"name"`},
		{"span without trace id", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","span_id":"00f067aa0ba902b7"}`, ReasonMissingField, `"trace_id"`},
		{"span without span id", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`, ReasonMissingField, `"span_id"`},
		{"log with span id only", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","span_id":"00f067aa0ba902b7"}`, ReasonMissingField, `"trace_id"`},
		{"log without ts", Config{}, `{"type":"log","body":"x"}`, ReasonMissingField, `missing field "ts"`},
		{"metric with null ts", Config{}, `{"type":"metric","ts":null,"name":"m","value":1}`, ReasonMissingField, `missing field "ts"`},
		{"span with ts_unit but no ts", Config{}, `{"type":"span","ts_unit":"s",` + span + `,"name":"s"}`, ReasonMissingField, `missing field "ts"`},
		{"event id without ts", Config{}, `{"type":"log","event_id":"e-1"}`, ReasonMissingField, `retry`},

		// Invalid fields.
		{"unknown type", Config{}, `{"type":"trace"}`, ReasonInvalidField, `"type"`},
		{"type not a string", Config{}, `{"type":1}`, ReasonInvalidField, `field "type" is a JSON number; send a string`},
		{"numeric ts without unit", Config{}, `{"type":"log","ts":1795258800}`, ReasonInvalidField, `add "ts_unit"`},
		{"bad ts unit", Config{}, `{"type":"log","ts":1795258800,"ts_unit":"h"}`, ReasonInvalidField, `"ts_unit"`},
		{"ts unit not a string", Config{}, `{"type":"log","ts":1795258800,"ts_unit":1}`, ReasonInvalidField, `"ts_unit"`},
		{"fractional ns", Config{}, `{"type":"log","ts":1795258800000000000.5,"ts_unit":"ns"}`, ReasonInvalidField, "whole nanoseconds"},
		{"ts at the epoch", Config{}, `{"type":"log","ts":0,"ts_unit":"s"}`, ReasonInvalidField, "outside the supported range"},
		{"ts in ns sent as s", Config{}, `{"type":"log","ts":1795258800000000000,"ts_unit":"s"}`, ReasonInvalidField, "check the value and ts_unit"},
		{"ts not RFC 3339", Config{}, `{"type":"log","ts":"yesterday"}`, ReasonInvalidField, "not an RFC 3339 time"},
		{"ts before 1970", Config{}, `{"type":"log","ts":"1960-01-01T00:00:00Z"}`, ReasonInvalidField, "outside the supported range"},
		{"ts boolean", Config{}, `{"type":"log","ts":true}`, ReasonInvalidField, `field "ts" is a JSON boolean`},
		{"name not a string", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","name":["n"]}`, ReasonInvalidField, `"name"`},
		{"value a string", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":"12"}`, ReasonInvalidField, `field "value" is a JSON string; send a number`},
		{"value overflows", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":1e400}`, ReasonInvalidField, "out of the float64 range"},
		{"value overflows after conversion", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":1e305,"unit":"d"}`, ReasonInvalidField, "out of the float64 range"},
		{"unit not a string", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":1,"unit":5}`, ReasonInvalidField, `"unit"`},
		{"unknown kind", Config{}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":1,"kind":"histogram"}`, ReasonInvalidField, `"kind"`},
		{"unknown severity", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","severity":"LOUD"}`, ReasonInvalidField, `"severity"`},
		{"severity out of range", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","severity":25}`, ReasonInvalidField, `"severity"`},
		{"trace id not hex", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"zzf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}`, ReasonInvalidField, `"trace_id"`},
		{"trace id short", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"4bf92f35","span_id":"00f067aa0ba902b7"}`, ReasonInvalidField, "32 hex digits"},
		{"trace id zero", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"00000000000000000000000000000000","span_id":"00f067aa0ba902b7"}`, ReasonInvalidField, "all zeros"},
		{"span id zero", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"0000000000000000"}`, ReasonInvalidField, "all zeros"},
		{"span id a number", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":12}`, ReasonInvalidField, `"span_id"`},
		{"parent span id long", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"parent_span_id":"00f067aa0ba902b7aa"}`, ReasonInvalidField, `"parent_span_id"`},
		{"duration unit not a duration", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"duration":"5KiBy"}`, ReasonInvalidField, `"duration"`},
		{"duration unknown unit", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"duration":"5 parsecs"}`, ReasonInvalidField, `"duration"`},
		{"duration without unit", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"duration":"150"}`, ReasonInvalidField, `"duration"`},
		{"duration negative", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"duration":-5}`, ReasonInvalidField, `"duration"`},
		{"duration negative string", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"duration":"-5ms"}`, ReasonInvalidField, `"duration"`},
		{"duration too long", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"duration":"300000d"}`, ReasonInvalidField, `"duration"`},
		{"duration a boolean", Config{}, `{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s",` + span + `,"duration":true}`, ReasonInvalidField, `"duration"`},
		{"attributes an array", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":["a","b"]}`, ReasonInvalidField, `field "attributes" is a JSON array; send a JSON object`},
		{"resource a string", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","resource":"svc"}`, ReasonInvalidField, `"resource"`},
		{"event id a number", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","event_id":5}`, ReasonInvalidField, `"event_id"`},
		{"event id empty", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","event_id":""}`, ReasonInvalidField, `"event_id"`},
		{"duplicate field", Config{}, `{"type":"log","ts":"2026-11-21T11:59:00Z","body":"a","body":"b"}`, ReasonInvalidField, `field "body" appears more than once`},

		// Limits enforced by the emitter.
		{"timestamp too old", Config{}, `{"type":"log","ts":"2026-11-13T12:00:00Z"}`, ReasonTimestampTooOld, "max_past"},
		{"numeric timestamp too old", Config{}, `{"type":"log","ts":1700000000,"ts_unit":"s"}`, ReasonTimestampTooOld, "max_past"},
		{"timestamp too new", Config{}, `{"type":"log","ts":"2026-11-21T13:00:00Z"}`, ReasonTimestampTooNew, "max_future"},
		{"ms sent as us", Config{}, `{"type":"log","ts":1795262400000,"ts_unit":"us"}`, ReasonTimestampTooOld, "max_past"},
		{"too many attributes", Config{MaxAttributes: 2}, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"a":1,"b":2,"c":3}}`, ReasonTooManyAttributes, "3 attributes exceed the limit of 2"},
		{"too many resource attributes", Config{MaxAttributes: 2}, `{"type":"log","ts":"2026-11-21T11:59:00Z","resource":{"a":1,"b":2,"c":3}}`, ReasonTooManyAttributes, "3 resource exceed"},
		{"attribute key too long", Config{MaxAttributeKeyBytes: 4}, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"abcde":1}}`, ReasonAttributeTooLong, "5 bytes exceeds the 4-byte limit"},
		{"attribute value too long", Config{MaxAttributeValueBytes: 4}, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"k":"abcde"}}`, ReasonAttributeTooLong, "5 bytes exceeds the 4-byte limit"},
		{"nested attribute value too long", Config{MaxAttributeValueBytes: 4}, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"k":[1,2,3]}}`, ReasonAttributeTooLong, "7 bytes exceeds the 4-byte limit"},
		{"name too long", Config{MaxNameBytes: 8}, `{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"ninebytes","value":1}`, ReasonNameTooLong, "9 bytes exceeds the 8-byte limit"},
		{"log body too long", Config{MaxLogBodyBytes: 16}, `{"type":"log","ts":"2026-11-21T11:59:00Z","body":"seventeen bytes!!"}`, ReasonBodyTooLong, "17 bytes exceeds the 16-byte limit"},
		{"nested log body too long", Config{MaxLogBodyBytes: 16}, `{"type":"log","ts":"2026-11-21T11:59:00Z","body":{"message":"hello"}}`, ReasonBodyTooLong, "19 bytes exceeds the 16-byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Line 2 is blank and line 3 (event index 1) is the one under test.
			body := validLogLine + "\n\n" + tc.line + "\r\n" + validMetricLine + "\n"
			e := decodeNDJSONString(t, tc.cfg, body)
			if e.rejected() != 1 {
				t.Fatalf("got %d rejections, want 1: %+v", e.rejected(), e.rejections)
			}
			rej := e.rejections[0]
			if rej.Reason != tc.reason || rej.Line != 3 || rej.Index != 1 {
				t.Errorf("got reason %s at line %d index %d, want %s at line 3 index 1 (%s)", rej.Reason, rej.Line, rej.Index, tc.reason, rej.Message)
			}
			if !strings.Contains(rej.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", rej.Message, tc.msg)
			}
			if rej.Message != strings.ToLower(rej.Message[:1])+rej.Message[1:] || strings.HasSuffix(rej.Message, ".") {
				t.Errorf("message %q should start lower-case and not end with a period", rej.Message)
			}
			if e.accepted() != 2 {
				t.Errorf("accepted %d events, want the 2 valid lines around the bad one", e.accepted())
			}
			if e.rejectedBy[tc.reason] != 1 {
				t.Errorf("rejectedBy[%s] = %d, want 1", tc.reason, e.rejectedBy[tc.reason])
			}
		})
	}
}

func TestNDJSONTooManyEventsRefusesTheRequest(t *testing.T) {
	cfg := Config{MaxEventsPerRequest: 2}
	body := validLogLine + "\n\n  \n" + validMetricLine + "\r\n" + validLogLine + "\n"
	e := newTestEmitter(cfg)
	var p fastjson.Parser
	err := decodeNDJSON(&p, []byte(body), e)
	var re *requestError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *requestError", err)
	}
	if re.status() != http.StatusRequestEntityTooLarge || re.reason != ReasonTooManyEvents {
		t.Errorf("got status %d reason %s, want 413 %s", re.status(), re.reason, ReasonTooManyEvents)
	}
	if !strings.Contains(re.Error(), "holds 3 events, more than the limit of 2") {
		t.Errorf("message %q does not count the 3 non-blank lines", re.Error())
	}
	if e.accepted() != 0 || e.rejected() != 0 {
		t.Errorf("events were emitted (%d) or rejected (%d) before refusing", e.accepted(), e.rejected())
	}
}

func TestNDJSONBlankLinesDoNotCountTowardsTheEventLimit(t *testing.T) {
	body := "\n\r\n" + validLogLine + "\n \t \n\n" + validMetricLine + "\n\n\n"
	e := decodeNDJSONString(t, Config{MaxEventsPerRequest: 2}, body)
	if e.accepted() != 2 || e.rejected() != 0 {
		t.Fatalf("accepted %d rejected %d, want 2 and 0: %+v", e.accepted(), e.rejected(), e.rejections)
	}
}

func TestNDJSONLineNumbersCountBlankLines(t *testing.T) {
	body := "\r\n" + validLogLine + "\r\n\r\n" + `{"type":"bad"}` + "\r\n  \r\n" + `{]` + "\n" + validMetricLine + "\n\n" + `{"type":"metric","ts":"2026-11-21T11:59:00Z"}`
	e := decodeNDJSONString(t, Config{}, body)
	var got []string
	for _, r := range e.rejections {
		got = append(got, fmt.Sprintf("%d/%d/%s", r.Line, r.Index, r.Reason))
	}
	want := []string{"4/1/" + string(ReasonInvalidField), "6/2/" + string(ReasonInvalidJSON), "9/4/" + string(ReasonMissingField)}
	if fmt.Sprint(got) != fmt.Sprint(want) || e.accepted() != 2 {
		t.Errorf("got rejections %v and %d accepted, want %v and 2", got, e.accepted(), want)
	}
}

func TestNDJSONEmptyBody(t *testing.T) {
	for _, body := range []string{"", "\n", "\r\n \n\t"} {
		e := decodeNDJSONString(t, Config{}, body)
		if e.accepted() != 0 || e.rejected() != 0 {
			t.Errorf("%q: accepted %d rejected %d, want nothing", body, e.accepted(), e.rejected())
		}
	}
}

// TestNDJSONDoesNotAllocatePerEvent checks that, once its buffers have grown, the decoder's
// allocations do not grow with the number of events.
func TestNDJSONDoesNotAllocatePerEvent(t *testing.T) {
	allocs := func(events int) float64 {
		body := benchNDJSONBody(events)
		cfg := DefaultConfig()
		e := newTestEmitter(cfg)
		var p fastjson.Parser
		return testing.AllocsPerRun(20, func() {
			e.reset(&cfg, testTenant, testNow)
			if err := decodeNDJSON(&p, body, e); err != nil || e.accepted() != events {
				t.Fatalf("accepted %d of %d: %v %+v", e.accepted(), events, err, e.rejections)
			}
		})
	}
	small, large := allocs(100), allocs(2000)
	if large > small+2 {
		t.Errorf("%v allocations for 100 events but %v for 2000: something allocates per event", small, large)
	}
}

func TestNDJSONSkipsALeadingByteOrderMark(t *testing.T) {
	e := decodeNDJSONString(t, Config{}, "\xef\xbb\xbf"+validLogLine+"\n\xef\xbb\xbf"+validLogLine)
	if e.accepted() != 1 || e.rejected() != 1 || e.rejections[0].Line != 2 || e.rejections[0].Reason != ReasonInvalidJSON {
		t.Errorf("accepted %d, rejections %+v; want the first line accepted and a BOM inside the body rejected", e.accepted(), e.rejections)
	}
}

// A client retries a request it got no answer for: the retry must map onto the same events, so
// nothing in a record may depend on when the request arrived. An event without a time used to
// take the time of receipt, which is hashed into its id and is part of the tables' sort key, so
// every retry stored it again; such events are now rejected instead (issue 12, defect 1).
func TestNDJSONRetryYieldsTheSameEvents(t *testing.T) {
	body := readFixture(t, "mixed") + "\n" + `{"type":"log","body":"no ts"}` + "\n"
	decodeAt := func(now time.Time) ([]record.Record, []Rejection) {
		e := newTestEmitter(Config{})
		e.reset(e.cfg, testTenant, now)
		var p fastjson.Parser
		if err := decodeNDJSON(&p, []byte(body), e); err != nil {
			t.Fatal(err)
		}
		return decodedRecords(t, e), append([]Rejection(nil), e.rejections...)
	}
	first, rej := decodeAt(testNow)
	retry, _ := decodeAt(testNow.Add(90 * time.Second))
	if len(first) == 0 || len(first) != len(retry) {
		t.Fatalf("%d records, then %d on retry", len(first), len(retry))
	}
	for i := range first {
		a, b := first[i], retry[i]
		if a.EventID != b.EventID || a.Timestamp != b.Timestamp {
			t.Errorf("record %d (%q): id %s time %d, on retry id %s time %d", i, a.Body+a.Name, a.EventID, a.Timestamp, b.EventID, b.Timestamp)
		}
	}
	if len(rej) != 1 || rej[0].Reason != ReasonMissingField || !strings.Contains(rej[0].Message, `"ts"`) {
		t.Errorf("the line without ts: rejections %+v, want one err-ingest-missing-field naming \"ts\"", rej)
	}
}
