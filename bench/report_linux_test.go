package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/xdpvs/xdpvs/bench/pktgen"
)

// lbReport is the outcome of TestLB, written as results/bench.json, results/bench.md and
// results/bench.png after every configuration (so an interrupted run leaves what it measured).
type lbReport struct {
	Started  string `json:"started"`
	Finished string `json:"finished,omitempty"`
	Machine  string `json:"machine"`
	CPUs     int    `json:"cpus"`
	Kernel   string `json:"kernel"`
	LoadAvg  string `json:"load_average_before"`
	Command  string `json:"command"`
	Knobs    string `json:"knobs"`
	Engine   string `json:"generator_engine,omitempty"`
	// EngineNote says why the run's engine is not the one asked for, if it is not.
	EngineNote string   `json:"generator_engine_note,omitempty"`
	Placement  []string `json:"placement"`
	PPS        []ppsRow `json:"pps"`
	CPS        []cpsRow `json:"cps"`
}

func newReport(e *lbEnv) *lbReport {
	k := e.k
	r := &lbReport{
		Started: time.Now().UTC().Format(time.RFC3339), Machine: cpuModel(), CPUs: runtime.NumCPU(), Kernel: kernel(),
		LoadAvg: loadavg(), Command: "make bench",
		Knobs: fmt.Sprintf("sizes %v, %d throughput run(s) of %v, search trials of %v (resolution %.0f %% of the maximum), latency over %v at the NDR, cps %v × %d loops, generator engine %s",
			k.sizes, k.runs, k.tput, k.trial, 100*k.resolution, k.latDur, k.cpsDur, k.cpsConc, k.engine),
		Engine: string(k.engine),
		Placement: []string{
			"CPU 0: the generator (" + engineText(k.engine) + "), which also runs the director's receive (veth NAPI: steering XDP program, AF_XDP copy) for the frames it sends; the cps client and servers.",
			"CPU 1: one xdpvs worker (--cpus 1), which also runs its copy-mode transmit and the real servers' receive (XDP sinks); HAProxy; the kernel's forwarding for nftables and the direct path (RPS on the director's interfaces).",
			"2 workers: workers on CPUs 0 and 1 (--cpus 0,1), one generator on each CPU sending half the flows into its own queue.",
			fmt.Sprintf("Flows: %d source addresses × %d source ports from %s, UDP to VIP %s:%d, 2 real servers (rr); director veths with 2 queues, channels set to the worker count.", srcAddrs, srcPorts, srcFirst, "198.18.0.10", lbVport),
		},
	}
	if k.engine != pktgen.EngineAFXDP {
		r.Placement = append(r.Placement, "Rows marked (AF_XDP generator): the same measurement with the generator's other engine ("+engineText(pktgen.EngineAFXDP)+"), a check of the first; it sends at most 1–2 Mpps per core, so its unpaced throughput can be the generator's, not the forwarder's.")
	}
	return r
}

// engineText says how the generator sends, for the placement line.
func engineText(e pktgen.Engine) string {
	pace := "paced trials in bursts of about rate × 100 µs"
	if e == pktgen.EngineAFXDP {
		return "engine af-xdp: an AF_XDP socket's TX ring on the client's c0, copy mode, one socket per queue; " + pace
	}
	return "engine prog-run: BPF_PROG_RUN live frames, XDP_TX on the client's c0, the program kept in the XDP dispatcher; " + pace
}

func (r *lbReport) write(e *lbEnv) {
	tb := e.tb
	dir := e.k.out
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	js, _ := json.MarshalIndent(r, "", "  ")
	for name, data := range map[string][]byte{"bench.json": js, "bench.md": []byte(r.markdown())} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := r.chart(filepath.Join(dir, "bench.png")); err != nil {
		tb.Errorf("chart: %v", err)
	}
}

func mp(x float64) string {
	if x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", x/1e6)
}

func us(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(d)/1e3)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// genLimited is the share of its generator's rate a configuration must deliver for its
// throughput to be the generator's rather than its own: it forwarded (nearly) all it was
// offered, so its capacity is at least that, not that.
const genLimited = 0.98

// overloadSpread is how far apart two rows' offered rates may be for the ratio of their unpaced
// throughputs to compare capacities: beyond it, each row measured its own overload (a forwarder
// offered four times what it can take may deliver less than at twice, or more).
const overloadSpread = 1.5

// tputRatio is the ratio of two unpaced throughputs, as a bound when one side delivered all its
// generator sent (≥ when the numerator did, ≤ when the denominator did), with a note when it is
// no capacity figure: both sides generator-limited, or offered rates too far apart.
func tputRatio(s, t *ppsSize) (value, note string) {
	value = ratio(s.Throughput, t.Throughput)
	if value == "–" || s.GenRate == 0 || t.GenRate == 0 {
		return value, ""
	}
	sl, tl := s.Throughput >= genLimited*s.GenRate, t.Throughput >= genLimited*t.GenRate
	switch {
	case sl && tl:
		return "–", fmt.Sprintf(" both generator-limited (%s and %s Mpps offered, all delivered): no capacity ratio;", mp(s.GenRate), mp(t.GenRate))
	case sl:
		return "≥ " + value, fmt.Sprintf(" the first generator-limited (%s Mpps offered, all delivered);", mp(s.GenRate))
	case tl:
		return "≤ " + value, fmt.Sprintf(" the second generator-limited (%s Mpps offered, all delivered);", mp(t.GenRate))
	}
	if hi, lo := max(s.GenRate, t.GenRate), min(s.GenRate, t.GenRate); hi > overloadSpread*lo {
		return value, fmt.Sprintf(" overload, not capacity: offered %s and %s Mpps (%.1f× and %.1f× what each delivered);",
			mp(s.GenRate), mp(t.GenRate), s.GenRate/s.Throughput, t.GenRate/t.Throughput)
	}
	return value, ""
}

// flag marks a ratio whose inputs were measured on a busy machine.
func flag(quiet ...bool) string {
	for _, q := range quiet {
		if !q {
			return " ⚠ busy machine"
		}
	}
	return ""
}

// pps returns the row of kind and workers measured with the run's main generator engine.
func (r *lbReport) pps(kind string, workers int) *ppsRow {
	for i := range r.PPS {
		if e := r.PPS[i].Engine; r.PPS[i].Kind == kind && r.PPS[i].Workers == workers && (e == "" || r.Engine == "" || e == r.Engine) {
			return &r.PPS[i]
		}
	}
	return nil
}

// ppsWith returns the row of kind and workers measured with engine e.
func (r *lbReport) ppsWith(kind string, workers int, e pktgen.Engine) *ppsRow {
	for i := range r.PPS {
		if r.PPS[i].Kind == kind && r.PPS[i].Workers == workers && r.PPS[i].Engine == string(e) {
			return &r.PPS[i]
		}
	}
	return nil
}

func (r *lbReport) cps(kind string, workers int) *cpsRow {
	for i := range r.CPS {
		if r.CPS[i].Kind == kind && r.CPS[i].Workers == workers {
			return &r.CPS[i]
		}
	}
	return nil
}

func (row *ppsRow) size(n int) *ppsSize {
	if row == nil {
		return nil
	}
	for i := range row.Sizes {
		if row.Sizes[i].Size == n {
			return &row.Sizes[i]
		}
	}
	return nil
}

func busyMark(quiet bool, busy int, by string) string {
	if quiet {
		return ""
	}
	if by != "" {
		return fmt.Sprintf(" ⚠ busy (%d %%: %s)", busy, by)
	}
	return fmt.Sprintf(" ⚠ busy (%d %%)", busy)
}

func (r *lbReport) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# xdpvs benchmark\n\n")
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, kernel %s; load average before %s; started %s", r.Machine, r.CPUs, r.Kernel, r.LoadAvg, r.Started)
	if r.Finished != "" {
		fmt.Fprintf(&b, ", finished %s", r.Finished)
	} else {
		fmt.Fprintf(&b, " (incomplete)")
	}
	fmt.Fprintf(&b, ".\nRegenerate with `%s` (root). Settings: %s.\n", r.Command, r.Knobs)
	if r.EngineNote != "" {
		fmt.Fprintf(&b, "\n**Generator: %s.**\n", r.EngineNote)
	}
	fmt.Fprintf(&b, "\nPlacement:\n")
	for _, p := range r.Placement {
		fmt.Fprintf(&b, "- %s\n", p)
	}
	noisy := 0
	var sizes []int
	seen := map[int]bool{}
	for _, row := range r.PPS {
		for _, s := range row.Sizes {
			if !seen[s.Size] {
				seen[s.Size] = true
				sizes = append(sizes, s.Size)
			}
		}
	}
	// Ratios first: the figures that carry over between machines.
	fmt.Fprintf(&b, "\n## Ratios (same run)\n\n| ratio | value | target | note |\n|---|---:|---|---|\n")
	bare, nat1, nat2, nft := r.pps("bare", 1), r.pps("nat", 1), r.pps("nat", 2), r.pps("nft", 1)
	for _, n := range sizes {
		if s, t := nat1.size(n), bare.size(n); s != nil && t != nil {
			f := flag(nat1.Quiet, bare.Quiet)
			v, note := tputRatio(s, t)
			fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / bare AF_XDP ceiling, throughput, %d B | %s | ≥ 0.9 |%s%s |\n", n, v, note, f)
			fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / bare AF_XDP ceiling, NDR, %d B | %s | |%s |\n", n, ratio(s.NDR, t.NDR), f)
		}
		if s, t := nat1.size(n), nft.size(n); s != nil && t != nil {
			f := flag(nat1.Quiet, nft.Quiet)
			v, note := tputRatio(s, t)
			fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / nftables DNAT, throughput, %d B | %s | ≥ 1.3 |%s%s |\n", n, v, note, f)
			fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / nftables DNAT, NDR, %d B | %s | |%s |\n", n, ratio(s.NDR, t.NDR), f)
			fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / nftables DNAT, PDR, %d B | %s | |%s |\n", n, ratio(s.PDR, t.PDR), f)
		}
		if s, t := nat2.size(n), nft.size(n); s != nil && t != nil {
			v, note := tputRatio(s, t)
			fmt.Fprintf(&b, "| xdpvs NAT (2 workers) / nftables DNAT, throughput, %d B | %s | |%s%s |\n", n, v, note, flag(nat2.Quiet, nft.Quiet))
		}
		// The XDP fast path (issue 16): against the XDP ceiling, the AF_XDP ceiling and nftables.
		for _, fp := range []struct{ kind, name string }{{"natfp", "NAT"}, {"fullnatfp", "FULLNAT"}, {"drfp", "DR"}} {
			row := r.pps(fp.kind, 1)
			for _, base := range []struct {
				row          *ppsRow
				name, target string
			}{{r.pps("xdpredirect", 1), "bare XDP_REDIRECT forward", "≥ 0.5"}, {bare, "bare AF_XDP ceiling", "≥ 2.5"}, {nft, "nftables DNAT", "≥ 2.5"}} {
				if s, t := row.size(n), base.row.size(n); s != nil && t != nil {
					target := base.target
					if n != 64 {
						target = ""
					}
					v, note := tputRatio(s, t)
					fmt.Fprintf(&b, "| xdpvs %s fast path / %s, throughput, %d B | %s | %s |%s%s |\n", fp.name, base.name, n,
						v, target, note, flag(row.Quiet, base.row.Quiet))
				}
			}
		}
		if r.Engine != string(pktgen.EngineAFXDP) {
			xn, xf := r.ppsWith("nat", 1, pktgen.EngineAFXDP), r.ppsWith("nft", 1, pktgen.EngineAFXDP)
			if s, t := xn.size(n), xf.size(n); s != nil && t != nil {
				f := flag(xn.Quiet, xf.Quiet)
				v, note := tputRatio(s, t)
				fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / nftables DNAT, both with the AF_XDP generator, throughput, %d B | %s | |%s%s |\n", n, v, note, f)
				fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / nftables DNAT, both with the AF_XDP generator, NDR, %d B | %s | |%s |\n", n, ratio(s.NDR, t.NDR), f)
				fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / nftables DNAT, both with the AF_XDP generator, PDR, %d B | %s | |%s |\n", n, ratio(s.PDR, t.PDR), f)
			}
		}
	}
	cnat, cnft, chap, cdir := r.cps("nat", 1), r.cps("nft", 1), r.cps("haproxy", 1), r.cps("direct", 1)
	if cnat != nil && cnft != nil {
		fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / nftables DNAT, connections per second | %s | |%s |\n", ratio(cnat.CPS, cnft.CPS), flag(cnat.Quiet, cnft.Quiet))
	}
	if cnat != nil && chap != nil {
		fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / HAProxy, connections per second | %s | |%s |\n", ratio(cnat.CPS, chap.CPS), flag(cnat.Quiet, chap.Quiet))
	}
	if cfp := r.cps("natfp", 1); cfp != nil && cnat != nil {
		fmt.Fprintf(&b, "| xdpvs NAT fast path / xdpvs NAT workers only, connections per second | %s | ≥ 1 |%s |\n", ratio(cfp.CPS, cnat.CPS), flag(cfp.Quiet, cnat.Quiet))
	}
	if cnat != nil && cdir != nil {
		fmt.Fprintf(&b, "| xdpvs NAT (1 worker) / direct to the real server, connections per second | %s | ≥ 0.95 |%s |\n", ratio(cnat.CPS, cdir.CPS), flag(cnat.Quiet, cdir.Quiet))
	}
	fmt.Fprintf(&b, "\n## Packets per second (UDP)\n\nThroughput: unpaced, the rate delivered at the real servers (median of runs); NDR: highest rate with no loss, PDR: with ≤ 0.5 %% loss (RFC 2544 binary search); latency: one way, generator to real server, at the NDR, in µs.\n\n")
	fmt.Fprintf(&b, "| configuration | frame | throughput Mpps | NDR Mpps | PDR Mpps | lat min | p50 | p99 | p99.9 | max | generator Mpps | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, row := range r.PPS {
		if !row.Quiet {
			noisy++
		}
		for _, s := range row.Sizes {
			l := s.Latency
			fmt.Fprintf(&b, "| %s | %d B | %s | %s | %s | %s | %s | %s | %s | %s | %s |%s |\n", row.Name, s.Size, mp(s.Throughput), mp(s.NDR), mp(s.PDR),
				us(l.Min), us(l.P50), us(l.P99), us(l.P999), us(l.Max), mp(s.GenRate), busyMark(row.Quiet, row.Busy, row.BusyBy))
		}
	}
	if len(r.CPS) > 0 {
		fmt.Fprintf(&b, "\n## Connections per second (TCP)\n\nEach connection: handshake, one byte each way, the server's close and the client's, through the VIP; latency per connection in µs.\n\n")
		fmt.Fprintf(&b, "| configuration | conn/s | errors | lat p50 | p99 | p99.9 | max | note |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, row := range r.CPS {
			if !row.Quiet {
				noisy++
			}
			l := row.Latency
			fmt.Fprintf(&b, "| %s | %.0f | %d | %s | %s | %s | %s |%s |\n", row.Name, row.CPS, row.Errors, us(l.P50), us(l.P99), us(l.P999), us(l.Max), busyMark(row.Quiet, row.Busy, row.BusyBy))
		}
	}
	if noisy > 0 {
		fmt.Fprintf(&b, "\n**Warning: %d configuration(s) had a busy machine before or after them (another process used a CPU); their figures (marked ⚠) are not clean.**\n", noisy)
	}
	return b.String()
}

// chart draws two panels into one PNG: the throughput and NDR of every configuration at every
// frame size (Mpps), and the connections per second (thousands).
func (r *lbReport) chart(path string) error {
	var pps, cps *plot.Plot
	if len(r.PPS) > 0 {
		pps = plot.New()
		pps.Title.Text = fmt.Sprintf("UDP packets per second — %s, %d CPUs, kernel %s", r.Machine, r.CPUs, r.Kernel)
		pps.Y.Label.Text = "Mpps"
		var names []string
		var tput, ndr plotter.Values
		for _, row := range r.PPS {
			for _, s := range row.Sizes {
				n := short(row.Name) + fmt.Sprintf(" %dB", s.Size)
				if !row.Quiet {
					n += " (busy)"
				}
				names = append(names, n)
				tput = append(tput, s.Throughput/1e6)
				ndr = append(ndr, s.NDR/1e6)
			}
		}
		if err := bars(pps, names, []plotter.Values{tput, ndr}, []string{"throughput", "NDR"},
			[]color.RGBA{{40, 100, 200, 255}, {120, 180, 240, 255}}); err != nil {
			return err
		}
	}
	if len(r.CPS) > 0 {
		cps = plot.New()
		cps.Title.Text = "TCP connections per second (handshake, 1 byte each way, close)"
		cps.Y.Label.Text = "thousand conn/s"
		var names []string
		var v plotter.Values
		for _, row := range r.CPS {
			n := short(row.Name)
			if !row.Quiet {
				n += " (busy)"
			}
			names = append(names, n)
			v = append(v, row.CPS/1e3)
		}
		if err := bars(cps, names, []plotter.Values{v}, []string{"connections/s"}, []color.RGBA{{220, 120, 40, 255}}); err != nil {
			return err
		}
	}
	var plots []*plot.Plot
	for _, p := range []*plot.Plot{pps, cps} {
		if p != nil {
			plots = append(plots, p)
		}
	}
	if len(plots) == 0 {
		return nil
	}
	const w, h = 26 * vg.Centimeter, 11 * vg.Centimeter
	img := vgimg.New(w, vg.Length(len(plots))*h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Millimeter * 4, PadX: vg.Millimeter * 2}
	var rows [][]*plot.Plot
	for _, p := range plots {
		rows = append(rows, []*plot.Plot{p})
	}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bars adds grouped bar charts to p, one group per name.
func bars(p *plot.Plot, names []string, sets []plotter.Values, labels []string, colors []color.RGBA) error {
	w := vg.Points(10)
	for i, v := range sets {
		b, err := plotter.NewBarChart(v, w)
		if err != nil {
			return err
		}
		b.LineStyle.Width = 0
		b.Color = colors[i]
		b.Offset = vg.Length(float64(i)-float64(len(sets)-1)/2) * w
		p.Add(b)
		if len(sets) > 1 {
			p.Legend.Add(labels[i], b)
		}
	}
	p.Legend.Top = true
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.6
	p.X.Tick.Label.XAlign = -1
	p.X.Tick.Label.YAlign = -0.3
	p.X.Tick.Label.Font.Size = vg.Points(7)
	return nil
}

func short(name string) string {
	r := strings.NewReplacer("xdpvs ", "", ", 1 worker", " 1w", ", 2 workers", " 2w", " (ceiling)", "", "bare AF_XDP forward", "bare AF_XDP",
		"direct to the real server (kernel routing)", "direct", "nftables DNAT numgen", "nftables", "HAProxy TCP mode", "HAProxy", "forward", "", " (AF_XDP generator)", " [xsk gen]")
	return r.Replace(name)
}

var _ = pktgen.PDRLoss

// TestReport renders the last results (results/bench.json) again, into a temporary directory, or
// into results/ with XDPVS_BENCH_RENDER=1 (after a change to the table or the chart): the
// report's code is exercised by `go test ./...` without root or a benchmark run.
func TestReport(t *testing.T) {
	js, err := os.ReadFile(filepath.Join("results", "bench.json"))
	if err != nil {
		t.Skipf("no results to render: %v", err)
	}
	var r lbReport
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if os.Getenv("XDPVS_BENCH_RENDER") == "1" {
		dir = "results"
		if err := os.WriteFile(filepath.Join(dir, "bench.md"), []byte(r.markdown()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	md := r.markdown()
	if !strings.Contains(md, "| configuration |") || !strings.Contains(md, r.Kernel) {
		t.Fatalf("markdown without its table or kernel:\n%s", md)
	}
	if err := r.chart(filepath.Join(dir, "bench.png")); err != nil {
		t.Fatal(err)
	}
}
