package normalizer

import (
	"github.com/valyala/fastjson"

	"github.com/ingestdev/ingest/record"
)

// ndjsonDecoder holds the state reused from line to line of one request, so that a line costs no
// allocation once the buffers have grown.
type ndjsonDecoder struct {
	p      *fastjson.Parser
	e      *emitter
	tenant string
	noScan bool // parse every line with fastjson (tests)

	// Current line.
	index, line int
	// vals[i] is field i where bit i of present is set, that is unless absent or null; read it
	// with field. (Not pointers into vals: they would move the decoder to the heap.)
	vals    [numNativeFields]jsonValue
	present uint32
	seen    uint32      // bit i: field i appeared (null included)
	dup     int         // a field that appeared twice, or -1
	scanned []scannedKV // members of the line's objects, filled by scanLine

	rec record.Record
	// arena holds the values rendered for the current line (numbers, nested JSON). The strings
	// of rec point into it, into the parser's buffer or (after scanLine) into the line, so they
	// are valid only until the next line; emit copies them into the batch.
	arena []byte
}

// decodeLine decodes one non-blank line and emits or rejects exactly one event.
func (d *ndjsonDecoder) decodeLine(line []byte, index, lineNo int) {
	d.index, d.line = index, lineNo
	d.present, d.seen, d.dup = 0, 0, -1
	if d.noScan || !d.scanLine(line) {
		// Not the common shape: start over with fastjson, which decides.
		d.present, d.seen, d.dup = 0, 0, -1
		v, err := d.p.ParseBytes(line)
		if err != nil {
			d.e.reject(index, lineNo, ReasonInvalidJSON, "line is not valid JSON (%s); send one JSON object per line", shorten(err.Error(), 160))
			return
		}
		obj, err := v.Object()
		if err != nil {
			d.e.reject(index, lineNo, ReasonInvalidJSON, "line is a JSON %s, not an object; send one JSON object per line", jsonTypeName(v.Type()))
			return
		}
		obj.Visit(d.visitField)
	}
	if d.dup >= 0 {
		d.invalid(d.dup, "appears more than once; send it once")
		return
	}
	attrs, res := d.rec.Attributes[:0], d.rec.Resource[:0]
	d.rec = record.Record{Attributes: attrs, Resource: res}
	d.arena = d.arena[:0]
	if d.build(&d.rec) {
		d.e.emit(&d.rec, index, lineNo)
	}
}

// visitField files a top-level field parsed by fastjson.
func (d *ndjsonDecoder) visitField(key []byte, v *fastjson.Value) {
	d.file(aliasString(key), &jsonValue{fj: v})
}
