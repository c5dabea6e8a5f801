package sinkwriter_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/client"
)

// Benchmark shape: batches of benchRecords records of about benchRecordBytes bytes each (log
// records with a few attributes and a body of words and numbers, which compresses about as well
// as real logs do), written by benchWriters concurrent writers (as many normalizer requests in
// flight).
const (
	benchRecords     = 1000
	benchRecordBytes = 300
	benchWriters     = 16
)

var benchWords = strings.Fields(`GET POST PUT request response user session token cache miss hit
	database query slow timeout retry upstream downstream connection closed opened error warning
	info debug trace span service checkout payment inventory order shipped accepted rejected
	latency bytes status ok failed pod node cluster region zone disk memory cpu`)

// benchBatch returns a batch of n records of about size bytes each for tenant.
func benchBatch(tenant string, n, size int, seed uint64) record.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b record.Builder
	b.Reset(tenant, time.Now().UnixNano())
	var body strings.Builder
	for range n {
		r := record.Record{
			Signal:    record.SignalLog,
			Timestamp: time.Now().UnixNano(),
			Name:      "http.access",
			Attributes: []record.KV{
				{Key: "host", Value: fmt.Sprintf("web-%d", rng.IntN(40))},
				{Key: "http.status", Value: fmt.Sprint(200 + rng.IntN(4)*100)},
			},
			Resource:       []record.KV{{Key: "service.name", Value: "checkout"}},
			SeverityNumber: 9,
			SeverityText:   "INFO",
		}
		rest := size - len(record.Append(nil, &r))
		body.Reset()
		for body.Len() < rest {
			if rng.IntN(4) == 0 {
				fmt.Fprintf(&body, "%d ", rng.Uint32())
			} else {
				body.WriteString(benchWords[rng.IntN(len(benchWords))])
				body.WriteByte(' ')
			}
		}
		r.Body = body.String()[:max(rest, 0)]
		b.Add(&r)
	}
	out := b.Batch()
	out.Data = append([]byte(nil), out.Data...)
	return out
}

// runProduceBench writes b.N batches through write from benchWriters goroutines and reports
// records/s.
func runProduceBench(b *testing.B, write func(record.Batch) error) {
	batches := make([]record.Batch, benchWriters)
	for i := range batches {
		batches[i] = benchBatch(fmt.Sprintf("tenant-%d", i%4), benchRecords, benchRecordBytes, uint64(i))
	}
	// Create the topics and warm the connections.
	for _, bt := range batches {
		if err := write(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(batches[0].Data)))
	b.ReportAllocs()
	b.SetParallelism((benchWriters + 1) / 2) // × GOMAXPROCS goroutines
	next := make(chan int, benchWriters)
	for i := range benchWriters {
		next <- i
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var bt record.Batch
		select {
		case i := <-next:
			bt = batches[i]
		default:
			bt = batches[0]
		}
		for pb.Next() {
			if err := write(bt); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
}

func benchWriter(b *testing.B, c *kfake.Cluster, compression string) *sinkwriter.Writer {
	cfg := sinkwriter.Config{Brokers: c.ListenAddrs(), Compression: compression, KafkaTimeout: 30 * time.Second}
	w, err := sinkwriter.New(cfg, prometheus.NewRegistry(), testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Shutdown(b.Context()) })
	return w
}

// BenchmarkProducePath measures Writer.Write into an in-process kfake: every batch waits for
// the acks of all its records. "blackhole" makes kfake discard what it acknowledges, to keep
// its storage out of the measurement.
func BenchmarkProducePath(b *testing.B) {
	for _, bc := range []struct {
		name        string
		compression string
		opts        []kfake.Opt
	}{
		{"zstd", "zstd", nil},
		{"lz4", "lz4", nil},
		{"zstd-blackhole", "zstd", []kfake.Opt{kfake.BlackholeProduce()}},
		{"lz4-blackhole", "lz4", []kfake.Opt{kfake.BlackholeProduce()}},
		{"snappy-blackhole", "snappy", []kfake.Opt{kfake.BlackholeProduce()}},
		{"none-blackhole", "none", []kfake.Opt{kfake.BlackholeProduce()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newCluster(b, bc.opts...)
			w := benchWriter(b, c, bc.compression)
			runProduceBench(b, func(bt record.Batch) error { return w.Write(b.Context(), bt) })
		})
	}
}

// BenchmarkProducePathHTTP measures the same through the internal API: client → HTTP server →
// Writer → kfake (blackhole), over loopback.
func BenchmarkProducePathHTTP(b *testing.B) {
	for _, protocol := range []string{"http1", "h2c"} {
		b.Run(protocol, func(b *testing.B) {
			c := newCluster(b, kfake.BlackholeProduce())
			w := benchWriter(b, c, "lz4")
			srv := serve(b, w)
			cl := newClient(b, client.Config{URL: srv.URL, Protocol: protocol})
			runProduceBench(b, func(bt record.Batch) error { return cl.Write(b.Context(), bt) })
		})
	}
}
