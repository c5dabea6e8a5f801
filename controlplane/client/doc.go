// Package client is a typed Go client of the control plane's admin API (controlplane/api),
// used by ingestctl and by tests. A Client is safe for concurrent use. Errors are classified
// with errors.Is: ErrUnreachable when the control plane did not answer, and ErrUnauthorized,
// ErrInvalid, ErrNotFound, ErrConflict, ErrAlreadyExists, ErrRevisionReq or ErrServer for its
// error answers (an *Error with the code, the field at fault and the current revision).
package client
