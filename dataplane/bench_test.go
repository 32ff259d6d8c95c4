package dataplane

// Benchmarks of the per-packet pipeline, driven with frames in memory (no NIC, no xsk rings): what
// one worker's Process costs per packet. Run with
//
//	go test -run '^$' -bench BenchmarkPipeline -benchtime=2s ./dataplane/
//
// Process rewrites a frame in place, so a frame cannot be fed twice. Every case therefore copies a
// pristine frame (60-154 bytes) into a scratch buffer before each Process; the copy is part of the
// measured time, and BenchmarkPipeline/copy_only measures it alone so that it can be subtracted.
// A real worker has no such copy: the NIC writes the frame.

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

// reportPerPacket reports ns/pkt and Mpps for pkts packets processed in the loop.
func reportPerPacket(b *testing.B, pkts int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(pkts)
	b.ReportMetric(ns, "ns/pkt")
	b.ReportMetric(1e3/ns, "Mpps")
}

// frameSet is n frames of at most stride bytes, back to back.
type frameSet struct {
	buf    []byte
	lens   []uint16
	stride int
}

func newFrameSet(n, stride int) *frameSet {
	return &frameSet{buf: make([]byte, n*stride), lens: make([]uint16, n), stride: stride}
}

func (s *frameSet) set(i int, f []byte) {
	if len(f) > s.stride {
		panic("frame larger than the stride")
	}
	s.lens[i] = uint16(copy(s.buf[i*s.stride:], f))
}

func (s *frameSet) get(i int) []byte {
	o := i * s.stride
	return s.buf[o : o+int(s.lens[i])]
}

// withClient returns template (a client → VIP TCP frame) from client (addr, port), checksums
// recomputed.
func withClient(template []byte, addr netip.Addr, port uint16) []byte {
	f := append([]byte(nil), template...)
	var pp header.Packet
	if pp.Parse(f) != header.ParseOK {
		panic("template does not parse")
	}
	tcp := header.TCP(f[pp.L4Offset : pp.L3Offset+pp.L3Length])
	tcp.SetSourcePort(port)
	var src, dst []byte
	if pp.IsIPv6 {
		ip := header.IPv6(f[pp.L3Offset:])
		ip.SetSourceAddress(addr.AsSlice())
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := header.IPv4(f[pp.L3Offset:])
		ip.SetSourceAddress(addr.AsSlice())
		ip.FillChecksum()
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	}
	tcp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint16(len(tcp))))
	return f
}

// benchClient returns the i-th of many clients behind the client-side router: 198.19.0.0/16, 16
// ports each.
func benchClient(i int) (netip.Addr, uint16) {
	a := netip.AddrFrom4([4]byte{198, 19, byte(i >> 12), byte(i >> 4)})
	return a, uint16(1024 + i&15)
}

// newBenchEnv is newTestEnv with a route to the clients of benchClient through 198.18.0.1.
func newBenchEnv(tb testing.TB, capacity int) *testEnv {
	e := newTestEnv(tb, capacity)
	e.neigh.SetRoutes([]Route{
		{Prefix: netip.MustParsePrefix("198.18.0.0/24"), Port: 0},
		{Prefix: netip.MustParsePrefix("198.19.0.0/16"), Port: 0, Gateway: rtr4},
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 1},
		{Prefix: netip.MustParsePrefix("2001:2::/64"), Port: 0},
		{Prefix: netip.MustParsePrefix("2001:2:0:1::/64"), Port: 1},
	})
	e.neigh.Set(0, rtr4, cliMAC, true)
	return e
}

func BenchmarkPipeline(b *testing.B) {
	// hot: one established connection, the same packet again and again: the table entry and the
	// frame stay in L1. Each frame is restored before Process (see the file comment).
	hotWith := func(b *testing.B, completeSums bool, prep []step, frames ...frameFn) {
		e := newTestEnv(b, 1024)
		e.p.completeSums = completeSums
		for _, s := range prep {
			mustTX(b, e.p, s.f(b), s.port, t0)
		}
		var pristine [][]byte
		for _, f := range frames {
			pristine = append(pristine, f(b))
		}
		var scratch [2048]byte
		now := t0 + second
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for _, f := range pristine {
				fr := scratch[:copy(scratch[:], f)]
				if v, _ := e.p.Process(fr, 0, now); v != VerdictTX {
					b.Fatalf("Process = %s", vname(v))
				}
				n++
			}
		}
		reportPerPacket(b, n)
	}
	hot := func(b *testing.B, prep []step, frames ...frameFn) { hotWith(b, false, prep, frames...) }
	b.Run("hot_hit_v4", func(b *testing.B) { hot(b, handshake4(), dataC(c2v4).frame) })
	b.Run("hot_hit_v4_batch", func(b *testing.B) { // the same, in batches read ahead
		e := newTestEnv(b, 1024)
		for _, s := range handshake4() {
			mustTX(b, e.p, s.f(b), s.port, t0)
		}
		set := newFrameSet(1, 256)
		set.set(0, dataC(c2v4).frame(b))
		batched(b, e.p, set, VerdictTX, nil)
	})
	b.Run("hot_reply_v4", func(b *testing.B) { hot(b, handshake4(), dataS(r2l4).frame) })
	b.Run("hot_both_ways_v4", func(b *testing.B) { hot(b, handshake4(), dataC(c2v4).frame, ack(r2l4).frame) })
	b.Run("hot_hit_v6", func(b *testing.B) { hot(b, handshake6(), dataC(c2v6).frame) })
	b.Run("hot_hit_udp4", func(b *testing.B) { hot(b, []step{at(0, c2vU4.frame)}, c2vU4.frame) })
	// --complete-checksums: what the check costs a packet with a right checksum, and what a packet
	// whose checksum was left to offload costs (a full checksum of its 140 bytes).
	b.Run("hot_hit_v4_complete_checksums", func(b *testing.B) { hotWith(b, true, handshake4(), dataC(c2v4).frame) })
	b.Run("hot_hit_v4_checksum_completed", func(b *testing.B) {
		hotWith(b, true, handshake4(), func(tb testing.TB) []byte { return partialize(tb, dataC(c2v4).frame(tb), false) })
	})

	b.Run("copy_only", func(b *testing.B) {
		pristine := dataC(c2v4).frame(b)
		var scratch [2048]byte
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			_ = scratch[:copy(scratch[:], pristine)]
			n++
		}
		reportPerPacket(b, n)
	})

	b.Run("copy_only_batch", func(b *testing.B) { // what batched's copies cost
		set := newFrameSet(1, 256)
		set.set(0, dataC(c2v4).frame(b))
		batched(b, nil, set, VerdictTX, nil)
	})

	// warm_1M: a million connections, then established packets of all of them in a random order.
	// The frames are laid out in that order, so reading them is sequential (as frames fresh from a
	// NIC would be in cache) and the cache misses are the table's. warm_1M takes them one by one;
	// warm_1M_batch in batches of batchSize read ahead first (readahead.go), as a worker does.
	warm1M := func(b *testing.B) (*testEnv, *frameSet) {
		const conns = 1_000_000
		e := newBenchEnv(b, 1<<20)
		synT, ackT := syn(c2v4).frame(b), ack(c2v4).frame(b)
		var scratch [2048]byte
		for i := range conns {
			a, port := benchClient(i)
			mustTX(b, e.p, scratch[:copy(scratch[:], withClient(synT, a, port))], 0, t0)
		}
		order := rand.New(rand.NewPCG(1, 2)).Perm(conns) // fixed: the same run every time
		set := newFrameSet(conns, 64)
		for i, k := range order {
			a, port := benchClient(k)
			set.set(i, withClient(ackT, a, port))
		}
		for i := range conns { // SYN_RECV → ESTABLISHED, untimed
			mustTX(b, e.p, scratch[:copy(scratch[:], set.get(i))], 0, t0)
		}
		if n := e.p.table.Len(); n != conns {
			b.Fatalf("table holds %d connections, want %d", n, conns)
		}
		return e, set
	}
	b.Run("warm_1M", func(b *testing.B) {
		e, set := warm1M(b)
		var scratch [2048]byte
		now := t0 + second
		b.ReportAllocs()
		n, i := 0, 0
		for b.Loop() {
			fr := scratch[:copy(scratch[:], set.get(i))]
			if v, _ := e.p.Process(fr, 0, now); v != VerdictTX {
				b.Fatalf("Process = %s", vname(v))
			}
			n++
			if i++; i == len(set.lens) {
				i = 0
			}
		}
		reportPerPacket(b, n)
	})
	b.Run("warm_1M_batch", func(b *testing.B) {
		e, set := warm1M(b)
		batched(b, e.p, set, VerdictTX, nil)
	})

	// new_flow: the SYN of a connection the table does not hold: schedule, two next-hop lookups,
	// insert, rewrite. 65536 clients in turn; each time round, the clock moves on 61 s and the
	// wheel expires the previous round's connections (SYN_RECV lasts 60 s), as a worker's expiry
	// would. That expiry is part of the measured time. new_flow_v4_batch reads batches ahead.
	const flows = 1 << 16
	newFlows := func(b *testing.B) (*testEnv, *frameSet) {
		e := newBenchEnv(b, 2*flows)
		synT := syn(c2v4).frame(b)
		set := newFrameSet(flows, 64)
		for i := range flows {
			a, port := benchClient(i)
			set.set(i, withClient(synT, a, port))
		}
		return e, set
	}
	b.Run("new_flow_v4", func(b *testing.B) {
		e, set := newFlows(b)
		var scratch [2048]byte
		now := t0
		b.ReportAllocs()
		n, i := 0, 0
		for b.Loop() {
			fr := scratch[:copy(scratch[:], set.get(i))]
			if v, _ := e.p.Process(fr, 0, now); v != VerdictTX {
				b.Fatalf("Process = %s (%s)", vname(v), nonZero(e.p.c))
			}
			n++
			if i++; i == flows {
				i = 0
				now += int64(61 * time.Second)
				e.p.table.Expire(now, 0)
			}
		}
		reportPerPacket(b, n)
	})
	b.Run("new_flow_v4_batch", func(b *testing.B) {
		e, set := newFlows(b)
		batched(b, e.p, set, VerdictTX, func(now int64) int64 {
			now += int64(61 * time.Second)
			e.p.table.Expire(now, 0)
			return now
		})
	})

	// drop_no_conn: a TCP ACK to the VIP without a connection: parse, lookup, service, drop.
	b.Run("drop_no_conn", func(b *testing.B) {
		e := newTestEnv(b, 1024)
		f := ack(c2v4).frame(b)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if v, _ := e.p.Process(f, 0, t0); v != VerdictDrop {
				b.Fatalf("Process = %s", vname(v))
			}
			n++
		}
		reportPerPacket(b, n)
	})
}

// batched runs the frames of set through p in turn, in batches of batchSize that ReadAhead reads
// first, as a worker does with what it receives, each frame copied into a frame of the batch's
// own before. Every frame must get verdict want. Each time round the set, round (if not nil)
// moves the clock on. It reports ns/pkt and Mpps. With p nil, it measures the copies alone
// (copy_only_batch).
func batched(b *testing.B, p *Pipeline, set *frameSet, want Verdict, round func(now int64) int64) {
	const room = 256 // bytes of each frame of the batch: headroom and tailroom for the rewrites
	scratch := make([]byte, batchSize*room)
	var frames [batchSize][]byte
	now := t0 + second
	if round != nil {
		now = t0
	}
	b.ReportAllocs()
	n, i := 0, 0
	for b.Loop() {
		for j := range frames {
			f := set.get(i)
			frames[j] = scratch[j*room+64 : j*room+64+copy(scratch[j*room+64:(j+1)*room], f)]
			if i++; i == len(set.lens) {
				i = 0
				if round != nil {
					now = round(now)
				}
			}
		}
		if p == nil {
			n += batchSize
			continue
		}
		p.ReadAhead(frames[:])
		for j, f := range frames {
			if v, _, _, _ := p.ProcessAheadAt(j, scratch, j*room+64, len(f), 0, now); v != want {
				b.Fatalf("Process = %s (%s)", vname(v), nonZero(p.c))
			}
		}
		n += batchSize
	}
	reportPerPacket(b, n)
}

// TestPipelineZeroAllocs: the per-packet paths allocate nothing.
func TestPipelineZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	const runs = 1000
	var scratch [2048]byte
	restoreAndProcess := func(p *Pipeline, pristine []byte, port int, want Verdict) func() {
		return func() {
			if v, _ := p.Process(scratch[:copy(scratch[:], pristine)], port, t0+second); v != want {
				t.Fatalf("Process = %s, want %s", vname(v), vname(want))
			}
		}
	}
	established := func() *testEnv {
		e := newTestEnv(t, 4096)
		for _, s := range append(handshake4(), at(0, c2vU6.frame)) {
			mustTX(t, e.p, s.f(t), s.port, t0)
		}
		return e
	}

	t.Run("hit", func(t *testing.T) {
		e := established()
		if n := testing.AllocsPerRun(runs, restoreAndProcess(e.p, dataC(c2v4).frame(t), 0, VerdictTX)); n != 0 {
			t.Errorf("%v allocations per packet", n)
		}
	})
	t.Run("reply", func(t *testing.T) {
		e := established()
		if n := testing.AllocsPerRun(runs, restoreAndProcess(e.p, dataS(r2l4).frame(t), 1, VerdictTX)); n != 0 {
			t.Errorf("%v allocations per packet", n)
		}
	})
	t.Run("hit_udp6", func(t *testing.T) {
		e := established()
		if n := testing.AllocsPerRun(runs, restoreAndProcess(e.p, r2lU6.frame(t), 1, VerdictTX)); n != 0 {
			t.Errorf("%v allocations per packet", n)
		}
	})
	t.Run("hit_checksum_completed", func(t *testing.T) {
		e := established()
		e.p.completeSums = true
		before := e.p.c.sumsCompleted
		if n := testing.AllocsPerRun(runs, restoreAndProcess(e.p, partialize(t, dataC(c2v4).frame(t), false), 0, VerdictTX)); n != 0 {
			t.Errorf("%v allocations per packet", n)
		}
		if e.p.c.sumsCompleted-before < runs {
			t.Errorf("%d checksums completed in %d runs", e.p.c.sumsCompleted-before, runs)
		}
	})
	t.Run("icmp_error", func(t *testing.T) {
		e := established()
		f := icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: vip4, mtu: 1300, quoteBuild: quoteOf(dataS(v2c4), 48)}.frame(t)
		if n := testing.AllocsPerRun(runs, restoreAndProcess(e.p, f, 0, VerdictTX)); n != 0 {
			t.Errorf("%v allocations per packet", n)
		}
	})
	t.Run("new_connection", func(t *testing.T) {
		e := newBenchEnv(t, 4096)
		set := newFrameSet(runs+1, 64)
		synT := syn(c2v4).frame(t)
		for i := range runs + 1 {
			a, port := benchClient(i)
			set.set(i, withClient(synT, a, port))
		}
		i := 0
		n := testing.AllocsPerRun(runs, func() {
			if v, _ := e.p.Process(scratch[:copy(scratch[:], set.get(i))], 0, t0); v != VerdictTX {
				t.Fatalf("Process = %s", vname(v))
			}
			i++
		})
		if n != 0 {
			t.Errorf("%v allocations per new connection", n)
		}
		if got := e.p.table.Len(); got != runs+1 {
			t.Errorf("%d connections, want %d", got, runs+1)
		}
	})
	for _, d := range []struct {
		name string
		f    frameFn
	}{
		{"drop_no_conn", ack(c2v4).frame},
		{"drop_no_service", func() pk { p := syn(c2v4); p.dip = vip4None; return p }().frame},
		{"drop_parse", mutate(syn(c2v4).frame, func(b []byte) []byte { return b[:20] })},
		{"drop_neigh_miss", func() pk { p := syn(c2v4); p.sip = cip4Unres; return p }().frame},
	} {
		t.Run(d.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			if n := testing.AllocsPerRun(runs, restoreAndProcess(e.p, d.f(t), 0, VerdictDrop)); n != 0 {
				t.Errorf("%v allocations per packet", n)
			}
		})
	}
}
