//go:build !race

package hopauth_test

const raceEnabled = false
