package registry

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ingestdev/ingest/internal/tenant"
)

// Limits of what the registry accepts.
const (
	// MaxDisplayNameBytes bounds a tenant's display name.
	MaxDisplayNameBytes = 200
	// MaxReasonBytes bounds the reason of a stage change.
	MaxReasonBytes = 1000
	// MaxActorBytes bounds the actor recorded in the audit log.
	MaxActorBytes = 256
	// MaxKeysPerTenant bounds the keys a tenant holds, revoked ones included. Creating a key
	// when the tenant is at the bound forgets its oldest fully revoked key; if all are active
	// (or in a rotation's grace period) the call fails with a ValidationError on "keys".
	MaxKeysPerTenant = 20
	// MaxRotateGrace bounds the grace period of a rotation.
	MaxRotateGrace = 30 * 24 * time.Hour
)

// ValidateTenantID checks a tenant id (tenant.Validate: 1 to 63 characters of a-z, 0-9 and
// '-', not starting with '-'). Ids are used in Kafka topic and ClickHouse names. The error is a
// *ValidationError on "id".
func ValidateTenantID(id string) error {
	if err := tenant.Validate(id); err != nil {
		return &ValidationError{Field: "id", Msg: err.Error()}
	}
	return nil
}

func validateText(field, s string, max int) error {
	if len(s) > max {
		return &ValidationError{Field: field, Msg: fmt.Sprintf("%d bytes exceed the limit of %d", len(s), max)}
	}
	if !utf8.ValidString(s) {
		return &ValidationError{Field: field, Msg: "must be valid UTF-8"}
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return &ValidationError{Field: field, Msg: "must not contain control characters"}
	}
	return nil
}

func validateActor(actor string) error {
	if actor == "" {
		return &ValidationError{Field: "actor", Msg: "must not be empty: say who makes the change"}
	}
	return validateText("actor", actor, MaxActorBytes)
}

// Validate checks that every quota is finite and not negative. Errors name the field as
// "quotas.<json name>".
func (q Quotas) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"events_per_second", q.EventsPerSecond},
		{"bytes_per_second", q.BytesPerSecond},
		{"burst_events", q.BurstEvents},
		{"burst_bytes", q.BurstBytes},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return &ValidationError{Field: "quotas." + f.name, Msg: fmt.Sprintf("%v must be a finite number >= 0 (0 means unlimited, or one second of the rate for a burst)", f.v)}
		}
	}
	return nil
}

func validateRevision(rev int64) error {
	if rev < 0 {
		return &ValidationError{Field: "revision", Msg: fmt.Sprintf("%d must not be negative", rev)}
	}
	return nil
}

func notFound(id string) error { return fmt.Errorf("tenant %q: %w", id, ErrNotFound) }

// current returns the tenant to change after checking the expected revision (0 means any).
func current(st *memState, id string, rev int64) (*Tenant, error) {
	if err := validateRevision(rev); err != nil {
		return nil, err
	}
	t, ok := st.tenants[id]
	if !ok {
		return nil, notFound(id)
	}
	if rev != 0 && rev != t.Revision {
		return nil, &ConflictError{Object: "tenant", ID: id, Expected: rev, Current: t.Revision}
	}
	return t, nil
}

// TenantSpec is a tenant to create.
type TenantSpec struct {
	ID          string // required; see ValidateTenantID
	DisplayName string // optional; defaults to ID
	Quotas      Quotas // zero means unlimited
	Stage       Stage  // zero means legacy
}

// CreateTenant creates a tenant at a new revision and records "tenant.create". It fails with
// ErrAlreadyExists if the id is taken and with a *ValidationError for a bad field.
func (r *Registry) CreateTenant(ctx context.Context, actor string, spec TenantSpec) (Tenant, error) {
	if err := ValidateTenantID(spec.ID); err != nil {
		return Tenant{}, err
	}
	if spec.DisplayName == "" {
		spec.DisplayName = spec.ID
	}
	if err := validateText("display_name", spec.DisplayName, MaxDisplayNameBytes); err != nil {
		return Tenant{}, err
	}
	if err := spec.Quotas.Validate(); err != nil {
		return Tenant{}, err
	}
	if spec.Stage.IsZero() {
		spec.Stage = Stage{Kind: StageLegacy}
	}
	if err := spec.Stage.validate("stage"); err != nil {
		return Tenant{}, err
	}
	var out Tenant
	err := r.mutate(ctx, actor, func(st *memState, rev int64, now time.Time) (change, error) {
		if _, ok := st.tenants[spec.ID]; ok {
			return change{}, fmt.Errorf("tenant %q: %w", spec.ID, ErrAlreadyExists)
		}
		t := &Tenant{
			ID: spec.ID, DisplayName: spec.DisplayName, Quotas: spec.Quotas, Stage: spec.Stage,
			Keys: []APIKey{}, Revision: rev, CreatedAt: now, UpdatedAt: now,
		}
		out = cloneTenant(*t)
		return change{action: ActionTenantCreate, tenant: t.ID, put: t, after: t.Redacted(),
			summary: fmt.Sprintf("created tenant %s (stage %s)", t.ID, t.Stage)}, nil
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("cannot create tenant %q: %w", spec.ID, err)
	}
	return out, nil
}

// TenantUpdate is a partial update of a tenant's own fields; nil fields stay as they are.
type TenantUpdate struct {
	DisplayName *string
}

// update applies fn to a copy of tenant id at expected revision rev (0 means any). fn returns
// false when nothing changes; then nothing is written. The result is the tenant after the call.
func (r *Registry) update(ctx context.Context, actor, id string, rev int64, action Action,
	fn func(t *Tenant, now time.Time, st *memState) (summary string, changed bool, err error)) (Tenant, error) {
	return r.updateWithReason(ctx, actor, id, rev, action, "", fn)
}

// updateWithReason is update recording reason in the audit entry.
func (r *Registry) updateWithReason(ctx context.Context, actor, id string, rev int64, action Action, reason string,
	fn func(t *Tenant, now time.Time, st *memState) (summary string, changed bool, err error)) (Tenant, error) {
	var out Tenant
	err := r.mutate(ctx, actor, func(st *memState, newRev int64, now time.Time) (change, error) {
		cur, err := current(st, id, rev)
		if err != nil {
			return change{}, err
		}
		t := cloneTenant(*cur)
		summary, changed, err := fn(&t, now, st)
		if err != nil {
			return change{}, err
		}
		if !changed {
			out = cloneTenant(*cur)
			return change{noop: true}, nil
		}
		t.Revision, t.UpdatedAt = newRev, now
		out = cloneTenant(t)
		return change{action: action, tenant: id, put: &t, before: cur.Redacted(), after: t.Redacted(), summary: summary, reason: reason}, nil
	})
	return out, err
}

// UpdateTenant changes a tenant's display name at expected revision rev (0 means
// unconditional) and records "tenant.update". An update that changes nothing writes nothing.
func (r *Registry) UpdateTenant(ctx context.Context, actor, id string, rev int64, u TenantUpdate) (Tenant, error) {
	if u.DisplayName != nil {
		if err := validateText("display_name", *u.DisplayName, MaxDisplayNameBytes); err != nil {
			return Tenant{}, fmt.Errorf("cannot update tenant %q: %w", id, err)
		}
	}
	t, err := r.update(ctx, actor, id, rev, ActionTenantUpdate, func(t *Tenant, _ time.Time, _ *memState) (string, bool, error) {
		if u.DisplayName == nil || *u.DisplayName == t.DisplayName {
			return "", false, nil
		}
		name := *u.DisplayName
		if name == "" {
			name = t.ID
		}
		summary := fmt.Sprintf("display name %q -> %q", t.DisplayName, name)
		t.DisplayName = name
		return summary, true, nil
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("cannot update tenant %q: %w", id, err)
	}
	return t, nil
}

// DeleteTenant deletes a tenant and all its keys at expected revision rev (0 means
// unconditional) and records "tenant.delete" with the tenant as it was.
func (r *Registry) DeleteTenant(ctx context.Context, actor, id string, rev int64) error {
	err := r.mutate(ctx, actor, func(st *memState, _ int64, _ time.Time) (change, error) {
		cur, err := current(st, id, rev)
		if err != nil {
			return change{}, err
		}
		return change{action: ActionTenantDelete, tenant: id, del: id, before: cur.Redacted(),
			summary: fmt.Sprintf("deleted tenant %s", id)}, nil
	})
	if err != nil {
		return fmt.Errorf("cannot delete tenant %q: %w", id, err)
	}
	return nil
}

// SetQuotas replaces a tenant's quotas at expected revision rev (0 means unconditional) and
// records "tenant.quotas".
func (r *Registry) SetQuotas(ctx context.Context, actor, id string, rev int64, q Quotas) (Tenant, error) {
	if err := q.Validate(); err != nil {
		return Tenant{}, fmt.Errorf("cannot set quotas of tenant %q: %w", id, err)
	}
	t, err := r.update(ctx, actor, id, rev, ActionQuotasSet, func(t *Tenant, _ time.Time, _ *memState) (string, bool, error) {
		if t.Quotas == q {
			return "", false, nil
		}
		old := t.Quotas
		t.Quotas = q
		return fmt.Sprintf("quotas %s -> %s", formatQuotas(old), formatQuotas(q)), true, nil
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("cannot set quotas of tenant %q: %w", id, err)
	}
	return t, nil
}

func formatQuotas(q Quotas) string {
	return fmt.Sprintf("events/s=%g bytes/s=%g burst_events=%g burst_bytes=%g", q.EventsPerSecond, q.BytesPerSecond, q.BurstEvents, q.BurstBytes)
}

// SetStage moves a tenant to cutover stage s at expected revision rev (0 means
// unconditional) and records "tenant.stage". The stage it leaves becomes PreviousStage; a
// rollback is just setting an earlier stage (see Stage.Before), which the audit summary marks.
// Setting the current stage changes nothing.
func (r *Registry) SetStage(ctx context.Context, actor, id string, rev int64, s Stage) (Tenant, error) {
	return r.ChangeStage(ctx, actor, id, rev, s, StageChange{})
}

// StageChange says how ChangeStage audits a stage change.
type StageChange struct {
	// Action is the audit action; zero means ActionStageSet.
	Action Action
	// Note is appended to the audit summary in parentheses (e.g. the gate's verdict).
	Note string
	// Reason is recorded as the audit entry's reason.
	Reason string
	// From, when not zero, is the stage the caller decided from: the change fails with a
	// ConflictError if the tenant is at another stage.
	From Stage
}

// ChangeStage is SetStage with the audit action, a note and a reason given (the cutover API
// records "cutover.advance" and "cutover.rollback" this way).
func (r *Registry) ChangeStage(ctx context.Context, actor, id string, rev int64, s Stage, c StageChange) (Tenant, error) {
	if err := s.validate("stage"); err != nil {
		return Tenant{}, fmt.Errorf("cannot set stage of tenant %q: %w", id, err)
	}
	if err := validateText("reason", c.Reason, MaxReasonBytes); err != nil {
		return Tenant{}, fmt.Errorf("cannot set stage of tenant %q: %w", id, err)
	}
	action := c.Action
	if action == "" {
		action = ActionStageSet
	}
	t, err := r.updateWithReason(ctx, actor, id, rev, action, c.Reason, func(t *Tenant, now time.Time, _ *memState) (string, bool, error) {
		if !c.From.IsZero() && t.Stage != c.From {
			return "", false, &ConflictError{Object: "tenant", ID: id, Expected: rev, Current: t.Revision}
		}
		if t.Stage == s {
			return "", false, nil
		}
		summary := fmt.Sprintf("stage %s -> %s", t.Stage, s)
		if s.Before(t.Stage) {
			summary += " (rollback)"
		}
		if c.Note != "" {
			summary += " (" + c.Note + ")"
		}
		t.PreviousStage, t.Stage, t.StageChangedAt = t.Stage, s, now
		return summary, true, nil
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("cannot set stage of tenant %q: %w", id, err)
	}
	return t, nil
}

// addKey appends a new key to t, forgetting the oldest fully revoked key when t is at
// MaxKeysPerTenant. The key's prefix is unique in st.
func (r *Registry) addKey(t *Tenant, now time.Time, st *memState) (NewKey, error) {
	if len(t.Keys) >= MaxKeysPerTenant {
		drop := -1
		for i, k := range t.Keys {
			if !k.ActiveAt(now) && (drop < 0 || k.RevokedAt.Before(*t.Keys[drop].RevokedAt)) {
				drop = i
			}
		}
		if drop < 0 {
			return NewKey{}, &ValidationError{Field: "keys", Msg: fmt.Sprintf("tenant already has %d keys that are active or in a grace period, the limit; revoke one first", len(t.Keys))}
		}
		t.Keys = append(t.Keys[:drop:drop], t.Keys[drop+1:]...)
	}
	for range 8 {
		nk, err := generateKey(r.rand, now)
		if err != nil {
			return NewKey{}, err
		}
		if _, taken := st.prefixes[nk.APIKey.Prefix]; taken {
			continue // 40 random bits: practically never
		}
		t.Keys = append(t.Keys, cloneKey(nk.APIKey))
		return nk, nil
	}
	return NewKey{}, fmt.Errorf("cannot find an unused key prefix")
}

// CreateKey creates an API key for a tenant and records "key.create" (without the key). The
// full key is in the returned NewKey and is never available again. rev is the expected
// revision of the tenant; 0 means any (adding a key overwrites nothing).
func (r *Registry) CreateKey(ctx context.Context, actor, id string, rev int64) (Tenant, NewKey, error) {
	var nk NewKey
	t, err := r.update(ctx, actor, id, rev, ActionKeyCreate, func(t *Tenant, now time.Time, st *memState) (string, bool, error) {
		var err error
		nk, err = r.addKey(t, now, st)
		if err != nil {
			return "", false, err
		}
		return fmt.Sprintf("created key %s", nk.APIKey.ID), true, nil
	})
	if err != nil {
		return Tenant{}, NewKey{}, fmt.Errorf("cannot create a key for tenant %q: %w", id, err)
	}
	return t, nk, nil
}

func findKey(t *Tenant, keyID string) (int, error) {
	for i, k := range t.Keys {
		if k.ID == keyID {
			return i, nil
		}
	}
	return -1, fmt.Errorf("key %q of tenant %q: %w", keyID, t.ID, ErrNotFound)
}

// RotateKey replaces an active key of a tenant with a new one and records "key.rotate". The
// old key is revoked at once when grace is 0; otherwise its RevokedAt is set grace in the
// future and it is still accepted until then (clients switch over meanwhile). grace is at most
// MaxRotateGrace. Rotating a key that is already revoked or in a grace period fails with a
// ValidationError on "key_id". rev is the expected tenant revision; 0 means any.
func (r *Registry) RotateKey(ctx context.Context, actor, id, keyID string, rev int64, grace time.Duration) (Tenant, NewKey, error) {
	if grace < 0 || grace > MaxRotateGrace {
		return Tenant{}, NewKey{}, fmt.Errorf("cannot rotate key %q of tenant %q: %w", keyID, id,
			&ValidationError{Field: "grace", Msg: fmt.Sprintf("%s must be from 0 to %s", grace, MaxRotateGrace)})
	}
	var nk NewKey
	t, err := r.update(ctx, actor, id, rev, ActionKeyRotate, func(t *Tenant, now time.Time, st *memState) (string, bool, error) {
		i, err := findKey(t, keyID)
		if err != nil {
			return "", false, err
		}
		if t.Keys[i].RevokedAt != nil {
			return "", false, &ValidationError{Field: "key_id", Msg: fmt.Sprintf("key %s is already revoked or rotated (revoked at %s); rotate an active key", keyID, t.Keys[i].RevokedAt.Format(time.RFC3339))}
		}
		at := now.Add(grace)
		t.Keys[i].RevokedAt = &at
		nk, err = r.addKey(t, now, st)
		if err != nil {
			return "", false, err
		}
		return fmt.Sprintf("rotated key %s to %s; old key revoked at %s", keyID, nk.APIKey.ID, at.Format(time.RFC3339)), true, nil
	})
	if err != nil {
		return Tenant{}, NewKey{}, fmt.Errorf("cannot rotate key %q of tenant %q: %w", keyID, id, err)
	}
	return t, nk, nil
}

// RevokeKey revokes a key of a tenant now and records "key.revoke"; a key in a rotation's
// grace period is cut short. Revoking a key that is already revoked changes nothing and
// succeeds. rev is the expected tenant revision; 0 means any.
func (r *Registry) RevokeKey(ctx context.Context, actor, id, keyID string, rev int64) (Tenant, error) {
	t, err := r.update(ctx, actor, id, rev, ActionKeyRevoke, func(t *Tenant, now time.Time, _ *memState) (string, bool, error) {
		i, err := findKey(t, keyID)
		if err != nil {
			return "", false, err
		}
		if !t.Keys[i].ActiveAt(now) {
			return "", false, nil
		}
		t.Keys[i].RevokedAt = &now
		return fmt.Sprintf("revoked key %s", keyID), true, nil
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("cannot revoke key %q of tenant %q: %w", keyID, id, err)
	}
	return t, nil
}
