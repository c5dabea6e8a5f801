package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ingestdev/ingest/migration/replay"
)

// ReplayStore keeps the replay jobs (migration/replay) in the registry's bbolt file, in the
// bucket "replays": one JSON document per job, keyed by its id. Ids come from the bucket's
// sequence, which bbolt persists, so they are "1", "2", … and never repeat, also across
// restarts. Jobs are not part of the registry's state: writing one creates no revision, no
// audit entry (the admin API audits the operations) and wakes no subscriber.
//
// It implements replay.Store and is safe for concurrent use. After the registry's Close every
// method fails with ErrClosed.
type ReplayStore struct{ r *Registry }

var _ replay.Store = (*ReplayStore)(nil)

// Replays returns the store of replay jobs in the registry's file.
func (r *Registry) Replays() *ReplayStore { return &ReplayStore{r: r} }

// update runs fn in one write transaction, unless the registry is closed.
func (s *ReplayStore) update(ctx context.Context, fn func(b *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.closed {
		return ErrClosed
	}
	err := s.r.db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketReplays)) })
	if err != nil {
		return fmt.Errorf("cannot write the replay jobs of registry %q: %w", s.r.path, err)
	}
	return nil
}

// view runs fn in one read transaction.
func (s *ReplayStore) view(ctx context.Context, fn func(b *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.r.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketReplays)) })
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// NextID returns a new job id: the next number of the bucket's sequence, persisted before it
// is returned.
func (s *ReplayStore) NextID(ctx context.Context) (string, error) {
	var id uint64
	err := s.update(ctx, func(b *bolt.Bucket) error {
		var err error
		id, err = b.NextSequence()
		return err
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(id, 10), nil
}

// Put creates or replaces the job with j.ID (fsynced before it returns).
func (s *ReplayStore) Put(ctx context.Context, j replay.Job) error {
	if j.ID == "" {
		return &ValidationError{Field: "id", Msg: "a replay job needs an id (from NextID)"}
	}
	v, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("cannot encode replay %q: %w", j.ID, err)
	}
	return s.update(ctx, func(b *bolt.Bucket) error { return b.Put([]byte(j.ID), v) })
}

// Get returns the job with id, or an error wrapping replay.ErrNotFound.
func (s *ReplayStore) Get(ctx context.Context, id string) (replay.Job, error) {
	var j replay.Job
	err := s.view(ctx, func(b *bolt.Bucket) error {
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("replay %q: %w", id, replay.ErrNotFound)
		}
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("cannot decode replay %q of registry %q: %w", id, s.r.path, err)
		}
		return nil
	})
	return j, err
}

// List returns every job, in the order of their keys (not numeric: "10" before "2").
func (s *ReplayStore) List(ctx context.Context) ([]replay.Job, error) {
	out := []replay.Job{}
	err := s.view(ctx, func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			var j replay.Job
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("cannot decode replay %q of registry %q: %w", k, s.r.path, err)
			}
			out = append(out, j)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
