package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration/deadletter"
)

var errNoDeadLetters = &apiError{status: http.StatusNotImplemented, code: CodeNotConfigured,
	msg: "dead letters are not reachable from this control plane: set replay.brokers (--replay-brokers, the Kafka brokers of the tenant topics) " +
		"and replay.deadletter_topic if the loaders use another topic than ingest-deadletter, then restart it"}

// RedriveRequest is POST /v1/deadletters/redrive.
type RedriveRequest struct {
	Partition int32   `json:"partition"`
	Offsets   []int64 `json:"offsets"`
	// Reason is recorded in the audit log. Required.
	Reason string `json:"reason"`
}

// maxRedrive bounds the offsets of one re-drive.
const maxRedrive = deadletter.MaxList

// listDeadLetters is GET /v1/deadletters?partition=&from=&limit=.
func (h *handler) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	if h.deadLetters == nil {
		return errNoDeadLetters
	}
	q := r.URL.Query()
	num := func(name string, def, lo, hi int64) (int64, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, invalid(name, "%q is not an integer in %d..%d", v, lo, hi)
		}
		return n, nil
	}
	part, err := num("partition", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	from, err := num("from", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := num("limit", 100, 1, deadletter.MaxList)
	if err != nil {
		return err
	}
	p, err := h.deadLetters.List(r.Context(), int32(part), from, int(limit))
	if err != nil {
		return deadLetterError(err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// redriveDeadLetters is POST /v1/deadletters/redrive: the letters at the offsets produced
// again to their source topics, recorded in the audit log.
func (h *handler) redriveDeadLetters(w http.ResponseWriter, r *http.Request) error {
	if h.deadLetters == nil {
		return errNoDeadLetters
	}
	var req RedriveRequest
	if err := h.decode(w, r, &req, false); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" {
		return invalid("reason", "required: why these letters are re-driven (what was fixed), for the audit log")
	}
	if len(req.Offsets) == 0 || len(req.Offsets) > maxRedrive {
		return invalid("offsets", "give 1 to %d offsets of the dead-letter partition (list them with GET /v1/deadletters)", maxRedrive)
	}
	if err := registry.ValidateAction(actor(r), "", req.Reason); err != nil {
		return err
	}
	res, err := h.deadLetters.Redrive(r.Context(), req.Partition, req.Offsets)
	if err != nil {
		return deadLetterError(err)
	}
	if len(res.Redriven) > 0 {
		summary := fmt.Sprintf("re-drove %d dead letter(s) of %s/%d to their source topics", len(res.Redriven), res.Topic, res.Partition)
		if _, err := h.reg.RecordAction(context.WithoutCancel(r.Context()), actor(r), registry.ActionDeadLetterRedrive, "", summary, req.Reason, res); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func deadLetterError(err error) error {
	if errors.Is(err, deadletter.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, msg: err.Error()}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, msg: err.Error()}
}
