package normalizer

import (
	"context"

	"github.com/ingestdev/ingest/record"
)

// Sink receives the valid events of each request. Write returns nil only once every record of the
// batch is durable (for the sink writer: acknowledged by Kafka with acks=all). It returns a
// shed.Error of kind shed.ErrFull (the normalizer answers 429 with its Retry-After) or
// shed.ErrUnavailable (503); any other error is treated as unavailable. b.Data is only valid
// during the call. Implementations must be safe for concurrent use.
type Sink interface {
	Write(ctx context.Context, b record.Batch) error
}
