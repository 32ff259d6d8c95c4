package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// FULLNAT local addresses: on no interface; the real servers route them to the director.
const (
	lip4 = "198.18.9.1"
	lip6 = "2001:2:0:9::1"
)

// family is the address family of a mode test's client and VIP (and of the real servers, but in
// NAT64).
type family string

const (
	v4 family = "v4"
	v6 family = "v6"
)

// client6 reports whether the client (and so the VIP) is IPv6.
func (f family) client6() bool { return f == v6 }

// mode is one forwarding mode of TestModes: its layout, its services and what it implies. Its
// families share one layout and daemon: their services and flows are apart.
type mode struct {
	name     string
	families []family
	// env builds the mode's layout (queues = workers) with xdpvsd on it and the real servers serving.
	env func(t *testing.T, name string, workers int) *env
	// services configures TCP VIP:80 and UDP VIP:53, rr over both real servers.
	services func(e *env, f family)
	// grow are the worker events the traffic must make (counted over all workers).
	grow []string
	// check asserts, after the common traffic, what else the mode implies.
	check func(e *env, f family)
}

// natEnv is newEnv without extra flags, as a mode's env.
func natEnv(t *testing.T, name string, workers int) *env { return newEnv(t, name, workers) }

var modes = []mode{
	{
		name: "NAT", families: []family{v4, v6}, env: natEnv,
		services: func(e *env, f family) {
			e.natService("-t", f.client6())
			e.natService("-u", f.client6())
		},
		grow: []string{"fast_path_packets"},
		check: func(e *env, f family) {
			want := "TCP  " + hostPort(e.vip(f.client6()), 80)
			if !strings.Contains(e.adm1("-Ln", "--stats"), want) {
				e.t.Fatalf("listing lacks %q", want)
			}
			if !strings.Contains(e.adm1("-Ln"), "Masq") {
				e.t.Fatal("listing lacks Masq")
			}
		},
	},
	{
		// The real servers see the connections come from the local address.
		name: "FULLNAT", families: []family{v4, v6}, env: natEnv, grow: []string{"fast_path_packets"},
		services: func(e *env, f family) {
			for _, proto := range []string{"-t", "-u"} {
				svc := e.natService(proto, f.client6()) // NAT first, then every real server switched to FULLNAT
				e.adm1("--add-laddr", "-z", fullnatLIP(f), proto, svc)
				for i := range 2 {
					e.adm1("-e", proto, svc, "-r", hostPort(natRS(f, i), map[string]uint16{"-t": 8080, "-u": 5353}[proto]), "-b")
				}
			}
		},
		check: func(e *env, f family) {
			if !strings.Contains(e.adm1("-Ln"), "FullNat") {
				e.t.Fatalf("listing lacks FullNat:\n%s", e.adm1("-Ln"))
			}
			e.peerIs(f.client6(), fullnatLIP(f))
		},
	},
	{
		// FULLNAT from an IPv6 VIP to IPv4 servers, with an IPv4 local address; ICMP crosses the families too: the IPv4 server's port
		// unreachable reaches the IPv6 client as ICMPv6 quoting its own flow, so its connected
		// socket reports the refusal.
		name: "NAT64", families: []family{v6}, env: natEnv,
		services: func(e *env, f family) {
			for _, proto := range []string{"-t", "-u"} {
				vport, rport := map[string]uint16{"-t": 80, "-u": 53}[proto], map[string]uint16{"-t": 8080, "-u": 5353}[proto]
				svc := hostPort(topo.VIP6, vport)
				e.adm1("-A", proto, svc, "-s", "rr")
				e.adm1("--add-laddr", "-z", lip4, proto, svc)
				for i := range 2 {
					e.adm1("-a", proto, svc, "-r", hostPort(topo.RS4(i), rport), "-b")
				}
			}
		},
		check: func(e *env, f family) {
			e.peerIs(true, lip4)
			svc := hostPort(topo.VIP6, 54)
			e.adm1("-A", "-u", svc, "-s", "rr")
			e.adm1("--add-laddr", "-z", lip4, "-u", svc)
			e.adm1("-a", "-u", svc, "-r", hostPort(topo.RS4(0), 5454), "-b")
			if err := e.refused(netip.MustParseAddrPort(svc), hostPort(topo.RS4(0), 5454)); err != nil {
				e.t.Fatal(err)
			}
		},
	},
	{
		// The real servers answer the client directly from the VIP.
		name: "DR", families: []family{v4, v6}, env: newDREnv,
		services: func(e *env, f family) { e.rrServices(f, "-g", topo.DRRS4, topo.DRRS6) },
		grow:     []string{"fast_path_packets"},
	},
	{
		// Every link has an MTU of 1500, so the client's full-size segments do not fit the tunnel:
		// the director answers them with fragmentation-needed / packet-too-big, and the transfers
		// succeed after it.
		name: "TUN", families: []family{v4, v6}, env: newTUNEnv,
		services: func(e *env, f family) { e.rrServices(f, "-i", topo.TUNRS4, topo.TUNRS6) },
		grow:     []string{"tunnelled", "icmp_sent", "fast_path_packets"}, // icmp_sent: the MTU case was exercised
	},
}

// TestModes is the acceptance matrix of the forwarding modes: NAT, FULLNAT, NAT64, DR and TUN (IPIP,
// IPv6-in-IPv6), for IPv4 and IPv6, with one worker and with two workers on two-queue veths: 1,000
// short HTTP connections through an rr service split 500/500, a 50 MiB transfer each way with
// matching SHA-256, UDP request/response split evenly, every hand-off between the workers accounted
// for, and what the mode itself implies.
func TestModes(t *testing.T) {
	for _, m := range modes {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/workers=%d", m.name, workers), func(t *testing.T) {
				shared := m.env(t, fmt.Sprintf("%s%d", strings.ToLower(m.name), workers), workers)
				for _, f := range m.families {
					t.Run(string(f), func(t *testing.T) {
						e := *shared
						e.t = t
						m.services(&e, f)
						before := e.events(m.grow...)
						e.traffic(f.client6())
						e.bytesCounted(f.client6(), m.name != "DR" && m.name != "TUN")
						after := e.events(m.grow...)
						for _, ev := range m.grow {
							t.Logf("%s: %d during the traffic", ev, after[ev]-before[ev])
							if after[ev] == before[ev] {
								t.Errorf("no %s during the traffic", ev)
							}
						}
						t.Logf("\n%s", e.adm1("-Ln", "--stats"))
						if m.check != nil {
							m.check(&e, f)
						}
						e.checkWorkers(workers)
					})
				}
			})
		}
	}
}

// traffic is what every mode test sends through the VIP: 1,000 short HTTP connections split
// 500/500 by rr, 50 MiB each way with matching SHA-256, 100 UDP request/responses split 50/50.
func (e *env) traffic(v6 bool) {
	e.t.Helper()
	if got := e.shortConnections(1000, v6); got["rs0"] != 500 || got["rs1"] != 500 {
		e.t.Fatalf("rr split %v, want 500/500", got)
	}
	e.transfers(v6, 50<<20)
	if got := e.udp(v6, 100); got["rs0"] != 50 || got["rs1"] != 50 {
		e.t.Fatalf("udp rr split %v, want 50/50", got)
	}
}

// rrServices configures TCP VIP:80 and UDP VIP:53, rr, to real servers rs4(i) or rs6(i) (by f), on
// the same ports, forwarded by fwd (-g, -i).
func (e *env) rrServices(f family, fwd string, rs4, rs6 func(int) string) {
	e.t.Helper()
	rs := rs4
	if f.client6() {
		rs = rs6
	}
	for _, proto := range []string{"-t", "-u"} {
		port := map[string]uint16{"-t": 80, "-u": 53}[proto]
		svc := hostPort(e.vip(f.client6()), port)
		e.adm1("-A", proto, svc, "-s", "rr")
		for i := range 2 {
			e.adm1("-a", proto, svc, "-r", hostPort(rs(i), port), fwd)
		}
	}
}

// peerIs checks that a real server sees the client's connection to VIP:80 come from addr.
func (e *env) peerIs(v6 bool, addr string) {
	e.t.Helper()
	body, _, err := topo.Get(e.client, topo.URL(e.vip(v6), 80, "/whoami"))
	if err != nil {
		e.t.Fatal(err)
	}
	if peer, err := netip.ParseAddrPort(string(body)); err != nil || peer.Addr() != netip.MustParseAddr(addr) {
		e.t.Fatalf("the real server saw the connection from %q, want %s", body, addr)
	}
}

// fullnatLIP is the local address of FULLNAT toward the real servers of f.
func fullnatLIP(f family) string {
	if f == v6 {
		return lip6
	}
	return lip4
}

// natRS is real server i's address on the NAT layout, in family f.
func natRS(f family, i int) string {
	if f == v6 {
		return topo.RS6(i)
	}
	return topo.RS4(i)
}

// hostPort is addr:port, with brackets for IPv6.
func hostPort(addr string, port uint16) string {
	return netip.AddrPortFrom(netip.MustParseAddr(addr), port).String()
}

// newDREnv runs xdpvsd one-armed on the DR layout: client, director and two real servers on one
// bridge, the servers serving HTTP on VIP:80 and UDP echo on VIP:53 (the VIPs on their lo).
func newDREnv(t *testing.T, name string, workers int) *env {
	t.Helper()
	testutil.RequireRoot(t)
	dr, err := topo.NewDR(topo.Prefix(name), 2, max(workers, 1))
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, dr)
	e := runDaemon(t, dr.Client, dr.Director, []string{"d0"}, workers)
	serve(t, dr.RS, func(int) []string { return []string{topo.VIP4, topo.VIP6} }, 80, 53)
	return e
}

// newTUNEnv runs xdpvsd on the routed TUN layout; each real server runs xdpvs-rs to decapsulate
// (this kernel has no ipip module) and serves HTTP on VIP:80 and UDP echo on VIP:53.
func newTUNEnv(t *testing.T, name string, workers int) *env {
	t.Helper()
	testutil.RequireRoot(t)
	tun, err := topo.NewTUN(topo.Prefix(name), 2, max(workers, 1))
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, tun)
	for _, rs := range tun.RS {
		a, err := topo.StartAgent(rs, binaries(t).agent, "--iface", "r0", "--vip", topo.TUNVIP4, "--vip", topo.TUNVIP6)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := a.Stop(); err != nil {
				t.Errorf("xdpvs-rs: %v\n%s", err, a.Log)
			}
		})
	}
	serve(t, tun.RS, func(int) []string { return []string{topo.TUNVIP4, topo.TUNVIP6} }, 80, 53)
	e := runDaemon(t, tun.Client, tun.Director, []string{"d0"}, workers)
	e.vips = [2]string{topo.TUNVIP4, topo.TUNVIP6}
	return e
}

// serve starts on every real server i HTTP on port tcp and UDP echo on port udp of each of
// addrs(i), answering as "rs<i>", and stops them at cleanup.
func serve(t *testing.T, servers []*netns.NS, addrs func(i int) []string, tcp, udp uint16) {
	t.Helper()
	for i, rs := range servers {
		name := fmt.Sprintf("rs%d", i)
		for _, a := range addrs(i) {
			s, err := topo.ServeHTTP(rs, netip.AddrPortFrom(netip.MustParseAddr(a), tcp), name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			u, err := topo.ServeUDPEcho(rs, netip.AddrPortFrom(netip.MustParseAddr(a), udp), name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Close() })
		}
	}
}

// closeAtCleanup closes a layout when the test ends, failing the test if that fails.
func closeAtCleanup(t *testing.T, layout interface{ Close() error }) {
	t.Helper()
	t.Cleanup(func() {
		if err := layout.Close(); err != nil {
			t.Error(err)
		}
	})
}
