package normalizer

import (
	"fmt"
)

// requestError refuses a whole request with a stable reason; its HTTP status is the
// reason's in the catalogue (internal/reason), as at every other stage.
type requestError struct {
	reason Reason
	msg    string
}

func (e *requestError) Error() string { return string(e.reason) + ": " + e.msg }

// status is the HTTP status of the refusal: the catalogue's for its reason.
func (e *requestError) status() int { return e.reason.Status() }

func newRequestError(reason Reason, format string, args ...any) *requestError {
	return &requestError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// errMalformed refuses a body that cannot be decoded at all.
func errMalformed(format string, args ...any) *requestError {
	return newRequestError(ReasonMalformed, format, args...)
}

// errTooManyEvents refuses a request with more than max events; decoders check it before
// emitting any event.
func errTooManyEvents(n, max int) *requestError {
	return newRequestError(ReasonTooManyEvents,
		"request holds %d events, more than the limit of %d per request; split it into smaller batches", n, max)
}
