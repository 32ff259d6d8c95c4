package dataplane

import (
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

// TestKernelTunnelSources asks a namespace's kernel for the tunnels' sources: the address on the
// real servers' subnet, not the interface's first one (a NAT VIP's /64, added last, is listed
// first: the address the old per-port choice took); a route's preferred source; nothing without a
// route, or without a global address of the family. The sourcer publishes them per real server,
// follows an address added later (refresh) and logs a real server without a source once.
func TestKernelTunnelSources(t *testing.T) {
	ns := testutil.NewNetNS(t, "tunsrc")
	peer := testutil.NewNetNS(t, "tunsrcp")
	testutil.NewVethPair(t, ns, "d0", peer, "p0", 1)
	for _, c := range [][]string{
		{"ip", "addr", "add", "198.18.1.1/24", "dev", "d0"},
		{"ip", "addr", "add", "2001:2:0:1::1/64", "dev", "d0", "nodad"},
		// NAT VIPs added afterwards, as subnets.
		{"ip", "addr", "add", "198.18.2.10/24", "dev", "d0"},
		{"ip", "addr", "add", "2001:2:0:ff::10/64", "dev", "d0", "nodad"},
		{"ip", "route", "add", "198.18.30.0/24", "via", "198.18.1.254", "src", "198.18.2.10"},
		{"ip", "-6", "route", "add", "2001:2:0:30::/64", "via", "2001:2:0:1::fe", "src", "2001:2:0:ff::10"},
		// Routes to real servers beyond an interface without addresses of its own.
		{"ip", "link", "add", "x0", "type", "veth", "peer", "name", "x1"},
		{"ip", "link", "set", "x0", "up"},
		{"ip", "link", "set", "x1", "up"},
	} {
		ns.Run(t, c...)
	}
	ifindex := ns.Ifindex(t, "d0")
	want := map[string]string{
		"198.18.1.10":     "198.18.1.1",    // on the subnet
		"2001:2:0:1::10":  "2001:2:0:1::1", // on the subnet, not the VIP's /64 listed first
		"198.18.30.5":     "198.18.2.10",   // the route's preferred source
		"2001:2:0:30::5":  "2001:2:0:ff::10",
		"198.19.99.1":     "", // no route
		"2001:2:0:99::1":  "",
		"2001:2:0:1::ff":  "2001:2:0:1::1",
		"198.18.1.200":    "198.18.1.1",
		"198.18.2.99":     "198.18.2.10", // on the VIP's subnet: the VIP
		"2001:2:0:ff::99": "2001:2:0:ff::10",
	}
	ns.MustDo(t, func() error {
		for rs, w := range want {
			got, _, err := kernelSource(header.AddrFromNetip(netip.MustParseAddr(rs)))
			if (got == header.Addr{}) != (w == "") || (w != "" && got != header.AddrFromNetip(netip.MustParseAddr(w))) {
				t.Errorf("toward %s: source %v (%v), want %q", rs, got, err, w)
			}
		}
		return nil
	})

	// The sourcer, for a configuration of real servers on d0's subnets and behind x0, the IPv6
	// service's VIP on d0 as a /128 on the real servers' subnet, where the kernel prefers it (120
	// bits in common with rs6): it is not a source.
	behind4, behind6 := netip.MustParseAddr("198.18.40.5"), netip.MustParseAddr("2001:2:0:40::5")
	ns.Run(t, "ip", "route", "add", "198.18.40.0/24", "dev", "x0")
	ns.Run(t, "ip", "-6", "route", "add", "2001:2:0:40::/64", "dev", "x0")
	ns.Run(t, "ip", "addr", "flush", "dev", "d0") // x0's routes must not borrow d0's addresses
	ns.Run(t, "ip", "route", "add", "198.18.1.0/24", "dev", "d0")
	ns.Run(t, "ip", "-6", "route", "add", "2001:2:0:1::/64", "dev", "d0")
	rs4, rs6, vip := netip.MustParseAddr("198.18.1.10"), netip.MustParseAddr("2001:2:0:1::10"), netip.MustParseAddr("2001:2:0:1::99")
	c := mustCompile(t, &Snapshot{Services: []Service{tunService(vip4, rs4, behind4), tunService(vip, rs6, behind6)}})
	core, logs := observer.New(zap.InfoLevel)
	out := new(tunnelSources)
	s := newSourcer([]Port{{Name: "d0", Ifindex: ifindex}}, out, zap.New(core))
	check := func(step string, want map[netip.Addr]netip.Addr) {
		t.Helper()
		tab := out.load()
		forTunnels(c, func(d *destInfo) {
			got, ok := tab.source(d.id, d.gen, 0, !d.addr.Is4())
			w, wok := want[d.addr.Netip()]
			if ok != wok || (ok && *got != header.AddrFromNetip(w)) {
				t.Errorf("%s: real server %v: source %v (%v), want %v (%v)", step, d.addr, got, ok, w, wok)
			}
		})
	}
	count := func(snippet string) int { return logs.FilterMessageSnippet(snippet).Len() }
	ns.MustDo(t, func() error { s.setConfig(c); return nil })
	check("no address", nil)
	if n := count("no tunnel source"); n != 4 {
		t.Errorf("%d warnings about real servers without a source, want 4:\n%v", n, logs.All())
	}
	ns.Run(t, "ip", "addr", "add", "198.18.1.1/24", "dev", "d0")
	ns.Run(t, "ip", "addr", "add", "2001:2:0:1::1/64", "dev", "d0", "nodad")
	ns.Run(t, "ip", "addr", "add", vip.String()+"/128", "dev", "d0", "nodad")
	ns.MustDo(t, func() error { s.setConfig(c); return nil }) // a configuration unchanged: no new lookups
	check("address added, not refreshed", nil)
	ns.MustDo(t, func() error { s.refresh(); return nil })
	// x0 has no address, but the kernel may send from d0's toward what is behind it.
	subnet := map[netip.Addr]netip.Addr{
		rs4: netip.MustParseAddr("198.18.1.1"), rs6: netip.MustParseAddr("2001:2:0:1::1"),
		behind4: netip.MustParseAddr("198.18.1.1"), behind6: netip.MustParseAddr("2001:2:0:1::1"),
	}
	check("address added", subnet)
	if n := count("tunnel source found"); n < 2 {
		t.Errorf("%d real servers' sources found, want the IPv4 ones at least:\n%v", n, logs.All())
	}
	if n := count("from a VIP"); n < 1 {
		t.Errorf("the kernel's choice of the VIP toward %v is not logged:\n%v", rs6, logs.All())
	}
	logged := logs.Len()
	ns.MustDo(t, func() error { s.refresh(); return nil })
	if n := logs.Len(); n != logged {
		t.Errorf("%d log entries after a refresh that changed nothing, want %d still", n, logged)
	}
	if own := out.load().ports[0]; own[0] != header.AddrFromNetip(netip.MustParseAddr("198.18.1.1")) || own[1] != header.AddrFromNetip(netip.MustParseAddr("2001:2:0:1::1")) {
		t.Errorf("port addresses %v, want d0's subnets' (not the VIP)", own)
	}
	// The VIP deprecated, as the log advises: the kernel itself chooses d0's subnet address.
	ns.Run(t, "ip", "addr", "change", vip.String()+"/128", "dev", "d0", "preferred_lft", "0")
	ns.MustDo(t, func() error {
		s.refresh()
		if k := s.found[header.AddrFromNetip(rs6)]; k.vip != (header.Addr{}) {
			t.Errorf("toward %v with the VIP deprecated: the kernel still chose %v", rs6, k.vip)
		}
		return nil
	})
	check("VIP deprecated", subnet)
}

// TestBestOwn: without the VIPs, the source is chosen by RFC 6724's rules as Linux applies them:
// not deprecated (rule 3), then on the route's interface (rule 5), then the longest prefix in
// common with the real server, at most the address's prefix length (rule 8), the first of equals.
func TestBestOwn(t *testing.T) {
	addr := func(cidr string, link int, deprecated bool) netlink.Addr {
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatal(err)
		}
		a.LinkIndex, a.PreferedLft = link, 1<<32-1
		if deprecated {
			a.Flags, a.PreferedLft = unix.IFA_F_DEPRECATED, 0
		}
		return *a
	}
	rs := header.AddrFromNetip(netip.MustParseAddr("2001:2:0:1::10"))
	for _, tc := range []struct {
		name  string
		addrs []netlink.Addr
		want  string
	}{
		{"longest_prefix", []netlink.Addr{addr("2001:2:0:ff::1/64", 2, false), addr("2001:2:0:1::1/64", 2, false)}, "2001:2:0:1::1"},
		{"capped_by_prefix_length", []netlink.Addr{addr("2001:2:0:1::1/48", 2, false), addr("2001:2:0:1::2/64", 2, false)}, "2001:2:0:1::2"},
		{"first_of_equals", []netlink.Addr{addr("2001:2:0:1::1/64", 2, false), addr("2001:2:0:1::2/64", 2, false)}, "2001:2:0:1::1"},
		{"outgoing_interface", []netlink.Addr{addr("2001:2:0:1::1/64", 3, false), addr("2001:2:0:7::1/64", 2, false)}, "2001:2:0:7::1"},
		{"not_deprecated", []netlink.Addr{addr("2001:2:0:1::1/64", 2, true), addr("2001:2:0:7::1/64", 3, false)}, "2001:2:0:7::1"},
		{"other_family", []netlink.Addr{addr("198.18.1.1/24", 2, false)}, ""},
		{"none", nil, ""},
	} {
		s := &sourcer{addrs: tc.addrs}
		got := s.bestOwn(rs, 2)
		if (tc.want == "" && got != header.Addr{}) || (tc.want != "" && got != header.AddrFromNetip(netip.MustParseAddr(tc.want))) {
			t.Errorf("%s: %v, want %q", tc.name, got, tc.want)
		}
	}
}
