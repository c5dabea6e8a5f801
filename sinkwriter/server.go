package sinkwriter

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

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

// handleBatch takes one batch from a request: validate the headers, reserve the body's bytes
// (before reading it, so the buffer bound holds for bodies too), read and check the batch,
// produce it. It returns the record count.
func (w *Writer) handleBatch(rw http.ResponseWriter, r *http.Request, tenantID string) (int, error) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		return 0, batchError(ReasonMethodNotAllowed, "method %s is not allowed: use POST", r.Method)
	}
	if !tenant.Valid(tenantID) {
		return 0, batchError(ReasonInvalidTenant, "tenant id %.70q in %s is not a valid tenant id", tenantID, HeaderTenant)
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
	if err := w.reserve(tenantID, n); err != nil {
		return 0, err
	}
	data := w.bufs.get(int(n)) // the batch owns it until its last ack
	if _, err := io.ReadFull(r.Body, data); err != nil {
		w.buf.release(tenantID, n)
		w.bufs.put(data)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("body ended before its Content-Length of %d bytes: %w", n, err)
		}
		return 0, corruptBatch(fmt.Errorf("cannot read batch: %w", err))
	}
	return count, w.take(r.Context(), tenantID, r.Header.Get(HeaderShadow) == "true", data, count)
}

// ServerProtocols returns the protocols to serve the internal API with: HTTP/1.1 (keep-alive)
// and HTTP/2 without TLS (h2c with prior knowledge), on one port.
func ServerProtocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}
