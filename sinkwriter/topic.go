package sinkwriter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topics creates tenant topics on first use and remembers which exist. It is safe for
// concurrent use; concurrent first batches of a tenant share one CreateTopics request.
type topics struct {
	adm        *kadm.Client
	partitions int32
	replicas   int16
	configs    map[string]*string
	disabled   bool // DisableTopicCreation: every topic is assumed to exist

	mu       sync.Mutex
	known    map[string]struct{}      // topics that exist
	creating map[string]chan struct{} // closed when the creation in progress ends
}

func newTopics(adm *kadm.Client, cfg Config) *topics {
	t := &topics{
		adm:        adm,
		partitions: cfg.TopicPartitions,
		replicas:   cfg.TopicReplicationFactor,
		disabled:   cfg.DisableTopicCreation,
		known:      make(map[string]struct{}),
		creating:   make(map[string]chan struct{}),
	}
	if len(cfg.TopicConfigs) > 0 {
		t.configs = make(map[string]*string, len(cfg.TopicConfigs))
		for k, v := range cfg.TopicConfigs {
			t.configs[k] = &v
		}
	}
	return t
}

// ensure returns once topic exists, creating it if this process has not seen it yet. A topic
// that exists already is fine. ctx bounds the wait.
func (t *topics) ensure(ctx context.Context, topic string) error {
	if t.disabled {
		return nil
	}
	for {
		t.mu.Lock()
		if _, ok := t.known[topic]; ok {
			t.mu.Unlock()
			return nil
		}
		if ch, ok := t.creating[topic]; ok {
			t.mu.Unlock()
			select {
			case <-ch: // created, or failed: look again (and try ourselves if it failed)
				continue
			case <-ctx.Done():
				return fmt.Errorf("cannot create topic %q: %w", topic, context.Cause(ctx))
			}
		}
		ch := make(chan struct{})
		t.creating[topic] = ch
		t.mu.Unlock()

		err := t.create(ctx, topic)

		t.mu.Lock()
		delete(t.creating, topic)
		if err == nil {
			t.known[topic] = struct{}{}
		}
		t.mu.Unlock()
		close(ch)
		return err
	}
}

func (t *topics) create(ctx context.Context, topic string) error {
	_, err := t.adm.CreateTopic(ctx, t.partitions, t.replicas, t.configs, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("cannot create topic %q: %w", topic, err)
	}
	return nil
}

// forget drops topic from the known topics, so that the next batch checks it again (after a
// produce failure: the topic may have been deleted).
func (t *topics) forget(topic string) {
	t.mu.Lock()
	delete(t.known, topic)
	t.mu.Unlock()
}
