// Package record is the normalized record: the one versioned binary encoding of a telemetry event
// that the normalizer produces, the sink writer writes to Kafka, and the loader reads into
// ClickHouse.
//
// # Encoding, version 1
//
// All integers are little-endian. A string is a uvarint length followed by that many bytes.
// A record is laid out as:
//
//	offset  size  field
//	0       1     version (1)
//	1       1     signal (1 log, 2 metric, 3 span)
//	2       1     flags (bit 0 trace context, bit 1 distribution, bit 2 min/max, bit 3 monotonic)
//	3       16    event id
//	19      8     timestamp, int64 unix nanoseconds UTC
//	27      8     received at, int64 unix nanoseconds UTC
//	35      ...   tenant, name, scope, unit (strings)
//	        ...   attributes, resource: uvarint count, then count × (key string, value string)
//	        32    trace id (16), span id (8), parent span id (8)   only when flag bit 0
//	        ...   signal part:
//	              log:    severity number (1), severity text, body
//	              metric: kind (1), temporality (1), value (float64 bits, 8);
//	                      when flag bit 1: count (uvarint), sum (8);
//	                      when flag bit 2: min (8), max (8);
//	                      when flag bit 1: bucket count (uvarint), count × (upper bound (8), count (uvarint)),
//	                                       quantile count (uvarint), count × (quantile (8), value (8))
//	              span:   duration ns (int64, 8), span kind (1), status code (1), status message
//
// Flag bits 4 to 7 are zero in version 1, and a decoder rejects a record with any of them set.
// Decode accepts uvarints that are longer than needed; Append always writes the shortest form.
//
// The event id and received-at sit at fixed offsets so that a [Builder] can derive the id from
// the encoded content and patch both in place. Stages that route records without decoding them
// (the sink writer keys Kafka records by event id; the loader picks a table by signal) read the
// header with [PeekHeader]: the offsets above are known to this package alone.
//
// A batch frames records as a sequence of (uint32 little-endian length, record). Batches travel
// from normalizer to sink writer; on Kafka each record is one Kafka record value.
//
// # Compatibility
//
// A decoder rejects versions it does not know with [ErrVersion]. Adding a field means a new
// version; decoders keep reading every version they ever wrote, because Kafka retains old records
// and replay reads them.
package record
