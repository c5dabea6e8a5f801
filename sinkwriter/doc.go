// Package sinkwriter is the write path of the pipeline: it takes batches of normalized records
// from normalizers and makes them durable in Kafka, answering success only once Kafka has
// acknowledged every record of the batch with acks=all.
//
// # Internal API
//
// The normalizer's sink (package sinkwriter/client) posts each batch:
//
//	POST /v1/batches
//	X-Tenant-Id: <tenant>              required, ^[a-z0-9][a-z0-9-]{0,62}$
//	X-Ingest-Record-Count: <n>         required, the number of records framed in the body
//	X-Ingest-Hop-Auth: <signature>     required with WithHopAuth (the service: hop_auth), package
//	                                   hopauth, over the tenant, record count and shadow flag
//	Content-Length: <bytes>            required (411 without)
//	Content-Type: application/x-ingest-batch
//
//	<body: record.Batch Data, records framed as (uint32 LE length, encoded record)>
//
// over HTTP/1.1 with keep-alive or HTTP/2 without TLS (h2c, prior knowledge); the server speaks
// both on one port. Answers:
//
//	200  {"records":n}  every record is acknowledged by Kafka (acks=all)
//	400  invalid tenant id, record count, or batch (corrupt frames, a record of an unknown
//	     version, of another tenant, or a count that does not match the frames)
//	401  no valid hop signature (err-ingest-internal-auth)
//	403  the tenant is not registered at the control plane (err-ingest-unknown-tenant; WithTenants)
//	405  not POST
//	411  no Content-Length
//	413  batch over max_batch_bytes, or a record over max_record_bytes
//	429  the buffer (err-ingest-sink-full) or the tenant's share of it
//	     (err-ingest-sink-tenant-share-full) is full; with Retry-After
//	503  Kafka did not acknowledge every record within kafka_timeout, or is known to be
//	     unreachable (err-ingest-kafka-unavailable), or the writer is shutting down
//	     (err-ingest-sink-shutting-down), or no tenant list was fetched yet
//	     (err-ingest-tenants-unavailable); with Retry-After
//
// Every answer other than 200 has the body {"error":{"reason":"<id>","message":"<text>"}}.
// Nothing of a 4xx or 429 batch was produced; a 503 batch may be partly in Kafka, so a retry
// may write records twice: the event id (the Kafka key) lets the loader deduplicate.
// GET /healthz answers 200 while the process runs; GET /readyz answers 503 while draining or
// when Kafka does not answer a metadata request within 2 s (checked at most once a second).
//
// # Kafka
//
// Each normalized record becomes one Kafka record: key = its 16-byte event id (so a tenant's
// stream spreads over the topic's partitions), value = the encoded record, exactly as framed in
// the batch. The topic is the tenant's, "ingest.<tenant>" by default (Config.TopicPattern); the
// writer creates it on the tenant's first batch. The producer is idempotent, acks=all, zstd (or
// lz4) compressed.
//
// # Bounds
//
// A batch reserves its size against max_buffer_bytes and against its tenant's share
// (tenant_share of it) before its body is read, and holds it until its last record is
// acknowledged or failed. Reserving never waits: what does not fit is answered 429 at once.
package sinkwriter
