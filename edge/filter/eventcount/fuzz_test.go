package eventcount

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// protoKinds, jsonKinds and allKinds map the fuzzers' selector byte to a kind.
var (
	protoKinds = []Kind{OTLPLogsProto, OTLPMetricsProto, OTLPTracesProto}
	jsonKinds  = []Kind{OTLPLogsJSON, OTLPMetricsJSON, OTLPTracesJSON}
	allKinds   = []Kind{NDJSON, OTLPLogsProto, OTLPMetricsProto, OTLPTracesProto, OTLPLogsJSON, OTLPMetricsJSON, OTLPTracesJSON}
)

// FuzzCountProto checks the strong form of exactness on arbitrary bytes: when pdata decodes
// the body, Count returns pdata's count; when Count fails, pdata fails too.
func FuzzCountProto(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(2), []byte{0x0a, 0x04, 0x12, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		checkProto(t, protoKinds[int(sel)%len(protoKinds)], body)
	})
}

// FuzzCountJSON checks that Count never panics and that, on valid JSON that pdata decodes, it
// returns pdata's count (or refuses an empty key, see json.go).
func FuzzCountJSON(f *testing.F) {
	f.Add(uint8(0), []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},null]}]}]}`))
	f.Add(uint8(1), []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"dataPoints":[{}]}}]}]}]}`))
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		checkJSON(t, jsonKinds[int(sel)%len(jsonKinds)], body)
	})
}

// FuzzCountNDJSON checks Count against the normalizer's rule written plainly.
func FuzzCountNDJSON(f *testing.F) {
	f.Add([]byte("{}\r\n \t\n\xef\xbb\xbf{}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if n, err := Count(NDJSON, body); err != nil || n != referenceNDJSON(body) {
			t.Fatalf("Count = %d, %v; the normalizer's rule gives %d", n, err, referenceNDJSON(body))
		}
	})
}

// FuzzCountGzip checks that Gunzip never panics, reads gzip as compress/gzip does (the
// normalizer's reader), and counts the decompressed body as Count does.
func FuzzCountGzip(f *testing.F) {
	const limit = 1 << 16
	f.Add(uint8(0), gzipped(f, []byte("{}\n{}\n")))
	f.Add(uint8(1), []byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		k := allKinds[int(sel)%len(allKinds)]
		var g Gunzip
		n, dec, err := g.Count(k, body, limit)
		var out []byte
		zr, rerr := gzip.NewReader(bytes.NewReader(body))
		if rerr == nil {
			out, rerr = io.ReadAll(io.LimitReader(zr, limit+1))
		}
		var me *MalformedError
		var tl *DecompressedTooLargeError
		switch {
		case rerr != nil:
			if !errors.As(err, &me) || me.Offset != -1 {
				t.Fatalf("compress/gzip fails with %v; Count = %d, %v", rerr, n, err)
			}
		case len(out) > limit:
			if !errors.As(err, &tl) || dec != limit+1 {
				t.Fatalf("body decompresses past the limit; Count = %d, %d bytes, %v", n, dec, err)
			}
		default:
			want, werr := Count(k, out)
			if n != want || (err == nil) != (werr == nil) || dec != int64(len(out)) {
				t.Fatalf("Count = %d, %d bytes, %v; the decompressed body counts %d, %v in %d bytes", n, dec, err, want, werr, len(out))
			}
		}
	})
}

// TestWriteFuzzCorpus rewrites testdata/fuzz with -update: random payloads of every signal and
// the hand-built cases of pdata's quirks, so that fuzzing starts from deep inside the formats.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	r := rand.New(rand.NewPCG(11, 12))
	write := func(fuzzer, name string, args ...any) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case uint8:
				fmt.Fprintf(&b, "byte(%q)\n", a)
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range signals {
		for j := range 4 {
			p := mustRandom(t, s, gen{r: r, size: 1})
			name := fmt.Sprintf("%s-%d", s.name, j)
			write("FuzzCountProto", name, uint8(i), p.proto)
			write("FuzzCountJSON", name, uint8(i), p.json)
			if j == 0 {
				write("FuzzCountGzip", name+"-proto", uint8(1+i), gzipped(t, p.proto))
				write("FuzzCountGzip", name+"-json", uint8(4+i), gzipped(t, p.json))
			}
		}
	}
	for i, c := range protoCases() {
		write("FuzzCountProto", fmt.Sprintf("quirk-%02d", i), uint8(c.kind-OTLPLogsProto), c.body)
	}
	write("FuzzCountNDJSON", "lines", []byte("{\"type\":\"log\",\"body\":\"a\"}\r\n\n  \t\r\n{\"type\":\"metric\"}\nnot json\n"))
	write("FuzzCountNDJSON", "bom", []byte("\xef\xbb\xbf{}\n\xef\xbb\xbf\n"))
	write("FuzzCountGzip", "ndjson-two-members", uint8(0), gzipped(t, []byte("{}\n{}"), []byte("\n{}\n")))
}
