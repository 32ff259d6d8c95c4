// Command xdpvs-demo shows xdpvs at work on a topology it builds itself: a client and two real
// servers serving HTTP, in network namespaces around a director running xdpvsd. It configures a NAT
// service with xdpvsadm, sends requests through the VIP over IPv4 and IPv6, shows which real
// server answered and the director's statistics, and removes everything, also on Ctrl-C.
//
//	xdpvs-demo [--bin DIR] [--requests N]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/topo"
)

const prefix = "xvdemo"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xdpvs-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin", "directory holding xdpvsd and xdpvsadm")
	requests := flag.Int("requests", 20, "HTTP requests per address family")
	flag.Parse()
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, XDP): run it as root or with sudo")
	}
	xdpvsd, adm := filepath.Join(*bin, "xdpvsd"), filepath.Join(*bin, "xdpvsadm")
	for _, b := range []string{xdpvsd, adm} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s not built (make build): %w", b, err)
		}
	}
	removeStale()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	step("Building the topology: client ─ [director] ─ rs0, rs1 (network namespaces %s-*)", prefix)
	nat, err := topo.NewNAT(prefix, 2, 1)
	if err != nil {
		return err
	}
	defer func() {
		step("Removing the namespaces")
		if err := nat.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	fmt.Printf("  client  %s, %s\n  VIP     %s, %s (on the director's d0)\n", topo.Client4, topo.Client6, topo.VIP4, topo.VIP6)
	for i, rs := range nat.RS {
		name := fmt.Sprintf("rs%d", i)
		fmt.Printf("  %s     %s:8080, [%s]:8080 (HTTP)\n", name, topo.RS4(i), topo.RS6(i))
		for _, a := range []string{topo.RS4(i), topo.RS6(i)} {
			s, err := topo.ServeHTTP(rs, netip.AddrPortFrom(netip.MustParseAddr(a), 8080), name)
			if err != nil {
				return err
			}
			defer s.Close()
		}
	}

	dir, err := os.MkdirTemp("", "xdpvs-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step("Starting xdpvsd in the director namespace")
	fmt.Printf("  $ xdpvsd %s\n", strings.Join(append(ifaceArgs(nat.Ifaces()), "--socket", filepath.Join(dir, "xdpvs.sock")), " "))
	d, err := topo.StartDaemon(nat.Director, xdpvsd, dir, nat.Ifaces())
	if err != nil {
		return err
	}
	defer func() {
		step("Stopping xdpvsd (SIGTERM: the XDP programs and sockets go with it)")
		if err := d.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err, "\n", d.Log)
		}
	}()

	step("Configuring NAT services with xdpvsadm (ipvsadm's syntax)")
	cmds := [][]string{
		{"-A", "-t", topo.VIP4 + ":80", "-s", "rr"},
		{"-a", "-t", topo.VIP4 + ":80", "-r", topo.RS4(0) + ":8080", "-m"},
		{"-a", "-t", topo.VIP4 + ":80", "-r", topo.RS4(1) + ":8080", "-m"},
		{"-A", "-t", "[" + topo.VIP6 + "]:80", "-s", "wrr"},
		{"-a", "-t", "[" + topo.VIP6 + "]:80", "-r", "[" + topo.RS6(0) + "]:8080", "-m", "-w", "3"},
		{"-a", "-t", "[" + topo.VIP6 + "]:80", "-r", "[" + topo.RS6(1) + "]:8080", "-m", "-w", "1"},
	}
	for _, c := range cmds {
		fmt.Printf("  $ xdpvsadm %s\n", strings.Join(c, " "))
		if out, err := d.Adm(adm, c...); err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
	}
	show(d, adm, 0, "-Ln")

	client := topo.HTTPClient(nat.Client, false)
	requestsTo := func(vip string) error {
		url := topo.URL(vip, 80, "/")
		step("Sending %d HTTP requests from the client to %s, each on a new connection", *requests, url)
		count := map[string]int{}
		for i := 0; i < *requests && ctx.Err() == nil; i++ {
			_, server, err := topo.Get(client, url)
			if err != nil {
				return err
			}
			count[server]++
		}
		names := make([]string, 0, len(count))
		for n := range count {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("  %-4s answered %3d  %s\n", n, count[n], strings.Repeat("#", count[n]))
		}
		return ctx.Err()
	}
	for _, vip := range []string{topo.VIP4, topo.VIP6} {
		if err := requestsTo(vip); err != nil {
			return err
		}
	}
	show(d, adm, 0, "-Ln", "--stats")
	show(d, adm, 8, "-Lnc")

	step("The SYN proxy: the director answers SYNs with cookies and opens a connection to a real server only for clients that complete the handshake")
	c := []string{"-E", "-t", topo.VIP4 + ":80", "-s", "rr", "-j"}
	fmt.Printf("  $ xdpvsadm %s\n", strings.Join(c, " "))
	if out, err := d.Adm(adm, c...); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	if err := requestsTo(topo.VIP4); err != nil {
		return err
	}
	show(d, adm, 0, "show", "synproxy")
	return nil
}

func ifaceArgs(ifaces []string) []string {
	var out []string
	for _, i := range ifaces {
		out = append(out, "--iface", i)
	}
	return out
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

// show runs xdpvsadm and prints its output, the first lines lines of it if lines > 0.
func show(d *topo.Daemon, adm string, lines int, args ...string) {
	step("xdpvsadm %s", strings.Join(args, " "))
	out, err := d.Adm(adm, args...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if l := strings.SplitAfter(out, "\n"); lines > 0 && len(l) > lines+1 {
		out = strings.Join(l[:lines], "") + fmt.Sprintf("  ... %d more\n", len(l)-1-lines)
	}
	fmt.Print(out)
}

// removeStale deletes namespaces an interrupted earlier demo may have left.
func removeStale() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			(&netns.NS{Name: f[0]}).Delete()
		}
	}
}
