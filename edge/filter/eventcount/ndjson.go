package eventcount

import "bytes"

// utf8BOM is skipped at the start of an NDJSON body, as the normalizer does.
const utf8BOM = "\xef\xbb\xbf"

// countNDJSON counts the events of an NDJSON body by the normalizer's rule (normalizer/ndjson.go,
// decodeNDJSON): a UTF-8 byte order mark at the start is skipped; lines end at "\n" (so "\r\n"
// too); a line that holds only spaces, tabs and carriage returns is blank and skipped; every
// other line is one event, valid JSON or not (the normalizer rejects a bad line on its own and
// counts it).
func countNDJSON(b []byte) int {
	b = bytes.TrimPrefix(b, []byte(utf8BOM))
	n := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		for _, c := range line {
			if c != ' ' && c != '\t' && c != '\r' {
				n++
				break
			}
		}
	}
	return n
}
