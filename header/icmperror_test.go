package header

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func frameICMP6Error(tb testing.TB, typ uint8, quote []byte) []byte {
	return mustSerialize(tb, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}, gopacket.Payload(append([]byte{0, 0, 0x05, 0x00}, quote...)))
}

type icmpErrorCase struct {
	name           string
	frame          []byte
	ok             bool
	inner          Tuple
	innerL3, l4Off int
}

// icmpErrorCases: ICMP errors quoting packets this side sent. Quotes start after the outer IP header and
// the 8-byte ICMP header: IPv4 at 14+20+8 = 42, IPv6 at 14+40+8 = 62.
func icmpErrorCases(tb testing.TB) []icmpErrorCase {
	tcp4 := frameTCP4(tb)
	udp4 := mustSerialize(tb, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1000, DstPort: 53}, gopacket.Payload("q"))
	echo4 := frameICMP4(tb, ICMPv4Echo, 0, []byte("ping"))
	udp6ext := frameUDP6Ext(tb)
	tcp6 := mustSerialize(tb, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcpSyn(40000, 443))
	frag4 := frameUDP4Frag(tb, 1480, false)
	quote4 := func(f []byte, n int) []byte { return f[14 : 14+n] }
	return []icmpErrorCase{
		// Fragmentation needed quoting the IP header and 8 bytes of TCP, the RFC 792 minimum.
		{"icmp4_frag_needed_tcp_min_quote", frameICMP4(tb, ICMPv4DstUnreachable, ICMPv4FragmentationNeeded, quote4(tcp4, 28)), true,
			tuple4(40000, 80, ProtocolTCP), 42, 62},
		// RFC 1812 routers quote as much as fits: the whole packet here.
		{"icmp4_time_exceeded_full_quote", frameICMP4(tb, ICMPv4TimeExceeded, 0, quote4(tcp4, len(tcp4)-14)), true,
			tuple4(40000, 80, ProtocolTCP), 42, 62},
		{"icmp4_port_unreachable_udp", frameICMP4(tb, ICMPv4DstUnreachable, ICMPv4PortUnreachable, quote4(udp4, 29)), true,
			tuple4(1000, 53, ProtocolUDP), 42, 62},
		{"icmp4_quoting_echo", frameICMP4(tb, ICMPv4TimeExceeded, 0, quote4(echo4, 28)), true,
			tuple4(0x0101, 0x0101, ProtocolICMP), 42, 62},
		{"icmp6_packet_too_big_ext_headers", frameICMP6Error(tb, ICMPv6PacketTooBig, udp6ext[14:]), true,
			tuple6(5353, 53, ProtocolUDP), 62, 62 + 56},
		{"icmp6_dst_unreachable_tcp_truncated", frameICMP6Error(tb, ICMPv6DstUnreachable, tcp6[14:14+48]), true,
			tuple6(40000, 443, ProtocolTCP), 62, 102},

		{"icmp4_echo_not_error", echo4, false, Tuple{}, 0, 0},
		{"udp_not_icmp", udp4, false, Tuple{}, 0, 0},
		{"icmp_quote_truncated_l4", frameICMP4(tb, ICMPv4DstUnreachable, 3, quote4(tcp4, 27)), false, Tuple{}, 0, 0},
		{"icmp_quote_truncated_ip", frameICMP4(tb, ICMPv4DstUnreachable, 3, quote4(tcp4, 19)), false, Tuple{}, 0, 0},
		{"icmp_quote_empty", frameICMP4(tb, ICMPv4DstUnreachable, 3, nil), false, Tuple{}, 0, 0},
		{"icmp_quote_ihl_too_small", frameICMP4(tb, ICMPv4DstUnreachable, 3, mut(quote4(tcp4, 28), func(b []byte) []byte { b[0] = 0x44; return b })), false, Tuple{}, 0, 0},
		{"icmp_quote_ihl_past_quote", frameICMP4(tb, ICMPv4DstUnreachable, 3, mut(quote4(tcp4, 28), func(b []byte) []byte { b[0] = 0x4f; return b })), false, Tuple{}, 0, 0},
		{"icmp4_quoting_ipv6", frameICMP4(tb, ICMPv4DstUnreachable, 3, tcp6[14:14+48]), false, Tuple{}, 0, 0},
		{"icmp6_quoting_ipv4", frameICMP6Error(tb, ICMPv6DstUnreachable, quote4(tcp4, 28)), false, Tuple{}, 0, 0},
		{"icmp_quoting_nonfirst_fragment", frameICMP4(tb, ICMPv4TimeExceeded, 1, quote4(frag4, 28)), false, Tuple{}, 0, 0},
		{"icmp_quoting_icmp_error", frameICMP4(tb, ICMPv4TimeExceeded, 0, quote4(frameICMP4(tb, ICMPv4DstUnreachable, 3, nil), 28)), false, Tuple{}, 0, 0},
		{"icmp6_quote_ext_truncated", frameICMP6Error(tb, ICMPv6DstUnreachable, udp6ext[14:14+44]), false, Tuple{}, 0, 0},
	}
}

func TestParseICMPError(t *testing.T) {
	for _, tc := range icmpErrorCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			if res := p.Parse(tc.frame); res != ParseOK {
				t.Fatalf("outer Parse = %v", res)
			}
			wantErr := tc.name != "icmp4_echo_not_error" && tc.name != "udp_not_icmp"
			if p.IsICMPError(tc.frame) != wantErr {
				t.Errorf("IsICMPError = %v", p.IsICMPError(tc.frame))
			}
			inner, l3, l4, ok := p.ParseICMPError(tc.frame)
			if ok != tc.ok || inner != tc.inner || l3 != tc.innerL3 || l4 != tc.l4Off {
				t.Errorf("ParseICMPError = (%+v, %d, %d, %v), want (%+v, %d, %d, %v)", inner, l3, l4, ok, tc.inner, tc.innerL3, tc.l4Off, tc.ok)
			}
			if ok {
				checkICMPErrorInvariants(t, &p, tc.frame, inner, l3, l4)
			}
		})
	}
}

// TestICMPErrorNATRoundTrip rewrites the quoted tuple in place (as the NAT path does for an error about
// a translated flow) and checks the ICMP checksum with gopacket's serializer.
func TestICMPErrorNATRoundTrip(t *testing.T) {
	tcp4 := frameTCP4(t)
	frame := frameICMP4(t, ICMPv4DstUnreachable, ICMPv4FragmentationNeeded, tcp4[14:14+28])
	var p Packet
	p.Parse(frame)
	_, l3, l4, ok := p.ParseICMPError(frame)
	if !ok {
		t.Fatal("not ok")
	}
	icmp := ICMPv4(frame[p.L4Offset : p.L3Offset+p.L3Length])
	inner := IPv4(frame[l3:])
	// The quoted IP header checksum and the ICMP checksum both change; the quoted TCP checksum is
	// (possibly) truncated away and is adjusted as the 16-bit word it is within the ICMP message.
	newSrc := []byte{203, 0, 113, 9}
	oldIPxsum := inner.Checksum()
	icmp.SetChecksum(ChecksumUpdateAddress(icmp.Checksum(), inner.SourceAddress(), newSrc))
	inner.SetSourceAddressWithChecksumUpdate(newSrc)
	icmp.SetChecksum(ChecksumUpdate16(icmp.Checksum(), oldIPxsum, inner.Checksum()))
	tcpq := TCP(frame[l4:])
	oldPort := tcpq.SourcePort()
	tcpq.SetSourcePort(2222)
	icmp.SetChecksum(ChecksumUpdate16(icmp.Checksum(), oldPort, 2222))
	if !icmp.IsChecksumValid() || !inner.IsChecksumValid() {
		t.Fatal("checksums wrong after rewrite")
	}
	var q Packet
	q.Parse(frame)
	if in, _, _, _ := q.ParseICMPError(frame); in.SrcAddr != AddrFrom4(newSrc) || in.SrcPort != 2222 {
		t.Errorf("reparsed inner tuple %+v", in)
	}
}

func checkICMPErrorInvariants(tb testing.TB, p *Packet, frame []byte, inner Tuple, l3, l4 int) {
	tb.Helper()
	end := p.L3Offset + p.L3Length
	if !(p.L4Offset+ICMPv4MinimumSize == l3 && l3 < l4 && l4+ICMPErrorQuoteMinimum <= end && end <= len(frame)) {
		tb.Fatalf("inner offsets out of bounds: L4 %d innerL3 %d innerL4 %d end %d", p.L4Offset, l3, l4, end)
	}
	if inner.Is4() == p.IsIPv6 {
		tb.Fatal("inner family differs from outer")
	}
}
