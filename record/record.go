package record

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/zeebo/xxh3"
)

// Version is the encoding version this package writes.
const Version = 1

// Signal is the kind of telemetry a record carries.
type Signal uint8

// Signals. The zero value is invalid.
const (
	SignalLog    Signal = 1
	SignalMetric Signal = 2
	SignalSpan   Signal = 3
)

// String returns "log", "metric" or "span" (the label used in metrics and table names).
func (s Signal) String() string {
	switch s {
	case SignalLog:
		return "log"
	case SignalMetric:
		return "metric"
	case SignalSpan:
		return "span"
	}
	return fmt.Sprintf("signal(%d)", uint8(s))
}

// MetricKind is the OTLP data point type of a metric record.
type MetricKind uint8

// Metric kinds. A native-format metric is a gauge unless it says otherwise.
const (
	MetricGauge                MetricKind = 1
	MetricSum                  MetricKind = 2
	MetricHistogram            MetricKind = 3
	MetricExponentialHistogram MetricKind = 4
	MetricSummary              MetricKind = 5
)

// Temporality is the aggregation temporality of sums and histograms.
type Temporality uint8

// Temporalities, numbered as in OTLP.
const (
	TemporalityUnspecified Temporality = 0
	TemporalityDelta       Temporality = 1
	TemporalityCumulative  Temporality = 2
)

// ID is a 128-bit event id. The zero ID means "not set".
type ID [16]byte

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// String returns id as 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// KV is one attribute. Values are strings: the normalizer renders numbers, booleans and nested
// values canonically (see the normalizer's documentation).
type KV struct {
	Key   string
	Value string
}

// Bucket is one histogram bucket: Count values in (previous UpperBound, UpperBound]. The last
// bucket of an explicit histogram has UpperBound +Inf.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Quantile is one summary quantile (0..1) and its value.
type Quantile struct {
	Quantile float64
	Value    float64
}

// Record is one normalized event. Values are in canonical units (durations ns, sizes bytes,
// ratios 0..1, times unix ns UTC); Unit names the canonical unit, or the original unit when it is
// not in the conversion table.
type Record struct {
	Tenant     string
	Signal     Signal
	EventID    ID
	Timestamp  int64 // unix ns UTC
	ReceivedAt int64 // unix ns UTC, set by the normalizer
	Name       string
	Scope      string // instrumentation scope name, when known
	Unit       string
	Attributes []KV
	Resource   []KV

	// Trace context: spans always, logs when they carry one. HasTrace says whether it is set.
	HasTrace     bool
	TraceID      [16]byte
	SpanID       [8]byte
	ParentSpanID [8]byte

	// Logs.
	SeverityNumber uint8
	SeverityText   string
	Body           string

	// Metrics. Value is the gauge or sum value. Distributions (histograms, exponential
	// histograms as explicit buckets, summaries) set HasDistribution and Count, Sum, Buckets or
	// Quantiles; HasMinMax says whether Min and Max are set.
	MetricKind      MetricKind
	Temporality     Temporality
	Monotonic       bool
	Value           float64
	HasDistribution bool
	Count           uint64
	Sum             float64
	HasMinMax       bool
	Min, Max        float64
	Buckets         []Bucket
	Quantiles       []Quantile

	// Spans.
	Duration      int64 // ns
	SpanKind      uint8 // OTLP span kind
	StatusCode    uint8 // OTLP status code
	StatusMessage string
}

const (
	flagTrace = 1 << iota
	flagDistribution
	flagMinMax
	flagMonotonic

	flagsKnown = flagTrace | flagDistribution | flagMinMax | flagMonotonic
)

const (
	offEventID    = 3
	offTimestamp  = offEventID + 16
	offReceivedAt = offTimestamp + 8
	headerSize    = offReceivedAt + 8
)

// Errors returned by Decode and the batch functions. Each is wrapped with the offset or value at
// fault; test with errors.Is.
var (
	// ErrVersion is returned for a record whose version this package does not read.
	ErrVersion = errors.New("unknown record version")
	// ErrCorrupt is returned for a record or frame that is truncated or malformed.
	ErrCorrupt = errors.New("corrupt record")
)

// Append encodes r and appends it to dst.
func Append(dst []byte, r *Record) []byte {
	var flags byte
	if r.HasTrace {
		flags |= flagTrace
	}
	if r.HasDistribution {
		flags |= flagDistribution
	}
	if r.HasMinMax {
		flags |= flagMinMax
	}
	if r.Monotonic {
		flags |= flagMonotonic
	}
	dst = append(dst, Version, byte(r.Signal), flags)
	dst = append(dst, r.EventID[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Timestamp))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.ReceivedAt))
	dst = appendString(dst, r.Tenant)
	dst = appendString(dst, r.Name)
	dst = appendString(dst, r.Scope)
	dst = appendString(dst, r.Unit)
	dst = appendKVs(dst, r.Attributes)
	dst = appendKVs(dst, r.Resource)
	if r.HasTrace {
		dst = append(dst, r.TraceID[:]...)
		dst = append(dst, r.SpanID[:]...)
		dst = append(dst, r.ParentSpanID[:]...)
	}
	switch r.Signal {
	case SignalLog:
		dst = append(dst, r.SeverityNumber)
		dst = appendString(dst, r.SeverityText)
		dst = appendString(dst, r.Body)
	case SignalMetric:
		dst = append(dst, byte(r.MetricKind), byte(r.Temporality))
		dst = appendFloat(dst, r.Value)
		if r.HasDistribution {
			dst = binary.AppendUvarint(dst, r.Count)
			dst = appendFloat(dst, r.Sum)
		}
		if r.HasMinMax {
			dst = appendFloat(dst, r.Min)
			dst = appendFloat(dst, r.Max)
		}
		if r.HasDistribution {
			dst = binary.AppendUvarint(dst, uint64(len(r.Buckets)))
			for _, b := range r.Buckets {
				dst = appendFloat(dst, b.UpperBound)
				dst = binary.AppendUvarint(dst, b.Count)
			}
			dst = binary.AppendUvarint(dst, uint64(len(r.Quantiles)))
			for _, q := range r.Quantiles {
				dst = appendFloat(dst, q.Quantile)
				dst = appendFloat(dst, q.Value)
			}
		}
	case SignalSpan:
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Duration))
		dst = append(dst, r.SpanKind, r.StatusCode)
		dst = appendString(dst, r.StatusMessage)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendKVs(dst []byte, kvs []KV) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(kvs)))
	for _, kv := range kvs {
		dst = appendString(dst, kv.Key)
		dst = appendString(dst, kv.Value)
	}
	return dst
}

func appendFloat(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

// Decode decodes one record from b into r, reusing r's slices. Strings in r are substrings of
// one copy of b, so b may be reused after Decode returns; that copy is Decode's only allocation
// once r's slices have grown. Decode never panics on malformed input, and it allocates no more
// than a small multiple of len(b) whatever counts the input claims. It returns an error
// wrapping ErrVersion for a version it does not read, and ErrCorrupt for anything else that is
// not a valid record: truncated, an unknown signal or flag, a count or length beyond the input,
// or trailing bytes. After an error r holds no useful data.
func Decode(b []byte, r *Record) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != Version {
		return fmt.Errorf("%w %d", ErrVersion, b[0])
	}
	if len(b) < headerSize {
		return fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrCorrupt, len(b), headerSize)
	}
	signal, flags := Signal(b[1]), b[2]
	if signal < SignalLog || signal > SignalSpan {
		return fmt.Errorf("%w: unknown signal %d", ErrCorrupt, b[1])
	}
	if flags&^flagsKnown != 0 {
		return fmt.Errorf("%w: unknown flags %#02x", ErrCorrupt, flags&^flagsKnown)
	}
	d := decoder{s: string(b), off: headerSize}
	attrs, res, buckets, quantiles := r.Attributes[:0], r.Resource[:0], r.Buckets[:0], r.Quantiles[:0]
	*r = Record{
		Signal:          signal,
		EventID:         ID(b[offEventID:offTimestamp]),
		Timestamp:       int64(binary.LittleEndian.Uint64(b[offTimestamp:])),
		ReceivedAt:      int64(binary.LittleEndian.Uint64(b[offReceivedAt:])),
		HasTrace:        flags&flagTrace != 0,
		HasDistribution: flags&flagDistribution != 0,
		HasMinMax:       flags&flagMinMax != 0,
		Monotonic:       flags&flagMonotonic != 0,
	}
	r.Tenant = d.str()
	r.Name = d.str()
	r.Scope = d.str()
	r.Unit = d.str()
	r.Attributes = d.kvs(attrs)
	r.Resource = d.kvs(res)
	r.Buckets, r.Quantiles = buckets, quantiles // empty, keeping their capacity for reuse
	if r.HasTrace {
		d.read(r.TraceID[:])
		d.read(r.SpanID[:])
		d.read(r.ParentSpanID[:])
	}
	switch r.Signal {
	case SignalLog:
		r.SeverityNumber = d.byte()
		r.SeverityText = d.str()
		r.Body = d.str()
	case SignalMetric:
		r.MetricKind = MetricKind(d.byte())
		r.Temporality = Temporality(d.byte())
		r.Value = d.float()
		if r.HasDistribution {
			r.Count = d.uvarint()
			r.Sum = d.float()
		}
		if r.HasMinMax {
			r.Min = d.float()
			r.Max = d.float()
		}
		if r.HasDistribution {
			n := d.count(9)
			buckets = slices.Grow(buckets, n)
			for range n {
				buckets = append(buckets, Bucket{UpperBound: d.float(), Count: d.uvarint()})
			}
			r.Buckets = buckets
			n = d.count(16)
			quantiles = slices.Grow(quantiles, n)
			for range n {
				quantiles = append(quantiles, Quantile{Quantile: d.float(), Value: d.float()})
			}
			r.Quantiles = quantiles
		}
	case SignalSpan:
		r.Duration = int64(d.uint64())
		r.SpanKind = d.byte()
		r.StatusCode = d.byte()
		r.StatusMessage = d.str()
	}
	if err := d.err(); err != nil {
		return err
	}
	if d.off != len(d.s) {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.s)-d.off)
	}
	return nil
}

// decoder reads from one string. The first failure sticks: it moves off to the end, so later
// reads fail too and return zero values, and Decode formats it into an error once, at the end.
// Lengths and strings have a fast path for the common one-byte length.
type decoder struct {
	s   string
	off int
	// At the first failure: what was read and where.
	what string
	at   int
}

func (d *decoder) fail(what string) {
	if d.what == "" {
		d.what, d.at = what, d.off
	}
	d.off = len(d.s)
}

func (d *decoder) err() error {
	if d.what == "" {
		return nil
	}
	return fmt.Errorf("%w: truncated or malformed %s at offset %d", ErrCorrupt, d.what, d.at)
}

func (d *decoder) uvarint() uint64 {
	if d.off < len(d.s) && d.s[d.off] < 0x80 {
		d.off++
		return uint64(d.s[d.off-1])
	}
	return d.uvarintSlow()
}

func (d *decoder) uvarintSlow() uint64 {
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off >= len(d.s) {
			break
		}
		c := d.s[d.off]
		d.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail("uvarint")
	return 0
}

// count reads a length and checks that the remaining input can hold that many items of at least
// minSize bytes each, so a corrupt length cannot cause a large allocation.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off)/uint64(minSize) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	// Fast path: a one-byte length, and the string is there.
	if d.off < len(d.s) {
		if n := int(d.s[d.off]); n < 0x80 && n < len(d.s)-d.off {
			d.off += 1 + n
			return d.s[d.off-n : d.off]
		}
	}
	return d.strSlow()
}

func (d *decoder) strSlow() string {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off) {
		d.fail("string")
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

// read fills dst from the input, or leaves it as it is at the end of the input.
func (d *decoder) read(dst []byte) {
	if len(d.s)-d.off < len(dst) {
		d.fail("bytes")
		return
	}
	d.off += copy(dst, d.s[d.off:])
}

func (d *decoder) byte() byte {
	if d.off >= len(d.s) {
		d.fail("byte")
		return 0
	}
	d.off++
	return d.s[d.off-1]
}

func (d *decoder) uint64() uint64 {
	if len(d.s)-d.off < 8 {
		d.fail("uint64")
		return 0
	}
	d.off += 8
	s := d.s[d.off-8 : d.off]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func (d *decoder) float() float64 { return math.Float64frombits(d.uint64()) }

func (d *decoder) kvs(dst []KV) []KV {
	n := d.count(2)
	dst = slices.Grow(dst, n)
	for range n {
		k := d.str()
		dst = append(dst, KV{Key: k, Value: d.str()})
	}
	return dst
}

// IDFromString maps an event id given by a client to an ID: 32 hex digits or a UUID
// (8-4-4-4-12 hex digits), in either case, are used as they are; any other string, and the
// all-zero id (which means "not set"), is hashed together with the tenant, so the same given id
// always yields the same ID for that tenant. It does not allocate for ids of usual length.
func IDFromString(tenant, s string) ID {
	if id, ok := parseHexID(s); ok && !id.IsZero() {
		return id
	}
	// The hash input is tenant, NUL, s: unambiguous, since tenant ids are a-z, 0-9 and '-'
	// (the normalizer rejects others).
	var buf [128]byte
	in := buf[:0]
	if n := len(tenant) + 1 + len(s); n > len(buf) {
		in = make([]byte, 0, n)
	}
	in = append(append(append(in, tenant...), 0), s...)
	return hashID(xxh3.Hash128Seed(in, idSeedGiven))
}

// parseHexID parses 32 hex digits, or a UUID: 32 hex digits in groups of 8-4-4-4-12 separated
// by dashes.
func parseHexID(s string) (id ID, ok bool) {
	switch len(s) {
	case 32:
		return id, unhex(id[:], s)
	case 36:
		ok = s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
			unhex(id[0:4], s[0:8]) && unhex(id[4:6], s[9:13]) && unhex(id[6:8], s[14:18]) &&
			unhex(id[8:10], s[19:23]) && unhex(id[10:16], s[24:36])
		return id, ok
	}
	return id, false
}

// unhex decodes the hex digits of s into dst, which is half as long.
func unhex(dst []byte, s string) bool {
	_, err := hex.Decode(dst, []byte(s)) // s is short: the conversion does not allocate
	return err == nil
}

const (
	idSeedContent = 0x696e67657374_01 // "ingest" + 1
	idSeedGiven   = 0x696e67657374_02
)

// hashID returns h as an ID, big-endian (xxh3's canonical form).
func hashID(h xxh3.Uint128) ID {
	var id ID
	binary.BigEndian.PutUint64(id[:8], h.Hi)
	binary.BigEndian.PutUint64(id[8:], h.Lo)
	return id
}
