package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordjson"
	"github.com/ingestdev/ingest/record/recordtest"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// goldens returns the frozen records of package record, by file name.
func goldens(t *testing.T) map[string][]byte {
	return recordtest.GoldenRecords(t, "../../record/testdata")
}

// decodeCmd runs `ingest record decode args...` with stdin and returns its output and error.
func decodeCmd(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	recordIn, recordOut = bytes.NewReader(stdin), &out
	defer func() { recordIn, recordOut = os.Stdin, os.Stdout }()
	err := runCommand(context.Background(), slog.New(slog.DiscardHandler), "record", append([]string{"decode"}, args...))
	return out.String(), err
}

// TestRecordDecodeRoundTripsEveryGoldenRecord: the golden records as kcat prints a topic
// (one per line), from stdin and from a file: one JSON line each, which recordjson reads
// back into the very bytes.
func TestRecordDecodeRoundTripsEveryGoldenRecord(t *testing.T) {
	var stream []byte
	var want [][]byte
	for _, b := range goldens(t) {
		want = append(want, b)
		stream = append(append(stream, b...), '\n')
	}
	file := filepath.Join(t.TempDir(), "records")
	if err := os.WriteFile(file, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {file}} {
		out, err := decodeCmd(t, stream, args...)
		if err != nil {
			t.Fatalf("decode %v: %v", args, err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(want) {
			t.Fatalf("decode %v: %d lines for %d records:\n%s", args, len(lines), len(want), out)
		}
		for i, line := range lines {
			var r record.Record
			if err := recordjson.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line %d: %v\n%s", i, err, line)
			}
			if !bytes.Equal(record.Append(nil, &r), want[i]) {
				t.Errorf("decode %v: line %d does not round-trip:\n%s", args, i, line)
			}
		}
	}
	if _, err := decodeCmd(t, append(stream, "garbage\n"...)); err == nil || !strings.Contains(err.Error(), "1 corrupt") {
		t.Errorf("a corrupt line: %v, want an error counting it", err)
	}
}

// TestRecordDecodeReadsATopicsOffsets: --brokers --topic --from --to prints the records of
// that range with their Kafka position, and a dead letter with its reason.
func TestRecordDecodeReadsATopicsOffsets(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "ingest.acme"))
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
	for i := range 5 {
		r := &record.Record{Tenant: "acme", Signal: record.SignalLog, Timestamp: int64(i), Body: "line " + string(rune('a'+i))}
		kr := &kgo.Record{Topic: "ingest.acme", Value: record.Append(nil, r)}
		if i == 3 {
			kr.Headers = []kgo.RecordHeader{{Key: loader.HeaderReason, Value: []byte("insert_rejected")}, {Key: loader.HeaderError, Value: []byte("code 53")}}
		}
		if err := cl.ProduceSync(ctx, kr).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := decodeCmd(t, nil, "--brokers", c.ListenAddrs()[0], "--topic", "ingest.acme", "--from", "2", "--to", "4")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["kafka_offset"] != 2.0 || got[0]["body"] != "line c" || got[1]["kafka_offset"] != 3.0 ||
		got[1]["deadletter_reason"] != "insert_rejected" || got[1]["deadletter_error"] != "code 53" || got[0]["kafka_topic"] != "ingest.acme" {
		t.Errorf("decoded %v", got)
	}
	if _, err := decodeCmd(t, nil, "--brokers", c.ListenAddrs()[0], "--topic", "nope"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a missing topic: %v", err)
	}
}
