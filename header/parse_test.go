package header

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frames for the parser tests. Regenerate by running the builders: every frame is built with gopacket
// (helpers_test.go) and the hostile ones are derived by mutating a byte or two, named after the fault.

var (
	tuple4 = func(sport, dport uint16, proto uint8) Tuple {
		return Tuple{SrcAddr: AddrFrom4(testSrc4.To4()), DstAddr: AddrFrom4(testDst4.To4()), SrcPort: sport, DstPort: dport, Proto: proto}
	}
	tuple6 = func(sport, dport uint16, proto uint8) Tuple {
		return Tuple{SrcAddr: AddrFrom16(testSrc6), DstAddr: AddrFrom16(testDst6), SrcPort: sport, DstPort: dport, Proto: proto}
	}
)

// mut returns a copy of frame changed by f.
func mut(frame []byte, f func(b []byte) []byte) []byte { return f(append([]byte(nil), frame...)) }

func pad(b []byte, n int) []byte { return append(b, make([]byte, n)...) }

func frameVLAN(tb testing.TB, outer layers.EthernetType, ids ...uint16) []byte {
	ls := []gopacket.SerializableLayer{eth(outer)}
	for i, id := range ids {
		next := layers.EthernetTypeDot1Q
		if i == len(ids)-1 {
			next = layers.EthernetTypeIPv4
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Priority: 5, Type: next})
	}
	ls = append(ls, ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1000, DstPort: 53}, gopacket.Payload("q"))
	return mustSerialize(tb, ls...)
}

func frameUDP4Frag(tb testing.TB, offset uint16, more bool) []byte {
	l := ip4(layers.IPProtocolUDP)
	l.Flags, l.FragOffset = 0, offset/8
	if more {
		l.Flags = layers.IPv4MoreFragments
	}
	if offset != 0 {
		return mustSerialize(tb, eth(layers.EthernetTypeIPv4), l, gopacket.Payload("fragment data, not a header"))
	}
	// A first fragment: the UDP length covers the whole datagram (1000 bytes), more than this fragment.
	f := mustSerialize(tb, eth(layers.EthernetTypeIPv4), l, &layers.UDP{SrcPort: 7, DstPort: 9}, gopacket.Payload("0123456789abcdef"))
	binary.BigEndian.PutUint16(f[34+4:], 1000)
	return f
}

func frameIPv6Frag(tb testing.TB, offset uint16) []byte {
	fr := &layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: offset / 8, MoreFragments: offset == 0, Identification: 0xabcd}
	if offset != 0 {
		return mustSerialize(tb, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fr, gopacket.Payload("more data"))
	}
	return mustSerialize(tb, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fr, tcpSyn(40000, 443))
}

func frameUDP6Ext(tb testing.TB) []byte {
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}} // PadN
	dst := &layers.IPv6Destination{}
	dst.NextHeader = layers.IPProtocolUDP
	dst.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	return mustSerialize(tb, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), hbh, dst,
		&layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("query"))
}

func frameICMP4(tb testing.TB, typ, code uint8, payload []byte) []byte {
	return mustSerialize(tb, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: 0x0101, Seq: 2}, gopacket.Payload(payload))
}

func frameICMP6Echo(tb testing.TB) []byte {
	return mustSerialize(tb, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6EchoRequest, 0)}, &layers.ICMPv6Echo{Identifier: 0x0202, SeqNumber: 3})
}

func frameIPv4Options(tb testing.TB) []byte {
	l := ip4(layers.IPProtocolTCP)
	l.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	return mustSerialize(tb, eth(layers.EthernetTypeIPv4), l, &layers.TCP{SrcPort: 1, DstPort: 2, ACK: true})
}

type parseCase struct {
	name  string
	frame []byte
	res   ParseResult
	want  *Packet // checked field by field when non-nil
}

// parseCases returns the parser fixtures. Offsets: Ethernet 14, tag 4, IPv4 20, IPv6 40.
func parseCases(tb testing.TB) []parseCase {
	tcp4 := frameTCP4(tb) // 14 + 20 + TCP 40 (20 options) + 5 payload
	udp6 := frameUDP6(tb) // 14 + 40 + 8 + 5
	vlan := frameVLAN(tb, layers.EthernetTypeDot1Q, 100)
	arp := mustSerialize(tb, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: testSrcMAC, SourceProtAddress: testSrc4.To4(),
		DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: testDst4.To4()})
	udp4 := mustSerialize(tb, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1000, DstPort: 53}, gopacket.Payload("q"))
	icmpErr := frameICMP4(tb, ICMPv4DstUnreachable, ICMPv4FragmentationNeeded, tcp4[14:14+28])

	extLoop := IPv6(mkIPv6(IPv6DestOptions))
	for range 12 {
		extLoop = append(extLoop, ext(IPv6DestOptions)...)
	}
	extLoop.SetPayloadLength(uint16(len(extLoop) - 40))

	return []parseCase{
		{"tcp4_syn", tcp4, ParseOK, &Packet{L3Offset: 14, L4Offset: 34, PayloadOffset: 74, L3Length: 65, EtherType: EtherTypeIPv4,
			Proto: ProtocolTCP, TCPFlags: TCPFlagSyn, Tuple: tuple4(40000, 80, ProtocolTCP)}},
		// Ethernet minimum-size padding and trailing bytes after the IP packet are not part of it.
		{"tcp4_trailing_padding", pad(tcp4, 30), ParseOK, &Packet{L3Offset: 14, L4Offset: 34, PayloadOffset: 74, L3Length: 65,
			EtherType: EtherTypeIPv4, Proto: ProtocolTCP, TCPFlags: TCPFlagSyn, Tuple: tuple4(40000, 80, ProtocolTCP)}},
		{"udp4_padded_to_60", pad(udp4, 60-len(udp4)), ParseOK, &Packet{L3Offset: 14, L4Offset: 34, PayloadOffset: 42, L3Length: 29,
			EtherType: EtherTypeIPv4, Proto: ProtocolUDP, Tuple: tuple4(1000, 53, ProtocolUDP)}},
		{"ipv4_options", frameIPv4Options(tb), ParseOK, &Packet{L3Offset: 14, L4Offset: 42, PayloadOffset: 62, L3Length: 48,
			EtherType: EtherTypeIPv4, Proto: ProtocolTCP, TCPFlags: TCPFlagAck, Tuple: tuple4(1, 2, ProtocolTCP)}},
		{"udp6", udp6, ParseOK, &Packet{L3Offset: 14, L4Offset: 54, PayloadOffset: 62, L3Length: 53, EtherType: EtherTypeIPv6,
			IsIPv6: true, Proto: ProtocolUDP, Tuple: tuple6(5353, 53, ProtocolUDP)}},
		{"udp6_ext_headers", frameUDP6Ext(tb), ParseOK, &Packet{L3Offset: 14, L4Offset: 70, PayloadOffset: 78, L3Length: 69,
			EtherType: EtherTypeIPv6, IsIPv6: true, Proto: ProtocolUDP, Tuple: tuple6(5353, 53, ProtocolUDP)}},
		{"vlan_udp4", vlan, ParseOK, &Packet{L3Offset: 18, L4Offset: 38, PayloadOffset: 46, L3Length: 29, EtherType: EtherTypeIPv4,
			VLANID: 100, HasVLAN: true, VLANCount: 1, Proto: ProtocolUDP, Tuple: tuple4(1000, 53, ProtocolUDP)}},
		{"qinq_udp4", frameVLAN(tb, layers.EthernetTypeQinQ, 200, 300), ParseOK, &Packet{L3Offset: 22, L4Offset: 42, PayloadOffset: 50,
			L3Length: 29, EtherType: EtherTypeIPv4, VLANID: 200, InnerVLANID: 300, HasVLAN: true, VLANCount: 2, Proto: ProtocolUDP,
			Tuple: tuple4(1000, 53, ProtocolUDP)}},
		{"icmp4_echo", frameICMP4(tb, ICMPv4Echo, 0, []byte("ping")), ParseOK, &Packet{L3Offset: 14, L4Offset: 34, PayloadOffset: 42,
			L3Length: 32, EtherType: EtherTypeIPv4, Proto: ProtocolICMP, Tuple: tuple4(0x0101, 0x0101, ProtocolICMP)}},
		{"icmp4_frag_needed", icmpErr, ParseOK, &Packet{L3Offset: 14, L4Offset: 34, PayloadOffset: 42,
			L3Length: 56, EtherType: EtherTypeIPv4, Proto: ProtocolICMP, Tuple: tuple4(0, 0, ProtocolICMP)}},
		{"icmp6_echo", frameICMP6Echo(tb), ParseOK, &Packet{L3Offset: 14, L4Offset: 54, PayloadOffset: 62,
			L3Length: 48, EtherType: EtherTypeIPv6, IsIPv6: true, Proto: ProtocolICMPv6, Tuple: tuple6(0x0202, 0x0202, ProtocolICMPv6)}},
		// First fragment: the L4 header is there, the UDP length (1000) exceeds the fragment.
		{"ipv4_first_fragment", frameUDP4Frag(tb, 0, true), ParseOK, &Packet{L3Offset: 14, L4Offset: 34, PayloadOffset: 42, L3Length: 44,
			EtherType: EtherTypeIPv4, Proto: ProtocolUDP, Fragment: true, Tuple: tuple4(7, 9, ProtocolUDP)}},
		{"ipv4_nonfirst_fragment", frameUDP4Frag(tb, 1480, false), ParseOK, &Packet{L3Offset: 14, L4Offset: 34, PayloadOffset: 34,
			L3Length: 47, EtherType: EtherTypeIPv4, Proto: ProtocolUDP, Fragment: true, FragmentOffset: 1480, Tuple: tuple4(0, 0, ProtocolUDP)}},
		{"ipv6_first_fragment", frameIPv6Frag(tb, 0), ParseOK, &Packet{L3Offset: 14, L4Offset: 62, PayloadOffset: 102, L3Length: 88,
			EtherType: EtherTypeIPv6, IsIPv6: true, Proto: ProtocolTCP, TCPFlags: TCPFlagSyn, Fragment: true, Tuple: tuple6(40000, 443, ProtocolTCP)}},
		{"ipv6_nonfirst_fragment", frameIPv6Frag(tb, 2048), ParseOK, &Packet{L3Offset: 14, L4Offset: 62, PayloadOffset: 62, L3Length: 57,
			EtherType: EtherTypeIPv6, IsIPv6: true, Proto: ProtocolTCP, Fragment: true, FragmentOffset: 2048, Tuple: tuple6(0, 0, ProtocolTCP)}},
		{"gre4_opaque", mut(udp4, func(b []byte) []byte { b[23] = ProtocolGRE; return b }), ParseOK, &Packet{L3Offset: 14, L4Offset: 34,
			PayloadOffset: 34, L3Length: 29, EtherType: EtherTypeIPv4, Proto: ProtocolGRE, Tuple: tuple4(0, 0, ProtocolGRE)}},
		{"ipv6_no_next_header", append(frame6Prefix(tb), mkIPv6(IPv6NoNextHeader)...), ParseOK, &Packet{L3Offset: 14, L4Offset: 54,
			PayloadOffset: 54, L3Length: 40, EtherType: EtherTypeIPv6, IsIPv6: true, Proto: IPv6NoNextHeader, Tuple: tuple6(0, 0, IPv6NoNextHeader)}},

		// Hostile frames.
		{"too_short", tcp4[:13], ParseTooShort, nil},
		{"empty", nil, ParseTooShort, nil},
		{"vlan_truncated", vlan[:16], ParseBadVLAN, nil},
		{"vlan_three_tags", frameVLAN(tb, layers.EthernetTypeQinQ, 1, 2, 3), ParseBadVLAN, nil},
		{"arp", arp, ParseNotIP, &Packet{L3Offset: 14, EtherType: EtherTypeARP}},
		{"ipv4_truncated", tcp4[:14+19], ParseBadIPv4Header, nil},
		{"ipv4_version_6", mut(tcp4, func(b []byte) []byte { b[14] = 0x65; return b }), ParseBadIPv4Header, nil},
		{"ipv4_ihl_too_small", mut(tcp4, func(b []byte) []byte { b[14] = 0x44; return b }), ParseBadIPv4Header, nil},
		{"ipv4_ihl_past_frame", mut(udp4, func(b []byte) []byte { b[14] = 0x4f; return b }), ParseBadIPv4Header, nil},
		{"ipv4_total_length_past_frame", tcp4[:len(tcp4)-1], ParseBadLength, nil},
		{"ipv4_total_length_below_ihl", mut(tcp4, func(b []byte) []byte { b[16], b[17] = 0, 19; return b }), ParseBadLength, nil},
		{"ipv4_total_length_zero_tso", mut(tcp4, func(b []byte) []byte { b[16], b[17] = 0, 0; return b }), ParseBadLength, nil},
		{"ipv6_truncated", udp6[:14+39], ParseBadIPv6Header, nil},
		{"ipv6_version_4", mut(udp6, func(b []byte) []byte { b[14] = 0x40; return b }), ParseBadIPv6Header, nil},
		{"ipv6_payload_length_past_frame", udp6[:len(udp6)-1], ParseBadLength, nil},
		{"ipv6_ext_loop", append(frame6Prefix(tb), extLoop...), ParseExtHeaderChain, nil},
		{"ipv6_ext_truncated", mut(frameUDP6Ext(tb), func(b []byte) []byte { b[14+41] = 200; return b }), ParseExtHeaderChain, nil},
		{"tcp_truncated", mut(tcp4, func(b []byte) []byte { b[17] = 20 + 19; return b[:14+39] }), ParseBadTCPHeader, nil},
		{"tcp_doff_too_small", mut(tcp4, func(b []byte) []byte { b[34+12] = 0x40; return b }), ParseBadTCPHeader, nil},
		{"tcp_doff_overrun", mut(tcp4, func(b []byte) []byte { b[34+12] = 0xf0; return b }), ParseBadTCPHeader, nil},
		// The data offset reaches into the Ethernet padding, past the IP total length.
		{"tcp_doff_into_padding", mut(pad(tcp4, 40), func(b []byte) []byte { b[34+12] = 0xf0; return b }), ParseBadTCPHeader, nil},
		// RFC 1858 tiny fragment: a first fragment too short for the TCP header.
		{"ipv4_fragtooshort", mut(tcp4, func(b []byte) []byte {
			b[20] = 0x20 // MF
			b[17] = 20 + 16
			return b[:14+36]
		}), ParseBadTCPHeader, nil},
		{"udp_truncated", mut(udp4, func(b []byte) []byte { b[17] = 20 + 7; return b[:14+27] }), ParseBadUDPHeader, nil},
		{"udp_length_too_small", mut(udp4, func(b []byte) []byte { b[34+5] = 7; return b }), ParseBadUDPHeader, nil},
		{"udp_length_past_ip", mut(udp4, func(b []byte) []byte { b[34+5] = 10; return b }), ParseBadUDPHeader, nil},
		{"udp6_zero_checksum", mut(udp6, func(b []byte) []byte { b[54+6], b[54+7] = 0, 0; return b }), ParseUDPv6ZeroChecksum, nil},
		{"icmp_truncated", mut(frameICMP4(tb, ICMPv4Echo, 0, nil), func(b []byte) []byte { b[17] = 20 + 7; return b[:14+27] }), ParseBadICMP, nil},
	}
}

// frame6Prefix is an Ethernet header for IPv6.
func frame6Prefix(tb testing.TB) []byte {
	return frameUDP6(tb)[:EthernetMinimumSize:EthernetMinimumSize]
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			res := p.Parse(tc.frame)
			if res != tc.res {
				t.Fatalf("Parse = %v, want %v (packet %+v)", res, tc.res, p)
			}
			if tc.want != nil && p != *tc.want {
				t.Errorf("Parse filled\n%+v\nwant\n%+v", p, *tc.want)
			}
			if res == ParseOK {
				checkPacketInvariants(t, &p, tc.frame)
				crossCheckGopacket(t, &p, tc.frame)
			}
		})
	}
}

// checkPacketInvariants asserts what ParseOK promises: offsets ordered and in bounds, and the views at
// them valid.
func checkPacketInvariants(tb testing.TB, p *Packet, frame []byte) {
	tb.Helper()
	end := p.L3Offset + p.L3Length
	if !(EthernetMinimumSize <= p.L3Offset && p.L3Offset < p.L4Offset && p.L4Offset <= p.PayloadOffset && p.PayloadOffset <= end && end <= len(frame)) {
		tb.Fatalf("offsets out of order: L3 %d L4 %d payload %d end %d len %d", p.L3Offset, p.L4Offset, p.PayloadOffset, end, len(frame))
	}
	if p.L3Offset != EthernetMinimumSize+int(p.VLANCount)*VLANTagSize || p.HasVLAN != (p.VLANCount > 0) {
		tb.Fatalf("VLAN fields inconsistent: %+v", p)
	}
	if p.IsIPv6 {
		if p.EtherType != EtherTypeIPv6 || !IPv6(frame[p.L3Offset:]).IsValid(len(frame)-p.L3Offset) || p.Tuple.Is4() {
			tb.Fatal("IPv6 layer inconsistent")
		}
	} else {
		ip := IPv4(frame[p.L3Offset:])
		if p.EtherType != EtherTypeIPv4 || !ip.IsValid(len(frame)-p.L3Offset) || int(ip.TotalLength()) != p.L3Length ||
			p.L4Offset != p.L3Offset+ip.HeaderLength() || !p.Tuple.Is4() || p.Proto != ip.Protocol() {
			tb.Fatal("IPv4 layer inconsistent")
		}
	}
	if p.Tuple.Proto != p.Proto || p.NonFirstFragment() && (!p.Fragment || p.Tuple.SrcPort != 0 || p.Tuple.DstPort != 0 || p.PayloadOffset != p.L4Offset) {
		tb.Fatalf("tuple/fragment inconsistent: %+v", p)
	}
	if p.TCPFlags != 0 && (p.Proto != ProtocolTCP || p.NonFirstFragment()) {
		tb.Fatalf("TCP flags %#x without a TCP header", p.TCPFlags)
	}
	if p.NonFirstFragment() {
		return
	}
	seg := frame[p.L4Offset:end]
	switch p.Proto {
	case ProtocolTCP:
		if !TCP(seg).IsValid(len(seg)) || p.PayloadOffset != p.L4Offset+TCP(seg).DataOffset() || TCP(seg).SourcePort() != p.Tuple.SrcPort ||
			TCP(seg).Flags() != p.TCPFlags {
			tb.Fatal("TCP inconsistent")
		}
	case ProtocolUDP:
		if len(seg) < UDPMinimumSize || p.PayloadOffset != p.L4Offset+UDPMinimumSize || UDP(seg).DestinationPort() != p.Tuple.DstPort ||
			(!p.Fragment && !UDP(seg).IsValid(len(seg))) {
			tb.Fatal("UDP inconsistent")
		}
	}
}

// crossCheckGopacket decodes the frame with gopacket and compares addresses, ports and the L4 offset.
func crossCheckGopacket(tb testing.TB, p *Packet, frame []byte) {
	tb.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	nl := pkt.NetworkLayer()
	if nl == nil {
		tb.Fatal("gopacket found no network layer")
	}
	src, dst := nl.NetworkFlow().Endpoints()
	if AddrFrom16(net.IP(src.Raw()).To16()) != p.Tuple.SrcAddr || AddrFrom16(net.IP(dst.Raw()).To16()) != p.Tuple.DstAddr {
		tb.Errorf("gopacket addresses %v -> %v, ours %v -> %v", src, dst, p.Tuple.SrcAddr, p.Tuple.DstAddr)
	}
	var sport, dport uint16
	var contents []byte
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		sport, dport, contents = uint16(l.SrcPort), uint16(l.DstPort), l.Contents
	case *layers.UDP:
		sport, dport, contents = uint16(l.SrcPort), uint16(l.DstPort), l.Contents
	default:
		return
	}
	if p.NonFirstFragment() {
		tb.Fatal("gopacket found a transport header in a non-first fragment")
	}
	if sport != p.Tuple.SrcPort || dport != p.Tuple.DstPort || &contents[0] != &frame[p.L4Offset] || len(contents) != p.PayloadOffset-p.L4Offset {
		tb.Errorf("gopacket transport %d -> %d at a different place", sport, dport)
	}
}

func TestParseResultString(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumParseResults {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("ParseResult(%d).String() = %q", r, s)
		}
		seen[s] = true
	}
	if got := ParseResult(200).String(); got != "ParseResult(200)" {
		t.Errorf("String = %q", got)
	}
}

func TestParseAllocs(t *testing.T) {
	cases := parseCases(t)
	var p Packet
	if n := testing.AllocsPerRun(100, func() {
		for i := range cases {
			p.Parse(cases[i].frame)
			p.ParseICMPError(cases[i].frame)
		}
	}); n != 0 {
		t.Errorf("Parse allocs = %v, want 0", n)
	}
}

// TestRewriteAllocs: every rewrite helper runs without allocating.
func TestRewriteAllocs(t *testing.T) {
	frame := frameTCP4(t)
	ip := IPv4(frame[14:])
	tcp := TCP(frame[34:])
	u := UDP(frameUDP6(t)[54:])
	ic := ICMPv4(frameICMP4(t, 8, 0, nil)[34:])
	ic6 := ICMPv6(frameICMP6Echo(t)[54:])
	a4, b4 := []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}
	a16, b16 := make([]byte, 16), make([]byte, 16)
	ext6 := IPv6(frameUDP6Ext(t)[14:])
	var sink int
	if n := testing.AllocsPerRun(100, func() {
		ip.SetSourceAddressWithChecksumUpdate(a4)
		ip.SetDestinationAddressWithChecksumUpdate(b4)
		ip.DecTTLWithChecksumUpdate()
		ip.SetTTLWithChecksumUpdate(64)
		ip.FillChecksum()
		tcp.UpdateChecksumPseudoHeaderAddress(a4, b4)
		tcp.SetSourcePortWithChecksumUpdate(1)
		tcp.SetDestinationPortWithChecksumUpdate(2)
		tcp.SetSequenceNumberWithChecksumUpdate(3)
		tcp.SetAckNumberWithChecksumUpdate(4)
		tcp.ClampMSSWithChecksumUpdate(1400)
		tcp.SetMSSWithChecksumUpdate(1460)
		if _, ok := ParseTCPSynOptions(tcp.Options()); ok && TCPOptionsValid(tcp.Options()) {
			sink++
		}
		u.UpdateChecksumPseudoHeaderAddress(a16, b16)
		u.SetSourcePortWithChecksumUpdate(1)
		u.SetDestinationPortWithChecksumUpdate(2)
		ic.SetIdentWithChecksumUpdate(3)
		ic6.SetIdentWithChecksumUpdate(3)
		ic6.UpdateChecksumPseudoHeaderAddress(a16, b16)
		if _, _, _, ok := ext6.TransportProtocol(IPv6DefaultMaxExtHeaders); ok {
			sink++
		}
	}); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
	_ = sink
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name  string
		frame []byte
	}{
		{"TCPv4", frameTCP4(b)},
		{"UDPv6", frameUDP6(b)},
		{"UDPv6Ext", frameUDP6Ext(b)},
		{"QinQ", frameVLAN(b, layers.EthernetTypeQinQ, 1, 2)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var p Packet
			for b.Loop() {
				if p.Parse(bc.frame) != ParseOK {
					b.Fatal("parse failed")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}
}

func BenchmarkNATRewriteTCPv4(b *testing.B) {
	frame := frameTCP4(b)
	newSrc, newDst := []byte{192, 0, 2, 1}, []byte{198, 51, 100, 1}
	b.ReportAllocs()
	var p Packet
	for b.Loop() {
		p.Parse(frame)
		ip := IPv4(frame[p.L3Offset:])
		tcp := TCP(frame[p.L4Offset:])
		tcp.UpdateChecksumPseudoHeaderAddress(ip.SourceAddress(), newSrc)
		tcp.UpdateChecksumPseudoHeaderAddress(ip.DestinationAddress(), newDst)
		ip.SetSourceAddressWithChecksumUpdate(newSrc)
		ip.SetDestinationAddressWithChecksumUpdate(newDst)
		tcp.SetSourcePortWithChecksumUpdate(1025)
		tcp.SetDestinationPortWithChecksumUpdate(8080)
		newSrc, newDst = newDst, newSrc
	}
}
