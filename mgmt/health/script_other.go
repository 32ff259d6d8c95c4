//go:build !unix

package health

import "os/exec"

func setProcessGroup(*exec.Cmd) {}
