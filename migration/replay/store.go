package replay

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// MemStore is a Store in memory, for tests and for a control plane without a registry file.
// The zero value is ready; it is safe for concurrent use.
type MemStore struct {
	mu   sync.Mutex
	seq  uint64
	jobs map[string]Job
}

// NextID returns "1", "2", ….
func (s *MemStore) NextID(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return strconv.FormatUint(s.seq, 10), nil
}

// Put stores j.
func (s *MemStore) Put(ctx context.Context, j Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs == nil {
		s.jobs = map[string]Job{}
	}
	s.jobs[j.ID] = j
	return nil
}

// Get returns the job id.
func (s *MemStore) Get(ctx context.Context, id string) (Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("replay %q: %w", id, ErrNotFound)
	}
	return j, nil
}

// List returns every job.
func (s *MemStore) List(ctx context.Context) ([]Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j)
	}
	return out, nil
}
