package chserver

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a child process in a process group of its own (see sysProcAttr), its stdout and
// stderr appended to a log file: a private ClickHouse server or ZooKeeper.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startProcess runs argv in dir with its output appended to logFile.
func startProcess(argv []string, dir, logFile string) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("cannot run %q: %w", argv[0], err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends sig to the process group and waits for the process to exit, escalating to SIGKILL
// after timeout.
func (p *process) stop(sig syscall.Signal, timeout time.Duration) error {
	_ = signalGroup(p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.cmd.Path, p.cmd.Process.Pid)
	}
}
