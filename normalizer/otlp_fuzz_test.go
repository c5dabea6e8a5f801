package normalizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/ingestdev/ingest/record"
)

// FuzzOTLPProto feeds arbitrary bytes to the three OTLP protobuf decoders. Seed corpus:
// testdata/fuzz/FuzzOTLPProto (the fixtures and truncations of them; rewrite with -update).
func FuzzOTLPProto(f *testing.F) { fuzzOTLP(f, otlpProto) }

// FuzzOTLPJSON is FuzzOTLPProto for OTLP JSON. Seed corpus: testdata/fuzz/FuzzOTLPJSON.
func FuzzOTLPJSON(f *testing.F) { fuzzOTLP(f, otlpJSON) }

// fuzzOTLP checks that no body makes a decoder panic, that a refused body emits nothing and
// is a *requestError, that every item of an accepted body is either accepted or rejected, and
// that every accepted record decodes.
func fuzzOTLP(f *testing.F, format otlpFormat) {
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, s := range otlpSignals {
			e := newTestEmitter(Config{})
			err := s.decode(body, format, e)
			if err != nil {
				var re *requestError
				if !errors.As(err, &re) {
					t.Fatalf("%s: error %v is not a *requestError", s.name, err)
				}
				if e.accepted()+e.rejected() != 0 {
					t.Fatalf("%s: refused with %v after emitting events", s.name, err)
				}
				continue
			}
			if n := otlpItemCount(t, s.name, body, format); e.accepted()+e.rejected() != n {
				t.Fatalf("%s: %d accepted + %d rejected for %d items", s.name, e.accepted(), e.rejected(), n)
			}
			var r record.Record
			n := 0
			err = record.Frames(e.batch.Batch().Data, func(rec []byte) error {
				n++
				return record.Decode(rec, &r)
			})
			if err != nil || n != e.accepted() {
				t.Fatalf("%s: accepted records do not decode (%d of %d): %v", s.name, n, e.accepted(), err)
			}
		}
	})
}

// otlpItemCount counts the log records, data points or spans of body with pdata alone.
func otlpItemCount(t *testing.T, signal string, body []byte, f otlpFormat) int {
	t.Helper()
	var n int
	var err error
	switch signal {
	case "logs":
		req := plogotlp.NewExportRequest()
		err = unmarshalOTLP(req, body, f)
		n = req.Logs().LogRecordCount()
	case "metrics":
		req := pmetricotlp.NewExportRequest()
		err = unmarshalOTLP(req, body, f)
		n = req.Metrics().DataPointCount()
	case "traces":
		req := ptraceotlp.NewExportRequest()
		err = unmarshalOTLP(req, body, f)
		n = req.Traces().SpanCount()
	}
	if err != nil {
		t.Fatalf("%s: decoded, but pdata alone cannot unmarshal it: %v", signal, err)
	}
	return n
}

// TestOTLPFuzzSeedCorpus rewrites the seed corpora of FuzzOTLPProto and FuzzOTLPJSON when
// -update is set: each fixture whole and cut at a third, a half and one byte short.
func TestOTLPFuzzSeedCorpus(t *testing.T) {
	if !*update {
		return
	}
	for _, f := range otlpFormats {
		dir := filepath.Join("testdata", "fuzz", "FuzzOTLPProto")
		if f == otlpJSON {
			dir = filepath.Join("testdata", "fuzz", "FuzzOTLPJSON")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range otlpSignals {
			body := marshalOTLP(t, s.fixture(), f)
			seeds := map[string][]byte{
				s.name:              body,
				s.name + "-third":   body[:len(body)/3],
				s.name + "-half":    body[:len(body)/2],
				s.name + "-minus-1": body[:len(body)-1],
			}
			for name, b := range seeds {
				data := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
