package deadletter_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/migration/deadletter"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// env is a kfake cluster with the dead-letter topic holding letters 0..n-1 (letter 2 is a
// value that is no record), and a client.
func env(t *testing.T, n int) (*kgo.Client, []*record.Record) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, deadletter.DefaultTopic, "ingest.acme"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var recs []*record.Record
	var krs []*kgo.Record
	for i := range n {
		r := &record.Record{Tenant: "acme", Signal: record.SignalLog, Timestamp: int64(i), Body: "line " + strconv.Itoa(i)}
		r.EventID[15] = byte(i)
		recs = append(recs, r)
		value, reason := record.Append(nil, r), loader.ReasonInsertRejected
		if i == 2 {
			value, reason = []byte("garbage"), loader.ReasonRecordCorrupt
		}
		krs = append(krs, &kgo.Record{Topic: deadletter.DefaultTopic, Key: r.EventID[:], Value: value, Headers: []kgo.RecordHeader{
			{Key: loader.HeaderReason, Value: []byte(reason)}, {Key: loader.HeaderError, Value: []byte("code 53: type mismatch")},
			{Key: loader.HeaderSourceTopic, Value: []byte("ingest.acme")}, {Key: loader.HeaderSourcePartition, Value: []byte("0")},
			{Key: loader.HeaderSourceOffset, Value: []byte(strconv.Itoa(100 + i))}, {Key: loader.HeaderTable, Value: []byte("logs")},
		}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return cl, recs
}

// TestListShowsEachLetterWithWhyAndWhere: pages of letters with reason, error, source, table,
// tenant and signal (none for a value that is no record), and the offset to go on from.
func TestListShowsEachLetterWithWhyAndWhere(t *testing.T) {
	cl, _ := env(t, 5)
	s := deadletter.New(cl, "")
	ctx := context.Background()
	p, err := s.List(ctx, 0, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Letters) != 3 || p.Next != 3 || p.End != 5 {
		t.Fatalf("page %+v, want 3 letters, next 3, end 5", p)
	}
	l := p.Letters[1]
	if l.Offset != 1 || l.Reason != loader.ReasonInsertRejected || l.Error != "code 53: type mismatch" || l.SourceTopic != "ingest.acme" ||
		l.SourceOffset != 101 || l.Table != "logs" || l.Tenant != "acme" || l.Signal != "log" {
		t.Errorf("letter 1: %+v", l)
	}
	if g := p.Letters[2]; g.Reason != loader.ReasonRecordCorrupt || g.Tenant != "" || g.Signal != "" {
		t.Errorf("the garbage letter: %+v", g)
	}
	p, err = s.List(ctx, 0, p.Next, 100)
	if err != nil || len(p.Letters) != 2 || p.Next != 5 {
		t.Fatalf("second page %+v, %v", p, err)
	}
	if _, err := s.List(ctx, 7, 0, 10); err == nil {
		t.Error("listed a partition that does not exist")
	}
}

// TestRedriveProducesTheLettersToTheirSourceTopics: the chosen letters' keys and values are
// written again to their source topic; offsets outside the partition are skipped with why.
func TestRedriveProducesTheLettersToTheirSourceTopics(t *testing.T) {
	cl, recs := env(t, 5)
	s := deadletter.New(cl, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.Redrive(ctx, 0, []int64{1, 3, 99})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Redriven) != 2 || res.Redriven[0].Offset != 1 || res.Redriven[1].Offset != 3 || len(res.Skipped) != 1 || res.Skipped[0].Offset != 99 {
		t.Fatalf("redrive: %+v", res)
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics("ingest.acme"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []string
	for len(got) < 2 && ctx.Err() == nil {
		rd.PollFetches(ctx).EachRecord(func(kr *kgo.Record) {
			var r record.Record
			if err := record.Decode(kr.Value, &r); err != nil {
				t.Errorf("a re-driven value does not decode: %v", err)
			}
			got = append(got, r.Body)
		})
	}
	if len(got) != 2 || got[0] != recs[1].Body || got[1] != recs[3].Body {
		t.Errorf("the source topic holds %q, want the bodies of letters 1 and 3", got)
	}
}

// TestRedriveReadsOffsetsFarApart: offsets more than a run apart are each found.
func TestRedriveReadsOffsetsFarApart(t *testing.T) {
	cl, _ := env(t, 250)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := deadletter.New(cl, "").Redrive(ctx, 0, []int64{240, 1, 240})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Redriven) != 2 || res.Redriven[0].Offset != 1 || res.Redriven[1].Offset != 240 || len(res.Skipped) != 0 {
		t.Errorf("redrive of 1 and 240 (240 twice): %+v", res)
	}
}
