package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
)

// The director's addresses toward the real servers in the tunnel tests: the sources of tunnels.
var (
	tunSrc4 = netip.MustParseAddr("198.18.1.1")
	tunSrc6 = netip.MustParseAddr("2001:2:0:1::1")
)

// tunEnv is the golden topology with one TUN service on vip4:80 (IPv4) and vip6:80 (IPv6) whose
// real server is rs4a / rs6a, tunnelled from tunSrc4 / tunSrc6, and port 1 (toward the servers)
// with MTU 1500.
func tunEnv(t *testing.T) *Pipeline {
	e := newTestEnv(t, 1024)
	p := e.p
	p.ports = append([]Port(nil), p.ports...)
	p.ports[1].MTU = 1500
	applyServices(t, p, newIDs(), tunService(vip4, rs4a), tunService(vip6, rs6a))
	setTunnelSources(p, sourceOnSubnet)
	return p
}

// tunService is TCP vip:80, rr, to the real servers rss forwarded by tunnel.
func tunService(vip netip.Addr, rss ...netip.Addr) Service {
	s := Service{Key: ServiceKey{Proto: tcp, Addr: vip, Port: 80}, Scheduler: "rr"}
	for _, rs := range rss {
		s.RealServers = append(s.RealServers, RealServer{Addr: rs, Port: 80, Forward: ForwardTunnel, Weight: 1})
	}
	return s
}

// sourceOnSubnet is the tunnel source of every real server in the tests: tunSrc4 or tunSrc6.
func sourceOnSubnet(rs header.Addr) header.Addr {
	if rs.Is4() {
		return header.AddrFromNetip(tunSrc4)
	}
	return header.AddrFromNetip(tunSrc6)
}

// setTunnelSources publishes, as the resolver would, the tunnel source of each real server of p's
// configuration (of; zero: none) and each port's own addresses (ports, by port; missing: none).
func setTunnelSources(p *Pipeline, of func(rs header.Addr) header.Addr, ports ...[2]netip.Addr) {
	own := make([][2]header.Addr, len(p.ports))
	for i, a := range ports {
		for j := range a {
			if a[j].IsValid() {
				own[i][j] = header.AddrFromNetip(a[j])
			}
		}
	}
	p.tunSrc.publish(newSrcTable(p.conf, of, own))
}

// outerSource returns the outer source address of a tunnel frame.
func outerSource(t *testing.T, frame []byte) netip.Addr {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if l := pkt.Layer(layers.LayerTypeIPv4); l != nil {
		ip := l.(*layers.IPv4)
		if ip.Protocol != layers.IPProtocolIPv4 {
			t.Fatalf("not IPIP: %v", ip.Protocol)
		}
		a, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		return a
	}
	ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip.NextHeader != layers.IPProtocolIPv6 {
		t.Fatalf("not IPv6-in-IPv6: %v", ip.NextHeader)
	}
	a, _ := netip.AddrFromSlice(ip.SrcIP)
	return a
}

// tunnelTo sends a segment of client port cport to vip:80 with headroom and returns the verdict
// and what left.
func tunnelTo(t *testing.T, p *Pipeline, vip netip.Addr, cport uint16, flags string) (Verdict, []byte) {
	t.Helper()
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip, proto: tcp, sport: cport, dport: 80}
	if vip.Is6() {
		c.sip = cip6
	}
	in := c.seg(flags, 1000, 0, 0).frame(t)
	buf, off := withHeadroom(in)
	v, _, noff, n := p.ProcessAt(buf, off, len(in), 0, t0)
	return v, buf[noff : noff+n]
}

// TestTunnelSourcePerRealServer: each real server's tunnels leave from its own source, the address
// the kernel chose toward it, not one per port.
func TestTunnelSourcePerRealServer(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		e := newTestEnv(t, 1024)
		p := e.p
		vip, a, b := vip4, rs4a, rs4b
		srcA, srcB := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.5")
		if v6 {
			vip, a, b = vip6, rs6a, rs6b
			srcA, srcB = netip.MustParseAddr("2001:2:0:1::1"), netip.MustParseAddr("2001:2:0:1::5")
		}
		applyServices(t, p, newIDs(), tunService(vip, a, b))
		setTunnelSources(p, func(rs header.Addr) header.Addr {
			if rs == header.AddrFromNetip(a) {
				return header.AddrFromNetip(srcA)
			}
			return header.AddrFromNetip(srcB)
		}, [2]netip.Addr{}, [2]netip.Addr{netip.MustParseAddr("198.18.1.9"), netip.MustParseAddr("2001:2:0:1::9")})
		for i, want := range []netip.Addr{srcA, srcB, srcA} { // rr
			v, out := tunnelTo(t, p, vip, uint16(40000+i), "S")
			if v != VerdictTX {
				t.Fatalf("v6=%v: connection %d: %s (%s)", v6, i, vname(v), nonZero(p.c))
			}
			if got := outerSource(t, out); got != want {
				t.Errorf("v6=%v: connection %d: outer source %v, want %v", v6, i, got, want)
			}
		}
	}
}

// TestTunnelNoSource: without a source toward the real server (no address of the director reaches
// it), a tunnel packet is dropped as no_tunnel_source, not sent from 0.0.0.0 or ::; once the
// source appears (published by the resolver when the address is added), the connection's next
// packet leaves from it.
func TestTunnelNoSource(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := tunEnv(t)
		vip, src := vip4, tunSrc4
		if v6 {
			vip, src = vip6, tunSrc6
		}
		setTunnelSources(p, func(header.Addr) header.Addr { return header.Addr{} }, [2]netip.Addr{}, [2]netip.Addr{tunSrc4, tunSrc6})
		before := *p.c
		if v, _ := tunnelTo(t, p, vip, 40000, "S"); v != VerdictDrop {
			t.Fatalf("v6=%v: without a source: %s", v6, vname(v))
		}
		want := before
		want.rx++
		want.drops[DropNoTunnelSource]++
		// The connection was opened (the scheduler chose its real server) before the drop.
		got := *p.c
		got.svc, got.dest, got.active, got.inactive = before.svc, before.dest, before.active, before.inactive
		if d := counterDiff(&got, &want); len(d) > 0 {
			t.Errorf("v6=%v: counters: %v", v6, d)
		}
		setTunnelSources(p, sourceOnSubnet)
		v, out := tunnelTo(t, p, vip, 40000, "S") // the SYN again
		if v != VerdictTX {
			t.Fatalf("v6=%v: with a source: %s (%s)", v6, vname(v), nonZero(p.c))
		}
		if got := outerSource(t, out); got != src {
			t.Errorf("v6=%v: outer source %v, want %v", v6, got, src)
		}
	}
}

// TestTunnelSourceRemovedServer: a connection kept after its real server left the configuration
// (KeepRemovedConns) has no entry in the table of sources: its tunnels leave from the egress port's
// own address, or are dropped if the port has none.
func TestTunnelSourceRemovedServer(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		e := newTestEnv(t, 1024)
		p := e.p
		vip, rs, portAddr := vip4, rs4a, netip.MustParseAddr("198.18.1.9")
		if v6 {
			vip, rs, portAddr = vip6, rs6a, netip.MustParseAddr("2001:2:0:1::9")
		}
		svc := tunService(vip, rs)
		svc.Policy = KeepRemovedConns
		ids := applyServices(t, p, newIDs(), svc)
		setTunnelSources(p, sourceOnSubnet)
		if v, _ := tunnelTo(t, p, vip, 40000, "S"); v != VerdictTX {
			t.Fatalf("v6=%v: SYN: %s", v6, vname(v))
		}
		svc.RealServers = nil
		applyServices(t, p, ids, svc)
		setTunnelSources(p, sourceOnSubnet) // no real server: only the ports
		if v, _ := tunnelTo(t, p, vip, 40000, "A"); v != VerdictDrop || p.c.drops[DropNoTunnelSource] != 1 {
			t.Fatalf("v6=%v: port without an address: %s, no_tunnel_source=%d", v6, vname(v), p.c.drops[DropNoTunnelSource])
		}
		own := [2]netip.Addr{netip.MustParseAddr("198.18.1.8"), portAddr}
		if !v6 {
			own[0] = portAddr
		}
		setTunnelSources(p, sourceOnSubnet, [2]netip.Addr{}, own)
		v, out := tunnelTo(t, p, vip, 40000, "A")
		if v != VerdictTX {
			t.Fatalf("v6=%v: port address: %s (%s)", v6, vname(v), nonZero(p.c))
		}
		if got := outerSource(t, out); got != portAddr {
			t.Errorf("v6=%v: outer source %v, want the port's %v", v6, got, portAddr)
		}
	}
}

// withHeadroom places frame after 256 bytes of headroom, as AF_XDP delivers it.
func withHeadroom(frame []byte) ([]byte, int) {
	buf := make([]byte, 256+len(frame)+64)
	copy(buf[256:], frame)
	return buf, 256
}

func TestTunnelEncapsulation(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := tunEnv(t)
		c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
		rs, src := rs4a, tunSrc4
		if v6 {
			c.sip, c.dip, rs, src = cip6, vip6, rs6a, tunSrc6
		}
		in := syn(c).frame(t)
		buf, off := withHeadroom(in)
		v, port, noff, n := p.ProcessAt(buf, off, len(in), 0, t0)
		if v != VerdictTX || port != 1 {
			t.Fatalf("v6=%v: %s port %d", v6, vname(v), port)
		}
		out := buf[noff : noff+n]
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !bytes.Equal(eth.DstMAC, rs1MAC[:]) || !bytes.Equal(eth.SrcMAC, port1MAC[:]) {
			t.Fatalf("MACs %v → %v", eth.SrcMAC, eth.DstMAC)
		}
		var inner []byte
		if v6 {
			outer := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if outer.NextHeader != layers.IPProtocolIPv6 || outer.SrcIP.String() != src.String() || outer.DstIP.String() != rs.String() || outer.HopLimit != 64 {
				t.Fatalf("outer IPv6 %+v", outer)
			}
			inner = outer.Payload
		} else {
			outer := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if outer.Protocol != layers.IPProtocolIPv4 || outer.SrcIP.String() != src.String() || outer.DstIP.String() != rs.String() ||
				outer.TTL != 64 || int(outer.Length) != len(out)-14 || outer.Flags&layers.IPv4DontFragment == 0 {
				t.Fatalf("outer IPv4 %+v", outer)
			}
			checkFrameChecksums(t, out)
			inner = outer.Payload
		}
		if !bytes.Equal(inner, in[14:]) {
			t.Fatalf("inner packet changed:\n got %x\nwant %x", inner, in[14:])
		}
		if p.c.tunnelled != 1 {
			t.Fatalf("tunnelled = %d", p.c.tunnelled)
		}
		// Without headroom the packet is dropped, counted.
		if v, _ := p.Process(c.seg("A", 1001, 5001, 0).frame(t), 0, t0); v != VerdictDrop || p.c.drops[DropNoHeadroom] != 1 {
			t.Fatalf("no headroom: %s, no_headroom=%d", vname(v), p.c.drops[DropNoHeadroom])
		}
	}
}

// TestTunnelTooBig: a full-size DF packet does not fit the tunnel: the client gets a
// fragmentation-needed (packet-too-big) error with the MTU less the tunnel header, from the VIP,
// quoting its packet, out of the port it came in to the MAC it came from.
func TestTunnelTooBig(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := tunEnv(t)
		c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
		mtu, ipLen := 1480, 1500
		if v6 {
			c.sip, c.dip, mtu = cip6, vip6, 1460
		}
		first := syn(c).frame(t)
		fb, foff := withHeadroom(first)
		if v, _, _, _ := p.ProcessAt(fb, foff, len(first), 0, t0); v != VerdictTX {
			t.Fatalf("SYN: %s", vname(v))
		}
		big := c.seg("PA", 1001, 5001, ipLen-header.IPv4MinimumSize-header.TCPMinimumSize)
		if v6 {
			big = c.seg("PA", 1001, 5001, ipLen-header.IPv6MinimumSize-header.TCPMinimumSize)
		}
		in := big.frame(t)
		buf, off := withHeadroom(in)
		v, port, noff, n := p.ProcessAt(buf, off, len(in), 0, t0)
		if v != VerdictTX || port != 0 || p.c.drops[DropTooBig] != 1 || p.c.icmpSent != 1 {
			t.Fatalf("v6=%v: %s port %d too_big=%d icmp_sent=%d", v6, vname(v), port, p.c.drops[DropTooBig], p.c.icmpSent)
		}
		out := buf[noff : noff+n]
		pkt := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !bytes.Equal(eth.DstMAC, cliMAC[:]) || !bytes.Equal(eth.SrcMAC, port0MAC[:]) {
			t.Fatalf("MACs %v → %v", eth.SrcMAC, eth.DstMAC)
		}
		checkFrameChecksums(t, out)
		if v6 {
			ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			icmp := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			if ip.SrcIP.String() != vip6.String() || ip.DstIP.String() != cip6.String() || icmp.TypeCode.Type() != layers.ICMPv6TypePacketTooBig {
				t.Fatalf("ICMPv6 %v → %v type %v", ip.SrcIP, ip.DstIP, icmp.TypeCode)
			}
			raw := out[14+40:] // the ICMPv6 message: type, code, checksum, MTU, quote
			if got := binary.BigEndian.Uint32(raw[4:8]); int(got) != mtu {
				t.Fatalf("MTU %d, want %d", got, mtu)
			}
			if quote := raw[8:]; len(out) > 14+1280 || !bytes.Equal(quote, in[14:14+len(quote)]) {
				t.Fatalf("quote of %d bytes, frame %d", len(quote), len(out))
			}
		} else {
			ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			icmp := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if ip.SrcIP.String() != vip4.String() || ip.DstIP.String() != cip4.String() ||
				icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) {
				t.Fatalf("ICMP %v → %v type %v", ip.SrcIP, ip.DstIP, icmp.TypeCode)
			}
			if int(icmp.Seq) != mtu { // gopacket reads the MTU field as Seq
				t.Fatalf("MTU %d, want %d", icmp.Seq, mtu)
			}
			if len(out) > 14+576 || !bytes.Equal(icmp.Payload, in[14:14+len(icmp.Payload)]) {
				t.Fatalf("quote of %d bytes, frame %d", len(icmp.Payload), len(out))
			}
		}
	}
}

// TestTunnelZeroAllocs: a tunnelled packet, and one dropped for want of a source, allocate nothing.
func TestTunnelZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	p := tunEnv(t)
	c := pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: tcp, sport: 40000, dport: 80}
	if v, _ := tunnelTo(t, p, vip6, 40000, "S"); v != VerdictTX {
		t.Fatalf("SYN: %s", vname(v))
	}
	in := c.seg("PA", 1001, 5001, 100).frame(t)
	buf, off := withHeadroom(in)
	run := func(want Verdict) func() {
		return func() {
			copy(buf[off:], in)
			if v, _, _, _ := p.ProcessAt(buf, off, len(in), 0, t0); v != want {
				t.Fatalf("%s, want %s", vname(v), vname(want))
			}
		}
	}
	if n := testing.AllocsPerRun(1000, run(VerdictTX)); n != 0 {
		t.Errorf("tunnelled: %v allocations per packet", n)
	}
	setTunnelSources(p, func(header.Addr) header.Addr { return header.Addr{} })
	if n := testing.AllocsPerRun(1000, run(VerdictDrop)); n != 0 {
		t.Errorf("no_tunnel_source: %v allocations per packet", n)
	}
}
