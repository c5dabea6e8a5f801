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
	// ActionCutoverAdvance and ActionCutoverRollback are stage changes made through the
	// cutover API (gated advance, rollback); ActionStageSet is the low-level stage set.
	ActionCutoverAdvance  Action = "cutover.advance"
	ActionCutoverRollback Action = "cutover.rollback"
	// ActionCutoverClearShadow is the deletion of a tenant's rows in the shadow tables of
	// ClickHouse (`ingestctl cutover clear-shadow`): recorded with RecordAction, it changes
	// nothing in the registry.
	ActionCutoverClearShadow Action = "cutover.clear-shadow"
	// The replay actions (`ingestctl replay`, POST /v1/replays…) change the replay jobs and
	// ClickHouse, not the registry: they are recorded with RecordAction. Plan creates a job,
	// start and cancel run and stop it, promote makes its window live (After is the promote's
	// result), discard drops its replay tables.
	ActionReplayPlan    Action = "replay.plan"
	ActionReplayStart   Action = "replay.start"
	ActionReplayCancel  Action = "replay.cancel"
	ActionReplayPromote Action = "replay.promote"
	ActionReplayDiscard Action = "replay.discard"
	// ActionDeadLetterRedrive is the production of dead letters back to their source topics
	// (POST /v1/deadletters/redrive).
	ActionDeadLetterRedrive Action = "deadletter.redrive"
)

// AuditEntry is one change in the append-only audit log. Before and After are the tenant (or
// the upstreams) as JSON, with keys' salts and hashes left out; Before is absent for a
// creation and After for a deletion.
type AuditEntry struct {
	Seq      uint64    `json:"seq"`      // 1, 2, 3, … in commit order; never reused
	Time     time.Time `json:"time"`     // UTC
	Actor    string    `json:"actor"`    // who made the change, as the caller said
	Action   Action    `json:"action"`   // what kind of change
	Tenant   string    `json:"tenant"`   // the tenant changed; empty for upstreams
	Revision int64     `json:"revision"` // the global revision the change created (RecordAction: the revision current then)
	Summary  string    `json:"summary"`  // one line for people, e.g. "stage shadow -> canary:10"
	// Reason is why the actor made the change, when they said (a forced cutover advance must).
	Reason string          `json:"reason,omitempty"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// ValidateAction checks what RecordAction would record (a *ValidationError on "actor", "id"
// or "reason"), so that a caller can refuse a request before it acts.
func ValidateAction(actor, tenant, reason string) error {
	if err := validateActor(actor); err != nil {
		return err
	}
	if tenant != "" {
		if err := ValidateTenantID(tenant); err != nil {
			return err
		}
	}
	return validateText("reason", reason, MaxReasonBytes)
}

// RecordAction appends an audit entry for an action taken outside the registry (the deletion
// of a tenant's shadow rows in ClickHouse): it changes no registry state, creates no revision
// (the entry's Revision is the current one) and notifies no subscriber. tenant, when not
// empty, must be a valid tenant id; after is recorded as the entry's After (JSON), reason as
// its Reason. It returns the entry written, with its Seq. Safe for concurrent use.
func (r *Registry) RecordAction(ctx context.Context, actor string, action Action, tenant, summary, reason string, after any) (AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return AuditEntry{}, err
	}
	if err := ValidateAction(actor, tenant, reason); err != nil {
		return AuditEntry{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return AuditEntry{}, ErrClosed
	}
	entry := AuditEntry{Time: r.now().UTC(), Actor: actor, Action: action, Tenant: tenant,
		Revision: r.state.Load().revision, Summary: summary, Reason: reason}
	var err error
	if entry.After, err = marshalAudit(after); err != nil {
		return AuditEntry{}, err
	}
	err = r.db.Update(func(tx *bolt.Tx) error { return putAudit(tx, &entry, r.retention) })
	if err != nil {
		return AuditEntry{}, fmt.Errorf("cannot write registry %q: %w", r.path, err)
	}
	attrs := []any{"action", string(action), "actor", actor, "revision", entry.Revision, "audit_seq", entry.Seq, "summary", summary}
	if tenant != "" {
		attrs = append(attrs, "tenant", tenant)
	}
	r.log.Info("action recorded", attrs...)
	return entry, nil
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

// putAudit appends entry to the audit log in tx, giving it the next sequence number, and drops
// the oldest entries so that at most retention remain (at least 1 is kept).
func putAudit(tx *bolt.Tx, entry *AuditEntry, retention uint64) error {
	audit := tx.Bucket(bucketAudit)
	seq, err := audit.NextSequence()
	if err != nil {
		return err
	}
	entry.Seq = seq
	b, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	if err := audit.Put(u64(seq), b); err != nil {
		return err
	}
	if retention == 0 || seq <= retention {
		return nil
	}
	// Keys are big-endian sequence numbers, so the cursor walks them oldest first. Usually one
	// entry goes; more after the retention was lowered. First again after each Delete: a bbolt
	// cursor skips an item when Next follows a Delete.
	oldest := seq - retention // drop every entry with Seq <= oldest
	c := audit.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= oldest; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("cannot drop audit entry %d past the retention of %d: %w", binary.BigEndian.Uint64(k), retention, err)
		}
	}
	return nil
}
