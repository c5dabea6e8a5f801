package loader

import (
	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/record"
)

// The storage of the columns type, kept the way ch-go sends it (see chcols.go): FixedString
// columns as one flat buffer, String columns as one byte buffer plus the positions, and Array
// columns as flat elements plus where each row ends.

// fixed is a FixedString column: size bytes a row, contiguous.
type fixed struct {
	size int
	data []byte
	view [][]byte // rows' scratch
}

func (f *fixed) add(b []byte) { f.data = append(f.data, b...) }
func (f *fixed) reset()       { f.data = f.data[:0] }

// rows returns rows [lo, hi) as slices of data, valid until the next call.
func (f *fixed) rows(lo, hi int) [][]byte {
	f.view = f.view[:0]
	for r := lo; r < hi; r++ {
		f.view = append(f.view, f.data[r*f.size:(r+1)*f.size:(r+1)*f.size])
	}
	return f.view
}

// strCol is a String column stored the way clickhouse-go sends it (a proto.ColStr): the bytes
// of every row in one buffer and where each row is. It holds no pointers, so the garbage
// collector does not scan it, and the batch takes it without a copy (see chLayout).
type strCol struct {
	buf []byte
	pos []proto.Position
}

func (s *strCol) add(v string) {
	start := len(s.buf)
	s.buf = append(s.buf, v...)
	s.pos = append(s.pos, proto.Position{Start: start, End: len(s.buf)})
}

func (s *strCol) reset() { s.buf, s.pos = s.buf[:0], s.pos[:0] }

// row returns row i.
func (s *strCol) row(i int) string {
	p := s.pos[i]
	return string(s.buf[p.Start:p.End])
}

// strings returns rows [lo, hi), copied, for clickhouse-go's Append.
func (s *strCol) strings(lo, hi int) []string {
	out := make([]string, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, s.row(i))
	}
	return out
}

// strArrays is an Array(String) column: the elements of all rows in one strCol, and where each
// row ends.
type strArrays struct {
	flat strCol
	ends []int
}

func (a *strArrays) reset() {
	a.flat.reset()
	a.ends = a.ends[:0]
}

func (a *strArrays) addKeys(kvs []record.KV) {
	for _, kv := range kvs {
		a.flat.add(kv.Key)
	}
	a.ends = append(a.ends, len(a.flat.pos))
}

func (a *strArrays) addValues(kvs []record.KV) {
	for _, kv := range kvs {
		a.flat.add(kv.Value)
	}
	a.ends = append(a.ends, len(a.flat.pos))
}

// send appends rows [lo, hi) through clickhouse-go, row by row: the path when direct fill is
// off (see chLayout).
func (a *strArrays) send(col driver.BatchColumn, lo, hi int) error {
	for r := lo; r < hi; r++ {
		if err := col.AppendRow(a.flat.strings(start(a.ends, r), a.ends[r])); err != nil {
			return err
		}
	}
	return nil
}

// f64Arrays is an Array(Float64) column.
type f64Arrays struct {
	flat []float64
	ends []int
}

func (a *f64Arrays) reset() { a.flat, a.ends = a.flat[:0], a.ends[:0] }

func (a *f64Arrays) addBounds(bs []record.Bucket) {
	for _, b := range bs {
		a.flat = append(a.flat, b.UpperBound)
	}
	a.ends = append(a.ends, len(a.flat))
}

func (a *f64Arrays) addQuantiles(qs []record.Quantile) {
	for _, q := range qs {
		a.flat = append(a.flat, q.Quantile)
	}
	a.ends = append(a.ends, len(a.flat))
}

func (a *f64Arrays) addQuantileValues(qs []record.Quantile) {
	for _, q := range qs {
		a.flat = append(a.flat, q.Value)
	}
	a.ends = append(a.ends, len(a.flat))
}

func (a *f64Arrays) send(col driver.BatchColumn, lo, hi int) error {
	for r := lo; r < hi; r++ {
		if err := col.AppendRow(a.flat[start(a.ends, r):a.ends[r]]); err != nil {
			return err
		}
	}
	return nil
}

// u64Arrays is an Array(UInt64) column.
type u64Arrays struct {
	flat []uint64
	ends []int
}

func (a *u64Arrays) reset() { a.flat, a.ends = a.flat[:0], a.ends[:0] }

func (a *u64Arrays) addCounts(bs []record.Bucket) {
	for _, b := range bs {
		a.flat = append(a.flat, b.Count)
	}
	a.ends = append(a.ends, len(a.flat))
}

func (a *u64Arrays) send(col driver.BatchColumn, lo, hi int) error {
	for r := lo; r < hi; r++ {
		if err := col.AppendRow(a.flat[start(a.ends, r):a.ends[r]]); err != nil {
			return err
		}
	}
	return nil
}

// start returns where row r begins in a flat array column.
func start(ends []int, r int) int {
	if r == 0 {
		return 0
	}
	return ends[r-1]
}
