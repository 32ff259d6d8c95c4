package testutil

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// VethPair describes a veth pair created by NewVethPair.
type VethPair struct {
	A, B           *NetNS
	AName, BName   string
	AIndex, BIndex int // ifindex of each end inside its namespace
	Queues         int
}

var channelRE = regexp.MustCompile(`(?s)Current hardware settings:.*?RX:\s+(\d+).*?TX:\s+(\d+)`)

// NewVethPair creates a veth pair with end aName in namespace a and end bName
// in namespace b, each with `queues` RX and TX queues (so AF_XDP can bind to
// queues 0..queues-1; checked with `ethtool -l` and raised with `ethtool -L`
// when needed). Both ends are brought up with tx checksum offload off (so
// locally generated packets carry full checksums, as a real NIC would
// deliver them) and GRO on (so frames XDP-redirected into a veth are not
// dropped). The pair disappears with its namespaces; it is also deleted in
// tb.Cleanup in case the namespaces outlive the test.
func NewVethPair(tb testing.TB, a *NetNS, aName string, b *NetNS, bName string, queues int) *VethPair {
	tb.Helper()
	RequireRoot(tb)
	if queues < 1 {
		queues = 1
	}
	q := strconv.Itoa(queues)
	a.Run(tb, "ip", "link", "add", aName, "numtxqueues", q, "numrxqueues", q,
		"type", "veth", "peer", "name", bName, "netns", b.Name, "numtxqueues", q, "numrxqueues", q)
	tb.Cleanup(func() {
		// Deleting one end removes both; ignore "not found" when the
		// namespace was already deleted.
		_, _ = a.Exec("ip", "link", "del", aName)
	})
	for _, end := range []struct {
		ns   *NetNS
		name string
	}{{a, aName}, {b, bName}} {
		requireChannels(tb, end.ns, end.name, queues)
		end.ns.Run(tb, "ethtool", "-K", end.name, "tx", "off", "gro", "on")
		end.ns.Run(tb, "ip", "link", "set", end.name, "up")
	}
	return &VethPair{
		A: a, B: b, AName: aName, BName: bName,
		AIndex: a.Ifindex(tb, aName), BIndex: b.Ifindex(tb, bName),
		Queues: queues,
	}
}

// requireChannels makes sure interface name has at least n RX and TX
// channels in use.
func requireChannels(tb testing.TB, ns *NetNS, name string, n int) {
	tb.Helper()
	rx, tx := channels(tb, ns, name)
	if rx >= n && tx >= n {
		return
	}
	n1 := strconv.Itoa(n)
	ns.Run(tb, "ethtool", "-L", name, "rx", n1, "tx", n1)
	if rx, tx = channels(tb, ns, name); rx < n || tx < n {
		tb.Fatalf("testutil: %s has rx=%d tx=%d channels, want %d", name, rx, tx, n)
	}
}

func channels(tb testing.TB, ns *NetNS, name string) (rx, tx int) {
	tb.Helper()
	out := ns.Run(tb, "ethtool", "-l", name)
	m := channelRE.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("testutil: cannot parse `ethtool -l %s`:\n%s", name, out)
	}
	rx, _ = strconv.Atoi(m[1])
	tx, _ = strconv.Atoi(m[2])
	return rx, tx
}

// String is for logs.
func (v *VethPair) String() string {
	return fmt.Sprintf("%s/%s(%d) <-> %s/%s(%d), %d queues", v.A.Name, v.AName, v.AIndex, v.B.Name, v.BName, v.BIndex, v.Queues)
}
