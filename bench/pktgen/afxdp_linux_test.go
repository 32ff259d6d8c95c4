package pktgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

func mustXSK(tb testing.TB, c Config) *XSKGenerator {
	tb.Helper()
	testutil.RequireRoot(tb)
	g, err := NewXSK(c)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.Close() })
	return g
}

// TestEnginesAgree runs the BPF program once per frame (without live frames, so the frame comes
// back in DataOut) and the AF_XDP engine's framer on a buffer that held other frames, with the
// program's stamp time: every frame must be the same, byte for byte. Each engine checks the other.
func TestEnginesAgree(t *testing.T) {
	for i := range framerCases {
		tc := &framerCases[i]
		t.Run(tc.name, func(t *testing.T) {
			c := tc.config()
			g := mustGenerator(t, c)
			const limit = 400
			if err := g.arm(limit); err != nil {
				t.Fatal(err)
			}
			tmpl, _ := c.Frame()
			f := newFramer(c, tmpl)
			buf := bytes.Clone(tmpl)
			out := make([]byte, len(tmpl))
			for i := range limit {
				if _, err := g.objs.XdpvsPktgen.Run(&ebpf.RunOptions{Data: tmpl, DataOut: out}); err != nil {
					t.Fatal(err)
				}
				var now uint64
				if c.Stamped() {
					now = binary.BigEndian.Uint64(out[c.PayloadOffset()+8:])
				}
				f.write(buf, uint32(i), now)
				if !bytes.Equal(buf, out) {
					for j := range buf {
						if buf[j] != out[j] {
							t.Fatalf("frame %d: the engines differ first at byte %d: AF_XDP %#02x, BPF %#02x", i, j, buf[j], out[j])
						}
					}
				}
			}
		})
	}
}

// TestXSKSinkCounts sends a fixed number of frames of several sizes, families and protocols from
// the AF_XDP engine at a sink: it must count exactly that many, of exactly that size, and time
// every stamped one.
func TestXSKSinkCounts(t *testing.T) {
	p := newPair(t)
	sink, err := AttachSink(p.b.NS, "b0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.SetDropTCP(true); err != nil {
		t.Fatal(err)
	}
	var total Count
	for _, tc := range []struct {
		v6    bool
		size  int
		tcp   bool
		count uint64
		rate  float64
	}{
		{false, 64, false, 200_000, 0},
		{false, 1518, false, 50_000, 0},
		{true, 78, false, 100_000, 0},
		{true, 1518, false, 10_000, 0},
		{false, 512, true, 30_000, 0},
		{true, 1000, true, 30_000, 0},
		{false, 64, false, 20_000, 100_000},
	} {
		name := fmt.Sprintf("v6=%v/size=%d/tcp=%v/rate=%.0f", tc.v6, tc.size, tc.tcp, tc.rate)
		c := p.config(tc.v6, tc.size)
		if tc.tcp {
			c.Proto, c.TCPFlags = TCP, FlagACK
		}
		c.Flows, c.Addrs = 64, 4
		c.Src = p.srcRange[map[bool]int{true: 1}[tc.v6]]
		g, err := NewXSK(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.ResetLatency(); err != nil {
			t.Fatal(err)
		}
		drops0 := p.vethDrops(t)
		res, err := g.Run(p.a.NS, p.aIdx, tc.count, RunOptions{Duration: 10 * time.Second, Pin: true, CPU: 0, Rate: tc.rate})
		if cerr := g.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Sent != tc.count {
			t.Fatalf("%s: sent %d, want %d", name, res.Sent, tc.count)
		}
		if res.MaxBurst > DefaultXSKBatch {
			t.Errorf("%s: %d frames in one batch, more than %d", name, res.MaxBurst, DefaultXSKBatch)
		}
		t.Logf("%s: %d frames in %v: %.2f Mpps on CPU %d", name, res.Sent, res.Elapsed, res.PPS()/1e6, res.CPU)
		var st SinkStats
		var dropped uint64
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if st, err = sink.Read(); err != nil {
				t.Fatal(err)
			}
			// Unpaced, the veth may drop a few frames when the sink's NAPI falls behind (a busy
			// machine); the kernel counts them, and the sink must count all the others.
			dropped = p.vethDrops(t) - drops0
			want := Count{total.Packets + tc.count - dropped, total.Bytes + (tc.count-dropped)*uint64(tc.size-FCSSize)}
			if st.UDP() == want || time.Now().After(deadline) {
				break
			}
		}
		total.Packets += tc.count - dropped
		total.Bytes += (tc.count - dropped) * uint64(tc.size-FCSSize)
		if st.UDP() != total || dropped > tc.count/100 {
			t.Fatalf("%s: sink counted %+v, want %+v (%d dropped by the veth)", name, st.UDP(), total, dropped)
		}
		if dropped > 0 {
			t.Logf("%s: %d frames dropped by the veth (counted by the kernel)", name, dropped)
		}
		h, err := sink.Latency()
		if err != nil {
			t.Fatal(err)
		}
		if s := h.Summary(); c.Stamped() && (s.Count != tc.count-dropped || s.Min <= 0 || s.Max > time.Second) {
			t.Fatalf("%s: latency %+v, want %d samples between 0 and 1 s (the stamp's clock is CLOCK_MONOTONIC)", name, s, tc.count-dropped)
		} else {
			t.Logf("%s: latency %v", name, s)
		}
	}
}

// vethDrops is what the pair's veth dropped: a0's transmit drops (its peer's ring full) and
// b0's receive drops.
func (p *pair) vethDrops(t *testing.T) uint64 {
	t.Helper()
	var n uint64
	for _, x := range []struct {
		ns   *testutil.NetNS
		file string
	}{{p.a, "/sys/class/net/a0/statistics/tx_dropped"}, {p.b, "/sys/class/net/b0/statistics/rx_dropped"}} {
		out, err := x.ns.Exec("cat", x.file)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
		if err != nil {
			t.Fatalf("%s: %q", x.file, out)
		}
		n += v
	}
	return n
}

// TestXSKQueues: on a veth with two queues, the AF_XDP engine's frames reach the peer's queue of
// the number it binds, and a generator moves to another queue (a new socket) between runs.
func TestXSKQueues(t *testing.T) {
	testutil.RequireRoot(t)
	a, b := testutil.NewNetNS(t, "pgqa"), testutil.NewNetNS(t, "pgqb")
	v := testutil.NewVethPair(t, a, "a0", b, "b0", 2)
	sink, err := AttachSink(b.NS, "b0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c := DefaultConfig()
	c.SrcMAC, c.DstMAC = testutil.Iface(t, a.NS, "a0").HardwareAddr, testutil.Iface(t, b.NS, "b0").HardwareAddr
	c.Src, c.Dst = netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	g := mustXSK(t, c)
	for _, q := range []int{1, 0, 1} {
		before := rxQueuePackets(t, b, "b0")
		const n = 10_000
		if res, err := g.Run(a.NS, v.AIndex, n, RunOptions{Duration: 5 * time.Second, Queue: q}); err != nil || res.Sent != n {
			t.Fatalf("queue %d: sent %d, %v", q, res.Sent, err)
		}
		after := rxQueuePackets(t, b, "b0")
		if d := after[q] - before[q]; d < n {
			t.Fatalf("queue %d: the peer's queue %d received %d of %d (all queues before %v, after %v)", q, q, d, n, before, after)
		}
	}
	if _, err := g.Run(a.NS, v.AIndex, 1, RunOptions{Duration: time.Second, Queue: 5}); err == nil {
		t.Fatal("bound queue 5 of a 2-queue veth")
	}
}

// rxQueuePackets reads rx_queue_<n>_xdp_packets of a veth with an XDP program.
func rxQueuePackets(t *testing.T, ns *testutil.NetNS, dev string) map[int]uint64 {
	t.Helper()
	out := map[int]uint64{}
	for _, l := range bytes.Split([]byte(ns.Run(t, "ethtool", "-S", dev)), []byte("\n")) {
		var q int
		var v uint64
		if _, err := fmt.Sscanf(string(bytes.TrimSpace(l)), "rx_queue_%d_xdp_packets: %d", &q, &v); err == nil {
			out[q] = v
		}
	}
	return out
}

// TestXSKNoAllocs: the AF_XDP engine's per-frame path allocates nothing: a run of many more
// frames allocates no more than a short one.
func TestXSKNoAllocs(t *testing.T) {
	p := newPair(t)
	sink, err := AttachSink(p.b.NS, "b0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	g := mustXSK(t, p.config(false, 64))
	mallocs := func(n uint64, rate float64) uint64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		if res, err := g.Run(p.a.NS, p.aIdx, n, RunOptions{Duration: 10 * time.Second, Pin: true, CPU: 0, Rate: rate}); err != nil || res.Sent != n {
			t.Fatalf("sent %d of %d: %v", res.Sent, n, err)
		}
		runtime.ReadMemStats(&m1)
		return m1.Mallocs - m0.Mallocs
	}
	mallocs(1000, 0) // binds the socket
	for _, rate := range []float64{0, 200_000} {
		short, long := mallocs(1000, rate), mallocs(101_000, rate)
		t.Logf("rate %.0f: %d allocations for 1000 frames, %d for 101000", rate, short, long)
		if long > short+20 {
			t.Errorf("rate %.0f: %d allocations for 100000 more frames", rate, long-short)
		}
	}
}

// TestEngineRates (XDPVS_BENCH=1) measures both engines side by side in one run, through one
// veth into an XDP sink, the sending thread pinned to CPU 0: unpaced Mpps (median of 3 runs of
// 1 s) per frame size, and, paced at 0.5 Mpps, the achieved rate and the largest burst. The
// BPF_PROG_RUN engine is measured with and without its dispatcher anchor.
func TestEngineRates(t *testing.T) {
	if os.Getenv("XDPVS_BENCH") != "1" {
		t.Skip("skipping: a measurement; set XDPVS_BENCH=1 (root)")
	}
	p := newPair(t)
	sink, err := AttachSink(p.b.NS, "b0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	type variant struct {
		name string
		open func(Config) (Sender, error)
	}
	variants := []variant{
		{"prog-run", func(c Config) (Sender, error) { return New(c) }},
		{"prog-run, no anchor", func(c Config) (Sender, error) {
			g, err := New(c)
			if err == nil {
				err = g.anchor.close()
				g.anchor = nil
			}
			return g, err
		}},
		{"af-xdp", func(c Config) (Sender, error) { return NewXSK(c) }},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| engine | frame | unpaced Mpps (median of 3 × 1 s) | delivered Mpps | paced at 0.5 Mpps: achieved | largest burst |\n|---|---:|---:|---:|---:|---:|\n")
	for _, size := range []int{64, 512, 1518} {
		for _, v := range variants {
			c := p.config(false, size)
			c.Addrs = 16
			c.Src = p.srcRange[0]
			g, err := v.open(c)
			if err != nil {
				t.Fatal(err)
			}
			var rates, delivered []float64
			for range 3 {
				before, _ := sink.Read()
				res, err := g.Run(p.a.NS, p.aIdx, 1<<40, RunOptions{Duration: time.Second, Pin: true, CPU: 0})
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond)
				after, _ := sink.Read()
				rates = append(rates, res.PPS())
				delivered = append(delivered, float64(after.UDP().Packets-before.UDP().Packets)/res.Elapsed.Seconds())
			}
			paced, err := g.Run(p.a.NS, p.aIdx, 1<<40, RunOptions{Duration: time.Second, Pin: true, CPU: 0, Rate: 500_000})
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			slices.Sort(rates)
			slices.Sort(delivered)
			fmt.Fprintf(&table, "| %s | %d B | %.3f | %.3f | %.3f | %d |\n", v.name, size, rates[1]/1e6, delivered[1]/1e6, paced.PPS()/1e6, paced.MaxBurst)
		}
	}
	t.Logf("engines through one veth into an XDP sink, CPU 0:\n%s", table.String())
}
