package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/tenant"
	"github.com/ingestdev/ingest/record"
)

// held is what a partition holds: offsets [start, end).
type held struct{ start, end int64 }

func (h held) String() string { return fmt.Sprintf("[%d, %d)", h.start, h.end) }

// checkRequest refuses a malformed request before Kafka is asked anything.
func checkRequest(req PlanRequest, now time.Time) error {
	if err := tenant.Validate(req.Tenant); err != nil {
		return &Error{Code: CodeInvalid, Msg: "tenant", Err: err}
	}
	switch {
	case (req.From == nil) == (req.FromTime == nil):
		return errorf(CodeInvalid, "give the window's start as exactly one of --from=<offset> and --from-time=<RFC 3339>")
	case (req.To == nil) == (req.ToTime == nil):
		return errorf(CodeInvalid, "give the window's end as exactly one of --to=<offset> (exclusive) and --to-time=<RFC 3339> (exclusive)")
	case req.From != nil && *req.From < 0:
		return errorf(CodeBadRange, "--from=%d: offsets are not negative", *req.From)
	case req.To != nil && *req.To < 0:
		return errorf(CodeBadRange, "--to=%d: offsets are not negative", *req.To)
	case req.From != nil && req.To != nil && *req.From > *req.To:
		return errorf(CodeBadRange, "--from=%d is after --to=%d: the window is [from, to), from inclusive, to exclusive", *req.From, *req.To)
	case req.From != nil && req.To != nil && *req.From == *req.To:
		return errorf(CodeBadRange, "--from=%d equals --to=%d: the window [from, to) is empty (to is exclusive)", *req.From, *req.To)
	case req.FromTime != nil && req.ToTime != nil && !req.FromTime.Before(*req.ToTime):
		return errorf(CodeBadRange, "--from-time=%s is not before --to-time=%s", req.FromTime.Format(time.RFC3339), req.ToTime.Format(time.RFC3339))
	case req.FromTime != nil && req.FromTime.After(now):
		return errorf(CodeBadRange, "--from-time=%s is in the future (now is %s)", req.FromTime.Format(time.RFC3339), now.Format(time.RFC3339))
	case req.Rate < 0:
		return errorf(CodeInvalid, "--rate=%d: a rate is records per second, at least 1 (0 means the default)", req.Rate)
	}
	seen := map[int32]bool{}
	for _, p := range req.Partitions {
		if p < 0 || seen[p] {
			return errorf(CodeInvalid, "--partition=%d: partitions are distinct and not negative", p)
		}
		seen[p] = true
	}
	return nil
}

// plan computes the plan of req: the partitions and their offset ranges, checked against
// what Kafka holds, then the planned records' counts and event times, read from their
// headers (nothing is written anywhere).
func (m *Manager) plan(ctx context.Context, req PlanRequest) (Plan, error) {
	if err := checkRequest(req, m.now()); err != nil {
		return Plan{}, err
	}
	topic := tenant.Topic(m.cfg.TopicPattern, req.Tenant)
	p := Plan{Tenant: req.Tenant, Topic: topic, Database: m.db, Request: req, Rate: req.Rate}
	if p.Rate == 0 {
		p.Rate = m.cfg.Rate
	}
	adm := kadm.NewClient(m.kafka)
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return Plan{}, &Error{Code: CodeKafka, Msg: "cannot read the metadata of topic " + topic, Err: err}
	}
	d, ok := details[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return Plan{}, errorf(CodeUnknownTenant, "tenant %s has no topic %s: it never had an event accepted (or replay.topic_pattern %q differs from the sink writer's)", req.Tenant, topic, m.cfg.TopicPattern)
	}
	if d.Err != nil {
		return Plan{}, &Error{Code: CodeKafka, Msg: "cannot read the metadata of topic " + topic, Err: d.Err}
	}
	all := d.Partitions.Numbers()
	slices.Sort(all)
	parts := req.Partitions
	if len(parts) == 0 {
		parts = all
	}
	for _, pn := range parts {
		if !slices.Contains(all, pn) {
			return Plan{}, errorf(CodeBadPartition, "topic %s has partitions 0 to %d; partition %d does not exist", topic, len(all)-1, pn)
		}
	}
	slices.Sort(parts)
	holds, err := m.held(ctx, adm, topic)
	if err != nil {
		return Plan{}, err
	}
	from, err := m.resolve(ctx, adm, topic, req.From, req.FromTime, holds)
	if err != nil {
		return Plan{}, err
	}
	to, err := m.resolve(ctx, adm, topic, req.To, req.ToTime, holds)
	if err != nil {
		return Plan{}, err
	}
	for _, pn := range parts {
		h := holds[pn]
		r := PartitionRange{Partition: pn, From: from[pn], To: to[pn], LastOffset: -1, LogStart: h.start, HighWatermark: h.end}
		if req.From != nil && r.From < h.start {
			return Plan{}, errorf(CodeBadRange, "partition %d: --from=%d is no longer held (expired by retention): partition %d holds offsets %s, so the earliest --from is %d", pn, r.From, pn, h, h.start)
		}
		if req.From != nil && r.From > h.end {
			return Plan{}, errorf(CodeBadRange, "partition %d: --from=%d is beyond the high watermark %d: partition %d holds offsets %s", pn, r.From, h.end, pn, h)
		}
		if req.To != nil && r.To > h.end {
			return Plan{}, errorf(CodeBadRange, "partition %d: --to=%d is beyond the high watermark %d (offsets not written yet): partition %d holds offsets %s, so the latest --to is %d", pn, r.To, h.end, pn, h, h.end)
		}
		if r.From > r.To {
			return Plan{}, errorf(CodeBadRange, "partition %d: the window's start (offset %d) is after its end (offset %d); partition %d holds offsets %s", pn, r.From, r.To, pn, h)
		}
		p.Partitions = append(p.Partitions, r)
	}
	if err := m.scan(ctx, &p); err != nil {
		return Plan{}, err
	}
	if req.FromTime != nil {
		for _, r := range p.Partitions {
			if r.From == r.LogStart && r.LogStart > 0 && r.Records > 0 && r.firstWritten.After(*req.FromTime) {
				return Plan{}, errorf(CodeBadRange, "partition %d: --from-time=%s is before the earliest record partition %d still holds (offset %d, written %s): the start of the window expired",
					r.Partition, req.FromTime.Format(time.RFC3339), r.Partition, r.LogStart, r.firstWritten.Format(time.RFC3339))
			}
		}
	}
	if p.Records == 0 {
		var ranges []string
		for _, r := range p.Partitions {
			ranges = append(ranges, fmt.Sprintf("partition %d [%d, %d) of %s", r.Partition, r.From, r.To, held{r.LogStart, r.HighWatermark}))
		}
		return Plan{}, errorf(CodeBadRange, "the window holds no records (%v); the held offsets are given per partition", ranges)
	}
	p.EstimatedSeconds = float64(p.Records) / float64(p.Rate)
	return p, nil
}

// held returns what each partition of topic holds.
func (m *Manager) held(ctx context.Context, adm *kadm.Client, topic string) (map[int32]held, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, &Error{Code: CodeKafka, Msg: "cannot list the start offsets of " + topic, Err: err}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, &Error{Code: CodeKafka, Msg: "cannot list the end offsets of " + topic, Err: err}
	}
	out := map[int32]held{}
	for pn, s := range starts[topic] {
		e, _ := ends.Lookup(topic, pn)
		out[pn] = held{s.Offset, e.Offset}
	}
	return out, nil
}

// resolve returns per partition the offset of one end of the window: off itself, or the
// first offset written at or after at (the high watermark when none is).
func (m *Manager) resolve(ctx context.Context, adm *kadm.Client, topic string, off *int64, at *time.Time, holds map[int32]held) (map[int32]int64, error) {
	out := map[int32]int64{}
	if off != nil {
		for pn := range holds {
			out[pn] = *off
		}
		return out, nil
	}
	listed, err := adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, &Error{Code: CodeKafka, Msg: "cannot list the offsets of " + topic + " at " + at.Format(time.RFC3339), Err: err}
	}
	for pn, h := range holds {
		o, ok := listed.Lookup(topic, pn)
		if !ok || o.Offset < 0 || o.Offset > h.end {
			out[pn] = h.end
			continue
		}
		out[pn] = max(o.Offset, h.start)
	}
	return out, nil
}

// scan reads the headers of every planned record: counts per partition and signal, event
// times, and the last offset of each range.
func (m *Manager) scan(ctx context.Context, p *Plan) error {
	want := map[int32]kgo.Offset{}
	idx := map[int32]int{}
	for i, r := range p.Partitions {
		idx[r.Partition] = i
		if r.From < r.To {
			want[r.Partition] = kgo.NewOffset().At(r.From)
		}
	}
	p.Tables = targets("")
	if len(want) == 0 {
		return nil
	}
	cl, err := m.consumer(map[string]map[int32]kgo.Offset{p.Topic: want})
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return &Error{Code: CodeTimeout, Msg: fmt.Sprintf("planning ran out of time reading the planned records (replay.request_timeout %s)", m.cfg.RequestTimeout), Err: err}
		}
		var fetchErr error
		fs.EachError(func(_ string, _ int32, err error) { fetchErr = err })
		if fetchErr != nil {
			return &Error{Code: CodeKafka, Msg: "cannot read topic " + p.Topic, Err: fetchErr}
		}
		fs.EachRecord(func(rec *kgo.Record) {
			i, ok := idx[rec.Partition]
			r := &p.Partitions[i]
			if !ok || rec.Offset >= r.To || rec.Offset < r.From {
				return
			}
			if r.Records == 0 {
				r.firstWritten = rec.Timestamp
			}
			r.Records++
			r.LastOffset = rec.Offset
			if rec.Offset == r.To-1 {
				delete(want, rec.Partition)
				cl.PauseFetchPartitions(map[string][]int32{p.Topic: {rec.Partition}})
			}
			h, err := record.PeekHeader(rec.Value)
			if err != nil {
				r.Corrupt++
				return
			}
			r.Events++
			p.Tables[signalIndex(h.Signal)].Events++
			r.EventTimeMin, r.EventTimeMax = minTime(r.EventTimeMin, h.Timestamp), maxTime(r.EventTimeMax, h.Timestamp)
		})
		for pn := range want {
			if r := p.Partitions[idx[pn]]; r.LastOffset >= r.To-1 {
				delete(want, pn)
			}
		}
	}
	for _, r := range p.Partitions {
		p.Records += r.Records
		p.Events += r.Events
		p.Corrupt += r.Corrupt
		if r.EventTimeMin != nil {
			p.EventTimeMin = minTime(p.EventTimeMin, r.EventTimeMin.UnixNano())
			p.EventTimeMax = maxTime(p.EventTimeMax, r.EventTimeMax.UnixNano())
		}
	}
	return nil
}

func minTime(t *time.Time, ns int64) *time.Time {
	if t != nil && t.UnixNano() <= ns {
		return t
	}
	v := time.Unix(0, ns).UTC()
	return &v
}

func maxTime(t *time.Time, ns int64) *time.Time {
	if t != nil && t.UnixNano() >= ns {
		return t
	}
	v := time.Unix(0, ns).UTC()
	return &v
}

// consumer returns a client that reads the given partitions from the given offsets by
// direct assignment: no consumer group, so no group's offsets are ever committed. An offset
// that is no longer held (retention removed it after the plan) is an error, never a silent
// jump to the oldest offset held: the records in between would be skipped.
func (m *Manager) consumer(parts map[string]map[int32]kgo.Offset) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(m.kafkaOpts(),
		kgo.ConsumePartitions(parts),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxBytes(32<<20),
		kgo.FetchMaxWait(250*time.Millisecond),
	)...)
	if err != nil {
		return nil, &Error{Code: CodeKafka, Msg: "cannot create a Kafka client", Err: err}
	}
	return cl, nil
}
