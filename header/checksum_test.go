package header

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"testing"
)

func TestChecksumGolden(t *testing.T) {
	tests := []struct {
		name    string
		buf     []byte
		initial uint16
		want    uint16
	}{
		{"empty", nil, 0, 0},
		{"empty_initial", nil, 0x1234, 0x1234},
		// RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to ddf2.
		{"rfc1071_example", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0, 0xddf2},
		// Odd length: the last byte is padded as the high byte of a word.
		{"odd_one_byte", []byte{0xab}, 0, 0xab00},
		{"odd_three_bytes", []byte{0x00, 0x01, 0xff}, 0, 0xff01},
		// End-around carry: ffff + 0001 = 0001 (with carry folded back), not 0000.
		{"end_around_carry", []byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
		{"all_ones", []byte{0xff, 0xff, 0xff, 0xff}, 0, 0xffff},
		{"initial_carries", []byte{0x80, 0x00}, 0x8000, 0x0001},
		// A real IPv4 header (Wikipedia "IPv4 header checksum"), checksum field b861 in place: sums to ffff.
		{"ipv4_header_valid", []byte{
			0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
		}, 0, 0xffff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checksum(tt.buf, tt.initial); got != tt.want {
				t.Errorf("Checksum = %#04x, want %#04x", got, tt.want)
			}
			if got := naiveChecksum(tt.buf, tt.initial); got != tt.want {
				t.Errorf("naiveChecksum = %#04x, want %#04x (reference broken)", got, tt.want)
			}
		})
	}
}

// TestChecksumDifferential compares the 8-bytes-at-a-time sum with the RFC 1071 reference over random
// lengths (every residue mod 32), offsets (alignment) and initial values.
func TestChecksumDifferential(t *testing.T) {
	r := testRand(t)
	buf := randBytes(r, 4096)
	for i := range 20000 {
		n := r.IntN(2100)
		if i < 200 {
			n = i // every short length
		}
		off := r.IntN(8)
		b := buf[off : off+n]
		if i%7 == 0 {
			for j := range b {
				b[j] = 0xff // carry-heavy
			}
		}
		init := uint16(r.Uint32())
		if got, want := Checksum(b, init), naiveChecksum(b, init); got != want {
			t.Fatalf("len %d off %d init %#x: Checksum = %#04x, naive = %#04x", n, off, init, got, want)
		}
		if i%7 == 0 {
			copy(b, randBytes(r, len(b)))
		}
	}
}

func TestChecksumCombine(t *testing.T) {
	r := testRand(t)
	for range 10000 {
		a, b := randBytes(r, r.IntN(64)), randBytes(r, 2*r.IntN(32)) // a's length may be odd; b starts even
		if len(a)%2 == 1 {
			a = append(a, 0)
		}
		want := naiveChecksum(append(append([]byte(nil), a...), b...), 0)
		if got := ChecksumCombine(Checksum(a, 0), Checksum(b, 0)); got != want {
			t.Fatalf("ChecksumCombine = %#04x, want %#04x", got, want)
		}
	}
	if got := ChecksumCombine(0xffff, 0x0001); got != 0x0001 {
		t.Errorf("ChecksumCombine(ffff, 1) = %#x, want 1", got)
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	r := testRand(t)
	for range 2000 {
		for _, n := range []int{4, 16} {
			src, dst := randBytes(r, n), randBytes(r, n)
			proto := uint8(r.Uint32())
			l := r.IntN(65536)
			if got, want := PseudoHeaderChecksum(proto, src, dst, uint16(l)), naivePseudo(proto, src, dst, l); got != want {
				t.Fatalf("PseudoHeaderChecksum(%d, %x, %x, %d) = %#04x, want %#04x", proto, src, dst, l, got, want)
			}
		}
	}
}

// TestChecksumUpdateDifferential checks RFC 1624 eqn. 3 against a full recompute: a random buffer with a
// valid checksum field at offset 0 has a 16-bit word, a 32-bit field or an address replaced.
func TestChecksumUpdateDifferential(t *testing.T) {
	r := testRand(t)
	fill := func(b []byte) uint16 {
		binary.BigEndian.PutUint16(b, 0)
		v := ^Checksum(b, 0)
		binary.BigEndian.PutUint16(b, v)
		return v
	}
	for i := range 20000 {
		n := 2 + 2*(r.IntN(40)+10) // even, at least 22: room for a 16-byte address after the field
		b := randBytes(r, n)
		b[2] |= 1 // keep the sum away from one's-complement zero (as protocol/version fields do)
		xsum := fill(b)
		switch i % 4 {
		case 0: // a 16-bit word at an even offset
			at := 2 + 2*r.IntN((n-2)/2)
			old, new := binary.BigEndian.Uint16(b[at:]), uint16(r.Uint32())
			if i%16 == 0 {
				new = old // no-op update
			}
			if at == 2 {
				new |= 0x0100 // keep b[2] odd
			}
			got := ChecksumUpdate16(xsum, old, new)
			binary.BigEndian.PutUint16(b[at:], new)
			if want := fill(b); got != want {
				t.Fatalf("case %d word at %d %#x->%#x: incremental %#04x, recompute %#04x", i, at, old, new, got, want)
			}
		case 1: // a 16-bit word at an odd offset, passed byte-swapped
			at := 3 + 2*r.IntN((n-4)/2)
			old, new := binary.BigEndian.Uint16(b[at:]), uint16(r.Uint32())
			got := ChecksumUpdate16(xsum, bits.ReverseBytes16(old), bits.ReverseBytes16(new))
			binary.BigEndian.PutUint16(b[at:], new)
			if want := fill(b); got != want {
				t.Fatalf("case %d odd word at %d: incremental %#04x, recompute %#04x", i, at, got, want)
			}
		case 2, 3: // a 4- or 16-byte address at an even offset
			al := 4
			if i%4 == 3 {
				al = 16
			}
			at := 4 + 2*r.IntN((n-4-al)/2+1)
			old := append([]byte(nil), b[at:at+al]...)
			new := randBytes(r, al)
			got := ChecksumUpdateAddress(xsum, old, new)
			copy(b[at:], new)
			if want := fill(b); got != want {
				t.Fatalf("case %d addr at %d %x->%x: incremental %#04x, recompute %#04x", i, at, old, new, got, want)
			}
		}
	}
}

func TestChecksumUpdate32(t *testing.T) {
	r := testRand(t)
	for range 5000 {
		b := randBytes(r, 24)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], 0)
		binary.BigEndian.PutUint16(b[2:], ^Checksum(b, 0))
		old, new := binary.BigEndian.Uint32(b[8:]), r.Uint32()
		got := checksumUpdate32(binary.BigEndian.Uint16(b[2:]), old, new)
		binary.BigEndian.PutUint32(b[8:], new)
		binary.BigEndian.PutUint16(b[2:], 0)
		if want := ^Checksum(b, 0); got != want {
			t.Fatalf("checksumUpdate32: %#04x, want %#04x", got, want)
		}
	}
}

func TestChecksumAllocs(t *testing.T) {
	buf := make([]byte, 1500)
	a, b := make([]byte, 16), make([]byte, 16)
	var sink uint16
	if n := testing.AllocsPerRun(100, func() {
		sink += Checksum(buf, 0)
		sink += PseudoHeaderChecksum(6, a, b, 1500)
		sink += ChecksumUpdateAddress(sink, a, b)
		sink += ChecksumUpdate16(sink, 1, 2)
	}); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
	_ = sink
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 64, 1500} {
		buf := randBytes(testRand(b), n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			var s uint16
			for b.Loop() {
				s += Checksum(buf, s)
			}
		})
	}
}

func BenchmarkNaiveChecksum1500(b *testing.B) {
	buf := randBytes(testRand(b), 1500)
	b.SetBytes(1500)
	var s uint16
	for b.Loop() {
		s += naiveChecksum(buf, s)
	}
}
