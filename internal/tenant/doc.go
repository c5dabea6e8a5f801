// Package tenant is the tenant id: its syntax, checked in one place by every stage (control
// plane registry, edge filter configuration, normalizer, sink writer, load generator), and the
// Kafka topic name it yields.
//
// A tenant id is 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit
// (^[a-z0-9][a-z0-9-]{0,62}$). Ids become part of Kafka topic and ClickHouse names, and the
// edge sets them as the x-tenant-id header, so the rule is deliberately narrow. The package has
// no dependencies beyond the standard library, so that the Envoy filter can import it.
package tenant
