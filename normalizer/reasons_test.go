package normalizer

import (
	"net/http"
	"testing"
	"time"

	"github.com/ingestdev/ingest/internal/reason"
	"github.com/ingestdev/ingest/internal/shed"
)

// Every reason the normalizer answers is in the catalogue, and a refusal gets the catalogue's
// status: the edge, which answers some of the same checks first, takes its status from there too.
func TestReasonsAreCatalogueIDsAndAnswerTheirStatus(t *testing.T) {
	for _, r := range []Reason{
		ReasonInvalidJSON, ReasonMissingField, ReasonInvalidField, ReasonTimestampTooOld, ReasonTimestampTooNew,
		ReasonTooManyAttributes, ReasonAttributeTooLong, ReasonNameTooLong, ReasonBodyTooLong, ReasonEventTooLarge,
	} {
		if info, ok := reason.Lookup(r); !ok || info.Scope != reason.ScopeEvent {
			t.Errorf("per-event reason %s: catalogue has %+v, %v", r, info, ok)
		}
	}
	for _, r := range []Reason{
		ReasonMissingTenant, ReasonInvalidTenant, ReasonMalformed, ReasonBodyTooLarge, ReasonDecompressedTooLarge,
		ReasonTooManyEvents, ReasonUnsupportedMediaType, ReasonUnsupportedEncoding, ReasonMethodNotAllowed,
	} {
		info, ok := reason.Lookup(r)
		if !ok || info.Scope != reason.ScopeRequest {
			t.Errorf("request reason %s: catalogue has %+v, %v", r, info, ok)
			continue
		}
		if status, got, _ := statusOf(newRequestError(r, "x")); status != info.Status || got != r {
			t.Errorf("statusOf(%s) = %d %s, want the catalogue's %d", r, status, got, info.Status)
		}
	}
	for _, c := range []struct {
		err  error
		want Reason
	}{
		{shed.Full(string(ReasonNormalizerFull), time.Second, nil), ReasonNormalizerFull},
		{shed.Full(string(ReasonSinkFull), time.Second, nil), ReasonSinkFull},
		{shed.Unavailable(string(ReasonSinkUnavailable), time.Second, nil), ReasonSinkUnavailable},
	} {
		if status, got, _ := statusOf(c.err); got != c.want || status != c.want.Status() {
			t.Errorf("statusOf(%v) = %d %s, want the catalogue's %d", c.err, status, got, c.want.Status())
		}
	}
	if status, got, _ := statusOf(http.ErrBodyNotAllowed); status != 500 || got != ReasonInternal {
		t.Errorf("statusOf(an unexpected error) = %d %s, want 500 %s", status, got, ReasonInternal)
	}
}
