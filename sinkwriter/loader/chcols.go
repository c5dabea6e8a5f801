package loader

import (
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// Direct column fill.
//
// clickhouse-go builds a fresh block for every batch and appends to its ch-go columns with
// append: a 150,000-row flush grew its String buffers from empty (about five times their final
// size in garbage, and as many copies), and arrays went element by element through
// interfaces, an allocation per row or per element. The loader instead sets the ch-go columns
// inside the batch's String, FixedString and Array(String, Float64, UInt64) columns itself: to
// its own column storage, which has the same layout (strCol, fixed, flat arrays), without a
// copy, and array offsets in storage kept across flushes (columns.ch). The batch only reads
// them, and only during the INSERT, while the columns do not change. What ClickHouse receives
// is byte for byte what the public Append path sends (TestDirectFillSendsTheSameBlockAs...).
//
// Those ch-go columns are unexported fields of clickhouse-go's column types, so chLayout finds
// them once with reflect and checks every name and type; when anything differs (another
// clickhouse-go version) direct fill is off and the public Append path is used, unchanged.

// chLayout is where clickhouse-go keeps the ch-go columns, as field offsets.
type chLayout struct {
	strCol     uintptr // column.String.col, a proto.ColStr
	fixedCol   uintptr // column.FixedString.col, a proto.ColFixedStr
	arrOffsets uintptr // column.Array.offsets, a []*offset
	offValues  uintptr // offset.values, a column.UInt64
	u64Col     uintptr // column.UInt64.col, a proto.ColUInt64
	f64Col     uintptr // column.Float64.col, a proto.ColFloat64
}

// layout returns the field offsets, and false when clickhouse-go's types are not the ones
// direct fill knows.
var layout = sync.OnceValues(func() (chLayout, bool) {
	var l chLayout
	field := func(t reflect.Type, name string, want reflect.Type) (uintptr, reflect.Type, bool) {
		f, ok := t.FieldByName(name)
		if !ok || len(f.Index) != 1 || (want != nil && f.Type != want) {
			return 0, nil, false
		}
		return f.Offset, f.Type, true
	}
	var ok1, ok2, ok3, ok4, ok5, ok6 bool
	var offsType reflect.Type
	l.strCol, _, ok1 = field(reflect.TypeFor[column.String](), "col", reflect.TypeFor[proto.ColStr]())
	l.fixedCol, _, ok2 = field(reflect.TypeFor[column.FixedString](), "col", reflect.TypeFor[proto.ColFixedStr]())
	l.arrOffsets, offsType, ok3 = field(reflect.TypeFor[column.Array](), "offsets", nil)
	if !ok1 || !ok2 || !ok3 || offsType.Kind() != reflect.Slice || offsType.Elem().Kind() != reflect.Pointer ||
		offsType.Elem().Elem().Kind() != reflect.Struct {
		return chLayout{}, false
	}
	l.offValues, _, ok4 = field(offsType.Elem().Elem(), "values", reflect.TypeFor[column.UInt64]())
	l.u64Col, _, ok5 = field(reflect.TypeFor[column.UInt64](), "col", reflect.TypeFor[proto.ColUInt64]())
	l.f64Col, _, ok6 = field(reflect.TypeFor[column.Float64](), "col", reflect.TypeFor[proto.ColFloat64]())
	return l, ok4 && ok5 && ok6
})

// chString returns the ch-go column of a String column.
func chString(c column.Interface) (*proto.ColStr, bool) {
	l, ok := layout()
	s, isStr := c.(*column.String)
	if !ok || !isStr || s == nil {
		return nil, false
	}
	return (*proto.ColStr)(unsafe.Add(unsafe.Pointer(s), l.strCol)), true
}

// chFixed returns the ch-go column of a FixedString column.
func chFixed(c column.Interface) (*proto.ColFixedStr, bool) {
	l, ok := layout()
	f, isFixed := c.(*column.FixedString)
	if !ok || !isFixed || f == nil {
		return nil, false
	}
	return (*proto.ColFixedStr)(unsafe.Add(unsafe.Pointer(f), l.fixedCol)), true
}

// chUInt64 returns the ch-go column of a UInt64 column.
func chUInt64(c column.Interface) (*proto.ColUInt64, bool) {
	l, ok := layout()
	u, isU64 := c.(*column.UInt64)
	if !ok || !isU64 || u == nil {
		return nil, false
	}
	return (*proto.ColUInt64)(unsafe.Add(unsafe.Pointer(u), l.u64Col)), true
}

// chFloat64 returns the ch-go column of a Float64 column.
func chFloat64(c column.Interface) (*proto.ColFloat64, bool) {
	l, ok := layout()
	f, isF64 := c.(*column.Float64)
	if !ok || !isF64 || f == nil {
		return nil, false
	}
	return (*proto.ColFloat64)(unsafe.Add(unsafe.Pointer(f), l.f64Col)), true
}

// chArray returns the element column and the ch-go offsets column of a one-level Array
// column of elem ("String", "Float64", "UInt64").
func chArray(c column.Interface, elem string) (column.Interface, *proto.ColUInt64, bool) {
	l, ok := layout()
	a, isArr := c.(*column.Array)
	if !ok || !isArr || a == nil || a.Type() != column.Type("Array("+elem+")") {
		return nil, nil, false
	}
	// offsets is a []*offset, one per level.
	offs := *(*[]unsafe.Pointer)(unsafe.Add(unsafe.Pointer(a), l.arrOffsets))
	if len(offs) != 1 || offs[0] == nil {
		return nil, nil, false
	}
	return a.Base(), (*proto.ColUInt64)(unsafe.Add(offs[0], l.offValues+l.u64Col)), true
}

// chOffsets is the storage of an Array column's offsets, kept across flushes.
type chOffsets struct{ off []uint64 }

// fill sets rows [lo, hi) as the content of col, without a copy: the batch only reads it.
func (s *strCol) fill(col *proto.ColStr, lo, hi int) bool {
	if len(col.Pos) != 0 {
		return false
	}
	col.Buf, col.Pos = s.buf[:len(s.buf):len(s.buf)], s.pos[lo:hi:hi]
	return true
}

// fill sets the offsets of rows [lo, hi) of an Array column whose rows end at ends, as
// Array.AppendRow would have appended them, in kept storage.
func (kept *chOffsets) fill(offs *proto.ColUInt64, ends []int, lo, hi int) {
	s := start(ends, lo)
	o := slices.Grow(kept.off[:0], hi-lo)
	for r := lo; r < hi; r++ {
		o = append(o, uint64(ends[r]-s)) // cumulative, from the first row sent
	}
	kept.off, *offs = o, o
}

// fill sets rows [lo, hi) as the content of an Array(String)'s columns: the elements without a
// copy, the offsets in kept storage.
func (a *strArrays) fill(col column.Interface, kept *chOffsets, lo, hi int) bool {
	base, offs, ok := chArray(col, "String")
	if !ok || len(*offs) != 0 {
		return false
	}
	elems, ok := chString(base)
	if !ok || !a.flat.fill(elems, start(a.ends, lo), start(a.ends, hi)) {
		return false
	}
	kept.fill(offs, a.ends, lo, hi)
	return true
}

// fill sets rows [lo, hi) as the content of an Array(Float64)'s columns.
func (a *f64Arrays) fill(col column.Interface, kept *chOffsets, lo, hi int) bool {
	base, offs, ok := chArray(col, "Float64")
	if !ok || len(*offs) != 0 {
		return false
	}
	elems, ok := chFloat64(base)
	if !ok || len(*elems) != 0 {
		return false
	}
	s, e := start(a.ends, lo), start(a.ends, hi)
	*elems = a.flat[s:e:e]
	kept.fill(offs, a.ends, lo, hi)
	return true
}

// fill sets rows [lo, hi) as the content of an Array(UInt64)'s columns.
func (a *u64Arrays) fill(col column.Interface, kept *chOffsets, lo, hi int) bool {
	base, offs, ok := chArray(col, "UInt64")
	if !ok || len(*offs) != 0 {
		return false
	}
	elems, ok := chUInt64(base)
	if !ok || len(*elems) != 0 {
		return false
	}
	s, e := start(a.ends, lo), start(a.ends, hi)
	*elems = a.flat[s:e:e]
	kept.fill(offs, a.ends, lo, hi)
	return true
}

// fill sets rows [lo, hi) as the content of col, without a copy: the batch only reads it.
func (f *fixed) fill(col *proto.ColFixedStr, lo, hi int) bool {
	if col.Size != f.size || len(col.Buf) != 0 {
		return false
	}
	col.Buf = f.data[lo*f.size : hi*f.size : hi*f.size]
	return true
}

// sendDirect fills col with v's rows [lo, hi) through its ch-go column, reporting whether it
// could (see chLayout); if not, nothing was appended.
func (c *columns) sendDirect(col column.Interface, kept *chOffsets, v any, lo, hi int) bool {
	switch v := v.(type) {
	case *strCol:
		if s, ok := chString(col); ok {
			return v.fill(s, lo, hi)
		}
	case *strArrays:
		return v.fill(col, kept, lo, hi)
	case *f64Arrays:
		return v.fill(col, kept, lo, hi)
	case *u64Arrays:
		return v.fill(col, kept, lo, hi)
	case *fixed:
		if f, ok := chFixed(col); ok {
			return v.fill(f, lo, hi)
		}
	}
	return false
}
