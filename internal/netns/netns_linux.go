// Package netns creates and uses named network namespaces (as `ip netns` does) for the project's
// test hosts, demo and benchmarks. Tests use it through internal/testutil.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	vns "github.com/vishvananda/netns"
)

// NS is a named network namespace under /run/netns.
type NS struct {
	Name string
}

// Create makes the namespace name with lo up.
func Create(name string) (*NS, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("netns: ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	ns := &NS{Name: name}
	if _, err := ns.Exec("ip", "link", "set", "lo", "up"); err != nil {
		ns.Delete()
		return nil, err
	}
	return ns, nil
}

// Delete removes the namespace, and with it every interface inside (and the peers of its veths).
func (ns *NS) Delete() error {
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip netns del %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Path is the bind-mounted namespace file.
func (ns *NS) Path() string { return filepath.Join("/run/netns", ns.Name) }

// Exec runs a command inside the namespace and returns its combined output; the error includes the
// output. Commands are killed after 30 s.
func (ns *NS) Exec(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns: [%s] %v: %w: %s", ns.Name, args, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Command returns a command that runs inside the namespace, for long-running processes.
func (ns *NS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Do runs fn on a locked OS thread switched into the namespace, then switches back. Sockets made in
// fn stay in the namespace and are usable from any goroutine. If the thread cannot be switched
// back it stays locked, so the runtime discards it with its goroutine.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := vns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: current namespace: %w", err)
	}
	defer orig.Close()
	target, err := vns.GetFromPath(ns.Path())
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := vns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter %s: %w", ns.Name, err)
	}
	fnErr := fn()
	if err := vns.Set(orig); err != nil {
		return fmt.Errorf("netns: leave %s: %w (fn: %v)", ns.Name, err, fnErr)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// NetCommand returns a command that runs inside the namespace's network stack only (nsenter
// --net=PATH), for long-running processes that must keep the caller's mount namespace: `ip netns exec`
// remounts /sys, which hides the BPF objects pinned under /sys/fs/bpf from the process and the
// process's pins from everyone else.
func (ns *NS) NetCommand(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + ns.Path(), "--"}, args...)...)
}
