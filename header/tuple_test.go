package header

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestAddr(t *testing.T) {
	a := AddrFrom4([]byte{192, 0, 2, 1})
	if !a.Is4() || a.String() != "192.0.2.1" || string(a.Bytes()) != "\xc0\x00\x02\x01" ||
		a != AddrFromNetip(netip.MustParseAddr("192.0.2.1")) || a.Netip() != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("IPv4 Addr %v", a)
	}
	if a != AddrFromNetip(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Error("mapped form differs")
	}
	six := netip.MustParseAddr("2001:db8::1")
	b := AddrFrom16(six.AsSlice())
	if b.Is4() || b.String() != "2001:db8::1" || len(b.Bytes()) != 16 || b.Netip() != six || b != AddrFromNetip(six) {
		t.Errorf("IPv6 Addr %v", b)
	}
	// An IPv6 address that only looks partly like the mapped prefix is not IPv4.
	if near, compat := AddrFromNetip(netip.MustParseAddr("::fffe:1.2.3.4")), AddrFromNetip(netip.MustParseAddr("::1.2.3.4")); near.Is4() || compat.Is4() {
		t.Error("non-mapped address reported as IPv4")
	}
}

// TestTupleEqual: Equal is ==, whichever byte of a tuple differs.
func TestTupleEqual(t *testing.T) {
	base := Tuple{SrcAddr: AddrFromNetip(netip.MustParseAddr("2001:2::1")), DstAddr: AddrFrom4([]byte{198, 18, 0, 2}),
		SrcPort: 40000, DstPort: 80, Proto: ProtocolTCP}
	if u := base; !base.Equal(&u) {
		t.Fatal("a tuple differs from its copy")
	}
	raw := func(u *Tuple) []byte { // every byte Equal must read, as a slice over the fields
		b := append(append([]byte(nil), u.SrcAddr[:]...), u.DstAddr[:]...)
		return append(binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(b, u.SrcPort), u.DstPort), u.Proto)
	}
	n := len(raw(&base))
	for i := range n {
		for _, bit := range []byte{1, 0x80} {
			b := raw(&base)
			b[i] ^= bit
			var u Tuple
			copy(u.SrcAddr[:], b[0:16])
			copy(u.DstAddr[:], b[16:32])
			u.SrcPort, u.DstPort, u.Proto = binary.LittleEndian.Uint16(b[32:]), binary.LittleEndian.Uint16(b[34:]), b[36]
			if base.Equal(&u) || u.Equal(&base) || (u == base) {
				t.Errorf("byte %d bit %#x flipped: still equal", i, bit)
			}
		}
	}
}

func TestTuple(t *testing.T) {
	tu := Tuple{
		SrcAddr: AddrFrom4([]byte{198, 18, 0, 1}), DstAddr: AddrFrom4([]byte{198, 18, 0, 2}),
		SrcPort: 40000, DstPort: 80, Proto: ProtocolTCP,
	}
	rev := tu.Reverse()
	if rev.SrcAddr != tu.DstAddr || rev.DstAddr != tu.SrcAddr || rev.SrcPort != 80 || rev.DstPort != 40000 ||
		rev.Proto != ProtocolTCP || rev.Reverse() != tu || !tu.Is4() {
		t.Errorf("Reverse = %+v", rev)
	}
	same := Tuple{
		SrcAddr: AddrFromNetip(tu.SrcAddr.Netip()), DstAddr: AddrFromNetip(tu.DstAddr.Netip()),
		SrcPort: 40000, DstPort: 80, Proto: ProtocolTCP,
	}
	k1, k2, k7 := HashKeyOf(1, 0), HashKeyOf(2, 0), NewHashKey()
	if same.Hash(&k1) != tu.Hash(&k1) {
		t.Error("Hash differs for equal tuples built apart")
	}
	if tu.Hash(&k1) == tu.Hash(&k2) || tu.Hash(&k1) == rev.Hash(&k1) {
		t.Error("Hash ignores the key or the direction")
	}
	// Every field changes the hash.
	base := tu.Hash(&k7)
	for i, m := range []func(*Tuple){
		func(x *Tuple) { x.SrcAddr[15]++ },
		func(x *Tuple) { x.DstAddr[0]++ },
		func(x *Tuple) { x.SrcPort++ },
		func(x *Tuple) { x.DstPort++ },
		func(x *Tuple) { x.Proto = ProtocolUDP },
	} {
		x := tu
		m(&x)
		if x.Hash(&k7) == base {
			t.Errorf("mutation %d does not change the hash", i)
		}
	}
	if n := testing.AllocsPerRun(100, func() { base += tu.Hash(&k7) }); n != 0 {
		t.Errorf("Hash allocs = %v", n)
	}
}

// TestTupleHashSpread: low bits of the hash are spread evenly over sequential ports (a scheduler or
// table index takes them).
func TestTupleHashSpread(t *testing.T) {
	const buckets, n = 64, 64 * 1000
	var counts [buckets]int
	key := NewHashKey()
	tu := Tuple{SrcAddr: AddrFrom4([]byte{198, 18, 0, 1}), DstAddr: AddrFrom4([]byte{198, 18, 0, 2}), DstPort: 80, Proto: ProtocolTCP}
	for i := range n {
		tu.SrcPort = uint16(i)
		tu.SrcAddr[15] = byte(i >> 16)
		counts[tu.Hash(&key)%buckets]++
	}
	for i, c := range counts {
		if c < n/buckets*8/10 || c > n/buckets*12/10 {
			t.Errorf("bucket %d holds %d of %d", i, c, n)
		}
	}
}

func BenchmarkTupleHash(b *testing.B) {
	tu := Tuple{SrcAddr: AddrFrom4([]byte{198, 18, 0, 1}), DstAddr: AddrFrom4([]byte{198, 18, 0, 2}), SrcPort: 1, DstPort: 80, Proto: 6}
	b.ReportAllocs()
	k := NewHashKey()
	var s uint64
	for b.Loop() {
		tu.SrcPort++
		s += tu.Hash(&k)
	}
	sinkHash = s
}

var sinkHash uint64

// TestTupleHashIsSipHash13: Hash is SipHash-1-3 of the tuple's 37 bytes (addresses, ports in
// little-endian order, protocol), checked against the reference implementation for random keys and
// tuples.
func TestTupleHashIsSipHash13(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		var tu Tuple
		for i := range tu.SrcAddr {
			tu.SrcAddr[i], tu.DstAddr[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		tu.SrcPort, tu.DstPort, tu.Proto = uint16(rng.Uint32()), uint16(rng.Uint32()), uint8(rng.Uint32())
		k := HashKeyOf(rng.Uint64(), rng.Uint64())
		msg := append(append(append([]byte{}, tu.SrcAddr[:]...), tu.DstAddr[:]...),
			byte(tu.SrcPort), byte(tu.SrcPort>>8), byte(tu.DstPort), byte(tu.DstPort>>8), tu.Proto)
		if got, want := tu.Hash(&k), sipHash(k.k0, k.k1, msg, 1, 3); got != want {
			t.Fatalf("Hash(%+v) = %#x, want SipHash-1-3 %#x", tu, got, want)
		}
	}
}

// TestTupleHashNoStructuralCollisions: the old hash (a weighted sum of the words, then a bijection)
// let tuples from one IPv6 /64 collide on all 64 bits whatever the seed: for each source port p,
// the interface identifier (K - p*c5) / c2 gave the same sum. Under a random key those tuples, and
// those that differ only in bit 63 of two words (which cancels in any sum mod 2^64), spread like
// any others.
func TestTupleHashNoStructuralCollisions(t *testing.T) {
	const c2, c5 = 0xc2b2ae3d27d4eb4f, 0x27d4eb2f165667c5
	inv := uint64(1) // c2^-1 mod 2^64 by Newton's iteration
	for range 6 {
		inv *= 2 - c2*inv
	}
	key := NewHashKey()
	seen := map[uint64]bool{}
	base := Tuple{SrcAddr: AddrFromNetip(netip.MustParseAddr("2001:2::")), DstAddr: AddrFromNetip(netip.MustParseAddr("2001:2:0:1::10")),
		DstPort: 443, Proto: ProtocolTCP}
	const n = 20000
	for p := range n {
		x := base
		x.SrcPort = uint16(p)
		binary.LittleEndian.PutUint64(x.SrcAddr[8:], (0x1234-uint64(p)*c5)*inv) // all equal under the old sum
		seen[x.Hash(&key)>>44] = true                                           // 20 bits: ~n buckets
	}
	x := base
	x.SrcAddr[7] ^= 0x80
	x.DstAddr[7] ^= 0x80
	if x.Hash(&key) == base.Hash(&key) {
		t.Error("tuples differing in bit 63 of two words collide")
	}
	// 20,000 keys in 2^20 buckets: about 19,800 distinct if they are random, 1 if they collide.
	if len(seen) < n*95/100 {
		t.Errorf("%d distinct 20-bit hashes for %d crafted tuples", len(seen), n)
	}
}

// TestTupleHashReference: Hash is SipHash-1-3 (the reference sipHash) over the message its doc
// comment gives: 13 bytes for an IPv4 tuple, the 37 bytes of the tuple for any other.
func TestTupleHashReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		k := HashKeyOf(rng.Uint64(), rng.Uint64())
		var tu Tuple
		for j := range tu.SrcAddr {
			tu.SrcAddr[j], tu.DstAddr[j] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		tu.SrcPort, tu.DstPort, tu.Proto = uint16(rng.Uint32()), uint16(rng.Uint32()), uint8(rng.Uint32())
		switch i % 4 {
		case 0: // IPv4
			tu.SrcAddr, tu.DstAddr = AddrFrom4(tu.SrcAddr[:4]), AddrFrom4(tu.DstAddr[:4])
		case 1: // one address of each family: the long form
			tu.SrcAddr = AddrFrom4(tu.SrcAddr[:4])
		}
		var msg []byte
		if tu.SrcAddr.Is4() && tu.DstAddr.Is4() {
			msg = append(append(msg, tu.SrcAddr[12:]...), tu.DstAddr[12:]...)
		} else {
			msg = append(append(msg, tu.SrcAddr[:]...), tu.DstAddr[:]...)
		}
		msg = binary.LittleEndian.AppendUint16(msg, tu.SrcPort)
		msg = binary.LittleEndian.AppendUint16(msg, tu.DstPort)
		msg = append(msg, tu.Proto)
		if got, want := tu.Hash(&k), sipHash(k.k0, k.k1, msg, 1, 3); got != want {
			t.Fatalf("Hash(%+v) = %#x, want SipHash-1-3 of % x = %#x", tu, got, msg, want)
		}
	}
}
