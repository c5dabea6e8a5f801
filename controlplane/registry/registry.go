package registry

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout of the bbolt file this code reads and writes.
const schemaVersion = 1

// Buckets and keys of the bbolt file.
var (
	bucketMeta    = []byte("meta")    // schema, revision
	bucketTenants = []byte("tenants") // tenant id -> JSON Tenant (with key salts and hashes)
	bucketAudit   = []byte("audit")   // big-endian uint64 seq -> JSON AuditEntry; appended, oldest dropped past the retention
	bucketReplays = []byte("replays") // replay job id -> JSON replay.Job; the bucket's sequence numbers the ids
	keySchema     = []byte("schema")
	keyRevision   = []byte("revision")
	keyUpstreams  = []byte("upstreams")
)

// Option configures Open.
type Option func(*options)

type options struct {
	log         *slog.Logger
	now         func() time.Time
	rand        io.Reader
	lockTimeout time.Duration
	retention   int
}

// WithLogger sets the logger for state changes (one line per change). Default: discard.
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// WithClock sets the clock for CreatedAt, UpdatedAt, RevokedAt and audit times. Default
// time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRandom sets the source of API key material and salts. Default crypto/rand.Reader; tests
// only should change it.
func WithRandom(r io.Reader) Option { return func(o *options) { o.rand = r } }

// DefaultAuditRetention is how many audit entries the registry keeps by default.
const DefaultAuditRetention = 100_000

// WithAuditRetention sets how many audit entries the registry keeps: appending an entry beyond
// n drops the oldest ones, so the audit log holds the newest n (Seq keeps counting up). 0 or
// less means DefaultAuditRetention. Lowering it drops the excess at the next append.
func WithAuditRetention(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.retention = n
		}
	}
}

// WithLockTimeout sets how long Open waits for the file lock held by another process before it
// fails. Default 1 s.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// Registry is the tenant registry. Every method is safe for concurrent use. Reads (Snapshot,
// Tenant, Tenants, Upstreams, Revision) are served from an immutable in-memory copy and never
// wait for writers; writes are serialized, each one is a single bbolt transaction (state,
// revision and audit entry together, fsynced) and is visible to readers only after it
// committed.
type Registry struct {
	db   *bolt.DB
	path string
	log  *slog.Logger
	now  func() time.Time
	rand io.Reader
	// retention is the number of audit entries kept (WithAuditRetention).
	retention uint64

	mu     sync.Mutex // serializes writers and Close
	closed bool       // guarded by mu
	state  atomic.Pointer[memState]

	subMu   sync.Mutex
	subs    map[uint64]chan struct{} // guarded by subMu; nil after Close
	nextSub uint64                   // guarded by subMu
}

// memState is one committed revision of the registry. It is never modified once published:
// writers build a new one.
type memState struct {
	revision  int64
	tenants   map[string]*Tenant // immutable values
	upstreams Upstreams          // immutable
	prefixes  map[string]string  // key prefix -> tenant id, over all tenants' keys
}

// Open opens (creating if needed) the registry file at path and loads it. Only one process
// can hold the file open; another Open waits for the lock (see WithLockTimeout) and fails.
func Open(path string, opts ...Option) (*Registry, error) {
	o := options{
		log:         slog.New(slog.DiscardHandler),
		now:         time.Now,
		rand:        rand.Reader,
		lockTimeout: time.Second,
		retention:   DefaultAuditRetention,
	}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("cannot open registry %q: the file is locked by another process (is another `ingest controlplane` using it?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open registry %q: %w", path, err)
	}
	r := &Registry{db: db, path: path, log: o.log, now: o.now, rand: o.rand, retention: uint64(o.retention), subs: map[uint64]chan struct{}{}}
	st, err := r.load()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot load registry %q: %w", path, err)
	}
	r.state.Store(st)
	r.log.Info("registry opened", "path", path, "revision", st.revision, "tenants", len(st.tenants))
	return r, nil
}

// load creates the buckets of a new file, checks the schema and reads the whole state.
func (r *Registry) load() (*memState, error) {
	st := &memState{tenants: map[string]*Tenant{}, prefixes: map[string]string{}}
	err := r.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketTenants, bucketAudit, bucketReplays} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("cannot create bucket %q: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v == nil {
			if err := meta.Put(keySchema, u64(schemaVersion)); err != nil {
				return err
			}
		} else if got := binary.BigEndian.Uint64(v); got != schemaVersion {
			return fmt.Errorf("file has schema version %d, this binary reads version %d", got, schemaVersion)
		}
		if v := meta.Get(keyRevision); v != nil {
			st.revision = int64(binary.BigEndian.Uint64(v))
		}
		if v := meta.Get(keyUpstreams); v != nil {
			if err := json.Unmarshal(v, &st.upstreams); err != nil {
				return fmt.Errorf("cannot decode upstreams: %w", err)
			}
		}
		return tx.Bucket(bucketTenants).ForEach(func(k, v []byte) error {
			t := new(Tenant)
			if err := json.Unmarshal(v, t); err != nil {
				return fmt.Errorf("cannot decode tenant %q: %w", k, err)
			}
			st.tenants[t.ID] = t
			for _, key := range t.Keys {
				st.prefixes[key.Prefix] = t.ID
			}
			return nil
		})
	})
	return st, err
}

// Close closes the file. Subscription channels are closed, so that watchers stop. Later
// writes and Audit fail with ErrClosed; Snapshot and the other reads keep answering the last
// committed state. Close is idempotent.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.subMu.Lock()
	for _, ch := range r.subs {
		close(ch)
	}
	r.subs = nil
	r.subMu.Unlock()
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("cannot close registry %q: %w", r.path, err)
	}
	r.log.Info("registry closed", "path", r.path)
	return nil
}

// Subscribe returns a channel that receives a signal after every committed change, and a
// function that ends the subscription (idempotent). Signals coalesce: the channel has a buffer
// of one, so a slow reader sees one pending signal for any number of changes, and should call
// Snapshot after each receive to get the latest state. The channel holds a signal from the
// start, so a watcher builds its first snapshot at once. The signal is sent right after the
// change is committed, so a watcher that rebuilds on receipt is behind by only its own
// rebuild time. The channel is closed by Close and by the cancel function.
//
// Typical use (the xDS server):
//
//	ch, cancel := reg.Subscribe()
//	defer cancel()
//	for {
//		select {
//		case <-ctx.Done():
//			return
//		case _, ok := <-ch:
//			if !ok {
//				return
//			}
//			build(reg.Snapshot())
//		}
//	}
func (r *Registry) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.subs == nil { // closed
		close(ch)
		return ch, func() {}
	}
	id := r.nextSub
	r.nextSub++
	r.subs[id] = ch
	return ch, func() {
		r.subMu.Lock()
		defer r.subMu.Unlock()
		if c, ok := r.subs[id]; ok {
			delete(r.subs, id)
			close(c)
		}
	}
}

// notify wakes every subscriber without blocking.
func (r *Registry) notify() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for _, ch := range r.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Revision returns the current global revision: the number of changes ever committed.
func (r *Registry) Revision() int64 { return r.state.Load().revision }

// Snapshot returns a consistent deep copy of the whole registry at one revision: tenants
// sorted by id with their keys (salts and hashes included: the edge needs them), and the
// upstreams. The caller owns the copy. It never blocks on writers.
func (r *Registry) Snapshot() State {
	st := r.state.Load()
	s := State{Revision: st.revision, Tenants: make([]Tenant, 0, len(st.tenants)), Upstreams: cloneUpstreams(st.upstreams)}
	for _, t := range st.tenants {
		s.Tenants = append(s.Tenants, cloneTenant(*t))
	}
	sort.Slice(s.Tenants, func(i, j int) bool { return s.Tenants[i].ID < s.Tenants[j].ID })
	return s
}

// Tenant returns a copy of one tenant, or an error matching ErrNotFound.
func (r *Registry) Tenant(ctx context.Context, id string) (Tenant, error) {
	if err := ctx.Err(); err != nil {
		return Tenant{}, err
	}
	t, ok := r.state.Load().tenants[id]
	if !ok {
		return Tenant{}, notFound(id)
	}
	return cloneTenant(*t), nil
}

// TenantQuotas returns a tenant's quotas without copying the rest of it; ok is false for an
// unknown tenant.
func (r *Registry) TenantQuotas(id string) (Quotas, bool) {
	t, ok := r.state.Load().tenants[id]
	if !ok {
		return Quotas{}, false
	}
	return t.Quotas, true
}

// Tenants returns copies of every tenant, sorted by id, and the revision they were read at.
func (r *Registry) Tenants(ctx context.Context) ([]Tenant, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s := r.Snapshot()
	return s.Tenants, s.Revision, nil
}

// Upstreams returns a copy of the upstream endpoints.
func (r *Registry) Upstreams(ctx context.Context) (Upstreams, error) {
	if err := ctx.Err(); err != nil {
		return Upstreams{}, err
	}
	return cloneUpstreams(r.state.Load().upstreams), nil
}

// change is what one mutation does, as computed by its function from the current state.
type change struct {
	noop      bool       // nothing changes: no write, no revision, no audit entry
	action    Action     // audit action
	tenant    string     // audit tenant; empty for upstreams
	summary   string     // audit summary
	put       *Tenant    // tenant to store (new or changed)
	del       string     // tenant id to delete
	before    any        // audit before (redacted), nil for none
	after     any        // audit after (redacted), nil for none
	upstreams *Upstreams // new upstreams
	reason    string     // audit reason
}

// mutate runs one write: fn sees the current state (which it must not modify), the revision
// the change will get and the time, and describes the change. The change, the new revision
// and its audit entry are committed in one transaction; subscribers are notified after.
func (r *Registry) mutate(ctx context.Context, actor string, fn func(st *memState, rev int64, now time.Time) (change, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateActor(actor); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	cur := r.state.Load()
	rev := cur.revision + 1
	now := r.now().UTC()
	ch, err := fn(cur, rev, now)
	if err != nil || ch.noop {
		return err
	}
	entry := AuditEntry{Time: now, Actor: actor, Action: ch.action, Tenant: ch.tenant, Revision: rev, Summary: ch.summary, Reason: ch.reason}
	if entry.Before, err = marshalAudit(ch.before); err != nil {
		return err
	}
	if entry.After, err = marshalAudit(ch.after); err != nil {
		return err
	}
	err = r.db.Update(func(tx *bolt.Tx) error {
		tenants := tx.Bucket(bucketTenants)
		if ch.del != "" {
			if err := tenants.Delete([]byte(ch.del)); err != nil {
				return err
			}
		}
		if ch.put != nil {
			b, err := json.Marshal(ch.put)
			if err != nil {
				return err
			}
			if err := tenants.Put([]byte(ch.put.ID), b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if ch.upstreams != nil {
			b, err := json.Marshal(ch.upstreams)
			if err != nil {
				return err
			}
			if err := meta.Put(keyUpstreams, b); err != nil {
				return err
			}
		}
		if err := meta.Put(keyRevision, u64(uint64(rev))); err != nil {
			return err
		}
		return putAudit(tx, &entry, r.retention)
	})
	if err != nil {
		return fmt.Errorf("cannot write registry %q: %w", r.path, err)
	}
	next := &memState{revision: rev, tenants: make(map[string]*Tenant, len(cur.tenants)+1), upstreams: cur.upstreams, prefixes: make(map[string]string, len(cur.prefixes)+1)}
	for id, t := range cur.tenants {
		next.tenants[id] = t
	}
	for p, id := range cur.prefixes {
		next.prefixes[p] = id
	}
	for _, id := range []string{ch.del, idOf(ch.put)} {
		if old, ok := next.tenants[id]; ok && id != "" {
			for _, k := range old.Keys {
				delete(next.prefixes, k.Prefix)
			}
			delete(next.tenants, id)
		}
	}
	if ch.put != nil {
		next.tenants[ch.put.ID] = ch.put
		for _, k := range ch.put.Keys {
			next.prefixes[k.Prefix] = ch.put.ID
		}
	}
	if ch.upstreams != nil {
		next.upstreams = *ch.upstreams
	}
	r.state.Store(next)
	r.notify()
	attrs := []any{"action", string(ch.action), "actor", actor, "revision", rev, "audit_seq", entry.Seq, "summary", ch.summary}
	if ch.tenant != "" {
		attrs = append(attrs, "tenant", ch.tenant)
	}
	r.log.Info("registry changed", attrs...)
	return nil
}

func idOf(t *Tenant) string {
	if t == nil {
		return ""
	}
	return t.ID
}

func marshalAudit(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode audit entry: %w", err)
	}
	return b, nil
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// cloneTenant returns a deep copy of t.
func cloneTenant(t Tenant) Tenant {
	if t.Keys != nil {
		keys := make([]APIKey, len(t.Keys))
		for i, k := range t.Keys {
			keys[i] = cloneKey(k)
		}
		t.Keys = keys
	}
	return t
}

func cloneKey(k APIKey) APIKey {
	k.Salt = append([]byte(nil), k.Salt...)
	k.Hash = append([]byte(nil), k.Hash...)
	if k.RevokedAt != nil {
		at := *k.RevokedAt
		k.RevokedAt = &at
	}
	return k
}

func cloneUpstreams(u Upstreams) Upstreams {
	u.V1 = append([]Endpoint(nil), u.V1...)
	u.V2 = append([]Endpoint(nil), u.V2...)
	return u
}

// Redacted returns a deep copy of t without the keys' salts and hashes: what the admin API
// shows and the audit log records.
func (t Tenant) Redacted() Tenant {
	t = cloneTenant(t)
	for i := range t.Keys {
		t.Keys[i].Salt, t.Keys[i].Hash = nil, nil
	}
	return t
}
