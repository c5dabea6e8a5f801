package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkalog"
	"github.com/ingestdev/ingest/migration/report"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// Loader consumes the tenant topics as one consumer group and loads every record into
// ClickHouse exactly once (see the package documentation). Create it with New and run it with
// Run, once; Ready may be called at any time, from any goroutine.
type Loader struct {
	cfg   Config
	m     *metrics
	log   *slog.Logger
	ready *readiness
	rep   *report.Reporter // nil: no parity reports
}

// New returns a loader for cfg (zero fields take their defaults) after validating it. Its
// metrics are registered with reg.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Loader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot configure the loader: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("cannot register the loader's metrics: %w", err)
	}
	cfg = cfg.withDefaults()
	rep, err := report.Open(cfg.Report, report.Options{Source: report.SourceLoader, Registerer: reg, Log: log})
	if err != nil {
		return nil, fmt.Errorf("cannot configure the loader's parity reports: %w", err)
	}
	return &Loader{cfg: cfg, m: m, log: log, ready: newReadiness(cfg.Group), rep: rep}, nil
}

// closeReporter sends the last parity report, within 5 s, once the final flush is over.
func (l *Loader) closeReporter() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.rep.Close(ctx); err != nil {
		l.log.Warn("cannot send the last parity report", "error", err)
	}
}

// chWriteBuffer is where a ClickHouse connection writes out the block it encodes (see
// ClickHouseOptions).
const chWriteBuffer = 1 << 20

// ClickHouseOptions returns the clickhouse-go options of cfg (after defaults), for the loader
// and `ingest migrate`.
func ClickHouseOptions(cfg Config) *clickhouse.Options {
	cfg = cfg.withDefaults()
	opts := &clickhouse.Options{
		Addr:        cfg.ClickHouseAddr,
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.Username, Password: cfg.Password},
		DialTimeout: 5 * time.Second,
		// A connection encodes a block column by column into a buffer that it writes out once
		// it holds this much, and keeps at its largest size: the default, 10 MiB, kept
		// 10 MiB and a column on each pooled connection.
		MaxCompressionBuffer: chWriteBuffer,
		ClientInfo:           clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "ingest-loader", Version: "1"}}},
	}
	if cfg.Compression == "lz4" {
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	}
	return opts
}

// Run consumes and loads until ctx is done, then flushes what it holds and commits within
// ShutdownTimeout, and leaves the group. Before consuming it applies the schema migrations
// (unless SkipMigrate) and creates the dead-letter topic if needed, retrying while ClickHouse or
// Kafka cannot be reached. It returns an error only for what retrying cannot fix: a refused
// migration, a Kafka client that cannot be built. Once consuming, it never fails: transient
// errors are retried with backoff, data errors are dead-lettered.
func (l *Loader) Run(ctx context.Context) error {
	defer l.closeReporter()
	conn, err := clickhouse.Open(ClickHouseOptions(l.cfg))
	if err != nil {
		return fmt.Errorf("cannot open ClickHouse %q: %w", l.cfg.ClickHouseAddr, err)
	}
	defer conn.Close()
	l.ready.start(conn) // from here on Ready pings ClickHouse; it is not in the group yet
	defer l.ready.stop()
	if !l.cfg.SkipMigrate {
		if err := l.migrate(ctx, conn); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}

	// The parts and what they share: the consumer loop's goroutine owns all three (see
	// consumer); the group callbacks only set the consumer's flags and l.ready.joined.
	rt := &retries{log: l.log}
	led := newLedger(&chLedger{conn: conn, database: l.cfg.Database}, l.m.recordsSkipped)
	f := newFlusher(flushPolicy{rows: l.cfg.FlushRows, bytes: l.cfg.FlushBytes, interval: l.cfg.FlushInterval, minInterval: l.cfg.FlushIntervalMin},
		&chInserter{conn: conn, database: l.cfg.Database, timeout: l.cfg.InsertTimeout}, led, nil, l.cfg.DeadLetterTopic, l.m, l.log, rt)
	topics := &chTopics{conn: conn, database: l.cfg.Database, now: time.Now}
	inc := newIncarnations(topics, nil, l.m.topicConflicts, l.log, l.ready)
	c := newConsumer(l.cfg, led, inc, f, rt, l.m, l.log, &l.ready.joined)
	sec, err := l.cfg.Kafka.Opts()
	if err != nil {
		return fmt.Errorf("cannot secure the Kafka client: %w", err)
	}
	cl, err := kgo.NewClient(append(groupOptions(l.cfg, c, l.log), sec...)...)
	if err != nil {
		return fmt.Errorf("cannot create the Kafka client for %q: %w", l.cfg.Brokers, err)
	}
	c.cl, c.commits = cl, kafkaCommitter{cl}
	inc.kafka = kafkaTopics{cl}
	f.dlq = &kafkaDeadLetters{cl: cl, topic: l.cfg.DeadLetterTopic}
	f.rep = l.rep
	defer cl.Close()
	if err := l.ensureDeadLetterTopic(ctx, cl); err != nil {
		return nil // ctx ended while Kafka was unreachable
	}
	if err := l.acceptRecreated(ctx, topics, inc.kafka, led.src); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	l.ready.consuming(func() int { return len(cl.GetConsumeTopics()) })
	l.log.Info("loading", "brokers", l.cfg.Brokers, "group", l.cfg.Group, "topics", l.cfg.TopicRegex,
		"clickhouse", l.cfg.ClickHouseAddr, "cluster", l.cfg.ClickHouseCluster, "database", l.cfg.Database)
	c.run(ctx)
	return nil
}

// acceptRecreated accepts the current incarnation of each topic of AcceptRecreatedTopics
// (see accept), before consuming, retrying while Kafka or ClickHouse cannot be reached. It
// returns an error when a topic does not exist, and ctx's when it ends.
func (l *Loader) acceptRecreated(ctx context.Context, store incarnationStore, kafka topicDescriber, led ledgerReader) error {
	for _, topic := range l.cfg.AcceptRecreatedTopics {
		for attempt := 0; ; attempt++ {
			_, err := accept(ctx, store, kafka, topic, l.log, led)
			if err == nil {
				break
			}
			if errors.Is(err, errUnknownTopic) {
				return fmt.Errorf("accept_recreated_topics: %w", err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l.log.Warn("cannot accept the recreated topic yet, retrying", "topic", topic, "attempt", attempt+1, "err", err)
			if retryPolicy(l.cfg).Wait(ctx, attempt) != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// groupOptions returns the Kafka client options of the loader's consumer group (cfg after
// defaults), with c's callbacks.
func groupOptions(cfg Config, c *consumer, log *slog.Logger) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("ingest-loader"),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.TopicRegex),
		kgo.ConsumeRegex(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Eager: a rebalance revokes every partition, so the loader drops everything it holds
		// and reads again from the committed offsets and the ledger; no partial revocation.
		kgo.Balancers(kgo.StickyBalancer()),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.RebalanceTimeout(cfg.RebalanceTimeout),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.MetadataMinAge(min(cfg.TopicRefreshInterval, 5*time.Second)),
		kgo.MetadataMaxAge(cfg.TopicRefreshInterval),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.WithLogger(kafkalog.New(log)),
	}
}

// migrate applies the migrations (on every replica of ClickHouseCluster, if set), retrying while
// ClickHouse cannot be reached. A server's refusal (an exception), a checksum mismatch or a
// cluster that cannot hold the schema is returned.
func (l *Loader) migrate(ctx context.Context, conn driver.Conn) error {
	for attempt := 0; ; attempt++ {
		applied, err := schema.MigrateCluster(ctx, conn, l.cfg.Database, l.cfg.ClickHouseCluster)
		for _, m := range applied {
			l.log.Info("applied migration", "version", m.Version, "name", m.Name, "database", l.cfg.Database)
		}
		if err == nil {
			return nil
		}
		var exc *clickhouse.Exception
		if errors.Is(err, schema.ErrChecksumMismatch) || errors.Is(err, schema.ErrNotReplicated) || errors.Is(err, schema.ErrClusterUnsupported) || errors.As(err, &exc) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("cannot migrate yet, retrying", "attempt", attempt+1, "err", err)
		if retryPolicy(l.cfg).Wait(ctx, attempt) != nil {
			return nil
		}
	}
}

// ensureDeadLetterTopic creates the dead-letter topic unless it exists, retrying while Kafka
// cannot be reached. Its replication factor is DeadLetterReplicationFactor (0: auto, see
// sinkwriter.TopicReplication); when auto finds fewer than 3 brokers it logs a warning. A
// refusal other than "exists" is logged: the topic may be provisioned out of band. It returns
// an error only when ctx ends.
func (l *Loader) ensureDeadLetterTopic(ctx context.Context, cl *kgo.Client) error {
	adm := kadm.NewClient(cl)
	topic := l.cfg.DeadLetterTopic
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := sinkwriter.TopicReplication(cctx, adm, l.cfg.DeadLetterReplicationFactor, nil)
		if err == nil {
			_, err = adm.CreateTopic(cctx, 1, r.Factor, r.Configs, topic)
		}
		cancel()
		var kerrp *kerr.Error
		switch {
		case err == nil:
			l.log.Info("created the dead-letter topic", "topic", topic, "replication_factor", r.Factor)
			if r.Unreplicated() {
				l.log.Warn(r.Warning("dead_letter_replication_factor"), "brokers", r.Brokers, "replication_factor", r.Factor, "topic", topic)
			}
			return nil
		case errors.Is(err, kerr.TopicAlreadyExists):
			return nil
		case errors.As(err, &kerrp):
			l.log.Warn("cannot create the dead-letter topic; assuming it is provisioned", "topic", topic,
				"replication_factor", r.Factor, "err", err)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.log.Warn("cannot reach Kafka yet, retrying", "attempt", attempt+1, "err", err)
		if retryPolicy(l.cfg).Wait(ctx, attempt) != nil {
			return ctx.Err()
		}
	}
}
