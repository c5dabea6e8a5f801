package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/fakeclock"
)

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) }

func openTemp(t *testing.T, opts ...registry.Option) (*registry.Registry, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.db")
	r, err := registry.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, path
}

func mustCreate(t *testing.T, r *registry.Registry, id string) registry.Tenant {
	t.Helper()
	tn, err := r.CreateTenant(context.Background(), "alice", registry.TenantSpec{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func TestRegistrySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	r, path := openTemp(t, registry.WithClock(clock.Now))
	acme, err := r.CreateTenant(ctx, "alice", registry.TenantSpec{ID: "acme", DisplayName: "Acme Corp", Quotas: registry.Quotas{EventsPerSecond: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, r, "globex")
	acme, nk, err := r.CreateKey(ctx, "alice", "acme", acme.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetStage(ctx, "bob", "acme", acme.Revision, registry.Stage{Kind: registry.StageCanary, Percent: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetUpstreams(ctx, "bob", 0, registry.Upstreams{
		V1: []registry.Endpoint{{Host: "legacy.internal", Port: 8080}},
		V2: []registry.Endpoint{{Host: "10.0.0.7", Port: 4318}, {Host: "normalizer-1", Port: 4318}},
	}); err != nil {
		t.Fatal(err)
	}
	before := r.Snapshot()
	auditBefore, err := r.Audit(ctx, registry.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	r2, err := registry.Open(path, registry.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	after := r2.Snapshot()
	if !jsonEqual(t, before, after) {
		t.Fatalf("state changed across restart:\nbefore %s\nafter  %s", mustJSON(t, before), mustJSON(t, after))
	}
	if after.Revision != 5 {
		t.Fatalf("revision after restart = %d, want 5", after.Revision)
	}
	got, err := r2.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.Stage.String() != "canary:10" || got.PreviousStage.String() != "legacy" || got.Quotas.EventsPerSecond != 1000 {
		t.Fatalf("acme after restart = %+v", got)
	}
	if len(got.Keys) != 1 || !got.Keys[0].Verify(nk.Key) {
		t.Fatalf("key does not verify after restart: %+v", got.Keys)
	}
	auditAfter, err := r2.Audit(ctx, registry.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, auditBefore, auditAfter) {
		t.Fatalf("audit log changed across restart")
	}
	// The revision and the audit sequence go on where they were.
	if _, err := r2.SetQuotas(ctx, "alice", "globex", 0, registry.Quotas{BytesPerSecond: 5}); err != nil {
		t.Fatal(err)
	}
	if r2.Revision() != 6 {
		t.Fatalf("revision = %d, want 6", r2.Revision())
	}
	last, _ := r2.Audit(ctx, registry.AuditQuery{Tail: true, Limit: 1})
	if len(last) != 1 || last[0].Seq != 6 || last[0].Revision != 6 {
		t.Fatalf("last audit entry = %+v, want seq 6 at revision 6", last)
	}
}

func TestSecondOpenOfTheSameFileFailsWhileLocked(t *testing.T) {
	_, path := openTemp(t)
	_, err := registry.Open(path, registry.WithLockTimeout(50*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: err = %v, want a locked-file error", err)
	}
}

func TestEveryChangeWritesOneAuditEntry(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	name := "Acme"
	steps := []struct {
		action registry.Action
		do     func() error
	}{
		{registry.ActionTenantCreate, func() error { _, err := r.CreateTenant(ctx, "a", registry.TenantSpec{ID: "acme"}); return err }},
		{registry.ActionTenantUpdate, func() error {
			_, err := r.UpdateTenant(ctx, "a", "acme", 0, registry.TenantUpdate{DisplayName: &name})
			return err
		}},
		{registry.ActionQuotasSet, func() error {
			_, err := r.SetQuotas(ctx, "a", "acme", 0, registry.Quotas{EventsPerSecond: 1})
			return err
		}},
		{registry.ActionStageSet, func() error {
			_, err := r.SetStage(ctx, "a", "acme", 0, registry.Stage{Kind: registry.StageShadow})
			return err
		}},
		{registry.ActionKeyCreate, func() error { _, _, err := r.CreateKey(ctx, "a", "acme", 0); return err }},
		{registry.ActionKeyRotate, func() error {
			tn, _ := r.Tenant(ctx, "acme")
			_, _, err := r.RotateKey(ctx, "a", "acme", tn.Keys[0].ID, 0, 0)
			return err
		}},
		{registry.ActionKeyRevoke, func() error {
			tn, _ := r.Tenant(ctx, "acme")
			_, err := r.RevokeKey(ctx, "a", "acme", tn.Keys[1].ID, 0)
			return err
		}},
		{registry.ActionUpstreamsSet, func() error {
			_, err := r.SetUpstreams(ctx, "a", 0, registry.Upstreams{V2: []registry.Endpoint{{Host: "n1", Port: 1}}})
			return err
		}},
		{registry.ActionTenantDelete, func() error { return r.DeleteTenant(ctx, "a", "acme", 0) }},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d (%s): %v", i, s.action, err)
		}
		entries, err := r.Audit(ctx, registry.AuditQuery{Limit: registry.MaxAuditLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != i+1 {
			t.Fatalf("after %s: %d audit entries, want %d", s.action, len(entries), i+1)
		}
		e := entries[i]
		if e.Action != s.action || e.Actor != "a" || e.Seq != uint64(i+1) || e.Revision != int64(i+1) || e.Summary == "" {
			t.Fatalf("audit entry %d = %+v, want action %s by a", i, e, s.action)
		}
		if s.action != registry.ActionUpstreamsSet && e.Tenant != "acme" {
			t.Fatalf("audit entry %d tenant = %q", i, e.Tenant)
		}
		if (e.Before == nil) != (s.action == registry.ActionTenantCreate || s.action == registry.ActionUpstreamsSet) {
			t.Fatalf("audit entry %d (%s): before = %s", i, s.action, e.Before)
		}
		if (e.After == nil) != (s.action == registry.ActionTenantDelete) {
			t.Fatalf("audit entry %d (%s): after = %s", i, s.action, e.After)
		}
		for _, raw := range []json.RawMessage{e.Before, e.After} {
			if bytes.Contains(raw, []byte(`"salt"`)) || bytes.Contains(raw, []byte(`"hash"`)) {
				t.Fatalf("audit entry %d leaks key material: %s", i, raw)
			}
		}
	}
}

func TestChangesThatChangeNothingWriteNoAuditEntry(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	tn := mustCreate(t, r, "acme")
	if _, err := r.SetStage(ctx, "a", "acme", tn.Revision, tn.Stage); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetQuotas(ctx, "a", "acme", tn.Revision, tn.Quotas); err != nil {
		t.Fatal(err)
	}
	if r.Revision() != 1 {
		t.Fatalf("revision = %d after no-op changes, want 1", r.Revision())
	}
	entries, _ := r.Audit(ctx, registry.AuditQuery{})
	if len(entries) != 1 {
		t.Fatalf("%d audit entries, want 1", len(entries))
	}
}

func TestStaleRevisionIsRefusedWithConflict(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	tn := mustCreate(t, r, "acme")
	if _, err := r.SetQuotas(ctx, "alice", "acme", tn.Revision, registry.Quotas{EventsPerSecond: 10}); err != nil {
		t.Fatal(err)
	}
	// Bob read revision 1 too; his write must not overwrite Alice's.
	_, err := r.SetQuotas(ctx, "bob", "acme", tn.Revision, registry.Quotas{EventsPerSecond: 99})
	if !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("stale SetQuotas: err = %v, want ErrConflict", err)
	}
	var ce *registry.ConflictError
	if !errors.As(err, &ce) || ce.Expected != 1 || ce.Current != 2 || ce.ID != "acme" {
		t.Fatalf("conflict = %+v", ce)
	}
	for name, call := range map[string]func() error{
		"stage": func() error {
			_, err := r.SetStage(ctx, "bob", "acme", 1, registry.Stage{Kind: registry.StageV2})
			return err
		},
		"delete": func() error { return r.DeleteTenant(ctx, "bob", "acme", 1) },
		"update": func() error {
			n := "x"
			_, err := r.UpdateTenant(ctx, "bob", "acme", 1, registry.TenantUpdate{DisplayName: &n})
			return err
		},
		"key":       func() error { _, _, err := r.CreateKey(ctx, "bob", "acme", 1); return err },
		"upstreams": func() error { _, err := r.SetUpstreams(ctx, "bob", 42, registry.Upstreams{}); return err },
	} {
		if err := call(); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("%s with a stale revision: err = %v, want ErrConflict", name, err)
		}
	}
	got, _ := r.Tenant(ctx, "acme")
	if got.Quotas.EventsPerSecond != 10 || got.Revision != 2 {
		t.Fatalf("tenant = %+v, want Alice's quotas at revision 2", got)
	}
	if _, err := r.CreateTenant(ctx, "bob", registry.TenantSpec{ID: "acme"}); !errors.Is(err, registry.ErrAlreadyExists) {
		t.Fatalf("create twice: err = %v, want ErrAlreadyExists", err)
	}
	if _, err := r.Tenant(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("get missing: err = %v, want ErrNotFound", err)
	}
	if _, err := r.SetQuotas(ctx, "bob", "nope", 0, registry.Quotas{}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("set quotas of missing: err = %v, want ErrNotFound", err)
	}
}

func TestRevisionIsNotReusedAfterDeleteAndRecreate(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	old := mustCreate(t, r, "acme")
	if err := r.DeleteTenant(ctx, "a", "acme", old.Revision); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, r, "acme")
	if _, err := r.SetStage(ctx, "a", "acme", old.Revision, registry.Stage{Kind: registry.StageV2}); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("revision of the deleted tenant accepted for the new one: err = %v", err)
	}
}

func TestConcurrentUpdatesEitherSucceedOrConflict(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	start := mustCreate(t, r, "acme")
	const workers, rounds = 16, 5
	var ok, conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				tn, err := r.Tenant(ctx, "acme")
				if err != nil {
					t.Error(err)
					return
				}
				_, err = r.SetQuotas(ctx, "worker", "acme", tn.Revision, registry.Quotas{EventsPerSecond: float64(w*rounds + i + 1)})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, registry.ErrConflict):
					conflicts.Add(1)
				default:
					t.Error(err)
				}
				_ = r.Snapshot() // readers race with writers
			}
		}()
	}
	wg.Wait()
	if ok.Load()+conflicts.Load() != workers*rounds {
		t.Fatalf("%d ok + %d conflicts != %d calls", ok.Load(), conflicts.Load(), workers*rounds)
	}
	if ok.Load() == 0 {
		t.Fatal("no update succeeded")
	}
	final, _ := r.Tenant(ctx, "acme")
	if final.Revision != start.Revision+ok.Load() || r.Revision() != start.Revision+ok.Load() {
		t.Fatalf("final revision %d (global %d), want %d + %d successes", final.Revision, r.Revision(), start.Revision, ok.Load())
	}
	entries, _ := r.Audit(ctx, registry.AuditQuery{Tenant: "acme", Limit: registry.MaxAuditLimit})
	if int64(len(entries)) != 1+ok.Load() {
		t.Fatalf("%d audit entries, want 1 + %d", len(entries), ok.Load())
	}
}

func TestAPIKeysAreStoredAsSaltedHashes(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	mustCreate(t, r, "acme")
	tn, k1, err := r.CreateKey(ctx, "a", "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, k2, err := r.CreateKey(ctx, "a", "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []registry.NewKey{k1, k2} {
		prefix, ok := registry.ParseKeyPrefix(k.Key)
		if !ok || prefix != k.APIKey.Prefix || k.APIKey.ID != prefix {
			t.Fatalf("key %q: prefix %q ok=%v, stored prefix %q", k.Key, prefix, ok, k.APIKey.Prefix)
		}
		if want := "ik_" + prefix + "_"; !strings.HasPrefix(k.Key, want) || len(k.Key) != len(want)+registry.KeySecretLen {
			t.Fatalf("key %q is not ik_<prefix>_<52 chars>", k.Key)
		}
		if len(k.APIKey.Salt) != registry.SaltLen || !bytes.Equal(k.APIKey.Hash, registry.HashKey(k.APIKey.Salt, k.Key)) {
			t.Fatalf("stored hash is not SHA-256(salt || key)")
		}
		if !k.APIKey.Verify(k.Key) || k.APIKey.Verify(k.Key+"x") {
			t.Fatal("Verify accepts the wrong key or refuses the right one")
		}
	}
	if bytes.Equal(k1.APIKey.Salt, k2.APIKey.Salt) || k1.Key == k2.Key {
		t.Fatal("two keys share a salt or a secret")
	}
	if len(tn.Keys) != 1 || !tn.Keys[0].Verify(k1.Key) {
		t.Fatalf("tenant after CreateKey = %+v", tn.Keys)
	}
	snap := r.Snapshot()
	raw := mustJSON(t, snap)
	if strings.Contains(raw, k1.Key) || strings.Contains(raw, k2.Key) {
		t.Fatal("the full key is stored")
	}
	red := snap.Tenants[0].Redacted()
	if red.Keys[0].Salt != nil || red.Keys[0].Hash != nil || snap.Tenants[0].Keys[0].Salt == nil {
		t.Fatal("Redacted must drop salt and hash, and only from its copy")
	}
}

func TestRotateRevokesTheOldKeyNowOrAfterTheGrace(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	r, _ := openTemp(t, registry.WithClock(clock.Now))
	mustCreate(t, r, "acme")
	_, old, _ := r.CreateKey(ctx, "a", "acme", 0)

	tn, nk, err := r.RotateKey(ctx, "a", "acme", old.APIKey.ID, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(tn.Keys) != 2 || tn.Keys[1].ID != nk.APIKey.ID {
		t.Fatalf("keys after rotate = %+v", tn.Keys)
	}
	if !tn.Keys[0].ActiveAt(clock.Now()) || tn.Keys[0].ActiveAt(clock.Now().Add(time.Hour)) {
		t.Fatalf("old key must be active for the 1h grace only; revoked at %v", tn.Keys[0].RevokedAt)
	}
	if _, _, err := r.RotateKey(ctx, "a", "acme", old.APIKey.ID, 0, 0); !isField(err, "key_id") {
		t.Fatalf("rotating a rotated key: err = %v, want a key_id validation error", err)
	}
	// Revoke cuts the grace short; revoking again changes nothing.
	tn, err = r.RevokeKey(ctx, "a", "acme", old.APIKey.ID, 0)
	if err != nil || tn.Keys[0].ActiveAt(clock.Now()) {
		t.Fatalf("revoke during grace: err %v, key %+v", err, tn.Keys[0])
	}
	rev := r.Revision()
	if _, err := r.RevokeKey(ctx, "a", "acme", old.APIKey.ID, 0); err != nil || r.Revision() != rev {
		t.Fatalf("second revoke: err %v, revision %d -> %d", err, rev, r.Revision())
	}

	tn, nk2, err := r.RotateKey(ctx, "a", "acme", nk.APIKey.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tn.Keys[1].ActiveAt(clock.Now()) || !tn.Keys[2].ActiveAt(clock.Now()) || tn.Keys[2].ID != nk2.APIKey.ID {
		t.Fatalf("rotate without grace must revoke at once: %+v", tn.Keys)
	}
	if _, err := r.RevokeKey(ctx, "a", "acme", "nokey", 0); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("revoke unknown key: err = %v", err)
	}
	if _, _, err := r.RotateKey(ctx, "a", "acme", nk2.APIKey.ID, 0, registry.MaxRotateGrace+time.Second); !isField(err, "grace") {
		t.Fatalf("grace too long: err = %v", err)
	}
}

func TestKeysPerTenantAreBounded(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	mustCreate(t, r, "acme")
	var first registry.NewKey
	for i := range registry.MaxKeysPerTenant {
		_, nk, err := r.CreateKey(ctx, "a", "acme", 0)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = nk
		}
	}
	if _, _, err := r.CreateKey(ctx, "a", "acme", 0); !isField(err, "keys") {
		t.Fatalf("key over the bound: err = %v, want a keys validation error", err)
	}
	if _, err := r.RevokeKey(ctx, "a", "acme", first.APIKey.ID, 0); err != nil {
		t.Fatal(err)
	}
	tn, _, err := r.CreateKey(ctx, "a", "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tn.Keys) != registry.MaxKeysPerTenant || tn.Keys[0].ID == first.APIKey.ID {
		t.Fatalf("the revoked key must make room: %d keys, first %s", len(tn.Keys), tn.Keys[0].ID)
	}
}

func isField(err error, field string) bool {
	var ve *registry.ValidationError
	return errors.As(err, &ve) && ve.Field == field
}

func TestValidationErrorsNameTheField(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	mustCreate(t, r, "acme")
	for _, tc := range []struct {
		field string
		call  func() error
	}{
		{"id", func() error { _, err := r.CreateTenant(ctx, "a", registry.TenantSpec{ID: "Acme"}); return err }},
		{"id", func() error { _, err := r.CreateTenant(ctx, "a", registry.TenantSpec{ID: "-acme"}); return err }},
		{"id", func() error {
			_, err := r.CreateTenant(ctx, "a", registry.TenantSpec{ID: strings.Repeat("a", 64)})
			return err
		}},
		{"display_name", func() error {
			_, err := r.CreateTenant(ctx, "a", registry.TenantSpec{ID: "b", DisplayName: "x\ny"})
			return err
		}},
		{"quotas.events_per_second", func() error {
			_, err := r.CreateTenant(ctx, "a", registry.TenantSpec{ID: "b", Quotas: registry.Quotas{EventsPerSecond: -1}})
			return err
		}},
		{"quotas.burst_bytes", func() error {
			_, err := r.SetQuotas(ctx, "a", "acme", 0, registry.Quotas{BurstBytes: math.Inf(1)})
			return err
		}},
		{"stage", func() error {
			_, err := r.SetStage(ctx, "a", "acme", 0, registry.Stage{Kind: registry.StageCanary, Percent: 100})
			return err
		}},
		{"stage", func() error { _, err := r.SetStage(ctx, "a", "acme", 0, registry.Stage{Kind: "blue"}); return err }},
		{"revision", func() error {
			_, err := r.SetStage(ctx, "a", "acme", -1, registry.Stage{Kind: registry.StageV2})
			return err
		}},
		{"actor", func() error {
			_, err := r.SetStage(ctx, "", "acme", 0, registry.Stage{Kind: registry.StageV2})
			return err
		}},
		{"ingest_v2[1].port", func() error {
			_, err := r.SetUpstreams(ctx, "a", 0, registry.Upstreams{V2: []registry.Endpoint{{Host: "a", Port: 1}, {Host: "b"}}})
			return err
		}},
		{"ingest_v1[0].host", func() error {
			_, err := r.SetUpstreams(ctx, "a", 0, registry.Upstreams{V1: []registry.Endpoint{{Host: "bad host", Port: 1}}})
			return err
		}},
		{"ingest_v1[1]", func() error {
			e := registry.Endpoint{Host: "a", Port: 1}
			_, err := r.SetUpstreams(ctx, "a", 0, registry.Upstreams{V1: []registry.Endpoint{e, e}})
			return err
		}},
		{"limit", func() error {
			_, err := r.Audit(ctx, registry.AuditQuery{Limit: registry.MaxAuditLimit + 1})
			return err
		}},
		{"tenant", func() error { _, err := r.Audit(ctx, registry.AuditQuery{Tenant: "A B"}); return err }},
	} {
		if err := tc.call(); !isField(err, tc.field) {
			t.Errorf("want a validation error on %q, got %v", tc.field, err)
		}
	}
	if r.Revision() != 1 {
		t.Fatalf("invalid calls changed the registry: revision %d", r.Revision())
	}
}

func TestStageChangesRecordThePreviousStage(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	mustCreate(t, r, "acme")
	for _, s := range []string{"shadow", "canary:10", "canary:50", "v2", "canary:10"} {
		st, _ := registry.ParseStage(s)
		if _, err := r.SetStage(ctx, "a", "acme", 0, st); err != nil {
			t.Fatal(err)
		}
	}
	tn, _ := r.Tenant(ctx, "acme")
	if tn.Stage.String() != "canary:10" || tn.PreviousStage.String() != "v2" || tn.StageChangedAt.IsZero() {
		t.Fatalf("stage %s previous %s at %v", tn.Stage, tn.PreviousStage, tn.StageChangedAt)
	}
	last, _ := r.Audit(ctx, registry.AuditQuery{Tail: true, Limit: 1})
	if !strings.Contains(last[0].Summary, "v2 -> canary:10 (rollback)") {
		t.Fatalf("summary = %q, want the rollback marked", last[0].Summary)
	}
}

func TestStageOrderAndText(t *testing.T) {
	order := []string{"legacy", "shadow", "canary:1", "canary:50", "canary:99", "v2"}
	for i, a := range order {
		sa, err := registry.ParseStage(a)
		if err != nil {
			t.Fatal(err)
		}
		for j, b := range order {
			sb, _ := registry.ParseStage(b)
			if got := sa.Before(sb); got != (i < j) {
				t.Errorf("%s.Before(%s) = %v", a, b, got)
			}
		}
		b, err := json.Marshal(struct{ S registry.Stage }{sa})
		if err != nil || string(b) != `{"S":"`+a+`"}` {
			t.Errorf("JSON of %s = %s, %v", a, b, err)
		}
		var back struct{ S registry.Stage }
		if err := json.Unmarshal(b, &back); err != nil || back.S != sa {
			t.Errorf("JSON round trip of %s = %+v, %v", a, back.S, err)
		}
	}
	var s registry.Stage
	if err := json.Unmarshal([]byte(`"canary:0"`), &s); err == nil {
		t.Error("canary:0 accepted")
	}
}

func TestAuditQueryFiltersByTenantSinceAndLimit(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	mustCreate(t, r, "a")
	mustCreate(t, r, "b")
	for i := range 4 {
		if _, err := r.SetQuotas(ctx, "x", "a", 0, registry.Quotas{EventsPerSecond: float64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	// seq: 1 create a, 2 create b, 3..6 quotas a
	seqs := func(q registry.AuditQuery) []uint64 { return auditSeqs(t, r, q) }
	for _, tc := range []struct {
		q    registry.AuditQuery
		want []uint64
	}{
		{registry.AuditQuery{}, []uint64{1, 2, 3, 4, 5, 6}},
		{registry.AuditQuery{Tenant: "b"}, []uint64{2}},
		{registry.AuditQuery{Since: 2, Limit: 2}, []uint64{3, 4}},
		{registry.AuditQuery{Tail: true, Limit: 2}, []uint64{5, 6}},
		{registry.AuditQuery{Tail: true, Tenant: "a", Since: 4}, []uint64{5, 6}},
		{registry.AuditQuery{Tenant: "a", Limit: 2}, []uint64{1, 3}},
		{registry.AuditQuery{Since: 6}, nil},
	} {
		if got := seqs(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: seqs %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestSubscribeSignalsAfterEveryCommitAndCoalesces(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	ch, cancel := r.Subscribe()
	defer cancel()
	select {
	case <-ch: // the initial signal
	default:
		t.Fatal("no initial signal")
	}
	for i := range 5 {
		mustCreate(t, r, "t"+string(rune('a'+i)))
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("no signal after a change")
	}
	select {
	case <-ch:
		t.Fatal("signals did not coalesce")
	default:
	}
	if got := len(r.Snapshot().Tenants); got != 5 {
		t.Fatalf("snapshot after the signal has %d tenants, want 5", got)
	}
	// A failed write signals nothing.
	_, _ = r.CreateTenant(ctx, "a", registry.TenantSpec{ID: "ta"})
	select {
	case <-ch:
		t.Fatal("signal without a change")
	default:
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after cancel")
	}
	ch2, cancel2 := r.Subscribe()
	defer cancel2()
	<-ch2
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch2; ok {
		t.Fatal("channel open after Close")
	}
}

func TestClosedRegistryRefusesWritesAndKeepsAnsweringSnapshots(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	mustCreate(t, r, "acme")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.CreateTenant(ctx, "a", registry.TenantSpec{ID: "b"}); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("write after Close: err = %v", err)
	}
	if _, err := r.Audit(ctx, registry.AuditQuery{}); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("audit after Close: err = %v", err)
	}
	if len(r.Snapshot().Tenants) != 1 {
		t.Fatal("snapshot lost after Close")
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	ctx := context.Background()
	r, _ := openTemp(t)
	mustCreate(t, r, "acme")
	_, _, _ = r.CreateKey(ctx, "a", "acme", 0)
	s := r.Snapshot()
	s.Tenants[0].Keys[0].Hash[0] ^= 0xff
	s.Tenants[0].DisplayName = "changed"
	again := r.Snapshot()
	if again.Tenants[0].DisplayName != "acme" || again.Tenants[0].Keys[0].Hash[0] == s.Tenants[0].Keys[0].Hash[0] {
		t.Fatal("modifying a snapshot changed the registry")
	}
}

func jsonEqual(t *testing.T, a, b any) bool { return mustJSON(t, a) == mustJSON(t, b) }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// auditSeqs returns the sequence numbers of the audit entries r answers q with.
func auditSeqs(t *testing.T, r *registry.Registry, q registry.AuditQuery) []uint64 {
	t.Helper()
	es, err := r.Audit(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestAuditLogKeepsTheNewestRetentionEntries(t *testing.T) {
	ctx := context.Background()
	r, path := openTemp(t, registry.WithAuditRetention(3))
	seqs := func(r *registry.Registry) []uint64 {
		return auditSeqs(t, r, registry.AuditQuery{Limit: registry.MaxAuditLimit})
	}
	mustCreate(t, r, "a")
	for i := range 4 {
		if _, err := r.SetQuotas(ctx, "x", "a", 0, registry.Quotas{EventsPerSecond: float64(i + 1)}); err != nil {
			t.Fatal(err)
		}
		if want := []uint64{1, 2, 3, 4, 5}[max(0, i-1) : i+2]; !slices.Equal(seqs(r), want) {
			t.Fatalf("after %d changes: seqs %v, want %v", i+2, seqs(r), want)
		}
	}
	if _, err := r.RecordAction(ctx, "x", registry.ActionTenantDelete, "a", "summary", "", nil); err != nil {
		t.Fatal(err)
	}
	if got, want := seqs(r), []uint64{4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("after RecordAction: seqs %v, want %v", got, want)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// A lower retention drops the excess at the next append; sequence numbers go on.
	r2, err := registry.Open(path, registry.WithAuditRetention(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r2.Close() })
	if got, want := seqs(r2), []uint64{4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("after reopening: seqs %v, want %v", got, want)
	}
	mustCreate(t, r2, "b")
	if got, want := seqs(r2), []uint64{6, 7}; !slices.Equal(got, want) {
		t.Fatalf("after an append under retention 2: seqs %v, want %v", got, want)
	}
}

func TestAuditRetentionDefaultsTo100000(t *testing.T) {
	if registry.DefaultAuditRetention != 100_000 {
		t.Errorf("DefaultAuditRetention = %d, want 100000", registry.DefaultAuditRetention)
	}
	r, _ := openTemp(t, registry.WithAuditRetention(0)) // 0: the default, not "keep none"
	mustCreate(t, r, "a")
	mustCreate(t, r, "b")
	if es, err := r.Audit(context.Background(), registry.AuditQuery{}); err != nil || len(es) != 2 {
		t.Errorf("Audit = %d entries, %v; want 2", len(es), err)
	}
}
