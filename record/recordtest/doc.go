// Package recordtest holds test helpers for normalized records: a readable JSON rendering of a
// batch for golden files, and a recording sink.
package recordtest
