package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/api/apitest"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/deadletter"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// TestDeadLettersListAndRedriveAgainstARealControlPlane: a control plane whose dead letters are
// in kfake; list shows each letter's reason, tenant and source; redrive needs a reason, writes
// the letter's value back to its source topic and records it in the audit log.
func TestDeadLettersListAndRedriveAgainstARealControlPlane(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, deadletter.DefaultTopic, "ingest.acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, body := range []string{"first", "second"} {
		r := &record.Record{Tenant: "acme", Signal: record.SignalLog, Body: body}
		r.EventID[0] = byte(i + 1)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: deadletter.DefaultTopic, Key: r.EventID[:], Value: record.Append(nil, r), Headers: []kgo.RecordHeader{
			{Key: loader.HeaderReason, Value: []byte(loader.ReasonInsertRejected)}, {Key: loader.HeaderError, Value: []byte("code 53: cannot parse")},
			{Key: loader.HeaderSourceTopic, Value: []byte("ingest.acme")}, {Key: loader.HeaderSourcePartition, Value: []byte("0")},
			{Key: loader.HeaderSourceOffset, Value: []byte("41")},
		}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	srv, reg := apitest.Start(t, api.Config{Token: testToken, DeadLetters: deadletter.New(cl, "")})

	r := mustOK(t, ctl(t, srv.URL, "", "deadletters", "list"))
	for _, want := range []string{loader.ReasonInsertRejected, "acme", "ingest.acme/0@41", "code 53: cannot parse"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := ctl(t, srv.URL, "", "deadletters", "redrive", "--offsets", "1", "--yes"); r.code != 2 || !strings.Contains(r.stderr, "--reason is required") {
		t.Errorf("redrive without a reason: %+v", r)
	}
	r = mustOK(t, ctl(t, srv.URL, "", "deadletters", "redrive", "--offsets", "1,7", "--reason", "column widened", "--yes"))
	if !strings.Contains(r.stdout, "re-drove 1 dead letter(s)") || !strings.Contains(r.stdout, "skipped 7") {
		t.Errorf("redrive output:\n%s", r.stdout)
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("ingest.acme"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var bodies []string
	for len(bodies) < 1 && ctx.Err() == nil {
		rd.PollFetches(ctx).EachRecord(func(kr *kgo.Record) {
			var rec record.Record
			if record.Decode(kr.Value, &rec) == nil {
				bodies = append(bodies, rec.Body)
			}
		})
	}
	if len(bodies) != 1 || bodies[0] != "second" {
		t.Errorf("the source topic holds %q, want the second letter's record", bodies)
	}
	entries, err := reg.Audit(context.Background(), registry.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if last.Action != registry.ActionDeadLetterRedrive || last.Reason != "column widened" {
		t.Errorf("last audit entry %+v, want the re-drive with its reason", last)
	}

	// Without dead letters configured: 501, said plainly.
	bare, _ := apitest.Start(t, api.Config{Token: testToken})
	if r := ctl(t, bare.URL, "", "deadletters", "list"); r.code == 0 || !strings.Contains(r.stderr, "replay.brokers") {
		t.Errorf("a control plane without Kafka: %+v", r)
	}
}
