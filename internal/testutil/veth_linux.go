package testutil

import (
	"testing"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// VethPair describes a veth pair created by NewVethPair.
type VethPair struct {
	A, B           *NetNS
	AName, BName   string
	AIndex, BIndex int // ifindex of each end inside its namespace
	Queues         int
}

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
	if err := netns.Veth(a.NS, aName, b.NS, bName, queues); err != nil {
		tb.Fatalf("testutil: %v", err)
	}
	tb.Cleanup(func() {
		// Deleting one end removes both; ignore "not found" when the
		// namespace was already deleted.
		_, _ = a.Exec("ip", "link", "del", aName)
	})
	return &VethPair{
		A: a, B: b, AName: aName, BName: bName,
		AIndex: a.Ifindex(tb, aName), BIndex: b.Ifindex(tb, bName),
		Queues: queues,
	}
}
