package xsk

// Frame builders for the steering tests. Frames are built with gopacket;
// IPv6 extension headers are written by hand (ext below) because only
// their layout matters to the program.

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

func ip(s string) net.IP { return net.IP(netip.MustParseAddr(s).AsSlice()) }

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

// l4 returns the transport layer for proto ("tcp" or "udp") with the
// network layer set for checksums.
func l4(nl gopacket.NetworkLayer, proto string, sport, dport uint16) gopacket.SerializableLayer {
	if proto == "udp" {
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		_ = u.SetNetworkLayerForChecksum(nl)
		return u
	}
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Seq: 1, Window: 1024}
	_ = t.SetNetworkLayerForChecksum(nl)
	return t
}

func ipProto(proto string) layers.IPProtocol {
	if proto == "udp" {
		return layers.IPProtocolUDP
	}
	return layers.IPProtocolTCP
}

// ip4Packet is an IPv4 packet without Ethernet header.
func ip4Packet(tb testing.TB, proto, src string, sport uint16, dst string, dport uint16) []byte {
	tb.Helper()
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: ipProto(proto), SrcIP: ip(src), DstIP: ip(dst)}
	return serialize(tb, ip4, l4(ip4, proto, sport, dport), gopacket.Payload("payload!"))
}

func ip6Packet(tb testing.TB, proto, src string, sport uint16, dst string, dport uint16) []byte {
	tb.Helper()
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: ipProto(proto), SrcIP: ip(src), DstIP: ip(dst)}
	return serialize(tb, ip6, l4(ip6, proto, sport, dport), gopacket.Payload("payload!"))
}

func withEth(tb testing.TB, t layers.EthernetType, pkt []byte) []byte {
	tb.Helper()
	return serialize(tb, eth(t), gopacket.Payload(pkt))
}

func v4(tb testing.TB, proto, src string, sport uint16, dst string, dport uint16) []byte {
	tb.Helper()
	return withEth(tb, layers.EthernetTypeIPv4, ip4Packet(tb, proto, src, sport, dst, dport))
}

func v6(tb testing.TB, proto, src string, sport uint16, dst string, dport uint16) []byte {
	tb.Helper()
	return withEth(tb, layers.EthernetTypeIPv6, ip6Packet(tb, proto, src, sport, dst, dport))
}

// vlan wraps an IPv4 packet in the given tags, outermost first.
func vlan(tb testing.TB, tags []layers.EthernetType, inner layers.EthernetType, pkt []byte) []byte {
	tb.Helper()
	ls := []gopacket.SerializableLayer{eth(tags[0])}
	for i := range tags {
		next := inner
		if i+1 < len(tags) {
			next = tags[i+1]
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(100 + i), Type: next})
	}
	return serialize(tb, append(ls, gopacket.Payload(pkt))...)
}

// v4Options builds TCP/IPv4 with 12 bytes of IP options (IHL 8).
func v4Options(tb testing.TB, dst string, dport uint16) []byte {
	tb.Helper()
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: ip("198.18.0.100"), DstIP: ip(dst),
		Options: []layers.IPv4Option{
			{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}, // NOP
			{OptionType: 130, OptionLength: 8, OptionData: []byte{0, 0, 0, 0, 0, 0}}, // security
		}}
	f := serialize(tb, eth(layers.EthernetTypeIPv4), ip4, l4(ip4, "tcp", 12345, dport), gopacket.Payload("x"))
	if ihl := f[14] & 0x0f; ihl != 8 {
		tb.Fatalf("IHL %d, want 8", ihl)
	}
	return f
}

// v4Frag builds a UDP/IPv4 fragment with the given offset (in 8-byte
// units) and MF flag.
func v4Frag(tb testing.TB, dst string, dport uint16, offset uint16, mf bool) []byte {
	tb.Helper()
	return v4FragFrom(tb, "198.18.0.100", dst, dport, offset, mf)
}

// v4FragFrom is v4Frag from src.
func v4FragFrom(tb testing.TB, src, dst string, dport uint16, offset uint16, mf bool) []byte {
	tb.Helper()
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip(src), DstIP: ip(dst),
		Id: 7, FragOffset: offset}
	if mf {
		ip4.Flags = layers.IPv4MoreFragments
	}
	return serialize(tb, eth(layers.EthernetTypeIPv4), ip4, l4(ip4, "udp", 12345, dport), gopacket.Payload("fragment"))
}

// ext is a raw IPv6 extension header.
type ext struct {
	proto  uint8 // its own protocol number (0, 43, 44, 60, 51)
	offset uint16
	more   bool
}

// v6Ext builds an IPv6 packet to dst:dport (TCP) through the extension
// headers exts, in order.
func v6Ext(tb testing.TB, dst string, dport uint16, exts ...ext) []byte {
	tb.Helper()
	tcp := &layers.TCP{SrcPort: 12345, DstPort: layers.TCPPort(dport), SYN: true, Window: 1024}
	_ = tcp.SetNetworkLayerForChecksum(&layers.IPv6{SrcIP: ip("2001:2::100"), DstIP: ip(dst)})
	body := serialize(tb, tcp, gopacket.Payload("x"))
	var chain []byte
	for i, e := range exts {
		next := uint8(layers.IPProtocolTCP)
		if i+1 < len(exts) {
			next = exts[i+1].proto
		}
		switch e.proto {
		case 44: // fragment: 8 bytes
			h := make([]byte, 8)
			h[0] = next
			fo := e.offset << 3
			if e.more {
				fo |= 1
			}
			binary.BigEndian.PutUint16(h[2:], fo)
			binary.BigEndian.PutUint32(h[4:], 99)
			chain = append(chain, h...)
		case 51: // AH: (len+2)*4 bytes; 16 bytes -> len 2
			h := make([]byte, 16)
			h[0], h[1] = next, 2
			chain = append(chain, h...)
		default: // hop-by-hop, routing, destination: 16 bytes -> len 1
			h := make([]byte, 16)
			h[0], h[1] = next, 1
			if e.proto == 43 {
				h[2] = 0 // routing type 0, segments left 0
			} else {
				h[2], h[3] = 1, 12 // PadN covering the rest
			}
			chain = append(chain, h...)
		}
	}
	first := layers.IPProtocolTCP
	if len(exts) > 0 {
		first = layers.IPProtocol(exts[0].proto)
	}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: first, SrcIP: ip("2001:2::100"), DstIP: ip(dst)}
	return serialize(tb, eth(layers.EthernetTypeIPv6), ip6, gopacket.Payload(append(chain, body...)))
}

// icmp4Error builds an ICMPv4 error of type/code from src to dst quoting
// the IPv4 packet quoted (truncated to its IP header + 8 bytes).
func icmp4Error(tb testing.TB, typ, code uint8, src, dst string, quoted []byte) []byte {
	tb.Helper()
	ihl := int(quoted[0]&0x0f) * 4
	quoted = quoted[:min(len(quoted), ihl+8)]
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: ip(src), DstIP: ip(dst)}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	return serialize(tb, eth(layers.EthernetTypeIPv4), ip4, ic, gopacket.Payload(quoted))
}

// icmp6Error builds an ICMPv6 error quoting the IPv6 packet quoted.
func icmp6Error(tb testing.TB, typ, code uint8, src, dst string, quoted []byte) []byte {
	tb.Helper()
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: ip(src), DstIP: ip(dst)}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	_ = ic.SetNetworkLayerForChecksum(ip6)
	// 4 bytes of "unused"/MTU follow the ICMPv6 type/code/checksum.
	body := append([]byte{0, 0, 0x05, 0x00}, quoted...)
	return serialize(tb, eth(layers.EthernetTypeIPv6), ip6, ic, gopacket.Payload(body))
}

func icmp4Echo(tb testing.TB, dst string) []byte {
	tb.Helper()
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: ip("198.18.0.100"), DstIP: ip(dst)}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1}
	return serialize(tb, eth(layers.EthernetTypeIPv4), ip4, ic, gopacket.Payload("ping"))
}

func icmp6NS(tb testing.TB, target string) []byte {
	tb.Helper()
	ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: ip("2001:2::100"), DstIP: ip("ff02::1:ff00:1")}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	_ = ic.SetNetworkLayerForChecksum(ip6)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: ip(target)}
	return serialize(tb, eth(layers.EthernetTypeIPv6), ip6, ic, ns)
}

func arpRequest(tb testing.TB, target string) []byte {
	tb.Helper()
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ip("198.18.0.100").To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: ip(target).To4()}
	return serialize(tb, eth(layers.EthernetTypeARP), a)
}
