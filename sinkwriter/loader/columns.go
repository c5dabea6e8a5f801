package loader

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/zeebo/xxh3"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// table is a destination table of the loader: a signal's table in one table set.
type table int

// The tables, one per signal and table set: the live set, then the shadow set (mirrored traffic
// of tenants in the shadow stage of a cutover, from their shadow topics). Their names are the
// ClickHouse tables of migration 0001.
const (
	tableLogs table = iota
	tableMetrics
	tableSpans
	numSignalTables // tables of one set

	tableLogsShadow    = tableLogs + numSignalTables
	tableMetricsShadow = tableMetrics + numSignalTables
	tableSpansShadow   = tableSpans + numSignalTables
	numTables          = 2 * numSignalTables
)

// kind returns the live table of t's signal (its columns are those of t).
func (t table) kind() table { return t % numSignalTables }

// shadow reports whether t is in the shadow table set.
func (t table) shadow() bool { return t >= numSignalTables && t < numTables }

func (t table) String() string {
	if t < 0 || t >= numTables {
		return fmt.Sprintf("table(%d)", int(t))
	}
	name := [numSignalTables]string{"logs", "metrics", "spans"}[t.kind()]
	if t.shadow() {
		name += schema.ShadowTableSet
	}
	return name
}

// tableOf returns the table of a record's signal in the live or the shadow set.
func tableOf(s record.Signal, shadow bool) (table, bool) {
	var t table
	switch s {
	case record.SignalLog:
		t = tableLogs
	case record.SignalMetric:
		t = tableMetrics
	case record.SignalSpan:
		t = tableSpans
	default:
		return 0, false
	}
	if shadow {
		t += numSignalTables
	}
	return t, true
}

// columns holds the rows of one table, column by column, ready to be appended to a
// clickhouse-go batch in bulk. A row range [lo, hi) can be inserted on its own (bisection).
// Buffers are reused across flushes; reset drops the rows. Strings are copied in (strCol), so
// the columns hold no pointers into the decoded records.
type columns struct {
	t table
	n int

	tenant, name, scope, unit              strCol
	timeSec, timeNano, receivedNano        []int64
	eventID                                fixed // 16 bytes a row
	attrKeys, attrValues, resKeys, resVals strArrays
	hasTrace                               []uint8
	traceID, spanID, parentSpanID          fixed // 16, 8, 8 bytes a row

	// logs
	severityNumber []uint8
	severityText   strCol
	body           strCol

	// metrics
	seriesID                           []uint64
	kind, temporality, monotonic       []uint8
	value                              []float64
	hasDist, hasMinMax                 []uint8
	distCount                          []uint64
	distSum, distMin, distMax          []float64
	bucketBounds, quantiles, quantVals f64Arrays
	bucketCounts                       u64Arrays

	// spans
	duration             []int64
	spanKind, statusCode []uint8
	statusMessage        strCol

	kafkaTopic     strCol
	kafkaPartition []int32
	kafkaOffset    []int64

	scratch []byte      // series id input
	ch      []chOffsets // per column: Array offsets kept for the batch (see chLayout)
}

func newColumns(t table) *columns {
	return &columns{
		t:            t,
		eventID:      fixed{size: 16},
		traceID:      fixed{size: 16},
		spanID:       fixed{size: 8},
		parentSpanID: fixed{size: 8},
	}
}

// reset drops every row, keeping the buffers' capacity.
func (c *columns) reset() {
	c.n = 0
	for _, s := range []*strCol{&c.tenant, &c.name, &c.scope, &c.unit, &c.severityText, &c.body, &c.statusMessage, &c.kafkaTopic} {
		s.reset()
	}
	c.timeSec, c.timeNano, c.receivedNano = c.timeSec[:0], c.timeNano[:0], c.receivedNano[:0]
	c.eventID.reset()
	c.traceID.reset()
	c.spanID.reset()
	c.parentSpanID.reset()
	c.attrKeys.reset()
	c.attrValues.reset()
	c.resKeys.reset()
	c.resVals.reset()
	c.hasTrace = c.hasTrace[:0]
	c.severityNumber = c.severityNumber[:0]
	c.seriesID = c.seriesID[:0]
	c.kind, c.temporality, c.monotonic = c.kind[:0], c.temporality[:0], c.monotonic[:0]
	c.value = c.value[:0]
	c.hasDist, c.hasMinMax = c.hasDist[:0], c.hasMinMax[:0]
	c.distCount = c.distCount[:0]
	c.distSum, c.distMin, c.distMax = c.distSum[:0], c.distMin[:0], c.distMax[:0]
	c.bucketBounds.reset()
	c.bucketCounts.reset()
	c.quantiles.reset()
	c.quantVals.reset()
	c.duration = c.duration[:0]
	c.spanKind, c.statusCode = c.spanKind[:0], c.statusCode[:0]
	c.kafkaPartition, c.kafkaOffset = c.kafkaPartition[:0], c.kafkaOffset[:0]
}

// add appends r, read from topic/partition at offset, as a row.
func (c *columns) add(r *record.Record, topic string, partition int32, offset int64) {
	c.n++
	c.tenant.add(r.Tenant)
	c.timeSec = append(c.timeSec, dateTime(r.Timestamp))
	c.timeNano = append(c.timeNano, r.Timestamp)
	c.eventID.add(r.EventID[:])
	c.receivedNano = append(c.receivedNano, r.ReceivedAt)
	c.name.add(r.Name)
	c.scope.add(r.Scope)
	c.unit.add(r.Unit)
	c.attrKeys.addKeys(r.Attributes)
	c.attrValues.addValues(r.Attributes)
	c.resKeys.addKeys(r.Resource)
	c.resVals.addValues(r.Resource)
	c.hasTrace = append(c.hasTrace, b2u(r.HasTrace))
	c.traceID.add(r.TraceID[:])
	c.spanID.add(r.SpanID[:])
	c.parentSpanID.add(r.ParentSpanID[:])
	switch c.t.kind() {
	case tableLogs:
		c.severityNumber = append(c.severityNumber, r.SeverityNumber)
		c.severityText.add(r.SeverityText)
		c.body.add(r.Body)
	case tableMetrics:
		c.seriesID = append(c.seriesID, c.series(r))
		c.kind = append(c.kind, uint8(r.MetricKind))
		c.temporality = append(c.temporality, uint8(r.Temporality))
		c.monotonic = append(c.monotonic, b2u(r.Monotonic))
		c.value = append(c.value, r.Value)
		c.hasDist = append(c.hasDist, b2u(r.HasDistribution))
		c.distCount = append(c.distCount, r.Count)
		c.distSum = append(c.distSum, r.Sum)
		c.hasMinMax = append(c.hasMinMax, b2u(r.HasMinMax))
		c.distMin = append(c.distMin, r.Min)
		c.distMax = append(c.distMax, r.Max)
		c.bucketBounds.addBounds(r.Buckets)
		c.bucketCounts.addCounts(r.Buckets)
		c.quantiles.addQuantiles(r.Quantiles)
		c.quantVals.addQuantileValues(r.Quantiles)
	case tableSpans:
		c.duration = append(c.duration, r.Duration)
		c.spanKind = append(c.spanKind, r.SpanKind)
		c.statusCode = append(c.statusCode, r.StatusCode)
		c.statusMessage.add(r.StatusMessage)
	}
	c.kafkaTopic.add(topic)
	c.kafkaPartition = append(c.kafkaPartition, partition)
	c.kafkaOffset = append(c.kafkaOffset, offset)
}

// series returns the series id of a metric record: xxh3-64 of its tenant, name, unit, scope,
// kind, temporality, monotonic flag, attributes and resource, each length-prefixed, attributes
// in the order they were sent. Roll-ups group by it.
func (c *columns) series(r *record.Record) uint64 {
	b := c.scratch[:0]
	for _, s := range []string{r.Tenant, r.Name, r.Unit, r.Scope} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(r.MetricKind), byte(r.Temporality), b2u(r.Monotonic))
	for _, kvs := range [][]record.KV{r.Attributes, r.Resource} {
		b = binary.AppendUvarint(b, uint64(len(kvs)))
		for _, kv := range kvs {
			b = binary.AppendUvarint(b, uint64(len(kv.Key)))
			b = append(b, kv.Key...)
			b = binary.AppendUvarint(b, uint64(len(kv.Value)))
			b = append(b, kv.Value...)
		}
	}
	c.scratch = b
	return xxh3.Hash(b)
}

// dateTime returns the DateTime (unix seconds, UInt32) of a unix-ns timestamp, clamped to the
// range of DateTime (1970 to 2106); time_unix_nano keeps the exact value.
func dateTime(ns int64) int64 {
	s := ns / 1e9
	if ns < 0 {
		return 0
	}
	return min(s, math.MaxUint32)
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// columnNames returns the columns of t in the order send appends them.
func columnNames(t table) []string {
	names := []string{
		"tenant", "time", "time_unix_nano", "event_id", "received_unix_nano", "name", "scope", "unit",
		"attr_keys", "attr_values", "resource_keys", "resource_values",
		"has_trace", "trace_id", "span_id", "parent_span_id",
	}
	switch t.kind() {
	case tableLogs:
		names = append(names, "severity_number", "severity_text", "body")
	case tableMetrics:
		names = append(names, "series_id", "kind", "temporality", "monotonic", "value",
			"has_distribution", "dist_count", "dist_sum", "has_min_max", "dist_min", "dist_max",
			"bucket_bounds", "bucket_counts", "quantiles", "quantile_values")
	case tableSpans:
		names = append(names, "duration_ns", "span_kind", "status_code", "status_message")
	}
	return append(names, "kafka_topic", "kafka_partition", "kafka_offset")
}

// insertQuery returns the INSERT statement into database.name, a table with t's columns,
// naming every column.
func insertQuery(database, name string, t table) string {
	return "INSERT INTO `" + database + "`.`" + name + "` (" + strings.Join(columnNames(t), ", ") + ")"
}

// arrays is an Array column, appended row by row.
type arrays interface {
	send(col driver.BatchColumn, lo, hi int) error
}

// values returns the columns of rows [lo, hi) in the order of columnNames(c.t): slices of
// those rows that clickhouse-go appends in bulk, or whole columns that send cuts (arrays,
// *strCol, *fixed).
func (c *columns) values(lo, hi int) []any {
	v := []any{
		&c.tenant, c.timeSec[lo:hi], c.timeNano[lo:hi], &c.eventID, c.receivedNano[lo:hi],
		&c.name, &c.scope, &c.unit,
		&c.attrKeys, &c.attrValues, &c.resKeys, &c.resVals,
		c.hasTrace[lo:hi], &c.traceID, &c.spanID, &c.parentSpanID,
	}
	switch c.t.kind() {
	case tableLogs:
		v = append(v, c.severityNumber[lo:hi], &c.severityText, &c.body)
	case tableMetrics:
		v = append(v, c.seriesID[lo:hi], c.kind[lo:hi], c.temporality[lo:hi], c.monotonic[lo:hi], c.value[lo:hi],
			c.hasDist[lo:hi], c.distCount[lo:hi], c.distSum[lo:hi], c.hasMinMax[lo:hi], c.distMin[lo:hi], c.distMax[lo:hi],
			&c.bucketBounds, &c.bucketCounts, &c.quantiles, &c.quantVals)
	case tableSpans:
		v = append(v, c.duration[lo:hi], c.spanKind[lo:hi], c.statusCode[lo:hi], &c.statusMessage)
	}
	return append(v, &c.kafkaTopic, c.kafkaPartition[lo:hi], c.kafkaOffset[lo:hi])
}

// send appends rows [lo, hi) to b, whose columns are columnNames(c.t): where it can by
// setting the batch's ch-go columns directly (see chLayout), else through clickhouse-go's
// Append. b must be done with the rows (sent or aborted) before c changes.
func (c *columns) send(b driver.Batch, lo, hi int) error {
	cols := b.Columns()
	values := c.values(lo, hi)
	if len(c.ch) < len(values) {
		c.ch = make([]chOffsets, len(values))
	}
	for i, v := range values {
		if i < len(cols) && len(cols) == len(values) && c.sendDirect(cols[i], &c.ch[i], v, lo, hi) {
			continue
		}
		var err error
		switch v := v.(type) {
		case arrays:
			err = v.send(b.Column(i), lo, hi)
		case *fixed:
			err = b.Column(i).Append(v.rows(lo, hi))
		case *strCol:
			err = b.Column(i).Append(v.strings(lo, hi))
		default:
			err = b.Column(i).Append(v)
		}
		if err != nil {
			return fmt.Errorf("cannot append column %q: %w", columnNames(c.t)[i], err)
		}
	}
	return nil
}
