package record_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordtest"
)

var update = flag.Bool("update", false, "rewrite record/testdata: the golden files and the fuzz seed corpus")

// Offsets of the fixed header fields (see doc.go).
const (
	offSignal     = 1
	offFlags      = 2
	offEventID    = 3
	offReceivedAt = 27
	headerSize    = 35
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The sample records: one per signal and shape. Each call returns a fresh record, because
// Builder.Add writes into the record it is given.

// logWithTrace is a typical log record of about 300 encoded bytes.
func logWithTrace() *record.Record {
	r := &record.Record{
		Tenant:     "acme-prod",
		Signal:     record.SignalLog,
		EventID:    record.ID(mustHex("5f0c6e8a1b2d4c3e9f7a6b5c4d3e2f10")),
		Timestamp:  1_700_000_000_123_456_789,
		ReceivedAt: 1_700_000_000_200_000_000,
		Name:       "checkout.http",
		Scope:      "go.opentelemetry.io/contrib/net/http",
		Attributes: []record.KV{
			{Key: "http.method", Value: "GET"},
			{Key: "http.route", Value: "/api/v1/cart"},
			{Key: "http.status_code", Value: "200"},
		},
		Resource: []record.KV{
			{Key: "service.name", Value: "checkout"},
			{Key: "service.version", Value: "1.42.0"},
		},
		HasTrace:       true,
		TraceID:        [16]byte(mustHex("4bf92f3577b34da6a3ce929d0e0e4736")),
		SpanID:         [8]byte(mustHex("00f067aa0ba902b7")),
		ParentSpanID:   [8]byte(mustHex("53995c3f42cd8ad8")),
		SeverityNumber: 9,
		SeverityText:   "INFO",
		Body:           "GET /api/v1/cart completed in 12.4ms for user 4f1c2a9e (cache hit, 3 items)",
	}
	return r
}

// logPlain is a log without trace context, with empty and unicode strings.
func logPlain() *record.Record {
	return &record.Record{
		Tenant:     "t",
		Signal:     record.SignalLog,
		Timestamp:  -1, // before the epoch: timestamps are signed
		Name:       "",
		Scope:      "",
		Unit:       "",
		Attributes: []record.KV{{Key: "", Value: ""}, {Key: "emoji", Value: "🚀 déjà vu — 日本語"}},
		Body:       "ünïcödé\x00with a NUL and \xff invalid UTF-8",
	}
}

func metricGauge() *record.Record {
	return &record.Record{
		Tenant:     "acme-prod",
		Signal:     record.SignalMetric,
		Timestamp:  1_700_000_000_000_000_000,
		ReceivedAt: 1_700_000_001_000_000_000,
		Name:       "system.memory.usage",
		Unit:       "bytes",
		Attributes: []record.KV{{Key: "state", Value: "used"}},
		Resource:   []record.KV{{Key: "host.name", Value: "ip-10-0-3-17"}},
		MetricKind: record.MetricGauge,
		Value:      3.5e9,
	}
}

func metricSum() *record.Record {
	return &record.Record{
		Tenant:      "acme-prod",
		Signal:      record.SignalMetric,
		Timestamp:   1_700_000_000_000_000_000,
		Name:        "http.server.requests",
		Unit:        "1",
		Attributes:  []record.KV{{Key: "http.route", Value: "/api/v1/cart"}, {Key: "http.status_code", Value: "200"}},
		MetricKind:  record.MetricSum,
		Temporality: record.TemporalityCumulative,
		Monotonic:   true,
		Value:       123456,
	}
}

func metricHistogram() *record.Record {
	return &record.Record{
		Tenant:          "acme-prod",
		Signal:          record.SignalMetric,
		Timestamp:       1_700_000_000_000_000_000,
		ReceivedAt:      1_700_000_001_000_000_000,
		Name:            "http.server.duration",
		Scope:           "go.opentelemetry.io/contrib/net/http",
		Unit:            "ns",
		Attributes:      []record.KV{{Key: "http.route", Value: "/api/v1/cart"}},
		Resource:        []record.KV{{Key: "service.name", Value: "checkout"}},
		MetricKind:      record.MetricHistogram,
		Temporality:     record.TemporalityDelta,
		HasDistribution: true,
		Count:           1000,
		Sum:             4.2e9,
		HasMinMax:       true,
		Min:             1.5e5,
		Max:             9.8e8,
		Buckets: []record.Bucket{
			{UpperBound: 1e6, Count: 100},
			{UpperBound: 5e6, Count: 400},
			{UpperBound: 1e7, Count: 300},
			{UpperBound: 1e8, Count: 150},
			{UpperBound: 1e9, Count: 50},
			{UpperBound: math.Inf(1), Count: 0},
		},
	}
}

func metricSummary() *record.Record {
	return &record.Record{
		Tenant:          "acme-prod",
		Signal:          record.SignalMetric,
		Timestamp:       1_700_000_000_000_000_000,
		Name:            "rpc.duration",
		Unit:            "ns",
		MetricKind:      record.MetricSummary,
		HasDistribution: true,
		Count:           1 << 40, // needs a multi-byte uvarint
		Sum:             math.Copysign(0, -1),
		Quantiles: []record.Quantile{
			{Quantile: 0, Value: math.Inf(-1)},
			{Quantile: 0.5, Value: 1.25e6},
			{Quantile: 0.99, Value: math.NaN()},
			{Quantile: 1, Value: math.Inf(1)},
		},
	}
}

func span() *record.Record {
	return &record.Record{
		Tenant:        "acme-prod",
		Signal:        record.SignalSpan,
		EventID:       record.ID(mustHex("0102030405060708090a0b0c0d0e0f10")),
		Timestamp:     1_700_000_000_000_000_000,
		ReceivedAt:    1_700_000_002_000_000_000,
		Name:          "GET /api/v1/cart",
		Scope:         "go.opentelemetry.io/contrib/net/http",
		Attributes:    []record.KV{{Key: "http.method", Value: "GET"}},
		Resource:      []record.KV{{Key: "service.name", Value: "checkout"}},
		HasTrace:      true,
		TraceID:       [16]byte(mustHex("4bf92f3577b34da6a3ce929d0e0e4736")),
		SpanID:        [8]byte(mustHex("00f067aa0ba902b7")),
		Duration:      12_400_000,
		SpanKind:      2,
		StatusCode:    2,
		StatusMessage: "upstream timed out: ⏱",
	}
}

// samples lists the sample records by the name of their golden file.
var samples = []struct {
	name string
	new  func() *record.Record
}{
	{"log_trace", logWithTrace},
	{"log_plain", logPlain},
	{"metric_gauge", metricGauge},
	{"metric_sum", metricSum},
	{"metric_histogram", metricHistogram},
	{"metric_summary", metricSummary},
	{"span", span},
}

// canonical is a Record in a form reflect.DeepEqual compares as the encoding does: floats by
// their bits (NaN equals the same NaN, -0 differs from 0) and empty slices equal to nil.
type canonical struct {
	R         record.Record
	Floats    [4]uint64
	Buckets   [][2]uint64
	Quantiles [][2]uint64
}

func canon(r *record.Record) canonical {
	c := canonical{R: *r}
	c.Floats = [4]uint64{math.Float64bits(r.Value), math.Float64bits(r.Sum), math.Float64bits(r.Min), math.Float64bits(r.Max)}
	c.R.Value, c.R.Sum, c.R.Min, c.R.Max = 0, 0, 0, 0
	for _, b := range r.Buckets {
		c.Buckets = append(c.Buckets, [2]uint64{math.Float64bits(b.UpperBound), b.Count})
	}
	for _, q := range r.Quantiles {
		c.Quantiles = append(c.Quantiles, [2]uint64{math.Float64bits(q.Quantile), math.Float64bits(q.Value)})
	}
	c.R.Buckets, c.R.Quantiles = nil, nil
	if len(c.R.Attributes) == 0 {
		c.R.Attributes = nil
	}
	if len(c.R.Resource) == 0 {
		c.R.Resource = nil
	}
	return c
}

// checkEqual fails t unless got and want encode the same record.
func checkEqual(t testing.TB, got, want *record.Record) {
	t.Helper()
	if g, w := canon(got), canon(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("records differ\n got: %+v\nwant: %+v", g, w)
	}
}

func TestRoundTripEverySignal(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			want := s.new()
			b := record.Append(nil, want)
			var got record.Record
			if err := record.Decode(b, &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			checkEqual(t, &got, want)
		})
	}
}

func TestRoundTripSpecialValues(t *testing.T) {
	nan := math.Float64frombits(0x7ff8_0000_dead_beef) // a NaN with a payload
	for _, v := range []float64{0, math.Copysign(0, -1), math.NaN(), nan, math.Inf(1), math.Inf(-1),
		math.MaxFloat64, math.SmallestNonzeroFloat64, -1.5} {
		want := metricHistogram()
		want.Value, want.Sum, want.Min, want.Max = v, v, v, v
		want.Buckets[0].UpperBound = v
		want.Quantiles = []record.Quantile{{Quantile: v, Value: v}}
		want.Count = math.MaxUint64
		want.Timestamp, want.ReceivedAt = math.MinInt64, math.MaxInt64
		var got record.Record
		if err := record.Decode(record.Append(nil, want), &got); err != nil {
			t.Fatalf("value %v: Decode: %v", v, err)
		}
		checkEqual(t, &got, want)
	}
}

func TestRoundTripManyAttributesAndLongStrings(t *testing.T) {
	want := logPlain()
	want.Attributes = nil
	for i := range 1000 {
		want.Attributes = append(want.Attributes, record.KV{Key: fmt.Sprintf("key.%d", i), Value: strings.Repeat("v", i%200)})
	}
	for i := range 300 {
		want.Resource = append(want.Resource, record.KV{Key: fmt.Sprint(i), Value: "r"})
	}
	want.Body = strings.Repeat("x", 100_000) // a length that needs a 3-byte uvarint
	want.Name = strings.Repeat("n", 128)     // exactly the first 2-byte uvarint length
	var got record.Record
	if err := record.Decode(record.Append(nil, want), &got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	checkEqual(t, &got, want)
}

func TestAppendAppendsToDst(t *testing.T) {
	prefix := []byte("prefix")
	b := record.Append(bytes.Clone(prefix), span())
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("Append overwrote dst: %q", b[:len(prefix)])
	}
	if !bytes.Equal(b[len(prefix):], record.Append(nil, span())) {
		t.Fatal("Append to a non-empty dst encodes differently")
	}
}

func TestDecodeReusesRecordWithoutLeakingFields(t *testing.T) {
	// Decoding into a record that held another signal must leave nothing of it behind.
	for _, prev := range samples {
		for _, s := range samples {
			r := prev.new()
			if err := record.Decode(record.Append(nil, s.new()), r); err != nil {
				t.Fatalf("%s into %s: %v", s.name, prev.name, err)
			}
			checkEqual(t, r, s.new())
		}
	}
}

func TestDecodeIntoUsedRecordAllocatesOnlyTheCopy(t *testing.T) {
	var r record.Record
	bufs := make([][]byte, len(samples))
	for i, s := range samples {
		bufs[i] = record.Append(nil, s.new())
		if err := record.Decode(bufs[i], &r); err != nil { // grow r's slices
			t.Fatal(err)
		}
	}
	n := testing.AllocsPerRun(100, func() {
		for _, b := range bufs {
			if err := record.Decode(b, &r); err != nil {
				t.Fatal(err)
			}
		}
	})
	if perRecord := n / float64(len(bufs)); perRecord > 1 {
		t.Errorf("Decode allocates %v times per record, want 1", perRecord)
	}
}

func TestDecodeCopiesInput(t *testing.T) {
	b := record.Append(nil, logWithTrace())
	var r record.Record
	if err := record.Decode(b, &r); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xAA
	}
	checkEqual(t, &r, logWithTrace())
}

func TestSignalString(t *testing.T) {
	for s, want := range map[record.Signal]string{
		record.SignalLog: "log", record.SignalMetric: "metric", record.SignalSpan: "span", 0: "signal(0)", 9: "signal(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Signal(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}

func TestIDString(t *testing.T) {
	id := record.ID(mustHex("0102030405060708090a0b0c0d0e0fab"))
	if got, want := id.String(), "0102030405060708090a0b0c0d0e0fab"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if id.IsZero() || !(record.ID{}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

// Golden files: the v1 encoding of each sample record, and of a batch built by a Builder
// (which also freezes the derivation of event ids), as a hex dump. A change that alters a single
// byte fails here; if it is intended it needs a new version (see doc.go), not -update.

// hexDump renders b as lines of "offset  32 bytes in groups of 8".
func hexDump(b []byte) []byte {
	var out bytes.Buffer
	for off := 0; off < len(b); off += 32 {
		line := b[off:min(off+32, len(b))]
		fmt.Fprintf(&out, "%06x ", off)
		for i := 0; i < len(line); i += 8 {
			fmt.Fprintf(&out, " %x", line[i:min(i+8, len(line))])
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// parseHexDump is the inverse of hexDump.
func parseHexDump(t *testing.T, dump []byte) []byte {
	t.Helper()
	b, err := recordtest.ParseHexDump(dump)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkGolden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, hexDump(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dump, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./record -run TestGolden -update to create it)", err)
	}
	want := parseHexDump(t, dump)
	if !bytes.Equal(got, want) {
		t.Errorf("%s: encoding differs from the frozen v1 bytes\n got:\n%s\nwant:\n%s", path, hexDump(got), dump)
	}
	return want
}

func TestGoldenRecords(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			frozen := checkGolden(t, s.name, record.Append(nil, s.new()))
			// The frozen bytes must keep decoding to the record, whatever the encoder does.
			var r record.Record
			if err := record.Decode(frozen, &r); err != nil {
				t.Fatalf("Decode of frozen bytes: %v", err)
			}
			checkEqual(t, &r, s.new())
		})
	}
}

func TestGoldenBatch(t *testing.T) {
	var b record.Builder
	b.Reset("acme-prod", 1_700_000_005_000_000_000)
	for _, s := range samples {
		r := s.new()
		if s.name != "span" { // the span keeps its given id
			r.EventID = record.ID{}
		}
		b.Add(r)
	}
	dup := logPlain() // the same event twice: the second is salted
	b.Add(dup)
	checkGolden(t, "batch", b.Batch().Data)
}

func TestDecodeRejectsUnknownVersion(t *testing.T) {
	valid := record.Append(nil, logWithTrace())
	for _, v := range []byte{0, 2, 0x7f, 0xff} {
		b := bytes.Clone(valid)
		b[0] = v
		var r record.Record
		err := record.Decode(b, &r)
		if !errors.Is(err, record.ErrVersion) || errors.Is(err, record.ErrCorrupt) {
			t.Errorf("version %d: got %v, want ErrVersion", v, err)
		}
		// Even a lone version byte is classified by version first.
		if err := record.Decode([]byte{v}, &r); !errors.Is(err, record.ErrVersion) {
			t.Errorf("lone version byte %d: got %v, want ErrVersion", v, err)
		}
	}
}

func TestDecodeRejectsEveryTruncation(t *testing.T) {
	for _, s := range samples {
		valid := record.Append(nil, s.new())
		var r record.Record
		for n := range len(valid) {
			// A copy of exactly n bytes, so that reading past it cannot go unnoticed.
			err := record.Decode(bytes.Clone(valid[:n]), &r)
			if !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("%s truncated to %d of %d bytes: got %v, want ErrCorrupt", s.name, n, len(valid), err)
			}
		}
	}
}

func TestDecodeRejectsTrailingBytes(t *testing.T) {
	for _, s := range samples {
		for _, extra := range [][]byte{{0}, {1, 2, 3}, record.Append(nil, s.new())} {
			b := append(record.Append(nil, s.new()), extra...)
			var r record.Record
			if err := record.Decode(b, &r); !errors.Is(err, record.ErrCorrupt) {
				t.Errorf("%s with %d trailing bytes: got %v, want ErrCorrupt", s.name, len(extra), err)
			}
		}
	}
}

func TestDecodeRejectsUnknownSignal(t *testing.T) {
	for _, sig := range []byte{0, 4, 0xff} {
		b := record.Append(nil, logWithTrace())
		b[offSignal] = sig
		var r record.Record
		if err := record.Decode(b, &r); !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("signal %d: got %v, want ErrCorrupt", sig, err)
		}
	}
	// A record whose signal is unset does not decode either.
	var r record.Record
	if err := record.Decode(record.Append(nil, &record.Record{Tenant: "t"}), &r); !errors.Is(err, record.ErrCorrupt) {
		t.Errorf("zero signal: got %v, want ErrCorrupt", err)
	}
}

func TestDecodeRejectsUnknownFlags(t *testing.T) {
	for bit := 4; bit < 8; bit++ {
		b := record.Append(nil, metricGauge())
		b[offFlags] |= 1 << bit
		var r record.Record
		if err := record.Decode(b, &r); !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("flag bit %d: got %v, want ErrCorrupt", bit, err)
		}
	}
}

func TestDecodeRejectsOverlongUvarint(t *testing.T) {
	b := record.Append(nil, metricGauge())[:headerSize]
	// A tenant length of 2^64 and more: eleven continuation bytes, and a tenth byte above 1.
	for _, v := range [][]byte{
		bytes.Repeat([]byte{0xff}, 11),
		append(bytes.Repeat([]byte{0xff}, 9), 0x02),
	} {
		var r record.Record
		if err := record.Decode(append(bytes.Clone(b), v...), &r); !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("uvarint %x: got %v, want ErrCorrupt", v, err)
		}
	}
}

// hugeCounts returns records, by name, whose one length or count claims more than the input holds.
func hugeCounts() map[string][]byte {
	header := func(sig record.Signal, flags byte) []byte {
		b := make([]byte, headerSize)
		b[0], b[offSignal], b[offFlags] = record.Version, byte(sig), flags
		return b
	}
	huge := binary.AppendUvarint(nil, 1<<62)
	justOver := func(fill int) []byte { // a count one above what the remaining bytes can hold
		return append(binary.AppendUvarint(nil, uint64(fill/2+1)), make([]byte, fill)...)
	}
	cases := map[string][]byte{}
	tail := bytes.Repeat([]byte{0}, 64)
	cases["string length"] = append(append(header(record.SignalLog, 0), huge...), tail...)
	cases["attribute count"] = append(append(header(record.SignalLog, 0), 0, 0, 0, 0), append(huge, tail...)...)
	cases["attribute count just over"] = append(append(header(record.SignalLog, 0), 0, 0, 0, 0), justOver(1000)...)
	cases["resource count"] = append(append(header(record.SignalLog, 0), 0, 0, 0, 0, 0), append(huge, tail...)...)
	metric := append(header(record.SignalMetric, 1<<1), 0, 0, 0, 0, 0, 0, byte(record.MetricHistogram), 0)
	metric = append(metric, make([]byte, 8)...) // value
	metric = append(metric, 0)                  // count
	metric = append(metric, make([]byte, 8)...) // sum
	cases["bucket count"] = append(bytes.Clone(metric), append(huge, tail...)...)
	cases["bucket count just over"] = append(bytes.Clone(metric), append(binary.AppendUvarint(nil, 1000/9+1), make([]byte, 1000)...)...)
	cases["quantile count"] = append(append(bytes.Clone(metric), 0), append(huge, tail...)...)
	return cases
}

func TestDecodeRejectsHugeCountsWithoutHugeAllocations(t *testing.T) {
	for name, b := range hugeCounts() {
		var r record.Record
		if err := record.Decode(b, &r); !errors.Is(err, record.ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
			continue
		}
		var before, after runtime.MemStats
		const runs = 20
		runtime.ReadMemStats(&before)
		for range runs {
			_ = record.Decode(b, &r)
		}
		runtime.ReadMemStats(&after)
		// The copy of the input plus the error, and the items really present.
		if perRun, bound := (after.TotalAlloc-before.TotalAlloc)/runs, uint64(32*len(b)+1024); perRun > bound {
			t.Errorf("%s: Decode of %d bytes allocated %d bytes, more than %d", name, len(b), perRun, bound)
		}
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts survives a round
// trip. Decode accepts non-canonical input (overlong uvarints), so the round trip compares
// decoded records, and requires the canonical re-encoding to be a fixed point.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		var r record.Record
		err := record.Decode(b, &r)
		if !bytes.Equal(b, in) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if !errors.Is(err, record.ErrCorrupt) && !errors.Is(err, record.ErrVersion) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrVersion", err)
			}
			return
		}
		enc := record.Append(nil, &r)
		if len(enc) > len(b) {
			t.Fatalf("re-encoding of %d bytes is longer than the %d decoded", len(enc), len(b))
		}
		var r2 record.Record
		if err := record.Decode(enc, &r2); err != nil {
			t.Fatalf("Decode of re-encoded record: %v", err)
		}
		checkEqual(t, &r2, &r)
		if enc2 := record.Append(nil, &r2); !bytes.Equal(enc2, enc) {
			t.Fatalf("re-encoding is not a fixed point\n%x\n%x", enc, enc2)
		}
		// Decoding into a used record gives the same result as into a fresh one.
		used := metricHistogram()
		used.Attributes = append(used.Attributes, logWithTrace().Attributes...)
		if err := record.Decode(b, used); err != nil {
			t.Fatalf("Decode into a used record: %v", err)
		}
		checkEqual(t, used, &r)
	})
}

// TestWriteFuzzCorpus rewrites the seed corpus of FuzzDecode and FuzzFrames under -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("only with -update")
	}
	write := func(fuzzer, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var bld record.Builder
	bld.Reset("acme-prod", 1_700_000_005_000_000_000)
	for _, s := range samples {
		b := record.Append(nil, s.new())
		write("FuzzDecode", s.name, b)
		bld.Add(s.new())
	}
	log := record.Append(nil, logWithTrace())
	write("FuzzDecode", "corrupt_truncated", log[:len(log)-3])
	write("FuzzDecode", "corrupt_short_header", log[:20])
	badVersion := bytes.Clone(log)
	badVersion[0] = 2
	write("FuzzDecode", "corrupt_version", badVersion)
	write("FuzzDecode", "corrupt_trailing", append(bytes.Clone(log), 0))
	for name, b := range hugeCounts() {
		write("FuzzDecode", "corrupt_"+strings.ReplaceAll(name, " ", "_"), b)
	}

	data := bld.Batch().Data
	write("FuzzFrames", "batch_every_signal", data)
	write("FuzzFrames", "empty", nil)
	write("FuzzFrames", "corrupt_truncated_header", append(bytes.Clone(data), 1, 0))
	write("FuzzFrames", "corrupt_truncated_body", data[:len(data)-1])
	write("FuzzFrames", "corrupt_oversized", append(record.AppendFrame(nil, log), 0xff, 0xff, 0xff, 0xff, 0))
}

func TestIDFromStringUsesHexAndUUIDAsTheyAre(t *testing.T) {
	want := record.ID(mustHex("4bf92f3577b34da6a3ce929d0e0e4736"))
	for _, s := range []string{
		"4bf92f3577b34da6a3ce929d0e0e4736",
		"4BF92F3577B34DA6A3CE929D0E0E4736",
		"4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
		"4BF92F35-77B3-4DA6-A3CE-929D0E0E4736",
	} {
		for _, tenant := range []string{"a", "b"} {
			if got := record.IDFromString(tenant, s); got != want {
				t.Errorf("IDFromString(%q, %q) = %s, want %s", tenant, s, got, want)
			}
		}
	}
}

func TestIDFromStringHashesOtherStringsWithTenant(t *testing.T) {
	for _, s := range []string{
		"",
		"order-42",
		"00000000000000000000000000000000",     // all zero: "not set", so hashed
		"00000000-0000-0000-0000-000000000000", // the nil UUID
		"4bf92f3577b34da6a3ce929d0e0e473",      // 31 digits
		"4bf92f3577b34da6a3ce929d0e0e47360",    // 33 digits
		"4bf92f3577b34da6a3ce929d0e0e473g",     // not hex
		"4bf92f35-77b3-4da6-a3ce-929d0e0e473g", // not hex
		"4bf92f35x77b3-4da6-a3ce-929d0e0e4736", // not a UUID
		"4bf92f35-77b3-4da6-a3ce-929d0e0e47-6", // a dash where a digit belongs
		" 4bf92f3577b34da6a3ce929d0e0e4736",
		"🚀🚀🚀🚀🚀🚀🚀🚀", // 32 bytes, not hex
		strings.Repeat("long-id-", 40),
	} {
		a := record.IDFromString("tenant-a", s)
		if a.IsZero() {
			t.Errorf("IDFromString(%q) is zero", s)
		}
		if again := record.IDFromString("tenant-a", s); again != a {
			t.Errorf("IDFromString(%q) is not deterministic: %s then %s", s, a, again)
		}
		if b := record.IDFromString("tenant-b", s); b == a {
			t.Errorf("IDFromString(%q) does not depend on the tenant: %s for both", s, a)
		}
		if len(s) == 32 {
			if raw, err := hex.DecodeString(s); err == nil && record.ID(raw) == a {
				t.Errorf("IDFromString(%q) used the digits as they are", s)
			}
		}
	}
	// The tenant and the given id are hashed as a pair, not as one concatenated string.
	if record.IDFromString("ab", "c") == record.IDFromString("a", "bc") {
		t.Error("IDFromString confuses tenant ab, id c with tenant a, id bc")
	}
}

func TestIDFromStringIsStable(t *testing.T) {
	// Hashed ids deduplicate retries across deployments: the hash must never change.
	for _, c := range []struct{ tenant, s, want string }{
		{"acme-prod", "order-42", "fd3172fc46e0900042ed460387b24d58"},
		{"acme-prod", "00000000000000000000000000000000", "263b77dca167f385174946faa90e3e76"},
		{"t", "", "ca89f11ddfbffebf7e383032574f3204"},
		{"acme-prod", "a-client-generated-event-identifier-that-is-long", "f3051467be41fd0cbd77fb47df301b46"},
	} {
		if got := record.IDFromString(c.tenant, c.s).String(); got != c.want {
			t.Errorf("IDFromString(%q, %q) = %s, want %s", c.tenant, c.s, got, c.want)
		}
	}
}

func TestIDFromStringDoesNotAllocate(t *testing.T) {
	for _, s := range []string{
		"4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736", "order-42",
		"a-client-generated-event-identifier-that-is-long",
	} {
		if n := testing.AllocsPerRun(100, func() { record.IDFromString("acme-prod", s) }); n != 0 {
			t.Errorf("IDFromString(%q) allocates %v times", s, n)
		}
	}
}

// FuzzIDFromString checks that any given id maps to a set, stable ID, and that ids in hex or
// UUID form are used as they are.
func FuzzIDFromString(f *testing.F) {
	for _, s := range []string{"", "order-42", "4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
		"00000000000000000000000000000000"} {
		f.Add("acme-prod", s)
	}
	f.Fuzz(func(t *testing.T, tenant, s string) {
		id := record.IDFromString(tenant, s)
		if id.IsZero() {
			t.Fatalf("IDFromString(%q, %q) is zero", tenant, s)
		}
		if again := record.IDFromString(tenant, s); again != id {
			t.Fatalf("IDFromString(%q, %q) is not deterministic", tenant, s)
		}
		digits := s
		if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
			digits = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
		}
		if raw, err := hex.DecodeString(digits); err == nil && len(raw) == 16 && !record.ID(raw).IsZero() && record.ID(raw) != id {
			t.Fatalf("IDFromString(%q, %q) = %s, want the digits as they are", tenant, s, id)
		}
	})
}
