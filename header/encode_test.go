package header

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Tests of the header encoders (IPv4.Encode, IPv6.Encode, TCP.Encode, UDP.Encode, ICMPv4.Encode and
// ICMPv6.Encode): golden bytes
// written out by hand, and a differential test and a fuzz target against gopacket's serializers.

// encodeFill is what the buffers under an encoder hold beforehand, so that a field it forgets to
// write shows.
const encodeFill = 0xa5

func filled(n int) []byte { return bytes.Repeat([]byte{encodeFill}, n) }

func TestIPv4Encode(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    IPv4Fields
		want []byte
	}{
		{"wikipedia", IPv4Fields{TotalLength: 115, Flags: IPv4FlagDontFragment, TTL: 64, Protocol: ProtocolUDP,
			SrcAddr: []byte{192, 168, 0, 1}, DstAddr: []byte{192, 168, 0, 199}}, wikiIPv4},
		{"ipip_fragment", IPv4Fields{TOS: 0x10, TotalLength: 80, ID: 0x1234, Flags: IPv4FlagMoreFragments, FragmentOffset: 1480,
			TTL: 1, Protocol: ProtocolIPIP, SrcAddr: []byte{198, 18, 1, 1}, DstAddr: []byte{198, 18, 1, 10}}, []byte{
			0x45,       // version 4, IHL 5
			0x10,       // TOS
			0x00, 0x50, // total length 80
			0x12, 0x34, // ID
			0x20, 0xb9, // MF, offset 185 × 8 = 1480
			0x01,       // TTL 1
			0x04,       // protocol IPIP
			0xf8, 0x7d, // checksum
			198, 18, 1, 1, // source
			198, 18, 1, 10, // destination
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := IPv4(filled(IPv4MinimumSize + 4))
			b.Encode(&tc.f)
			if !bytes.Equal(b[:IPv4MinimumSize], tc.want) {
				t.Fatalf("Encode wrote\n% x\nwant\n% x", []byte(b[:IPv4MinimumSize]), tc.want)
			}
			if !b.IsChecksumValid() || b.HeaderLength() != IPv4MinimumSize {
				t.Fatal("checksum or header length wrong")
			}
			if !bytes.Equal(b[IPv4MinimumSize:], filled(4)) {
				t.Fatal("Encode wrote past the header")
			}
		})
	}
}

func TestIPv6Encode(t *testing.T) {
	b := IPv6(filled(IPv6MinimumSize + 4))
	b.Encode(&IPv6Fields{TrafficClass: 0xb8, FlowLabel: 0x12345, PayloadLength: 20, NextHeader: ProtocolTCP, HopLimit: 64,
		SrcAddr: net.ParseIP("2001:2::1"), DstAddr: net.ParseIP("2001:2:0:1::10")})
	want := []byte{
		0x6b, 0x81, 0x23, 0x45, // version 6, traffic class 0xb8, flow label 0x12345
		0x00, 0x14, // payload length 20
		0x06,                                                                                           // next header TCP
		0x40,                                                                                           // hop limit 64
		0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // 2001:2::1
		0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, // 2001:2:0:1::10
	}
	if !bytes.Equal(b[:IPv6MinimumSize], want) {
		t.Fatalf("Encode wrote\n% x\nwant\n% x", []byte(b[:IPv6MinimumSize]), want)
	}
	if !bytes.Equal(b[IPv6MinimumSize:], filled(4)) {
		t.Fatal("Encode wrote past the header")
	}
}

func TestTCPEncode(t *testing.T) {
	b := TCP(filled(TCPMinimumSize + 4))
	b.Encode(&TCPFields{SrcPort: 40000, DstPort: 80, SeqNum: 0x01020304, AckNum: 0xa0b0c0d0, DataOffset: 24,
		Flags: TCPFlagSyn | TCPFlagAck, WindowSize: 65535, Checksum: 0xbeef, UrgentPointer: 1})
	want := []byte{
		0x9c, 0x40, // source port 40000
		0x00, 0x50, // destination port 80
		0x01, 0x02, 0x03, 0x04, // sequence number
		0xa0, 0xb0, 0xc0, 0xd0, // acknowledgment number
		0x60,       // data offset 6 (24 bytes)
		0x12,       // SYN, ACK
		0xff, 0xff, // window
		0xbe, 0xef, // checksum
		0x00, 0x01, // urgent pointer
	}
	if !bytes.Equal(b[:TCPMinimumSize], want) {
		t.Fatalf("Encode wrote\n% x\nwant\n% x", []byte(b[:TCPMinimumSize]), want)
	}
	if !bytes.Equal(b[TCPMinimumSize:], filled(4)) {
		t.Fatal("Encode wrote the options")
	}
}

func TestUDPEncode(t *testing.T) {
	b := UDP(filled(UDPMinimumSize + 4))
	b.Encode(&UDPFields{SrcPort: 53, DstPort: 5353, Length: 28})
	want := []byte{
		0x00, 0x35, // source port 53
		0x14, 0xe9, // destination port 5353
		0x00, 0x1c, // length 28
		0x00, 0x00, // checksum: none
	}
	if !bytes.Equal(b[:UDPMinimumSize], want) {
		t.Fatalf("Encode wrote\n% x\nwant\n% x", []byte(b[:UDPMinimumSize]), want)
	}
	if !bytes.Equal(b[UDPMinimumSize:], filled(4)) {
		t.Fatal("Encode wrote past the header")
	}
}

func TestICMPEncode(t *testing.T) {
	b := ICMPv4(filled(ICMPv4MinimumSize + 4))
	b.Encode(&ICMPFields{Type: ICMPv4DstUnreachable, Code: ICMPv4FragmentationNeeded, Rest: 1480})
	want := []byte{
		0x03,       // destination unreachable
		0x04,       // fragmentation needed
		0x00, 0x00, // checksum, to be filled
		0x00, 0x00, // unused
		0x05, 0xc8, // next-hop MTU 1480
	}
	if !bytes.Equal(b[:ICMPv4MinimumSize], want) || !bytes.Equal(b[ICMPv4MinimumSize:], filled(4)) {
		t.Fatalf("ICMPv4 Encode wrote\n% x\nwant\n% x", []byte(b), want)
	}
	if b.MTU() != 1480 {
		t.Fatalf("MTU() = %d", b.MTU())
	}
	b6 := ICMPv6(filled(ICMPv6MinimumSize + 4))
	b6.Encode(&ICMPFields{Type: ICMPv6PacketTooBig, Rest: 1280})
	want = []byte{
		0x02,       // packet too big
		0x00,       // code 0
		0x00, 0x00, // checksum, to be filled
		0x00, 0x00, 0x05, 0x00, // MTU 1280
	}
	if !bytes.Equal(b6[:ICMPv6MinimumSize], want) || !bytes.Equal(b6[ICMPv6MinimumSize:], filled(4)) {
		t.Fatalf("ICMPv6 Encode wrote\n% x\nwant\n% x", []byte(b6), want)
	}
	if b6.MTU() != 1280 {
		t.Fatalf("MTU() = %d", b6.MTU())
	}
}

// encodeInput is the fields of one header of each kind, drawn from bytes (the fuzzer's or the
// differential test's random ones).
type encodeInput struct {
	ip4  IPv4Fields
	ip6  IPv6Fields
	tcp  TCPFields
	udp  UDPFields
	icmp ICMPFields
}

// encodeInputSize is how many bytes newEncodeInput reads.
const encodeInputSize = 96

func newEncodeInput(b []byte) encodeInput {
	b = append(b[:len(b):len(b)], make([]byte, max(0, encodeInputSize-len(b)))...)
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(b[i:]) }
	u32 := func(i int) uint32 { return binary.BigEndian.Uint32(b[i:]) }
	return encodeInput{
		ip4: IPv4Fields{TOS: b[0], TotalLength: u16(1), ID: u16(3), Flags: b[5] & 7, FragmentOffset: u16(6) &^ 7,
			TTL: b[8], Protocol: b[9], SrcAddr: b[10:14], DstAddr: b[14:18]},
		ip6: IPv6Fields{TrafficClass: b[18], FlowLabel: u32(19) & 0xfffff, PayloadLength: u16(23), NextHeader: b[25],
			HopLimit: b[26], SrcAddr: b[27:43], DstAddr: b[43:59]},
		tcp: TCPFields{SrcPort: u16(59), DstPort: u16(61), SeqNum: u32(63), AckNum: u32(67),
			DataOffset: TCPMinimumSize + 4*(b[71]%11), Flags: b[72], WindowSize: u16(73), Checksum: u16(75), UrgentPointer: u16(77)},
		udp:  UDPFields{SrcPort: u16(79), DstPort: u16(81), Length: u16(83), Checksum: u16(85)},
		icmp: ICMPFields{Type: b[87], Code: b[88], Rest: u32(89)},
	}
}

// checkEncode encodes in's headers and compares them with gopacket's serialization of the same
// fields, and the views' accessors with the fields.
func checkEncode(t *testing.T, in *encodeInput) {
	t.Helper()
	// The IPv4 checksum is computed; a TCP or UDP one is a field like the others.
	serialize := func(l gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		_, isIPv4 := l.(*layers.IPv4)
		if err := l.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: isIPv4}); err != nil {
			t.Fatalf("gopacket: %v", err)
		}
		return buf.Bytes()
	}

	f4 := &in.ip4
	ip4 := IPv4(filled(IPv4MinimumSize))
	ip4.Encode(f4)
	ref4 := serialize(&layers.IPv4{Version: 4, IHL: 5, TOS: f4.TOS, Length: f4.TotalLength, Id: f4.ID,
		Flags: layers.IPv4Flag(f4.Flags), FragOffset: f4.FragmentOffset / 8, TTL: f4.TTL, Protocol: layers.IPProtocol(f4.Protocol),
		SrcIP: net.IP(f4.SrcAddr), DstIP: net.IP(f4.DstAddr)})
	if !bytes.Equal(ip4, ref4) {
		t.Errorf("IPv4 %+v:\n% x\ngopacket\n% x", *f4, []byte(ip4), ref4)
	}
	if ip4.TOS() != f4.TOS || ip4.TotalLength() != f4.TotalLength || ip4.ID() != f4.ID || ip4.Flags() != f4.Flags ||
		ip4.FragmentOffset() != f4.FragmentOffset || ip4.TTL() != f4.TTL || ip4.Protocol() != f4.Protocol ||
		!bytes.Equal(ip4.SourceAddress(), f4.SrcAddr) || !bytes.Equal(ip4.DestinationAddress(), f4.DstAddr) || !ip4.IsChecksumValid() {
		t.Errorf("IPv4 %+v reads back differently: % x", *f4, []byte(ip4))
	}

	f6 := &in.ip6
	ip6 := IPv6(filled(IPv6MinimumSize))
	ip6.Encode(f6)
	ref6 := serialize(&layers.IPv6{Version: 6, TrafficClass: f6.TrafficClass, FlowLabel: f6.FlowLabel, Length: f6.PayloadLength,
		NextHeader: layers.IPProtocol(f6.NextHeader), HopLimit: f6.HopLimit, SrcIP: net.IP(f6.SrcAddr), DstIP: net.IP(f6.DstAddr)})
	if !bytes.Equal(ip6, ref6) {
		t.Errorf("IPv6 %+v:\n% x\ngopacket\n% x", *f6, []byte(ip6), ref6)
	}
	if ip6.Version() != IPv6Version || ip6.TrafficClass() != f6.TrafficClass || ip6.FlowLabel() != f6.FlowLabel ||
		ip6.PayloadLength() != f6.PayloadLength || ip6.NextHeader() != f6.NextHeader || ip6.HopLimit() != f6.HopLimit ||
		!bytes.Equal(ip6.SourceAddress(), f6.SrcAddr) || !bytes.Equal(ip6.DestinationAddress(), f6.DstAddr) {
		t.Errorf("IPv6 %+v reads back differently: % x", *f6, []byte(ip6))
	}

	ft := &in.tcp
	tcp := TCP(filled(TCPMinimumSize))
	tcp.Encode(ft)
	fl := ft.Flags
	// gopacket writes the options' room itself: compare the fixed 20 bytes.
	refT := serialize(&layers.TCP{SrcPort: layers.TCPPort(ft.SrcPort), DstPort: layers.TCPPort(ft.DstPort), Seq: ft.SeqNum,
		Ack: ft.AckNum, DataOffset: ft.DataOffset / 4, FIN: fl&TCPFlagFin != 0, SYN: fl&TCPFlagSyn != 0, RST: fl&TCPFlagRst != 0,
		PSH: fl&TCPFlagPsh != 0, ACK: fl&TCPFlagAck != 0, URG: fl&TCPFlagUrg != 0, ECE: fl&TCPFlagEce != 0, CWR: fl&TCPFlagCwr != 0,
		Window: ft.WindowSize, Checksum: ft.Checksum, Urgent: ft.UrgentPointer})
	if !bytes.Equal(tcp, refT[:TCPMinimumSize]) {
		t.Errorf("TCP %+v:\n% x\ngopacket\n% x", *ft, []byte(tcp), refT[:TCPMinimumSize])
	}
	if tcp.SourcePort() != ft.SrcPort || tcp.DestinationPort() != ft.DstPort || tcp.SequenceNumber() != ft.SeqNum ||
		tcp.AckNumber() != ft.AckNum || tcp.DataOffset() != int(ft.DataOffset) || tcp.Flags() != ft.Flags ||
		tcp.WindowSize() != ft.WindowSize || tcp.Checksum() != ft.Checksum || tcp.UrgentPointer() != ft.UrgentPointer {
		t.Errorf("TCP %+v reads back differently: % x", *ft, []byte(tcp))
	}

	fu := &in.udp
	udp := UDP(filled(UDPMinimumSize))
	udp.Encode(fu)
	refU := serialize(&layers.UDP{SrcPort: layers.UDPPort(fu.SrcPort), DstPort: layers.UDPPort(fu.DstPort), Length: fu.Length, Checksum: fu.Checksum})
	if !bytes.Equal(udp, refU) {
		t.Errorf("UDP %+v:\n% x\ngopacket\n% x", *fu, []byte(udp), refU)
	}
	if udp.SourcePort() != fu.SrcPort || udp.DestinationPort() != fu.DstPort || udp.Length() != fu.Length || udp.Checksum() != fu.Checksum {
		t.Errorf("UDP %+v reads back differently: % x", *fu, []byte(udp))
	}

	fi := &in.icmp
	icmp := ICMPv4(filled(ICMPv4MinimumSize))
	icmp.Encode(fi)
	refI := serialize(&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(fi.Type, fi.Code), Id: uint16(fi.Rest >> 16), Seq: uint16(fi.Rest)})
	if !bytes.Equal(icmp, refI) {
		t.Errorf("ICMP %+v:\n% x\ngopacket\n% x", *fi, []byte(icmp), refI)
	}
	icmp6 := ICMPv6(filled(ICMPv6MinimumSize))
	icmp6.Encode(fi)
	if !bytes.Equal(icmp6, icmp) || icmp6.Type() != fi.Type || icmp6.Code() != fi.Code || icmp6.MTU() != fi.Rest || icmp6.Checksum() != 0 {
		t.Errorf("ICMPv6 %+v: % x", *fi, []byte(icmp6))
	}
}

// TestEncodeDifferential: over a fixed-seed corpus (TEST_SEED), every encoder writes what
// gopacket's serializer writes for the same fields, and the views read the fields back.
func TestEncodeDifferential(t *testing.T) {
	r := testRand(t)
	b := make([]byte, encodeInputSize)
	for range 2000 {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		in := newEncodeInput(b)
		checkEncode(t, &in)
		if t.Failed() {
			return
		}
	}
}

// FuzzEncode: TestEncodeDifferential's checks for fields the fuzzer chooses.
func FuzzEncode(f *testing.F) {
	f.Add(make([]byte, encodeInputSize))
	f.Add(bytes.Repeat([]byte{0xff}, encodeInputSize))
	f.Add(append(append([]byte(nil), wikiIPv4...), bytes.Repeat([]byte{0x5a}, encodeInputSize-len(wikiIPv4))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := newEncodeInput(b)
		checkEncode(t, &in)
	})
}
