//go:build race

package testkit

// RaceEnabled is true when the tests run under the race detector, which makes sync.Pool drop
// items and slows everything: allocation counts and long property tests mean little there.
const RaceEnabled = true
