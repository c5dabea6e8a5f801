package record

import (
	"encoding/binary"
	"fmt"
)

// MinHeaderLen is the length of the shortest input PeekHeader accepts: the fixed header
// (version, signal, flags, event id, timestamp, received at) and a one-byte tenant length. Every
// encoded record is at least this long.
const MinHeaderLen = headerSize + 1

// FrameHeaderLen is the length of the uint32 length prefix before each record of a batch, so a
// batch of n records is at least n×(FrameHeaderLen+MinHeaderLen) bytes.
const FrameHeaderLen = frameHeader

// EventIDLen is the length of an event id in an encoded record (and of ID).
const EventIDLen = len(ID{})

// Header is what a stage that routes records without decoding them needs: the record's signal,
// event id and tenant. Its slices alias the record it was read from.
type Header struct {
	// Signal is the record's signal; PeekHeader only returns known signals.
	Signal Signal
	// EventID is the record's 16-byte event id (the Kafka key), aliasing the record.
	EventID []byte
	// Tenant is the record's tenant id, aliasing the record; PeekHeader does not check its syntax.
	Tenant []byte
	// Timestamp is the event time, unix nanoseconds UTC (replay plans report the range).
	Timestamp int64
}

// PeekHeader reads the header of the encoded record rec without decoding the rest of it and
// without allocating (unless it fails). It returns an error wrapping ErrVersion for a version
// this package does not read, and ErrCorrupt when rec is shorter than MinHeaderLen, has an
// unknown signal, or its tenant string runs past its end. It does not check the rest of the
// record: Decode does. The Header's slices alias rec; it is safe for concurrent use.
func PeekHeader(rec []byte) (Header, error) {
	if len(rec) < 1 {
		return Header{}, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if rec[0] != Version {
		return Header{}, fmt.Errorf("%w %d", ErrVersion, rec[0])
	}
	if len(rec) < MinHeaderLen {
		return Header{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrCorrupt, len(rec), MinHeaderLen)
	}
	signal := Signal(rec[1])
	if signal < SignalLog || signal > SignalSpan {
		return Header{}, fmt.Errorf("%w: unknown signal %d", ErrCorrupt, rec[1])
	}
	l, k := binary.Uvarint(rec[headerSize:])
	if k <= 0 || l > uint64(len(rec)-headerSize-k) {
		return Header{}, fmt.Errorf("%w: truncated or malformed tenant at offset %d", ErrCorrupt, headerSize)
	}
	off := headerSize + k
	return Header{
		Signal:    signal,
		EventID:   rec[offEventID:offTimestamp:offTimestamp],
		Tenant:    rec[off : off+int(l) : off+int(l)],
		Timestamp: int64(binary.LittleEndian.Uint64(rec[offTimestamp:])),
	}, nil
}
