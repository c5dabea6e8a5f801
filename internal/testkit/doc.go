// Package testkit is the helpers the tests of several packages share: a buffer that a
// logger or a process writes to while the test reads it (SyncBuffer; Logs shows it when the
// test fails), loopback addresses that were free a moment ago (FreeAddr, FreePort), waiting
// for a condition or an HTTP endpoint within a deadline (Poll, Eventually, WaitHTTP), and
// running a component in the background until the test ends, checking that it stops
// cleanly (Go, Run), and whether the race detector is on (RaceEnabled).
//
// It is imported by tests only. (It is not named testutil, so that tests can import it
// beside prometheus/testutil.)
package testkit
