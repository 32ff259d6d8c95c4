// Command xdpvs-rs is the real-server agent for hosts behind an xdpvs director. It attaches a BPF
// program to tc ingress (tcx, or clsact with a direct-action filter on kernels before 6.6) of the
// interfaces that receive the director's traffic, which
//
//   - decapsulates TUN traffic (IPv4-in-IPv4, IPv6-in-IPv6, and GUE on --gue-port) whose inner
//     destination is one of the --vip addresses, so the host needs no ipip/ip6_tunnel/fou module,
//     when it comes from one of the --director addresses or prefixes, and drops (and counts) the
//     same from any other source, and
//   - with --toa, records the client address and port a FULLNAT director carries in TCP option 254
//     per connection, in an LRU map pinned under --pin, where toa/rs (rs.ClientAddr) and
//     `xdpvs-rs toa list` read it.
//
// Usage:
//
//	xdpvs-rs --iface IF [--iface IF2 ...] [--vip ADDR ... --director ADDR[/LEN] ... [--gue-port PORT]] [--toa] [--toa-entries N] [--pin DIR] [--attach auto|tcx|tc]
//	xdpvs-rs toa list [--pin DIR]
//	xdpvs-rs stats [--pin DIR]
//
// The agent runs until SIGTERM or SIGINT, then detaches and removes its pins. A restart after a crash
// replaces the stale pins (links die with the process; a legacy tc filter left by a crash is
// replaced too). Two agents cannot share a pin directory (it is locked). Run one agent per network
// namespace, each with its own --pin.
//
// Besides dataplane and dataplane/xsk, this command and toa/rs are the only places that load or read
// BPF objects; the program is C in bpf/rs.c, built with bpf2go (`go generate`), objects committed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/xdpvs/xdpvs/toa/rs"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "xdpvs-rs:", err)
		}
		os.Exit(2)
	}
}

// config is the agent's parsed command line.
type config struct {
	ifaces     []string
	vips       []netip.Addr
	directors  []netip.Prefix // the directors' tunnel sources; a host is a /32 or /128
	guePort    uint16         // UDP port of GUE tunnels; 0: IPIP and IPv6-in-IPv6 only
	toa        bool
	toaEntries int
	pin        string
	attach     string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

const usage = `usage:
  xdpvs-rs --iface IF [--iface IF2 ...] [--vip ADDR ... --director ADDR[/LEN] ... [--gue-port PORT]] [--toa] [--toa-entries N] [--pin DIR] [--attach auto|tcx|tc]
  xdpvs-rs toa list [--pin DIR]
  xdpvs-rs stats [--pin DIR]
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "toa":
			if len(args) < 2 || args[1] != "list" {
				fmt.Fprint(stderr, usage)
				return errors.New("toa: the subcommand is `toa list`")
			}
			dir, err := parsePin("xdpvs-rs toa list", args[2:], stderr)
			if err != nil {
				return err
			}
			return toaList(dir, stdout)
		case "stats":
			dir, err := parsePin("xdpvs-rs stats", args[1:], stderr)
			if err != nil {
				return err
			}
			return printStats(dir, stdout)
		case "help", "-h", "--help", "-help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	return serve(cfg, stdout, stderr)
}

func parsePin(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	pin := fs.String("pin", rs.DefaultPinDir, "directory (on bpffs) of the agent's pinned maps")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() != 0 {
		return "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return *pin, nil
}

func parse(args []string, stderr io.Writer) (config, error) {
	var (
		c         config
		ifaces    listFlag
		vips      listFlag
		directors listFlag
	)
	fs := flag.NewFlagSet("xdpvs-rs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.Var(&ifaces, "iface", "interface receiving the director's traffic (repeatable; at least one)")
	fs.Var(&vips, "vip", "virtual address whose IPIP / IPv6-in-IPv6 traffic is decapsulated (repeatable; needs --director)")
	fs.Var(&directors, "director", "tunnel source `ADDR[/LEN]` of a director: tunnels to a --vip from elsewhere are dropped (repeatable)")
	guePort := fs.Uint("gue-port", 0, "also decapsulate GUE tunnels (UDP to this `PORT`, as IPVS's --tun-type gue --tun-port); 0: none")
	fs.BoolVar(&c.toa, "toa", false, "record TOA client addresses (FULLNAT) for rs.ClientAddr and `toa list`")
	fs.IntVar(&c.toaEntries, "toa-entries", 65536, "size of the TOA map (LRU: the oldest entries make room)")
	fs.StringVar(&c.pin, "pin", rs.DefaultPinDir, "directory (on bpffs) where the maps are pinned")
	fs.StringVar(&c.attach, "attach", "auto", "tc attachment: tcx (kernel 6.6+), tc (clsact + filter), or auto")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(ifaces) == 0 {
		return c, errors.New("at least one --iface is required")
	}
	seen := map[string]bool{}
	for _, i := range ifaces {
		if seen[i] {
			return c, fmt.Errorf("--iface %s given twice", i)
		}
		seen[i] = true
	}
	c.ifaces = ifaces
	for _, v := range vips {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return c, fmt.Errorf("--vip %q: %v", v, err)
		}
		if a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
			return c, fmt.Errorf("--vip %s: not a unicast IPv4 or IPv6 address", v)
		}
		c.vips = append(c.vips, a)
	}
	if len(c.vips) == 0 && !c.toa {
		return c, errors.New("nothing to do: give --vip (TUN decapsulation) and/or --toa")
	}
	per := map[bool]int{}
	for _, d := range directors {
		p, err := parseDirector(d)
		if err != nil {
			return c, fmt.Errorf("--director %q: %v", d, err)
		}
		if per[p.Addr().Is4()]++; per[p.Addr().Is4()] > maxDirectors {
			return c, fmt.Errorf("--director: more than %d per family", maxDirectors)
		}
		c.directors = append(c.directors, p)
	}
	if len(c.vips) > 0 && len(c.directors) == 0 {
		return c, errors.New(noDirectorHint)
	}
	if len(c.directors) > 0 && len(c.vips) == 0 {
		return c, errors.New("--director without --vip: nothing is decapsulated")
	}
	if *guePort > 65535 {
		return c, fmt.Errorf("--gue-port %d: want 1..65535 (0: none)", *guePort)
	}
	if c.guePort = uint16(*guePort); c.guePort != 0 && len(c.vips) == 0 {
		return c, errors.New("--gue-port without --vip: nothing is decapsulated")
	}
	if c.toaEntries < 1 || c.toaEntries > 1<<24 {
		return c, fmt.Errorf("--toa-entries %d: want 1..%d", c.toaEntries, 1<<24)
	}
	switch c.attach {
	case "auto", "tcx", "tc":
	default:
		return c, fmt.Errorf("--attach %q: want auto, tcx or tc", c.attach)
	}
	if c.pin == "" {
		return c, errors.New("--pin must not be empty")
	}
	return c, nil
}

// maxDirectors is the size of each family's director trie (max_entries in bpf/rs.c).
const maxDirectors = 256

// noDirectorHint is the error of --vip without --director: decapsulating tunnels from anyone would
// let every host that reaches this one inject packets from any client address.
const noDirectorHint = "--vip needs --director: tunnels are decapsulated only from the directors " +
	"(from anyone else they could carry any client address); add --director ADDR for each director's " +
	"tunnel source (xdpvsd's address toward this host), or --director PREFIX for their subnet"

// parseDirector parses a director's tunnel source: an address (a host prefix) or a prefix without
// host bits. 0.0.0.0/0 and ::/0 accept every source of their family.
func parseDirector(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() {
			return p, errors.New("an IPv4-mapped prefix: write IPv4 prefixes as IPv4")
		}
		if m := p.Masked(); m != p {
			return p, fmt.Errorf("host bits set: the prefix is %s, the host %s", m, p.Addr())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
		return netip.Prefix{}, errors.New("not a unicast IPv4 or IPv6 address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
