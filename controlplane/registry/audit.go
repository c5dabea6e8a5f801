package registry

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Action names a kind of change in the audit log.
type Action string

// Actions recorded in the audit log.
const (
	ActionTenantCreate Action = "tenant.create"
	ActionTenantUpdate Action = "tenant.update"
	ActionTenantDelete Action = "tenant.delete"
	ActionQuotasSet    Action = "tenant.quotas"
	ActionStageSet     Action = "tenant.stage"
	ActionKeyCreate    Action = "key.create"
	ActionKeyRotate    Action = "key.rotate"
	ActionKeyRevoke    Action = "key.revoke"
	ActionUpstreamsSet Action = "upstreams.set"
)

// AuditEntry is one change in the append-only audit log. Before and After are the tenant (or
// the upstreams) as JSON, with keys' salts and hashes left out; Before is absent for a
// creation and After for a deletion.
type AuditEntry struct {
	Seq      uint64          `json:"seq"`      // 1, 2, 3, … in commit order; never reused
	Time     time.Time       `json:"time"`     // UTC
	Actor    string          `json:"actor"`    // who made the change, as the caller said
	Action   Action          `json:"action"`   // what kind of change
	Tenant   string          `json:"tenant"`   // the tenant changed; empty for upstreams
	Revision int64           `json:"revision"` // the global revision the change created
	Summary  string          `json:"summary"`  // one line for people, e.g. "stage shadow -> canary:10"
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

// Bounds of an audit query.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditQuery selects audit entries.
type AuditQuery struct {
	// Tenant keeps only the entries of this tenant; empty keeps all.
	Tenant string
	// Since keeps only entries with Seq > Since (for polling: pass the last Seq seen).
	Since uint64
	// Limit bounds the entries returned: 0 means DefaultAuditLimit, at most MaxAuditLimit.
	Limit int
	// Tail returns the newest Limit matching entries instead of the oldest. Entries are in
	// ascending Seq order either way.
	Tail bool
}

// Audit returns audit entries in ascending Seq order. Without Tail it returns the first Limit
// entries after Since (page forward by passing the last Seq as Since); with Tail the last
// Limit entries after Since.
func (r *Registry) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultAuditLimit
	}
	if q.Limit < 0 || q.Limit > MaxAuditLimit {
		return nil, &ValidationError{Field: "limit", Msg: fmt.Sprintf("%d must be from 1 to %d", q.Limit, MaxAuditLimit)}
	}
	if q.Tenant != "" {
		if err := ValidateTenantID(q.Tenant); err != nil {
			return nil, &ValidationError{Field: "tenant", Msg: err.(*ValidationError).Msg}
		}
	}
	if q.Since == math.MaxUint64 {
		return []AuditEntry{}, nil
	}
	var out []AuditEntry
	err := r.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		take := func(k, v []byte) (bool, error) {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return false, fmt.Errorf("cannot decode audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if q.Tenant == "" || e.Tenant == q.Tenant {
				out = append(out, e)
			}
			return len(out) >= q.Limit, nil
		}
		if q.Tail {
			for k, v := c.Last(); k != nil && binary.BigEndian.Uint64(k) > q.Since; k, v = c.Prev() {
				if done, err := take(k, v); err != nil || done {
					return err
				}
			}
			return nil
		}
		for k, v := c.Seek(u64(q.Since + 1)); k != nil; k, v = c.Next() {
			if done, err := take(k, v); err != nil || done {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the audit log of %q: %w", r.path, err)
	}
	if q.Tail {
		slices.Reverse(out)
	}
	if out == nil {
		out = []AuditEntry{}
	}
	return out, nil
}
