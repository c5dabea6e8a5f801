package normalizer

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/valyala/fastjson"
)

// TestNDJSONScannerMatchesFastjson checks that decoding with the fast scanner gives the records
// and rejections of fastjson alone, on the fixtures, the benchmark body and lines at the edges
// of what the scanner takes; and that the scanner does take the common lines.
func TestNDJSONScannerMatchesFastjson(t *testing.T) {
	bodies := map[string][]byte{"bench": benchNDJSONBody(200)}
	paths, _ := filepath.Glob(filepath.Join("testdata", "ndjson", "*.ndjson"))
	for _, path := range paths {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bodies[filepath.Base(path)] = body
	}
	edges := []string{
		` { "type" : "log" , "body" : "x" } `,
		"{\"type\":\"log\",\"body\":\"x\"}\r",
		`{"type":"log","ts":"2026-11-21T11:59:00Z","body":"a\"b","attributes":{"k\u0041":"v\n"}}`,
		"{\"type\":\"log\",\"body\":\"tab\there\"}",
		`{"type":"log","ts":"2026-11-21T11:59:00Z","body":{"nested":[1,2.50,"x"]}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"a":{"b":1}},"resource":{"c":[1]}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{},"resource":{}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":null,"resource":{"a":null,"b":true,"c":false}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":"x"}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":[]}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"n":1.0,"m":-0,"e":1e3,"f":2.50,"g":1e400,"h":-1.5E-3}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"n":01}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"n":+1}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"n":NaN}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"n":-Inf}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"n":1.}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"a":1,"a":2}}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","type":"log"}`,
		`{"type":"log","ts":null,"ts":null}`,
		`{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":1e2,"unit":"ms","kind":"sum"}`,
		`{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":"1"}`,
		`{"type":"metric","ts":"2026-11-21T11:59:00Z","name":"m","value":1,"extra":{"x":1}}`,
		`{"type":"log","ts":1700000000.5,"ts_unit":"s"}`,
		`{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","duration":1.5e3}`,
		`{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","duration":-1}`,
		`{"type":"span","ts":"2026-11-21T11:59:00Z","name":"s","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","duration":true}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","severity":9}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","severity":"info","event_id":"e-1"}`,
		`{}`, `{ }`, `[]`, `"x"`, `1`, `null`, `{`, `{"type":"log"`, `{"type":"log","ts":"2026-11-21T11:59:00Z",}`, `{"type":"log","ts":"2026-11-21T11:59:00Z"}x`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z"}{}`, `{"type":"log" "body":"x"}`, `{"type":"log","ts":"2026-11-21T11:59:00Z","body":tru}`, `{"type":"log","ts":"2026-11-21T11:59:00Z","body":nul}`,
		`{"type":"log","ts":"2026-11-21T11:59:00Z","body":"unterminated}`, `{type:"log"}`, "{\"type\":\"log\",\"body\":\"\xff\xfe\"}",
		`{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"a":1,}}`, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"a" 1}}`, `{"type":"log","ts":"2026-11-21T11:59:00Z","attributes":{"a":1`,
	}
	bodies["edges"] = []byte(string(bytes.Join(func() [][]byte {
		var lines [][]byte
		for _, l := range edges {
			lines = append(lines, []byte(l))
		}
		return lines
	}(), []byte("\n"))))
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			var p fastjson.Parser
			cfg := DefaultConfig()
			with, without := newTestEmitter(cfg), newTestEmitter(cfg)
			if err := decodeNDJSONLines(&p, body, with, true); err != nil {
				t.Fatal(err)
			}
			if err := decodeNDJSONLines(&p, body, without, false); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(with.batch.Batch().Data, without.batch.Batch().Data) {
				t.Errorf("records differ")
			}
			if !slices.Equal(with.rejections, without.rejections) {
				t.Errorf("rejections differ:\nwith    %+v\nwithout %+v", with.rejections, without.rejections)
			}
			if name == "edges" && (with.accepted() == 0 || with.rejected() == 0) {
				t.Errorf("the edge lines gave %d accepted and %d rejected events; want some of each", with.accepted(), with.rejected())
			}
		})
	}
	var d ndjsonDecoder
	for line := range bytes.SplitSeq(bytes.TrimSpace(benchNDJSONBody(10)), []byte("\n")) {
		if !d.scanLine(line) {
			t.Errorf("the scanner does not take the common line %s", line)
		}
	}
}
