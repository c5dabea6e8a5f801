package otlpwire

// Wire types of the protobuf encoding: the low 3 bits of a field's tag (tag = number<<3 | wire
// type). Every field of this table is of type WireLen.
const (
	WireVarint     = 0 // VARINT: int32, int64, uint32, uint64, sint*, bool, enum
	WireI64        = 1 // I64: fixed64, sfixed64, double
	WireLen        = 2 // LEN: string, bytes, embedded messages, packed repeated fields
	WireStartGroup = 3 // SGROUP: group start (deprecated; OTLP has none)
	WireEndGroup   = 4 // EGROUP: group end (deprecated; OTLP has none)
	WireI32        = 5 // I32: fixed32, sfixed32, float
)
