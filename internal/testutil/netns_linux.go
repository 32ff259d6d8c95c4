package testutil

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// NetNS is a named network namespace (as made by `ip netns add`) that lives
// for the duration of one test. Name, Path, Exec, Command and Do come from
// internal/netns.
type NetNS struct {
	*netns.NS
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
	n, err := netns.Create(full)
	if err != nil {
		tb.Fatalf("testutil: %v", err)
	}
	tb.Cleanup(func() {
		if err := n.Delete(); err != nil {
			tb.Errorf("testutil: %v", err)
		}
	})
	return &NetNS{NS: n}
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
	return Iface(tb, ns.NS, name).Index
}
