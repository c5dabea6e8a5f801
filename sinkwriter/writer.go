package sinkwriter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/kafkalog"
	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/internal/tenant"
	"github.com/ingestdev/ingest/record"
)

// Readiness check bounds: a ping (a broker-only metadata request) gets pingTimeout, and its
// result is reused for readyCacheTTL.
const (
	pingTimeout   = 2 * time.Second
	readyCacheTTL = time.Second
)

// Writer produces batches of normalized records to Kafka, one Kafka record per normalized
// record (key: the 16-byte event id, value: the encoded record) on the tenant's topic, and
// reports success only once Kafka acknowledged every record with acks=all. It bounds the bytes
// of batches in progress globally and per tenant and refuses what does not fit (429).
//
// Writer implements normalizer.Sink (an in-process sink) and serves the same over HTTP
// (Handler). It is safe for concurrent use.
type Writer struct {
	cfg     Config
	log     *slog.Logger
	cls     []*kgo.Client // Producers clients; cls[0] also creates topics and pings
	next    atomic.Uint32 // round robin over cls
	topics  *topics
	buf     *buffer
	metrics *metrics
	now     func() time.Time
	hop     *hopauth.Verifier // nil: batches are not authenticated
	tenants *Tenants          // nil: any valid tenant id is accepted

	records sync.Pool // *[]kgo.Record, reused once every promise of a batch has run
	bufs    bytesPool // batch data, owned by a batch until its last ack

	kafkaDown atomic.Bool   // a batch failed and no ping or batch has succeeded since
	pingSem   chan struct{} // one ping at a time
	readyMu   sync.Mutex
	readyAt   time.Time // when readyErr was found; zero: never
	readyErr  error

	draining atomic.Bool

	lifeMu    sync.Mutex
	closing   bool          // Shutdown was called: new batches are refused
	active    int           // Write calls in progress
	idle      chan struct{} // closed when closing and active == 0
	closeOnce sync.Once
}

// Option configures a Writer.
type Option func(*options)

type options struct {
	kafka   []kgo.Opt
	now     func() time.Time
	hop     *hopauth.Verifier
	tenants *Tenants
}

// WithHopAuth makes the HTTP API refuse (401 err-ingest-internal-auth) every batch without a
// valid hop signature (package hopauth, audience sinkwriter) over its tenant, record count and
// shadow flag. Without it the API trusts its callers: NewService always sets it unless
// hop_auth.insecure_internal_hops.
func WithHopAuth(v *hopauth.Verifier) Option { return func(o *options) { o.hop = v } }

// WithTenants makes the HTTP API refuse batches of tenants t does not know (403
// err-ingest-unknown-tenant, no topic created; 503 err-ingest-tenants-unavailable while t has
// no list). The caller runs t (Tenants.Run). Without it any valid tenant id is accepted.
func WithTenants(t *Tenants) Option { return func(o *options) { o.tenants = t } }

// WithKafkaOptions appends franz-go client options to those the Config implies (tests, tuning).
// Options that change acks or idempotency break the write path's guarantees: do not pass them.
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(o *options) { o.kafka = append(o.kafka, opts...) }
}

// WithClock replaces time.Now for the readiness cache (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns a Writer for cfg that registers its metrics with reg. It does not connect to
// Kafka: the first batch or readiness check does.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger, opts ...Option) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create sink writer: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		o.now = time.Now
	}
	codec, _ := compressionCodec(cfg.Compression, cfg.CompressionLevel) // checked by Validate
	w := &Writer{
		cfg:     cfg,
		log:     log,
		now:     o.now,
		hop:     o.hop,
		tenants: o.tenants,
		buf:     newBuffer(cfg.MaxBufferBytes, cfg.tenantMaxBytes()),
		pingSem: make(chan struct{}, 1),
		idle:    make(chan struct{}),
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithLogger(kafkalog.New(log)),
		// Idempotent writes are franz-go's default; acks=all is too, stated for the reader.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytes(cfg.ProducerBatchMaxBytes),
		kgo.ProduceRequestTimeout(cfg.KafkaTimeout),
		kgo.RecordDeliveryTimeout(cfg.KafkaTimeout),
		// Let the delivery timeout fail records that are in flight too: otherwise a batch
		// whose request went unanswered holds its buffer bytes until Kafka answers, however
		// long that takes. The cost is that a record may land twice after a retry; the
		// loader deduplicates by event id anyway, as a client retry after a 503 does the same.
		kgo.AllowIdempotentProduceCancellation(),
		// The buffer bound is ours (max_buffer_bytes): franz-go's must never make Produce
		// block. A record is at least minFrameLen batch bytes, and franz-go counts key+value,
		// at most 2× its batch bytes.
		kgo.MaxBufferedRecords(int(cfg.MaxBufferBytes/minFrameLen) + 1),
		kgo.MaxBufferedBytes(int(2*cfg.MaxBufferBytes) + cfg.MaxRecordBytes + recordOverhead),
		kgo.ProducerOnDataLossDetected(func(topic string, partition int32) {
			log.Error("Kafka reports data loss: a partition's log lost records it had acknowledged; check the broker's storage",
				"topic", topic, "partition", partition)
		}),
	}
	sec, err := cfg.Kafka.Opts()
	if err != nil {
		return nil, fmt.Errorf("cannot secure the Kafka client: %w", err)
	}
	kopts = append(append(kopts, sec...), o.kafka...)
	for range cfg.Producers {
		cl, err := kgo.NewClient(kopts...)
		if err != nil {
			w.closeClients()
			return nil, fmt.Errorf("cannot create Kafka client for %q: %w", cfg.Brokers, err)
		}
		w.cls = append(w.cls, cl)
	}
	w.topics = newTopics(kadm.NewClient(w.cls[0]), cfg, log)
	w.metrics, err = newMetrics(reg, func() float64 { return float64(w.buf.used.Load()) })
	if err == nil {
		err = reg.Register(w.topics.created)
	}
	if err != nil {
		w.closeClients()
		return nil, fmt.Errorf("cannot register sink writer metrics: %w", err)
	}
	return w, nil
}

// Write produces every record of b to the tenant's topic and returns nil once Kafka has
// acknowledged all of them (acks=all). Otherwise it returns:
//   - a shed.Error of kind shed.ErrFull (429) when the buffer or the tenant's share is full;
//     nothing was produced;
//   - a shed.Error of kind shed.ErrUnavailable (503) when Kafka did not acknowledge every
//     record within kafka_timeout, is known to be unreachable, when ctx ended first, or when
//     the writer is shutting down; some records may have been written;
//   - a *BatchError when b itself is invalid (bad tenant, corrupt frames, Count not matching,
//     a batch or record over its bound); nothing was produced.
//
// Write copies b.Data (the copy is what the buffer bound accounts), so b is free again when
// Write returns, even when records of a failed batch are still being retried. The batch's
// records are checked after its bytes are reserved: a corrupt batch may get 429 when the
// buffer is full, and 400 when sent again.
func (w *Writer) Write(ctx context.Context, b record.Batch) error {
	err := w.write(ctx, b)
	w.observe(b.Tenant, err)
	return err
}

func (w *Writer) write(ctx context.Context, b record.Batch) error {
	n := int64(len(b.Data))
	if err := w.checkHeader(b.Tenant, n, b.Count); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if !w.enter() {
		return w.shuttingDown()
	}
	defer w.exit()
	if err := w.checkKafka(ctx); err != nil {
		return err
	}
	if err := w.reserve(b.Tenant, n); err != nil {
		return err
	}
	data := w.bufs.get(len(b.Data)) // the batch owns it until its last ack
	copy(data, b.Data)
	return w.take(ctx, b.Tenant, b.Shadow, data, b.Count)
}

// observe counts the answer to one batch.
func (w *Writer) observe(tenant string, err error) {
	code, reason, _ := statusOf(err)
	w.metrics.batches.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.metrics.shed.WithLabelValues(tenant, reason).Inc()
	}
}

// minFrameLen is the size of the smallest valid frame: a record's length and header.
const minFrameLen = record.FrameHeaderLen + record.MinHeaderLen

// checkHeader validates what a batch says about itself before any of it is reserved or read:
// the tenant id, its size, and a record count that its size can hold.
func (w *Writer) checkHeader(tenantID string, size int64, count int) error {
	if !tenant.Valid(tenantID) {
		return batchError(ReasonInvalidTenant, "tenant id %.70q is not a valid tenant id", tenantID)
	}
	if size > w.cfg.MaxBatchBytes {
		return batchError(ReasonBatchTooLarge,
			"batch of %d bytes exceeds the %d-byte limit (max_batch_bytes); send smaller batches", size, w.cfg.MaxBatchBytes)
	}
	if count < 0 {
		return batchError(ReasonInvalidRecordCount, "record count %d is negative", count)
	}
	if int64(count) > size/minFrameLen {
		return batchError(ReasonRecordCountMismatch,
			"%d records announced, but a batch of %d bytes holds at most %d", count, size, size/minFrameLen)
	}
	return nil
}

// checkRecords validates every frame of data and fills recs (one per record announced) with
// each record's key and value, aliasing data. Each record's header must be valid
// (record.PeekHeader: a known version and signal, an event id, a tenant), and its tenant the
// batch's (a record of another tenant would land in the wrong topic); the frames must count
// len(recs).
func (w *Writer) checkRecords(tenant string, data []byte, recs []kgo.Record) error {
	n := 0
	err := record.Frames(data, func(rec []byte) error {
		n++
		if n > len(recs) {
			return batchError(ReasonRecordCountMismatch, "the batch holds more than the %d records announced", len(recs))
		}
		if len(rec) > w.cfg.MaxRecordBytes {
			return batchError(ReasonRecordTooLarge,
				"record %d of %d bytes exceeds the %d-byte limit (max_record_bytes)", n, len(rec), w.cfg.MaxRecordBytes)
		}
		h, err := record.PeekHeader(rec)
		if err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		if string(h.Tenant) != tenant {
			return fmt.Errorf("%w: record %d is of tenant %.70q, not of the batch's tenant %q", record.ErrCorrupt, n, h.Tenant, tenant)
		}
		r := &recs[n-1]
		r.Key = h.EventID
		r.Value = rec
		return nil
	})
	var be *BatchError
	switch {
	case errors.As(err, &be):
		return be
	case err != nil:
		return corruptBatch(err)
	case n != len(recs):
		return batchError(ReasonRecordCountMismatch, "the batch holds %d records, not the %d announced", n, len(recs))
	}
	return nil
}

// enter registers a batch in progress; false once Shutdown was called.
func (w *Writer) enter() bool {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	if w.closing {
		return false
	}
	w.active++
	return true
}

func (w *Writer) exit() {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	w.active--
	if w.active == 0 && w.closing {
		close(w.idle)
	}
}

func (w *Writer) shuttingDown() error {
	return shed.Unavailable(ReasonShuttingDown, w.cfg.RetryAfterUnavailable, ErrShuttingDown)
}

// checkKafka fails fast while Kafka is known to be unreachable: after a batch failed, every new
// batch first needs a successful ping (cached for a second), so that batches do not pile up
// waiting kafka_timeout each while holding the buffer.
func (w *Writer) checkKafka(ctx context.Context) error {
	if !w.kafkaDown.Load() {
		return nil
	}
	if err := w.ping(ctx); err != nil {
		return shed.Unavailable(ReasonKafkaUnavailable, w.cfg.RetryAfterUnavailable, err)
	}
	return nil
}

// reserve takes n bytes of the buffer for tenant or returns the 429 shed.
func (w *Writer) reserve(tenant string, n int64) error {
	if reason, err := w.buf.reserve(tenant, n); err != nil {
		return shed.Full(reason, w.cfg.RetryAfterFull, err)
	}
	return nil
}

// take checks the count records framed in data, then produces them to the tenant's topic (its
// shadow topic when shadow) and waits for their acks.
// The batch owns data (from w.bufs) and has reserved len(data) bytes; both are released when
// the batch is refused, or when the last promise runs, which may be after take returned
// (timeout, ctx).
func (w *Writer) take(ctx context.Context, tenantID string, shadow bool, data []byte, count int) error {
	topic := tenant.Topic(w.cfg.TopicPattern, tenantID)
	if shadow {
		topic = tenant.ShadowTopic(w.cfg.TopicPattern, tenantID)
	}
	b := &inflight{w: w, tenant: tenantID, topic: topic, data: data, done: make(chan struct{})}
	b.recs = w.getRecords(count)
	recs := *b.recs
	if err := w.checkRecords(tenantID, data, recs); err != nil {
		w.putRecords(b.recs)
		b.release()
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, w.cfg.KafkaTimeout)
	err := w.topics.ensure(tctx, b.topic)
	cancel()
	if err != nil {
		w.putRecords(b.recs)
		b.release()
		if ctx.Err() == nil {
			w.setKafkaDown(err)
		}
		return shed.Unavailable(ReasonKafkaUnavailable, w.cfg.RetryAfterUnavailable, err)
	}

	now := time.Now() // one timestamp per batch: the Kafka record time is the time of the write
	b.pending.Store(int64(count))
	promise := b.promise
	cl := w.cls[int(w.next.Add(1))%len(w.cls)]
	start := time.Now()
	for i := range recs {
		r := &recs[i]
		r.Topic = b.topic
		r.Timestamp = now
		// Not ctx: canceling a record fails every buffered record of its partition, which
		// would fail other batches of the tenant. kafka_timeout bounds each record instead.
		cl.Produce(context.Background(), r, promise)
	}

	timer := time.NewTimer(w.cfg.KafkaTimeout + w.cfg.Linger)
	defer timer.Stop()
	select {
	case <-b.done:
		err = b.err
		if err != nil {
			err = fmt.Errorf("cannot produce batch of %d records to topic %q: %w", count, b.topic, err)
			w.setKafkaDown(err)
		}
	case <-timer.C:
		err = fmt.Errorf("cannot produce batch of %d records to topic %q: no acknowledgement of every record within %s",
			count, b.topic, w.cfg.KafkaTimeout)
		w.setKafkaDown(err)
	case <-ctx.Done():
		err = fmt.Errorf("cannot produce batch of %d records to topic %q: gave up waiting for acknowledgements: %w",
			count, b.topic, context.Cause(ctx))
	}
	w.metrics.produceSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return shed.Unavailable(ReasonKafkaUnavailable, w.cfg.RetryAfterUnavailable, err)
	}
	w.setKafkaUp()
	w.metrics.recordsProduced.WithLabelValues(tenantID).Add(float64(count))
	return nil
}

// closeClients closes every Kafka client; their buffered records fail with
// kgo.ErrClientClosed.
func (w *Writer) closeClients() {
	for _, cl := range w.cls {
		cl.Close()
	}
}

// inflight is one batch being produced.
type inflight struct {
	w       *Writer
	tenant  string
	topic   string
	data    []byte        // the batch's bytes; records alias it
	recs    *[]kgo.Record // from w.records
	pending atomic.Int64  // promises still to run
	failed  atomic.Bool   // err is set
	err     error         // the first produce error
	done    chan struct{} // closed after the last promise
}

// promise runs once per record, serially (franz-go calls promises one at a time).
func (b *inflight) promise(_ *kgo.Record, err error) {
	if err != nil && b.failed.CompareAndSwap(false, true) {
		b.err = err
	}
	if b.pending.Add(-1) == 0 {
		if b.err != nil {
			b.w.topics.forget(b.topic) // it may have been deleted: check it again next time
		}
		b.w.putRecords(b.recs)
		b.recs = nil
		b.release()
		close(b.done)
	}
}

// release returns the batch's reservation and its data.
func (b *inflight) release() {
	b.w.buf.release(b.tenant, int64(len(b.data)))
	b.w.bufs.put(b.data)
	b.data = nil
}

// putRecords zeroes recs (they alias batch data) and keeps them for reuse.
func (w *Writer) putRecords(recs *[]kgo.Record) {
	clear(*recs)
	w.records.Put(recs)
}

// getRecords returns a slice of n zero records.
func (w *Writer) getRecords(n int) *[]kgo.Record {
	if p, ok := w.records.Get().(*[]kgo.Record); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]kgo.Record, n)
	return &s
}

func (w *Writer) setKafkaDown(err error) {
	if !w.kafkaDown.Swap(true) {
		w.log.Warn("Kafka did not acknowledge a batch; answering 503 until it answers again", "err", err)
	}
}

func (w *Writer) setKafkaUp() {
	if w.kafkaDown.Swap(false) {
		w.log.Info("Kafka acknowledges batches again")
	}
}

// Ready returns nil when the writer accepts batches: it is not draining and Kafka answered a
// metadata request within 2 s. The answer is cached for a second, so probes cost Kafka little.
func (w *Writer) Ready(ctx context.Context) error {
	if w.draining.Load() {
		return ErrDraining
	}
	w.lifeMu.Lock()
	closing := w.closing
	w.lifeMu.Unlock()
	if closing {
		return ErrShuttingDown
	}
	return w.ping(ctx)
}

// ping asks Kafka for broker metadata, at most once per readyCacheTTL and one at a time.
func (w *Writer) ping(ctx context.Context) error {
	cached := func() (error, bool) {
		w.readyMu.Lock()
		defer w.readyMu.Unlock()
		if !w.readyAt.IsZero() && w.now().Sub(w.readyAt) < readyCacheTTL {
			return w.readyErr, true
		}
		return nil, false
	}
	if err, ok := cached(); ok {
		return err
	}
	select {
	case w.pingSem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-w.pingSem }()
	if err, ok := cached(); ok { // found by the ping we waited for
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := w.cls[0].Ping(pctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil { // our caller gave up: that says nothing about Kafka
			return context.Cause(ctx)
		}
		err = fmt.Errorf("cannot reach Kafka at %q within %s: %w", w.cfg.Brokers, pingTimeout, err)
	} else {
		w.setKafkaUp()
	}
	w.readyMu.Lock()
	w.readyAt, w.readyErr = w.now(), err
	w.readyMu.Unlock()
	return err
}

// Drain makes Ready fail, so that load balancers stop sending batches; batches keep being
// accepted until Shutdown. Call it before shutting the HTTP server down.
func (w *Writer) Drain() { w.draining.Store(true) }

// Shutdown stops intake (new batches get 503 err-ingest-sink-shutting-down), waits for the
// batches in progress and for every buffered record to be acknowledged or failed, then closes
// the Kafka client. When ctx ends first, the records still buffered fail (their batches were
// answered 503 already, or get it now) and Shutdown returns ctx's error. It is idempotent.
func (w *Writer) Shutdown(ctx context.Context) error {
	w.lifeMu.Lock()
	if !w.closing {
		w.closing = true
		if w.active == 0 {
			close(w.idle)
		}
	}
	w.lifeMu.Unlock()
	var err error
	select {
	case <-w.idle:
		for _, cl := range w.cls {
			if err = cl.Flush(ctx); err != nil {
				break
			}
		}
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	w.closeOnce.Do(func() {
		w.closeClients()
		if err != nil {
			w.log.Warn("sink writer shut down before every record was acknowledged", "err", err)
		} else {
			w.log.Info("sink writer shut down; every batch in progress was answered")
		}
	})
	if err != nil {
		return fmt.Errorf("cannot flush records to Kafka: %w", err)
	}
	return nil
}
