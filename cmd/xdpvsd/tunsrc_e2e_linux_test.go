package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// The tests of tunnel sources and partial checksums (issue 13, items 4, 5 and 7): what leaves the
// director is captured on the wire, and what the real servers accept (xdpvs-rs --director) and
// receive is checked.

// tunnelCapture records the outer source of every IPIP and IPv6-in-IPv6 packet an interface
// receives, from an AF_PACKET socket opened in its namespace.
type tunnelCapture struct {
	fd   int
	mu   sync.Mutex
	srcs map[netip.Addr]int
	stop chan struct{}
	done chan struct{}
}

// captureTunnels starts a capture on interface ifname of ns; it stops at cleanup.
func captureTunnels(t *testing.T, ns *netns.NS, ifname string) *tunnelCapture {
	t.Helper()
	c := &tunnelCapture{srcs: map[netip.Addr]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	proto := int(htons(unix.ETH_P_ALL))
	if err := ns.Do(func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		if err := unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifc.Index}); err != nil {
			unix.Close(c.fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}); err != nil {
		t.Fatalf("capture on %s: %v", ifname, err)
	}
	go c.run()
	t.Cleanup(func() {
		close(c.stop)
		<-c.done
		unix.Close(c.fd)
	})
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *tunnelCapture) run() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue // the timeout, to look at stop
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if src, ok := tunnelSource(buf[:n]); ok {
			c.mu.Lock()
			c.srcs[src]++
			c.mu.Unlock()
		}
	}
}

// tunnelSource returns the outer source of an Ethernet frame carrying IPIP or IPv6-in-IPv6.
func tunnelSource(f []byte) (netip.Addr, bool) {
	if len(f) < 14+40 {
		return netip.Addr{}, false
	}
	ip := f[14:]
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		if ip[9] == 4 {
			return netip.AddrFrom4([4]byte(ip[12:16])), true
		}
	case 0x86dd:
		if ip[6] == 41 {
			return netip.AddrFrom16([16]byte(ip[8:24])), true
		}
	}
	return netip.Addr{}, false
}

// take returns the sources seen since the last take, with their packet counts.
func (c *tunnelCapture) take() map[netip.Addr]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.srcs
	c.srcs = map[netip.Addr]int{}
	return out
}

// onlyFrom fails unless the capture saw tunnel packets from every one of want and from nothing else.
func (c *tunnelCapture) onlyFrom(t *testing.T, step string, want ...string) {
	t.Helper()
	got := c.take()
	for _, w := range want {
		if got[netip.MustParseAddr(w)] == 0 {
			t.Errorf("%s: no tunnel packet from %s on the wire (seen: %v)", step, w, got)
		}
		delete(got, netip.MustParseAddr(w))
	}
	if len(got) > 0 {
		t.Errorf("%s: tunnel packets from other sources on the wire: %v", step, got)
	}
}

// startAgent runs xdpvs-rs on rs with args, stopped at cleanup.
func startAgent(t *testing.T, rs *netns.NS, args ...string) *topo.Agent {
	t.Helper()
	a, err := topo.StartAgent(rs, binaries(t).agent, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("xdpvs-rs: %v\n%s", err, a.Log)
		}
	})
	return a
}

// agentStats reads the counters of an agent (xdpvs-rs stats).
func agentStats(t *testing.T, a *topo.Agent) map[string]uint64 {
	t.Helper()
	out, err := exec.Command(binaries(t).agent, "stats", "--pin", a.Pin).CombinedOutput()
	if err != nil {
		t.Fatalf("xdpvs-rs stats: %v\n%s", err, out)
	}
	st := map[string]uint64{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			st[f[0]], _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	return st
}

// udpAnswered sends a datagram to vip from a new client port, tries times (300 ms apart), and
// reports whether the echo came back.
func (e *env) udpAnswered(vip netip.AddrPort, tries int) bool {
	e.t.Helper()
	var c *net.UDPConn
	local := &net.UDPAddr{Port: int(udpPort.Add(1))}
	if err := e.clientNS.Do(func() (err error) { c, err = net.DialUDP("udp", local, net.UDPAddrFromAddrPort(vip)); return }); err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for range tries {
		c.Write([]byte("hello"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && strings.HasSuffix(string(buf[:n]), ":hello") {
			return true
		}
	}
	return false
}

// tunServices configures TCP VIP:80 and UDP VIP:53 of both families, rr, to the real servers rs4
// and rs6 by tunnel.
func (e *env) tunServices(rs4, rs6 []string) {
	e.t.Helper()
	for _, f := range []family{v4, v6} {
		rs := rs4
		if f.client6() {
			rs = rs6
		}
		for _, proto := range []string{"-t", "-u"} {
			port := map[string]uint16{"-t": 80, "-u": 53}[proto]
			svc := hostPort(e.vip(f.client6()), port)
			e.adm1("-A", proto, svc, "-s", "rr")
			for _, r := range rs {
				e.adm1("-a", proto, svc, "-r", hostPort(r, port), "-i")
			}
		}
	}
}

// macOf is interface name's MAC in ns.
func macOf(t *testing.T, ns *netns.NS, name string) string {
	t.Helper()
	out, err := ns.Exec("cat", "/sys/class/net/"+name+"/address")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// mustRun runs commands in ns, failing the test on the first error.
func mustRun(t *testing.T, ns *netns.NS, cmds ...[]string) {
	t.Helper()
	for _, c := range cmds {
		if out, err := ns.Exec(c...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}

// TestTunnelSourceAdded (issue 13, item 4): a director whose interface toward the real servers has
// no address yet when xdpvsd starts (routes and neighbours set by hand, the VIPs routed to it)
// sends no tunnel packet at all, rather than packets from 0.0.0.0 and ::, and counts them as
// no_tunnel_source, logging it once per real server; once the address is added the tunnels leave
// from it (captured on the router) and the real server, which accepts tunnels only from it,
// decapsulates them and answers; with the address removed again, nothing leaves again. Before the
// fix the source was read once at start: 0.0.0.0 and :: for good.
func TestTunnelSourceAdded(t *testing.T) {
	testutil.RequireRoot(t)
	tun, err := topo.NewTUN(topo.Prefix("tsadd"), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, tun)
	const src4, src6 = "198.18.1.2", "2001:2:0:1::2" // d0's addresses in the layout
	dirMAC, rtMAC := macOf(t, tun.Director, "d0"), macOf(t, tun.Router, "rd")
	// The router reaches d0 without asking it (it has no address to answer from).
	mustRun(t, tun.Router,
		[]string{"ip", "neigh", "replace", src4, "lladdr", dirMAC, "dev", "rd", "nud", "permanent"},
		[]string{"ip", "-6", "neigh", "replace", src6, "lladdr", dirMAC, "dev", "rd", "nud", "permanent"})
	// strip removes d0's addresses (the VIPs too: the router routes them here) and sets the routes
	// and the router's MAC by hand (the kernel flushes them with the last IPv4 address).
	strip := func(addrs ...string) {
		for _, a := range addrs {
			mustRun(t, tun.Director, []string{"ip", "addr", "del", a, "dev", "d0"})
		}
		mustRun(t, tun.Director,
			[]string{"ip", "route", "replace", "198.18.1.0/24", "dev", "d0"},
			[]string{"ip", "route", "replace", "default", "via", "198.18.1.1", "dev", "d0"},
			[]string{"ip", "-6", "route", "replace", "2001:2:0:1::/64", "dev", "d0"},
			[]string{"ip", "-6", "route", "replace", "default", "via", "2001:2:0:1::1", "dev", "d0"},
			[]string{"ip", "neigh", "replace", "198.18.1.1", "lladdr", rtMAC, "dev", "d0", "nud", "permanent"},
			[]string{"ip", "-6", "neigh", "replace", "2001:2:0:1::1", "lladdr", rtMAC, "dev", "d0", "nud", "permanent"})
	}
	strip(src4+"/24", src6+"/64", topo.TUNVIP4+"/32", topo.TUNVIP6+"/128")
	a := startAgent(t, tun.RS[0], "--iface", "r0", "--vip", topo.TUNVIP4, "--vip", topo.TUNVIP6, "--director", src4, "--director", src6)
	serve(t, tun.RS, func(int) []string { return []string{topo.TUNVIP4, topo.TUNVIP6} }, 80, 53)
	wire := captureTunnels(t, tun.Router, "rd")
	e := runDaemon(t, tun.Client, tun.Director, []string{"d0"}, 1)
	e.vips = [2]string{topo.TUNVIP4, topo.TUNVIP6}
	e.client.Timeout = 5 * time.Second
	e.tunServices([]string{topo.TUNRS4(0)}, []string{topo.TUNRS6(0)})
	udp4, udp6 := netip.AddrPortFrom(netip.MustParseAddr(topo.TUNVIP4), 53), netip.AddrPortFrom(netip.MustParseAddr(topo.TUNVIP6), 53)

	// No address: nothing answers, nothing is sent, the drops are counted and logged once.
	for i := range 3 {
		if e.udpAnswered(udp4, 2) || e.udpAnswered(udp6, 2) {
			t.Fatalf("datagram %d answered before the director had an address", i)
		}
	}
	time.Sleep(200 * time.Millisecond)
	wire.onlyFrom(t, "without an address")
	if d := e.drops()["no_tunnel_source"]; d < 12 {
		t.Errorf("no_tunnel_source: %d, want the 12 datagrams", d)
	}
	if n := strings.Count(e.d.Log.String(), "no tunnel source toward a real server"); n != 2 {
		t.Errorf("%d warnings about the real servers without a source, want 2 (one each)", n)
	}

	// The address appears: the next datagrams go through the tunnel from it.
	mustRun(t, tun.Director,
		[]string{"ip", "addr", "add", src4 + "/24", "dev", "d0"},
		[]string{"ip", "addr", "add", src6 + "/64", "dev", "d0", "nodad"})
	deadline := time.Now().Add(10 * time.Second)
	for !e.udpAnswered(udp4, 1) || !e.udpAnswered(udp6, 1) {
		if time.Now().After(deadline) {
			t.Fatalf("no answer 10 s after the address was added (drops %v)", e.drops())
		}
	}
	before := e.drops()["no_tunnel_source"]
	for _, v6 := range []bool{false, true} {
		if got := e.shortConnections(20, v6); got["rs0"] != 20 {
			t.Fatalf("v6=%v: %v", v6, got)
		}
		e.udp(v6, 20)
	}
	wire.onlyFrom(t, "with the address", src4, src6)
	if d := e.drops()["no_tunnel_source"]; d != before {
		t.Errorf("no_tunnel_source moved from %d to %d with the address there", before, d)
	}
	st := agentStats(t, a)
	if st["decap_ipip"] == 0 || st["decap_ip6ip6"] == 0 || st["dropped_not_director"] != 0 {
		t.Errorf("the real server: decap_ipip %d, decap_ip6ip6 %d, dropped_not_director %d", st["decap_ipip"], st["decap_ip6ip6"], st["dropped_not_director"])
	}
	if !strings.Contains(e.d.Log.String(), "tunnel source found") {
		t.Error("the source found is not logged")
	}

	// The address removed again: nothing leaves from 0.0.0.0 or :: (RTM_DELADDR is followed too).
	strip(src4+"/24", src6+"/64")
	time.Sleep(300 * time.Millisecond)
	wire.take()
	if e.udpAnswered(udp4, 3) || e.udpAnswered(udp6, 3) {
		t.Error("answered after the address was removed")
	}
	time.Sleep(200 * time.Millisecond)
	wire.onlyFrom(t, "address removed")
	if d := e.drops()["no_tunnel_source"]; d < before+6 {
		t.Errorf("no_tunnel_source: %d after the address was removed, was %d", d, before)
	}
}

// TestTunnelSourceSelection (issue 13, item 5): on the DR layout (real servers on the director's
// subnet), d0 also holds a NAT VIP's /64 and /24, added last (so listed first: what xdpvsd took as
// the tunnel source at start before the fix), and the VIPs as /128 and /32. Tunnels to the real
// servers, which accept them only from d0's subnet addresses, leave from those addresses and
// nothing else, at start, after an address change and after a restart: the kernel's choice toward
// them (`ip route get RS`), except that the IPv6 VIP /128, which the kernel prefers (it matches the
// servers on 122 bits), is not used (and that is logged) until it is deprecated (preferred_lft 0),
// when the kernel's choice is the subnet's address itself.
func TestTunnelSourceSelection(t *testing.T) {
	testutil.RequireRoot(t)
	dr, err := topo.NewDR(topo.Prefix("tssel"), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, dr)
	const src4, src6 = "198.18.0.1", "2001:2::1" // d0's subnet addresses in the layout
	mustRun(t, dr.Director,
		[]string{"ip", "addr", "add", "198.18.99.10/24", "dev", "d0"},
		[]string{"ip", "addr", "add", "2001:2:0:ff::10/64", "dev", "d0", "nodad"})
	if out, _ := dr.Director.Exec("ip", "-6", "addr", "show", "dev", "d0", "scope", "global"); strings.Index(out, "2001:2:0:ff::10") > strings.Index(out, src6+"/64") {
		t.Fatalf("the NAT VIP's /64 is not listed first:\n%s", out)
	}
	var agents []*topo.Agent
	for _, rs := range dr.RS {
		agents = append(agents, startAgent(t, rs, "--iface", "r0", "--vip", topo.VIP4, "--vip", topo.VIP6, "--director", src4, "--director", src6))
	}
	serve(t, dr.RS, func(int) []string { return []string{topo.VIP4, topo.VIP6} }, 80, 53)
	wire := captureTunnels(t, dr.Switch, "sd")
	e := runDaemon(t, dr.Client, dr.Director, []string{"d0"}, 1)
	e.client.Timeout = 5 * time.Second
	configure := func() { e.tunServices([]string{topo.DRRS4(0), topo.DRRS4(1)}, []string{topo.DRRS6(0), topo.DRRS6(1)}) }
	traffic := func(step string) {
		t.Helper()
		for _, v6 := range []bool{false, true} {
			if got := e.shortConnections(100, v6); got["rs0"] != 50 || got["rs1"] != 50 {
				t.Fatalf("%s: v6=%v: rr split %v", step, v6, got)
			}
			if got := e.udp(v6, 20); got["rs0"] != 10 || got["rs1"] != 10 {
				t.Fatalf("%s: v6=%v: udp rr split %v", step, v6, got)
			}
		}
		wire.onlyFrom(t, step, src4, src6)
		for i, a := range agents {
			if st := agentStats(t, a); st["dropped_not_director"] != 0 || st["decap_ipip"] == 0 || st["decap_ip6ip6"] == 0 {
				t.Errorf("%s: real server %d: %v", step, i, st)
			}
		}
	}
	fromVIP := "the kernel would send to a real server from a VIP"
	configure()
	traffic("at start")
	if n := strings.Count(e.d.Log.String(), fromVIP); n != 2 {
		t.Errorf("%d warnings that the kernel would tunnel from the IPv6 VIP, want 2 (one per real server)\n%s", n, e.d.Log)
	}

	// An address change: the sources are looked up again, and stay.
	mustRun(t, dr.Director, []string{"ip", "-6", "addr", "change", topo.VIP6 + "/128", "dev", "d0", "preferred_lft", "0"})
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(e.d.Log.String(), "tunnel source is the kernel's choice again") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the VIP deprecated, the sources were not looked up again:\n%s", e.d.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	traffic("VIP deprecated")

	// A restart, with the NAT VIP's /64 listed first and the IPv6 VIP deprecated: the kernel's
	// choice from the start, nothing to warn about.
	if err := e.d.Stop(); err != nil {
		t.Fatalf("xdpvsd: %v\n%s", err, e.d.Log)
	}
	d, err := topo.StartDaemon(dr.Director, binaries(t).xdpvsd, t.TempDir(), []string{"d0"})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	configure()
	traffic("after a restart")
	if log := e.d.Log.String(); strings.Contains(log, fromVIP) || strings.Contains(log, "no tunnel source") {
		t.Errorf("after the restart:\n%s", log)
	}
}

// rsChecksumErrors is the number of UDP datagrams (IPv4 and IPv6) that ns's kernel dropped for a
// bad checksum (InCsumErrors in /proc/net/snmp, Udp6InCsumErrors in /proc/net/snmp6).
func rsChecksumErrors(t *testing.T, ns *netns.NS) uint64 {
	t.Helper()
	out, err := ns.Exec("cat", "/proc/net/snmp", "/proc/net/snmp6")
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var udp [][]string // the names, then the values
	for _, line := range strings.Split(out, "\n") {
		switch f := strings.Fields(line); {
		case len(f) > 0 && f[0] == "Udp:":
			udp = append(udp, f)
		case len(f) == 2 && f[0] == "Udp6InCsumErrors":
			v, _ := strconv.ParseUint(f[1], 10, 64)
			n += v
		}
	}
	if len(udp) != 2 {
		t.Fatalf("no Udp counters in /proc/net/snmp:\n%s", out)
	}
	if k := slices.Index(udp[0], "InCsumErrors"); k > 0 && k < len(udp[1]) {
		v, _ := strconv.ParseUint(udp[1][k], 10, 64)
		n += v
	}
	return n
}

// TestCompleteChecksums (issue 13, item 7): the client sends with transmit checksum offload on
// (`ethtool -K c0 tx on`, the default of a veth and of many containers), so its segments and
// datagrams carry only the pseudo-header sum. Through xdpvsd as it is, the real server drops them
// (its UDP InCsumErrors grow; nothing is answered). With --complete-checksums the worker finishes
// them (checksums_completed), and TCP transfers and UDP both ways arrive intact.
func TestCompleteChecksums(t *testing.T) {
	testutil.RequireRoot(t)
	nat, err := topo.NewNAT(topo.Prefix("csum"), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, nat)
	serve(t, nat.RS, func(i int) []string { return []string{topo.RS4(i), topo.RS6(i)} }, 8080, 5353)
	mustRun(t, nat.Client, []string{"ethtool", "-K", "c0", "tx", "on"})
	services := func(e *env) {
		e.t.Helper()
		for _, v6 := range []bool{false, true} {
			vip, rs := topo.VIP4, topo.RS4(0)
			if v6 {
				vip, rs = topo.VIP6, topo.RS6(0)
			}
			for _, p := range []struct {
				proto        string
				vport, rport uint16
			}{{"-t", 80, 8080}, {"-u", 53, 5353}} {
				e.adm1("-A", p.proto, hostPort(vip, p.vport), "-s", "rr")
				e.adm1("-a", p.proto, hostPort(vip, p.vport), "-r", hostPort(rs, p.rport), "-m")
			}
		}
		e.resolved(topo.RS4(0), topo.RS6(0))
	}
	udp4, udp6 := netip.AddrPortFrom(netip.MustParseAddr(topo.VIP4), 53), netip.AddrPortFrom(netip.MustParseAddr(topo.VIP6), 53)

	// As today: the real server drops what the client sends.
	e := runDaemon(t, nat.Client, nat.Director, nat.Ifaces(), 1)
	e.nat = nat
	services(e)
	errs := rsChecksumErrors(t, nat.RS[0])
	if e.udpAnswered(udp4, 3) || e.udpAnswered(udp6, 3) {
		t.Fatal("answered without --complete-checksums: the client's offload is not in effect, the test would prove nothing")
	}
	if got := rsChecksumErrors(t, nat.RS[0]); got < errs+2 {
		t.Errorf("the real server's UDP checksum errors went from %d to %d, want the datagrams dropped for it", errs, got)
	}
	if err := e.d.Stop(); err != nil {
		t.Fatal(err)
	}

	// --complete-checksums: everything arrives.
	d, err := topo.StartDaemon(nat.Director, binaries(t).xdpvsd, t.TempDir(), nat.Ifaces(), "--complete-checksums")
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	services(e)
	errs = rsChecksumErrors(t, nat.RS[0])
	for _, v6 := range []bool{false, true} {
		e.udp(v6, 20)
		e.shortConnections(20, v6)
		e.transfers(v6, 8<<20)
	}
	if got := rsChecksumErrors(t, nat.RS[0]); got != errs {
		t.Errorf("the real server's UDP checksum errors went from %d to %d with --complete-checksums", errs, got)
	}
	if n := e.events("checksums_completed")["checksums_completed"]; n < 40 {
		t.Errorf("checksums_completed: %d, want every datagram's and segment's", n)
	} else {
		t.Logf("checksums_completed: %d", n)
	}
}
