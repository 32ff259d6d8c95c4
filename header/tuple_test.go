package header

import (
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
	if AddrFromNetip(netip.MustParseAddr("::fffe:1.2.3.4")).Is4() || AddrFromNetip(netip.MustParseAddr("::1.2.3.4")).Is4() {
		t.Error("non-mapped address reported as IPv4")
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
	if same.Hash(1) != tu.Hash(1) {
		t.Error("Hash differs for equal tuples built apart")
	}
	if tu.Hash(1) == tu.Hash(2) || tu.Hash(1) == rev.Hash(1) {
		t.Error("Hash ignores the seed or the direction")
	}
	// Every field changes the hash.
	base := tu.Hash(7)
	for i, m := range []func(*Tuple){
		func(x *Tuple) { x.SrcAddr[15]++ },
		func(x *Tuple) { x.DstAddr[0]++ },
		func(x *Tuple) { x.SrcPort++ },
		func(x *Tuple) { x.DstPort++ },
		func(x *Tuple) { x.Proto = ProtocolUDP },
	} {
		x := tu
		m(&x)
		if x.Hash(7) == base {
			t.Errorf("mutation %d does not change the hash", i)
		}
	}
	if n := testing.AllocsPerRun(100, func() { base += tu.Hash(base) }); n != 0 {
		t.Errorf("Hash allocs = %v", n)
	}
}

// TestTupleHashSpread: low bits of the hash are spread evenly over sequential ports (a scheduler or
// table index takes them).
func TestTupleHashSpread(t *testing.T) {
	const buckets, n = 64, 64 * 1000
	var counts [buckets]int
	tu := Tuple{SrcAddr: AddrFrom4([]byte{198, 18, 0, 1}), DstAddr: AddrFrom4([]byte{198, 18, 0, 2}), DstPort: 80, Proto: ProtocolTCP}
	for i := range n {
		tu.SrcPort = uint16(i)
		tu.SrcAddr[15] = byte(i >> 16)
		counts[tu.Hash(0)%buckets]++
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
	var s uint64
	for b.Loop() {
		s += tu.Hash(s)
	}
}
