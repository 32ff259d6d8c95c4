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

// tunEnv is the golden topology with one TUN service on vip4:80 (IPv4) and vip6:80 (IPv6) whose
// real server is rs4a / rs6a, and port 1 (toward the servers) with own addresses and MTU 1500.
func tunEnv(t *testing.T) *Pipeline {
	e := newTestEnv(t, 1024)
	p := e.p
	p.ports = append([]Port(nil), p.ports...)
	p.ports[1].Addr4 = header.AddrFromNetip(netip.MustParseAddr("198.18.1.1"))
	p.ports[1].Addr6 = header.AddrFromNetip(netip.MustParseAddr("2001:2:0:1::1"))
	p.ports[1].MTU = 1500
	svc := func(vip, rs netip.Addr) Service {
		return Service{Key: ServiceKey{Proto: tcp, Addr: vip, Port: 80}, Scheduler: "rr",
			RealServers: []RealServer{{Addr: rs, Port: 80, Forward: ForwardTunnel, Weight: 1}}}
	}
	applyServices(t, p, newIDs(), svc(vip4, rs4a), svc(vip6, rs6a))
	return p
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
		rs, src := rs4a, netip.MustParseAddr("198.18.1.1")
		if v6 {
			c.sip, c.dip, rs, src = cip6, vip6, rs6a, netip.MustParseAddr("2001:2:0:1::1")
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
