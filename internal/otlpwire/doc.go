// Package otlpwire is the one table of the OTLP protobuf field numbers and wire types that the
// pipeline reads straight from the wire, without decoding: the edge's event count
// (edge/filter/eventcount) walks a request down to its log records, data points and spans, and
// the normalizer's nesting guard (normalizer, otlp_depth.go) walks it down to every attribute
// list and value before pdata decodes it.
//
// The numbers are those of opentelemetry-proto (opentelemetry/proto/collector/*/v1 and the
// messages below them); a test checks every constant against the generated descriptors, so a
// wrong number fails the build's tests. The table holds only the fields that those two walks
// follow, all of them message fields and so of wire type [WireLen]; it is not a decoder.
//
// Everything here is an untyped constant: the walks compare tags with them in straight-line
// code, with no map, interface or allocation on the hot path. The package imports nothing, so
// it builds into the edge's Envoy shared object (and with CGO_ENABLED=0) at no cost.
package otlpwire
