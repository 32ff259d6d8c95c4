package header

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// mkIPv6 returns a fixed IPv6 header (2001:db8::1 -> 2001:db8::2, hop limit 64) with next header nh,
// followed by payload, whose length it records.
func mkIPv6(nh uint8, payload ...byte) IPv6 {
	b := make(IPv6, IPv6MinimumSize, IPv6MinimumSize+len(payload))
	b[0] = 0x60
	b[6], b[7] = nh, 64
	copy(b[8:], testSrc6.To16())
	copy(b[24:], testDst6.To16())
	b = append(b, payload...)
	b.SetPayloadLength(uint16(len(payload)))
	return b
}

// ext returns an 8-byte extension header (hop-by-hop, routing or destination options: length 0) with
// next header nh and PadN filling.
func ext(nh uint8) []byte { return []byte{nh, 0, 1, 4, 0, 0, 0, 0} }

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

var tcp20 = []byte{0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}

func TestIPv6Accessors(t *testing.T) {
	b := mkIPv6(ProtocolTCP, tcp20...)
	b[1] = 0xb1 // traffic class 0x0b, flow label 0x1xxxx
	b[2], b[3] = 0x23, 0x45
	if !b.IsValid(len(b)) || b.Version() != 6 || b.TrafficClass() != 0x0b || b.FlowLabel() != 0x12345 ||
		b.PayloadLength() != 20 || b.NextHeader() != ProtocolTCP || b.HopLimit() != 64 ||
		!bytes.Equal(b.SourceAddress(), testSrc6) || !bytes.Equal(b.DestinationAddress(), testDst6) || len(b.Payload()) != 20 {
		t.Fatalf("accessors misread % x", b)
	}
	b.SetHopLimit(3)
	b.SetSourceAddress(testDst6)
	b.SetDestinationAddress(testSrc6)
	if b.HopLimit() != 3 || !bytes.Equal(b.SourceAddress(), testDst6) || !bytes.Equal(b.DestinationAddress(), testSrc6) {
		t.Error("setters")
	}
	for _, tt := range []struct {
		name   string
		b      IPv6
		pktLen int
		want   bool
	}{
		{"ok", b, len(b), true},
		{"ipv6_too_short", b[:39], 39, false},
		{"ipv6_payload_past_packet", b, len(b) - 1, false},
		{"ipv6_payload_past_slice", b[:50], 60, false},
		{"ipv6_version_4", append(IPv6{0x40}, b[1:]...), len(b), false},
	} {
		if got := tt.b.IsValid(tt.pktLen); got != tt.want {
			t.Errorf("%s: IsValid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIPv6TransportProtocol(t *testing.T) {
	frag := func(nh uint8, offset uint16, more bool) []byte {
		fo := offset
		if more {
			fo |= 1
		}
		return []byte{nh, 0, byte(fo >> 8), byte(fo), 0xde, 0xad, 0xbe, 0xef}
	}
	many := mkIPv6(IPv6DestOptions)
	for range 9 {
		many = append(many, ext(IPv6DestOptions)...)
	}
	many = append(many, ext(ProtocolTCP)...)
	many = append(many, tcp20...)
	many.SetPayloadLength(uint16(len(many) - IPv6MinimumSize))

	tests := []struct {
		name      string
		b         IPv6
		wantProto uint8
		wantOff   int
		wantFrag  IPv6FragmentInfo
		wantOK    bool
	}{
		{"no_ext", mkIPv6(ProtocolTCP, tcp20...), ProtocolTCP, 40, IPv6FragmentInfo{}, true},
		{"hop_by_hop", mkIPv6(IPv6HopByHop, cat(ext(ProtocolUDP), make([]byte, 8))...), ProtocolUDP, 48, IPv6FragmentInfo{}, true},
		{"hbh_routing_destopts", mkIPv6(IPv6HopByHop, cat(ext(IPv6Routing), ext(IPv6DestOptions), ext(ProtocolTCP), tcp20)...), ProtocolTCP, 64, IPv6FragmentInfo{}, true},
		// Routing header with hdr ext len 2: (2+1)*8 = 24 bytes.
		{"routing_len_2", mkIPv6(IPv6Routing, cat([]byte{ProtocolTCP, 2}, make([]byte, 22), tcp20)...), ProtocolTCP, 64, IPv6FragmentInfo{}, true},
		// AH with payload len 4: (4+2)*4 = 24 bytes.
		{"ah", mkIPv6(IPv6AH, cat([]byte{ProtocolTCP, 4}, make([]byte, 22), tcp20)...), ProtocolTCP, 64, IPv6FragmentInfo{}, true},
		{"first_fragment", mkIPv6(IPv6Fragment, cat(frag(ProtocolUDP, 0, true), make([]byte, 8))...), ProtocolUDP, 48,
			IPv6FragmentInfo{Present: true, More: true, ID: 0xdeadbeef, DataOffset: 48}, true},
		{"first_fragment_then_destopts", mkIPv6(IPv6Fragment, cat(frag(IPv6DestOptions, 0, true), ext(ProtocolTCP), tcp20)...), ProtocolTCP, 56,
			IPv6FragmentInfo{Present: true, More: true, ID: 0xdeadbeef, DataOffset: 48}, true},
		// A non-first fragment: the chain stops at the fragment header, whatever the data looks like.
		{"nonfirst_fragment", mkIPv6(IPv6Fragment, cat(frag(IPv6DestOptions, 1448, false), []byte{0xff, 0xff})...), IPv6DestOptions, 48,
			IPv6FragmentInfo{Present: true, Offset: 1448, ID: 0xdeadbeef, DataOffset: 48}, true},
		{"no_next_header", mkIPv6(IPv6DestOptions, ext(IPv6NoNextHeader)...), IPv6NoNextHeader, 48, IPv6FragmentInfo{}, true},
		{"esp_opaque", mkIPv6(ProtocolESP, 1, 2, 3, 4, 5, 6, 7, 8), ProtocolESP, 40, IPv6FragmentInfo{}, true},
		{"ipv6_ext_loop", many, IPv6DestOptions, 104, IPv6FragmentInfo{}, false},
		{"ipv6_ext_truncated", mkIPv6(IPv6DestOptions, ProtocolTCP, 0, 0, 0), IPv6DestOptions, 40, IPv6FragmentInfo{}, false},
		// Length byte 1 claims 16 bytes; 8 are there.
		{"ipv6_ext_len_overrun", mkIPv6(IPv6Routing, ProtocolTCP, 1, 0, 0, 0, 0, 0, 0), IPv6Routing, 40, IPv6FragmentInfo{}, false},
		{"ipv6_hbh_not_first", mkIPv6(IPv6DestOptions, cat(ext(IPv6HopByHop), ext(ProtocolTCP))...), IPv6HopByHop, 48, IPv6FragmentInfo{}, false},
		{"ipv6_double_fragment", mkIPv6(IPv6Fragment, cat(frag(IPv6Fragment, 0, true), frag(ProtocolTCP, 0, true))...), IPv6Fragment, 48,
			IPv6FragmentInfo{Present: true, More: true, ID: 0xdeadbeef, DataOffset: 48}, false},
		// Bytes past the payload length (Ethernet padding) are not headers.
		{"ext_in_padding", append(mkIPv6(IPv6DestOptions), ext(ProtocolTCP)...), IPv6DestOptions, 40, IPv6FragmentInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proto, off, fi, ok := tt.b.TransportProtocol(IPv6DefaultMaxExtHeaders)
			if proto != tt.wantProto || off != tt.wantOff || fi != tt.wantFrag || ok != tt.wantOK {
				t.Errorf("TransportProtocol = (%d, %d, %+v, %v), want (%d, %d, %+v, %v)",
					proto, off, fi, ok, tt.wantProto, tt.wantOff, tt.wantFrag, tt.wantOK)
			}
			if fi.NonFirst() != (tt.wantFrag.Offset != 0) {
				t.Error("NonFirst")
			}
		})
	}
}

// TestIPv6TransportProtocolGopacket walks chains built by gopacket.
func TestIPv6TransportProtocolGopacket(t *testing.T) {
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	dst := &layers.IPv6Destination{}
	dst.NextHeader = layers.IPProtocolTCP
	dst.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 12, OptionData: make([]byte, 12)}}
	frame := mustSerialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), hbh, dst, tcpSyn(1, 2))
	b := IPv6(frame[EthernetMinimumSize:])
	proto, off, fi, ok := b.TransportProtocol(IPv6DefaultMaxExtHeaders)
	if proto != ProtocolTCP || off != 40+8+16 || fi.Present || !ok {
		t.Fatalf("TransportProtocol = %d %d %+v %v", proto, off, fi, ok)
	}
	pkt := gopacketDecode(t, frame)
	if tl := pkt.TransportLayer(); tl == nil || len(frame)-len(tl.LayerContents())-len(tl.LayerPayload()) != EthernetMinimumSize+off {
		t.Errorf("gopacket places TCP elsewhere")
	}
}

// TestEncodeIPv6Fragment: a fragment header written by EncodeIPv6Fragment reads back through
// TransportProtocol.
func TestEncodeIPv6Fragment(t *testing.T) {
	b := make([]byte, IPv6MinimumSize+IPv6FragmentHeaderSize+16)
	IPv6(b).Encode(&IPv6Fields{PayloadLength: IPv6FragmentHeaderSize + 16, NextHeader: IPv6Fragment, HopLimit: 64,
		SrcAddr: make([]byte, 16), DstAddr: make([]byte, 16)})
	for _, c := range []IPv6FragmentInfo{{Present: true, More: true, Offset: 0, ID: 0xdeadbeef}, {Present: true, Offset: 65528, ID: 7}} {
		EncodeIPv6Fragment(b[IPv6MinimumSize:], ProtocolUDP, c.Offset, c.More, c.ID)
		c.DataOffset = IPv6MinimumSize + IPv6FragmentHeaderSize
		proto, _, f, ok := IPv6(b).TransportProtocol(IPv6DefaultMaxExtHeaders)
		if !ok || proto != ProtocolUDP || f != c {
			t.Errorf("read back %d %+v %v, want 17 %+v", proto, f, ok, c)
		}
	}
}
