package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

// TestSynProxyRate is the SYN proxy's figure: how many flood SYNs one worker answers per second
// (and how many forged cookie ACKs it drops), against the same worker's plain NAT forwarding
// rate, measured in one run, on the two-arm NAT layout with one real server. The daemon's worker
// is pinned to CPU 1 and serves a SYN-proxied TCP service (VIP:80, NAT) and a UDP NAT service
// (VIP:53). The generator (BPF_PROG_RUN live frames, pinned to CPU 0, unpaced) sends, in turn:
//
//   - udp: 64-byte UDP frames over 1024 flows, forwarded to the real server (the baseline; the
//     NAT connections exist before the run);
//   - syn: 64-byte TCP SYNs from 16,384 spoofed sources (256 addresses × 64 ports), each
//     answered with a SYN/ACK cookie back out of the client's port;
//   - ack: the same sources' ACKs with forged cookies, each checked and dropped.
//
// The rate of each is the worker's own count (packets transmitted; SYN/ACKs answered; forged
// ACKs dropped) over a window of the generator's run (from 0.5 s after its start to 0.3 s before
// its end), median of the rounds; the kinds alternate within each round. XDP sinks on the real server's port and on the client's count and drop what arrives
// (the forwarded datagrams, the SYN/ACKs), so both cost the same at the receiving end. The table
// goes to bench/results/synproxy.md.
//
//	XDPVS_BENCH=1 go test -run TestSynProxyRate -v -count=1 -timeout 20m ./bench/
//
// Knobs: XDPVS_BENCH_RUNS (3 rounds), XDPVS_BENCH_COUNT (frames per run, 1e8: more than the time
// limit lets through), XDPVS_BENCH_SECONDS (length of a run, 3), XDPVS_BENCH_QUIET_WAIT (seconds to wait for an idle machine, 60),
// XDPVS_BENCH_OUT (bench/results), XDPVS_BENCH_KINDS (syn,ack: which besides the baseline).
func TestSynProxyRate(t *testing.T) {
	requireBench(t)
	xdpvsd, adm := buildBinaries(t)
	rounds := envInt(t, "XDPVS_BENCH_RUNS", 3)
	count := uint64(envInt(t, "XDPVS_BENCH_COUNT", 100_000_000)) // the time limit ends a run
	const warmup = 500 * time.Millisecond
	limit := time.Duration(envInt(t, "XDPVS_BENCH_SECONDS", 3)) * time.Second
	quietWait := time.Duration(envInt(t, "XDPVS_BENCH_QUIET_WAIT", 60)) * time.Second

	nat, err := topo.NewNAT(topo.Prefix("spr"), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nat.Close(); err != nil {
			t.Error(err)
		}
	})
	resolve(t, nat.Director, topo.RS4(0))
	sink, err := pktgen.AttachSink(nat.RS[0], "r0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	// The SYN/ACKs go back to the client's port: a sink there too, so that they cost what the
	// forwarded frames cost at the real server's (an XDP drop, not the client kernel's stack), and
	// count them independently.
	back, err := pktgen.AttachSink(nat.Client, "c0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	if err := back.SetDropTCP(true); err != nil {
		t.Fatal(err)
	}
	d, err := topo.StartDaemon(nat.Director, xdpvsd, t.TempDir(), nat.Ifaces(),
		// --fast-path=off: the baseline is the worker's own UDP NAT forwarding, which the XDP
		// fast path would otherwise take over (the worker then counts none of it).
		"--workers", "1", "--cpus", strconv.Itoa(workerCPU), "--log-level", "warn", "--fast-path=off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("xdpvsd: %v\n%s", err, d.Log)
		}
	})
	udpSvc, tcpSvc := fmt.Sprintf("%s:%d", topo.VIP4, vport), topo.VIP4+":80"
	for _, args := range [][]string{
		{"-A", "-u", udpSvc, "-s", "rr"},
		{"-a", "-u", udpSvc, "-r", fmt.Sprintf("%s:%d", topo.RS4(0), rport), "-m"},
		{"-A", "-t", tcpSvc, "-s", "rr", "-j"},
		{"-a", "-t", tcpSvc, "-r", topo.RS4(0) + ":8080", "-m"},
	} {
		if _, err := d.Adm(adm, args...); err != nil {
			t.Fatal(err)
		}
	}

	base := pktgen.DefaultConfig()
	var c0 int
	base.SrcMAC, c0 = ifaceInfo(t, nat.Client, "c0")
	base.DstMAC, _ = ifaceInfo(t, nat.Director, "d0")
	base.Src, base.Dst = mustAddr(topo.Client4), mustAddr(topo.VIP4)
	base.DstPort, base.SrcPort, base.Flows, base.Size = vport, 1024, 1024, pktgen.MinSize
	flood := base
	flood.Src, flood.Addrs, flood.Flows, flood.DstPort, flood.Proto = mustAddr("198.18.128.1"), 256, 64, 80, pktgen.TCP
	type kind struct {
		name, what string
		cfg        pktgen.Config
		flags      uint8
		counter    func(w api.WorkerStats) uint64 // what the worker did with these frames
	}
	kinds := []kind{
		{"udp", "UDP NAT forwarded (baseline)", base, 0, func(w api.WorkerStats) uint64 { return w.TXPackets }},
		{"syn", "flood SYNs answered with a cookie", flood, pktgen.FlagSYN, func(w api.WorkerStats) uint64 { return named(w.Events, "synproxy_syn_answered") }},
		{"ack", "forged cookie ACKs dropped", flood, pktgen.FlagACK, func(w api.WorkerStats) uint64 { return named(w.Drops, "synproxy_bad_cookie") }},
	}
	if only := os.Getenv("XDPVS_BENCH_KINDS"); only != "" {
		kinds = slices.DeleteFunc(kinds, func(k kind) bool {
			return k.name != "udp" && !slices.Contains(strings.Split(only, ","), k.name)
		})
	}
	// The prog-run engine, or the AF_XDP one where the kernel refuses live frames.
	engine, engineText := pktgen.EngineProgRun, "BPF_PROG_RUN live frames"
	if lerr := pktgen.LiveFrames(); lerr != nil {
		engine, engineText = pktgen.EngineAFXDP, fmt.Sprintf("the AF_XDP engine, copy mode: %v", lerr)
		t.Logf("generator: %s", engineText)
	}
	// run sends with kind i's generator. AF_XDP generators share c0's queue 0, which one socket
	// holds at a time: each is opened for its run and closed after it.
	gens := make([]pktgen.Sender, len(kinds))
	t.Cleanup(func() {
		for _, g := range gens {
			if g != nil {
				g.Close()
			}
		}
	})
	run := func(i int, count uint64, o pktgen.RunOptions) (pktgen.Result, error) {
		if gens[i] == nil {
			cfg := kinds[i].cfg
			cfg.TCPFlags = kinds[i].flags
			g, err := pktgen.Open(cfg, engine)
			if err != nil {
				return pktgen.Result{}, err
			}
			gens[i] = g
		}
		res, err := gens[i].Run(nat.Client, c0, count, o)
		if engine == pktgen.EngineAFXDP {
			gens[i].Close()
			gens[i] = nil
		}
		return res, err
	}
	worker := func() api.WorkerStats {
		out, err := d.Adm(adm, "show", "workers", "-o", "json")
		var st struct{ Workers []api.WorkerStats }
		if err == nil {
			err = json.Unmarshal([]byte(out), &st)
		}
		if err != nil || len(st.Workers) != 1 {
			t.Fatalf("show workers: %v %s", err, out)
		}
		return st.Workers[0]
	}
	// Warm up the UDP flows: their NAT connections exist before the measured runs.
	if _, err := run(0, 20*1024, pktgen.RunOptions{Rate: 100_000, Duration: 5 * time.Second, Pin: true, CPU: genCPU}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if st, err := sink.Read(); err != nil || st.UDP().Packets < 10*1024 {
		t.Fatalf("warm-up: the sink counted %+v (%v)", st.UDP(), err)
	}

	rates := make([][]float64, len(kinds))
	busyRuns := 0
	for r := range rounds {
		for i, k := range kinds {
			if busy, quiet := waitQuiet(quietWait); !quiet {
				busyRuns++
				t.Logf("round %d %s: the machine is busy (a CPU %d%% busy): the figure is not clean", r, k.name, busy)
			}
			type done struct {
				res pktgen.Result
				err error
			}
			ch := make(chan done, 1)
			start := time.Now()
			go func() {
				res, err := run(i, count, pktgen.RunOptions{Duration: limit, Pin: true, CPU: genCPU})
				ch <- done{res, err}
			}()
			// The window: from warm-up after the start to a little before the end, the counters
			// read at both ends (each read is a request to the daemon, a few ms).
			time.Sleep(warmup)
			t0, before, sinks := time.Now(), k.counter(worker()), sinkTotal(t, []*pktgen.Sink{sink, back})
			time.Sleep(time.Until(start.Add(limit - 300*time.Millisecond)))
			t1, after, sinks1 := time.Now(), k.counter(worker()), sinkTotal(t, []*pktgen.Sink{sink, back})
			g := <-ch
			if g.err != nil {
				t.Fatal(g.err)
			}
			if g.res.Elapsed < limit-100*time.Millisecond {
				t.Fatalf("%s: the generator stopped after %v, before the window's end: raise XDPVS_BENCH_COUNT", k.name, g.res.Elapsed)
			}
			n, arrived := after-before, sinks1-sinks
			rate := float64(n) / t1.Sub(t0).Seconds()
			rates[i] = append(rates[i], rate)
			t.Logf("round %d %-3s: generator %.3f Mpps, worker %.3f Mpps (%d in %v), sinks %d", r, k.name, g.res.PPS()/1e6, rate/1e6, n, t1.Sub(t0).Round(time.Millisecond), arrived)
			if k.name != "ack" && arrived < n*99/100 {
				t.Errorf("%s: the worker sent %d, the sinks counted %d", k.name, n, arrived)
			}
			if n == 0 {
				t.Fatalf("%s: the worker counted nothing\n%s", k.name, d.Log)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# xdpvs SYN proxy rate\n\n")
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, kernel %s; %s.\n", cpuModel(), runtime.NumCPU(), kernel(), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Regenerate with `XDPVS_BENCH=1 go test -run TestSynProxyRate -v -count=1 ./bench/` (root).\n\n")
	fmt.Fprintf(&b, "Placement: generator (%s, 64-byte frames, unpaced) on CPU 0, which also runs the director's receive; one xdpvs worker on CPU 1. Rates are the worker's own counts over a window of each run (0.5 s after its start to 0.3 s before its end), median of %d rounds, the kinds alternating.\n\n", engineText, rounds)
	if busyRuns > 0 {
		fmt.Fprintf(&b, "⚠ %d run(s) started on a busy machine.\n\n", busyRuns)
	}
	fmt.Fprintf(&b, "| what one worker does | Mpps | ns/packet | / UDP NAT forwarding |\n|---|---:|---:|---:|\n")
	baseRate := median(rates[0])
	for i, k := range kinds {
		m := median(rates[i])
		fmt.Fprintf(&b, "| %s | %.3f | %.0f | %.2f |\n", k.what, m/1e6, 1e9/m, m/baseRate)
	}
	t.Logf("\n%s", b.String())
	dir := os.Getenv("XDPVS_BENCH_OUT")
	if dir == "" {
		dir = "results"
	}
	if err := os.WriteFile(filepath.Join(dir, "synproxy.md"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// named finds a counter by name.
func named(cs []api.NamedCount, name string) uint64 {
	for _, c := range cs {
		if c.Name == name {
			return c.Count
		}
	}
	return 0
}
