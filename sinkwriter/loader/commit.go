package loader

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committer commits the group's offsets: per topic and partition, the offset of the next
// record to read. It is the seam the tests replace (kafkaCommitter commits to Kafka).
type committer interface {
	commit(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error
}

// kafkaCommitter commits with the group client, synchronously, and fails on the first
// partition the broker refused.
type kafkaCommitter struct{ cl *kgo.Client }

func (k kafkaCommitter) commit(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var cerr error
	k.cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					cerr = fmt.Errorf("partition %s/%d: %w", t.Topic, p.Partition, err)
					return
				}
			}
		}
	})
	return cerr
}

// commit commits, for every partition, the offset after the last processed record. Failures
// are counted and logged: the next flush commits again, and the ledger keeps restarts exact.
func (c *consumer) commit(ctx context.Context) {
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	for tp, ps := range c.parts {
		if ps.next > ps.committed {
			if offsets[tp.topic] == nil {
				offsets[tp.topic] = make(map[int32]kgo.EpochOffset)
			}
			offsets[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: ps.epoch, Offset: ps.next}
		}
	}
	if len(offsets) == 0 {
		return
	}
	if err := c.commits.commit(ctx, offsets); err != nil {
		c.m.commitErrors.Inc()
		c.log.Warn("cannot commit offsets", "err", err)
		return
	}
	for tp, ps := range c.parts {
		if o, ok := offsets[tp.topic][tp.partition]; ok {
			ps.committed = o.Offset
		}
	}
}
