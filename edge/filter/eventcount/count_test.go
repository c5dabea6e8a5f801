package eventcount

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ingestdev/ingest/internal/grpcwire"
	"github.com/ingestdev/ingest/internal/testkit"
)

// checkProto asserts the contract of the protobuf walk against pdata on any input: when pdata
// decodes body, Count succeeds with pdata's count; when Count fails, pdata fails too, and the
// error is a *MalformedError.
func checkProto(t testing.TB, k Kind, body []byte) {
	t.Helper()
	n, err := Count(k, body)
	want, perr := signalOf(k).decodeProt(body)
	if perr == nil && (err != nil || n != want) {
		t.Fatalf("%s: Count = %d, %v; pdata decodes %d items\nbody %q", k, n, err, want, shorten(body))
	}
	if err != nil {
		var me *MalformedError
		if !errors.As(err, &me) || me.Kind != k || me.Offset < 0 || me.Offset > len(body) {
			t.Fatalf("%s: error %#v is not a *MalformedError with an offset in the body", k, err)
		}
	}
}

// checkJSON asserts the contract of the JSON scan against pdata: on valid JSON that pdata
// decodes, Count succeeds with pdata's count, except that an empty object key is an error (see
// json.go). (pdata also fails on what the scan does not look at, such as a trace id that is not
// hex.) On invalid JSON, Count only must not panic.
func checkJSON(t testing.TB, k Kind, body []byte) {
	t.Helper()
	n, err := Count(k, body)
	var me *MalformedError
	if err != nil && !errors.As(err, &me) {
		t.Fatalf("%s: error %#v is not a *MalformedError", k, err)
	}
	if !json.Valid(body) || (me != nil && me.Reason == reasonEmptyKey) {
		return
	}
	want, perr := signalOf(k).decodeJSON(body)
	if perr == nil && (err != nil || n != want) {
		t.Fatalf("%s: Count = %d, %v; pdata decodes %d items\nbody %s", k, n, err, want, shorten(body))
	}
}

// shorten cuts a body for a failure message.
func shorten(b []byte) []byte {
	if len(b) > 2000 {
		return append(b[:2000:2000], "…"...)
	}
	return b
}

// rounds scales the number of random payloads of a property test: n normally, a tenth with
// -short or under the race detector (pdata is slow there, and the fuzzers go further).
func rounds(n int) int {
	if testing.Short() || testkit.RaceEnabled {
		return n / 10
	}
	return n
}

func TestCountMatchesPdataOnRandomPayloads(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range signals {
		t.Run(s.name, func(t *testing.T) {
			for i := range rounds(300) {
				p := mustRandom(t, s, gen{r: r, size: 1 + i%3})
				if n, err := Count(s.proto, p.proto); err != nil || n != p.count {
					t.Fatalf("protobuf: Count = %d, %v; want %d\nbody %q", n, err, p.count, shorten(p.proto))
				}
				if n, err := Count(s.js, p.json); err != nil || n != p.count {
					t.Fatalf("JSON: Count = %d, %v; want %d\nbody %s", n, err, p.count, shorten(p.json))
				}
			}
		})
	}
}

// mutate returns a copy of b with a few random edits: bytes flipped, inserted, removed, or the
// body cut short.
func mutate(r *rand.Rand, b []byte, alphabet string) []byte {
	b = bytes.Clone(b)
	for range 1 + r.IntN(3) {
		if len(b) == 0 {
			return append(b, alphabet[r.IntN(len(alphabet))])
		}
		i := r.IntN(len(b))
		switch r.IntN(5) {
		case 0:
			b[i] = byte(r.Uint32())
		case 1:
			b[i] = alphabet[r.IntN(len(alphabet))]
		case 2:
			b = append(b[:i], b[i+1:]...)
		case 3:
			b = append(b[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
		case 4:
			b = b[:i]
		}
	}
	return b
}

func TestCountAgreesWithPdataOnMutatedPayloads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range signals {
		t.Run(s.name, func(t *testing.T) {
			for i := range rounds(100) {
				p := mustRandom(t, s, gen{r: r, size: 1 + i%2})
				for range 10 {
					checkProto(t, s.proto, mutate(r, p.proto, "\x00\x01\x02\x08\x0a\x12\x1a\x22\x2a\x0b\x0c\x80\xff"))
					checkJSON(t, s.js, mutate(r, p.json, `{}[],:" nul0123456789\`))
				}
			}
		})
	}
}

// Hand-built protobuf for pdata's quirks.

func msg(fields ...[]byte) []byte { return bytes.Join(fields, nil) }

func field(num protowire.Number, payload ...[]byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), msg(payload...))
}

func rawTag(tag uint64) []byte { return protowire.AppendVarint(nil, tag) }

// countCase is a body with the count pdata gives it, or -1 when pdata refuses it.
type countCase struct {
	name string
	kind Kind
	body []byte
	want int
}

// protoCases are hand-built protobuf bodies for pdata's quirks.
func protoCases() []countCase {
	record := field(2) // an empty log record in ScopeLogs
	scope2 := func(n int) []byte {
		var b [][]byte
		for range n {
			b = append(b, record)
		}
		return msg(b...)
	}
	point := field(1) // an empty data point in Gauge, Sum, ...
	group := msg(rawTag(99<<3|3), rawTag(7<<3|4))
	return []countCase{
		{"empty body", OTLPLogsProto, nil, 0},
		{"logs", OTLPLogsProto, msg(field(1, field(2, scope2(2)), field(2, scope2(3))), field(1, field(2, scope2(1)))), 6},
		{"deprecated scope logs counted when there are no scope logs", OTLPLogsProto, field(1, field(1000, scope2(2)), field(1000, scope2(1))), 3},
		{"deprecated scope logs ignored beside scope logs", OTLPLogsProto, field(1, field(1000, scope2(2)), field(2, scope2(1))), 1},
		{"an empty scope logs still hides deprecated ones", OTLPLogsProto, field(1, field(1000, scope2(2)), field(2)), 0},
		{"deprecated scope spans", OTLPTracesProto, field(1, field(1000, scope2(4))), 4},
		{"metric gauge", OTLPMetricsProto, field(1, field(2, field(2, field(5, point, point)))), 2},
		{"metric oneof: last occurrence wins", OTLPMetricsProto, field(1, field(2, field(2, field(5, point, point), field(7, point)))), 1},
		{"metric oneof: repeated gauge is replaced, not merged", OTLPMetricsProto, field(1, field(2, field(2, field(5, point, point), field(5, point, point, point)))), 3},
		{"every metric type", OTLPMetricsProto, field(1, field(2,
			field(2, field(5, point)), field(2, field(7, point, point)), field(2, field(9, point)),
			field(2, field(10, point, point)), field(2, field(11, point)), field(2, field(1)))), 7},
		{"deprecated scope metrics", OTLPMetricsProto, field(1, field(1000, field(2, field(11, point, point)))), 2},
		{"unknown fields of every wire type", OTLPLogsProto, msg(
			protowire.AppendVarint(rawTag(5<<3), 300), rawTag(6<<3|1), make([]byte, 8), rawTag(7<<3|5), make([]byte, 4),
			field(8, []byte("x")), group, field(1, field(2, scope2(1)))), 1},
		{"group ends at its first scalar field", OTLPLogsProto, msg(rawTag(99<<3|3), rawTag(8<<3), []byte{1}, field(1, field(2, scope2(1)))), 1},
		{"group end tag as the last byte", OTLPLogsProto, msg(field(1, field(2, scope2(1))), group), -1},
		{"end group without start", OTLPLogsProto, msg(rawTag(9<<3|4), field(1)), -1},
		{"field number truncated to int32", OTLPLogsProto, msg(protowire.AppendBytes(rawTag((1<<32+1)<<3|2), field(2, scope2(2)))), 2},
		{"field number 0", OTLPLogsProto, msg(rawTag(0<<3), []byte{0}), -1},
		{"wrong wire type on resource_logs", OTLPLogsProto, msg(rawTag(1<<3), []byte{0}), -1},
		{"wrong wire type on log_records", OTLPLogsProto, field(1, field(2, rawTag(2<<3), []byte{0})), -1},
		{"illegal wire type", OTLPLogsProto, msg(rawTag(9<<3 | 6)), -1},
		{"truncated length", OTLPLogsProto, msg(rawTag(1<<3|2), []byte{5, 0}), -1},
		{"varint too long", OTLPLogsProto, msg(bytes.Repeat([]byte{0xff}, 10), []byte{1}), -1},
	}
}

func TestCountProtoFollowsPdata(t *testing.T) {
	for _, tc := range protoCases() {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Count(tc.kind, tc.body)
			if tc.want < 0 && err == nil || tc.want >= 0 && (err != nil || n != tc.want) {
				t.Errorf("Count = %d, %v; want %d", n, err, tc.want)
			}
			want, perr := signalOf(tc.kind).decodeProt(tc.body)
			if (perr != nil) != (tc.want < 0) || perr == nil && want != tc.want {
				t.Errorf("pdata decodes %d, %v: the test's expectation is wrong", want, perr)
			}
			checkProto(t, tc.kind, tc.body)
		})
	}
}

func TestCountJSONFollowsPdata(t *testing.T) {
	logs := func(records string) string {
		return `{"resourceLogs":[{"scopeLogs":[{"logRecords":` + records + `}]}]}`
	}
	for _, tc := range []struct {
		name string
		kind Kind
		body string
		want int // -1: an error
	}{
		{"empty request", OTLPLogsJSON, `{}`, 0},
		{"top-level null", OTLPLogsJSON, `null`, 0},
		{"empty body", OTLPLogsJSON, ``, -1},
		{"whitespace body", OTLPLogsJSON, " \n", -1},
		{"top-level array", OTLPLogsJSON, `[]`, -1},
		{"records", OTLPLogsJSON, logs(`[{}, {"body":{"stringValue":"}]"}}, {"attributes":[{"key":"a","value":{"kvlistValue":{"values":[]}}}]}]`), 3},
		{"null record counts", OTLPLogsJSON, logs(`[null, {}]`), 2},
		{"null arrays and objects", OTLPLogsJSON, `{"resourceLogs":[null, {"scopeLogs":null}, {"scopeLogs":[null, {"logRecords":null}]}]}`, 0},
		{"snake case", OTLPLogsJSON, `{"resource_logs":[{"scope_logs":[{"log_records":[{},{}]}]}]}`, 2},
		{"escaped keys", OTLPLogsJSON, `{"resource\u004cogs":[{"scope\u004Cogs":[{"log\/Records":[{}], "log\u0052ecords":[{},{}]}]}]}`, 2},
		{"keys are case-sensitive", OTLPLogsJSON, `{"ResourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}`, 0},
		{"repeated member appends", OTLPLogsJSON, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}], "resourceLogs":[{"scopeLogs":[{"logRecords":[{}],"logRecords":[{}]}]}]}`, 3},
		{"deprecated scope logs not counted", OTLPLogsJSON, `{"resourceLogs":[{"deprecatedScopeLogs":[{"logRecords":[{}]}]}]}`, 0},
		{"trailing data ignored", OTLPLogsJSON, logs(`[{}]`) + `garbage`, 1},
		{"unknown members of every type", OTLPLogsJSON, `{"x":[1,-2.5e3,true,false,null,"s\"",{"a":[[]]}],"resourceLogs":[{"y":{},"scopeLogs":[{"z":"","logRecords":[{}]}]}]}`, 1},
		{"record not an object", OTLPLogsJSON, logs(`[1]`), -1},
		{"array not an array", OTLPLogsJSON, logs(`{}`), -1},
		{"trailing comma", OTLPLogsJSON, logs(`[{},]`), -1},
		{"unterminated", OTLPLogsJSON, logs(`[{}`), -1},
		{"metrics: last data member wins", OTLPMetricsJSON, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{},{}]},"sum":{"dataPoints":[{}]}}]}]}]}`, 1},
		{"metrics: null data member", OTLPMetricsJSON, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{},{}]},"summary":null}]}]}]}`, 0},
		{"metrics: every type", OTLPMetricsJSON, `{"resource_metrics":[{"scope_metrics":[{"metrics":[{"gauge":{"data_points":[{}]}},{"sum":{"dataPoints":[{},{}]}},{"histogram":{"dataPoints":[{}]}},{"exponential_histogram":{"dataPoints":[{}]}},{"exponentialHistogram":{"dataPoints":[{}]}},{"summary":{"dataPoints":[{}],"dataPoints":[{}]}},{"name":"none"}]}]}]}`, 8},
		{"traces", OTLPTracesJSON, `{"resourceSpans":[{"scopeSpans":[{"spans":[{},{"events":[{}]}]}]},{"scope_spans":[{"spans":[{}]}]}]}`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Count(tc.kind, []byte(tc.body))
			if tc.want < 0 && err == nil || tc.want >= 0 && (err != nil || n != tc.want) {
				t.Errorf("Count = %d, %v; want %d", n, err, tc.want)
			}
			want, perr := signalOf(tc.kind).decodeJSON([]byte(tc.body))
			if (perr != nil) != (tc.want < 0) || perr == nil && want != tc.want {
				t.Errorf("pdata decodes %d, %v: the test's expectation is wrong", want, perr)
			}
			checkJSON(t, tc.kind, []byte(tc.body))
		})
	}
}

func TestCountJSONRejectsEmptyKeys(t *testing.T) {
	// pdata stops reading the object at an empty key and reads on from its value: here it
	// silently drops the records that follow.
	body := []byte(`{"":1, "resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}`)
	if n, _ := signalOf(OTLPLogsJSON).decodeJSON(body); n != 0 {
		t.Fatalf("pdata decodes %d records; the quirk this test documents is gone", n)
	}
	for _, b := range []string{string(body), `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":{"":1}}]}]}]}`} {
		_, err := Count(OTLPLogsJSON, []byte(b))
		var me *MalformedError
		if !errors.As(err, &me) || me.Reason != reasonEmptyKey {
			t.Errorf("Count(%s) error = %v, want %q", b, err, reasonEmptyKey)
		}
	}
}

// TestMalformedJSONThatPdataAccepts shows why the filter answers a MalformedError with 400 at
// the edge instead of passing the body through uncounted: pdata decodes records from these
// bodies, which a pass-through would let in uncharged.
func TestMalformedJSONThatPdataAccepts(t *testing.T) {
	for _, body := range []string{
		`{"resourceLogs":[,"scopeLogs":[{"logRecords":[{},{}]}]}]}`,                                              // invalid JSON
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{}], "": null}], "scopeLogs":[{"logRecords":[{}]}]}]}`, // an empty key
	} {
		if n, err := signalOf(OTLPLogsJSON).decodeJSON([]byte(body)); err != nil || n != 2 {
			t.Errorf("pdata decodes %d, %v from %s; the quirk this test documents is gone", n, err, body)
		}
		var me *MalformedError
		if _, err := Count(OTLPLogsJSON, []byte(body)); !errors.As(err, &me) {
			t.Errorf("Count(%s) = %v, want a MalformedError", body, err)
		}
	}
}

func TestCountJSONSkipsDeepNesting(t *testing.T) {
	deep := strings.Repeat(`{"a":[`, 5000) + strings.Repeat(`]}`, 5000)
	body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` + deep + `},{}]}]}]}`
	if n, err := Count(OTLPLogsJSON, []byte(body)); err != nil || n != 2 {
		t.Errorf("Count = %d, %v; want 2", n, err)
	}
	if _, err := Count(OTLPLogsJSON, []byte(body[:len(body)-20])); err == nil {
		t.Error("a truncated deep body counted without error")
	}
	mismatched := `{"resourceLogs":[{"x":` + strings.Repeat(`[`, 100) + strings.Repeat(`}`, 100) + `}]}`
	if _, err := Count(OTLPLogsJSON, []byte(mismatched)); err == nil {
		t.Error("mismatched brackets counted without error")
	}
}

func TestMalformedErrorSaysWhereAndWhat(t *testing.T) {
	_, err := Count(OTLPLogsProto, []byte{0x0a, 0x04, 0x12, 0x02, 0x12, 0x09})
	var me *MalformedError
	if !errors.As(err, &me) || me.Offset != 4 || me.Reason != reasonTruncated {
		t.Fatalf("error %#v, want a truncated field at byte 4", err)
	}
	if got, want := err.Error(), "cannot count events of otlp-logs-proto body: truncated field at byte 4"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if _, err := Count(Kind(0), nil); err == nil {
		t.Error("Count of the zero Kind did not fail")
	}
}

// referenceNDJSON is the normalizer's rule for the events of an NDJSON body
// (normalizer/ndjson.go, decodeNDJSON), written as plainly as possible: skip a UTF-8 BOM at the
// start, split at "\n", and count the lines that hold anything but spaces, tabs and "\r".
func referenceNDJSON(body []byte) int {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	n := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.Trim(line, " \t\r") != "" {
			n++
		}
	}
	return n
}

func TestCountNDJSONFollowsTheNormalizersRule(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int
	}{
		{"", 0},
		{"\n\n", 0},
		{`{"a":1}`, 1},
		{"{\"a\":1}\n", 1},
		{"{\"a\":1}\r\n{\"a\":2}\r\n", 2},
		{"a\n \t\r\n\nb", 2},
		{"\xef\xbb\xbf\n{}", 1},
		{"\xef\xbb\xbf{}", 1},
		{"{}\n\xef\xbb\xbf", 2},
		{"not json\n{\n", 2},
		{"\r", 0},
		{"\v", 1},
		{"\x00", 1},
	} {
		if n, err := Count(NDJSON, []byte(tc.body)); err != nil || n != tc.want || n != referenceNDJSON([]byte(tc.body)) {
			t.Errorf("Count(%q) = %d, %v; want %d (reference %d)", tc.body, n, err, tc.want, referenceNDJSON([]byte(tc.body)))
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			const alphabet = " \t\r\n{}x\xef\xbb\xbf"
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if n, _ := Count(NDJSON, b); n != referenceNDJSON(b) {
			t.Fatalf("Count(%q) = %d, reference %d", b, n, referenceNDJSON(b))
		}
	}
}

func TestKindForAcceptsWhatTheNormalizerAccepts(t *testing.T) {
	for _, tc := range []struct {
		path, contentType string
		want              Kind
	}{
		{"/v1/logs", "application/x-protobuf", OTLPLogsProto},
		{"/v1/logs", "application/protobuf", OTLPLogsProto},
		{"/v1/logs", "application/json", OTLPLogsJSON},
		{"/v1/logs?x=1", "Application/JSON; charset=utf-8", OTLPLogsJSON},
		{"/v1/metrics", "application/x-protobuf", OTLPMetricsProto},
		{"/v1/metrics", "application/json", OTLPMetricsJSON},
		{"/v1/traces", "application/x-protobuf", OTLPTracesProto},
		{"/v1/traces", "application/json", OTLPTracesJSON},
		{"/v1/events", "application/x-ndjson", NDJSON},
		{"/v1/events", "application/ndjson", NDJSON},
		{"/v1/events", "application/jsonl", NDJSON},
		{"/v1/events", "application/x-jsonlines", NDJSON},
		{"/v1/events", "application/json", NDJSON},
		{"/v1/events", "application/x-protobuf", 0},
		{"/v1/logs", "application/x-ndjson", 0},
		{"/v1/logs", "", 0},
		{"/v1/logs", "application/json; charset", 0},
		{"/v1/logs", "text/plain", 0},
		{"/v1/log", "application/json", 0},
		{"/v1/logs/", "application/json", 0},
		{"/v2/logs", "application/json", 0},
		{GRPCLogsPath, "application/grpc", OTLPLogsGRPC},
		{GRPCLogsPath, "application/grpc+proto", OTLPLogsGRPC},
		{GRPCLogsPath, "application/grpc; charset=utf-8", 0},
		{GRPCMetricsPath, "application/grpc", OTLPMetricsGRPC},
		{GRPCTracesPath, "application/grpc", OTLPTracesGRPC},
		{GRPCLogsPath, "application/grpc+json", 0},
		{GRPCLogsPath, "application/grpc-web", 0},
		{GRPCLogsPath, "application/x-protobuf", 0},
		{"/v1/logs", "application/grpc", 0},
		{"/opentelemetry.proto.collector.logs.v1.LogsService/Other", "application/grpc", 0},
	} {
		k, ok := KindFor(tc.path, tc.contentType)
		if k != tc.want || ok != (tc.want != 0) {
			t.Errorf("KindFor(%q, %q) = %v, %v; want %v", tc.path, tc.contentType, k, ok, tc.want)
		}
	}
	for _, c := range [][2]string{{"/v1/logs", "application/x-protobuf"}, {GRPCTracesPath, "application/grpc"}} {
		if n := testing.AllocsPerRun(100, func() { KindFor(c[0], c[1]) }); n != 0 {
			t.Errorf("KindFor(%q, %q) allocates %v times", c[0], c[1], n)
		}
	}
}

func TestCountDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range signals {
		p := mustRandom(t, s, gen{r: r, size: 3})
		grpcKind := grpcKinds[slices.Index(protoKinds, s.proto)]
		for _, c := range append(p.bodies(s), kindBody{grpcKind, grpcwire.AppendMessage(nil, p.proto)}) {
			if n := testing.AllocsPerRun(20, func() { Count(c.k, c.body) }); n != 0 {
				t.Errorf("Count(%s) allocates %v times", c.k, n)
			}
		}
	}
	body := []byte("{}\n{}\r\n\n{}")
	if n := testing.AllocsPerRun(20, func() { Count(NDJSON, body) }); n != 0 {
		t.Errorf("Count(ndjson) allocates %v times", n)
	}
}
