package sinkwriter_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

// testLog logs warnings and errors to the test's output.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newCluster starts an in-memory kfake cluster, closed at the end of the test.
func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("cannot start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testConfig returns a config for brokers with a short Kafka deadline.
func testConfig(brokers []string) sinkwriter.Config {
	return sinkwriter.Config{Brokers: brokers, KafkaTimeout: 3 * time.Second, Linger: time.Millisecond}
}

// newWriter returns a writer on its own registry, shut down at the end of the test.
func newWriter(t testing.TB, cfg sinkwriter.Config) (*sinkwriter.Writer, *prometheus.Registry) {
	t.Helper()
	return newWriterLogging(t, cfg, testLog(t))
}

// newWriterLogging is newWriter logging to log.
func newWriterLogging(t testing.TB, cfg sinkwriter.Config, log *slog.Logger) (*sinkwriter.Writer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	w, err := sinkwriter.New(cfg, reg, log)
	if err != nil {
		t.Fatalf("cannot create writer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return w, reg
}

// serve serves w's API over HTTP/1.1 and h2c on a local port, like `ingest sinkwriter`.
func serve(t testing.TB, w *sinkwriter.Writer) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(w.Handler())
	srv.Config.Protocols = sinkwriter.ServerProtocols()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a sink writer client for url.
func newClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg, testLog(t))
	if err != nil {
		t.Fatalf("cannot create client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// makeBatch returns a batch of n log records of tenant, each about size bytes encoded, with
// distinct event ids (seed tells batches apart).
func makeBatch(tenant string, n, size, seed int) record.Batch {
	var b record.Builder
	b.Reset(tenant, time.Now().UnixNano())
	pad := strings.Repeat("abcdefghij", size/10+1)
	for i := range n {
		r := record.Record{
			Signal:    record.SignalLog,
			Timestamp: time.Now().UnixNano(),
			Name:      "test",
			Attributes: []record.KV{
				{Key: "host", Value: fmt.Sprintf("host-%d", i%17)},
				{Key: "seq", Value: fmt.Sprint(seed, "-", i)},
			},
			SeverityNumber: 9,
			SeverityText:   "INFO",
		}
		head := record.Append(nil, &r)
		if rest := size - len(head); rest > 0 {
			r.Body = pad[:rest]
		}
		b.Add(&r)
	}
	out := b.Batch()
	out.Data = bytes.Clone(out.Data)
	return out
}

// framed returns the records of a batch.
func framed(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	if err := record.Frames(data, func(rec []byte) error {
		out = append(out, bytes.Clone(rec))
		return nil
	}); err != nil {
		t.Fatalf("cannot read batch: %v", err)
	}
	return out
}

// consumed is a record read back from Kafka.
type consumed struct {
	key, value []byte
	partition  int32
}

// consume reads topic from the start until it has want records (every record in the topic
// when want < 0) or 10 s passed.
func consume(t testing.TB, brokers []string, topic string, want int) []consumed {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("cannot create consumer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if want < 0 {
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatalf("cannot list end offsets of %s: %v", topic, err)
		}
		want = 0
		ends.Each(func(o kadm.ListedOffset) { want += int(o.Offset) })
	}
	var out []consumed
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Logf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, consumed{key: r.Key, value: r.Value, partition: r.Partition})
		})
	}
	return out
}

// byEventID returns every record of batches by its event id (the Kafka key).
func byEventID(t testing.TB, batches []record.Batch) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, b := range batches {
		for _, rec := range framed(t, b.Data) {
			h, err := record.PeekHeader(rec)
			if err != nil {
				t.Fatal(err)
			}
			out[string(h.EventID)] = rec
		}
	}
	return out
}

// checkInKafka checks that every record of batches is in topic exactly once, byte for byte,
// keyed by its event id, and that nothing else is.
func checkInKafka(t testing.TB, brokers []string, topic string, batches ...record.Batch) {
	t.Helper()
	want := byEventID(t, batches)
	got := consume(t, brokers, topic, len(want))
	if len(got) != len(want) {
		t.Errorf("topic %s holds %d records, want %d", topic, len(got), len(want))
	}
	seen := make(map[string]bool)
	for _, c := range got {
		w, ok := want[string(c.key)]
		switch {
		case !ok:
			t.Errorf("topic %s holds a record with unexpected key %x", topic, c.key)
		case seen[string(c.key)]:
			t.Errorf("topic %s holds key %x twice", topic, c.key)
		case !bytes.Equal(c.value, w):
			t.Errorf("record %x differs in Kafka:\n got %x\nwant %x", c.key, c.value, w)
		}
		seen[string(c.key)] = true
	}
}

// status posts a batch straight to the server and returns the status, Retry-After and body.
func postBatch(t testing.TB, url string, b record.Batch, count string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+sinkwriter.PathBatches, bytes.NewReader(b.Data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(sinkwriter.HeaderTenant, b.Tenant)
	req.Header.Set(sinkwriter.HeaderRecordCount, count)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("cannot post batch: %v", err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), body.String()
}

// metric returns the value of the counter or gauge name with exactly the given label pairs
// (name, value, ...) in reg, 0 when absent.
func metric(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("cannot gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels)/2 {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}
