// Package deadletter lists the loader's dead letters and re-drives them: the recovery of records
// the loader could not load (docs/sinkwriter.md, "Dead letters"), behind the control plane's
// /v1/deadletters and `ingestctl deadletters list|redrive`.
//
// A dead letter keeps its record's key and value and says, in headers, why (reason, error) and
// where it was read (source topic, partition, offset). Re-driving one produces its key and value
// again to its source topic: the loader reads it there as a new record and loads it (once
// whatever made ClickHouse refuse it is fixed), or dead-letters it again. Nothing is doubled on
// the documented query path: a record that lands twice has one event id, and the tables keep
// one row per event id (FINAL).
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// DefaultTopic is the loader's dead-letter topic by default.
const DefaultTopic = loader.DefaultDeadLetterTopic

// MaxList is the most letters one List returns, and one Redrive takes.
const MaxList = 1000

// runGap is the widest gap between two offsets Redrive reads through rather than seek.
const runGap = 100

// Letter is one dead letter.
type Letter struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"` // when it was dead-lettered
	Reason    string    `json:"reason"`
	Error     string    `json:"error,omitempty"`
	// Where the record was read, and the table it was for, when known.
	SourceTopic     string `json:"source_topic"`
	SourcePartition int32  `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
	Table           string `json:"table,omitempty"`
	// Tenant and Signal are read from the record when it decodes.
	Tenant string `json:"tenant,omitempty"`
	Signal string `json:"signal,omitempty"`
	Bytes  int    `json:"bytes"`

	key, value []byte
}

// Page is what List returns.
type Page struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	From      int64    `json:"from"`
	Next      int64    `json:"next"` // the offset to list from next
	End       int64    `json:"end"`  // the partition's end when listed
	Letters   []Letter `json:"letters"`
}

// Redriven is what Redrive did.
type Redriven struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Redriven  []Letter  `json:"redriven"`
	Skipped   []Skipped `json:"skipped,omitempty"`
}

// Skipped is an offset Redrive did not re-drive, and why.
type Skipped struct {
	Offset int64  `json:"offset"`
	Why    string `json:"why"`
}

// Service lists and re-drives the dead letters.
type Service interface {
	List(ctx context.Context, partition int32, from int64, limit int) (Page, error)
	Redrive(ctx context.Context, partition int32, offsets []int64) (Redriven, error)
}

// Store is the Service over a Kafka client.
type Store struct {
	cl    *kgo.Client
	topic string
}

// New returns a Store reading topic with cl's brokers and security (cl must not consume).
func New(cl *kgo.Client, topic string) *Store {
	if topic == "" {
		topic = DefaultTopic
	}
	return &Store{cl: cl, topic: topic}
}

// ErrNotFound is wrapped when the topic or partition does not exist.
var ErrNotFound = errors.New("not found")

// bounds returns the partition's start and end offsets.
func (s *Store) bounds(ctx context.Context, partition int32) (int64, int64, error) {
	adm := kadm.NewClient(s.cl)
	starts, err := adm.ListStartOffsets(ctx, s.topic)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot list the offsets of %s: %w", s.topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, s.topic)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot list the offsets of %s: %w", s.topic, err)
	}
	st, ok1 := starts.Lookup(s.topic, partition)
	en, ok2 := ends.Lookup(s.topic, partition)
	if !ok1 || !ok2 || errors.Is(st.Err, kerr.UnknownTopicOrPartition) || errors.Is(en.Err, kerr.UnknownTopicOrPartition) {
		return 0, 0, fmt.Errorf("%w: no partition %d of the dead-letter topic %s (has the loader created it?)", ErrNotFound, partition, s.topic)
	}
	if st.Err != nil || en.Err != nil {
		return 0, 0, fmt.Errorf("cannot list the offsets of %s/%d: %w", s.topic, partition, errors.Join(st.Err, en.Err))
	}
	return st.Offset, en.Offset, nil
}

// read returns the letters of partition in [from, to), at most limit.
func (s *Store) read(ctx context.Context, partition int32, from, to int64, limit int) ([]Letter, error) {
	if from >= to || limit <= 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append(s.clientOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		s.topic: {partition: kgo.NewOffset().At(from)}}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []Letter
	for len(out) < limit {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return out, ferr
		}
		done := false
		fs.EachRecord(func(kr *kgo.Record) {
			if done || kr.Offset >= to || len(out) >= limit {
				done = true
				return
			}
			out = append(out, letterOf(kr))
			if kr.Offset+1 >= to {
				done = true
			}
		})
		if done {
			break
		}
	}
	return out, nil
}

// clientOpts are the options of s.cl, for a consumer of its own.
func (s *Store) clientOpts() []kgo.Opt {
	return s.cl.Opts()
}

func letterOf(kr *kgo.Record) Letter {
	l := Letter{Partition: kr.Partition, Offset: kr.Offset, Time: kr.Timestamp.UTC(), Bytes: len(kr.Value),
		SourcePartition: -1, SourceOffset: -1, key: kr.Key, value: kr.Value}
	for _, h := range kr.Headers {
		v := string(h.Value)
		switch h.Key {
		case loader.HeaderReason:
			l.Reason = v
		case loader.HeaderError:
			l.Error = v
		case loader.HeaderSourceTopic:
			l.SourceTopic = v
		case loader.HeaderSourcePartition:
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				l.SourcePartition = int32(p)
			}
		case loader.HeaderSourceOffset:
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				l.SourceOffset = o
			}
		case loader.HeaderTable:
			l.Table = v
		}
	}
	if h, err := record.PeekHeader(kr.Value); err == nil {
		l.Signal, l.Tenant = h.Signal.String(), string(h.Tenant)
	}
	return l
}

// List returns up to limit (at most MaxList) letters of partition from offset from (clamped to
// the partition's start).
func (s *Store) List(ctx context.Context, partition int32, from int64, limit int) (Page, error) {
	start, end, err := s.bounds(ctx, partition)
	if err != nil {
		return Page{}, err
	}
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	from = max(from, start)
	letters, err := s.read(ctx, partition, from, end, limit)
	if err != nil {
		return Page{}, err
	}
	next := from
	if len(letters) > 0 {
		next = letters[len(letters)-1].Offset + 1
	}
	if len(letters) < limit {
		next = max(next, end)
	}
	if letters == nil {
		letters = []Letter{}
	}
	return Page{Topic: s.topic, Partition: partition, From: from, Next: next, End: end, Letters: letters}, nil
}

// Redrive produces the letters at offsets of partition to their source topics, with their key
// and value, and waits until Kafka acknowledged them. An offset outside the partition, or a
// letter without a source topic, is skipped with the reason.
func (s *Store) Redrive(ctx context.Context, partition int32, offsets []int64) (Redriven, error) {
	res := Redriven{Topic: s.topic, Partition: partition}
	start, end, err := s.bounds(ctx, partition)
	if err != nil {
		return res, err
	}
	want := map[int64]bool{}
	var sorted []int64
	for _, o := range offsets {
		if o < start || o >= end {
			res.Skipped = append(res.Skipped, Skipped{Offset: o, Why: fmt.Sprintf("outside the partition's offsets [%d, %d)", start, end)})
			continue
		}
		if !want[o] {
			want[o] = true
			sorted = append(sorted, o)
		}
	}
	slices.Sort(sorted)
	// Read the offsets in runs, through gaps of up to runGap letters, so that a few offsets far
	// apart do not read everything between them.
	var letters []Letter
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1]-sorted[j] <= runGap {
			j++
		}
		run, err := s.read(ctx, partition, sorted[i], sorted[j]+1, int(sorted[j]-sorted[i])+1)
		if err != nil {
			return res, err
		}
		letters = append(letters, run...)
		i = j + 1
	}
	var krs []*kgo.Record
	var sent []Letter
	for _, l := range letters {
		if !want[l.Offset] {
			continue
		}
		delete(want, l.Offset)
		if l.SourceTopic == "" {
			res.Skipped = append(res.Skipped, Skipped{Offset: l.Offset, Why: "the dead letter names no source topic"})
			continue
		}
		krs = append(krs, &kgo.Record{Topic: l.SourceTopic, Key: l.key, Value: l.value})
		sent = append(sent, l)
	}
	for o := range want {
		res.Skipped = append(res.Skipped, Skipped{Offset: o, Why: "no record at this offset (compacted or deleted)"})
	}
	if len(krs) > 0 {
		if err := s.cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			return res, fmt.Errorf("cannot produce the re-driven records: %w (none or some of them may be written; re-driving again is safe: a record loaded twice is one row)", err)
		}
	}
	res.Redriven = sent
	if res.Redriven == nil {
		res.Redriven = []Letter{}
	}
	return res, nil
}
