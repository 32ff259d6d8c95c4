package topo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Agent is an xdpvs-rs real-server agent running in a namespace, its BPF objects pinned in a
// private bpffs that the calling process sees too (the agent enters only the network namespace).
type Agent struct {
	Pin  string // the pin directory, for toa/rs
	Log  *SyncBuffer
	mnt  string
	cmd  *exec.Cmd
	done chan error
}

// StartAgent runs bin (xdpvs-rs) in ns with args (--iface, --vip, --toa ...) and waits until its
// pins appear. With --vip and no --director in args, the agent accepts tunnels from the directors
// of this package's layouts (layoutDirectors), which xdpvs-rs needs beside --vip.
func StartAgent(ns *netns.NS, bin string, args ...string) (*Agent, error) {
	args = withDirectors(args)
	mnt, err := os.MkdirTemp("", "xdpvs-rs-bpffs")
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", mnt).CombinedOutput(); err != nil {
		os.Remove(mnt)
		return nil, fmt.Errorf("topo: mount bpffs: %v: %s", err, out)
	}
	a := &Agent{Pin: filepath.Join(mnt, "xdpvs-rs"), Log: new(SyncBuffer), mnt: mnt, done: make(chan error, 1)}
	a.cmd = ns.NetCommand(append([]string{bin, "--pin", a.Pin}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.Log, a.Log
	if err := a.cmd.Start(); err != nil {
		a.unmount()
		return nil, err
	}
	go func() { a.done <- a.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ents, _ := os.ReadDir(a.Pin); len(ents) > 0 {
			return a, nil
		}
		select {
		case err := <-a.done:
			a.done <- err
			a.unmount()
			return nil, fmt.Errorf("topo: xdpvs-rs exited: %v\n%s", err, a.Log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.Stop()
			return nil, fmt.Errorf("topo: xdpvs-rs did not pin its maps\n%s", a.Log)
		}
	}
}

// Stop sends SIGTERM, waits (SIGKILL after 10 s) and removes the private bpffs.
func (a *Agent) Stop() error {
	defer a.unmount()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		a.done <- err
		return err
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		err := <-a.done
		a.done <- err
		return fmt.Errorf("topo: xdpvs-rs did not stop on SIGTERM: %v", err)
	}
}

func (a *Agent) unmount() {
	if a.mnt == "" {
		return
	}
	_ = exec.Command("umount", a.mnt).Run()
	_ = os.RemoveAll(a.mnt)
	a.mnt = ""
}

// layoutDirectors are the tunnel sources of the directors of every layout here: the director's d0
// on the TUN layout, and on the NAT, DR and mixed layouts.
var layoutDirectors = []string{tunDirector4, tunDirector6, director4, director6}

// withDirectors is args with a --director for each of layoutDirectors when args have a --vip and
// no --director.
func withDirectors(args []string) []string {
	has := func(name string) bool {
		for _, a := range args {
			if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); n == name && strings.HasPrefix(a, "-") {
				return true
			}
		}
		return false
	}
	if !has("vip") || has("director") {
		return args
	}
	out := slices.Clone(args)
	for _, d := range layoutDirectors {
		out = append(out, "--director", d)
	}
	return out
}
