package header

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// partialSeg is a TCP or UDP segment between two addresses, for the partial-checksum tests.
type partialSeg struct {
	name     string
	proto    uint8
	src, dst string
	seg      []byte // with the checksum field zero
	pseudo   uint16 // PseudoHeaderChecksum of the segment
	full     uint16 // the checksum field a device would have stored
}

// partialGolden are four segments as a sender with transmit checksum offload hands them to its
// device, but with the checksum field zero; their pseudo-header sums and full checksums were
// computed once and are written here (TestCompletePartialGolden checks them first).
func partialGolden() []partialSeg {
	tcp := func() []byte {
		return []byte{
			0x9c, 0x40, 0x00, 0x50, // ports 40000 → 80
			0x00, 0x00, 0x03, 0xe9, // seq 1001
			0x00, 0x00, 0x13, 0x89, // ack 5001
			0x50, 0x18, 0xfa, 0xf0, // data offset 5, PSH|ACK, window 64240
			0x00, 0x00, 0x00, 0x00, // checksum (zero here), urgent pointer
			'h', 'e', 'l', 'l', 'o',
		}
	}
	udp := func() []byte {
		return []byte{
			0x4e, 0x21, 0x00, 0x35, // ports 20001 → 53
			0x00, 0x0f, 0x00, 0x00, // length 15, checksum (zero here)
			'q', 'u', 'e', 'r', 'y', ' ', '1',
		}
	}
	return []partialSeg{
		{"tcp4", ProtocolTCP, "198.18.0.2", "198.18.2.1", tcp(), 0x8e47, 0x2eda},
		{"udp4", ProtocolUDP, "198.18.0.2", "198.18.0.10", udp(), 0x8c51, 0xa440},
		{"tcp6", ProtocolTCP, "2001:2::2", "2001:2:0:2::1", tcp(), 0x402a, 0x7cf7},
		{"udp6", ProtocolUDP, "2001:2::2", "2001:2::10", udp(), 0x4038, 0xf059},
	}
}

func (s *partialSeg) field() int {
	if s.proto == ProtocolUDP {
		return udpChecksum
	}
	return tcpChecksum
}

func (s *partialSeg) payload() int {
	if s.proto == ProtocolUDP {
		return UDPMinimumSize
	}
	return TCPMinimumSize
}

func (s *partialSeg) complete(b []byte) bool {
	if s.proto == ProtocolUDP {
		return UDP(b).CompletePartialChecksum(s.pseudo)
	}
	return TCP(b).CompletePartialChecksum(s.pseudo)
}

// TestCompletePartialGolden: a field holding the pseudo-header sum (Linux's CHECKSUM_PARTIAL) or its
// complement is completed to the full checksum; a right checksum and a wrong one that is neither
// stay as they are, and so does UDP's "no checksum".
func TestCompletePartialGolden(t *testing.T) {
	for _, g := range partialGolden() {
		src, dst := netip.MustParseAddr(g.src).AsSlice(), netip.MustParseAddr(g.dst).AsSlice()
		if p := PseudoHeaderChecksum(g.proto, src, dst, uint16(len(g.seg))); p != g.pseudo {
			t.Fatalf("%s: pseudo-header sum %#04x, the fixture says %#04x", g.name, p, g.pseudo)
		}
		if f := ^Checksum(g.seg, g.pseudo); f != g.full {
			t.Fatalf("%s: full checksum %#04x, the fixture says %#04x", g.name, f, g.full)
		}
		for _, tt := range []struct {
			name          string
			stored, want  uint16
			wantCompleted bool
		}{
			{"partial_pseudo", g.pseudo, g.full, true},      // the kernel's convention
			{"partial_complement", ^g.pseudo, g.full, true}, // the other one
			{"right", g.full, g.full, false},
			{"wrong", g.full ^ 0x0100, g.full ^ 0x0100, false}, // corrupted: forwarded as it is
			{"wrong_near_pseudo", g.pseudo + 1, g.pseudo + 1, false},
		} {
			b := bytes.Clone(g.seg)
			binary.BigEndian.PutUint16(b[g.field():], tt.stored)
			before := bytes.Clone(b)
			if got := g.complete(b); got != tt.wantCompleted {
				t.Errorf("%s/%s: completed = %v, want %v", g.name, tt.name, got, tt.wantCompleted)
			}
			if got := binary.BigEndian.Uint16(b[g.field():]); got != tt.want {
				t.Errorf("%s/%s: checksum %#04x, want %#04x", g.name, tt.name, got, tt.want)
			}
			binary.BigEndian.PutUint16(b[g.field():], tt.stored)
			if !bytes.Equal(b, before) {
				t.Errorf("%s/%s: bytes other than the checksum changed", g.name, tt.name)
			}
		}
	}
	// IPv4 UDP without a checksum (0) is not a partial one, whatever the pseudo-header sum.
	u := partialGolden()[1]
	if UDP(u.seg).CompletePartialChecksum(u.pseudo) || UDP(u.seg).CompletePartialChecksum(0xffff) || UDP(u.seg).Checksum() != 0 {
		t.Error("udp4 without checksum was completed")
	}
}

// TestCompletePartialCoincidence: a right checksum that equals the pseudo-header sum (1 in 32,768
// segments) verifies, so it is not recomputed; and UDP's computed 0 is stored as 0xFFFF.
func TestCompletePartialCoincidence(t *testing.T) {
	for _, g := range partialGolden() {
		// A payload word chosen so that the segment verifies with the pseudo-header sum stored.
		b := bytes.Clone(g.seg)
		w := g.payload() // the payload's first word
		binary.BigEndian.PutUint16(b[g.field():], g.pseudo)
		binary.BigEndian.PutUint16(b[w:], 0)
		binary.BigEndian.PutUint16(b[w:], ^Checksum(b, g.pseudo))
		if Checksum(b, g.pseudo) != 0xffff {
			t.Fatalf("%s: setup", g.name)
		}
		if g.complete(b) || binary.BigEndian.Uint16(b[g.field():]) != g.pseudo {
			t.Errorf("%s: a right checksum equal to the pseudo-header sum was recomputed", g.name)
		}
	}
	u := partialGolden()[3]
	b := bytes.Clone(u.seg)
	w := u.payload()
	binary.BigEndian.PutUint16(b[w:], 0)
	binary.BigEndian.PutUint16(b[w:], ^Checksum(b, u.pseudo)) // with the field 0 the sum is 0xFFFF: checksum 0
	binary.BigEndian.PutUint16(b[udpChecksum:], u.pseudo)
	if !UDP(b).CompletePartialChecksum(u.pseudo) || UDP(b).Checksum() != 0xffff || !UDP(b).IsChecksumValid(u.pseudo) {
		t.Errorf("udp6 computed 0: completed to %#04x, want 0xffff", UDP(b).Checksum())
	}
}

// TestCompletePartialDifferential: over random segments of every length, a partial checksum is
// completed to what a full recompute gives.
func TestCompletePartialDifferential(t *testing.T) {
	r := testRand(t)
	src4, dst4 := []byte{198, 18, 0, 2}, []byte{198, 18, 1, 10}
	src6, dst6 := netip.MustParseAddr("2001:2::2").AsSlice(), netip.MustParseAddr("2001:2:0:1::10").AsSlice()
	for i := range 4000 {
		proto, field, src, dst := uint8(ProtocolTCP), tcpChecksum, src4, dst4
		n := TCPMinimumSize + i%1500
		if i%2 == 1 {
			proto, field, n = ProtocolUDP, udpChecksum, UDPMinimumSize+i%1500
		}
		if i%4 >= 2 {
			src, dst = src6, dst6
		}
		b := randBytes(r, n)
		pseudo := PseudoHeaderChecksum(proto, src, dst, uint16(n))
		if proto == ProtocolTCP {
			TCP(b).FillChecksum(pseudo)
		} else {
			UDP(b).FillChecksum(pseudo)
		}
		want := binary.BigEndian.Uint16(b[field:])
		stored := pseudo
		if i%8 >= 4 {
			stored = ^pseudo
		}
		binary.BigEndian.PutUint16(b[field:], stored)
		var done bool
		if proto == ProtocolTCP {
			done = TCP(b).CompletePartialChecksum(pseudo)
		} else {
			done = UDP(b).CompletePartialChecksum(pseudo)
		}
		got := binary.BigEndian.Uint16(b[field:])
		if want == stored { // the right checksum was the pseudo sum: nothing to do
			if done || got != want {
				t.Fatalf("case %d: a right checksum recomputed", i)
			}
			continue
		}
		if !done || got != want {
			t.Fatalf("case %d (proto %d, %d bytes): completed=%v to %#04x, want %#04x", i, proto, n, done, got, want)
		}
	}
}

func TestCompletePartialAllocs(t *testing.T) {
	g := partialGolden()[0]
	b := bytes.Clone(g.seg)
	if n := testing.AllocsPerRun(100, func() {
		binary.BigEndian.PutUint16(b[tcpChecksum:], g.pseudo)
		TCP(b).CompletePartialChecksum(g.pseudo)
	}); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
}
