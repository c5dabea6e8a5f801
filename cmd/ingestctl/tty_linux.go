package main

import (
	"syscall"
	"unsafe"
)

// hasTermios reports whether fd is a terminal (it answers TCGETS).
func hasTermios(fd uintptr) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
