package loader

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ledgerKey names one ledger entry: a table and a Kafka partition.
type ledgerKey struct {
	table     table
	topic     string
	partition int32
}

// ledgerReader reads the offsets ledger: the highest offset each table holds of each
// partition. A missing key means the table holds nothing of that partition: look keys up with
// offsetIn. It is the seam the tests replace (chLedger reads ClickHouse).
type ledgerReader interface {
	read(ctx context.Context) (map[ledgerKey]int64, error)
}

// offsetIn returns the highest offset of k in led, or -1 when the table holds nothing of it.
func offsetIn(led map[ledgerKey]int64, k ledgerKey) int64 {
	if off, ok := led[k]; ok {
		return off
	}
	return -1
}

// ledger decides, from the offsets ledger, which records a table holds already and must be
// skipped. It keeps the ledger as read once per group session (load, forget), for the records
// of newly assigned partitions, and reads it fresh for reconcile, after an INSERT whose fate is
// unknown.
//
// Concurrency: not safe for concurrent use; the consumer loop's goroutine owns it (the
// flusher, which calls reconcile, runs on that goroutine too).
type ledger struct {
	src     ledgerReader
	skipped *prometheus.CounterVec // by table: ingest_loader_records_skipped_total

	// offsets is the ledger as read at the start of this session; nil until loaded.
	offsets map[ledgerKey]int64
}

func newLedger(src ledgerReader, skipped *prometheus.CounterVec) *ledger {
	return &ledger{src: src, skipped: skipped}
}

// loaded reports whether this session's ledger has been read.
func (l *ledger) loaded() bool { return l.offsets != nil }

// forget drops the session's ledger: the next session (a new assignment) reads it again
// before its first record.
func (l *ledger) forget() { l.offsets = nil }

// load reads the ledger for this session. On error nothing changes and the caller retries.
func (l *ledger) load(ctx context.Context) error {
	led, err := l.src.read(ctx)
	if err != nil {
		return err
	}
	if led == nil {
		led = map[ledgerKey]int64{}
	}
	l.offsets = led
	return nil
}

// skip reports whether table t holds rec already (rec's offset is at or below t's ledger
// offset for rec's partition), counting it as skipped. It must be called after load.
func (l *ledger) skip(t table, rec *kgo.Record) bool {
	if rec.Offset > offsetIn(l.offsets, ledgerKey{t, rec.Topic, rec.Partition}) {
		return false
	}
	l.skipped.WithLabelValues(t.String()).Inc()
	return true
}

// reconcile reads the ledger now and returns the records of recs (records of table t) that t
// does not hold, in their order, counting the others as skipped. It is for after an INSERT
// attempt that failed but may have landed: a block is atomic, so either every record of it
// is kept or none is; recs may span several blocks (a partial batch, when a bisected half
// landed), and each partition is decided on its own. kept reuses recs' array; the records
// dropped from its tail are cleared. On error recs is returned unchanged.
func (l *ledger) reconcile(ctx context.Context, t table, recs []*kgo.Record) (kept []*kgo.Record, err error) {
	led, err := l.src.read(ctx)
	if err != nil {
		return recs, err
	}
	kept = recs[:0]
	for _, rec := range recs {
		if rec.Offset > offsetIn(led, ledgerKey{t, rec.Topic, rec.Partition}) {
			kept = append(kept, rec)
		} else {
			l.skipped.WithLabelValues(t.String()).Inc()
		}
	}
	clear(recs[len(kept):])
	return kept, nil
}

// ledgerTables is the SQL list of every table the loader writes, live and shadow: 'logs', ...
func ledgerTables() string {
	names := make([]string, 0, numTables)
	for t := range numTables {
		names = append(names, "'"+t.String()+"'")
	}
	return strings.Join(names, ", ")
}

// chLedger reads the ledger table loader_offsets.
type chLedger struct {
	conn     driver.Conn
	database string
}

func (cl *chLedger) read(ctx context.Context) (map[ledgerKey]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := cl.conn.Query(ctx, "SELECT table_name, kafka_topic, kafka_partition, max(kafka_offset) FROM `"+
		cl.database+"`.loader_offsets WHERE table_name IN ("+ledgerTables()+") GROUP BY table_name, kafka_topic, kafka_partition")
	if err != nil {
		return nil, fmt.Errorf("cannot read the offsets ledger: %w", err)
	}
	defer rows.Close()
	out := make(map[ledgerKey]int64)
	for rows.Next() {
		var (
			name, topic string
			partition   int32
			offset      uint64
		)
		if err := rows.Scan(&name, &topic, &partition, &offset); err != nil {
			return nil, fmt.Errorf("cannot read the offsets ledger: %w", err)
		}
		for t := range numTables {
			if t.String() == name {
				out[ledgerKey{t, topic, partition}] = int64(offset)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the offsets ledger: %w", err)
	}
	return out, nil
}
