//go:build !race

package testkit

// RaceEnabled is true when the tests run under the race detector (see race.go).
const RaceEnabled = false
