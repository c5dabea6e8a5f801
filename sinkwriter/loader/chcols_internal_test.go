package loader

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/chtest"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// blockBatch is a driver.Batch over a clickhouse-go block, for comparing what columns.send
// puts in it. With public set it hides the block's columns, so send takes clickhouse-go's
// Append path.
type blockBatch struct {
	driver.Batch
	block  *proto.Block
	public bool
}

func (b *blockBatch) Columns() []column.Interface {
	if b.public {
		return nil
	}
	return b.block.Columns
}

func (b *blockBatch) Column(i int) driver.BatchColumn { return blockColumn{b.block.Columns[i]} }

type blockColumn struct{ c column.Interface }

func (c blockColumn) Append(v any) error    { _, err := c.c.Append(v); return err }
func (c blockColumn) AppendRow(v any) error { return c.c.AppendRow(v) }

// TestDirectFillSendsTheSameBlockAsClickHouseGoAppend checks that filling the batch's ch-go
// columns directly (chLayout) encodes, byte for byte, the block that clickhouse-go's public
// Append path encodes, for every table, whole and for a sub-range (bisection), with empty and
// non-empty arrays; and that direct fill is on for the clickhouse-go in go.mod.
func TestDirectFillSendsTheSameBlockAsClickHouseGoAppend(t *testing.T) {
	if _, ok := layout(); !ok {
		t.Fatal("direct fill is off: clickhouse-go's column types changed, see chLayout")
	}
	ch := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := schema.Migrate(ctx, ch.Conn(), "ingest"); err != nil {
		t.Fatal(err)
	}
	for tb := range numTables {
		types := map[string]string{}
		rows, err := ch.Conn().Query(ctx, "SELECT name, type FROM system.columns WHERE database = 'ingest' AND table = '"+tb.String()+"'")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			types[name] = typ
		}
		rows.Close()

		c := newColumns(tb)
		var rec record.Record
		for i, kr := range variedRecords(record.Signal(tb.kind()+1), 40) {
			if err := record.Decode(kr.Value, &rec); err != nil {
				t.Fatal(err)
			}
			c.add(&rec, kr.Topic, kr.Partition, int64(i))
		}
		newBlock := func() *proto.Block {
			t.Helper()
			block := proto.NewBlock()
			for _, name := range columnNames(tb) {
				if err := block.AddColumn(name, column.Type(types[name])); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			return block
		}
		block := newBlock()
		for i, v := range c.values(0, c.n) {
			switch v.(type) {
			case *strCol, *strArrays, *f64Arrays, *u64Arrays, *fixed:
				if !c.sendDirect(block.Columns[i], &chOffsets{}, v, 0, c.n) {
					t.Errorf("%s.%s (%s) is not filled directly", tb, columnNames(tb)[i], types[columnNames(tb)[i]])
				}
			}
		}
		encode := func(lo, hi int, public bool) []byte {
			t.Helper()
			block := newBlock()
			if err := c.send(&blockBatch{block: block, public: public}, lo, hi); err != nil {
				t.Fatal(err)
			}
			var buf chproto.Buffer
			if err := block.EncodeHeader(&buf, proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
				t.Fatal(err)
			}
			for i := range block.Columns {
				if err := block.EncodeColumn(&buf, proto.DBMS_TCP_PROTOCOL_VERSION, i); err != nil {
					t.Fatal(err)
				}
			}
			return buf.Buf
		}
		for _, r := range [][2]int{{0, c.n}, {0, 1}, {7, 23}, {c.n - 1, c.n}} {
			direct, public := encode(r[0], r[1], false), encode(r[0], r[1], true)
			if !bytes.Equal(direct, public) {
				t.Errorf("%s rows [%d, %d): direct fill encodes %d bytes, Append %d, not the same", tb, r[0], r[1], len(direct), len(public))
			}
		}
	}
}

// variedRecords returns n encoded records of signal sig with 0 to 3 attributes, resource
// attributes, buckets and quantiles, and empty and non-empty strings.
func variedRecords(sig record.Signal, n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range n {
		r := record.Record{Tenant: "t" + strconv.Itoa(i%3), Signal: sig, Timestamp: int64(i) * 1e9, Name: strconv.Itoa(i)[1:],
			Body: "body " + strconv.Itoa(i), StatusMessage: strconv.Itoa(i * i), SeverityText: "INFO"[:i%4]}
		for j := range i % 4 {
			r.Attributes = append(r.Attributes, record.KV{Key: "k" + strconv.Itoa(j), Value: strconv.Itoa(i * j)})
		}
		for j := range (i / 2) % 3 {
			r.Resource = append(r.Resource, record.KV{Key: "r" + strconv.Itoa(j), Value: ""})
		}
		if i%5 != 0 {
			r.HasDistribution = true
			r.Buckets = []record.Bucket{{UpperBound: float64(i), Count: uint64(i)}}
			r.Quantiles = []record.Quantile{{Quantile: 0.5, Value: float64(i)}}
		}
		r.EventID[15], r.TraceID[3], r.SpanID[1] = byte(i), byte(i), byte(i)
		out[i] = &kgo.Record{Topic: "ingest.acme", Partition: int32(i % 2), Value: record.Append(nil, &r)}
	}
	return out
}
