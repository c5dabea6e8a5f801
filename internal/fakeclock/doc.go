// Package fakeclock is a settable clock for tests: Now returns the time the clock was set to,
// and only Advance moves it. Pass its Now where a component takes a func() time.Time.
package fakeclock
