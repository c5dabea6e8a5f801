package sinkwriter

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/shed"
)

// Reason is a stable id for why a batch was refused: an id of the pipeline's one catalogue,
// internal/reason, which gives its status and what the caller can do. It is the reason label
// of ingest_sinkwriter_shed_total (sheds) and the "reason" of every error answer. Ids never
// change meaning; new ones may be added (to the catalogue).
type Reason = string

// Sheds: the batch may succeed later; the answer carries Retry-After.
const (
	// ReasonSinkFull (429): the buffer (max_buffer_bytes) is full. Retry after Retry-After; if it
	// persists, Kafka is slower than the traffic: add sink writers or partitions.
	ReasonSinkFull = Reason(reason.SinkFull)
	// ReasonTenantShareFull (429): the tenant's batches already hold its share of the buffer
	// (tenant_share). Other tenants are not affected. Retry after Retry-After.
	ReasonTenantShareFull = Reason(reason.SinkTenantShareFull)
	// ReasonKafkaUnavailable (503): Kafka did not acknowledge every record (or create the
	// tenant's topic) within kafka_timeout, or is known to be unreachable. Some records of the
	// batch may have been written: a retry is safe, the loader deduplicates by event id.
	ReasonKafkaUnavailable = Reason(reason.KafkaUnavailable)
	// ReasonShuttingDown (503): the sink writer is shutting down; retry on another instance.
	ReasonShuttingDown = Reason(reason.SinkShuttingDown)
)

// Refusals of the batch itself: sending it again does not help (the catalogue's status in
// parentheses, which batchError sets).
const (
	ReasonInvalidTenant       = Reason(reason.InvalidTenant)       // 400
	ReasonInvalidRecordCount  = Reason(reason.InvalidRecordCount)  // 400
	ReasonRecordCountMismatch = Reason(reason.RecordCountMismatch) // 400
	ReasonCorruptBatch        = Reason(reason.CorruptBatch)        // 400
	ReasonBodyTimeout         = Reason(reason.BodyTimeout)         // 408
	ReasonMethodNotAllowed    = Reason(reason.MethodNotAllowed)    // 405
	ReasonLengthRequired      = Reason(reason.LengthRequired)      // 411
	ReasonBatchTooLarge       = Reason(reason.BatchTooLarge)       // 413
	ReasonRecordTooLarge      = Reason(reason.RecordTooLarge)      // 413
	// ReasonInternal (500): an unexpected error.
	ReasonInternal = Reason(reason.Internal)
)

// Errors of Ready besides Kafka's.
var (
	// ErrDraining is returned by Ready after Drain.
	ErrDraining = errors.New("the sink writer is draining")
	// ErrShuttingDown is returned by Ready after Shutdown, and is the cause of the 503 that
	// batches get then.
	ErrShuttingDown = errors.New("the sink writer is shutting down")
)

// BatchError is the refusal of a batch that is invalid as sent: Write returns it for a bad
// tenant id, a corrupt batch, a count that does not match its frames, or a batch or record
// over its bound. Nothing of the batch was produced. Match it with errors.As.
type BatchError struct {
	Status int    // HTTP status: 400, 405, 411 or 413
	Reason Reason // stable id
	Err    error  // what is wrong, for the message
}

func (e *BatchError) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap returns the cause (record.ErrCorrupt for a corrupt batch).
func (e *BatchError) Unwrap() error { return e.Err }

// batchError returns the refusal of a batch with id, its status taken from the catalogue.
func batchError(id Reason, format string, args ...any) *BatchError {
	return &BatchError{Status: reason.ID(id).Status(), Reason: id, Err: fmt.Errorf(format, args...)}
}

// corruptBatch returns the refusal of a batch whose frames or records are corrupt; err says
// how (it wraps record.ErrCorrupt or record.ErrVersion).
func corruptBatch(err error) *BatchError {
	return &BatchError{Status: reason.CorruptBatch.Status(), Reason: ReasonCorruptBatch, Err: err}
}

// statusOf maps an error of Write to its HTTP status, reason and Retry-After: the one place
// that does. nil is 200.
func statusOf(err error) (status int, id Reason, retryAfter time.Duration) {
	if err == nil {
		return http.StatusOK, "", 0
	}
	var be *BatchError
	var se *shed.Error
	switch {
	case errors.As(err, &be):
		return be.Status, be.Reason, 0
	case errors.As(err, &se):
		status = http.StatusServiceUnavailable
		if errors.Is(se.Kind, shed.ErrFull) {
			status = http.StatusTooManyRequests
		}
		return status, se.Reason, se.RetryAfter
	}
	return reason.Internal.Status(), ReasonInternal, 0
}
