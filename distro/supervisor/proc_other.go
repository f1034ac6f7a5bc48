//go:build !linux

package supervisor

import (
	"context"
	"errors"
	"syscall"
)

// Outside Linux there is no parent-death signal: a child may outlive a distro that crashes.
func sysProcAttr(bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func (s *Supervisor) replaceLeftover(context.Context) error {
	return errors.New("pid files are supported on Linux only")
}
