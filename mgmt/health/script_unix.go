//go:build unix

package health

import (
	"os/exec"
	"syscall"
)

// setProcessGroup runs a check script in its own process group, killed whole on timeout.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
