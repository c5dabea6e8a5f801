package normalizer

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ingestdev/ingest/record/recordtest"
)

// Tests of the in-place protobuf logs decoder (otlp_logs_wire.go) against pdata.

// wireParityConfigs are the limits the parity check runs under: the defaults, and tight ones
// that make the emitter's own rejections (and the 413) happen.
var wireParityConfigs = []Config{
	{},
	{MaxEventsPerRequest: 4, MaxAttributes: 3, MaxAttributeKeyBytes: 8, MaxAttributeValueBytes: 24, MaxNameBytes: 8, MaxLogBodyBytes: 24, MaxRecordBytes: 400},
}

// decodeOTLPLogsWireOnly is decodeOTLPLogs for a protobuf body without the fallback to pdata:
// a body the first pass finds malformed is refused with a message of its own.
func decodeOTLPLogsWireOnly(body []byte, e *emitter) error {
	if err := checkNesting(msgLogsRequest, body, otlpProto); err != nil {
		return err
	}
	n, st := wireCountLogs(body)
	switch st {
	case wireMalformed:
		return errMalformed("cannot decode OTLP logs protobuf (wire)")
	case wireTooDeep:
		return errTooDeep()
	}
	if n > e.cfg.MaxEventsPerRequest {
		return errTooManyEvents(n, e.cfg.MaxEventsPerRequest)
	}
	if st := decodeOTLPLogsWire(body, e); st != wireOK {
		return fmt.Errorf("the conversion finds fault %d in a body the first pass accepts", st)
	}
	return nil
}

// wireParity is the outcome of one decoder on one body.
type wireParity struct {
	err  error
	data []byte
	rej  []Rejection
	acc  [4]int
	by   map[Reason]int
}

func runLogsDecoder(cfg Config, body []byte, decode func([]byte, *emitter) error) wireParity {
	e := newTestEmitter(cfg)
	err := decode(body, e)
	by := map[Reason]int{}
	for k, v := range e.rejectedBy {
		by[k] = v
	}
	return wireParity{err, bytes.Clone(e.batch.Batch().Data), slices.Clone(e.rejections), e.acceptedBy, by}
}

// checkLogsWireParity checks that the in-place decoder, alone and as the production path,
// gives body the outcome pdata gives it. It reports whether pdata accepted the body.
func checkLogsWireParity(t *testing.T, body []byte) bool {
	t.Helper()
	if checkNesting(msgLogsRequest, body, otlpProto) == nil {
		if _, st := wireCountLogs(body); st == wireTooDeep {
			// Nested too deep along a path the guard does not walk: refused, unlike pdata (see
			// wireTooDeep and TestOTLPLogsWireBoundsTheNesting).
			e := newTestEmitter(Config{})
			var re *requestError
			if err := decodeOTLPLogs(body, otlpProto, e); !errors.As(err, &re) || re.reason != ReasonMalformed || e.accepted()+e.rejected() != 0 {
				t.Fatalf("too deep: err %v, %d accepted, %d rejected", err, e.accepted(), e.rejected())
			}
			return false
		}
	}
	if checkNesting(msgLogsRequest, body, otlpProto) == nil {
		// The two checks of the decoder agree: the first pass (wireCountLogs, for bodies over the
		// limit) and the conversion (for all others), whose verdict production hides behind the
		// fallback to pdata.
		_, st := wireCountLogs(body)
		if conv := decodeOTLPLogsWire(body, newTestEmitter(Config{})); (conv == wireOK) != (st == wireOK) {
			t.Fatalf("the first pass says %d, the conversion %d", st, conv)
		}
		if n, ok := wireCountShallow(body); ok && st == wireOK {
			if m, _ := wireCountLogs(body); m != n {
				t.Fatalf("shallow count %d, full count %d", n, m)
			}
		} else if st == wireOK {
			t.Fatalf("the shallow count refuses a body the first pass accepts")
		}
	}
	accepted := false
	for ci, cfg := range wireParityConfigs {
		want := runLogsDecoder(cfg, body, func(b []byte, e *emitter) error { return decodeOTLPLogsPdata(b, otlpProto, e) })
		wire := runLogsDecoder(cfg, body, decodeOTLPLogsWireOnly)
		prod := runLogsDecoder(cfg, body, func(b []byte, e *emitter) error { return decodeOTLPLogs(b, otlpProto, e) })
		// The wire decoder alone: the same class of refusal (its own message for a malformed
		// body, which production replaces with pdata's), or the same records and rejections.
		compareWireParity(t, fmt.Sprintf("config %d, wire decoder", ci), want, wire, false)
		// Production: identical in every respect, messages included.
		compareWireParity(t, fmt.Sprintf("config %d, decodeOTLPLogs", ci), want, prod, true)
		if want.err == nil {
			accepted = true
		}
	}
	return accepted
}

func compareWireParity(t *testing.T, what string, want, got wireParity, sameMessage bool) {
	t.Helper()
	if (want.err == nil) != (got.err == nil) {
		t.Fatalf("%s: err = %v, pdata: %v", what, got.err, want.err)
	}
	if want.err != nil {
		var wre, gre *requestError
		if !errors.As(want.err, &wre) || !errors.As(got.err, &gre) {
			t.Fatalf("%s: errors are not *requestError: %v / pdata %v", what, got.err, want.err)
		}
		if wre.reason != gre.reason || wre.status() != gre.status() {
			t.Fatalf("%s: refused with %v, pdata with %v", what, got.err, want.err)
		}
		if (sameMessage || wre.reason != ReasonMalformed) && wre.msg != gre.msg {
			t.Fatalf("%s: message %q, pdata %q", what, gre.msg, wre.msg)
		}
		if len(got.data) != len(newTestEmitter(Config{}).batch.Batch().Data) || len(got.rej) != 0 {
			t.Fatalf("%s: refused after emitting events", what)
		}
		return
	}
	if !slices.Equal(want.rej, got.rej) {
		t.Fatalf("%s: rejections\n%+v\npdata:\n%+v", what, got.rej, want.rej)
	}
	if !bytes.Equal(want.data, got.data) {
		gr, _ := recordtest.JSON(got.data)
		wr, _ := recordtest.JSON(want.data)
		t.Fatalf("%s: records differ\n%s\npdata:\n%s", what, gr, wr)
	}
	if want.acc != got.acc || !mapsEqual(want.by, got.by) {
		t.Fatalf("%s: counts %v %v, pdata %v %v", what, got.acc, got.by, want.acc, want.by)
	}
}

func mapsEqual(a, b map[Reason]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// FuzzOTLPLogsWireParity checks, on every body, that the in-place protobuf logs decoder gives
// the outcome of the pdata decoder: the same refusal, or the same records (byte for byte) and
// rejections. Seed corpus: testdata/fuzz/FuzzOTLPLogsWireParity (rewrite the hand-made seeds
// with -update), plus the fixtures and the corpus of FuzzOTLPProto.
func FuzzOTLPLogsWireParity(f *testing.F) {
	for _, s := range wireParitySeeds(f) {
		f.Add(s.body)
	}
	for _, b := range readFuzzCorpus(f, filepath.Join("testdata", "fuzz", "FuzzOTLPProto")) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkLogsWireParity(t, body)
	})
}

// readFuzzCorpus returns the []byte inputs of the corpus files in dir.
func readFuzzCorpus(t testing.TB, dir string) [][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, ent := range entries {
		data, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			continue
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", ent.Name(), err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// Protobuf builders for hand-made bodies.

func pbTag(num uint64, wt protowire.Type) []byte {
	return protowire.AppendVarint(nil, num<<3|uint64(wt))
}

func pbMsg(num uint64, parts ...[]byte) []byte {
	return protowire.AppendBytes(pbTag(num, protowire.BytesType), slices.Concat(parts...))
}

func pbStr(num uint64, s string) []byte {
	return protowire.AppendString(pbTag(num, protowire.BytesType), s)
}

func pbVarint(num, v uint64) []byte {
	return protowire.AppendVarint(pbTag(num, protowire.VarintType), v)
}

func pbFixed64(num, v uint64) []byte {
	return protowire.AppendFixed64(pbTag(num, protowire.Fixed64Type), v)
}

func pbFixed32(num uint64, v uint32) []byte {
	return protowire.AppendFixed32(pbTag(num, protowire.Fixed32Type), v)
}

func pbDouble(num uint64, f float64) []byte { return pbFixed64(num, math.Float64bits(f)) }

// Field helpers named after OTLP.
func pbRequest(rls ...[]byte) []byte        { return slices.Concat(rls...) }
func pbResourceLogs(parts ...[]byte) []byte { return pbMsg(1, parts...) }
func pbResource(attrs ...[]byte) []byte     { return pbMsg(1, attrs...) }
func pbScopeLogs(parts ...[]byte) []byte    { return pbMsg(2, parts...) }
func pbScope(name string) []byte            { return pbMsg(1, pbStr(1, name)) }
func pbLogRecord(parts ...[]byte) []byte    { return pbMsg(2, parts...) }
func pbTime(d time.Duration) []byte         { return pbFixed64(1, uint64(testNow.Add(-d).UnixNano())) }
func pbBody(v ...[]byte) []byte             { return pbMsg(5, v...) }
func pbAttr(k string, v ...[]byte) []byte   { return pbMsg(6, pbStr(1, k), pbMsg(2, v...)) }
func pbKV(num uint64, k string, v ...[]byte) []byte {
	return pbMsg(num, pbStr(1, k), pbMsg(2, v...))
}
func avStr(s string) []byte     { return pbStr(1, s) }
func avBool(b bool) []byte      { return pbVarint(2, map[bool]uint64{false: 0, true: 1}[b]) }
func avInt(i int64) []byte      { return pbVarint(3, uint64(i)) }
func avDouble(f float64) []byte { return pbDouble(4, f) }
func avArray(vs ...[]byte) []byte {
	var parts [][]byte
	for _, v := range vs {
		parts = append(parts, pbMsg(1, v))
	}
	return pbMsg(5, parts...)
}
func avKvlist(kvs ...[]byte) []byte { return pbMsg(6, kvs...) } // kvs built with pbKV(1, ...)
func avBytes(b string) []byte       { return pbStr(7, b) }

type wireSeed struct {
	name string
	body []byte
}

// wireParitySeeds returns hand-made bodies for the edges of the wire format and of the mapping,
// and the fixtures.
func wireParitySeeds(t testing.TB) []wireSeed {
	ts := pbTime(time.Minute)
	rec := func(parts ...[]byte) []byte {
		return pbRequest(pbResourceLogs(pbResource(pbKV(1, "service.name", avStr("svc"))), pbScopeLogs(pbScope("scope"), pbLogRecord(parts...))))
	}
	tid := strings.Repeat("\x01", 16)
	sid := strings.Repeat("\x02", 8)
	big := func(n int) []byte { // a varint of n bytes holding 1, with padding bits
		b := make([]byte, n)
		for i := range b {
			b[i] = 0x80
		}
		b[0] = 0x81
		b[n-1] = 0x7f
		return b
	}
	seeds := []wireSeed{
		{"empty", nil},
		{"empty-resource-logs", pbRequest(pbResourceLogs())},
		{"empty-scope-logs", pbRequest(pbResourceLogs(pbScopeLogs()))},
		{"empty-log-record", rec()},
		{"minimal", rec(ts)},
		{"observed-only", rec(pbFixed64(11, uint64(testNow.Add(-time.Second).UnixNano())))},
		{"time-beyond-int64", rec(pbFixed64(1, math.MaxUint64))},
		{"observed-beyond-int64", rec(pbFixed64(11, 1<<63))},
		{"time-too-old", rec(pbFixed64(1, 1))},
		{"duplicate-scalars", rec(ts, pbVarint(2, 9), pbStr(3, "INFO"), pbStr(12, "a"), pbTime(2*time.Minute), pbVarint(2, 17), pbStr(3, "ERROR"), pbStr(12, "b"))},
		{"severity-25", rec(ts, pbVarint(2, 25))},
		{"severity-minus-1", rec(ts, pbVarint(2, math.MaxUint64))},
		{"severity-wraps-32", rec(ts, pbVarint(2, 1<<32|5))},
		{"severity-wraps-negative", rec(ts, pbVarint(2, 1<<31))},
		{"body-string", rec(ts, pbBody(avStr("hello")))},
		{"body-kinds-last-wins", rec(ts, pbBody(avStr("s"), avInt(-3), avDouble(2.5)))},
		{"body-merged", rec(ts, pbBody(avStr("first")), pbBody(), pbBody(pbVarint(99, 1)))},
		{"body-merged-replaced", rec(ts, pbBody(avKvlist(pbKV(1, "a", avInt(1)))), pbBody(avArray(avBool(true))))},
		{"body-empty-values", rec(ts, pbBody(avStr("")), pbAttr("b", avBytes("")), pbAttr("e"), pbAttr("s", avStr("")))},
		{"body-bool", rec(ts, pbBody(pbVarint(2, 2)))},
		{"body-strindex", rec(ts, pbBody(avStr("x"), pbVarint(8, 3)), pbAttr("k", pbVarint(8, 1)))},
		{"doubles", rec(ts, pbBody(avArray(avDouble(math.NaN()), avDouble(math.Inf(1)), avDouble(math.Inf(-1)), avDouble(math.Copysign(0, -1)), avDouble(1e21), avDouble(1<<53), avDouble(0.1), avDouble(-2))),
			pbAttr("nan", avDouble(math.NaN())), pbAttr("inf", avDouble(math.Inf(-1))), pbAttr("negzero", avDouble(math.Copysign(0, -1))), pbAttr("big", avDouble(1<<53)))},
		{"bytes", rec(ts, pbBody(avBytes("\x00\x01\x02\xff")), pbAttr("b", avBytes("hello")), pbAttr("arr", avArray(avBytes(""), avBytes("a"))))},
		{"kvlist-array-nested", rec(ts, pbBody(avKvlist(pbKV(1, "a", avArray(avInt(1), avKvlist(pbKV(1, "x", avStr("q\"\n\x01\xff")), pbKV(1, "x", avDouble(1.5))), avArray(), pbMsg(1))), pbKV(1, "", avKvlist()), pbMsg(1))))},
		{"array-elem-merge", rec(ts, pbBody(pbMsg(5, pbMsg(1, avStr("a"), avInt(7)), pbMsg(1), pbStr(2, "ignored"), pbMsg(1, avBool(false)))))},
		{"kv-merge", rec(ts, pbMsg(6, pbStr(1, "k1"), pbMsg(2, avStr("v1")), pbStr(1, "k2"), pbMsg(2), pbVarint(3, 4)), pbMsg(6, pbMsg(2, avInt(5)), pbMsg(2, pbVarint(77, 1))))},
		{"duplicate-attr-keys", rec(ts, pbAttr("k", avStr("1")), pbAttr("k", avStr("2")), pbAttr("k", avInt(3)))},
		{"invalid-utf8", rec(ts, pbStr(3, "\xff\xfe"), pbStr(12, "\xc0"), pbBody(avStr("\xffbody")), pbAttr("\xff", avStr("\xfe")), pbAttr("j", avArray(avStr("\xff\u2028"))))},
		{"trace", rec(ts, pbStr(9, tid), pbStr(10, sid), pbFixed32(8, 1))},
		{"trace-zero-span-set", rec(ts, pbStr(9, strings.Repeat("\x00", 16)), pbStr(10, sid))},
		{"trace-then-empty", rec(ts, pbStr(9, tid), pbStr(10, sid), pbStr(9, ""), pbStr(10, ""))},
		{"trace-only", rec(ts, pbStr(9, tid))},
		{"trace-15", rec(ts, pbStr(9, tid[:15]))},
		{"trace-17", rec(ts, pbStr(9, tid+"x"))},
		{"span-7", rec(ts, pbStr(9, tid), pbStr(10, sid[:7]))},
		{"span-9", rec(ts, pbStr(10, sid+"x"))},
		{"resource-merged", pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts)), pbResource(pbKV(1, "a", avStr("1"))), pbMsg(1, pbVarint(2, 3)), pbResource(pbKV(1, "b", avInt(2)), pbKV(1, "a", avStr("3")))))},
		{"resource-entity-refs", pbRequest(pbResourceLogs(pbMsg(1, pbMsg(3, pbStr(1, "u"), pbStr(2, "t"), pbStr(3, "k1"), pbStr(3, "k2"), pbStr(4, "d"), pbVarint(9, 1))), pbScopeLogs(pbLogRecord(ts))))},
		{"entity-ref-wrong-type", pbRequest(pbResourceLogs(pbMsg(1, pbMsg(3, pbVarint(3, 1))), pbScopeLogs(pbLogRecord(ts))))},
		{"scope-merged", pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts), pbScope("a"), pbMsg(1, pbStr(2, "v1"), pbMsg(3, pbStr(1, "k")), pbVarint(4, 1)), pbScope("b"), pbMsg(1), pbLogRecord(ts))))},
		{"scope-name-twice", pbRequest(pbResourceLogs(pbScopeLogs(pbMsg(1, pbStr(1, "x"), pbStr(1, "y")), pbLogRecord(ts))))},
		{"scopes-and-resources", pbRequest(
			pbResourceLogs(pbResource(pbKV(1, "r", avStr("1"))), pbScopeLogs(pbScope("s1"), pbLogRecord(ts), pbLogRecord()), pbScopeLogs(pbLogRecord(ts)), pbStr(3, "schema")),
			pbResourceLogs(pbScopeLogs(pbScope("s2"), pbLogRecord(ts, pbVarint(2, 30)), pbLogRecord(ts)), pbResource(pbKV(1, "r", avStr("2")))),
		)},
		{"deprecated-scope-logs", pbRequest(pbResourceLogs(pbResource(pbKV(1, "r", avStr("1"))), pbMsg(1000, pbScope("old"), pbLogRecord(ts), pbLogRecord(ts))))},
		{"deprecated-and-current", pbRequest(pbResourceLogs(pbMsg(1000, pbScope("old"), pbLogRecord(ts)), pbScopeLogs(pbScope("new"), pbLogRecord(ts))))},
		{"deprecated-with-empty-current", pbRequest(pbResourceLogs(pbMsg(1000, pbLogRecord(ts)), pbScopeLogs()))},
		{"deprecated-malformed", pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts)), pbMsg(1000, pbLogRecord(pbVarint(1, 1)))))},
		{"unknown-fields", rec(ts, pbVarint(100, 1), pbFixed32(101, 1), pbFixed64(102, 1), pbStr(103, "x"), pbTag(104, protowire.StartGroupType), pbTag(104, protowire.EndGroupType), pbVarint(4, 1))},
		{"unknown-fields-everywhere", append(pbRequest(pbResourceLogs(pbVarint(7, 1), pbResource(pbVarint(9, 1), pbKV(1, "k", avStr("v"), pbFixed32(9, 1)), pbStr(9, "x")), pbScopeLogs(pbFixed64(9, 1), pbScope("s"), pbLogRecord(ts, pbStr(99, "z"))))), pbVarint(2, 5)...)},
		{"group-with-varint", rec(ts, pbTag(100, protowire.StartGroupType), pbVarint(1, 1), pbTag(100, protowire.EndGroupType))},
		{"group-nested", rec(ts, pbTag(100, protowire.StartGroupType), pbTag(101, protowire.StartGroupType), pbTag(101, protowire.EndGroupType), pbTag(100, protowire.EndGroupType))},
		{"group-end-alone", rec(ts, pbTag(100, protowire.EndGroupType))},
		{"group-at-end", append(rec(ts), pbTag(100, protowire.StartGroupType)...)},
		{"group-end-at-end", append(rec(ts), slices.Concat(pbTag(100, protowire.StartGroupType), pbTag(100, protowire.EndGroupType))...)},
		{"wire-type-6", append(rec(ts), pbTag(100, 6)...)},
		{"wrong-wire-time", rec(pbVarint(1, 5))},
		{"wrong-wire-severity", rec(ts, pbFixed32(2, 5))},
		{"wrong-wire-body", rec(ts, pbVarint(5, 1))},
		{"wrong-wire-attr-value", rec(ts, pbMsg(6, pbStr(1, "k"), pbVarint(2, 1)))},
		{"wrong-wire-anyvalue-int", rec(ts, pbBody(pbStr(3, "x")))},
		{"wrong-wire-resource", pbRequest(pbResourceLogs(pbVarint(1, 1)))},
		{"wrong-wire-request", pbVarint(1, 1)},
		{"field-zero", rec(ts, pbVarint(0, 1))},
		{"field-wraps-to-1", pbRequest(slices.Concat(protowire.AppendVarint(nil, (1<<32|1)<<3|2), protowire.AppendBytes(nil, pbScopeLogs(pbLogRecord(ts)))))},
		{"field-wraps-negative", rec(ts, protowire.AppendVarint(nil, (1<<31)<<3) /* wire type 0 */, []byte{1})},
		{"varint-10-bytes-padding", rec(ts, pbTag(2, protowire.VarintType), big(10))},
		{"varint-11-bytes", rec(ts, pbTag(2, protowire.VarintType), big(11))},
		{"length-10-bytes", slices.Concat(pbTag(1, protowire.BytesType), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})},
		{"length-beyond", []byte("\x0a\xff\xff\xff\xff\x0f")},
		{"bad-tag", []byte{0xff}},
		{"truncated-fixed64", rec(ts, pbTag(11, protowire.Fixed64Type), []byte{1, 2, 3})},
		{"many-records", pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts), pbLogRecord(ts), pbLogRecord(ts), pbLogRecord(ts), pbLogRecord(ts))))},
		{"limits", rec(ts, pbStr(12, "a-long-event-name"), pbBody(avStr(strings.Repeat("b", 40))), pbAttr("a-long-key-name", avStr("v")), pbAttr("k", avStr(strings.Repeat("v", 30))))},
		{"too-many-attrs", rec(ts, pbAttr("a", avInt(1)), pbAttr("b", avInt(2)), pbAttr("c", avInt(3)), pbAttr("d", avInt(4)))},
	}
	// Every truncation of a record with everything in it.
	full := rec(ts, pbFixed64(11, 5), pbVarint(2, 9), pbStr(3, "INFO"), pbBody(avKvlist(pbKV(1, "a", avDouble(1.5)))), pbAttr("k", avBytes("xy")), pbVarint(7, 1), pbFixed32(8, 1), pbStr(9, tid), pbStr(10, sid), pbStr(12, "ev"))
	seeds = append(seeds, wireSeed{"full", full})
	for _, n := range []int{1, 2, 7, len(full) / 2, len(full) - 1} {
		seeds = append(seeds, wireSeed{fmt.Sprintf("full-cut-%d", n), full[:n]})
	}
	fixture, err := os.ReadFile(otlpFixturePath("logs", otlpProto)) // not otlpFixture, which -update rewrites
	if err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds,
		wireSeed{"fixture-logs", fixture},
		wireSeed{"bench-logs-20", marshalOTLP(t, logsPayload(benchOTLPLogs(20)), otlpProto)},
	)
	return seeds
}

func TestOTLPLogsWireParityCases(t *testing.T) {
	for _, s := range wireParitySeeds(t) {
		t.Run(s.name, func(t *testing.T) {
			checkLogsWireParity(t, s.body)
		})
	}
	for i, b := range readFuzzCorpus(t, filepath.Join("testdata", "fuzz", "FuzzOTLPProto")) {
		t.Run(fmt.Sprintf("FuzzOTLPProto-%d", i), func(t *testing.T) { checkLogsWireParity(t, b) })
	}
}

// TestOTLPLogsWireEdges pins the pdata behaviours that the parity rests on, so that a pdata
// upgrade that changes one is noticed here and not only by the fuzzer.
func TestOTLPLogsWireEdges(t *testing.T) {
	seeds := map[string][]byte{}
	for _, s := range wireParitySeeds(t) {
		seeds[s.name] = s.body
	}
	accepted := func(name string) []string { // bodies and attributes of the accepted records
		t.Helper()
		e := newTestEmitter(Config{})
		if err := decodeOTLPLogs(seeds[name], otlpProto, e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var out []string
		for _, r := range decodedRecords(t, e) {
			s := r.Scope + "|" + r.Name + "|" + r.SeverityText + "|" + r.Body + "|" + strconv.FormatBool(r.HasTrace)
			for _, kv := range r.Resource {
				s += "|r:" + kv.Key + "=" + kv.Value
			}
			for _, kv := range r.Attributes {
				s += "|" + kv.Key + "=" + kv.Value
			}
			out = append(out, s)
		}
		return out
	}
	for name, want := range map[string][]string{
		"duplicate-scalars":      {"scope|b|ERROR||false|r:service.name=svc"},
		"body-merged":            {"scope|||first|false|r:service.name=svc"},
		"body-merged-replaced":   {"scope|||[true]|false|r:service.name=svc"},
		"body-strindex":          {"scope||||false|r:service.name=svc|k="},
		"kv-merge":               {"scope||||false|r:service.name=svc|k2=v1|=5"},
		"resource-merged":        {"||||false|r:a=1|r:b=2|r:a=3"},
		"scope-merged":           {"b||||false", "b||||false"},
		"deprecated-scope-logs":  {"old||||false|r:r=1", "old||||false|r:r=1"},
		"deprecated-and-current": {"new||||false"},
		"trace-then-empty":       {"scope||||false|r:service.name=svc"},
		"field-wraps-to-1":       {"||||false"},
		"array-elem-merge":       {`scope|||[7,null,false]|false|r:service.name=svc`},
	} {
		if got := accepted(name); !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"trace-15", "trace-17", "span-7", "span-9", "deprecated-malformed", "entity-ref-wrong-type", "group-with-varint", "varint-11-bytes", "field-zero", "wire-type-6"} {
		if _, st := wireCountLogs(seeds[name]); st != wireMalformed {
			t.Errorf("%s: the wire decoder accepts what pdata refuses", name)
		}
	}
	if _, st := wireCountLogs(seeds["varint-10-bytes-padding"]); st != wireOK {
		t.Errorf("varint-10-bytes-padding: pdata accepts a 10-byte varint with bits beyond 64")
	}
}

// TestOTLPLogsWireSeedCorpus writes the hand-made seeds to testdata/fuzz/FuzzOTLPLogsWireParity
// when -update is set.
func TestOTLPLogsWireSeedCorpus(t *testing.T) {
	if !*update {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOTLPLogsWireParity")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range wireParitySeeds(t) {
		data := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s.body)
		if err := os.WriteFile(filepath.Join(dir, s.name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOTLPLogsWireAllocs checks that decoding a request of 500 log records allocates nothing
// per record once the scratch space has grown, beyond what the emitter itself allocates; the
// pdata path allocates about 29 per record.
func TestOTLPLogsWireAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	const n = 500
	body := marshalOTLP(t, logsPayload(benchOTLPLogs(n)), otlpProto)
	cfg := Config{}.withDefaults()
	e := newTestEmitter(cfg)
	measure := func(decode func([]byte, otlpFormat, *emitter) error) float64 {
		return testing.AllocsPerRun(5, func() {
			e.reset(&cfg, testTenant, testNow)
			if err := decode(body, otlpProto, e); err != nil || e.accepted() != n {
				t.Fatalf("err %v, accepted %d of %d", err, e.accepted(), n)
			}
		})
	}
	wire := measure(decodeOTLPLogs)
	pdata := measure(decodeOTLPLogsPdata)
	t.Logf("allocations per request of %d log records: in place %.0f, pdata %.0f", n, wire, pdata)
	if wire > 5 {
		t.Errorf("the in-place decoder allocates %.0f times per request of %d records (%.2f per record), want ~0", wire, n, wire/n)
	}
	if pdata < 10*n {
		t.Logf("pdata allocates less than expected: %.0f", pdata)
	}
}

// TestOTLPLogsWireBoundsTheNesting checks that bodies nested deeper than maxNesting along paths
// that pdata follows are refused, also where the nesting guard does not walk: after an unknown
// group (the guard stops walking the message there) and through a field number beyond 32 bits
// (pdata wraps it to a known field; the guard does not).
func TestOTLPLogsWireBoundsTheNesting(t *testing.T) {
	const levels = 2 * maxNesting
	nest := func(prefix []byte, kvlistValues []byte) []byte {
		v := avStr("leaf")
		for range levels {
			kv := slices.Concat(prefix, pbStr(1, "k"), pbMsg(2, v))
			v = pbMsg(6, slices.Concat(kvlistValues, protowire.AppendBytes(nil, kv)))
		}
		return v
	}
	group := slices.Concat(pbTag(100, protowire.StartGroupType), pbTag(100, protowire.EndGroupType))
	wrapped := protowire.AppendVarint(nil, (1<<32|1)<<3|2) // KeyValueList.values, wrapped
	ts := pbTime(time.Minute)
	for name, body := range map[string][]byte{
		"plain":   pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts, pbBody(nest(nil, protowire.AppendVarint(nil, 1<<3|2))))))),
		"group":   pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts, pbBody(nest(group, protowire.AppendVarint(nil, 1<<3|2))))))),
		"wrapped": pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts, pbBody(nest(nil, wrapped)))))),
	} {
		guard := checkNesting(msgLogsRequest, body, otlpProto)
		e := newTestEmitter(Config{})
		err := decodeOTLPLogs(body, otlpProto, e)
		var re *requestError
		if !errors.As(err, &re) || re.reason != ReasonMalformed || !strings.Contains(re.msg, "nests deeper") || e.accepted()+e.rejected() != 0 {
			t.Errorf("%s: err %v, %d accepted, %d rejected; want the nesting refused", name, err, e.accepted(), e.rejected())
		}
		t.Logf("%s: the nesting guard alone: %v", name, guard)
	}
}

// TestOTLPLogsWireEmitterInUse checks the path for an emitter that already holds an outcome
// (the server always passes a fresh one): the body is checked whole before anything is emitted,
// and the records are those of a fresh emitter.
func TestOTLPLogsWireEmitterInUse(t *testing.T) {
	for _, s := range wireParitySeeds(t) {
		fresh := runLogsDecoder(Config{}, s.body, func(b []byte, e *emitter) error { return decodeOTLPLogs(b, otlpProto, e) })
		e := newTestEmitter(Config{})
		e.reject(99, 0, ReasonMalformed, "earlier")
		err := decodeOTLPLogs(s.body, otlpProto, e)
		if (err == nil) != (fresh.err == nil) || (err != nil && err.Error() != fresh.err.Error()) {
			t.Fatalf("%s: err %v, with a fresh emitter %v", s.name, err, fresh.err)
		}
		if !bytes.Equal(e.batch.Batch().Data, fresh.data) || len(e.rejections) != len(fresh.rej)+1 || !slices.Equal(e.rejections[1:], fresh.rej) {
			t.Fatalf("%s: the outcome differs from a fresh emitter's", s.name)
		}
	}
}

// TestOTLPLogsWireBoundsEveryPathWithoutTheGuard nests a value 2×maxNesting deep at every place
// of a logs request where pdata unmarshals an AnyValue (resource, scope and record attributes,
// the body, and the deprecated scope list): the production path, which does not run the
// separate nesting guard, refuses each with the guard's error, and emits nothing.
func TestOTLPLogsWireBoundsEveryPathWithoutTheGuard(t *testing.T) {
	bodies := func(levels int) map[string][]byte {
		v := avStr("leaf")
		for range levels {
			v = pbMsg(5, pbMsg(1, v)) // AnyValue{array_value: ArrayValue{values: v}}
		}
		kv := slices.Concat(pbStr(1, "k"), pbMsg(2, v))
		ts := pbTime(time.Minute)
		record := pbLogRecord(ts, pbMsg(6, kv))
		return map[string][]byte{
			"record attribute":   pbRequest(pbResourceLogs(pbScopeLogs(record))),
			"body":               pbRequest(pbResourceLogs(pbScopeLogs(pbLogRecord(ts, pbBody(v))))),
			"resource attribute": pbRequest(pbResourceLogs(pbMsg(1, pbMsg(1, kv)), pbScopeLogs(pbLogRecord(ts)))),
			"scope attribute":    pbRequest(pbResourceLogs(pbScopeLogs(pbMsg(1, pbMsg(3, kv)), pbLogRecord(ts)))),
			"deprecated scopes":  pbRequest(pbResourceLogs(pbMsg(1000, record))),
		}
	}
	for name, body := range bodies(3) { // the bodies are sound: one record each
		if e := newTestEmitter(Config{}); decodeOTLPLogs(body, otlpProto, e) != nil || e.accepted() != 1 {
			t.Fatalf("%s, 3 levels: not one record accepted; the test body is wrong", name)
		}
	}
	for name, body := range bodies(2 * maxNesting) {
		e := newTestEmitter(Config{})
		err := decodeOTLPLogs(body, otlpProto, e)
		var re *requestError
		if !errors.As(err, &re) || !strings.Contains(re.msg, "nests deeper") || e.accepted()+e.rejected() != 0 {
			t.Errorf("%s: err %v, %d accepted, %d rejected; want the nesting refused", name, err, e.accepted(), e.rejected())
		}
	}
}
