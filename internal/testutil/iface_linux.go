package testutil

import (
	"net"
	"testing"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Iface returns interface name of namespace ns (its index and MAC address), or fails the test.
func Iface(tb testing.TB, ns *netns.NS, name string) *net.Interface {
	tb.Helper()
	var ifi *net.Interface
	if err := ns.Do(func() (err error) { ifi, err = net.InterfaceByName(name); return }); err != nil {
		tb.Fatalf("testutil: interface %s in %s: %v", name, ns.Name, err)
	}
	return ifi
}
