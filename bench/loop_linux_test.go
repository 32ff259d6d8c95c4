package bench

// TestLoop measures forwarders in a closed loop, without a generator: a reflector (bench/pktgen's
// bpf/reflect.c) on the client's c0 and on each real server's r0 sends every UDP frame back as the
// other end's answer, so that datagrams sent once (8 from each of 1,024 client flows) go client →
// forwarder → real server → forwarder → client → … as fast as the loop runs. The workers' AF_XDP
// path needs thousands in flight to be kept busy; the XDP paths drop what their rings cannot hold
// and go on with the rest. The rate is what the real servers' reflectors count per second (the
// forwarder carries as many back). No generator's rate caps it, which on a kernel that refuses
// BPF_PROG_RUN's live frames (the AF_XDP generator at 0.5–0.7 Mpps) is what held every fast-path
// row of TestLB to the generator's rate.
//
// The loop's own work is in every figure: two reflections (an XDP_TX each) per round trip, on the
// same CPUs, so a ratio between two forwarders is pulled toward 1 from either side: it
// understates how much faster the faster one is. All run on one kernel, their NAPI work wherever
// the veths schedule it. The loop is bounded: each reflector stops (drops) after a budget of
// frames per CPU, and is set to drop everything after each measurement.
//
// XDPVS_BENCH=1 to run; XDPVS_BENCH_ONLY as for TestLB (xdpredirect here is both directions:
// d0 → d1 and d1 → d0).

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

const (
	loopFlows  = srcAddrs * srcPorts // 1,024
	loopFrames = 8                   // datagrams each flow sends into the loop: the AF_XDP path needs thousands in flight
	loopBudget = 1 << 30             // frames per CPU and reflector: far more than a measurement takes
	loopWarm   = 1500 * time.Millisecond
	loopSpan   = 2 * time.Second
)

type loopRow struct {
	name      string
	mpps      float64 // frames per second into the real servers (as many go back), millions
	reflected uint64
	dropped   uint64 // by the reflectors after the loop was stopped: the frames still in it
}

func TestLoop(t *testing.T) {
	requireBench(t)
	for _, tool := range []string{"nft", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (make bench installs nftables)", tool)
		}
	}
	e := &lbEnv{tb: t, k: lbKnobsFromEnv(t)}
	b := testutil.Binaries(t, "xdpvsd", "xdpvsadm")
	e.xdpvsd, e.adm = b[0], b[1]
	e.setupNAT()
	// Reflectors where the sinks were.
	for _, s := range e.natSinks {
		s.Close()
	}
	e.natSinks = nil
	var refl []*pktgen.Reflector
	attach := func(ns *netns.NS, iface string) {
		r, err := pktgen.AttachReflector(ns, iface, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		refl = append(refl, r)
	}
	attach(e.nat.Client, "c0")
	for _, rs := range e.nat.RS {
		attach(rs, "r0")
	}
	null := e.nullLoop()
	if null.mpps == 0 {
		t.Fatal("the reflectors alone: nothing went round the loop")
	}
	t.Logf("the reflectors alone: %.2f Mpps each way", null.mpps)
	cases := []struct{ name, kind string }{
		{"bare XDP_REDIRECT forward, both ways (XDP ceiling)", "xdpredirect"},
		{"xdpvs NAT, fast path", "natfp"},
		{"xdpvs FULLNAT, fast path", "fullnatfp"},
		{"xdpvs NAT, 1 worker, workers only", "nat"},
		{"nftables DNAT numgen", "nft"},
	}
	var rows []loopRow
	for _, c := range cases {
		if e.k.only != nil && !e.k.only[c.kind] {
			continue
		}
		var s *setup
		if c.kind == "xdpredirect" {
			s = &setup{client: e.nat.Client, director: e.nat.Director}
			e.startLoopXDP(s)
		} else {
			s = e.start(c.kind, 1, "-u")
		}
		if c.kind == "nft" {
			// A veth hands the frames a reflector sends back (XDP_TX) to a peer whose NAPI runs,
			// that is one with an XDP program: the director's get one that passes everything.
			e.passXDP(s)
		}
		row := e.loop(c.name, refl, refl[1:], e.sendFlows)
		s.close()
		t.Logf("%s: %.2f Mpps (%d reflected at the servers; %d left in the loop at the end)", row.name, row.mpps, row.reflected, row.dropped)
		if row.mpps == 0 {
			t.Errorf("%s: nothing went round the loop", row.name)
		}
		rows = append(rows, row)
		time.Sleep(time.Second) // the conntrack entries of one configuration do not meet the next's frames
	}
	// Each round trip is two reflections and two passes through the forwarder; with the loop
	// serial on one CPU, a pass costs (1/rate - 1/null rate) / 2. The estimate is only as good
	// as that assumption (the workers' AF_XDP path runs on a CPU of its own, in parallel).
	hop := func(mpps float64) float64 { return (1e3/mpps - 1e3/null.mpps) / 2 }
	var md strings.Builder
	fmt.Fprintf(&md, "| forwarder (closed loop, %d UDP flows × %d datagrams, 64 B) | Mpps into the servers | / bare XDP_REDIRECT | / nftables | ns per pass (est.) |\n|---|---:|---:|---:|---:|\n", loopFlows, loopFrames)
	fmt.Fprintf(&md, "| the reflectors alone (a veth pair) | %.2f | | | |\n", null.mpps)
	find := func(prefix string) float64 {
		for _, r := range rows {
			if strings.HasPrefix(r.name, prefix) {
				return r.mpps
			}
		}
		return 0
	}
	base := []float64{find("bare XDP_REDIRECT"), find("nftables")}
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %.2f |", r.name, r.mpps)
		for _, b := range base {
			if b > 0 && r.mpps > 0 {
				fmt.Fprintf(&md, " %.2f |", r.mpps/b)
			} else {
				md.WriteString(" |")
			}
		}
		if r.mpps > 0 {
			fmt.Fprintf(&md, " %.0f |\n", hop(r.mpps))
		} else {
			md.WriteString(" |\n")
		}
	}
	t.Logf("%s, %s, load average %s\n%s", cpuModel(), kernel(), loadavg(), md.String())
}

// sendFlows sends loopFrames datagrams from each of the client's flows to the VIP.
func (e *lbEnv) sendFlows() error {
	vip := netip.AddrPortFrom(netip.MustParseAddr(topo.VIP4), lbVport)
	return e.nat.Client.Do(func() error {
		a := netip.MustParseAddr(srcFirst)
		for i := range srcAddrs {
			for p := range srcPorts {
				if err := sendUDP(netip.AddrPortFrom(a, uint16(srcPort0+p)), vip); err != nil {
					return fmt.Errorf("flow %d: %w", i*srcPorts+p, err)
				}
			}
			a = a.Next()
		}
		return nil
	})
}

// sendUDP sends loopFrames datagrams of 18 bytes (64-byte frames) from src to dst.
func sendUDP(src, dst netip.AddrPort) error {
	c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return err
	}
	defer c.Close()
	for range loopFrames {
		if _, err := c.Write(make([]byte, 18)); err != nil {
			return err
		}
	}
	return nil
}

// startLoopXDP makes s the bare XDP_REDIRECT forward both ways: d0 → d1 (to real server 0) and
// d1 → d0 (to the client), each an XDP program that rewrites the MACs and bpf_redirect()s.
func (e *lbEnv) startLoopXDP(s *setup) {
	tb := e.tb
	rsMAC, _ := ifaceInfo(tb, e.nat.RS[0], "r0")
	c0MAC, _ := ifaceInfo(tb, e.nat.Client, "c0")
	d0MAC, d0 := ifaceInfo(tb, e.nat.Director, "d0")
	d1MAC, d1 := ifaceInfo(tb, e.nat.Director, "d1")
	// One queue each, as for a configuration of one worker (TestLB's channels).
	e.channels("xdpredirect", []string{"d0", "d1"}, 1)
	s.undo = append(s.undo, func() { e.channels("xdpredirect", []string{"d0", "d1"}, dirQueues) })
	// The programs take every frame, ARP too: the client resolves the VIP (on its segment) first.
	mustExec(tb, e.nat.Client, "ip", "neigh", "replace", topo.VIP4, "lladdr", d0MAC.String(), "dev", "c0", "nud", "permanent")
	s.undo = append(s.undo, func() { e.nat.Client.Exec("ip", "neigh", "del", topo.VIP4, "dev", "c0") })
	for _, w := range []struct {
		from     string
		dst, src net.HardwareAddr
		to       int
	}{{"d0", rsMAC, d1MAC, d1}, {"d1", c0MAC, d0MAC, d0}} {
		prog, err := bareXDPProgram(w.dst, w.src, w.to)
		if err != nil {
			tb.Fatal(fmt.Errorf("bare XDP program: %w", err))
		}
		s.undo = append(s.undo, func() { prog.Close() })
		s.undo = append(s.undo, attachXDP(tb, e.nat.Director, w.from, prog))
	}
}

// loop starts the loop (inject sends the datagrams), measures what servers reflect and stops it.
func (e *lbEnv) loop(name string, refl, servers []*pktgen.Reflector, inject func() error) loopRow {
	tb := e.tb
	for _, r := range refl {
		if err := r.Reset(); err != nil {
			tb.Fatal(err)
		}
		if err := r.SetLimit(loopBudget); err != nil {
			tb.Fatal(err)
		}
	}
	count := func() (n uint64) {
		for _, r := range servers {
			v, _, err := r.Counts()
			if err != nil {
				tb.Fatal(err)
			}
			n += v
		}
		return n
	}
	if err := inject(); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(loopWarm)
	n0, t0 := count(), time.Now()
	time.Sleep(loopSpan)
	n1, t1 := count(), time.Now()
	row := loopRow{name: name, mpps: float64(n1-n0) / t1.Sub(t0).Seconds() / 1e6, reflected: n1}
	for _, r := range refl {
		if err := r.SetLimit(0); err != nil {
			tb.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	for _, r := range refl {
		_, d, _ := r.Counts()
		row.dropped += d
	}
	return row
}

// passXDP attaches a program that passes every frame to the director's interfaces.
func (e *lbEnv) passXDP(s *setup) {
	tb := e.tb
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_pass", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		tb.Fatal(err)
	}
	s.undo = append(s.undo, func() { prog.Close() })
	for _, i := range e.nat.Ifaces() {
		s.undo = append(s.undo, attachXDP(tb, e.nat.Director, i, prog))
	}
}

// nullLoop is the loop with nothing between the reflectors: a veth pair of its own, a reflector at
// each end, the same datagrams; what a round trip costs without a forwarder.
func (e *lbEnv) nullLoop() loopRow {
	tb := e.tb
	a, b := testutil.NewNetNS(tb, "loopa"), testutil.NewNetNS(tb, "loopb")
	testutil.NewVethPair(tb, a, "la", b, "lb", 1)
	mustExec(tb, a.NS, "ip", "addr", "add", "198.18.60.1/24", "dev", "la")
	mustExec(tb, b.NS, "ip", "addr", "add", "198.18.60.2/24", "dev", "lb")
	lbMAC, _ := ifaceInfo(tb, b.NS, "lb")
	mustExec(tb, a.NS, "ip", "neigh", "replace", "198.18.60.2", "lladdr", lbMAC.String(), "dev", "la", "nud", "permanent")
	var refl []*pktgen.Reflector
	for _, x := range []struct {
		ns    *testutil.NetNS
		iface string
	}{{a, "la"}, {b, "lb"}} {
		r, err := pktgen.AttachReflector(x.ns.NS, x.iface, 0)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { r.Close() })
		refl = append(refl, r)
	}
	return e.loop("the reflectors alone", refl, refl[1:], func() error {
		return a.Do(func() error {
			src := netip.MustParseAddr("198.18.60.1")
			for p := range loopFlows {
				if err := sendUDP(netip.AddrPortFrom(src, uint16(srcPort0+p)), netip.AddrPortFrom(netip.MustParseAddr("198.18.60.2"), lbVport)); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
