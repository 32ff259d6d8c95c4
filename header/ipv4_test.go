package header

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// wikiIPv4 is the IPv4 header of the Wikipedia "IPv4 header checksum" example.
var wikiIPv4 = []byte{
	0x45,       // version 4, IHL 5
	0x00,       // TOS
	0x00, 0x73, // total length 115
	0x00, 0x00, // ID 0
	0x40, 0x00, // flags DF, offset 0
	0x40,       // TTL 64
	0x11,       // protocol UDP
	0xb8, 0x61, // checksum
	0xc0, 0xa8, 0x00, 0x01, // 192.168.0.1
	0xc0, 0xa8, 0x00, 0xc7, // 192.168.0.199
}

func TestIPv4Accessors(t *testing.T) {
	b := make(IPv4, 115)
	copy(b, wikiIPv4)
	if !b.IsValid(len(b)) {
		t.Fatal("IsValid = false")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", b.Version(), uint8(4)},
		{"HeaderLength", b.HeaderLength(), 20},
		{"TotalLength", b.TotalLength(), uint16(115)},
		{"ID", b.ID(), uint16(0)},
		{"Flags", b.Flags(), uint8(IPv4FlagDontFragment)},
		{"DontFragment", b.DontFragment(), true},
		{"More", b.More(), false},
		{"IsFragment", b.IsFragment(), false},
		{"FragmentOffset", b.FragmentOffset(), uint16(0)},
		{"TTL", b.TTL(), uint8(64)},
		{"Protocol", b.Protocol(), ProtocolUDP},
		{"Checksum", b.Checksum(), uint16(0xb861)},
		{"IsChecksumValid", b.IsChecksumValid(), true},
		{"CalculateChecksum", b.CalculateChecksum(), uint16(0xffff)},
		{"SourceAddress", string(b.SourceAddress()), "\xc0\xa8\x00\x01"},
		{"DestinationAddress", string(b.DestinationAddress()), "\xc0\xa8\x00\xc7"},
		{"Options", len(b.Options()), 0},
		{"Payload", len(b.Payload()), 95},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Addresses are views: writing through them writes the header.
	b.SourceAddress()[3] = 2
	if b[15] != 2 {
		t.Error("SourceAddress is not a view of the header")
	}
	b.FillChecksum()
	if !b.IsChecksumValid() {
		t.Error("FillChecksum did not produce a valid checksum")
	}
	// A fragment: MF and offset 185*8 = 1480.
	b[6], b[7] = 0x20, 0xb9
	if !b.More() || b.FragmentOffset() != 1480 || !b.IsFragment() || b.Flags() != IPv4FlagMoreFragments {
		t.Errorf("fragment: More %v Offset %d Flags %d", b.More(), b.FragmentOffset(), b.Flags())
	}
}

func TestIPv4IsValid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(b IPv4) IPv4
		pktLen int // 0: len(b)
		want   bool
	}{
		{"ok", func(b IPv4) IPv4 { return b }, 0, true},
		{"ok_padding", func(b IPv4) IPv4 { return append(b, 0, 0, 0, 0) }, 0, true},
		{"ipv4_too_short", func(b IPv4) IPv4 { return b[:19] }, 0, false},
		{"ipv4_version_6", func(b IPv4) IPv4 { b[0] = 0x65; return b }, 0, false},
		{"ipv4_ihl_too_small", func(b IPv4) IPv4 { b[0] = 0x44; return b }, 0, false},
		{"ipv4_ihl_past_total_length", func(b IPv4) IPv4 { b[0] = 0x4f; b[2], b[3] = 0, 40; return b }, 0, false},
		{"ipv4_total_length_below_header", func(b IPv4) IPv4 { b[2], b[3] = 0, 19; return b }, 0, false},
		{"ipv4_total_length_past_packet", func(b IPv4) IPv4 { return b }, 114, false},
		{"ipv4_total_length_past_slice", func(b IPv4) IPv4 { return b[:100] }, 115, false},
		{"ipv4_options_ok", func(b IPv4) IPv4 { b[0] = 0x46; return b }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make(IPv4, 115)
			copy(b, wikiIPv4)
			b = tt.mutate(b)
			n := tt.pktLen
			if n == 0 {
				n = len(b)
			}
			if got := b.IsValid(n); got != tt.want {
				t.Errorf("IsValid(%d) = %v, want %v", n, got, tt.want)
			}
		})
	}
}

// TestIPv4RewriteDifferential rewrites addresses and TTL of random valid headers (with and without
// options) incrementally and compares with a full recompute and with the RFC 1071 reference.
func TestIPv4RewriteDifferential(t *testing.T) {
	r := testRand(t)
	for i := range 5000 {
		ihl := 5 + r.IntN(11)
		b := IPv4(randBytes(r, ihl*4+8))
		b[0] = 0x40 | byte(ihl)
		b.SetTotalLength(uint16(len(b)))
		if i%10 == 0 {
			b.SetTTL(uint8(r.IntN(2))) // TTL 0 and 1 edge cases
		}
		b.FillChecksum()
		if naiveChecksum(b[:ihl*4], 0) != 0xffff {
			t.Fatal("FillChecksum disagrees with the reference")
		}
		a4 := randBytes(r, 4)
		switch i % 4 {
		case 0:
			b.SetSourceAddressWithChecksumUpdate(a4)
			if !bytes.Equal(b.SourceAddress(), a4) {
				t.Fatal("source address not written")
			}
		case 1:
			b.SetDestinationAddressWithChecksumUpdate(a4)
			if !bytes.Equal(b.DestinationAddress(), a4) {
				t.Fatal("destination address not written")
			}
		case 2:
			old := b.TTL()
			got := b.DecTTLWithChecksumUpdate()
			if want := max(int(old)-1, 0); int(got) != want || int(b.TTL()) != want {
				t.Fatalf("DecTTL from %d: returned %d, TTL %d", old, got, b.TTL())
			}
		case 3:
			b.SetTTLWithChecksumUpdate(uint8(r.Uint32()))
		}
		if naiveChecksum(b[:ihl*4], 0) != 0xffff {
			stored := b.Checksum()
			b.FillChecksum()
			t.Fatalf("case %d: incremental checksum %#04x, recompute %#04x", i, stored, b.Checksum())
		}
	}
}

// TestIPv4GopacketCrossCheck reads a gopacket-built header and has gopacket verify our rewrite.
func TestIPv4GopacketCrossCheck(t *testing.T) {
	l := ip4(layers.IPProtocolTCP)
	l.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
	l.Flags, l.FragOffset = layers.IPv4MoreFragments, 100
	frame := mustSerialize(t, eth(layers.EthernetTypeIPv4), l, &layers.TCP{SrcPort: 1, DstPort: 2})
	b := IPv4(frame[EthernetMinimumSize:])
	if !b.IsValid(len(b)) || b.HeaderLength() != 24 || !b.IsChecksumValid() || b.FragmentOffset() != 800 || !b.More() ||
		b.ID() != 0x1234 || b.TTL() != 64 || !bytes.Equal(b.Options(), []byte{0x94, 4, 0, 0}) {
		t.Fatalf("header misread: % x", b[:24])
	}
	// NAT the source: transport pseudo header first (it reads the old address from the header), then IP.
	TCP(b[b.HeaderLength():]).UpdateChecksumPseudoHeaderAddress(b.SourceAddress(), []byte{192, 0, 2, 7})
	b.SetSourceAddressWithChecksumUpdate([]byte{192, 0, 2, 7})
	b.DecTTLWithChecksumUpdate()
	dec := gopacketDecode(t, frame).NetworkLayer().(*layers.IPv4)
	if !dec.SrcIP.Equal(net.IP{192, 0, 2, 7}) || dec.TTL != 63 {
		t.Errorf("gopacket sees src %v ttl %d", dec.SrcIP, dec.TTL)
	}
	// gopacket builds the rewritten header from scratch: the bytes, checksum included, must match.
	l.SrcIP, l.TTL = net.IP{192, 0, 2, 7}, 63
	want := mustSerialize(t, eth(layers.EthernetTypeIPv4), l, &layers.TCP{SrcPort: 1, DstPort: 2})
	if !bytes.Equal(frame, want) {
		t.Errorf("rewritten frame\n% x\nwant\n% x", frame, want)
	}
}
