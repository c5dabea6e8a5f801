package sinkwriter

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/ingestdev/ingest/internal/hopauth"
	"github.com/ingestdev/ingest/internal/service"
	"github.com/ingestdev/ingest/internal/shed"
	"github.com/ingestdev/ingest/internal/tenant"
)

// The internal API (normalizer → sink writer). See doc.go.
const (
	// PathBatches is where batches are posted.
	PathBatches = "/v1/batches"
	// HeaderTenant names the batch's tenant. Required; every record must be of this tenant.
	HeaderTenant = "X-Tenant-Id"
	// HeaderRecordCount is the number of records framed in the body. Required; a batch whose
	// frames count differently is refused with 400.
	HeaderRecordCount = "X-Ingest-Record-Count"
	// HeaderShadow, "true" on a batch of mirrored shadow traffic (record.Batch.Shadow), sends
	// it to the tenant's shadow topic instead of its live one. Any other value, or none: live.
	HeaderShadow = "X-Ingest-Shadow"
	// ContentType is the media type of a batch body: records framed as record.Frames reads
	// them. The server does not require it.
	ContentType = "application/x-ingest-batch"
)

// ErrorBody is the JSON body of every answer other than 200.
type ErrorBody struct {
	Error struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

// Handler returns the HTTP handler of the internal API: POST /v1/batches, GET /healthz and
// GET /readyz. /metrics is served by the caller, which owns the registry.
func (w *Writer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathBatches, w.serveBatch)
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) { io.WriteString(rw, "ok\n") })
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, r *http.Request) {
		if err := w.Ready(r.Context()); err != nil {
			http.Error(rw, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(rw, "ready\n")
	})
	return mux
}

func (w *Writer) serveBatch(rw http.ResponseWriter, r *http.Request) {
	tenant := r.Header.Get(HeaderTenant)
	count, err := w.handleBatch(rw, r, tenant)
	w.observe(tenant, err)
	status, reason, retryAfter := statusOf(err)
	rw.Header().Set("Content-Type", "application/json")
	if err == nil {
		rw.WriteHeader(http.StatusOK)
		fmt.Fprintf(rw, "{\"records\":%d}\n", count)
		return
	}
	if status == http.StatusInternalServerError {
		w.log.Error("unexpected error", "tenant", tenant, "err", err)
	}
	if retryAfter > 0 {
		rw.Header().Set("Retry-After", shed.RetryAfterSeconds(retryAfter))
	}
	var body ErrorBody
	body.Error.Reason = reason
	body.Error.Message = message(err)
	rw.WriteHeader(status)
	json.NewEncoder(rw).Encode(&body)
}

// message is what an error answer says besides its reason: the cause, without the reason and
// retry delay that the answer carries in their own fields.
func message(err error) string {
	var be *BatchError
	var se *shed.Error
	switch {
	case errors.As(err, &be):
		return be.Err.Error()
	case errors.As(err, &se) && se.Cause != nil:
		return se.Cause.Error()
	}
	return err.Error()
}

// handleBatch takes one batch from a request: validate the headers, read the body reserving
// its bytes as they arrive (so the buffer bound holds for bodies too, and a body that
// declares much and stalls holds only what it sent), check the batch, produce it. It returns
// the record count.
func (w *Writer) handleBatch(rw http.ResponseWriter, r *http.Request, tenantID string) (int, error) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		return 0, batchError(ReasonMethodNotAllowed, "method %s is not allowed: use POST", r.Method)
	}
	if err := w.authenticate(r, tenantID); err != nil {
		return 0, err
	}
	if !tenant.Valid(tenantID) {
		return 0, batchError(ReasonInvalidTenant, "tenant id %.70q in %s is not a valid tenant id", tenantID, HeaderTenant)
	}
	if w.tenants != nil {
		if err := w.tenants.Check(r.Context(), tenantID, w.cfg.RetryAfterUnavailable); err != nil {
			if errors.Is(err, errUnknownTenant) {
				w.metrics.unknownTenant.Inc()
			}
			return 0, err
		}
	}
	count, err := strconv.Atoi(r.Header.Get(HeaderRecordCount))
	if err != nil {
		return 0, batchError(ReasonInvalidRecordCount, "%s %.30q is not a record count", HeaderRecordCount, r.Header.Get(HeaderRecordCount))
	}
	n := r.ContentLength
	if n < 0 {
		return 0, batchError(ReasonLengthRequired, "the request has no Content-Length: send the batch with its length")
	}
	if err := w.checkHeader(tenantID, n, count); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	if !w.enter() {
		return 0, w.shuttingDown()
	}
	defer w.exit()
	if err := w.checkKafka(r.Context()); err != nil {
		return 0, err
	}
	data, err := w.readBatch(r.Body, tenantID, n) // the batch owns it until its last ack
	if err != nil {
		return 0, err
	}
	return count, w.take(r.Context(), tenantID, r.Header.Get(HeaderShadow) == "true", data, count)
}

// authenticate checks the batch's hop signature over its tenant, record count and shadow
// flag, when the writer verifies (WithHopAuth). A failure is counted by cause only: the
// tenant it claims is not authenticated, so it is no label.
func (w *Writer) authenticate(r *http.Request, tenantID string) error {
	if w.hop == nil {
		return nil
	}
	err := w.hop.Verify(r.Header.Get(hopauth.Header), w.now(), hopauth.Claims{
		Audience: hopauth.AudienceSinkWriter,
		Tenant:   tenantID,
		Count:    r.Header.Get(HeaderRecordCount),
		Shadow:   r.Header.Get(HeaderShadow) == "true",
	})
	if err != nil {
		w.metrics.authFailures.WithLabelValues(hopauth.Cause(err)).Inc()
		return batchError(ReasonInternalAuth,
			"the batch has no valid %s signature (%v): only normalizers holding the hop key (hop_auth.key_file) may post batches", hopauth.Header, err)
	}
	return nil
}

// firstReadBytes is the buffer a batch body gets before any of it arrived; it doubles as the
// body comes, up to its declared length.
const firstReadBytes = 64 << 10

// readBatch reads a body declaring n bytes (n > 0) into a buffer from w.bufs, reserving the
// bytes of each read against the buffer bounds before the next. The buffer grows as the
// body arrives, never to more than twice what came (and at least firstReadBytes). On success
// the returned n bytes are reserved and the batch owns them; on error nothing is held: 429
// when the reads do not fit, 408 when the body sent nothing for the body idle timeout, else
// 400 (the body ended early).
func (w *Writer) readBatch(body io.Reader, tenantID string, n int64) ([]byte, error) {
	data := w.bufs.get(int(min(n, firstReadBytes)))
	var held int64
	fail := func(err error) ([]byte, error) {
		if held > 0 {
			w.buf.release(tenantID, held)
		}
		w.bufs.put(data)
		return nil, err
	}
	for held < n {
		if held == int64(len(data)) && cap(data) > len(data) {
			data = data[:min(int64(cap(data)), n)] // the pool's size class has room
		}
		if held == int64(len(data)) {
			grown := w.bufs.get(int(min(2*int64(len(data)), n)))
			copy(grown, data)
			w.bufs.put(data)
			data = grown
		}
		k, err := body.Read(data[held:])
		if k > 0 {
			if rerr := w.reserve(tenantID, int64(k)); rerr != nil {
				return fail(rerr)
			}
			held += int64(k)
		}
		switch {
		case err == nil || err == io.EOF && held == n:
		case errors.Is(err, service.ErrBodyIdle):
			return fail(&BatchError{Status: http.StatusRequestTimeout, Reason: ReasonBodyTimeout,
				Err: fmt.Errorf("cannot read batch after %d of its %d bytes: %w; send the whole body without pauses", held, n, err)})
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return fail(corruptBatch(fmt.Errorf("cannot read batch: body ended before its Content-Length of %d bytes: %w", n, io.ErrUnexpectedEOF)))
		default:
			return fail(corruptBatch(fmt.Errorf("cannot read batch: %w", err)))
		}
	}
	return data, nil
}

// ServerProtocols returns the protocols to serve the internal API with: HTTP/1.1 (keep-alive)
// and HTTP/2 without TLS (h2c with prior knowledge), on one port.
func ServerProtocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}
