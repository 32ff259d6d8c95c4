package topo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Daemon is an xdpvsd process running inside a namespace.
type Daemon struct {
	Socket string
	Log    *SyncBuffer // its stdout and stderr
	cmd    *exec.Cmd
	done   chan error
}

// StartDaemon runs bin (xdpvsd) inside ns on ifaces with the given extra flags, and waits until
// its socket answers. dir holds the socket.
func StartDaemon(ns *netns.NS, bin, dir string, ifaces []string, extra ...string) (*Daemon, error) {
	sock := filepath.Join(dir, "xdpvs.sock")
	args := []string{bin, "--socket", sock}
	for _, i := range ifaces {
		args = append(args, "--iface", i)
	}
	return StartCommand(ns, sock, nil, append(args, extra...)...)
}

// StartCommand runs argv inside ns, with env added to the environment, and waits until socket
// appears: an xdpvsd command line of its own (as a unit file gives it, perhaps behind a wrapper such
// as setpriv) that serves on socket.
func StartCommand(ns *netns.NS, socket string, env []string, argv ...string) (*Daemon, error) {
	d := &Daemon{Socket: socket, Log: new(SyncBuffer), cmd: ns.Command(argv...), done: make(chan error, 1)}
	if env != nil {
		d.cmd.Env = append(os.Environ(), env...)
	}
	d.cmd.Stdout, d.cmd.Stderr = d.Log, d.Log
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			d.done <- err
			return nil, fmt.Errorf("topo: xdpvsd exited: %v\n%s", err, d.Log)
		default:
		}
		if _, err := os.Stat(socket); err == nil {
			return d, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.Stop()
	return nil, fmt.Errorf("topo: xdpvsd socket did not appear\n%s", d.Log)
}

// Wait waits for the daemon to exit (SIGKILL after timeout) and returns its exit error.
func (d *Daemon) Wait(timeout time.Duration) error {
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		err := <-d.done
		d.done <- err
		return fmt.Errorf("topo: xdpvsd did not exit within %v: %v", timeout, err)
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig os.Signal) error { return d.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits (SIGKILL after 10 s). It returns the process's exit error.
func (d *Daemon) Stop() error {
	if d.cmd.Process == nil {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		err := <-d.done
		d.done <- err
		return fmt.Errorf("topo: xdpvsd did not stop on SIGTERM: %v", err)
	}
}

// Adm runs the admin tool bin (xdpvsadm) against the daemon and returns its output.
func (d *Daemon) Adm(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--socket", d.Socket}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("xdpvsadm %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// SyncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// PID is the process started (`ip netns exec` execs xdpvsd in place, so it is xdpvsd's).
func (d *Daemon) PID() int { return d.cmd.Process.Pid }
