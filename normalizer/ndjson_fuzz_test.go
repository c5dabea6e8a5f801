package normalizer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/ingestdev/ingest/record"
)

// FuzzNDJSON feeds arbitrary bodies to decodeNDJSON. The seed corpus is testdata/ndjson and
// testdata/fuzz/FuzzNDJSON. It checks that decoding never panics, that every non-blank line is
// either accepted or rejected exactly once (unless the whole request is refused for holding too
// many events), that every accepted record decodes and respects the limits, that decoding is
// deterministic with a reused parser, and that the fast scanner gives what fastjson alone gives.
func FuzzNDJSON(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "ndjson", "*.ndjson"))
	for _, path := range paths {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			f.Add(line)
		}
	}
	cfg := Config{MaxEventsPerRequest: 64, MaxAttributes: 16, MaxNameBytes: 64, MaxLogBodyBytes: 256}.withDefaults()
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, body []byte) {
		e := &emitter{}
		e.reset(&cfg, testTenant, testNow)
		err := decodeNDJSON(&p, body, e)
		lines := countNonBlankLines(bytes.TrimPrefix(body, []byte(utf8BOM)))
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.reason != ReasonTooManyEvents || lines <= cfg.MaxEventsPerRequest {
				t.Fatalf("unexpected error for %d lines: %v", lines, err)
			}
			if e.accepted() != 0 || e.rejected() != 0 {
				t.Fatalf("refused request emitted %d and rejected %d events", e.accepted(), e.rejected())
			}
			return
		}
		if e.accepted()+e.rejected() != lines {
			t.Fatalf("accepted %d + rejected %d != %d non-blank lines; rejections %+v", e.accepted(), e.rejected(), lines, e.rejections)
		}
		prev := -1
		for _, rej := range e.rejections {
			if rej.Index <= prev || rej.Index >= lines || rej.Line < rej.Index+1 || rej.Reason == "" || rej.Message == "" {
				t.Fatalf("bad rejection %+v after index %d of %d lines", rej, prev, lines)
			}
			prev = rej.Index
		}
		first := append([]byte(nil), e.batch.Batch().Data...)
		n := 0
		var r record.Record
		err = record.Frames(first, func(rec []byte) error {
			n++
			if err := record.Decode(rec, &r); err != nil {
				return err
			}
			if r.Tenant != testTenant || r.ReceivedAt != testNow.UnixNano() || r.EventID.IsZero() ||
				r.Signal < record.SignalLog || r.Signal > record.SignalSpan ||
				r.Timestamp < testNow.Add(-cfg.MaxPast).UnixNano() || r.Timestamp > testNow.Add(cfg.MaxFuture).UnixNano() ||
				len(r.Name) > cfg.MaxNameBytes || len(r.Body) > cfg.MaxLogBodyBytes ||
				len(r.Attributes) > cfg.MaxAttributes || len(r.Resource) > cfg.MaxAttributes ||
				r.Duration < 0 || (r.Signal == record.SignalSpan && (!r.HasTrace || r.Name == "")) ||
				(r.Signal == record.SignalMetric && r.Name == "") {
				t.Fatalf("accepted record breaks an invariant: %+v", r)
			}
			return nil
		})
		if err != nil || n != e.accepted() {
			t.Fatalf("accepted records do not decode (%d frames for %d accepted): %v", n, e.accepted(), err)
		}
		// Again with the same parser: same records, same rejections.
		e2 := &emitter{}
		e2.reset(&cfg, testTenant, testNow)
		if err := decodeNDJSON(&p, body, e2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, e2.batch.Batch().Data) || e2.rejected() != e.rejected() {
			t.Fatalf("decoding twice gave different results")
		}
		// Without the fast scanner, fastjson alone: the same records and rejections.
		e3 := &emitter{}
		e3.reset(&cfg, testTenant, testNow)
		if err := decodeNDJSONLines(&p, body, e3, false); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, e3.batch.Batch().Data) || !slices.Equal(e.rejections, e3.rejections) {
			t.Fatalf("the fast scanner changed the result:\nwith    %+v\nwithout %+v", e.rejections, e3.rejections)
		}
	})
}
