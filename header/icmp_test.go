package header

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestICMPv4(t *testing.T) {
	echo := ICMPv4{
		8, 0, // echo request, code 0
		0, 0, // checksum (filled below)
		0x12, 0x34, // identifier
		0x00, 0x01, // sequence
		'p', 'i', 'n', 'g',
	}
	echo.FillChecksum()
	if echo.Type() != ICMPv4Echo || echo.Code() != 0 || echo.Ident() != 0x1234 || echo.Sequence() != 1 ||
		echo.IsError() || !echo.IsChecksumValid() || echo.CalculateChecksum() != 0xffff || string(echo.Payload()) != "ping" {
		t.Fatalf("echo misread % x", echo)
	}
	echo.SetIdentWithChecksumUpdate(0xbeef)
	if echo.Ident() != 0xbeef || !echo.IsChecksumValid() {
		t.Error("SetIdentWithChecksumUpdate")
	}
	fragNeeded := ICMPv4{3, 4, 0, 0, 0, 0, 0x05, 0xdc} // dest unreachable, frag needed, MTU 1500
	if !fragNeeded.IsError() || fragNeeded.MTU() != 1500 || fragNeeded.Code() != ICMPv4FragmentationNeeded {
		t.Error("frag needed misread")
	}
	fragNeeded.SetMTU(1400)
	if fragNeeded.MTU() != 1400 {
		t.Error("SetMTU")
	}
	for ty := range 256 {
		want := ty == 3 || ty == 4 || ty == 5 || ty == 11 || ty == 12
		if ICMPv4TypeIsError(uint8(ty)) != want {
			t.Errorf("ICMPv4TypeIsError(%d) = %v", ty, !want)
		}
	}
	// gopacket agrees on the checksum.
	frame := mustSerialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 0x1234, Seq: 1}, gopacket.Payload("ping"))
	var p Packet
	if p.Parse(frame) != ParseOK || !ICMPv4(frame[p.L4Offset:p.L3Offset+p.L3Length]).IsChecksumValid() {
		t.Error("gopacket-built echo checksum rejected")
	}
}

func TestICMPv6(t *testing.T) {
	b := ICMPv6{
		2, 0, // packet too big
		0, 0, // checksum
		0x00, 0x00, 0x05, 0x00, // MTU 1280
	}
	if !b.IsError() || b.MTU() != 1280 || b.Type() != ICMPv6PacketTooBig || len(b.Payload()) != 0 {
		t.Fatal("packet too big misread")
	}
	b.SetMTU(1400)
	if b.MTU() != 1400 {
		t.Error("SetMTU")
	}
	for ty := range 256 {
		if want := ty >= 1 && ty <= 4; ICMPv6TypeIsError(uint8(ty)) != want {
			t.Errorf("ICMPv6TypeIsError(%d) = %v", ty, !want)
		}
	}
	// Echo over IPv6 built by gopacket: checksum covers the pseudo header; NAT it and recheck.
	l := ip6(layers.IPProtocolICMPv6)
	frame := mustSerialize(t, eth(layers.EthernetTypeIPv6), l,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 9}, gopacket.Payload("x"))
	var p Packet
	if res := p.Parse(frame); res != ParseOK || p.Tuple.SrcPort != 7 || p.Tuple.DstPort != 7 {
		t.Fatalf("Parse = %v, tuple %+v", res, p.Tuple)
	}
	ip := IPv6(frame[p.L3Offset:])
	m := ICMPv6(frame[p.L4Offset : p.L3Offset+p.L3Length])
	pseudo := func() uint16 {
		return PseudoHeaderChecksum(ProtocolICMPv6, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(m)))
	}
	if m.Ident() != 7 || m.Sequence() != 9 || m.IsError() || !m.IsChecksumValid(pseudo()) {
		t.Fatal("gopacket echo misread")
	}
	newSrc := testDst6
	m.UpdateChecksumPseudoHeaderAddress(ip.SourceAddress(), newSrc)
	ip.SetSourceAddress(newSrc)
	m.SetIdentWithChecksumUpdate(0x4242)
	if !m.IsChecksumValid(pseudo()) || m.CalculateChecksum(pseudo()) != 0xffff {
		t.Error("checksum wrong after NAT")
	}
	m.SetIdent(1)
	m.FillChecksum(pseudo())
	if !m.IsChecksumValid(pseudo()) {
		t.Error("FillChecksum")
	}
}
