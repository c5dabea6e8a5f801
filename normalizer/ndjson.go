package normalizer

import (
	"bytes"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
	"github.com/valyala/fastjson/fastfloat"

	"github.com/ingestdev/ingest/record"
)

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

// tenant returns the tenant of the request being decoded.
func (e *emitter) tenant() string { return e.batch.Batch().Tenant }

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

// Top-level fields of the native schema, indexes into ndjsonDecoder.vals.
const (
	fType = iota
	fTS
	fTSUnit
	fName
	fValue
	fUnit
	fKind
	fBody
	fSeverity
	fTraceID
	fSpanID
	fParentSpanID
	fDuration
	fAttributes
	fResource
	fEventID
	numNativeFields
)

var nativeFieldNames = [numNativeFields]string{
	fType: "type", fTS: "ts", fTSUnit: "ts_unit", fName: "name", fValue: "value", fUnit: "unit",
	fKind: "kind", fBody: "body", fSeverity: "severity", fTraceID: "trace_id", fSpanID: "span_id",
	fParentSpanID: "parent_span_id", fDuration: "duration", fAttributes: "attributes",
	fResource: "resource", fEventID: "event_id",
}

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

// file files a top-level field under its index; unknown fields are ignored.
func (d *ndjsonDecoder) file(key string, v *jsonValue) {
	var i int
	switch key {
	case "type":
		i = fType
	case "ts":
		i = fTS
	case "ts_unit":
		i = fTSUnit
	case "name":
		i = fName
	case "value":
		i = fValue
	case "unit":
		i = fUnit
	case "kind":
		i = fKind
	case "body":
		i = fBody
	case "severity":
		i = fSeverity
	case "trace_id":
		i = fTraceID
	case "span_id":
		i = fSpanID
	case "parent_span_id":
		i = fParentSpanID
	case "duration":
		i = fDuration
	case "attributes":
		i = fAttributes
	case "resource":
		i = fResource
	case "event_id":
		i = fEventID
	default:
		return
	}
	if d.seen&(1<<i) != 0 && d.dup < 0 {
		d.dup = i
	}
	d.seen |= 1 << i
	if v.Type() != fastjson.TypeNull {
		d.vals[i] = *v
		d.present |= 1 << i
	}
}

// field returns top-level field i of the current line, or nil when it is absent or null.
func (d *ndjsonDecoder) field(i int) *jsonValue {
	if d.present&(1<<i) == 0 {
		return nil
	}
	return &d.vals[i]
}

// build fills r from the fields of the current line. It rejects the event and returns false at
// the first problem.
func (d *ndjsonDecoder) build(r *record.Record) bool {
	typ, ok := d.str(fType)
	if !ok {
		return false
	}
	switch typ {
	case "log":
		r.Signal = record.SignalLog
	case "metric":
		r.Signal = record.SignalMetric
	case "span":
		r.Signal = record.SignalSpan
	case "":
		d.missing(fType, "every event")
		return false
	default:
		d.invalid(fType, "%.64q is not an event type; send \"log\", \"metric\" or \"span\"", typ)
		return false
	}
	if d.field(fTS) != nil && !d.timestamp(r) {
		return false
	}
	if r.Name, ok = d.str(fName); !ok {
		return false
	}
	if r.Name == "" && r.Signal != record.SignalLog {
		d.missing(fName, r.Signal.String()+" events")
		return false
	}
	switch r.Signal {
	case record.SignalLog:
		ok = d.log(r)
	case record.SignalMetric:
		ok = d.metric(r)
	case record.SignalSpan:
		ok = d.span(r)
	}
	if !ok {
		return false
	}
	if r.Attributes, ok = d.kvs(fAttributes, r.Attributes); !ok {
		return false
	}
	if r.Resource, ok = d.kvs(fResource, r.Resource); !ok {
		return false
	}
	if d.field(fEventID) != nil {
		id, ok := d.str(fEventID)
		if !ok {
			return false
		}
		if id == "" {
			d.invalid(fEventID, "is empty; send a non-empty id or leave the field out to have one derived")
			return false
		}
		r.EventID = record.IDFromString(d.tenant, id)
	}
	return true
}

// Timestamps must be unix nanoseconds in (0, MaxInt64]: 0 means "not set" to emit, and the
// emitter's age arithmetic must not overflow.
var (
	minNativeTime = time.Unix(0, 1).UTC()
	maxNativeTime = time.Unix(0, math.MaxInt64).UTC()
)

// timestamp sets r.Timestamp from ts (present) and ts_unit.
func (d *ndjsonDecoder) timestamp(r *record.Record) bool {
	ts := d.field(fTS)
	switch ts.Type() {
	case fastjson.TypeString:
		s := ts.str()
		if ns, ok := parseRFC3339Fast(s); ok {
			r.Timestamp = ns
			return true
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			d.invalid(fTS, "%.64q is not an RFC 3339 time; send e.g. \"2026-11-21T11:59:30.5Z\" or a unix number with \"ts_unit\"", s)
			return false
		}
		if t.Before(minNativeTime) || t.After(maxNativeTime) {
			d.invalid(fTS, "%s is outside the supported range %s to %s; check the value",
				s, minNativeTime.Format(time.RFC3339Nano), maxNativeTime.Format(time.RFC3339Nano))
			return false
		}
		r.Timestamp = t.UnixNano()
		return true
	case fastjson.TypeNumber:
		if d.field(fTSUnit) == nil {
			d.invalid(fTS, "is a number without \"ts_unit\"; add \"ts_unit\": \"s\", \"ms\", \"us\" or \"ns\", or send an RFC 3339 string")
			return false
		}
		unit, ok := d.str(fTSUnit)
		if !ok {
			return false
		}
		var scale int64
		switch unit {
		case "s":
			scale = 1e9
		case "ms":
			scale = 1e6
		case "us":
			scale = 1e3
		case "ns":
			scale = 1
		default:
			d.invalid(fTSUnit, "%.32q is not a timestamp unit; send \"s\", \"ms\", \"us\" or \"ns\"", unit)
			return false
		}
		raw, ok := d.number(fTS)
		if !ok {
			return false
		}
		ns, err := parseUnixTime(raw, scale)
		switch err {
		case errFractionalNanos:
			d.invalid(fTS, "%s has a fraction, but ts_unit \"ns\" takes whole nanoseconds; send an integer or a coarser ts_unit", raw)
			return false
		case errTimeRange:
			d.invalid(fTS, "%s %s is outside the supported range %s to %s; check the value and ts_unit",
				raw, unit, minNativeTime.Format(time.RFC3339Nano), maxNativeTime.Format(time.RFC3339Nano))
			return false
		}
		r.Timestamp = ns
		return true
	default:
		d.wrongType(fTS, "an RFC 3339 string or a number with \"ts_unit\"")
		return false
	}
}

// parseRFC3339Fast converts the common RFC 3339 forms, "YYYY-MM-DDTHH:MM:SS", an optional
// fraction of 1 to 9 digits, and "Z" or "±HH:MM", to unix nanoseconds without allocating. It
// reports false for anything else, and for times outside (0, MaxInt64] ns, leaving those to
// time.Parse; where it reports true it agrees with time.Parse(time.RFC3339Nano, s).
func parseRFC3339Fast(s string) (int64, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, month, day := digits(s[0:4]), digits(s[5:7]), digits(s[8:10])
	hour, minute, sec := digits(s[11:13]), digits(s[14:16]), digits(s[17:19])
	if year < 1970 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	rest := s[19:]
	var nanos int64
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		if i == 1 || i > 10 {
			return 0, false
		}
		n := digits(rest[1:i])
		for range 10 - i {
			n *= 10
		}
		nanos, rest = n, rest[i:]
	}
	var offset int64
	switch {
	case rest == "Z":
	case len(rest) == len("+07:00") && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, m := digits(rest[1:3]), digits(rest[4:6])
		if h < 0 || h > 23 || m < 0 || m > 59 {
			return 0, false
		}
		offset = (h*60 + m) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := daysSinceEpoch(year, month, day)*86400 + hour*3600 + minute*60 + sec - offset
	// Stay clear of both ends of the range; time.Parse decides the few times near them.
	if secs <= 0 || secs >= math.MaxInt64/int64(time.Second) {
		return 0, false
	}
	return secs*1e9 + nanos, true
}

// digits returns the decimal number s (at most 18 digits), or -1 if s holds a non-digit.
func digits(s string) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// daysIn returns the number of days of month in year (proleptic Gregorian).
func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch returns the days from 1970-01-01 to the date (year ≥ 0), after Howard
// Hinnant's days_from_civil.
func daysSinceEpoch(year, month, day int64) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	yoe := year - era*400
	mp := (month + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

type timeError string

func (e timeError) Error() string { return string(e) }

const (
	errFractionalNanos = timeError("fractional nanoseconds")
	errTimeRange       = timeError("time out of range")
)

// parseUnixTime converts raw, a JSON number of units of scale nanoseconds since the unix epoch,
// to unix nanoseconds. Plain decimals are converted exactly (digits below a nanosecond are
// truncated); numbers with an exponent go through float64. The result lies in (0, MaxInt64].
func parseUnixTime(raw string, scale int64) (int64, error) {
	if !isPlainDecimal(raw) {
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil && !math.IsInf(f, 0) {
			return 0, errTimeRange
		}
		ns := f * float64(scale)
		if scale == 1 && ns != math.Trunc(ns) {
			return 0, errFractionalNanos
		}
		// float64(MaxInt64) rounds up to 2^63, which does not fit.
		if !(ns >= 1 && ns < math.MaxInt64) {
			return 0, errTimeRange
		}
		return int64(ns), nil
	}
	if raw[0] == '-' {
		return 0, errTimeRange
	}
	intPart, frac, _ := strings.Cut(raw, ".")
	if frac != "" && scale == 1 {
		return 0, errFractionalNanos
	}
	if len(intPart) > 19 {
		return 0, errTimeRange
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || n > math.MaxInt64/scale {
		return 0, errTimeRange
	}
	ns := n * scale
	// The fraction in nanoseconds: as many digits as scale has zeros, padded with zeros.
	var fracNs int64
	for s := scale / 10; s > 0; s /= 10 {
		var digit int64
		if frac != "" {
			digit, frac = int64(frac[0]-'0'), frac[1:]
		}
		fracNs += digit * s
	}
	if ns > math.MaxInt64-fracNs {
		return 0, errTimeRange
	}
	ns += fracNs
	if ns <= 0 {
		return 0, errTimeRange
	}
	return ns, nil
}

// log fills the log part of r.
func (d *ndjsonDecoder) log(r *record.Record) bool {
	if v := d.field(fBody); v != nil {
		body, ok := d.render(v)
		if !ok {
			d.notJSON(fBody, "")
			return false
		}
		r.Body = body
	}
	if v := d.field(fSeverity); v != nil {
		switch v.Type() {
		case fastjson.TypeString:
			text := v.str()
			n, ok := severityNumber(text)
			if !ok {
				d.invalid(fSeverity, "%.32q is not a severity; send trace, debug, info, warn, error or fatal (any case, optionally followed by 2, 3 or 4), or a number 1..24", text)
				return false
			}
			r.SeverityNumber, r.SeverityText = n, text
		case fastjson.TypeNumber:
			raw, ok := d.number(fSeverity)
			if !ok {
				return false
			}
			n, err := strconv.ParseUint(raw, 10, 8)
			if err != nil || n < 1 || n > 24 {
				d.invalid(fSeverity, "%.32s is not a severity number; send an integer 1..24 or a name such as \"info\"", raw)
				return false
			}
			r.SeverityNumber = uint8(n)
		default:
			d.wrongType(fSeverity, "a string such as \"info\" or a number 1..24")
			return false
		}
	}
	if d.field(fTraceID) != nil {
		r.HasTrace = true
		if !d.hexID(fTraceID, r.TraceID[:]) {
			return false
		}
		if d.field(fSpanID) != nil && !d.hexID(fSpanID, r.SpanID[:]) {
			return false
		}
	} else if d.field(fSpanID) != nil {
		d.missing(fTraceID, "logs that carry a span_id")
		return false
	}
	return true
}

// severityNumber maps a severity name (any case) to its OTLP number.
func severityNumber(text string) (uint8, bool) {
	if text == "" || len(text) > len("WARNING") {
		return 0, false
	}
	var buf [len("WARNING")]byte
	up := buf[:len(text)]
	for i := 0; i < len(text); i++ {
		c := text[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if n := severityBase(string(up)); n > 0 {
		return n, true
	}
	last := up[len(up)-1]
	if last < '2' || last > '4' {
		return 0, false
	}
	if n := severityBase(string(up[:len(up)-1])); n > 0 {
		return n + last - '1', true
	}
	return 0, false
}

// severityBase returns the OTLP severity number of an upper-case short name, or 0: TRACE 1,
// DEBUG 5, INFO 9, WARN (or WARNING) 13, ERROR 17, FATAL 21. "NAME2".."NAME4" add 1..3.
func severityBase(name string) uint8 {
	switch name {
	case "TRACE":
		return 1
	case "DEBUG":
		return 5
	case "INFO":
		return 9
	case "WARN", "WARNING":
		return 13
	case "ERROR":
		return 17
	case "FATAL":
		return 21
	}
	return 0
}

// metric fills the metric part of r.
func (d *ndjsonDecoder) metric(r *record.Record) bool {
	v := d.field(fValue)
	if v == nil {
		d.missing(fValue, "metric events")
		return false
	}
	if v.Type() != fastjson.TypeNumber {
		d.wrongType(fValue, "a number")
		return false
	}
	raw, ok := d.number(fValue)
	if !ok {
		return false
	}
	value, err := fastfloat.Parse(raw)
	if err != nil || math.IsInf(value, 0) {
		d.invalid(fValue, "%.64s is out of the float64 range; send a smaller number or a larger unit", raw)
		return false
	}
	unit, ok := d.str(fUnit)
	if !ok {
		return false
	}
	r.Value, r.Unit = d.e.convert(value, unit)
	if math.IsInf(r.Value, 0) {
		d.invalid(fValue, "%.64s %s is out of the float64 range in %s; send a smaller number", raw, unit, r.Unit)
		return false
	}
	kind, ok := d.str(fKind)
	if !ok {
		return false
	}
	switch kind {
	case "", "gauge":
		r.MetricKind = record.MetricGauge
	case "sum":
		r.MetricKind, r.Temporality = record.MetricSum, record.TemporalityCumulative
	case "counter":
		r.MetricKind, r.Temporality, r.Monotonic = record.MetricSum, record.TemporalityCumulative, true
	default:
		d.invalid(fKind, "%.32q is not a metric kind; send \"gauge\", \"sum\" or \"counter\"", kind)
		return false
	}
	return true
}

// span fills the span part of r.
func (d *ndjsonDecoder) span(r *record.Record) bool {
	r.HasTrace = true
	for _, i := range [...]int{fTraceID, fSpanID} {
		if d.field(i) == nil {
			d.missing(i, "span events")
			return false
		}
	}
	if !d.hexID(fTraceID, r.TraceID[:]) || !d.hexID(fSpanID, r.SpanID[:]) {
		return false
	}
	if d.field(fParentSpanID) != nil && !d.hexID(fParentSpanID, r.ParentSpanID[:]) {
		return false
	}
	if v := d.field(fDuration); v != nil {
		ns, ok := d.duration(v)
		if !ok {
			return false
		}
		r.Duration = ns
	}
	return true
}

// duration parses a span duration: a number of nanoseconds, or a string of a number and a
// duration unit of the unit table ("150ms", "1.5 s", "2min").
func (d *ndjsonDecoder) duration(v *jsonValue) (int64, bool) {
	var ns float64
	switch v.Type() {
	case fastjson.TypeNumber:
		raw, ok := d.number(fDuration)
		if !ok {
			return 0, false
		}
		f, err := fastfloat.Parse(raw)
		if err != nil {
			f = math.Inf(1)
		}
		ns = f
	case fastjson.TypeString:
		s := v.str()
		// The unit is the trailing run of letters (and the bytes of "µ"); spaces may precede it.
		i := len(s)
		for i > 0 && (s[i-1]|0x20 >= 'a' && s[i-1]|0x20 <= 'z' || s[i-1] >= 0x80) {
			i--
		}
		num, unit := strings.TrimRight(s[:i], " "), s[i:]
		conv, known := LookupUnit(unit)
		f, err := strconv.ParseFloat(num, 64)
		if unit == "" || !known || conv.Canonical != "ns" || !isJSONNumber(num) || num[0] == '-' || err != nil {
			d.invalid(fDuration, "%.64q is not a duration; send a number of nanoseconds or a string such as \"150ms\", \"1.5s\", \"2min\" (units ns, us, ms, s, min, h, d)", s)
			return 0, false
		}
		ns = f * conv.Factor
	default:
		d.wrongType(fDuration, "a number of nanoseconds or a string such as \"150ms\"")
		return 0, false
	}
	ns = math.Round(ns)
	// float64(MaxInt64) rounds up to 2^63, which does not fit.
	if !(ns >= 0 && ns < math.MaxInt64) {
		d.invalid(fDuration, "%.64s is out of range; send a non-negative duration below 292 years", v.MarshalTo(nil))
		return 0, false
	}
	return int64(ns), true
}

// hexID decodes field i, a string of 2×len(dst) hex digits, into dst. Trace and span ids must
// not be all zero; a parent span id may (it means "no parent"), or may be "".
func (d *ndjsonDecoder) hexID(i int, dst []byte) bool {
	v := d.field(i)
	if v.Type() != fastjson.TypeString {
		d.wrongType(i, "a string of "+strconv.Itoa(2*len(dst))+" hex digits")
		return false
	}
	s := v.str()
	if i == fParentSpanID && len(s) == 0 {
		return true
	}
	if len(s) != 2*len(dst) {
		d.invalid(i, "%.64q is not %d hex digits; send the W3C id in hex", s, 2*len(dst))
		return false
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil { // s is short: no allocation
		d.invalid(i, "%.64q is not %d hex digits; send the W3C id in hex", s, 2*len(dst))
		return false
	}
	if i != fParentSpanID && allZero(dst) {
		d.invalid(i, "is all zeros, which W3C trace context reserves for \"no id\"; send a random non-zero id")
		return false
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// kvs appends the key/value pairs of field i (absent: none), in the order given, to dst. Values
// are rendered by render.
func (d *ndjsonDecoder) kvs(i int, dst []record.KV) ([]record.KV, bool) {
	v := d.field(i)
	if v == nil {
		return dst, true
	}
	if v.Type() != fastjson.TypeObject {
		d.wrongType(i, "a JSON object of keys to values")
		return dst, false
	}
	bad := ""
	add := func(key string, v *jsonValue) {
		if bad != "" {
			return
		}
		value, ok := d.render(v)
		if !ok {
			bad = key
			return
		}
		dst = append(dst, record.KV{Key: key, Value: value})
	}
	if v.fj != nil {
		v.fj.GetObject().Visit(func(key []byte, v *fastjson.Value) {
			add(aliasString(key), &jsonValue{fj: v})
		})
	} else {
		for _, kv := range v.kvs {
			add(kv.key, &jsonValue{t: kv.t, s: kv.s})
		}
	}
	if bad != "" {
		d.notJSON(i, bad)
		return dst, false
	}
	return dst, true
}

// render renders a JSON value as a record string value (attribute values, log bodies):
//   - a string as it is (unescaped);
//   - an integer written without fraction or exponent as written ("-0" as "0"); any other
//     number that is a whole number of magnitude below 2^53 as a decimal integer ("1.0",
//     "1e3" → "1", "1000"); any other number as strconv.FormatFloat(f, 'g', -1, 64)
//     ("2.50" → "2.5", "1e300" → "1e+300"), or as written when it overflows float64;
//   - true and false as "true" and "false"; null as "";
//   - an object or array as compact JSON, keys in the order given and nested strings and
//     numbers as written.
//
// It reports false for a number or nested value that is not valid JSON. The result points into
// d.arena, the parser's buffer or the line: valid until the next line.
func (d *ndjsonDecoder) render(v *jsonValue) (string, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		return v.str(), true
	case fastjson.TypeTrue:
		return "true", true
	case fastjson.TypeFalse:
		return "false", true
	case fastjson.TypeNull:
		return "", true
	case fastjson.TypeNumber:
		start := len(d.arena)
		d.arena = v.MarshalTo(d.arena)
		raw := aliasString(d.arena[start:])
		if !isJSONNumber(raw) {
			return "", false
		}
		if isPlainInteger(raw) && raw != "-0" {
			return raw, true
		}
		f, err := fastfloat.Parse(raw)
		if err != nil || math.IsInf(f, 0) {
			return raw, true
		}
		start = len(d.arena)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			d.arena = strconv.AppendInt(d.arena, int64(f), 10)
		} else {
			d.arena = strconv.AppendFloat(d.arena, f, 'g', -1, 64)
		}
		return aliasString(d.arena[start:]), true
	default: // object, array
		start := len(d.arena)
		d.arena = v.MarshalTo(d.arena)
		// The parser is lenient; the stored text must be JSON. Parsing bounded the depth.
		if fastjson.ValidateBytes(d.arena[start:]) != nil {
			return "", false
		}
		return aliasString(d.arena[start:]), true
	}
}

// number returns field i, a JSON number, as written. It rejects text that the lenient parser
// took for a number but JSON does not (NaN, Infinity, leading zeros or plus signs).
func (d *ndjsonDecoder) number(i int) (string, bool) {
	start := len(d.arena)
	d.arena = d.field(i).MarshalTo(d.arena)
	raw := aliasString(d.arena[start:])
	if !isJSONNumber(raw) {
		d.notJSON(i, "")
		return "", false
	}
	return raw, true
}

// isJSONNumber reports whether s is a number of the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// isPlainInteger reports whether s, a JSON number, has neither fraction nor exponent.
func isPlainInteger(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// isPlainDecimal reports whether s, a JSON number, has no exponent.
func isPlainDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// str returns field i as a string ("" when absent); it rejects other types.
func (d *ndjsonDecoder) str(i int) (string, bool) {
	v := d.field(i)
	if v == nil {
		return "", true
	}
	if v.Type() != fastjson.TypeString {
		d.wrongType(i, "a string")
		return "", false
	}
	return v.str(), true
}

func (d *ndjsonDecoder) missing(i int, requiredBy string) {
	d.e.reject(d.index, d.line, ReasonMissingField, "missing field %q (required for %s); add it", nativeFieldNames[i], requiredBy)
}

func (d *ndjsonDecoder) invalid(i int, format string, args ...any) {
	d.e.reject(d.index, d.line, ReasonInvalidField, "field %q "+format, append([]any{nativeFieldNames[i]}, args...)...)
}

// notJSON rejects the line for a value of field i (and attribute key, if any) that the lenient
// parser took but JSON does not allow.
func (d *ndjsonDecoder) notJSON(i int, key string) {
	where := strconv.Quote(nativeFieldNames[i])
	if key != "" {
		where += " key " + strconv.Quote(shorten(key, 64))
	}
	d.e.reject(d.index, d.line, ReasonInvalidJSON, "line is not valid JSON (the value of %s is not a JSON value: NaN, Infinity, leading zeros, control characters or bad escapes); send one JSON object per line", where)
}

func (d *ndjsonDecoder) wrongType(i int, want string) {
	d.e.reject(d.index, d.line, ReasonInvalidField, "field %q is a JSON %s; send %s", nativeFieldNames[i], jsonTypeName(d.field(i).Type()), want)
}

// jsonTypeName names JSON type t for messages.
func jsonTypeName(t fastjson.Type) string {
	switch t {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "boolean"
	default:
		return t.String()
	}
}

// shorten cuts s to at most about n bytes at a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// aliasString returns b as a string without copying; b must not change while the string is in
// use. The decoder uses it for bytes owned by the parser or the arena, which stay unchanged until
// the next line.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
