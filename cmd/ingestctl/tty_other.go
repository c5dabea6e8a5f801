//go:build !linux

package main

// hasTermios cannot ask the terminal driver here; isTerminal relies on the file mode.
func hasTermios(uintptr) bool { return true }
