package normalizer

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// nestedLogsProto builds an OTLP logs request with one log record whose attribute value is an
// array nested depth levels deep. Each level's content is only the next level, so the lengths
// are computed inside out and the headers written outside in: linear in depth.
func nestedLogsProto(depth int) []byte {
	msg := func(field protowire.Number, inner ...[]byte) []byte {
		var b []byte
		b = protowire.AppendTag(b, field, protowire.BytesType)
		return protowire.AppendBytes(b, bytes.Join(inner, nil))
	}
	innermost := msg(1, []byte("x")) // AnyValue{string_value: "x"}
	// Level i is AnyValue{array_value(5): ArrayValue{values(1): level i-1}}.
	arrayLen := make([]int, depth+1) // length of the ArrayValue of level i
	anyLen := make([]int, depth+1)   // length of the AnyValue of level i
	anyLen[0] = len(innermost)
	for i := 1; i <= depth; i++ {
		arrayLen[i] = 1 + protowire.SizeVarint(uint64(anyLen[i-1])) + anyLen[i-1]
		anyLen[i] = 1 + protowire.SizeVarint(uint64(arrayLen[i])) + arrayLen[i]
	}
	value := make([]byte, 0, anyLen[depth])
	for i := depth; i >= 1; i-- {
		value = protowire.AppendTag(value, 5, protowire.BytesType)
		value = protowire.AppendVarint(value, uint64(arrayLen[i]))
		value = protowire.AppendTag(value, 1, protowire.BytesType)
		value = protowire.AppendVarint(value, uint64(anyLen[i-1]))
	}
	value = append(value, innermost...)
	var ts []byte
	ts = protowire.AppendTag(ts, 1, protowire.Fixed64Type)
	ts = protowire.AppendFixed64(ts, uint64(testNow.Add(-time.Minute).UnixNano()))
	kv := append(msg(1, []byte("k")), msg(2, value)...) // KeyValue{key, value}
	logRecord := append(ts, msg(6, kv)...)              // LogRecord{time, attributes}
	return msg(1, msg(2, msg(2, logRecord)))            // Request{ResourceLogs{ScopeLogs{LogRecord}}}
}

func TestDeeplyNestedOTLPIsRefusedBeforeDecoding(t *testing.T) {
	e := newTestEmitter(Config{})
	if err := decodeOTLPLogs(nestedLogsProto(20), otlpProto, e); err != nil || e.accepted() != 1 {
		t.Fatalf("20 levels: err %v, accepted %d; want the record accepted", err, e.accepted())
	}
	for _, depth := range []int{60, 1_000_000} {
		start := time.Now()
		err := decodeOTLPLogs(nestedLogsProto(depth), otlpProto, newTestEmitter(Config{MaxDecompressedBytes: 64 << 20}))
		re, ok := err.(*requestError)
		if !ok || re.status != http.StatusBadRequest || !strings.Contains(re.msg, "nests deeper") {
			t.Errorf("%d levels: err %v, want 400 naming the nesting", depth, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%d levels took %s to refuse", depth, d)
		}
	}
}

func TestDeeplyNestedJSONIsRefused(t *testing.T) {
	ok := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"[[[[ not brackets"}}]}]}]}`
	if err := checkJSONNesting([]byte(ok)); err != nil {
		t.Errorf("brackets inside strings counted: %v", err)
	}
	deep := strings.Repeat(`{"arrayValue":{"values":[`, 40) + `{}` + strings.Repeat(`]}}`, 40)
	body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` + deep + `}]}]}]}`
	if err := decodeOTLPLogs([]byte(body), otlpJSON, newTestEmitter(Config{})); err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("120 levels of JSON: err %v, want refused", err)
	}
}
