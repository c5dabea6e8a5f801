// Package client is the normalizer's sink: it posts each batch to a sink writer over the
// internal API (POST /v1/batches, see package sinkwriter) and passes the writer's 429 and 503,
// with their Retry-After and reason, upstream as shed errors.
package client
