package normalizer

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// This file frames an NDJSON body into lines; ndjson_line.go decodes one line, through the
// field table (ndjson_fields.go) into a record (ndjson_record.go).

// NativeSchemaVersion is the version of the native event schema that decodeNDJSON reads. The
// schema is documented in docs/native-schema.md, the one place that defines it; a change that
// could make a valid line invalid or change what a field means is a new version.
const NativeSchemaVersion = 1

// decodeNDJSON decodes body, NDJSON of the native event schema, into e: one JSON object per line,
// lines ending in "\n" or "\r\n". Blank lines (only spaces, tabs and "\r") are skipped but still
// count for line numbers; a UTF-8 byte order mark at the start of body is skipped. Each non-blank
// line is one event: it is emitted or rejected with its 0-based event index and 1-based line
// number, so a bad line never costs the others.
//
// It returns errTooManyEvents, before emitting anything, when body holds more than
// MaxEventsPerRequest non-blank lines; otherwise nil. p is used for every line and holds no state
// between calls; it must not be used concurrently.
func decodeNDJSON(p *fastjson.Parser, body []byte, e *emitter) error {
	return decodeNDJSONLines(p, body, e, true)
}

// decodeNDJSONLines is decodeNDJSON; with scan false it leaves out the fast scanner (scanLine)
// and parses every line with fastjson, which must give the same result: tests compare the two.
func decodeNDJSONLines(p *fastjson.Parser, body []byte, e *emitter, scan bool) error {
	body = bytes.TrimPrefix(body, []byte(utf8BOM))
	if n := countNDJSONEvents(body, e.cfg.MaxEventsPerRequest); n > e.cfg.MaxEventsPerRequest {
		return errTooManyEvents(n, e.cfg.MaxEventsPerRequest)
	}
	d := ndjsonDecoder{p: p, e: e, tenant: e.tenant(), noScan: !scan}
	if scan {
		d.scanned = make([]scannedKV, 0, 32) // enough for the attributes and resource of most lines
	}
	index := 0
	for lineNo, rest := 1, body; len(rest) > 0; lineNo++ {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if isBlankLine(line) {
			continue
		}
		d.decodeLine(line, index, lineNo)
		index++
	}
	return nil
}

// utf8BOM is skipped at the start of a body: some Windows tools write it.
const utf8BOM = "\xef\xbb\xbf"

// countNDJSONEvents returns the number of non-blank lines of body. When a cheap upper bound (the
// number of line feeds plus one) is within limit, it returns that bound instead of counting
// exactly: callers only compare the result with limit.
func countNDJSONEvents(body []byte, limit int) int {
	if n := bytes.Count(body, []byte{'\n'}) + 1; n <= limit {
		return n
	}
	return countNonBlankLines(body)
}

// countNonBlankLines returns the number of lines of body that are not blank.
func countNonBlankLines(body []byte) int {
	n := 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if !isBlankLine(line) {
			n++
		}
	}
	return n
}

// isBlankLine reports whether line holds only spaces, tabs and carriage returns.
func isBlankLine(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
