package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestLB is `make bench`: xdpvs against the bare AF_XDP forward, nftables DNAT (numgen, as
// kube-proxy does it) and HAProxy (TCP mode), measured side by side in one run, on one set of
// veths and one CPU placement, written to bench/results/ as a markdown table, a JSON file and a
// PNG chart. xdpvs runs twice: with its XDP fast path (kinds natfp, fullnatfp, drfp, 1 worker),
// measured against the XDP ceilings of the same veths (xdpredirect, xdptx: xdpfwd_linux_test.go),
// and with every packet through the workers (--fast-path=off: nat, fullnat, dr), against the
// AF_XDP ceiling (bare).
//
// Layouts: the two-arm NAT layout (client ─ d0 [director] d1, d2 ─ two real servers) for every
// packet rate (DR included: each real server is on the L2 segment of its own director interface
// and holds the VIP on lo without ARP for it, so DR rewrites only the MACs toward it, and the
// generator's frames reach d0 without crossing a bridge, which held them to 0.1–1.3 Mpps on the
// one-arm layout) and for the connection rates of NAT, FULLNAT, nftables, HAProxy and the direct
// path; the one-arm DR layout (client, director, two real servers on one bridge, the servers
// answering the client directly) for DR's connection rates. The director's veths have 2 queues; their
// channel count is set to the number of workers before each xdpvs run (1 or 2), so that every
// frame meets a worker. RPS on the director's interfaces puts the kernel's own forwarding
// (nftables, HAProxy, the direct path) on CPU 1, where a single xdpvs worker runs.
//
// Packets per second (UDP, flows over 16 source addresses × 64 ports): the generator (BPF_PROG_RUN
// live frames, pinned; with 2 workers one generator per CPU, each on its own queue) sends from the
// client; XDP sinks on the real servers count, drop and time the frames. For each configuration
// and frame size: the throughput (unpaced, median of runs, the rate delivered at the sinks), the
// RFC 2544 NDR and PDR (≤ 0.5 % loss) by binary search, and the one-way latency at the NDR.
// Connections per second: `xdpvs-pktgen cps` (pinned to CPU 0) opens TCP connections to the VIP
// (handshake, one byte each way, close), served by `xdpvs-pktgen serve` on the real servers.
//
// Knobs (environment): XDPVS_BENCH=1 to run. XDPVS_BENCH_QUICK=1: one size, one run, shorter
// trials. XDPVS_BENCH_SIZES (64,1518), XDPVS_BENCH_RUNS (3 throughput runs), XDPVS_BENCH_TRIAL_MS
// (1000, per search trial), XDPVS_BENCH_CPS_SECONDS (4), XDPVS_BENCH_CPS_CONC (32),
// XDPVS_BENCH_ONLY (comma-separated: pps, cps, a kind — xdpredirect, xdptx, natfp, fullnatfp,
// drfp, bare, nat, fullnat, dr, nft, direct, haproxy — or a kind and a worker count, e.g. nat1), XDPVS_BENCH_OUT (bench/results),
// XDPVS_BENCH_QUIET_WAIT (seconds to wait for an idle machine before each configuration, 10),
// XDPVS_BENCH_DRAIN_MS (how long the machine may take to fall idle after a configuration, 3000:
// the kernel finishing the configuration's own work is not another process's; a CPU still busy
// after that flags the row, with the busiest threads named),
// XDPVS_BENCH_ENGINE (the generator's engine: prog-run, the default, or af-xdp — an AF_XDP
// socket's TX ring, 1–2 Mpps per core in copy mode, a check of the first engine below that),
// XDPVS_BENCH_DIAG=1 (after every search trial that lost frames, log where: the director's
// AF_XDP socket statistics and the veths' drop counters).
//
// Trials are paced by the generator's token bucket (bursts of about rate × 100 µs; see
// bench/pktgen); a trial counts what reached the sinks once their counters stop moving.

const (
	lbVport   = 53
	lbRport   = 5353
	cpsVport  = 80
	cpsRport  = 8080
	lip       = "198.18.9.1"
	srcFirst  = "198.18.0.100"
	srcAddrs  = 16
	srcPorts  = 64
	srcPort0  = 10000
	nftTable  = "xdpvsbench"
	numRS     = 2
	dirQueues = 2
)

type lbKnobs struct {
	sizes      []int
	runs       int
	trial      time.Duration
	tput       time.Duration
	latDur     time.Duration
	cpsDur     time.Duration
	cpsConc    int
	only       map[string]bool
	out        string
	quietWait  time.Duration
	drainWait  time.Duration
	resolution float64
	engine     pktgen.Engine
	diag       bool
}

func lbKnobsFromEnv(tb testing.TB) lbKnobs {
	k := lbKnobs{sizes: []int{64, 1518}, runs: 3, trial: time.Second, tput: 2 * time.Second, latDur: 2 * time.Second,
		cpsDur: 4 * time.Second, cpsConc: 32, out: "results", resolution: 0.01}
	if os.Getenv("XDPVS_BENCH_QUICK") == "1" {
		k.sizes, k.runs, k.trial, k.tput, k.latDur, k.cpsDur, k.resolution = []int{64}, 1, 500*time.Millisecond, time.Second, time.Second, 2*time.Second, 0.03
	}
	if s := os.Getenv("XDPVS_BENCH_SIZES"); s != "" {
		k.sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < pktgen.MinSize || n > pktgen.MaxSize {
				tb.Fatalf("XDPVS_BENCH_SIZES: bad size %q", f)
			}
			k.sizes = append(k.sizes, n)
		}
	}
	k.runs = envInt(tb, "XDPVS_BENCH_RUNS", k.runs)
	k.trial = time.Duration(envInt(tb, "XDPVS_BENCH_TRIAL_MS", int(k.trial/time.Millisecond))) * time.Millisecond
	k.cpsDur = time.Duration(envInt(tb, "XDPVS_BENCH_CPS_SECONDS", int(k.cpsDur/time.Second))) * time.Second
	k.cpsConc = envInt(tb, "XDPVS_BENCH_CPS_CONC", k.cpsConc)
	k.quietWait = time.Duration(envInt(tb, "XDPVS_BENCH_QUIET_WAIT", 10)) * time.Second
	k.drainWait = time.Duration(envInt(tb, "XDPVS_BENCH_DRAIN_MS", 3000)) * time.Millisecond
	if s := os.Getenv("XDPVS_BENCH_ONLY"); s != "" {
		k.only = map[string]bool{}
		for _, f := range strings.Split(s, ",") {
			k.only[strings.TrimSpace(f)] = true
		}
	}
	if s := os.Getenv("XDPVS_BENCH_OUT"); s != "" {
		k.out = s
	}
	e, err := pktgen.ParseEngine(os.Getenv("XDPVS_BENCH_ENGINE"))
	if err != nil {
		tb.Fatalf("XDPVS_BENCH_ENGINE: %v", err)
	}
	k.engine = e
	k.diag = os.Getenv("XDPVS_BENCH_DIAG") == "1"
	return k
}

// fallbackEngine switches the knobs from the prog-run engine to the AF_XDP engine when the
// kernel refuses BPF_PROG_RUN in live-frames mode (some kernels and sandboxes return EPERM for
// it while they allow the mode-less BPF_PROG_RUN), and says so; it returns "" otherwise. The
// check rows of the other engine then repeat their main rows and are left out.
func (k *lbKnobs) fallbackEngine(tb testing.TB) string {
	if k.engine != pktgen.EngineProgRun {
		return ""
	}
	err := pktgen.LiveFrames()
	if err == nil {
		return ""
	}
	k.engine = pktgen.EngineAFXDP
	note := fmt.Sprintf("the %s engine is not available here (%v): every row was measured with the %s engine", pktgen.EngineProgRun, err, pktgen.EngineAFXDP)
	tb.Logf("generator: %s", note)
	return note
}

// lbEnv is everything one TestLB run shares.
type lbEnv struct {
	tb                     testing.TB
	k                      lbKnobs
	xdpvsd, adm, pktgenBin string
	nat                    *topo.NAT
	dr                     *topo.DR
	natSinks, drSinks      []*pktgen.Sink
	drLayout               bool // the configuration being started is on the one-arm DR layout
	report                 *lbReport
	deadline               time.Time
}

// ppsCase is one configuration of the packet-rate measurement.
type ppsCase struct {
	name    string // row name
	kind    string // bare, nat, fullnat, dr, nft
	workers int
	engine  pktgen.Engine // the generator's engine; "" for XDPVS_BENCH_ENGINE's
}

// cpsCase is one configuration of the connection-rate measurement.
type cpsCase struct {
	name    string
	kind    string // direct, nft, haproxy, nat, fullnat, dr
	workers int
}

func TestLB(t *testing.T) {
	requireBench(t)
	for _, tool := range []string{"nft", "haproxy", "taskset", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (make bench installs nftables and haproxy)", tool)
		}
	}
	e := &lbEnv{tb: t, k: lbKnobsFromEnv(t)}
	fallback := e.k.fallbackEngine(t)
	if d, ok := t.Deadline(); ok {
		e.deadline = d.Add(-45 * time.Second)
	}
	b := testutil.Binaries(t, "xdpvsd", "xdpvsadm", "xdpvs-pktgen")
	e.xdpvsd, e.adm, e.pktgenBin = b[0], b[1], b[2]
	e.report = newReport(e)
	e.report.EngineNote = fallback
	e.setupNAT()
	e.setupDR()
	pps := []ppsCase{
		{"bare XDP_REDIRECT forward (XDP ceiling)", "xdpredirect", 1, ""},
		{"bare XDP_TX forward (XDP ceiling, back to the client)", "xdptx", 1, ""},
		{"xdpvs NAT, fast path", "natfp", 1, ""},
		{"xdpvs FULLNAT, fast path", "fullnatfp", 1, ""},
		{"xdpvs DR, fast path", "drfp", 1, ""},
		{"bare AF_XDP forward (ceiling)", "bare", 1, ""},
		{"xdpvs NAT, 1 worker, workers only", "nat", 1, ""},
		{"xdpvs NAT, 2 workers, workers only", "nat", 2, ""},
		{"xdpvs FULLNAT, 1 worker, workers only", "fullnat", 1, ""},
		{"xdpvs FULLNAT, 2 workers, workers only", "fullnat", 2, ""},
		{"xdpvs DR, 1 worker, workers only", "dr", 1, ""},
		{"xdpvs DR, 2 workers, workers only", "dr", 2, ""},
		{"nftables DNAT numgen", "nft", 1, ""},
		// The same with the other engine: a check of the first. On the kernel's path the
		// BPF_PROG_RUN generator could not hold its target rate (CPU 0 also runs the
		// director's receive), the AF_XDP one could.
		{"xdpvs NAT, 1 worker, workers only (AF_XDP generator)", "nat", 1, pktgen.EngineAFXDP},
		{"nftables DNAT numgen (AF_XDP generator)", "nft", 1, pktgen.EngineAFXDP},
	}
	cps := []cpsCase{
		{"direct to the real server (kernel routing)", "direct", 1},
		{"xdpvs NAT, fast path", "natfp", 1},
		{"xdpvs NAT, 1 worker, workers only", "nat", 1},
		{"xdpvs NAT, 2 workers, workers only", "nat", 2},
		{"xdpvs FULLNAT, 1 worker, workers only", "fullnat", 1},
		{"xdpvs DR, 1 worker, workers only", "dr", 1},
		{"nftables DNAT numgen", "nft", 1},
		{"HAProxy TCP mode", "haproxy", 1},
	}
	for _, c := range pps {
		if e.k.only != nil && !e.k.only[c.kind] && !e.k.only[c.kind+strconv.Itoa(c.workers)] && !e.k.only["pps"] {
			continue
		}
		if c.engine == "" {
			c.engine = e.k.engine
		} else if c.engine == e.k.engine {
			continue // the check row would repeat its main row
		}
		e.report.PPS = append(e.report.PPS, e.runPPS(c))
		e.report.write(e)
	}
	for _, c := range cps {
		if e.k.only != nil && !e.k.only[c.kind] && !e.k.only[c.kind+strconv.Itoa(c.workers)] && !e.k.only["cps"] {
			continue
		}
		e.report.CPS = append(e.report.CPS, e.runCPS(c))
		e.report.write(e)
	}
	e.report.Finished = time.Now().UTC().Format(time.RFC3339)
	e.report.write(e)
	t.Logf("\n%s", e.report.markdown())
}

func mustExec(tb testing.TB, ns *netns.NS, args ...string) string {
	tb.Helper()
	out, err := ns.Exec(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// rps steers the kernel's receive processing of the director's interfaces to CPU 1.
func rps(tb testing.TB, ns *netns.NS, ifaces ...string) {
	tb.Helper()
	for _, i := range ifaces {
		mustExec(tb, ns, "sh", "-c", fmt.Sprintf("for q in /sys/class/net/%s/queues/rx-*; do echo 2 > $q/rps_cpus; done", i))
	}
}

func setChannels(tb testing.TB, ns *netns.NS, ifaces []string, n int) {
	tb.Helper()
	for _, i := range ifaces {
		mustExec(tb, ns, "ethtool", "-L", i, "rx", strconv.Itoa(n), "tx", strconv.Itoa(n))
	}
}

// channels sets the channel count of the director's ifaces and of their peers. A veth with a
// native XDP program (the sinks) needs at least as many receive queues as its peer has transmit
// queues: shrinking starts with the director's end, growing with the peer's.
func (e *lbEnv) channels(kind string, ifaces []string, n int) {
	tb := e.tb
	tb.Helper()
	for _, i := range ifaces {
		peerNS, peer, dirNS := e.nat.Client, "c0", e.nat.Director
		switch {
		case kind == "dr" && e.dr != nil && e.drLayout:
			peerNS, peer, dirNS = e.dr.Switch, "sd", e.dr.Director
		case i != "d0":
			k, _ := strconv.Atoi(i[1:])
			peerNS, peer = e.nat.RS[k-1], "r0"
		}
		if n < dirQueues {
			setChannels(tb, dirNS, []string{i}, n)
			setChannels(tb, peerNS, []string{peer}, n)
		} else {
			setChannels(tb, peerNS, []string{peer}, n)
			setChannels(tb, dirNS, []string{i}, n)
		}
	}
}

// clientAddrs puts the generator's source addresses on the client's c0 and makes the director's
// kernel resolve them: NAT records the client's next hop when it makes a connection.
func clientAddrs(tb testing.TB, client, director *netns.NS) {
	tb.Helper()
	for i := range srcAddrs {
		a := netip.MustParseAddr(srcFirst)
		for range i {
			a = a.Next()
		}
		mustExec(tb, client, "ip", "addr", "add", a.String()+"/24", "dev", "c0")
		resolve(tb, director, a.String())
	}
}

func (e *lbEnv) setupNAT() {
	tb := e.tb
	nat, err := topo.NewNAT(topo.Prefix("lb"), numRS, dirQueues)
	if err != nil {
		tb.Fatal(err)
	}
	e.nat = nat
	tb.Cleanup(func() {
		if err := nat.Close(); err != nil {
			tb.Error(err)
		}
	})
	for _, ns := range append([]*netns.NS{nat.Director}, nat.RS...) {
		for _, k := range []string{"all", "default"} {
			mustExec(tb, ns, "sysctl", "-qw", "net.ipv4.conf."+k+".rp_filter=0")
		}
	}
	rps(tb, nat.Director, nat.Ifaces()...)
	clientAddrs(tb, nat.Client, nat.Director)
	// Many short connections: the whole port range, and room for TIME_WAIT.
	mustExec(tb, nat.Client, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000")
	mustExec(tb, nat.Director, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000")
	// Direct routing's packet rates are measured here too: each real server holds the VIP on lo
	// and neither answers nor announces ARP for it, as on the DR layout (NAT and FULLNAT
	// address the servers' own addresses, which the VIP does not change).
	for _, rs := range nat.RS {
		for _, c := range [][]string{
			{"sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"},
			{"sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2"},
			{"ip", "addr", "add", topo.VIP4 + "/32", "dev", "lo"},
		} {
			mustExec(tb, rs, c...)
		}
	}
	for i, rs := range nat.RS {
		s, err := pktgen.AttachSink(rs, "r0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		e.natSinks = append(e.natSinks, s)
		resolve(tb, nat.Director, topo.RS4(i))
	}
}

func (e *lbEnv) setupDR() {
	tb := e.tb
	dr, err := topo.NewDR(topo.Prefix("lbdr"), numRS, dirQueues)
	if err != nil {
		tb.Fatal(err)
	}
	e.dr = dr
	tb.Cleanup(func() {
		if err := dr.Close(); err != nil {
			tb.Error(err)
		}
	})
	rps(tb, dr.Director, "d0")
	clientAddrs(tb, dr.Client, dr.Director)
	mustExec(tb, dr.Client, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000")
	for i, rs := range dr.RS {
		s, err := pktgen.AttachSink(rs, "r0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		e.drSinks = append(e.drSinks, s)
		resolve(tb, dr.Director, topo.DRRS4(i))
	}
}

// setup is one configuration made live: the daemon or the kernel rules, and how to undo them.
type setup struct {
	client, director *netns.NS
	clientIf         string
	dirIf            string // the director's client-side interface
	sinks            []*pktgen.Sink
	daemon           *topo.Daemon
	undo             []func()
	placement        string
}

func (s *setup) close() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
}

// start brings up configuration kind with workers; proto is "-u" (pps) or "-t" (cps). The xdpvs
// kinds nat, fullnat and dr run with --fast-path=off (every packet through the workers), natfp,
// fullnatfp and drfp with the XDP fast path.
func (e *lbEnv) start(kind string, workers int, proto string) *setup {
	tb := e.tb
	tb.Helper()
	s := &setup{clientIf: "c0", dirIf: "d0"}
	kind, fast := strings.CutSuffix(kind, "fp")
	// A failure half way (tb.Fatal) undoes what was done: nothing is left running.
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	vport, rport := lbVport, lbRport
	if proto == "-t" {
		vport, rport = cpsVport, cpsRport
	}
	vip := fmt.Sprintf("%s:%d", topo.VIP4, vport)
	// DR's packet rates are measured on the two-arm layout (the generator's frames reach d0
	// straight from c0; each real server on the segment of its own director interface, the VIP
	// on its lo), its connection rates on the one-arm DR layout, where the servers answer the
	// client directly.
	e.drLayout = kind == "dr" && proto == "-t"
	if e.drLayout {
		s.client, s.director, s.sinks = e.dr.Client, e.dr.Director, e.drSinks
	} else {
		s.client, s.director, s.sinks = e.nat.Client, e.nat.Director, e.natSinks
	}
	switch kind {
	case "bare", "nat", "fullnat", "dr":
		ifaces := e.nat.Ifaces()
		if e.drLayout {
			ifaces = []string{"d0"}
		}
		if kind == "bare" {
			ifaces = ifaces[:2]
		}
		// Native XDP on a veth needs at least as many receive queues as the peer has transmit
		// queues: both ends get the worker count.
		e.channels(kind, ifaces, workers)
		s.undo = append(s.undo, func() { e.channels(kind, ifaces, dirQueues) })
		cpus := "1"
		if workers == 2 {
			cpus = "0,1"
		}
		flags := []string{"--workers", strconv.Itoa(workers), "--cpus", cpus, "--log-level", "warn"}
		if kind == "bare" {
			flags = append(flags, "--bare-forward")
		} else if !fast {
			flags = append(flags, "--fast-path=off")
		}
		d, err := topo.StartDaemon(s.director, e.xdpvsd, tb.TempDir(), ifaces, flags...)
		if err != nil {
			tb.Fatal(err)
		}
		s.daemon = d
		s.undo = append(s.undo, func() {
			if err := d.Stop(); err != nil {
				tb.Errorf("xdpvsd (%s): %v\n%s", kind, err, d.Log)
			}
		})
		cmds := [][]string{{"-A", proto, vip, "-s", "rr"}}
		if kind == "fullnat" {
			cmds = append(cmds, []string{"--add-laddr", "-z", lip, proto, vip})
		}
		for i := range numRS {
			switch kind {
			case "nat", "bare":
				cmds = append(cmds, []string{"-a", proto, vip, "-r", fmt.Sprintf("%s:%d", topo.RS4(i), rport), "-m"})
			case "fullnat":
				cmds = append(cmds, []string{"-a", proto, vip, "-r", fmt.Sprintf("%s:%d", topo.RS4(i), rport), "-b"})
			case "dr":
				rs := topo.RS4(i)
				if e.drLayout {
					rs = topo.DRRS4(i)
				}
				cmds = append(cmds, []string{"-a", proto, vip, "-r", fmt.Sprintf("%s:%d", rs, vport), "-g"})
			}
		}
		for _, c := range cmds {
			if _, err := d.Adm(e.adm, c...); err != nil {
				tb.Fatal(err)
			}
		}
		s.placement = fmt.Sprintf("xdpvsd %d worker(s) on CPU %s", workers, cpus)
		if fast {
			s.placement += "; the fast path's XDP program in the generator's NAPI (CPU 0 with 1 worker)"
		}
		if kind == "bare" {
			s.placement = "xdpvsd --bare-forward d0↔d1, 1 worker on CPU 1"
		}
	case "xdpredirect", "xdptx":
		e.startBareXDP(s, kind)
	case "nft", "direct", "haproxy":
		mustExec(tb, s.director, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		s.undo = append(s.undo, func() { s.director.Exec("sysctl", "-qw", "net.ipv4.ip_forward=0") })
		s.placement = "kernel forwarding, RPS on the director's interfaces to CPU 1"
		if kind == "nft" {
			e.nft(s, proto, vport, rport)
		}
		if kind == "haproxy" {
			e.haproxy(s, vport, rport)
		}
	default:
		tb.Fatalf("unknown configuration %q", kind)
	}
	ok = true
	return s
}

// nft installs the kube-proxy-style rules: the VIP's port jumps to a numgen-picked endpoint
// chain that DNATs to one real server.
func (e *lbEnv) nft(s *setup, proto string, vport, rport int) {
	tb := e.tb
	l4 := map[string]string{"-u": "udp", "-t": "tcp"}[proto]
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", nftTable)
	var vmap []string
	for i := range numRS {
		fmt.Fprintf(&b, "  chain ep%d {\n    meta l4proto %s dnat to %s:%d\n  }\n", i, l4, topo.RS4(i), rport)
		vmap = append(vmap, fmt.Sprintf("%d : goto ep%d", i, i))
	}
	fmt.Fprintf(&b, "  chain svc {\n    numgen random mod %d vmap { %s }\n  }\n", numRS, strings.Join(vmap, ", "))
	fmt.Fprintf(&b, "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    ip daddr %s %s dport %d goto svc\n  }\n}\n", topo.VIP4, l4, vport)
	f := filepath.Join(tb.TempDir(), "rules.nft")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	mustExec(tb, s.director, "nft", "-f", f)
	s.undo = append(s.undo, func() {
		if _, err := s.director.Exec("nft", "delete", "table", "ip", nftTable); err != nil {
			tb.Error(err)
		}
	})
	s.placement = "nftables DNAT (numgen random, kube-proxy style) in the director's kernel, RPS to CPU 1"
}

// proc is a process started for a measurement, stopped by its PID.
type proc struct {
	cmd  *exec.Cmd
	out  *topo.SyncBuffer
	done chan error
}

func startProc(tb testing.TB, args ...string) *proc {
	tb.Helper()
	p := &proc{cmd: exec.Command(args[0], args[1:]...), out: new(topo.SyncBuffer), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p
}

// stop sends SIGTERM to the process (by PID), then SIGKILL after 5 s.
func (p *proc) stop() {
	if p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
	}
}

func (e *lbEnv) haproxy(s *setup, vport, rport int) {
	tb := e.tb
	dir := tb.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  nbthread 1\n  maxconn 8000\n  log stderr format raw local0 emerg\n")
	fmt.Fprintf(&b, "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n")
	fmt.Fprintf(&b, "frontend vip\n  bind %s:%d\n  default_backend rs\n", topo.VIP4, vport)
	fmt.Fprintf(&b, "backend rs\n  balance roundrobin\n")
	for i := range numRS {
		fmt.Fprintf(&b, "  server rs%d %s:%d\n", i, topo.RS4(i), rport)
	}
	f := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	p := startProc(tb, "taskset", "-c", "1", "ip", "netns", "exec", s.director.Name, "haproxy", "-db", "-f", f)
	s.undo = append(s.undo, p.stop)
	waitListen(tb, s.director, netip.MustParseAddrPort(fmt.Sprintf("%s:%d", topo.VIP4, vport)), p)
	s.placement = "HAProxy 2.6 (1 thread) pinned to CPU 1, RPS to CPU 1"
}

// waitListen waits until something accepts connections on ap in ns.
func waitListen(tb testing.TB, ns *netns.NS, ap netip.AddrPort, p *proc) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var c net.Conn
		err := ns.Do(func() (err error) {
			c, err = net.DialTimeout("tcp", ap.String(), 200*time.Millisecond)
			return err
		})
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-p.done:
			p.done <- err
			tb.Fatalf("%v exited: %v\n%s", p.cmd.Args, err, p.out)
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("nothing listens on %v in %s\n%s", ap, ns.Name, p.out)
}

// generators makes one generator per worker CPU (1 worker: CPU 0, the worker being on CPU 1;
// 2 workers: CPUs 0 and 1), each with its own half of the source ports. Generator i sends into
// the director's queue i: prog-run frames reach the queue numbered after the sending CPU, and the
// AF_XDP engine binds queue i of c0.
type genSet struct {
	gens []pktgen.Sender
	cpus []int
	ns   *netns.NS
	ifx  int
	note string // how the generators differ from the placement described, if they do
}

func (e *lbEnv) generators(s *setup, size, workers int, engine pktgen.Engine) *genSet {
	tb := e.tb
	tb.Helper()
	gs := &genSet{ns: s.client}
	mac, ifx := ifaceInfo(tb, s.client, s.clientIf)
	gs.ifx = ifx
	dmac, _ := ifaceInfo(tb, s.director, s.dirIf)
	n := workers
	if engine == pktgen.EngineAFXDP {
		// One AF_XDP socket per queue of the client's interface (the DR client's has one).
		if q := txQueues(tb, s.client, s.clientIf); q < n {
			n = q
			gs.note = fmt.Sprintf("%d AF_XDP generator(s) on CPU 0 only: the client's %s has %d queue(s)", q, s.clientIf, q)
		}
	}
	for i := range n {
		c := pktgen.DefaultConfig()
		c.SrcMAC, c.DstMAC = mac, dmac
		c.Src, c.Dst = mustAddr(srcFirst), mustAddr(topo.VIP4)
		c.Addrs, c.Flows = srcAddrs, srcPorts/n
		c.SrcPort = uint16(srcPort0 + i*srcPorts/n)
		c.DstPort, c.Size = lbVport, size
		g, err := pktgen.Open(c, engine)
		if err != nil {
			tb.Fatal(err)
		}
		if pg, ok := g.(*pktgen.Generator); ok {
			if ok, err := pg.Anchored(); !ok {
				// Every BPF_PROG_RUN would then sleep ~25 ms: paced trials could not keep
				// their rate with small bursts, and the NDRs would mean nothing.
				g.Close()
				tb.Fatalf("the generator's program is not anchored in the XDP dispatcher: %v", err)
			}
		}
		gs.gens = append(gs.gens, g)
		gs.cpus = append(gs.cpus, i)
	}
	return gs
}

// txQueues counts the transmit queues of iface in ns.
func txQueues(tb testing.TB, ns *netns.NS, iface string) int {
	tb.Helper()
	n := 0
	for _, f := range strings.Fields(mustExec(tb, ns, "ls", "/sys/class/net/"+iface+"/queues")) {
		if strings.HasPrefix(f, "tx-") {
			n++
		}
	}
	return n
}

func (gs *genSet) close() {
	for _, g := range gs.gens {
		g.Close()
	}
}

func (gs *genSet) flows() int {
	n := 0
	for _, g := range gs.gens {
		n += g.Config().NumFlows()
	}
	return n
}

// run sends count frames in total at rate (0: unpaced) from every generator at once, each its
// share, bounded by limit.
func (gs *genSet) run(count uint64, rate float64, limit time.Duration) (pktgen.Result, error) {
	var mu sync.Mutex
	var total pktgen.Result
	var firstErr error
	var wg sync.WaitGroup
	n := uint64(len(gs.gens))
	for i, g := range gs.gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := g.Run(gs.ns, gs.ifx, count/n, pktgen.RunOptions{Duration: limit, Pin: true, CPU: gs.cpus[i], Queue: i, Rate: rate / float64(n)})
			mu.Lock()
			defer mu.Unlock()
			total.Sent += res.Sent
			total.Elapsed = max(total.Elapsed, res.Elapsed)
			total.MaxBurst = max(total.MaxBurst, res.MaxBurst)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return total, firstErr
}

func sinkTotal(tb testing.TB, sinks []*pktgen.Sink) uint64 {
	tb.Helper()
	var n uint64
	for _, s := range sinks {
		st, err := s.Read()
		if err != nil {
			tb.Fatal(err)
		}
		n += st.UDP().Packets
	}
	return n
}

// trial offers rate for the trial duration and counts what reached the sinks.
func (e *lbEnv) trial(s *setup, gs *genSet, rate float64, dur time.Duration) pktgen.TrialResult {
	r, _ := e.trialBurst(s, gs, rate, dur)
	return r
}

// trialBurst is trial, also returning the most frames the generators sent in one call. With
// XDPVS_BENCH_DIAG=1 a trial that lost frames logs where they were dropped.
func (e *lbEnv) trialBurst(s *setup, gs *genSet, rate float64, dur time.Duration) (pktgen.TrialResult, uint64) {
	tb := e.tb
	var c0 map[string]uint64
	if e.k.diag {
		c0 = e.lossCounters(s)
	}
	before := sinkTotal(tb, s.sinks)
	count := uint64(rate * dur.Seconds())
	if rate == 0 {
		count = 1 << 40
	}
	res, err := gs.run(count, rate, dur+dur/2)
	if err != nil {
		tb.Fatal(err)
	}
	recv := settle(tb, s.sinks) - before
	r := pktgen.TrialResult{Rate: rate, Achieved: res.PPS(), Sent: res.Sent, Received: recv}
	if e.k.diag && recv < res.Sent {
		tb.Logf("%v, at most %d frames per call; where they were lost:\n    %s", r, res.MaxBurst, counterDelta(c0, e.lossCounters(s)))
	}
	return r, res.MaxBurst
}

// settle waits until the sinks' count stops moving (two reads 20 ms apart agree; at most 1 s):
// the frames still in flight at the end of a trial are counted, not lost.
func settle(tb testing.TB, sinks []*pktgen.Sink) uint64 {
	tb.Helper()
	last := sinkTotal(tb, sinks)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		n := sinkTotal(tb, sinks)
		if n == last {
			return n
		}
		last = n
	}
	return last
}

// lossCounters reads the counters that say where frames are dropped between the generator and
// the sinks: ethtool -S and the link statistics of every veth end on the path, and the
// director's AF_XDP socket statistics (xdpvsadm show queues).
func (e *lbEnv) lossCounters(s *setup) map[string]uint64 {
	out := map[string]uint64{}
	add := func(prefix string, ns *netns.NS, iface string) {
		if txt, err := ns.Exec("ethtool", "-S", iface); err == nil {
			for _, l := range strings.Split(txt, "\n") {
				k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); ok && err == nil && k != "peer_ifindex" {
					out[prefix+" "+k] = n
				}
			}
		}
		for _, st := range []string{"rx_dropped", "tx_dropped"} {
			if txt, err := ns.Exec("cat", "/sys/class/net/"+iface+"/statistics/"+st); err == nil {
				if n, err := strconv.ParseUint(strings.TrimSpace(txt), 10, 64); err == nil {
					out[prefix+" "+st] = n
				}
			}
		}
	}
	add("client c0", s.client, s.clientIf)
	// The kernel's per-CPU backlog (RPS and netif_rx): drops and squeezes, for the whole machine.
	if b, err := os.ReadFile("/proc/net/softnet_stat"); err == nil {
		for cpu, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(l)
			for i, name := range []string{"processed", "backlog_dropped", "time_squeeze"} {
				if i < len(f) {
					if n, err := strconv.ParseUint(f[i], 16, 64); err == nil {
						out[fmt.Sprintf("softnet cpu%d %s", cpu, name)] = n
					}
				}
			}
		}
	}
	if e.dr != nil && s.director == e.dr.Director {
		add("director d0", s.director, "d0")
		for i, rs := range e.dr.RS {
			add(fmt.Sprintf("rs%d r0", i), rs, "r0")
		}
	} else {
		for _, i := range e.nat.Ifaces() {
			add("director "+i, s.director, i)
		}
		for i, rs := range e.nat.RS {
			add(fmt.Sprintf("rs%d r0", i), rs, "r0")
		}
	}
	if s.daemon != nil {
		if txt, err := s.daemon.Adm(e.adm, "show", "queues"); err == nil {
			for _, l := range strings.Split(txt, "\n") {
				f := strings.Fields(l)
				if len(f) != 5 {
					continue
				}
				if n, err := strconv.ParseUint(f[4], 10, 64); err == nil {
					out[fmt.Sprintf("xdpvs worker %s %s %s", f[0], f[2], f[3])] = n
				}
			}
		}
	}
	return out
}

// counterDelta lists the counters that grew, but for the packet and byte counts of traffic that
// went through (and the sinks' own XDP_DROP verdicts, which are how they count): drops, errors
// and ring statistics.
func counterDelta(a, b map[string]uint64) string {
	var ks []string
	for k, v := range b {
		if v == a[k] || strings.HasSuffix(k, "_bytes") || strings.HasSuffix(k, "_packets") || strings.HasSuffix(k, "_xmit") ||
			strings.HasSuffix(k, " processed") || strings.HasSuffix(k, "_redirect") || strings.HasSuffix(k, "_tx") ||
			strings.HasSuffix(k, "_ring_empty_descs") || (strings.HasPrefix(k, "rs") && strings.HasSuffix(k, "_xdp_drops")) {
			continue
		}
		ks = append(ks, fmt.Sprintf("%s +%d", k, v-a[k]))
	}
	if len(ks) == 0 {
		return "no drop counter moved"
	}
	slices.Sort(ks)
	return strings.Join(ks, "\n    ")
}

// ppsSize is one frame size of one configuration.
type ppsSize struct {
	Size       int            `json:"size"`
	Throughput float64        `json:"throughput_pps"` // median delivered, unpaced
	GenRate    float64        `json:"generator_pps"`  // median generator rate, unpaced
	Runs       []float64      `json:"runs_pps"`
	NDR        float64        `json:"ndr_pps"`
	PDR        float64        `json:"pdr_pps"`
	Trials     int            `json:"trials"`
	Latency    pktgen.Summary `json:"latency_at_ndr_ns"`
	LatRate    float64        `json:"latency_rate_pps"`
	LatBurst   uint64         `json:"latency_max_burst"` // most frames the generators sent in one call at the NDR
}

type ppsRow struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Workers   int       `json:"workers"`
	Engine    string    `json:"engine,omitempty"` // the generator's engine
	Placement string    `json:"placement"`
	Flows     int       `json:"flows"`
	Sizes     []ppsSize `json:"sizes"`
	Busy      int       `json:"busy_percent"`
	BusyBy    string    `json:"busy_by,omitempty"` // the busiest threads when the machine was busy
	Quiet     bool      `json:"quiet"`
	Seconds   float64   `json:"seconds"`
}

// busyBy joins what was busy before a configuration and after it.
func busyBy(before, after string) string {
	switch {
	case before == "":
		return after
	case after == "":
		return "before: " + before
	}
	return "before: " + before + "; after: " + after
}

func (e *lbEnv) runPPS(c ppsCase) ppsRow {
	tb := e.tb
	t0 := time.Now()
	row := ppsRow{Name: c.name, Kind: c.kind, Workers: c.workers, Engine: string(c.engine)}
	s := e.start(c.kind, c.workers, "-u")
	defer s.close()
	row.Placement = s.placement
	busy, quiet, by := waitQuietBy(e.k.quietWait)
	for _, size := range e.k.sizes {
		gs := e.generators(s, size, c.workers, c.engine)
		row.Flows = gs.flows()
		if gs.note != "" && !strings.Contains(row.Placement, gs.note) {
			row.Placement += "; " + gs.note
		}
		// Warm up: every flow's connection exists, slowly enough for any configuration.
		warm := e.trial(s, gs, 50_000, time.Duration(float64(20*gs.flows())/50_000*float64(time.Second)))
		if warm.Received < warm.Sent/2 {
			log := ""
			if s.daemon != nil {
				log = s.daemon.Log.String()
				out, _ := s.daemon.Adm(e.adm, "-L", "-n", "--stats")
				drops, _ := s.daemon.Adm(e.adm, "show", "drops")
				workers, _ := s.daemon.Adm(e.adm, "show", "workers")
				links, _ := s.director.Exec("ip", "-d", "link", "show")
				log = out + "\n" + drops + "\n" + workers + "\n" + links + "\n" + log
			}
			tb.Fatalf("%s: warm-up delivered %d of %d\n%s", c.name, warm.Received, warm.Sent, log)
		}
		ps := ppsSize{Size: size}
		var gens []float64
		for range e.k.runs {
			r := e.trial(s, gs, 0, e.k.tput)
			ps.Runs = append(ps.Runs, float64(r.Received)/(float64(r.Sent)/r.Achieved))
			gens = append(gens, r.Achieved)
		}
		ps.Throughput, ps.GenRate = median(ps.Runs), median(gens)
		trial := func(rate float64) (pktgen.TrialResult, error) {
			r, burst := e.trialBurst(s, gs, rate, e.k.trial)
			tb.Logf("%s %d B: %v, at most %d frames per call", c.name, size, r, burst)
			return r, nil
		}
		maxRate := ps.GenRate
		pdr, err := pktgen.Search(trial, pktgen.SearchOptions{Max: maxRate, MaxLoss: pktgen.PDRLoss, Resolution: e.k.resolution})
		if err != nil {
			tb.Fatal(err)
		}
		ndr := pdr
		if pdr.Best.Loss() > 0 {
			ndr, err = pktgen.Search(trial, pktgen.SearchOptions{Max: pdr.Rate, MaxLoss: 0, Resolution: e.k.resolution * maxRate / max(pdr.Rate, 1)})
			if err != nil {
				tb.Fatal(err)
			}
		}
		ps.PDR, ps.NDR, ps.Trials = pdr.Rate, ndr.Rate, len(pdr.Trials)+len(ndr.Trials)
		if ps.NDR > 0 && gs.gens[0].Config().Stamped() {
			for _, sk := range s.sinks {
				if err := sk.ResetLatency(); err != nil {
					tb.Fatal(err)
				}
			}
			ps.LatRate = ps.NDR
			_, ps.LatBurst = e.trialBurst(s, gs, ps.NDR, e.k.latDur)
			var h pktgen.Histogram
			for _, sk := range s.sinks {
				hs, err := sk.Latency()
				if err != nil {
					tb.Fatal(err)
				}
				h.Merge(&hs)
			}
			ps.Latency = h.Summary()
		}
		tb.Logf("%s %d B: throughput %.3f Mpps (generator %.3f), NDR %.3f, PDR %.3f Mpps, latency at NDR %v (at most %d frames per call)",
			c.name, size, ps.Throughput/1e6, ps.GenRate/1e6, ps.NDR/1e6, ps.PDR/1e6, ps.Latency, ps.LatBurst)
		row.Sizes = append(row.Sizes, ps)
		gs.close()
	}
	after, quietAfter, byAfter := waitQuietBy(e.k.drainWait)
	row.Busy, row.Quiet, row.BusyBy = max(busy, after), quiet && quietAfter, busyBy(by, byAfter)
	row.Seconds = time.Since(t0).Seconds()
	return row
}

type cpsRow struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"`
	Workers   int            `json:"workers"`
	Placement string         `json:"placement"`
	CPS       float64        `json:"cps"`
	Conns     uint64         `json:"conns"`
	Errors    uint64         `json:"errors"`
	FirstErr  string         `json:"first_error,omitempty"`
	Latency   pktgen.Summary `json:"latency_ns"`
	Busy      int            `json:"busy_percent"`
	BusyBy    string         `json:"busy_by,omitempty"`
	Quiet     bool           `json:"quiet"`
}

// cpsReport mirrors cmd/xdpvs-pktgen's JSON.
type cpsReport struct {
	Conns    uint64         `json:"conns"`
	Errors   uint64         `json:"errors"`
	FirstErr string         `json:"first_error"`
	CPS      float64        `json:"cps"`
	Latency  pktgen.Summary `json:"latency_ns"`
}

func (e *lbEnv) runCPS(c cpsCase) cpsRow {
	tb := e.tb
	row := cpsRow{Name: c.name, Kind: c.kind, Workers: c.workers}
	s := e.start(c.kind, c.workers, "-t")
	defer s.close()
	// The servers: one per real server, pinned to CPU 0 with the client (the director's CPU is 1).
	rss, port := e.nat.RS, cpsRport
	addr := topo.RS4
	if strings.HasPrefix(c.kind, "dr") {
		rss, port, addr = e.dr.RS, cpsVport, func(int) string { return "0.0.0.0" }
	}
	for i, rs := range rss {
		ap := netip.MustParseAddrPort(fmt.Sprintf("%s:%d", addr(i), port))
		p := startProc(tb, "taskset", "-c", "0", e.pktgenBin, "serve", "--netns", rs.Name, "--listen", ap.String(), "--duration", "5m")
		s.undo = append(s.undo, p.stop)
		if !strings.HasPrefix(c.kind, "dr") {
			waitListen(tb, rs, ap, p)
		} else {
			waitListen(tb, rs, netip.MustParseAddrPort(fmt.Sprintf("%s:%d", topo.DRRS4(i), port)), p)
		}
	}
	target := fmt.Sprintf("%s:%d", topo.VIP4, cpsVport)
	if c.kind == "direct" {
		target = fmt.Sprintf("%s:%d", topo.RS4(0), cpsRport)
	}
	row.Placement = s.placement + "; cps client and servers pinned to CPU 0"
	busy, quiet, by := waitQuietBy(e.k.quietWait)
	args := []string{"taskset", "-c", "0", e.pktgenBin, "cps", "--netns", s.client.Name, "--target", target,
		"--concurrency", strconv.Itoa(e.k.cpsConc), "--duration", e.k.cpsDur.String(), "--output", "json", "--quiet"}
	ctx, cancel := context.WithTimeout(context.Background(), e.k.cpsDur+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s: cps: %v\n%s", c.name, err, out)
	}
	var r cpsReport
	if err := json.Unmarshal(out, &r); err != nil {
		tb.Fatalf("%s: cps output %q: %v", c.name, out, err)
	}
	row.CPS, row.Conns, row.Errors, row.FirstErr, row.Latency = r.CPS, r.Conns, r.Errors, r.FirstErr, r.Latency
	after, quietAfter, byAfter := waitQuietBy(e.k.drainWait)
	row.Busy, row.Quiet, row.BusyBy = max(busy, after), quiet && quietAfter, busyBy(by, byAfter)
	tb.Logf("cps %s: %.0f /s, %d errors (%s), latency %v", c.name, r.CPS, r.Errors, r.FirstErr, r.Latency)
	if r.Conns == 0 {
		tb.Errorf("%s: no connection succeeded: %s", c.name, r.FirstErr)
	}
	return row
}

func init() { _ = runtime.NumCPU }
