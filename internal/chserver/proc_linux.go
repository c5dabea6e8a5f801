package chserver

import "syscall"

// sysProcAttr puts the server in its own process group (so that signals reach any child) and
// has the kernel kill it if the process that started it dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
