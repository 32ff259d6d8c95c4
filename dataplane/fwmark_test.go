package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/dataplane/xsk"
)

// fwmarkSnapshot is mark 1 (TCP 80 and 443 of vip4: HTTP and HTTPS), mark 2 (UDP and TCP
// 30000-30099 of a VIP range, 198.18.2.16/30), both to rs4a and rs4b (DR, any port), persistent
// with -p 60 for mark 1; and a NAT service on vip4:80 that the mark takes precedence over.
func fwmarkSnapshot(persist bool) *Snapshot {
	rs := []RealServer{{Addr: rs4a, Forward: ForwardRoute, Weight: 1}, {Addr: rs4b, Forward: ForwardRoute, Weight: 1}}
	m1 := Service{Key: ServiceKey{Addr: netip.IPv4Unspecified(), FWMark: 1}, Scheduler: "rr", RealServers: rs}
	if persist {
		m1.Flags, m1.Persistence = ServicePersistent, 60*time.Second
	}
	m2 := Service{Key: ServiceKey{Addr: netip.IPv4Unspecified(), FWMark: 2}, Scheduler: "rr", RealServers: rs}
	return &Snapshot{Services: []Service{m1, m2, svc2(tcp, 80, 8080, 0, 1)},
		MarkRules: []control.MarkRule{
			{Mark: 1, Proto: tcp, Dst: netip.PrefixFrom(vip4, 32), PortLo: 80, PortHi: 80},
			{Mark: 1, Proto: tcp, Dst: netip.PrefixFrom(vip4, 32), PortLo: 443, PortHi: 443},
			{Mark: 2, Dst: netip.MustParsePrefix("198.18.2.16/30"), PortLo: 30000, PortHi: 30099},
		}}
}

// TestFWMark: a client's connections to HTTP and HTTPS of a persistent mark service reach one real
// server (the template is the mark's); without persistence rr alternates across the two ports;
// ports and addresses of the ranges are the mark's, others are not; the mark comes before the
// (TCP, VIP, 80) service.
func TestFWMark(t *testing.T) {
	for _, persist := range []bool{true, false} {
		e := newTestEnv(t, 1024)
		p := e.p
		c, _, err := compile(fwmarkSnapshot(persist), nil, newIDs(), 1)
		if err != nil {
			t.Fatal(err)
		}
		p.setConfig(c)
		dstOf := func(f []byte) netip.Addr { return e.neigh.addrOfMAC(t, f) }
		servers := map[netip.Addr]int{}
		for i := range 20 {
			port := []uint16{80, 443}[i%2]
			f := syn(pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: uint16(40000 + i), dport: port}).frame(t)
			if out := mustTX(t, p, f, 0, t0); out != 1 {
				t.Fatalf("egress %d", out)
			}
			if got := parsed(t, f); got.DstAddr.Netip() != vip4 || got.DstPort != port {
				t.Fatalf("DR changed the packet: %v:%d", got.DstAddr, got.DstPort)
			}
			servers[dstOf(f)]++
		}
		if persist && len(servers) != 1 || !persist && (servers[rs4a] != 10 || servers[rs4b] != 10) {
			t.Fatalf("persistent %v: servers %v", persist, servers)
		}
		// The VIP range and port range of mark 2, UDP and TCP.
		for i, a := range []string{"198.18.2.16", "198.18.2.19"} {
			for _, port := range []uint16{30000, 30099} {
				f := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: netip.MustParseAddr(a), proto: udp, sport: uint16(5000 + i), dport: port}.dgram(10).frame(t)
				mustTX(t, p, f, 0, t0)
				mustTX(t, p, syn(pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: netip.MustParseAddr(a), proto: tcp, sport: uint16(6000 + i), dport: port}).frame(t), 0, t0)
			}
		}
		before := p.c.drops[DropNoService]
		for _, miss := range []pk{
			{src: cliMAC, dst: port0MAC, sip: cip4, dip: netip.MustParseAddr("198.18.2.20"), proto: tcp, sport: 7000, dport: 30000}, // outside the /30
			{src: cliMAC, dst: port0MAC, sip: cip4, dip: netip.MustParseAddr("198.18.2.16"), proto: tcp, sport: 7001, dport: 30100}, // outside the ports
			{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 7002, dport: 444},                                 // not 80 or 443
		} {
			if v, _ := p.Process(syn(miss).frame(t), 0, t0); v != VerdictDrop {
				t.Fatalf("%v:%d taken", miss.dip, miss.dport)
			}
		}
		if p.c.drops[DropNoService] != before+3 {
			t.Fatalf("no_service %d, want %d", p.c.drops[DropNoService], before+3)
		}
		if p.c.svc[2].Conns != 0 {
			t.Fatal("the (TCP, VIP, 80) service took a marked packet")
		}
	}
}

// addrOfMAC returns the real server a frame was sent to, by its destination MAC.
func (n *Neighbours) addrOfMAC(t *testing.T, f []byte) netip.Addr {
	t.Helper()
	switch m := [6]byte(f[0:6]); m {
	case rs1MAC:
		return rs4a
	case rs2MAC:
		return rs4b
	}
	t.Fatalf("frame to %x", f[0:6])
	return netip.Addr{}
}

func TestMarkRulesRefused(t *testing.T) {
	ok := control.MarkRule{Mark: 1, Dst: netip.MustParsePrefix("198.18.2.0/24"), PortLo: 80, PortHi: 80}
	for _, r := range []control.MarkRule{
		{Mark: 0, Dst: ok.Dst, PortLo: 80, PortHi: 80},
		{Mark: 1, Dst: netip.MustParsePrefix("198.18.2.1/24"), PortLo: 80, PortHi: 80},
		{Mark: 1, Dst: ok.Dst, PortLo: 81, PortHi: 80},
		{Mark: 1, Proto: 1, Dst: ok.Dst, PortLo: 80, PortHi: 80},
		{Mark: 1, Dst: netip.MustParsePrefix("198.18.0.0/16"), PortLo: 1, PortHi: 1000}, // too many endpoints
	} {
		if _, err := compileMarks([]control.MarkRule{ok, r}); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	// Every port of a /24 is one endpoint per address and protocol.
	all := control.MarkRule{Mark: 1, Dst: ok.Dst, PortLo: 0, PortHi: 65535}
	if _, err := compileMarks([]control.MarkRule{all}); err != nil {
		t.Fatal(err)
	}
	if eps := markEndpoints([]control.MarkRule{all}); len(eps) != 512 || eps[0] != (xsk.Endpoint{Proto: tcp, Addr: netip.MustParseAddr("198.18.2.0")}) {
		t.Fatalf("%d endpoints, first %v", len(eps), eps[0])
	}
	if eps := markEndpoints(fwmarkSnapshot(true).MarkRules); len(eps) != 2+4*100*2 {
		t.Fatalf("%d endpoints, want %d", len(eps), 2+4*100*2)
	}
}

// TestFWMarkAlloc: a new connection found through the mark rules allocates nothing.
func TestFWMarkAlloc(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	c, _, err := compile(fwmarkSnapshot(true), nil, newIDs(), 1)
	if err != nil {
		t.Fatal(err)
	}
	p.setConfig(c)
	f := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: netip.MustParseAddr("198.18.2.18"), proto: udp, sport: 5000, dport: 30050}.dgram(10).frame(t)
	buf := make([]byte, len(f))
	if a := testing.AllocsPerRun(200, func() {
		copy(buf, f)
		p.Process(buf, 0, t0)
		p.table.Expire(t0+int64(time.Hour), 0)
	}); a != 0 {
		t.Fatalf("%v allocations", a)
	}
	if p.c.tx < 200 {
		t.Fatalf("%d sent of 201", p.c.tx)
	}
}
