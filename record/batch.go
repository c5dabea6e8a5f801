package record

import (
	"encoding/binary"
	"fmt"

	"github.com/zeebo/xxh3"
)

// frameHeader is the size of the length prefix of each record in a batch.
const frameHeader = 4

// MaxRecordSize is the largest encoded record a batch frame may hold (16 MiB). The normalizer's
// limits keep records far below it.
const MaxRecordSize = 16 << 20

// Batch is a sequence of framed records of one tenant, as the normalizer hands it to a sink.
type Batch struct {
	Tenant string
	// Data holds Count records, each framed as a uint32 little-endian length and the record.
	Data  []byte
	Count int
}

// Frames calls fn with each encoded record in data (a batch's Data) in order, stopping at the
// first error fn returns. It returns ErrCorrupt for a truncated or oversized frame; the records
// before it have been passed to fn.
func Frames(data []byte, fn func(rec []byte) error) error {
	for off := 0; off < len(data); {
		if len(data)-off < frameHeader {
			return fmt.Errorf("%w: truncated frame header at offset %d", ErrCorrupt, off)
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		off += frameHeader
		if n > MaxRecordSize || n > len(data)-off {
			return fmt.Errorf("%w: frame of %d bytes at offset %d exceeds the %d bytes left", ErrCorrupt, n, off, len(data)-off)
		}
		if err := fn(data[off : off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// AppendFrame appends rec, an encoded record, to a batch's data as one frame.
func AppendFrame(dst, rec []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(rec)))
	return append(dst, rec...)
}

// Builder encodes the records of one request into a Batch and gives each record without an
// event id a deterministic one.
//
// The derived id is a 128-bit hash of the encoded record (which includes the tenant) with the
// event id and received-at zeroed, so a retried request yields the same ids and deduplicates.
// The n-th identical record within one request is salted with n, so events that are genuinely
// identical (the same log line twice in one second) stay distinct while a retry of the whole
// request still maps onto the same ids.
//
// A Builder is not safe for concurrent use; reuse it across requests with Reset.
type Builder struct {
	tenant     string
	receivedAt int64
	data       []byte
	count      int
	seen       map[ID]uint32
}

// Reset empties the builder for a new request of tenant received at receivedAt (unix ns).
func (b *Builder) Reset(tenant string, receivedAt int64) {
	b.tenant = tenant
	b.receivedAt = receivedAt
	b.data = b.data[:0]
	b.count = 0
	if b.seen == nil {
		b.seen = make(map[ID]uint32)
	}
	clear(b.seen)
}

// Add encodes r into the batch. It sets r.Tenant and r.ReceivedAt from the builder and, when
// r.EventID is zero, derives it; r.EventID holds the id afterwards.
func (b *Builder) Add(r *Record) {
	r.Tenant = b.tenant
	r.ReceivedAt = 0
	given := !r.EventID.IsZero()
	start := len(b.data)
	b.data = append(b.data, 0, 0, 0, 0)
	b.data = Append(b.data, r)
	rec := b.data[start+frameHeader:]
	binary.LittleEndian.PutUint32(b.data[start:], uint32(len(rec)))
	if !given {
		id := hashID(xxh3.Hash128Seed(rec, idSeedContent))
		if n := b.seen[id]; n > 0 {
			b.seen[id] = n + 1
			var salt [20]byte
			copy(salt[:], id[:])
			binary.LittleEndian.PutUint32(salt[16:], n)
			id = hashID(xxh3.Hash128Seed(salt[:], idSeedContent))
		} else {
			b.seen[id] = 1
		}
		r.EventID = id
		copy(rec[offEventID:], id[:])
	}
	r.ReceivedAt = b.receivedAt
	binary.LittleEndian.PutUint64(rec[offReceivedAt:], uint64(b.receivedAt))
	b.count++
}

// Len returns the number of records added since Reset.
func (b *Builder) Len() int { return b.count }

// Size returns the number of bytes of batch data built since Reset.
func (b *Builder) Size() int { return len(b.data) }

// Batch returns the records added since Reset. Its Data aliases the builder's buffer: it is
// valid until the next Reset or Add.
func (b *Builder) Batch() Batch {
	return Batch{Tenant: b.tenant, Data: b.data, Count: b.count}
}
