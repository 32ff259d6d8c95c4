package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

// TestEngineSweep offers paced rates to configurations with both generator engines and logs, for
// each trial, the offered rate, the rate the generator achieved, the rate delivered at the sinks,
// each CPU's busy share by kind (user, system, softirq) and the drop counters that moved: where
// the two engines' figures part, and why. It writes nothing.
//
//	XDPVS_BENCH=1 go test -run '^TestEngineSweep$' -v -count=1 ./bench/
//
// Knobs: XDPVS_BENCH_SWEEP_RATES (Mpps, comma-separated; 0 is unpaced; default 0.5,1,1.5,2,3,0),
// XDPVS_BENCH_SWEEP_KINDS (nat1,nft1; any kind of TestLB with a worker count), XDPVS_BENCH_TRIAL_MS
// (1000), XDPVS_BENCH_SIZES (64).
func TestEngineSweep(t *testing.T) {
	requireBench(t)
	e := &lbEnv{tb: t, k: lbKnobsFromEnv(t)}
	if os.Getenv("XDPVS_BENCH_SIZES") == "" {
		e.k.sizes = []int{64}
	}
	b := testutil.Binaries(t, "xdpvsd", "xdpvsadm", "xdpvs-pktgen")
	e.xdpvsd, e.adm, e.pktgenBin = b[0], b[1], b[2]
	rates := []float64{0.5e6, 1e6, 1.5e6, 2e6, 3e6, 0}
	if s := os.Getenv("XDPVS_BENCH_SWEEP_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || v < 0 {
				t.Fatalf("XDPVS_BENCH_SWEEP_RATES: bad rate %q", f)
			}
			rates = append(rates, v*1e6)
		}
	}
	kinds := []string{"nat1", "nft1"}
	if s := os.Getenv("XDPVS_BENCH_SWEEP_KINDS"); s != "" {
		kinds = strings.Split(s, ",")
	}
	liveErr := pktgen.LiveFrames()
	e.setupNAT()
	for _, kw := range kinds {
		kind, workers := kw[:len(kw)-1], int(kw[len(kw)-1]-'0')
		if kind == "dr" || kind == "drfp" || kind == "xdptx" {
			if e.dr == nil {
				e.setupDR()
			}
		}
		e.sweep(kind, workers, kw, rates, liveErr)
	}
}

// sweep is TestEngineSweep's trials of one configuration; whatever fails, the configuration and
// its generators are closed (a daemon left running would hold the measurement lock's descriptor).
func (e *lbEnv) sweep(kind string, workers int, kw string, rates []float64, liveErr error) {
	t := e.tb
	s := e.start(kind, workers, "-u")
	defer s.close()
	for _, size := range e.k.sizes {
		for _, eng := range pktgen.Engines {
			if eng == pktgen.EngineProgRun && liveErr != nil {
				t.Logf("%s: no %s trials: %v", kw, eng, liveErr)
				continue
			}
			gs := e.generators(s, size, workers, eng)
			defer gs.close()
			e.trial(s, gs, 50_000, time.Duration(float64(20*gs.flows())/50_000*float64(time.Second)))
			for _, rate := range rates {
				busy, _ := waitQuiet(2 * time.Second)
				c0 := e.lossCounters(s)
				cpu0 := readCPUTimes()
				r := e.trial(s, gs, rate, e.k.trial)
				cpu1 := readCPUTimes()
				dur := float64(r.Sent) / max(r.Achieved, 1)
				t.Logf("%s %s %d B offered %s achieved %.3f delivered %.3f Mpps (%.1f %% lost; busy before %d %%)\n    cpu %s\n    %s",
					kw, eng, size, offered(rate), r.Achieved/1e6, float64(r.Received)/dur/1e6, 100*r.Loss(), busy,
					cpuShares(cpu0, cpu1), counterDelta(c0, e.lossCounters(s)))
			}
			if os.Getenv("XDPVS_BENCH_SWEEP_DRAIN") == "1" {
				t.Logf("%s %s after the last trial:%s", kw, eng, drainProfile(2*time.Second))
				// A prog-run generator's anchor is a private network namespace, destroyed
				// (by the kernel's cleanup_net work) when the generator closes.
				if g, err := pktgen.New(gs.gens[0].Config()); err == nil {
					g.Close()
					t.Logf("%s %s after a prog-run generator's open and close:%s", kw, eng, drainProfile(time.Second))
				}
			}
		}
	}
}

func offered(rate float64) string {
	if rate == 0 {
		return "unpaced"
	}
	return fmt.Sprintf("%.3f", rate/1e6)
}

// cpuShares formats each CPU's busy share between two samples: user, system, irq+softirq.
func cpuShares(a, b []cpuTimes) string {
	var parts []string
	for i := range min(len(a), len(b)) {
		var total uint64
		for k := range a[i] {
			total += b[i][k] - a[i][k]
		}
		if total == 0 {
			continue
		}
		pc := func(k int) uint64 { return 100 * (b[i][k] - a[i][k]) / total }
		parts = append(parts, fmt.Sprintf("cpu%d usr %d%% sys %d%% si %d%% idle %d%%", i, pc(0), pc(1), pc(2), pc(3)))
	}
	return strings.Join(parts, "; ")
}

// drainProfile samples, right after a trial, each CPU's busy share over slices of 100 ms for
// dur, and names the threads (kernel threads included) that used the most CPU time in the
// first 300 ms: what keeps a CPU busy after a configuration's traffic stops.
func drainProfile(dur time.Duration) string {
	var b strings.Builder
	t0 := threadTimes()
	prev := readCPUTimes()
	for i := 0; time.Duration(i)*100*time.Millisecond < dur; i++ {
		time.Sleep(100 * time.Millisecond)
		cur := readCPUTimes()
		fmt.Fprintf(&b, "\n    +%d ms: %s", (i+1)*100, cpuShares(prev, cur))
		prev = cur
	}
	t1 := threadTimes()
	fmt.Fprintf(&b, "\n    threads over %v (share of one CPU): %s", dur, busiestThreads(t0, t1, uint64(dur/(10*time.Millisecond))))
	return b.String()
}
