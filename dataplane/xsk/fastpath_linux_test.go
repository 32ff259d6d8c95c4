package xsk

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

// fastBenchFlow returns flow i's source address and port: 198.18.0.0/15 × 8 ports.
func fastBenchFlow(i int) ([4]byte, uint16) {
	a := 198<<24 | 18<<16 + uint32(i/8)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return b, uint16(10000 + i%8)
}

// BenchmarkFastPath is the steering program's cost per packet on its fast path, through
// BPF_PROG_RUN, one call per packet: a hot hit (one UDP NAT flow, every packet: IPv4, and IPv6 in
// hot_hit_v6), and an IPv4 hit among
// XDPVS_FAST_FLOWS flows (default 1M) in random order; each call is paired with one of a trivial
// XDP program (XDP_PASS) on the same frame, whose cost (the kernel's timing and call overhead) is
// reported as floor-ns/pkt and subtracted in net-ns/pkt.
func BenchmarkFastPath(b *testing.B) {
	testutil.RequireRoot(b)
	flows := 1 << 20
	if s := os.Getenv("XDPVS_FAST_FLOWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("XDPVS_FAST_FLOWS=%q", s)
		}
		flows = n
	}
	ns := testutil.NewNetNS(b, "fpbench")
	testutil.NewVethPair(b, ns, "f0", ns, "f1", 1)
	var (
		st   *Steering
		prog *ebpf.Program
	)
	ns.MustDo(b, func() error {
		var err error
		if st, err = NewSteering(1024); err != nil {
			return err
		}
		b.Cleanup(func() { st.Close() })
		if err := st.EnableFastPath(flows+1024, []int{ns.Ifindex(b, "f0"), ns.Ifindex(b, "f1")}); err != nil {
			return err
		}
		p, xsks, err := st.Program()
		if err != nil {
			return err
		}
		b.Cleanup(func() { p.Close(); xsks.Close() })
		prog = p
		return nil
	})
	trivial, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { trivial.Close() })
	vip, rs := [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 2, 15: 1}, [4]byte{198, 18, 1, 10}
	keys, recs := make([]FastKey4, 0, MaxFlowBatch), make([]FastRecord, 0, MaxFlowBatch)
	for i := 0; i < flows; i++ {
		src, sport := fastBenchFlow(i)
		var s16 [16]byte
		copy(s16[12:], src[:])
		s16[10], s16[11] = 0xff, 0xff
		keys = append(keys, Flow4(udp, &s16, sport, &vip, 53))
		r := FastRecord{Kind: FastNAT, Port: 1, Ifindex: 3, Slot: uint32(i), L4Delta: 0x1234, IpDelta: 0x4321,
			Sport: htons(sport), Dport: htons(5353), DstMac: [6]byte{2, 0, 0, 0, 1, 10}, SrcMac: [6]byte{2, 0, 0, 0, 0xd1, 0}}
		copy(r.Saddr[:], src[:])
		copy(r.Daddr[:], rs[:])
		recs = append(recs, r)
		if len(keys) == cap(keys) || i == flows-1 {
			if n, err := st.AddFast4(keys, recs); err != nil || n != len(keys) {
				b.Fatalf("AddFast4: %d, %v", n, err)
			}
			keys, recs = keys[:0], recs[:0]
		}
	}
	// One IPv6 connection direction, for its hot hit.
	src6, vip6 := netip.MustParseAddr("2001:2::1").As16(), netip.MustParseAddr("2001:2:0:2::1").As16()
	rec6 := FastRecord{Kind: FastNAT, Port: 1, Ifindex: 3, Slot: uint32(flows), L4Delta: 0x1234,
		Sport: htons(10000), Dport: htons(5353), DstMac: [6]byte{2, 0, 0, 0, 1, 10}, SrcMac: [6]byte{2, 0, 0, 0, 0xd1, 0}}
	rec6.Saddr, rec6.Daddr = src6, netip.MustParseAddr("2001:2:0:1::10").As16()
	if n, err := st.AddFast6([]FlowKey{Flow(udp, &src6, 10000, &vip6, 53, false)}, []FastRecord{rec6}); err != nil || n != 1 {
		b.Fatalf("AddFast6: %d, %v", n, err)
	}
	run := func(b *testing.B, frame []byte, vary func()) {
		var net, floor float64
		for b.Loop() {
			vary()
			ret, d, err := prog.Benchmark(frame, 1, nil)
			if err != nil || ret != 4 {
				b.Fatalf("fast path: %d, %v (want XDP_REDIRECT)", ret, err)
			}
			_, f, err := trivial.Benchmark(frame, 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			net += float64(d.Nanoseconds())
			floor += float64(f.Nanoseconds())
		}
		b.ReportMetric(net/float64(b.N), "ns/pkt")
		b.ReportMetric(floor/float64(b.N), "floor-ns/pkt")
		b.ReportMetric((net-floor)/float64(b.N), "net-ns/pkt")
	}
	frame := v4(b, "udp", "198.18.0.0", 10000, "198.18.2.1", 53)
	setFlow := func(i int) {
		src, sport := fastBenchFlow(i)
		copy(frame[26:30], src[:])
		binary.BigEndian.PutUint16(frame[34:36], sport)
	}
	b.Run("hot_hit", func(b *testing.B) { run(b, frame, func() { setFlow(0) }) })
	b.Run("hot_hit_v6", func(b *testing.B) { run(b, v6(b, "udp", "2001:2::1", 10000, "2001:2:0:2::1", 53), func() {}) })
	r := rand.New(rand.NewPCG(1, 2))
	b.Run("random_"+strconv.Itoa(flows), func(b *testing.B) { run(b, frame, func() { setFlow(r.IntN(flows)) }) })
}

// TestFastZeroAllocs: the workers add and delete fast-path records once per batch; none of it
// allocates.
func TestFastZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	st, _, _ := newTestSteering(t)
	if err := st.EnableFastPath(1024, nil); err != nil {
		t.Fatal(err)
	}
	var keys4 []FastKey4
	var keys6 []FlowKey
	for _, k := range testFlows {
		if k.Family == familyV4 {
			keys4 = append(keys4, FastKey4{Saddr: [4]byte(k.Saddr[:4]), Daddr: [4]byte(k.Daddr[:4]), Sport: k.Sport, Dport: k.Dport, Proto: k.Proto})
		} else {
			keys6 = append(keys6, k)
		}
	}
	recs := make([]FastRecord, len(testFlows))
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := st.AddFast4(keys4, recs[:len(keys4)]); err != nil || n != len(keys4) {
			t.Fatal(n, err)
		}
		if n, err := st.AddFast6(keys6, recs[:len(keys6)]); err != nil || n != len(keys6) {
			t.Fatal(n, err)
		}
		if err := st.DeleteFast4(keys4); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteFast6(keys6); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per add and delete", allocs)
	}
	if n, err := st.FastRecords(); err != nil || n != 0 {
		t.Fatalf("FastRecords after deleting them all: %d, %v", n, err)
	}
}

// TestFastKeys: Flow4 keeps the frame's order (addresses, then ports), and AddFast6 refuses an IPv4
// key, which its map would hold but never find.
func TestFastKeys(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.100").As16(), netip.MustParseAddr("198.18.2.10").As16()
	k := Flow4(tcp, &src, 0x1234, &dst, 80)
	got := unsafe.Slice((*byte)(unsafe.Pointer(&k)), unsafe.Sizeof(k))
	want := []byte{198, 18, 0, 100, 198, 18, 2, 10, 0x12, 0x34, 0, 80, tcp, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("Flow4: % x, want % x", got, want)
	}
	st, _, _ := newTestSteering(t)
	if err := st.EnableFastPath(1024, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddFast6(testFlows[:1], make([]FastRecord, 1)); err == nil {
		t.Fatal("AddFast6 took an IPv4 key")
	}
	if n, _ := st.FastRecords(); n != 0 {
		t.Fatalf("%d records after a refused add", n)
	}
}
