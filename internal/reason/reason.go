package reason

import "strings"

// ID is a stable reason id, "err-ingest-" and a lower-case, dash-separated name. It is also the
// value of the reason label of every counter of refusals.
type ID string

// Prefix starts every id.
const Prefix = "err-ingest-"

// Scope says what an id refuses.
type Scope uint8

const (
	// ScopeRequest: the whole request (or batch) is refused with the id's Status.
	ScopeRequest Scope = iota + 1
	// ScopeEvent: one event is rejected; the request succeeds (Status 200) and its answer lists
	// the event with the id, while the other events are accepted.
	ScopeEvent
)

// Stage names a component that answers or counts an id.
type Stage string

// Stages of the pipeline, in the order a request meets them.
const (
	StageControlPlane Stage = "controlplane" // the edge's routes (fail-closed answers)
	StageEdge         Stage = "edge"         // the Envoy filter, its admission limiter, the Go edge
	StageNormalizer   Stage = "normalizer"
	StageSinkWriter   Stage = "sinkwriter" // the writer, and the client the normalizer uses
)

// Info is what the catalogue says about one id.
type Info struct {
	ID ID
	// Status is the HTTP status a request refused with the id gets; 200 for ScopeEvent ids.
	Status int
	Scope  Scope
	// Retry says whether sending the same request again can succeed by itself: true for
	// sheds (429, 503), which carry Retry-After.
	Retry bool
	// Action says what the client or the operator can do about it.
	Action string
	// Stages lists the stages that answer or count the id.
	Stages []Stage
}

// Label returns the value of the reason label of the counters of id: the id itself.
func (id ID) Label() string { return string(id) }

// String returns the id.
func (id ID) String() string { return string(id) }

// Status returns the HTTP status of id from the catalogue, and 500 for an id that is not in it.
func (id ID) Status() int {
	if i, ok := Lookup(id); ok {
		return i.Status
	}
	return 500
}

// Name returns id without Prefix, dashes replaced by underscores: the suffix of metric names
// that are per reason (the edge filter's ingest_edge_rejected_<name> counters).
func (id ID) Name() string {
	return strings.ReplaceAll(strings.TrimPrefix(string(id), Prefix), "-", "_")
}

// Lookup returns the catalogue's Info of id; false for an id that is not in it. It does not
// allocate, and is safe for concurrent use. The Info's Stages slice is shared: do not modify it.
func Lookup(id ID) (Info, bool) {
	i, ok := index[id]
	if !ok {
		return Info{}, false
	}
	return catalogue[i], true
}

// Known reports whether id is in the catalogue.
func Known(id ID) bool { _, ok := index[id]; return ok }

// All returns every Info of the catalogue, in catalogue order (grouped by stage, then by
// status). It returns a new slice on each call.
func All() []Info {
	out := make([]Info, len(catalogue))
	copy(out, catalogue)
	return out
}

// index maps an id to its position in catalogue. Built once, never modified.
var index = func() map[ID]int {
	m := make(map[ID]int, len(catalogue))
	for i, info := range catalogue {
		m[info.ID] = i
	}
	return m
}()
