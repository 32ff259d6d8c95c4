//go:build linux

// Command xdpvs-pktgen sends UDP frames out of an interface at line rate with bench/pktgen
// (BPF_PROG_RUN live frames, XDP_TX) and prints the rate at which it sent them.
//
//	xdpvs-pktgen [--netns NS] --iface IF --dst-mac MAC --src ADDR --dst ADDR [--dport P]
//	             [--sport P] [--flows N] [--size BYTES] [--count N] [--duration D] [--cpu C]
//
// Addresses must come from 198.18.0.0/15 or 2001:2::/48 (the benchmarking ranges). --size is the
// Ethernet frame size with its FCS (64..1518). The sending thread is pinned to --cpu; on a veth
// the peer's receive processing runs on that CPU too.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/xdpvs/xdpvs/bench/pktgen"
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

// options are the parsed flags.
type options struct {
	netns, iface     string
	dstMAC           string
	src, dst         string
	sport, dport     uint
	flows, size, cpu int
	count            uint64
	duration         time.Duration
}

var benchRanges = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:2::/48")}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	def := pktgen.DefaultConfig()
	fs := flag.NewFlagSet("xdpvs-pktgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.netns, "netns", "", "network namespace (as named by `ip netns`) to send from; default the current one")
	fs.StringVar(&o.iface, "iface", "", "interface to send out of (required)")
	fs.StringVar(&o.dstMAC, "dst-mac", "", "destination MAC: the peer's, or the next hop's (required)")
	fs.StringVar(&o.src, "src", "", "source address (required)")
	fs.StringVar(&o.dst, "dst", "", "destination address (required)")
	fs.UintVar(&o.sport, "sport", uint(def.SrcPort), "first UDP source port")
	fs.UintVar(&o.dport, "dport", uint(def.DstPort), "UDP destination port")
	fs.IntVar(&o.flows, "flows", def.Flows, "flows: source ports sport .. sport+flows-1, round robin")
	fs.IntVar(&o.size, "size", def.Size, "Ethernet frame size with FCS, 64..1518 (IPv6: 66..1518)")
	fs.Uint64Var(&o.count, "count", 1_000_000, "frames to send")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "time limit")
	fs.IntVar(&o.cpu, "cpu", 0, "CPU to pin the sending thread to; -1 for none")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
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
	case o.sport == 0 || o.sport > 65535 || o.dport == 0 || o.dport > 65535:
		return o, errors.New("--sport and --dport must be in 1..65535")
	}
	return o, nil
}

func (o options) config(ifaceMAC net.HardwareAddr) (pktgen.Config, error) {
	c := pktgen.Config{SrcMAC: ifaceMAC, SrcPort: uint16(o.sport), DstPort: uint16(o.dport),
		Flows: o.flows, Size: o.size}
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
		if !benchRanges[0].Contains(addr) && !benchRanges[1].Contains(addr) {
			return c, fmt.Errorf("%s %s: not in the benchmarking ranges %s, %s", a.flag, addr, benchRanges[0], benchRanges[1])
		}
		*a.dst = addr
	}
	return c, c.Validate()
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	var ns *netns.NS
	if o.netns != "" {
		ns = &netns.NS{Name: o.netns}
	}
	var ifi *net.Interface
	lookup := func() (err error) { ifi, err = net.InterfaceByName(o.iface); return err }
	if ns != nil {
		err = ns.Do(lookup)
	} else {
		err = lookup()
	}
	if err != nil {
		return fmt.Errorf("--iface %s: %w", o.iface, err)
	}
	cfg, err := o.config(ifi.HardwareAddr)
	if err != nil {
		return err
	}
	g, err := pktgen.New(cfg)
	if err != nil {
		return err
	}
	defer g.Close()
	res, err := g.Run(ns, ifi.Index, o.count, pktgen.RunOptions{Duration: o.duration, Pin: o.cpu >= 0, CPU: o.cpu})
	if err != nil {
		return err
	}
	cpu := "unpinned"
	if res.CPU >= 0 {
		cpu = fmt.Sprintf("CPU %d", res.CPU)
	}
	fmt.Fprintf(stdout, "sent %d frames of %d B (%d B without FCS) in %v: %.0f pps (%.3f Mpps), %d flows, %s\n",
		res.Sent, cfg.Size, cfg.Size-pktgen.FCSSize, res.Elapsed.Round(time.Microsecond), res.PPS(), res.PPS()/1e6, cfg.Flows, cpu)
	return nil
}
