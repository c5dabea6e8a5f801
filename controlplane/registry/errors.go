package registry

import (
	"errors"
	"fmt"
)

// Kinds of registry errors, matched with errors.Is. The admin API maps each kind to one HTTP
// status (see controlplane/api).
var (
	// ErrNotFound is returned when the tenant or key named by a call does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when the expected revision given to a call is not the current
	// one: someone else changed the object since the caller read it (HTTP 409). The error is a
	// *ConflictError that carries both revisions.
	ErrConflict = errors.New("revision conflict")
	// ErrAlreadyExists is returned by CreateTenant when the id is taken (HTTP 409).
	ErrAlreadyExists = errors.New("already exists")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("registry closed")
)

// ValidationError is returned when a value given to a call is invalid (HTTP 400). Field names
// the offending field as the admin API spells it (e.g. "quotas.events_per_second",
// "ingest_v2[0].port").
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }

// ConflictError is returned when an expected revision is stale. errors.Is(err, ErrConflict)
// holds for it.
type ConflictError struct {
	Object   string // "tenant" or "upstreams"
	ID       string // the tenant id; empty for upstreams
	Expected int64  // the revision the caller sent
	Current  int64  // the object's current revision
}

func (e *ConflictError) Error() string {
	what := e.Object
	if e.ID != "" {
		what += fmt.Sprintf(" %q", e.ID)
	}
	return fmt.Sprintf("%s changed since revision %d: now at revision %d", what, e.Expected, e.Current)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
