package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/record"
	"github.com/ingestdev/ingest/record/recordjson"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// recordIn and recordOut are standard input and output of `ingest record` (tests replace them).
var (
	recordIn  io.Reader = os.Stdin
	recordOut io.Writer = os.Stdout
)

// runRecord is `ingest record decode`: normalized records as JSON lines (package recordjson),
// from files, standard input (as `kcat -C -f '%s\n'` prints a topic) or a topic's offsets.
func runRecord(ctx context.Context, _ *slog.Logger, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || args[0] != "decode" {
		return fmt.Errorf("usage: ingest record decode [flags] [FILE...]: the records of the files, of standard input, or of --topic, as JSON lines")
	}
	var o decodeOptions
	var brokers []string
	config.ListVar(fs, &brokers, "brokers", "Kafka seed brokers (host:port, comma-separated): read --topic instead of files")
	fs.StringVar(&o.topic, "topic", "", "the topic to read (with --brokers), e.g. ingest.acme or ingest-deadletter")
	fs.IntVar(&o.partition, "partition", -1, "the partition to read; -1: every partition")
	fs.Int64Var(&o.from, "from", 0, "the first offset to read, in each partition")
	fs.Int64Var(&o.to, "to", -1, "the offset to stop before, in each partition; -1: the end of the partition when the read starts")
	fs.StringVar(&o.sec.TLS.CAFile, "kafka-ca-file", "", "verify the brokers' TLS certificates with these CAs (turns TLS on)")
	fs.StringVar(&o.sec.SASL.Mechanism, "kafka-sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (password from "+kafkaauth.PasswordEnv+")")
	fs.StringVar(&o.sec.SASL.Username, "kafka-sasl-username", "", "the SASL user")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	out := bufio.NewWriter(recordOut)
	defer out.Flush()
	var n, bad int
	var err error
	switch {
	case len(brokers) > 0:
		if o.topic == "" {
			return errors.New("--brokers needs --topic")
		}
		n, bad, err = decodeTopic(ctx, brokers, o, out)
	case o.topic != "":
		return errors.New("--topic needs --brokers")
	case fs.NArg() == 0:
		n, bad, err = decodeStream(recordIn, "stdin", out)
	default:
		for _, name := range fs.Args() {
			f, ferr := os.Open(name)
			if ferr != nil {
				return ferr
			}
			fn, fbad, serr := decodeStream(f, name, out)
			f.Close()
			n, bad = n+fn, bad+fbad
			if serr != nil {
				return serr
			}
		}
	}
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d record(s) decoded, %d corrupt (reported above)", n, bad)
	}
	return nil
}

// idleFetch ends a topic read that gets no record for this long.
const idleFetch = 3 * time.Second

type decodeOptions struct {
	topic     string
	partition int
	from, to  int64
	sec       kafkaauth.Config
}

// printRecord writes the record rec encodes as a JSON line, with prefix (the Kafka position)
// before its fields.
func printRecord(w io.Writer, rec []byte, prefix string) error {
	var r record.Record
	if err := record.Decode(rec, &r); err != nil {
		return err
	}
	return printDecoded(w, &r, prefix)
}

// printDecoded writes r as a JSON line, with prefix before its fields.
func printDecoded(w io.Writer, r *record.Record, prefix string) error {
	js, err := recordjson.Marshal(r)
	if err != nil {
		return err
	}
	if prefix != "" {
		js = append([]byte("{"+prefix+","), js[1:]...)
	}
	_, err = w.Write(append(js, '\n'))
	return err
}

// decodeStream prints the records of one kcat-style stream.
func decodeStream(r io.Reader, name string, out io.Writer) (n, bad int, err error) {
	err = recordjson.ScanLines(r, func(_ []byte, dec *record.Record, _ int64) error {
		n++
		return printDecoded(out, dec, "")
	}, func(at int64, size int, err error) {
		bad++
		fmt.Fprintf(os.Stderr, "ingest record decode: %s: %d bytes at offset %d are no record: %v\n", name, size, at, err)
	})
	return n, bad, err
}

// decodeTopic prints the records of the topic's partitions between o.from and o.to, each with
// kafka_topic, kafka_partition and kafka_offset; a corrupt value (a dead letter may be one) is
// printed with its position and reason on stderr.
func decodeTopic(ctx context.Context, brokers []string, o decodeOptions, out io.Writer) (n, bad int, err error) {
	sec, err := o.sec.Opts()
	if err != nil {
		return 0, 0, err
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, sec...)
	admCl, err := kgo.NewClient(base...)
	if err != nil {
		return 0, 0, err
	}
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, o.topic)
	admCl.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("cannot list the offsets of %q: %w", o.topic, err)
	}
	starts := map[string]map[int32]kgo.Offset{o.topic: {}}
	stop := map[int32]int64{}
	var listErr error
	partitions := 0
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			listErr = e.Err
			return
		}
		partitions++
		if o.partition >= 0 && e.Partition != int32(o.partition) {
			return
		}
		to := e.Offset
		if o.to >= 0 && o.to < to {
			to = o.to
		}
		if o.from < to {
			starts[o.topic][e.Partition] = kgo.NewOffset().At(o.from)
			stop[e.Partition] = to
		}
	})
	switch {
	case partitions == 0 && errors.Is(listErr, kerr.UnknownTopicOrPartition), partitions == 0 && listErr == nil:
		return 0, 0, fmt.Errorf("topic %q does not exist", o.topic)
	case listErr != nil:
		return 0, 0, fmt.Errorf("cannot list the offsets of %q: %w", o.topic, listErr)
	case o.partition >= partitions:
		return 0, 0, fmt.Errorf("topic %q has %d partitions, no partition %d", o.topic, partitions, o.partition)
	case len(starts[o.topic]) == 0:
		return 0, 0, nil // nothing in the range
	}
	cl, err := kgo.NewClient(append(base, kgo.ConsumePartitions(starts))...)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	for len(stop) > 0 {
		// A range may end in offsets no record has (compaction, transaction markers): a poll
		// that brings nothing for idleFetch ends the read.
		pctx, cancel := context.WithTimeout(ctx, idleFetch)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return n, bad, err
		}
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			fmt.Fprintf(os.Stderr, "ingest record decode: no record for %v before the end of the range of %d partition(s); stopping\n", idleFetch, len(stop))
			break
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = err
			}
		})
		if ferr != nil {
			return n, bad, ferr
		}
		fs.EachRecord(func(kr *kgo.Record) {
			to, ok := stop[kr.Partition]
			if !ok {
				return
			}
			if kr.Offset >= to {
				delete(stop, kr.Partition)
				return
			}
			prefix := `"kafka_topic":` + strconv.Quote(kr.Topic) + `,"kafka_partition":` + strconv.Itoa(int(kr.Partition)) +
				`,"kafka_offset":` + strconv.FormatInt(kr.Offset, 10)
			// A dead letter says why: its reason and error come first.
			reason := ""
			for _, h := range kr.Headers {
				switch h.Key {
				case loader.HeaderReason:
					prefix += `,"deadletter_reason":` + strconv.Quote(string(h.Value))
					reason = " (dead-letter reason: " + string(h.Value) + ")"
				case loader.HeaderError:
					prefix += `,"deadletter_error":` + strconv.Quote(string(h.Value))
				}
			}
			if err := printRecord(out, kr.Value, prefix); err != nil {
				bad++
				fmt.Fprintf(os.Stderr, "ingest record decode: %s/%d@%d is no record: %v%s\n", kr.Topic, kr.Partition, kr.Offset, err, reason)
			} else {
				n++
			}
			if kr.Offset+1 >= to {
				delete(stop, kr.Partition)
			}
		})
	}
	return n, bad, nil
}
