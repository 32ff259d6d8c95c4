package header

import (
	"bytes"
	"testing"
)

// FuzzParse: Parse never panics; ParseOK means every offset is in bounds and the views at them valid;
// ParseICMPError never panics and its offsets are in bounds. A rewrite of a parsed TCP/UDP packet keeps
// a valid transport checksum valid.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases(f) {
		f.Add(tc.frame)
	}
	for _, tc := range icmpErrorCases(f) {
		f.Add(tc.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Packet
		res := p.Parse(frame)
		if res >= NumParseResults {
			t.Fatalf("result %d out of range", res)
		}
		var fast, slow Packet
		if fast.parseFast(frame) {
			if r := slow.parseGeneric(frame); r != ParseOK || fast != slow {
				t.Fatalf("fast path %+v, generic %+v (%v)", fast, slow, r)
			}
		}
		if res != ParseOK {
			return
		}
		checkPacketInvariants(t, &p, frame)
		if inner, l3, l4, ok := p.ParseICMPError(frame); ok {
			checkICMPErrorInvariants(t, &p, frame, inner, l3, l4)
		}
		checkRewriteKeepsChecksum(t, &p, frame)
	})
}

// checkRewriteKeepsChecksum NATs a parsed TCP or UDP packet whose checksums are valid and checks they
// stay valid.
func checkRewriteKeepsChecksum(t *testing.T, p *Packet, frame []byte) {
	if p.Fragment || (p.Proto != ProtocolTCP && p.Proto != ProtocolUDP) {
		return
	}
	frame = append([]byte(nil), frame...)
	end := p.L3Offset + p.L3Length
	seg := frame[p.L4Offset:end]
	var src, dst []byte
	if p.IsIPv6 {
		ip := IPv6(frame[p.L3Offset:])
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := IPv4(frame[p.L3Offset:])
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	}
	pseudo := func() uint16 { return PseudoHeaderChecksum(p.Proto, src, dst, uint16(len(seg))) }
	newAddr := bytes.Repeat([]byte{0xa5}, len(src))
	if p.Proto == ProtocolTCP {
		tcp := TCP(seg)
		if !tcp.IsChecksumValid(pseudo()) {
			return
		}
		tcp.UpdateChecksumPseudoHeaderAddress(src, newAddr)
		copy(src, newAddr)
		tcp.SetDestinationPortWithChecksumUpdate(^tcp.DestinationPort())
		tcp.ClampMSSWithChecksumUpdate(536)
		if !tcp.IsChecksumValid(pseudo()) {
			t.Fatal("TCP checksum broken by rewrite")
		}
		return
	}
	u := UDP(seg)
	if int(u.Length()) != len(seg) || !u.IsChecksumValid(pseudo()) {
		return
	}
	none := u.Checksum() == 0
	u.UpdateChecksumPseudoHeaderAddress(dst, newAddr)
	copy(dst, newAddr)
	u.SetSourcePortWithChecksumUpdate(^u.SourcePort())
	if (u.Checksum() == 0) != none || !u.IsChecksumValid(pseudo()) {
		t.Fatal("UDP checksum broken by rewrite")
	}
}

// FuzzTCPOptions: the iterator never panics, returns options within the buffer in increasing order, and
// agrees with TCPOptionsValid and ParseTCPSynOptions; an MSS rewrite keeps the checksum valid.
func FuzzTCPOptions(f *testing.F) {
	f.Add(synTCP[20:])
	f.Add([]byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{254, 8, 0x1f, 0x90, 198, 18, 0, 1})
	f.Add([]byte{2, 0})
	f.Add([]byte{1, 2, 4, 5, 0xb4, 0})
	f.Fuzz(func(t *testing.T, opts []byte) {
		if len(opts) > TCPMaximumOptionsSize {
			opts = opts[:TCPMaximumOptionsSize]
		}
		it := NewTCPOptionIterator(opts)
		last := -1
		valid := true
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if o.Offset <= last || o.Offset+o.Length() > len(opts) || opts[o.Offset] != o.Kind || o.Length() < 2 {
				t.Fatalf("option %+v out of place", o)
			}
			last = o.Offset
			valid = valid && tcpOptionLengthOK(o.Kind, o.Length())
		}
		if TCPOptionsValid(opts) != (valid && !it.Malformed()) {
			t.Fatal("TCPOptionsValid disagrees with the iterator")
		}
		if _, ok := ParseTCPSynOptions(opts); ok == it.Malformed() {
			t.Fatal("ParseTCPSynOptions disagrees with the iterator")
		}
		// Put the options in a segment and rewrite the MSS.
		seg := TCP(append(append(append([]byte(nil), synTCP[:20]...), opts...), make([]byte, (4-len(opts)%4)%4)...))
		seg[12] = byte(len(seg)/4) << 4
		pseudo := PseudoHeaderChecksum(ProtocolTCP, testSrc4, testDst4, uint16(len(seg)))
		seg.FillChecksum(pseudo)
		_, had := seg.MSS()
		if _, ok := seg.SetMSSWithChecksumUpdate(1200); ok != had {
			t.Fatal("SetMSS and MSS disagree")
		}
		if !seg.IsChecksumValid(pseudo) {
			t.Fatal("checksum broken by MSS rewrite")
		}
		var buf [TCPSynOptionsMaxSize]byte
		if o, ok := ParseTCPSynOptions(opts); ok {
			n := EncodeTCPSynOptions(o, buf[:])
			if back, _ := ParseTCPSynOptions(buf[:n]); back != o {
				t.Fatalf("encode round trip %+v -> %+v", o, back)
			}
		}
	})
}

// FuzzICMPError mutates the quoted packet of ICMP errors: no panic, and ok means in-bounds offsets and a
// tuple whose addresses are the quoted header's.
func FuzzICMPError(f *testing.F) {
	for _, tc := range icmpErrorCases(f) {
		f.Add(tc.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Packet
		if p.Parse(frame) != ParseOK {
			return
		}
		inner, l3, l4, ok := p.ParseICMPError(frame)
		if !ok {
			if inner != (Tuple{}) || l3 != 0 || l4 != 0 {
				t.Fatal("not ok but results set")
			}
			return
		}
		checkICMPErrorInvariants(t, &p, frame, inner, l3, l4)
		if p.IsIPv6 {
			ip := IPv6(frame[l3:])
			if AddrFrom16(ip.SourceAddress()) != inner.SrcAddr || AddrFrom16(ip.DestinationAddress()) != inner.DstAddr {
				t.Fatal("inner addresses")
			}
		} else {
			ip := IPv4(frame[l3:])
			if AddrFrom4(ip.SourceAddress()) != inner.SrcAddr || l4 != l3+ip.HeaderLength() || inner.Proto != ip.Protocol() {
				t.Fatal("inner IPv4 header")
			}
		}
	})
}
