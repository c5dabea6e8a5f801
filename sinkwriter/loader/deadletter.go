package loader

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead-letter headers. Every dead-lettered record carries all of them; its key and value are
// the original record's.
const (
	HeaderReason          = "reason"           // ReasonRecordCorrupt or ReasonInsertRejected
	HeaderError           = "error"            // the error message
	HeaderSourceTopic     = "source_topic"     // where the record was read
	HeaderSourcePartition = "source_partition" // decimal
	HeaderSourceOffset    = "source_offset"    // decimal
	HeaderTable           = "table"            // the destination table, when known
)

// deadLetter is a record to write to the dead-letter topic.
type deadLetter struct {
	rec    *kgo.Record
	reason string // ReasonRecordCorrupt or ReasonInsertRejected
	err    error
	table  string // "" when the record named no table
}

// deadLetterWriter writes records to the dead-letter topic, returning once all are
// acknowledged. It is the seam the tests replace (kafkaDeadLetters produces to Kafka).
type deadLetterWriter interface {
	write(ctx context.Context, dls []deadLetter) error
}

// kafkaDeadLetters writes dead letters to a topic with the client's producer (acks=all,
// idempotent).
type kafkaDeadLetters struct {
	cl    *kgo.Client
	topic string
}

func (k *kafkaDeadLetters) write(ctx context.Context, dls []deadLetter) error {
	recs := make([]*kgo.Record, len(dls))
	for i, dl := range dls {
		recs[i] = &kgo.Record{
			Topic: k.topic,
			Key:   dl.rec.Key,
			Value: dl.rec.Value,
			Headers: []kgo.RecordHeader{
				{Key: HeaderReason, Value: []byte(dl.reason)},
				{Key: HeaderError, Value: []byte(errString(dl.err))},
				{Key: HeaderSourceTopic, Value: []byte(dl.rec.Topic)},
				{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(dl.rec.Partition), 10)},
				{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, dl.rec.Offset, 10)},
				{Key: HeaderTable, Value: []byte(dl.table)},
			},
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return k.cl.ProduceSync(pctx, recs...).FirstErr()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
