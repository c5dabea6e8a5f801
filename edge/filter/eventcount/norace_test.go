//go:build !race

package eventcount

const raceEnabled = false
