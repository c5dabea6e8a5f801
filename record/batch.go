package record

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

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
	// Shadow marks the mirrored copy of a request of a tenant in the shadow stage of a cutover
	// (the edge's mirror, recognised by the normalizer from the authority the edge gave it).
	// The sink writer writes such a batch to the tenant's shadow topic, and the loader into the
	// shadow tables only: never the live topic or tables.
	Shadow bool
}

// Frames calls fn with each encoded record in data (a batch's Data) in order, stopping at the
// first error fn returns and returning it. It returns an error wrapping ErrCorrupt for a
// truncated frame or one longer than MaxRecordSize; the records before it have been passed to
// fn. rec aliases data: fn must copy what it keeps.
func Frames(data []byte, fn func(rec []byte) error) error {
	for off := 0; off < len(data); {
		if len(data)-off < frameHeader {
			return fmt.Errorf("%w: truncated frame header of %d bytes at offset %d", ErrCorrupt, len(data)-off, off)
		}
		// Compared as uint32: on 32-bit platforms int(n) of a corrupt length can be negative.
		n := binary.LittleEndian.Uint32(data[off:])
		if n > MaxRecordSize {
			return fmt.Errorf("%w: frame of %d bytes at offset %d exceeds the %d-byte limit", ErrCorrupt, n, off, MaxRecordSize)
		}
		off += frameHeader
		if int(n) > len(data)-off {
			return fmt.Errorf("%w: frame of %d bytes at offset %d exceeds the %d bytes left", ErrCorrupt, n, off-frameHeader, len(data)-off)
		}
		if err := fn(data[off : off+int(n)]); err != nil {
			return err
		}
		off += int(n)
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
// The zero Builder is ready to use, for tenant "" received at 0; Reset sets both. A Builder is
// not safe for concurrent use; reuse it across requests with Reset: once its buffers have grown
// to the size of a request, Add does not allocate. Add does not check MaxRecordSize: callers
// bound records far below it (see the normalizer's limits), and Frames rejects a larger one.
// AddWithin bounds the encoded record instead, as a sink does (the sink writer's
// max_record_bytes).
type Builder struct {
	tenant     string
	receivedAt int64
	data       []byte
	count      int
	seen       idCounts // derived ids of this request
}

// Reset empties the builder for a new request of tenant received at receivedAt (unix ns).
func (b *Builder) Reset(tenant string, receivedAt int64) {
	b.tenant = tenant
	b.receivedAt = receivedAt
	b.data = b.data[:0]
	b.count = 0
	b.seen.reset()
}

// Add encodes r into the batch. It sets r.Tenant and r.ReceivedAt from the builder and, when
// r.EventID is zero, derives it; r.EventID holds the id afterwards.
func (b *Builder) Add(r *Record) { b.AddWithin(r, math.MaxInt) }

// AddWithin is Add for a record whose encoding (without its frame header, as a sink and Frames
// measure it) may hold at most maxBytes bytes. It returns the encoded size and whether r was
// added. A larger record is encoded once, measured and taken out again: the batch, its count
// and the ids derived for later records are as if it had never been added, and r.EventID and
// r.ReceivedAt are left as they were (r.Tenant is set). Like Add, it does not allocate once the
// builder's buffer holds the request, the rejected record included.
func (b *Builder) AddWithin(r *Record, maxBytes int) (size int, ok bool) {
	r.Tenant = b.tenant
	receivedAt := r.ReceivedAt
	r.ReceivedAt = 0
	given := !r.EventID.IsZero()
	start := len(b.data)
	b.data = append(b.data, 0, 0, 0, 0)
	b.data = Append(b.data, r)
	rec := b.data[start+frameHeader:]
	if len(rec) > maxBytes {
		b.data = b.data[:start]
		r.ReceivedAt = receivedAt
		return len(rec), false
	}
	binary.LittleEndian.PutUint32(b.data[start:], uint32(len(rec)))
	if !given {
		id := hashID(xxh3.Hash128Seed(rec, idSeedContent))
		if n := b.seen.add(id); n > 0 {
			var salt [20]byte
			copy(salt[:], id[:])
			binary.LittleEndian.PutUint32(salt[16:], n)
			id = hashID(xxh3.Hash128Seed(salt[:], idSeedContent))
		}
		r.EventID = id
		copy(rec[offEventID:], id[:])
	}
	r.ReceivedAt = b.receivedAt
	binary.LittleEndian.PutUint64(rec[offReceivedAt:], uint64(b.receivedAt))
	b.count++
	return len(rec), true
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

// idCounts counts how often each derived id occurs in one request. It is an open-addressing
// hash table (linear probing, at most half full) that reset empties in O(1) by advancing a
// generation; it does the work of a map[ID]uint32 at a fraction of the cost on Add's hot path.
// The slot of an id is a keyed hash (a random multiplier per table), so a client cannot craft
// records whose ids pile up in one run of slots.
type idCounts struct {
	slots []idSlot // len is 0 or a power of two
	gen   uint32   // slots of another generation are empty
	used  int      // slots of generation gen
	mult  uint64   // odd
	shift uint     // 64 - log2(len(slots))
}

type idSlot struct {
	id  ID
	gen uint32
	n   uint32 // times id was added
}

// minIDSlots is the initial size of an idCounts table; a table more than 16 times larger than
// its last request needed is dropped at reset rather than kept for the next one.
const minIDSlots = 64

func (c *idCounts) reset() {
	if len(c.slots) > 256*minIDSlots && c.used < len(c.slots)/16 {
		c.slots = nil
	}
	c.used = 0
	c.gen++
	if c.gen == 0 { // wrapped: slots of 2^32 requests ago would look current
		clear(c.slots)
		c.gen = 1
	}
}

// add counts id and returns how many times it was added before since reset.
func (c *idCounts) add(id ID) uint32 {
	if c.used >= len(c.slots)/2 {
		c.grow()
	}
	s := c.find(id)
	if s.gen != c.gen {
		*s = idSlot{id: id, gen: c.gen, n: 1}
		c.used++
		return 0
	}
	s.n++
	return s.n - 1
}

// find returns the slot holding id, or the empty slot where it belongs.
func (c *idCounts) find(id ID) *idSlot {
	x := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	mask := len(c.slots) - 1
	for i := int((x * c.mult) >> c.shift); ; i = (i + 1) & mask {
		if s := &c.slots[i]; s.gen != c.gen || s.id == id {
			return s
		}
	}
}

func (c *idCounts) grow() {
	old := c.slots
	c.slots = make([]idSlot, max(2*len(old), minIDSlots))
	c.shift = uint(64 - bits.TrailingZeros(uint(len(c.slots))))
	if c.mult == 0 {
		c.mult = rand.Uint64() | 1
	}
	if c.gen == 0 {
		c.gen = 1
	}
	for _, s := range old {
		if s.gen == c.gen {
			*c.find(s.id) = s
		}
	}
}
