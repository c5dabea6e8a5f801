// Package filterconfig is the contract between the control plane and the edge filter: the Go
// type of the configuration that the control plane sends to Envoy's golang HTTP filter over xDS
// (the tenant quota table, the salted hashes of the API keys, the edge limits and the marker
// header), its wire encoding, and the strict parser that the filter's own config parser calls.
//
// The package is pure Go and imports nothing from Envoy, so the control plane can run the very
// parser the filter runs on every configuration before it serves it (invariant 6), and the
// filter can be tested without Envoy.
//
// # Wire format
//
// The golang filter hands the filter its plugin_config as a google.protobuf.Any. The Any holds
// an xds.type.v3.TypedStruct whose type_url is [TypeURL] and whose value is a
// google.protobuf.Struct with the JSON form of [Config]. That is the convention of Envoy's golang
// filter examples and has three advantages over a JSON string in a StringValue: Envoy's
// config_dump shows the configuration as readable JSON, the type_url versions the schema
// explicitly, and a proto-aware tool can diff two pushes field by field. Numbers travel as
// doubles, so every integer field is bounded by 2^53, which [Config.Validate] enforces; byte
// strings (salts, hashes) travel base64-encoded, as encoding/json writes them.
//
// [Parse] is strict: an unknown field at any depth, a wrong type_url, a duplicate tenant, a hash
// that is not a SHA-256, a negative or non-finite quota, or a key of an unknown tenant is an
// error. All problems are reported at once.
package filterconfig
