package main

import (
	"net/netip"
	"testing"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestMixedModes: NAT, FULLNAT, DR and TUN services side by side on one director, IPv4 and IPv6:
// each answers from its own real server, and each real server sees the peer its mode implies
// (the client for NAT, DR and TUN; the local address for FULLNAT).
func TestMixedModes(t *testing.T) {
	testutil.RequireRoot(t)
	m, err := topo.NewMixed(topo.Prefix("mix"), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	a, err := topo.StartAgent(m.RS[1], binaries(t).agent, "--iface", "r0", "--vip", topo.VIP4, "--vip", topo.VIP6)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	serve := func(ns *testutil.NetNS, addr netip.AddrPort, name string) {
		t.Helper()
		s, err := topo.ServeHTTP(ns.NS, addr, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	e := runDaemon(t, m.Client, m.Director, []string{"d0", "d1"}, 1)
	for _, v6 := range []bool{false, true} {
		vip, behind, dr, tun, lip, client := topo.VIP4, topo.RS4(0), topo.DRRS4(0), topo.DRRS4(1), lip4, topo.Client4
		if v6 {
			vip, behind, dr, tun, lip, client = topo.VIP6, topo.RS6(0), topo.DRRS6(0), topo.DRRS6(1), lip6, topo.Client6
		}
		ap := func(a string, port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(a), port) }
		serve(&testutil.NetNS{NS: m.Behind}, ap(behind, 8080), "behind")
		serve(&testutil.NetNS{NS: m.RS[0]}, ap(vip, 82), "dr")
		serve(&testutil.NetNS{NS: m.RS[1]}, ap(vip, 83), "tun")
		for _, c := range [][]string{
			{"-A", "-t", ap(vip, 80).String(), "-s", "rr"},
			{"-a", "-t", ap(vip, 80).String(), "-r", ap(behind, 8080).String(), "-m"},
			{"-A", "-t", ap(vip, 81).String(), "-s", "rr"},
			{"--add-laddr", "-z", lip, "-t", ap(vip, 81).String()},
			{"-a", "-t", ap(vip, 81).String(), "-r", ap(behind, 8080).String(), "-b"},
			{"-A", "-t", ap(vip, 82).String(), "-s", "rr"},
			{"-a", "-t", ap(vip, 82).String(), "-r", ap(dr, 82).String(), "-g"},
			{"-A", "-t", ap(vip, 83).String(), "-s", "rr"},
			{"-a", "-t", ap(vip, 83).String(), "-r", ap(tun, 83).String(), "-i"},
		} {
			e.adm1(c...)
		}
		for _, want := range []struct {
			port       uint16
			server     string
			peer, mode string
		}{{80, "behind", client, "NAT"}, {81, "behind", lip, "FULLNAT"}, {82, "dr", client, "DR"}, {83, "tun", client, "TUN"}} {
			for n := range 20 {
				body, server, err := topo.Get(e.client, topo.URL(vip, want.port, "/whoami"))
				if err != nil {
					t.Fatalf("%s %s request %d: %v", want.mode, vip, n, err)
				}
				peer, err := netip.ParseAddrPort(string(body))
				if server != want.server || err != nil || peer.Addr() != netip.MustParseAddr(want.peer) {
					t.Fatalf("%s %s: answered by %q seeing peer %q; want %s seeing %s", want.mode, vip, server, body, want.server, want.peer)
				}
			}
		}
	}
	t.Logf("\n%s", e.adm1("-Ln", "--stats"))
}
