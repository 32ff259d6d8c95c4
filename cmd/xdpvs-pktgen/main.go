//go:build linux

// Command xdpvs-pktgen is the packet generator of the xdpvs benchmarks. It has three modes.
//
// Flood (the default) sends UDP or TCP frames out of an interface with bench/pktgen, optionally
// at a target rate, printing progress every second and, with --sink-iface, counting what arrives
// at a receiving interface (an XDP sink) and the one-way latency of the frames from the timestamp
// in their payload:
//
//	xdpvs-pktgen [--netns NS] --iface IF --dst-mac MAC --src ADDR --dst ADDR [--dport P]
//	             [--proto udp|syn|ack|data] [--sport P] [--flows N] [--src-addrs N]
//	             [--size BYTES] [--count N] [--duration D] [--rate PPS] [--cpus C]
//	             [--engine prog-run|af-xdp] [--queue Q] [--batch N]
//	             [--sink-netns NS --sink-iface IF] [--output text|json]
//
// --engine picks how frames leave: prog-run (the default; where the kernel refuses live frames and
// --engine is not given, af-xdp with a notice) runs the generator's XDP program with
// BPF_PROG_RUN in live-frames mode, each frame an XDP_TX frame of the interface (about 7 Mpps per
// core on a veth); af-xdp writes them into an AF_XDP socket's UMEM and sends them from its TX
// ring, bound to --queue (copy mode on a veth, one skb per frame: 1-2 Mpps per core). Both
// send the same frames. On a veth the peer receives prog-run frames on the queue numbered after
// --cpus, af-xdp frames on --queue.
//
// cps opens TCP connections (handshake, one byte each way, the server's close, ours) to a target
// as fast as --concurrency loops can, and reports connections per second and their latency:
//
//	xdpvs-pktgen cps [--netns NS] --target ADDR:PORT [--concurrency N] [--duration D] [--count N]
//	                 [--output text|json]
//
// serve is the server for cps: it reads one byte, writes one byte and closes first.
//
//	xdpvs-pktgen serve [--netns NS] --listen ADDR:PORT [--duration D]
//
// Addresses must come from 198.18.0.0/15 or 2001:2::/48 (the benchmarking ranges). --size is the
// Ethernet frame size with its FCS (64..1518). The sending thread is pinned to --cpus; on a veth
// the peer's receive processing runs on that CPU too.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/cliflag"
	"github.com/xdpvs/xdpvs/internal/netns"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "xdpvs-pktgen:", err)
		}
		os.Exit(2)
	}
}

// options are the parsed flags of the flood mode.
type options struct {
	netns, iface         string
	dstMAC               string
	src, dst             string
	proto                string
	sport, dport         uint
	flows, addrs         int
	size, cpu            int
	count                uint64
	duration             time.Duration
	rate                 float64
	sinkNetns, sinkIface string
	json, quiet          bool
	engine               pktgen.Engine
	engineSet            bool // --engine given: no fallback from prog-run
	queue, batch         int
}

const floodUsage = `usage: xdpvs-pktgen [--netns NS] --iface IF --dst-mac MAC --src ADDR --dst ADDR [options]
       xdpvs-pktgen cps --target ADDR:PORT [options]
       xdpvs-pktgen serve --listen ADDR:PORT [options]

Sends UDP or TCP frames out of IF, unpaced or at --rate, printing progress every second; with
--sink-iface, an XDP sink on the receiving interface counts them and their one-way latency.

Engines (--engine):
  prog-run  the default: BPF_PROG_RUN of an XDP program in live-frames mode, every frame an
            XDP_TX frame of IF (about 7 Mpps per core on a veth); the peer of a veth receives on
            the queue numbered after --cpus. Where the kernel refuses live frames, and --engine
            is not given, af-xdp is used instead, with a notice.
  af-xdp    an AF_XDP socket bound to --queue of IF sends the frames from its TX ring, in batches
            of --batch (copy mode on a veth, one skb per frame: 1-2 Mpps per core); the peer of a
            veth receives on queue --queue.
Both send the same frames. Addresses must be in 198.18.0.0/15 or 2001:2::/48.

Options:
`

var benchRanges = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:2::/48")}

func inRanges(a netip.Addr) bool {
	a = a.Unmap()
	return benchRanges[0].Contains(a) || benchRanges[1].Contains(a)
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	def := pktgen.DefaultConfig()
	fs := flag.NewFlagSet("xdpvs-pktgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, floodUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.netns, "netns", "", "network namespace (as named by `ip netns`) to send from; default the current one")
	fs.StringVar(&o.iface, "iface", "", "interface to send out of (required)")
	fs.StringVar(&o.dstMAC, "dst-mac", "", "destination MAC: the peer's, or the next hop's (required)")
	fs.StringVar(&o.src, "src", "", "(first) source address (required)")
	fs.StringVar(&o.dst, "dst", "", "destination address (required)")
	fs.StringVar(&o.proto, "proto", "udp", "udp, syn (TCP SYN flood), ack (TCP ACK) or data (TCP PSH+ACK); the payload fills the frame size")
	fs.UintVar(&o.sport, "sport", uint(def.SrcPort), "first source port")
	fs.UintVar(&o.dport, "dport", uint(def.DstPort), "destination port")
	fs.IntVar(&o.flows, "flows", def.Flows, "source ports per source address: sport .. sport+flows-1")
	fs.IntVar(&o.addrs, "src-addrs", 1, "source addresses: src .. src+src-addrs-1 (flows = flows × src-addrs, ports fastest)")
	fs.IntVar(&o.size, "size", def.Size, "Ethernet frame size with FCS, 64..1518 (IPv6: 66..1518, IPv6 TCP 78..1518)")
	fs.Uint64Var(&o.count, "count", 1_000_000, "frames to send")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "time limit")
	fs.Float64Var(&o.rate, "rate", 0, "target rate in frames per second (0: as fast as possible)")
	fs.IntVar(&o.cpu, "cpus", 0, "CPU to pin the sending thread to (one); -1 for none")
	engine := fs.String("engine", string(pktgen.EngineProgRun), "how frames leave: prog-run (BPF_PROG_RUN live frames, XDP_TX) or af-xdp (an AF_XDP socket's TX ring)")
	fs.IntVar(&o.queue, "queue", 0, "af-xdp: the interface queue to bind and send on")
	fs.IntVar(&o.batch, "batch", 0, "frames per call: per BPF_PROG_RUN (prog-run, default 262144) or per TX batch and sendto (af-xdp, default 64, at most 1024)")
	fs.StringVar(&o.sinkNetns, "sink-netns", "", "namespace of --sink-iface")
	fs.StringVar(&o.sinkIface, "sink-iface", "", "receiving interface: attach an XDP sink that counts, drops and times the frames")
	output := fs.String("output", "text", "result format: text or json")
	fs.BoolVar(&o.quiet, "quiet", false, "no per-second progress")
	cliflag.Deprecated(fs, "cpu", "cpus", "")
	cliflag.Deprecated(fs, "json", "output", "json")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.json, err = isJSON(*output); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	e, err := pktgen.ParseEngine(*engine)
	if err != nil {
		return o, fmt.Errorf("--engine: %w", err)
	}
	o.engine = e
	fs.Visit(func(f *flag.Flag) { o.engineSet = o.engineSet || f.Name == "engine" })
	switch {
	case o.iface == "":
		return o, errors.New("--iface is required")
	case o.dstMAC == "":
		return o, errors.New("--dst-mac is required")
	case o.src == "" || o.dst == "":
		return o, errors.New("--src and --dst are required")
	case o.count == 0:
		return o, errors.New("--count must be positive")
	case o.duration <= 0:
		return o, errors.New("--duration must be positive")
	case o.rate < 0:
		return o, errors.New("--rate must not be negative")
	case o.sport == 0 || o.sport > 65535 || o.dport == 0 || o.dport > 65535:
		return o, errors.New("--sport and --dport must be in 1..65535")
	case o.sinkNetns != "" && o.sinkIface == "":
		return o, errors.New("--sink-netns needs --sink-iface")
	case o.queue < 0 || o.batch < 0:
		return o, errors.New("--queue and --batch must not be negative")
	}
	return o, nil
}

func (o options) config(ifaceMAC net.HardwareAddr) (pktgen.Config, error) {
	c := pktgen.Config{SrcMAC: ifaceMAC, SrcPort: uint16(o.sport), DstPort: uint16(o.dport),
		Flows: o.flows, Addrs: o.addrs, Size: o.size}
	switch o.proto {
	case "udp":
	case "syn":
		c.Proto, c.TCPFlags = pktgen.TCP, pktgen.FlagSYN
	case "ack":
		c.Proto, c.TCPFlags = pktgen.TCP, pktgen.FlagACK
	case "data":
		c.Proto, c.TCPFlags = pktgen.TCP, pktgen.FlagACK|pktgen.FlagPSH
	default:
		return c, fmt.Errorf("--proto %q: want udp, syn, ack or data", o.proto)
	}
	m, err := net.ParseMAC(o.dstMAC)
	if err != nil {
		return c, fmt.Errorf("--dst-mac: %w", err)
	}
	c.DstMAC = m
	for _, a := range []struct {
		flag, s string
		dst     *netip.Addr
	}{{"--src", o.src, &c.Src}, {"--dst", o.dst, &c.Dst}} {
		addr, err := netip.ParseAddr(a.s)
		if err != nil {
			return c, fmt.Errorf("%s: %w", a.flag, err)
		}
		addr = addr.Unmap()
		if !inRanges(addr) {
			return c, fmt.Errorf("%s %s: not in the benchmarking ranges %s, %s", a.flag, addr, benchRanges[0], benchRanges[1])
		}
		*a.dst = addr
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	if last := c.FlowSource(c.NumFlows() - 1).Addr(); !inRanges(last) {
		return c, fmt.Errorf("--src-addrs: the last source address %s is not in the benchmarking ranges", last)
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "cps":
			return runCPS(args[1:], stdout, stderr)
		case "serve":
			return runServe(args[1:], stdout, stderr)
		}
	}
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ns := nsOf(o.netns)
	var ifi *net.Interface
	if err := do(ns, func() (err error) { ifi, err = net.InterfaceByName(o.iface); return err }); err != nil {
		return fmt.Errorf("--iface %s: %w", o.iface, err)
	}
	cfg, err := o.config(ifi.HardwareAddr)
	if err != nil {
		return err
	}
	var sink *pktgen.Sink
	var before pktgen.SinkStats
	if o.sinkIface != "" {
		if sink, err = pktgen.AttachSink(nsOf(o.sinkNetns), o.sinkIface); err != nil {
			return err
		}
		defer sink.Close()
		if err := sink.SetDropTCP(cfg.Proto == pktgen.TCP); err != nil {
			return err
		}
		if before, err = sink.Read(); err != nil {
			return err
		}
	}
	if o.engine == pktgen.EngineProgRun && !o.engineSet {
		if err := pktgen.LiveFrames(); err != nil {
			fmt.Fprintf(stderr, "xdpvs-pktgen: %v; sending with --engine af-xdp instead\n", err)
			o.engine = pktgen.EngineAFXDP
		}
	}
	g, err := pktgen.Open(cfg, o.engine)
	if err != nil {
		return err
	}
	defer g.Close()
	opts := pktgen.RunOptions{Duration: o.duration, Pin: o.cpu >= 0, CPU: o.cpu, Rate: o.rate, Queue: o.queue, Chunk: uint32(o.batch)}
	var lastRx uint64 = before.UDP().Packets
	if !o.quiet {
		opts.Progress = func(p pktgen.Progress) {
			line := fmt.Sprintf("%5.1fs  sent %12d  %8.3f Mpps", p.Elapsed.Seconds(), p.Sent, p.Rate/1e6)
			if sink != nil {
				if st, err := sink.Read(); err == nil {
					rx := st.UDP().Packets
					line += fmt.Sprintf("  received %12d  %8.3f Mpps", rx-before.UDP().Packets, float64(rx-lastRx)/1e6)
					lastRx = rx
				}
			}
			fmt.Fprintln(stderr, line)
		}
	}
	res, err := g.Run(ns, ifi.Index, o.count, opts)
	if err != nil {
		return err
	}
	rep := report{Engine: string(o.engine), Sent: res.Sent, Seconds: res.Elapsed.Seconds(), PPS: res.PPS(), Size: cfg.Size,
		Flows: cfg.NumFlows(), Proto: o.proto, CPU: res.CPU, MaxBurst: res.MaxBurst}
	if sink != nil {
		time.Sleep(200 * time.Millisecond) // what is still in flight
		st, err := sink.Read()
		if err != nil {
			return err
		}
		rep.Received = st.UDP().Packets - before.UDP().Packets
		h, err := sink.Latency()
		if err != nil {
			return err
		}
		s := h.Summary()
		rep.Latency = &s
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	cpu := "unpinned"
	if res.CPU >= 0 {
		cpu = fmt.Sprintf("CPU %d", res.CPU)
	}
	fmt.Fprintf(stdout, "sent %d frames of %d B (%d B without FCS) in %v: %.0f pps (%.3f Mpps), %d flows, %s, engine %s (at most %d frames per call)\n",
		res.Sent, cfg.Size, cfg.Size-pktgen.FCSSize, res.Elapsed.Round(time.Microsecond), res.PPS(), res.PPS()/1e6, cfg.NumFlows(), cpu,
		o.engine, res.MaxBurst)
	if sink != nil {
		loss := 0.0
		if res.Sent > 0 && rep.Received < res.Sent {
			loss = 100 * float64(res.Sent-rep.Received) / float64(res.Sent)
		}
		fmt.Fprintf(stdout, "received %d (loss %.3f %%); latency %v\n", rep.Received, loss, rep.Latency)
	}
	return nil
}

// report is the JSON form of a flood's result.
type report struct {
	Engine   string          `json:"engine"`
	Proto    string          `json:"proto"`
	Size     int             `json:"size"`
	Flows    int             `json:"flows"`
	Sent     uint64          `json:"sent"`
	Seconds  float64         `json:"seconds"`
	PPS      float64         `json:"pps"`
	CPU      int             `json:"cpu"`
	MaxBurst uint64          `json:"max_burst"`
	Received uint64          `json:"received,omitempty"`
	Latency  *pktgen.Summary `json:"latency_ns,omitempty"`
}

func nsOf(name string) *netns.NS {
	if name == "" {
		return nil
	}
	return &netns.NS{Name: name}
}

func do(ns *netns.NS, fn func() error) error {
	if ns == nil {
		return fn()
	}
	return ns.Do(fn)
}

// CPSReport is the JSON form of a cps run.
type CPSReport struct {
	Target   string         `json:"target"`
	Conns    uint64         `json:"conns"`
	Errors   uint64         `json:"errors"`
	FirstErr string         `json:"first_error,omitempty"`
	Seconds  float64        `json:"seconds"`
	CPS      float64        `json:"cps"`
	Latency  pktgen.Summary `json:"latency_ns"`
}

func runCPS(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xdpvs-pktgen cps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nsName := fs.String("netns", "", "network namespace to connect from")
	target := fs.String("target", "", "ADDR:PORT to connect to (required)")
	conc := fs.Int("concurrency", 16, "connection loops")
	dur := fs.Duration("duration", 5*time.Second, "time limit")
	maxConns := fs.Uint64("count", 0, "stop after this many connections (0: only the time limit)")
	output := fs.String("output", "text", "result format: text or json")
	quiet := fs.Bool("quiet", false, "no per-second progress")
	cliflag.Deprecated(fs, "max", "count", "")
	cliflag.Deprecated(fs, "json", "output", "json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	asJSON, err := isJSON(*output)
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*target)
	if err != nil {
		return fmt.Errorf("--target: %w", err)
	}
	if !inRanges(ap.Addr()) {
		return fmt.Errorf("--target %s: not in the benchmarking ranges", ap.Addr())
	}
	if *dur <= 0 || *conc <= 0 {
		return errors.New("--duration and --concurrency must be positive")
	}
	o := pktgen.CPSOptions{Target: ap.String(), Concurrency: *conc, Duration: *dur, Max: *maxConns}
	if ns := nsOf(*nsName); ns != nil {
		o.Dial = func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = ns.Do(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}
	}
	if !*quiet {
		o.Progress = func(p pktgen.CPSProgress) {
			fmt.Fprintf(stderr, "%5.1fs  connections %10d  %9.0f /s  errors %d\n", p.Elapsed.Seconds(), p.Conns, p.Rate, p.Errs)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := pktgen.RunCPS(ctx, o)
	if err != nil {
		return err
	}
	rep := CPSReport{Target: o.Target, Conns: res.Conns, Errors: res.Errors, Seconds: res.Elapsed.Seconds(), CPS: res.CPS(),
		Latency: res.Latency.Summary()}
	if res.FirstErr != nil {
		rep.FirstErr = res.FirstErr.Error()
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "%d connections to %s in %v: %.0f /s, %d errors (first: %s); latency %v\n",
		rep.Conns, rep.Target, res.Elapsed.Round(time.Millisecond), rep.CPS, rep.Errors, rep.FirstErr, rep.Latency)
	return nil
}

// isJSON parses --output: text or json.
func isJSON(output string) (bool, error) {
	switch output {
	case "text":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("--output %q: want text or json", output)
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xdpvs-pktgen serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nsName := fs.String("netns", "", "network namespace to listen in")
	listen := fs.String("listen", "", "ADDR:PORT to listen on (required)")
	dur := fs.Duration("duration", 30*time.Minute, "time limit (every benchmark process is bounded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if !inRanges(ap.Addr()) && !ap.Addr().IsUnspecified() {
		return fmt.Errorf("--listen %s: not in the benchmarking ranges", ap.Addr())
	}
	var ln net.Listener
	if err := do(nsOf(*nsName), func() (err error) {
		lc := net.ListenConfig{}
		ln, err = lc.Listen(context.Background(), "tcp", ap.String())
		return err
	}); err != nil {
		return err
	}
	s := pktgen.ServeCPS(ln)
	fmt.Fprintf(stdout, "serving %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(*dur):
	}
	err = s.Close()
	fmt.Fprintf(stdout, "accepted %d connections\n", s.Accepted.Load())
	return err
}
