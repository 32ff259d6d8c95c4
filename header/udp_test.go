package header

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestUDPAccessors(t *testing.T) {
	b := UDP{
		0x14, 0xe9, // source port 5353
		0x00, 0x35, // destination port 53
		0x00, 0x0d, // length 13
		0x00, 0x00, // checksum: none
		'q', 'u', 'e', 'r', 'y',
		0, 0, // trailing bytes beyond Length
	}
	if b.SourcePort() != 5353 || b.DestinationPort() != 53 || b.Length() != 13 || b.Checksum() != 0 ||
		string(b.Payload()) != "query" || !b.IsValid(len(b)) {
		t.Fatalf("accessors misread % x", b)
	}
	if !b.IsChecksumValid(0x1234) {
		t.Error("a zero checksum is 'none' and valid")
	}
	for _, tt := range []struct {
		name   string
		b      UDP
		segLen int
		want   bool
	}{
		{"udp_too_short", b[:7], 7, false},
		{"udp_length_below_header", append(UDP{0, 1, 0, 2, 0, 7, 0, 0}, 0), 9, false},
		{"udp_length_past_segment", b[:12], 12, false},
		{"udp_seglen_past_slice", b[:13], 14, false},
	} {
		if got := tt.b.IsValid(tt.segLen); got != tt.want {
			t.Errorf("%s: IsValid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestUDPZeroChecksumRules: a stored 0 stays 0 under every incremental update; a computed 0 is stored as
// 0xFFFF, by FillChecksum and by the incremental updates alike.
func TestUDPZeroChecksumRules(t *testing.T) {
	src, dst := []byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}
	b := UDP{0x12, 0x34, 0x00, 0x35, 0x00, 0x0a, 0, 0, 0, 0}
	pseudo := PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(b)))
	// Choose the payload so that the datagram sums to 0xFFFF: the computed checksum is then 0.
	binary.BigEndian.PutUint16(b[8:], ^Checksum(b, pseudo))
	if Checksum(b, pseudo) != 0xffff {
		t.Fatal("setup")
	}
	b.FillChecksum(pseudo)
	if b.Checksum() != 0xffff || !b.IsChecksumValid(pseudo) {
		t.Fatalf("computed 0 stored as %#04x", b.Checksum())
	}
	// Now move a port away and back: the incremental result on the way back is 0 and must be 0xFFFF.
	b.SetSourcePortWithChecksumUpdate(0x9999)
	b.SetSourcePortWithChecksumUpdate(0x1234)
	if b.Checksum() != 0xffff {
		t.Errorf("incremental 0 stored as %#04x", b.Checksum())
	}
	// A "none" checksum survives every update.
	b.SetChecksum(0)
	b.SetSourcePortWithChecksumUpdate(1)
	b.SetDestinationPortWithChecksumUpdate(2)
	b.UpdateChecksumPseudoHeaderAddress(src, []byte{1, 2, 3, 4})
	if b.Checksum() != 0 {
		t.Errorf("'none' checksum became %#04x", b.Checksum())
	}
}

func TestUDPRewriteDifferential(t *testing.T) {
	r := testRand(t)
	for i := range 10000 {
		alen := 4
		if i%2 == 1 {
			alen = 16
		}
		src, dst := randBytes(r, alen), randBytes(r, alen)
		b := UDP(randBytes(r, 8+r.IntN(64)))
		b.SetLength(uint16(len(b)))
		none := alen == 4 && i%10 == 0
		if i%50 == 1 {
			// Make the datagram sum to 0xFFFF, so the stored checksum is 0xFFFF (computed 0).
			b = append(b[:8:8], 0, 0)
			b.SetLength(10)
			b.SetChecksum(0)
			binary.BigEndian.PutUint16(b[8:], ^Checksum(b, PseudoHeaderChecksum(ProtocolUDP, src, dst, 10)))
		}
		b.FillChecksum(PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(b))))
		if none {
			b.SetChecksum(0)
		}
		switch i % 5 {
		case 0:
			b.SetSourcePortWithChecksumUpdate(uint16(r.Uint32()))
		case 1:
			b.SetDestinationPortWithChecksumUpdate(uint16(r.Uint32()))
		case 2:
			na := randBytes(r, alen)
			b.UpdateChecksumPseudoHeaderAddress(src, na)
			src = na
		case 3:
			na := randBytes(r, alen)
			b.UpdateChecksumPseudoHeaderAddress(dst, na)
			dst = na
		case 4:
			b.SetSourcePortWithChecksumUpdate(uint16(r.Uint32()))
			na := randBytes(r, alen)
			b.UpdateChecksumPseudoHeaderAddress(dst, na)
			dst = na
		}
		got := b.Checksum()
		if none {
			if got != 0 {
				t.Fatalf("case %d: 'none' checksum became %#04x", i, got)
			}
			continue
		}
		b.FillChecksum(PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(b))))
		if want := b.Checksum(); got != want || got == 0 {
			t.Fatalf("case %d: incremental %#04x, recompute %#04x", i, got, want)
		}
		if naiveChecksum(b, naivePseudo(ProtocolUDP, src, dst, len(b))) != 0xffff {
			t.Fatalf("case %d: reference rejects the checksum", i)
		}
	}
}

// TestUDPRewriteGopacket NATs a gopacket-built UDP/IPv6 datagram and compares with gopacket's own build.
func TestUDPRewriteGopacket(t *testing.T) {
	build := func(src net.IP, sport uint16) []byte {
		l := ip6(layers.IPProtocolUDP)
		l.SrcIP = src
		return mustSerialize(t, eth(layers.EthernetTypeIPv6), l, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 53}, gopacket.Payload("odd"))
	}
	frame := build(testSrc6, 5353)
	newSrc := net.ParseIP("2001:db8:ffff::1")
	ip := IPv6(frame[EthernetMinimumSize:])
	u := UDP(ip.Payload())
	u.UpdateChecksumPseudoHeaderAddress(ip.SourceAddress(), newSrc)
	ip.SetSourceAddress(newSrc)
	u.SetSourcePortWithChecksumUpdate(1024)
	if want := build(newSrc, 1024); !bytes.Equal(frame, want) {
		t.Errorf("rewritten\n% x\nwant\n% x", frame, want)
	}
}
