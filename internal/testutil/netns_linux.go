package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// NetNS is a named network namespace (as made by `ip netns add`) that lives
// for the duration of one test.
type NetNS struct {
	// Name is the full name under /run/netns, usable with `ip netns exec`
	// and `ip -n`.
	Name string
}

var nsCounter atomic.Uint32

// maxNameLen keeps names short: interface names derived from them must fit
// IFNAMSIZ, and `ip netns` output stays readable.
const maxNameLen = 24

// NewNetNS creates a network namespace named "xv<pid>-<seq>-<name>" (the
// name is truncated to keep the total short), brings lo up inside it, and
// deletes it in tb.Cleanup. Deleting the namespace also destroys every
// interface in it (and the peers of its veths).
func NewNetNS(tb testing.TB, name string) *NetNS {
	tb.Helper()
	RequireRoot(tb)
	full := fmt.Sprintf("xv%d-%d-%s", os.Getpid(), nsCounter.Add(1), name)
	if len(full) > maxNameLen {
		full = full[:maxNameLen]
	}
	if out, err := exec.Command("ip", "netns", "add", full).CombinedOutput(); err != nil {
		tb.Fatalf("testutil: ip netns add %s: %v: %s", full, err, out)
	}
	ns := &NetNS{Name: full}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", full).CombinedOutput(); err != nil {
			tb.Errorf("testutil: ip netns del %s: %v: %s", full, err, out)
		}
	})
	ns.Run(tb, "ip", "link", "set", "lo", "up")
	return ns
}

// Path is the bind-mounted namespace file, e.g. /run/netns/<Name>.
func (ns *NetNS) Path() string {
	return filepath.Join("/run/netns", ns.Name)
}

// Run runs a command inside the namespace (`ip netns exec`) and returns its
// combined output. A non-zero exit fails the test with the output.
func (ns *NetNS) Run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := ns.Exec(args...)
	if err != nil {
		tb.Fatalf("testutil: [%s] %s: %v\n%s", ns.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// Exec is Run without failing the test: it returns the combined output and
// the error (nil on exit status 0). Commands are killed after 30 s.
func (ns *NetNS) Exec(args ...string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("testutil: no command")
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	return buf.String(), err
}

// Do runs fn on a locked OS thread that has been switched into the
// namespace, then switches the thread back. Sockets created inside fn belong
// to the namespace and stay usable from any goroutine afterwards. If the
// thread cannot be switched back it is left locked, so the Go runtime
// terminates it instead of reusing it.
func (ns *NetNS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("testutil: get current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(ns.Path())
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("testutil: open netns %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("testutil: setns %s: %w", ns.Name, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		return fmt.Errorf("testutil: setns back from %s: %w (fn: %v)", ns.Name, err, fnErr)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// MustDo is Do that fails the test on error.
func (ns *NetNS) MustDo(tb testing.TB, fn func() error) {
	tb.Helper()
	if err := ns.Do(fn); err != nil {
		tb.Fatalf("testutil: in netns %s: %v", ns.Name, err)
	}
}

// Ifindex returns the index of interface name inside the namespace.
func (ns *NetNS) Ifindex(tb testing.TB, name string) int {
	tb.Helper()
	out := strings.TrimSpace(ns.Run(tb, "cat", "/sys/class/net/"+name+"/ifindex"))
	var idx int
	if _, err := fmt.Sscanf(out, "%d", &idx); err != nil {
		tb.Fatalf("testutil: ifindex of %s in %s: %q: %v", name, ns.Name, out, err)
	}
	return idx
}
