package normalizer

import (
	"fmt"
	"net/http"
)

// requestError refuses a whole request with an HTTP status and a stable reason.
type requestError struct {
	status int
	reason Reason
	msg    string
}

func (e *requestError) Error() string { return string(e.reason) + ": " + e.msg }

func newRequestError(status int, reason Reason, format string, args ...any) *requestError {
	return &requestError{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// errMalformed refuses a body that cannot be decoded at all.
func errMalformed(format string, args ...any) *requestError {
	return newRequestError(http.StatusBadRequest, ReasonMalformed, format, args...)
}

// errTooManyEvents refuses a request with more than max events; decoders check it before
// emitting any event.
func errTooManyEvents(n, max int) *requestError {
	return newRequestError(http.StatusRequestEntityTooLarge, ReasonTooManyEvents,
		"request holds %d events, more than the limit of %d per request; split it into smaller batches", n, max)
}
