package eventcount

import "bytes"

// The OTLP JSON count is one pass over the body that builds nothing: it follows the members
// that lead to the counted arrays and skips every other value by its syntax. It mirrors what
// the normalizer's decoder (pdata v1.70's generated UnmarshalJSON over json-iterator) does with
// a body, where that changes a count:
//   - Both spellings of a field are accepted ("resourceLogs" and "resource_logs"), keys are
//     compared after unescaping ("log\u0052ecords" is "logRecords") and case-sensitively.
//   - A repeated field that appears twice in one object counts both times (pdata appends); the
//     metric data ("gauge", "sum", "histogram", "exponentialHistogram", "summary") keeps only
//     its last occurrence (pdata replaces it), and a null there means no data points.
//   - null stands for an empty object or array anywhere, and a null element of a counted
//     array counts (pdata appends an empty record).
//   - The deprecated "deprecatedScopeLogs" (…Metrics, …Spans) members are not counted: pdata's
//     JSON request decoder, unlike its protobuf one, does not migrate them.
//   - Whatever follows the top-level object is ignored, as pdata does; a top-level null is an
//     empty request.
//
// Deliberate differences, all on input no OTLP encoder writes:
//   - An empty object key ("") anywhere is an error here: json-iterator ends the object at an
//     empty key and then reads its value as if it were the enclosing structure, so pdata's
//     result is an accident of the bytes that follow.
//   - The syntax of the structure (braces, brackets, commas, colons, string quoting) is checked
//     as RFC 8259 has it, while scalars (numbers, true, false, null) that are skipped are not
//     validated. pdata's parser is lenient about structure in places (it takes "[," as the
//     start of an array) and strict about scalars. So on valid JSON the two agree; on invalid
//     JSON either may reject what the other accepts.
//
// Because pdata may decode records from a body refused here, the filter must answer a refused
// body with 400 itself rather than pass it through uncounted (doc.go, "Malformed bodies").

// Reasons of MalformedError for JSON bodies.
const (
	reasonEOF           = "unexpected end of body"
	reasonWantObject    = "expected an object or null"
	reasonWantArray     = "expected an array or null"
	reasonWantValue     = "expected a value"
	reasonWantKey       = "expected a quoted object key"
	reasonWantColon     = "expected ':' after an object key"
	reasonWantSeparator = "expected ',' or the end of the object or array"
	reasonEmptyKey      = "empty object key, which OTLP/JSON decoders mis-read"
)

// maxKnownKey is the length of the longest member name the scan looks for
// ("deprecated_scope_metrics" is longer but not looked for).
const maxKnownKey = len("exponential_histogram")

// jscan scans one JSON body. The zero value is not usable; see countJSON.
type jscan struct {
	b   []byte
	pos int
	// key holds the unescaped form of an escaped key.
	key [maxKnownKey]byte
	// Nesting of the value being skipped, one bit per level (1: object, 0: array): the first
	// 4096 levels in stack, deeper ones in spill.
	stack [64]uint64
	spill []uint64
}

// level names what the elements of an array are, so that the scan knows how to count them.
type level int

const (
	records          level = iota // log records, spans, data points: each counts one
	resourceLogsL                 // ResourceLogs objects
	scopeLogsL                    // ScopeLogs objects
	resourceSpansL                // ResourceSpans objects
	scopeSpansL                   // ScopeSpans objects
	resourceMetricsL              // ResourceMetrics objects
	scopeMetricsL                 // ScopeMetrics objects
	metricsL                      // Metric objects
)

// countJSON counts the items of an OTLP JSON request whose top-level member is named name (or
// snake, its snake-case spelling) and holds elements of level elem.
func countJSON(b []byte, name, snake string, elem level) (int, *protoErr) {
	s := jscan{b: b}
	n, reason := s.sumArrays(name, snake, elem)
	if reason != "" {
		return 0, &protoErr{reason, s.pos}
	}
	return n, nil
}

// element counts the items of one array element of level l.
func (s *jscan) element(l level) (int, string) {
	switch l {
	case resourceLogsL:
		return s.sumArrays("scopeLogs", "scope_logs", scopeLogsL)
	case scopeLogsL:
		return s.sumArrays("logRecords", "log_records", records)
	case resourceSpansL:
		return s.sumArrays("scopeSpans", "scope_spans", scopeSpansL)
	case scopeSpansL:
		return s.sumArrays("spans", "spans", records)
	case resourceMetricsL:
		return s.sumArrays("scopeMetrics", "scope_metrics", scopeMetricsL)
	case scopeMetricsL:
		return s.sumArrays("metrics", "metrics", metricsL)
	case metricsL:
		return s.metric()
	}
	// records: an object or null counts one.
	c, ok := s.peek()
	switch {
	case !ok:
		return 0, reasonEOF
	case c == '{':
		if reason := s.skip(); reason != "" {
			return 0, reason
		}
	case !s.null():
		return 0, reasonWantObject
	}
	return 1, ""
}

// metric counts the data points of the last data member of a metric object.
func (s *jscan) metric() (int, string) {
	null, reason := s.openObject()
	if null || reason != "" {
		return 0, reason
	}
	last := 0
	for first := true; ; first = false {
		key, done, reason := s.nextKey(first)
		if done || reason != "" {
			return last, reason
		}
		switch string(key) {
		case "gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary":
			n, reason := s.sumArrays("dataPoints", "data_points", records)
			if reason != "" {
				return 0, reason
			}
			last = n
		default:
			if reason := s.skip(); reason != "" {
				return 0, reason
			}
		}
	}
}

// sumArrays reads an object (or null) and, for every member named a or b, adds up the counts of
// the elements, of level elem, of its value, an array (or null). Other members are skipped.
func (s *jscan) sumArrays(a, b string, elem level) (int, string) {
	null, reason := s.openObject()
	if null || reason != "" {
		return 0, reason
	}
	n := 0
	for first := true; ; first = false {
		key, done, reason := s.nextKey(first)
		if done || reason != "" {
			return n, reason
		}
		if k := string(key); k != a && k != b {
			if reason := s.skip(); reason != "" {
				return 0, reason
			}
			continue
		}
		null, reason := s.openArray()
		if reason != "" {
			return 0, reason
		}
		if null {
			continue
		}
		for first := true; ; first = false {
			done, reason := s.nextElem(first)
			if reason != "" {
				return 0, reason
			}
			if done {
				break
			}
			c, reason := s.element(elem)
			if reason != "" {
				return 0, reason
			}
			n += c
		}
	}
}

// ws skips whitespace.
func (s *jscan) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte; ok is false at the end of the body.
func (s *jscan) peek() (c byte, ok bool) {
	s.ws()
	if s.pos >= len(s.b) {
		return 0, false
	}
	return s.b[s.pos], true
}

// null consumes the literal null at s.pos, if it is there.
func (s *jscan) null() bool {
	if s.pos+4 <= len(s.b) && string(s.b[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// openObject consumes the '{' of an object, or a null.
func (s *jscan) openObject() (null bool, reason string) {
	c, ok := s.peek()
	switch {
	case !ok:
		return false, reasonEOF
	case c == '{':
		s.pos++
		return false, ""
	case s.null():
		return true, ""
	}
	return false, reasonWantObject
}

// openArray consumes the '[' of an array, or a null.
func (s *jscan) openArray() (null bool, reason string) {
	c, ok := s.peek()
	switch {
	case !ok:
		return false, reasonEOF
	case c == '[':
		s.pos++
		return false, ""
	case s.null():
		return true, ""
	}
	return false, reasonWantArray
}

// nextKey reads the next member's key and the colon after it, or the end of the object
// (done). first tells whether the object has had no member yet.
func (s *jscan) nextKey(first bool) (key []byte, done bool, reason string) {
	c, ok := s.peek()
	if !ok {
		return nil, false, reasonEOF
	}
	if c == '}' {
		s.pos++
		return nil, true, ""
	}
	if !first {
		if c != ',' {
			return nil, false, reasonWantSeparator
		}
		s.pos++
	}
	key, reason = s.member()
	if reason != "" || bytes.IndexByte(key, '\\') < 0 {
		return key, false, reason
	}
	return s.unescape(key), false, ""
}

// nextElem moves to the next element of an array, or consumes its end (done).
func (s *jscan) nextElem(first bool) (done bool, reason string) {
	c, ok := s.peek()
	switch {
	case !ok:
		return false, reasonEOF
	case c == ']' && first:
		s.pos++
		return true, ""
	case first:
		return false, ""
	case c == ']':
		s.pos++
		return true, ""
	case c == ',':
		s.pos++
		return false, ""
	}
	return false, reasonWantSeparator
}

// member reads an object key and the colon after it and returns the key as written, escapes
// and all.
func (s *jscan) member() ([]byte, string) {
	c, ok := s.peek()
	if !ok {
		return nil, reasonEOF
	}
	if c != '"' {
		return nil, reasonWantKey
	}
	key, reason := s.str()
	if reason != "" {
		return nil, reason
	}
	if len(key) == 0 {
		return nil, reasonEmptyKey
	}
	if c, ok = s.peek(); !ok {
		return nil, reasonEOF
	}
	if c != ':' {
		return nil, reasonWantColon
	}
	s.pos++
	return key, ""
}

// str consumes the string that starts at s.pos (a '"') and returns its contents as written.
// A backslash escapes the byte after it; what the escapes mean is not checked.
func (s *jscan) str() ([]byte, string) {
	start := s.pos + 1
	for from := start; ; {
		i := bytes.IndexByte(s.b[from:], '"')
		if i < 0 {
			s.pos = len(s.b)
			return nil, reasonEOF
		}
		q := from + i
		k := q
		for k > start && s.b[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			s.pos = q + 1
			return s.b[start:q], ""
		}
		from = q + 1
	}
}

// unescape returns the unescaped form of key when it is made of ASCII characters and no
// longer than the longest name looked for; otherwise it returns key itself, which holds a
// backslash and so matches no name.
func (s *jscan) unescape(key []byte) []byte {
	n := 0
	for i := 0; i < len(key); i++ {
		if n == len(s.key) {
			return key
		}
		c := key[i]
		if c != '\\' {
			s.key[n] = c
			n++
			continue
		}
		if i+1 >= len(key) {
			return key
		}
		i++
		switch key[i] {
		case '"', '\\', '/':
			c = key[i]
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			if i+4 >= len(key) {
				return key
			}
			r := 0
			for _, h := range key[i+1 : i+5] {
				switch {
				case h >= '0' && h <= '9':
					r = r<<4 | int(h-'0')
				case h >= 'a' && h <= 'f':
					r = r<<4 | int(h-'a'+10)
				case h >= 'A' && h <= 'F':
					r = r<<4 | int(h-'A'+10)
				default:
					return key
				}
			}
			if r >= 0x80 {
				return key
			}
			c = byte(r)
			i += 4
		default:
			return key
		}
		s.key[n] = c
		n++
	}
	return s.key[:n]
}

// scalar consumes a number, true, false or null without validating it: the bytes up to the
// next structural character or whitespace, of which there must be at least one.
func (s *jscan) scalar() string {
	start := s.pos
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r', ',', ':', '[', ']', '{', '}', '"':
			if s.pos == start {
				return reasonWantValue
			}
			return ""
		}
		s.pos++
	}
	if s.pos == start {
		return reasonEOF
	}
	return ""
}

// isObject reports whether nesting level d of the value being skipped is an object.
func (s *jscan) isObject(d int) bool {
	w, bit := d>>6, uint64(1)<<(d&63)
	if w < len(s.stack) {
		return s.stack[w]&bit != 0
	}
	return s.spill[w-len(s.stack)]&bit != 0
}

// setLevel records whether nesting level d of the value being skipped is an object.
func (s *jscan) setLevel(d int, object bool) {
	w, bit := d>>6, uint64(1)<<(d&63)
	var p *uint64
	if w < len(s.stack) {
		p = &s.stack[w]
	} else {
		for w-len(s.stack) >= len(s.spill) {
			s.spill = append(s.spill, 0)
		}
		p = &s.spill[w-len(s.stack)]
	}
	if object {
		*p |= bit
	} else {
		*p &^= bit
	}
}

// skip consumes one value of any type and depth, checking the syntax of its structure.
func (s *jscan) skip() string {
	depth := 0
	for {
		// A value starts here.
		c, ok := s.peek()
		if !ok {
			return reasonEOF
		}
		switch c {
		case '{', '[':
			s.pos++
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			e, ok := s.peek()
			if !ok {
				return reasonEOF
			}
			if e == closer {
				s.pos++
				break
			}
			s.setLevel(depth, c == '{')
			depth++
			if c == '{' {
				if _, reason := s.member(); reason != "" {
					return reason
				}
			}
			continue
		case '"':
			if _, reason := s.str(); reason != "" {
				return reason
			}
		default:
			if reason := s.scalar(); reason != "" {
				return reason
			}
		}
		// A value ended: close the containers it ends, or move to the next value.
	next:
		for depth > 0 {
			c, ok := s.peek()
			if !ok {
				return reasonEOF
			}
			object := s.isObject(depth - 1)
			switch {
			case c == ',':
				s.pos++
				if object {
					if _, reason := s.member(); reason != "" {
						return reason
					}
				}
				break next
			case object && c == '}', !object && c == ']':
				s.pos++
				depth--
			default:
				return reasonWantSeparator
			}
		}
		if depth == 0 {
			return ""
		}
	}
}
