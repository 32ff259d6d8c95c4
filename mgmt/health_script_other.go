//go:build !unix

package mgmt

import "os/exec"

func setProcessGroup(*exec.Cmd) {}
