package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

// The recipes operators already have, replayed (issue 13): the ipvsadm command sequences of DPVS's
// documented setups (doc/tutorial.md, scripts/setup.fnat.two-arm.sample.sh,
// test/release/v1.7.2/checklist_setup.sh of github.com/iqiyi/dpvs) and of ipvsadm(8)'s
// EXAMPLES, unchanged but for their addresses, remapped into 198.18.0.0/15 and 2001:2::/48, and
// their interface names, mapped to the layout's. Each ipvsadm line runs through xdpvsadm exactly
// as written, one process per line as a shell script would run it (./ipvsadm and ipvsadm alike;
// `echo "..." | ipvsadm -R` feeds -R). The lines that configure the director's kernel (dpip, ip)
// are checked against the layout instead of run: the address is on the interface, the network
// is routed through it; each recipe's comment says how its addresses and interfaces map. Real TCP
// and UDP traffic then goes through every service of the recipe and is checked at the real
// servers: who answered (rr splits exactly), whom they saw the connection come from (FULLNAT: a
// local address of the recipe), and a transfer each way with matching SHA-256.
//
// One daemon per layout (one worker: rr is exact), the recipes one after another with -C between;
// after -C no local address xdpvs put on an interface is left.

// recipe is one documented setup.
type recipe struct {
	name string
	// script is the recipe's command sequence.
	script string
	// errata are the lines meant where the recipe's own text is wrong (they fail on DPVS too),
	// replayed after it.
	errata string
	// want are the lines whose exit status and error output are not 0 and nothing (or only
	// warnings): the recipe's own errors, the warnings a line must give.
	want map[string]outcome
	// director and servers are commands run on the director and on every real server before the
	// script: what the recipe's text asks of them beyond the layout. Each is undone after ("add"
	// becomes "del").
	director, servers []string
	// before runs just before a line of the script.
	before map[string]func(l *lab)
	// check runs after the script, before the traffic.
	check func(l *lab)
	flows []flow
}

// outcome is what a line of a recipe gives.
type outcome struct {
	rc     int
	stderr string
}

// flow is traffic through one service of a recipe.
type flow struct {
	proto string // "tcp" or "udp"
	vip   string // VIP:PORT
	n     int    // connections or datagrams
	// split is the exact count each real server host answers; nil: each of hosts answers some.
	split map[string]int
	hosts []string
	// from are the addresses the real servers must see the connections come from (FULLNAT's
	// local addresses); nil: the client's.
	from []string
}

// lab is one layout with its daemon.
type lab struct {
	t        *testing.T
	e        *env
	director *netns.NS
	rs       []*netns.NS
	http     *http.Client
	// own are the addresses the layout has on the director's interfaces (never taken off).
	own map[string]bool
}

// TestRecipesFullNAT replays DPVS's FULLNAT (IPv4, IPv6, NAT64) and NAT setups and ipvsadm(8)'s
// examples on DPVS's two-arm layout (topo.LAN): the clients behind d0 (DPVS's dpdk1, WAN), the
// real servers on one segment behind d1 (dpdk0, LAN), with no route off it, so that FULLNAT works
// only once each local address is on d1 (-F), where they resolve it.
func TestRecipesFullNAT(t *testing.T) {
	testutil.RequireRoot(t)
	lan, err := topo.NewLAN(topo.Prefix("rcpf"), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, lan)
	conf := filepath.Join(t.TempDir(), "xdpvs.conf")
	l := newLab(t, lan.Client, lan.Director, lan.RS, []string{"d0", "d1"}, "--config", conf)
	// The recipes have up to five real servers on the LAN: rs0 holds the odd ones, rs1 the even.
	addrs := [][]string{
		{topo.LANRS4(0), "198.18.1.4", "198.18.1.6", topo.LANRS6(0), "2001:2:0:1::4"},
		{topo.LANRS4(1), "198.18.1.5", topo.LANRS6(1), "2001:2:0:1::5"},
	}
	for i, rs := range lan.RS {
		for _, a := range addrs[i][1:] {
			if a == topo.LANRS6(i) {
				continue
			}
			dev := []string{"ip", "addr", "add", a + "/24", "dev", "r0"}
			if netip.MustParseAddr(a).Is6() {
				dev = []string{"ip", "addr", "add", a + "/64", "dev", "r0", "nodad"}
			}
			if _, err := rs.Exec(dev...); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.serve(addrs, []uint16{80, 8080, 8081, 8082}, []uint16{53, 6000})
	l.replayAll(lanRecipes)
	t.Run("restart", func(t *testing.T) { l.restart(t, conf) })
}

// restart configures a FULLNAT service whose local address is given with -F and restarts the
// daemon from its configuration file: the daemon takes the address off d1 when it stops and puts
// it back when it starts (-S saved -F), and traffic goes through. (The local address is one no
// recipe used: the real servers still hold TIME_WAIT sockets of the recipes' local ports, which
// a new daemon hands out again from the first.)
func (l *lab) restart(t *testing.T, conf string) {
	ll := *l
	ll.t = t
	l = &ll
	r := &recipe{script: `
ipvsadm -A -t 198.18.0.10:80 -s rr
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -b
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3 -b
ipvsadm --add-laddr -z 198.18.1.250 -t 198.18.0.10:80 -F d1
`}
	const lip = "198.18.1.250"
	l.run(r, r.script)
	if s := l.adm1("-S"); !strings.Contains(s, "--add-laddr -z "+lip+" -t 198.18.0.10:80 -F d1\n") {
		t.Fatalf("-S without -F:\n%s", s)
	}
	if err := l.e.d.Stop(); err != nil {
		t.Fatalf("xdpvsd: %v\n%s", err, l.e.d.Log)
	}
	if l.hasAddr(lip) {
		t.Errorf("local address %s left on d1 by the stopped daemon", lip)
	}
	d, err := topo.StartDaemon(l.director, binaries(t).xdpvsd, t.TempDir(), []string{"d0", "d1"}, "--workers", "1", "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	l.e.d = d // stopped by runDaemon's cleanup
	if !l.hasAddr(lip) {
		t.Errorf("local address %s not put back on d1 by the restarted daemon", lip)
	}
	l.waitNeighbours()
	l.traffic(&flow{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}, from: []string{lip}})
	l.adm1("-C")
	if l.hasAddr(lip) {
		t.Errorf("local address %s left on d1 after -C", lip)
	}
}

// TestRecipesDR replays DPVS's DR setups on the one-arm layout (topo.DR): dpdk0 is d0.
func TestRecipesDR(t *testing.T) {
	testutil.RequireRoot(t)
	dr, err := topo.NewDR(topo.Prefix("rcpd"), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, dr)
	l := newLab(t, dr.Client, dr.Director, dr.RS, []string{"d0"})
	vips := []string{topo.VIP4, topo.VIP6}
	l.serve([][]string{vips, vips}, []uint16{80}, []uint16{6000})
	l.replayAll(drRecipes)
}

// TestRecipesTUN replays DPVS's tunnel setups on the routed layout (topo.TUN): dpdk0 is d0; the
// real servers decapsulate with xdpvs-rs (no ipip module here) instead of tunl0.
func TestRecipesTUN(t *testing.T) {
	testutil.RequireRoot(t)
	tun, err := topo.NewTUN(topo.Prefix("rcpt"), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, tun)
	for _, rs := range tun.RS {
		a, err := topo.StartAgent(rs, binaries(t).agent, "--iface", "r0", "--vip", topo.TUNVIP4, "--vip", topo.TUNVIP6)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := a.Stop(); err != nil {
				t.Errorf("xdpvs-rs: %v\n%s", err, a.Log)
			}
		})
	}
	l := newLab(t, tun.Client, tun.Director, tun.RS, []string{"d0"})
	vips := []string{topo.TUNVIP4, topo.TUNVIP6}
	l.serve([][]string{vips, vips}, []uint16{80}, []uint16{6000})
	l.replayAll(tunRecipes)
}

// newLab starts xdpvsd (one worker, extra flags) on the director's ifaces and makes the director know the
// client's MAC, so that no first packet waits for it.
func newLab(t *testing.T, client, director *netns.NS, rs []*netns.NS, ifaces []string, extra ...string) *lab {
	t.Helper()
	l := &lab{t: t, e: runDaemon(t, client, director, ifaces, 1, extra...), director: director, rs: rs, own: map[string]bool{}}
	l.http = topo.HTTPClient(client, false)
	l.http.Timeout = 10 * time.Second
	for _, c := range []string{topo.Client4, topo.Client6} {
		// A datagram from the director's kernel makes it resolve the client.
		err := director.Do(func() error {
			u, err := net.Dial("udp", netip.AddrPortFrom(netip.MustParseAddr(c), 9).String())
			if err == nil {
				_, err = u.Write([]byte("hello"))
				u.Close()
			}
			return err
		})
		if err != nil {
			t.Fatalf("the director does not reach the client %s: %v", c, err)
		}
	}
	for _, dev := range ifaces {
		for _, a := range l.addrsOn(dev) {
			l.own[netip.MustParsePrefix(a).Addr().String()] = true
		}
	}
	return l
}

// serve starts on real server i HTTP on each of tcp and UDP echo on each of udp, on every address
// of addrs[i], answering as "rs<i>".
func (l *lab) serve(addrs [][]string, tcp, udp []uint16) {
	for i, rs := range l.rs {
		name := fmt.Sprintf("rs%d", i)
		for _, a := range addrs[i] {
			for _, p := range tcp {
				s, err := topo.ServeHTTP(rs, netip.AddrPortFrom(netip.MustParseAddr(a), p), name)
				if err != nil {
					l.t.Fatal(err)
				}
				l.t.Cleanup(func() { s.Close() })
			}
			for _, p := range udp {
				u, err := topo.ServeUDPEcho(rs, netip.AddrPortFrom(netip.MustParseAddr(a), p), name)
				if err != nil {
					l.t.Fatal(err)
				}
				l.t.Cleanup(func() { u.Close() })
			}
		}
	}
}

// replayAll replays the recipes one after another.
func (l *lab) replayAll(rs []recipe) {
	for _, r := range rs {
		l.t.Run(r.name, func(t *testing.T) {
			ll := *l
			ll.t = t
			ll.replay(&r)
		})
	}
}

// replay runs one recipe: its preparation, script and errata, its checks and traffic, then -C
// and the undoing of its preparation.
func (l *lab) replay(r *recipe) {
	t := l.t
	prep := func(ns *netns.NS, cmds []string, undo bool) {
		for _, c := range cmds {
			f := strings.Fields(c)
			if undo {
				f[slices.Index(f, "add")] = "del"
				f = slices.DeleteFunc(f, func(s string) bool { return s == "nodad" })
			}
			if _, err := ns.Exec(f...); err != nil && !undo {
				t.Fatalf("%s: %v", c, err)
			}
		}
	}
	prep(l.director, r.director, false)
	for _, rs := range l.rs {
		prep(rs, r.servers, false)
	}
	defer func() {
		if rc, _, errs := l.adm("", "-C"); rc != 0 {
			t.Errorf("-C: rc %d: %s", rc, errs)
		}
		for _, a := range r.localAddrs() {
			if !l.own[a] && l.hasAddr(a) {
				t.Errorf("local address %s left on an interface after -C", a)
			}
		}
		prep(l.director, r.director, true)
		for _, rs := range l.rs {
			prep(rs, r.servers, true)
		}
	}()
	l.run(r, r.script)
	l.run(r, r.errata)
	for _, a := range r.localAddrs() {
		if !l.hasAddr(a) {
			t.Errorf("local address %s given with -F is on no interface of the director:\n%s", a, l.adm1("-S"))
		}
	}
	if t.Failed() {
		return
	}
	if r.check != nil {
		r.check(l)
	}
	l.waitNeighbours()
	for _, f := range r.flows {
		l.traffic(&f)
	}
	if t.Failed() {
		t.Logf("-Ln --stats:\n%s\nshow drops:\n%s", l.adm1("-Ln", "--stats"), l.adm1("show", "drops"))
	}
}

// run replays the lines of a script.
func (l *lab) run(r *recipe, script string) {
	t := l.t
	lines := strings.Split(script, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if hook := r.before[line]; hook != nil {
			hook(l)
		}
		f := strings.Fields(line)
		switch f[0] {
		case "echo": // echo "\n LINES \n" | ipvsadm -R
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), `" | ipvsadm -R`) {
				j++
			}
			if f[1] != `"` || j == len(lines) {
				t.Fatalf("%q: not an `echo \"...\" | ipvsadm -R'", line)
			}
			stdin := "\n" + strings.Join(lines[i+1:j], "\n") + "\n" // as echo prints it
			l.expect(r, line, stdin, "-R")
			i = j
		case "ipvsadm", "./ipvsadm":
			l.expect(r, line, "", f[1:]...)
		case "dpip", "./dpip", "ip":
			l.kernel(line, f[1:])
		default:
			t.Fatalf("%q: not a line of a recipe", line)
		}
	}
}

// expect runs one ipvsadm line through xdpvsadm and checks its outcome.
func (l *lab) expect(r *recipe, line, stdin string, args ...string) {
	l.t.Helper()
	rc, out, errs := l.adm(stdin, args...)
	w, special := r.want[line]
	switch {
	case special && (rc != w.rc || errs != w.stderr):
		l.t.Errorf("%s\n  rc %d, stderr %q\n  want rc %d, stderr %q", line, rc, errs, w.rc, w.stderr)
	case special:
	case rc != 0 || out != "":
		l.t.Errorf("%s\n  rc %d, stdout %q, stderr %q", line, rc, out, errs)
	default:
		for _, e := range strings.Split(strings.TrimSuffix(errs, "\n"), "\n") {
			if e != "" && !strings.HasPrefix(e, "warning: ") {
				l.t.Errorf("%s\n  stderr %q", line, errs)
			} else if e != "" {
				l.t.Logf("%s: %s", line, e)
			}
		}
	}
}

// adm runs xdpvsadm with args (its socket from XDPVS_SOCKET, as a script's environment would give
// it) and stdin, and returns its exit status and output.
func (l *lab) adm(stdin string, args ...string) (rc int, stdout, stderr string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.e.adm, args...)
	cmd.Env = append(os.Environ(), "XDPVS_SOCKET="+l.e.d.Socket)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if x, ok := err.(*exec.ExitError); ok {
		return x.ExitCode(), o.String(), e.String()
	}
	if err != nil {
		l.t.Fatalf("xdpvsadm %s: %v", strings.Join(args, " "), err)
	}
	return 0, o.String(), e.String()
}

// adm1 runs a listing that must succeed.
func (l *lab) adm1(args ...string) string {
	l.t.Helper()
	rc, out, errs := l.adm("", args...)
	if rc != 0 {
		l.t.Fatalf("xdpvsadm %s: rc %d: %s", strings.Join(args, " "), rc, errs)
	}
	return out
}

// kernel checks a line that configures the director's kernel against the layout: `dpip|ip addr
// add A/LEN dev IF` (the address is on IF), `dpip route [-6] add NET dev IF` (NET is reached
// through IF, directly), `dpip route add default via GW [src S] dev IF` (GW is reached through
// IF, from S), `ip link set IF up`.
func (l *lab) kernel(line string, f []string) {
	t := l.t
	arg := func(name string) string {
		if i := slices.Index(f, name); i >= 0 && i+1 < len(f) {
			return f[i+1]
		}
		return ""
	}
	f = slices.DeleteFunc(f, func(s string) bool { return s == "-6" })
	dev := arg("dev")
	switch {
	case len(f) >= 3 && f[0] == "addr" && f[1] == "add":
		if !slices.Contains(l.addrsOn(dev), f[2]) {
			t.Errorf("%s: the layout's %s has not %s: %v", line, dev, f[2], l.addrsOn(dev))
		}
	case len(f) >= 3 && f[0] == "route" && f[1] == "add":
		dst, direct := arg("via"), false
		if f[2] != "default" {
			dst, direct = lastHost(netip.MustParsePrefix(f[2])).String(), true
		}
		out, err := l.director.Exec("ip", "route", "get", dst)
		if err != nil || !strings.Contains(out, " dev "+dev+" ") || (direct && strings.Contains(out, " via ")) ||
			(arg("src") != "" && !strings.Contains(out, " src "+arg("src")+" ")) {
			t.Errorf("%s: the layout routes %s as %q (%v)", line, dst, out, err)
		}
	case len(f) == 4 && f[0] == "link" && f[1] == "set" && f[3] == "up":
		if out, err := l.director.Exec("ip", "-o", "link", "show", "dev", f[2]); err != nil || !strings.Contains(out, ",UP") {
			t.Errorf("%s: %q (%v)", line, out, err)
		}
	default:
		t.Fatalf("%q: no mapping for this line of the director's configuration", line)
	}
}

// lastHost is the last address of p but one: an address of the network that no host of the
// layouts has (the first ones are the director's and the servers').
func lastHost(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	b[len(b)-1] &^= 1
	a, _ := netip.AddrFromSlice(b)
	return a
}

// addrsOn lists the addresses (A/LEN) of the director's interface dev.
func (l *lab) addrsOn(dev string) []string {
	out, err := l.director.Exec("ip", "-o", "addr", "show", "dev", dev)
	if err != nil {
		l.t.Fatalf("ip addr show dev %s: %v", dev, err)
	}
	var as []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 3 && (f[2] == "inet" || f[2] == "inet6") {
			as = append(as, f[3])
		}
	}
	return as
}

// hasAddr reports whether the director has address a on some interface.
func (l *lab) hasAddr(a string) bool {
	out, err := l.director.Exec("ip", "-o", "addr", "show", "to", a)
	return err == nil && strings.TrimSpace(out) != ""
}

// localAddrs are the local addresses the recipe gives with -F.
func (r *recipe) localAddrs() []string {
	var as []string
	for _, line := range strings.Split(r.script+"\n"+r.errata, "\n") {
		f := strings.Fields(line)
		if i, j := slices.Index(f, "-z"), slices.Index(f, "-F"); i >= 0 && j >= 0 && i+1 < len(f) && !slices.Contains(as, f[i+1]) {
			as = append(as, f[i+1])
		}
	}
	return as
}

// waitNeighbours waits until the director knows the MAC of the next hop toward every real server
// of the configuration (xdpvsd asks for them when a real server is added): a connection scheduled
// to a server whose MAC is unknown is dropped, and its retry scheduled again, which would skew
// rr's exact splits.
func (l *lab) waitNeighbours() {
	t := l.t
	var hops []string
	for _, line := range strings.Split(l.adm1("-S"), "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, "-r")
		if i < 0 {
			continue
		}
		a, err := netip.ParseAddrPort(f[i+1])
		if err != nil {
			t.Fatalf("-S: %q: %v", line, err)
		}
		hop := a.Addr().String()
		if out, _ := l.director.Exec("ip", "route", "get", hop); strings.Contains(out, " via ") {
			g := strings.Fields(out[strings.Index(out, " via ")+5:])
			hop = g[0]
		}
		if !slices.Contains(hops, hop) {
			hops = append(hops, hop)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, h := range hops {
		for {
			out, _ := l.director.Exec("ip", "neigh", "show", h)
			if strings.Contains(out, "lladdr") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the director did not resolve %s: %q", h, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// traffic sends a flow and checks it at the real servers.
func (l *lab) traffic(f *flow) {
	t := l.t
	vip := netip.MustParseAddrPort(f.vip)
	got := map[string]int{}
	switch f.proto {
	case "tcp":
		url := "http://" + vip.String()
		for i := range f.n {
			body, server, err := topo.Get(l.http, url+"/")
			if err != nil || string(body) != server {
				t.Fatalf("%s: request %d: %q from %q: %v", f.vip, i, body, server, err)
			}
			got[server]++
		}
		body, _, err := topo.Get(l.http, url+"/whoami")
		peer, perr := netip.ParseAddrPort(string(body))
		from := f.from
		if from == nil {
			from = []string{topo.Client4}
			if vip.Addr().Is6() {
				from = []string{topo.Client6}
			}
		}
		if err != nil || perr != nil || !slices.Contains(from, peer.Addr().Unmap().String()) {
			t.Errorf("%s: the real server saw the connection from %q (%v), want one of %v", f.vip, body, err, from)
		}
		l.transfer(url)
	case "udp":
		for i := range f.n {
			got[l.datagram(vip, i)]++
		}
	}
	if f.split != nil && !maps.Equal(got, f.split) {
		t.Errorf("%s %s: split %v, want %v", f.proto, f.vip, got, f.split)
	}
	for _, h := range f.hosts {
		if got[h] == 0 {
			t.Errorf("%s %s: split %v: %s never answered", f.proto, f.vip, got, h)
		}
	}
	t.Logf("%s %s: %v", f.proto, f.vip, got)
}

// transfer downloads and uploads 1 MiB through url and checks the SHA-256 at both ends.
func (l *lab) transfer(url string) {
	t := l.t
	const size = 1 << 20
	resp, err := l.http.Get(fmt.Sprintf("%s/data?n=%d&seed=11", url, size))
	if err != nil {
		t.Fatalf("%s: download: %v", url, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != topo.DataSHA256(11, size) {
		t.Fatalf("%s: download of %d bytes (%v): digest differs", url, n, err)
	}
	resp, err = l.http.Post(url+"/sha256", "application/octet-stream", topo.Data(13, size))
	if err != nil {
		t.Fatalf("%s: upload: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != topo.DataSHA256(13, size) {
		t.Fatalf("%s: upload: the real server's digest %q differs", url, body)
	}
}

// datagram sends datagram i to vip from a port no earlier flow used and returns the real server
// that echoed it.
func (l *lab) datagram(vip netip.AddrPort, i int) string {
	t := l.t
	var c *net.UDPConn
	local := &net.UDPAddr{Port: int(udpPort.Add(1))}
	if err := l.e.clientNS.Do(func() (err error) { c, err = net.DialUDP("udp", local, net.UDPAddrFromAddrPort(vip)); return }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte(fmt.Sprintf("recipe datagram %d", i))
	buf := make([]byte, 1500)
	for try := 0; try < 5; try++ {
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(time.Second))
		if k, err := c.Read(buf); err == nil {
			name, payload, ok := bytes.Cut(buf[:k], []byte(":"))
			if !ok || !bytes.Equal(payload, msg) {
				t.Fatalf("%s: datagram %d: reply %q", vip, i, buf[:k])
			}
			return string(name)
		}
	}
	t.Fatalf("%s: datagram %d: no reply", vip, i)
	return ""
}

// drops is the sum over the workers of drop reason name.
func (l *lab) drops(name string) uint64 {
	var st struct{ Workers []api.WorkerStats }
	if err := json.Unmarshal([]byte(l.adm1("show", "drops", "-o", "json")), &st); err != nil {
		l.t.Fatal(err)
	}
	var n uint64
	for _, w := range st.Workers {
		for _, d := range w.Drops {
			if d.Name == name {
				n += d.Count
			}
		}
	}
	return n
}

// refusedConnection checks that a connection to vip does not open and that the workers count it
// as drop reason.
func (l *lab) refusedConnection(vip, reason string) {
	t := l.t
	before := l.drops(reason)
	var c net.Conn
	err := l.e.clientNS.Do(func() (err error) { c, err = net.DialTimeout("tcp", vip, 1500*time.Millisecond); return })
	if err == nil {
		c.Close()
		t.Fatalf("%s: a connection opened", vip)
	}
	if after := l.drops(reason); after == before {
		t.Errorf("%s: %v, and no %s drop counted:\n%s", vip, err, reason, l.adm1("show", "drops"))
	}
}

// The recipes of the two-arm layout. Addresses: DPVS's WAN (clients, VIPs) is 198.18.0.0/24 and
// 2001:2::/64 on d0, its LAN (real servers, local addresses) 198.18.1.0/24 and 2001:2:0:1::/64 on
// d1; the VIPs are 198.18.0.10 and 2001:2::10 (a second one 198.18.0.11 or 2001:2::11 where a
// recipe has two); real servers 198.18.1.2-6 and 2001:2:0:1::2-5 (rs0 the even, rs1 the odd
// ones); local addresses 198.18.1.200-243 and 2001:2:0:1::200-213. The layout's d1 answers ARP
// and ND only for its own addresses: a local address works once -F has put it there.
var lanRecipes = []recipe{
	{
		// doc/tutorial.md, "Simple Full-NAT (two-arm)". 10.0.0.100 is 198.18.0.10, 10.0.0.0/16
		// 198.18.0.0/24, 192.168.100.0/24 198.18.1.0/24 (.2 and .3 the real servers, .200 the
		// local address); dpdk1 is d0, dpdk0 d1. The real servers are added before the local
		// address: meanwhile the service says why it cannot forward (no real server, then no local
		// address), and counts what it drops (no_dest, then no_local_port).
		name: "dpvs/tutorial/fullnat-two-arm",
		script: `
./dpip addr add 198.18.0.10/32 dev d0
./dpip route add 198.18.0.0/24 dev d0
./dpip route add 198.18.1.0/24 dev d1
./ipvsadm -A -t 198.18.0.10:80 -s rr
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -b
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3 -b
./ipvsadm --add-laddr -z 198.18.1.200 -t 198.18.0.10:80 -F d1
`,
		want: map[string]outcome{
			"./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -b": {0, fullnatNoLIP},
			"./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3 -b": {0, fullnatNoLIP},
		},
		before: map[string]func(l *lab){
			"./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -b": func(l *lab) {
				if s := l.adm1("show", "services"); !strings.Contains(s, "  !! not forwarding: no real server (add one with -a)") {
					l.t.Errorf("show services without the reason:\n%s", s)
				}
				l.refusedConnection("198.18.0.10:80", "no_dest")
			},
			"./ipvsadm --add-laddr -z 198.18.1.200 -t 198.18.0.10:80 -F d1": func(l *lab) {
				if s := l.adm1("show", "services"); !strings.Contains(s, "  !! not forwarding: its FULLNAT real servers have no local address") {
					l.t.Errorf("show services without the reason:\n%s", s)
				}
				l.refusedConnection("198.18.0.10:80", "no_local_port")
			},
		},
		// The tutorial's `ipvsadm -ln` and `ipvsadm -G` after it.
		check: func(l *lab) {
			want := [][]string{{"TCP", "198.18.0.10:80", "rr"}, {"->", "198.18.1.2:80", "FullNat", "1", "0", "0"},
				{"->", "198.18.1.3:80", "FullNat", "1", "0", "0"}}
			if got := fieldLines(l.adm1("-ln")); len(got) < 3 || !slices.EqualFunc(got[3:], want, slices.Equal) {
				l.t.Errorf("-ln: %q, want %q", got, want)
			}
			want = [][]string{{"VIP:VPORT", "TOTAL", "SNAT_IP", "CONFLICTS", "CONNS"}, {"198.18.0.10:80", "1"},
				{"198.18.1.200", "0", "0"}}
			if got := fieldLines(l.adm1("-G")); !slices.EqualFunc(got, want, slices.Equal) {
				l.t.Errorf("-G: %q, want %q", got, want)
			}
		},
		flows: []flow{{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}, from: []string{"198.18.1.200"}}},
	},
	{
		// doc/tutorial.md, "Full-NAT with OSPF/ECMP (two-arm)", its DPVS part (ospfd's is not
		// replayed: no routing protocol here). 123.1.2.3 is 198.18.0.10, 172.10.0.2/30 the
		// director's WAN address 198.18.0.1/24, its gateway 172.10.0.1 the client 198.18.0.2 (the
		// WAN's only other host); the LAN as above, .200 and .201 the local addresses.
		name: "dpvs/tutorial/fullnat-ospf-two-arm",
		script: `
./dpip route add 198.18.1.0/24 dev d1
./ipvsadm -A -t 198.18.0.10:80 -s rr
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -b
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3 -b
./ipvsadm --add-laddr -z 198.18.1.200 -t 198.18.0.10:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.201 -t 198.18.0.10:80 -F d1
./dpip addr add 198.18.0.10/32 dev d0
./dpip addr add 198.18.0.1/24 dev d0
./dpip route add default via 198.18.0.2 dev d0
`,
		want: map[string]outcome{
			"./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -b": {0, fullnatNoLIP},
			"./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3 -b": {0, fullnatNoLIP},
		},
		flows: []flow{{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5},
			from: []string{"198.18.1.200", "198.18.1.201"}}},
	},
	{
		// scripts/setup.fnat.two-arm.sample.sh, `-s all` with its settings (SYN_PROXY=Disable,
		// no OSPF), its loops unrolled: add_addrs_to_dev, add_gw, config_dpvs_rules. WAN_IP_LIST
		// 192.168.10.4 and .5 are 198.18.0.10 and .11; LAN_NET 172.16.10.0/24 198.18.1.0/24,
		// LAN_IP_LIST 172.16.10.2 (the director's own LAN address) 198.18.1.1 and .10-.13
		// 198.18.1.210-213; the real servers 172.16.10.3 and .4 are 198.18.1.2 and .3; dpdk1
		// and dpdk1.kni are d0, dpdk0 and dpdk0.kni d1. The second VIP is the test's.
		name:     "dpvs/scripts/setup.fnat.two-arm.sample",
		director: []string{"ip addr add 198.18.0.11/32 dev d0"},
		script: `
ip link set d0 up
ip link set d1 up
ip addr add 198.18.0.10/32 dev d0
ip addr add 198.18.0.11/32 dev d0
./dpip route add 198.18.1.0/24 dev d1
./ipvsadm  -A -t 198.18.0.10:80 -s rr -j disable
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2:8080 -b
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2:8081 -b
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2:8082 -b
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3:8080 -b
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3:8081 -b
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3:8082 -b
./ipvsadm --add-laddr -z 198.18.1.1 -t 198.18.0.10:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.210 -t 198.18.0.10:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.211 -t 198.18.0.10:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.212 -t 198.18.0.10:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.213 -t 198.18.0.10:80 -F d1
./ipvsadm  -A -t 198.18.0.11:80 -s rr -j disable
./ipvsadm -a -t 198.18.0.11:80 -r 198.18.1.2:8080 -b
./ipvsadm -a -t 198.18.0.11:80 -r 198.18.1.2:8081 -b
./ipvsadm -a -t 198.18.0.11:80 -r 198.18.1.2:8082 -b
./ipvsadm -a -t 198.18.0.11:80 -r 198.18.1.3:8080 -b
./ipvsadm -a -t 198.18.0.11:80 -r 198.18.1.3:8081 -b
./ipvsadm -a -t 198.18.0.11:80 -r 198.18.1.3:8082 -b
./ipvsadm --add-laddr -z 198.18.1.1 -t 198.18.0.11:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.210 -t 198.18.0.11:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.211 -t 198.18.0.11:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.212 -t 198.18.0.11:80 -F d1
./ipvsadm --add-laddr -z 198.18.1.213 -t 198.18.0.11:80 -F d1
./ipvsadm  -A -u 198.18.0.10:53 -s rr
./ipvsadm -a -u 198.18.0.10:53 -r 198.18.1.2:53 -b
./ipvsadm -a -u 198.18.0.10:53 -r 198.18.1.3:53 -b
./ipvsadm --add-laddr -z 198.18.1.1 -u 198.18.0.10:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.210 -u 198.18.0.10:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.211 -u 198.18.0.10:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.212 -u 198.18.0.10:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.213 -u 198.18.0.10:53 -F d1
./ipvsadm  -A -u 198.18.0.11:53 -s rr
./ipvsadm -a -u 198.18.0.11:53 -r 198.18.1.2:53 -b
./ipvsadm -a -u 198.18.0.11:53 -r 198.18.1.3:53 -b
./ipvsadm --add-laddr -z 198.18.1.1 -u 198.18.0.11:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.210 -u 198.18.0.11:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.211 -u 198.18.0.11:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.212 -u 198.18.0.11:53 -F d1
./ipvsadm --add-laddr -z 198.18.1.213 -u 198.18.0.11:53 -F d1
`,
		flows: []flow{
			{proto: "tcp", vip: "198.18.0.10:80", n: 12, split: map[string]int{"rs0": 6, "rs1": 6}, from: fnatScriptLIPs},
			{proto: "tcp", vip: "198.18.0.11:80", n: 12, split: map[string]int{"rs0": 6, "rs1": 6}, from: fnatScriptLIPs},
			{proto: "udp", vip: "198.18.0.10:53", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}},
			{proto: "udp", vip: "198.18.0.11:53", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}},
		},
	},
	{
		// doc/tutorial.md, "IPv6 Support", IPv6-IPv6 FULLNAT. 2001::1 is 2001:2::10, 2001::/64
		// 2001:2::/64 (the WAN), the real servers 2001::3 and 2001::4 2001:2:0:1::2 and ::3 and
		// the local address 2001::2 2001:2:0:1::200 (the LAN); dpdk1 is d0, dpdk0 d1.
		name: "dpvs/tutorial/fullnat-ipv6",
		script: `
./dpip addr add 2001:2::10/128 dev d0
./dpip route -6 add 2001:2::/64 dev d0
./ipvsadm -A -t [2001:2::10]:80 -s rr
./ipvsadm -a -t [2001:2::10]:80 -r 2001:2:0:1::2 -b
./ipvsadm -a -t [2001:2::10]:80 -r 2001:2:0:1::3 -b
./ipvsadm --add-laddr -z 2001:2:0:1::200 -t [2001:2::10]:80 -F d1
`,
		flows: []flow{{proto: "tcp", vip: "[2001:2::10]:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}, from: []string{"2001:2:0:1::200"}}},
	},
	{
		// doc/tutorial.md, "IPv6 Support", IPv6-IPv4 FULLNAT (NAT64). 2001::1 is 2001:2::10,
		// 2001::/64 2001:2::/64, 10.0.0.0/8 198.18.1.0/24 (10.0.0.1 and .2 the real servers
		// 198.18.1.2 and .3, 10.0.0.3 the local address 198.18.1.200); dpdk1 is d0, dpdk0 d1.
		name: "dpvs/tutorial/nat64",
		script: `
./dpip addr add 2001:2::10/128 dev d0
./dpip route -6 add 2001:2::/64 dev d0
./dpip route add 198.18.1.0/24 dev d1
./ipvsadm -A -t [2001:2::10]:80 -s rr
./ipvsadm -a -t [2001:2::10]:80 -r 198.18.1.2 -b
./ipvsadm -a -t [2001:2::10]:80 -r 198.18.1.3 -b
./ipvsadm --add-laddr -z 198.18.1.200 -t [2001:2::10]:80 -F d1
`,
		want: map[string]outcome{
			"./ipvsadm -a -t [2001:2::10]:80 -r 198.18.1.2 -b": {0, nat64NoLIP},
			"./ipvsadm -a -t [2001:2::10]:80 -r 198.18.1.3 -b": {0, nat64NoLIP},
		},
		flows: []flow{{proto: "tcp", vip: "[2001:2::10]:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}, from: []string{"198.18.1.200"}}},
	},
	{
		// test/release/v1.7.2/checklist_setup.sh, its FullNAT and NAT64 sections and the
		// addresses they use, on one arm there (dpdk0): the VIPs go to d0, the rest to d1.
		// 2001::1 is 2001:2::10, 2001::4 (NAT64) 2001:2::11 (the test's), 192.168.88.1
		// 198.18.0.10; the host addresses 2001::12/64 and 192.168.88.12/24 2001:2:0:1::1/64 and
		// 198.18.1.1/24; the real servers 2001::51-54 2001:2:0:1::2-5, 192.168.88.151-154
		// 198.18.1.2-5; the local addresses 2001::1:11-13 2001:2:0:1::211-213, 192.168.88.241-243
		// 198.18.1.241-243. DPVS's -j enable on a UDP service is ignored, with a warning.
		name:     "dpvs/test/checklist_setup/fullnat+nat64",
		director: []string{"ip addr add 2001:2::11/128 dev d0 nodad"},
		script: `
dpip addr add 2001:2:0:1::1/64 dev d1
dpip addr add 2001:2::10/128 dev d0
dpip addr add 198.18.1.1/24 dev d1
dpip addr add 198.18.0.10/32 dev d0
dpip addr add 2001:2::11/128 dev d0

ipvsadm -A -t [2001:2::10]:8080 -j enable
ipvsadm -at [2001:2::10]:8080 -r [2001:2:0:1::2]:80 -b
ipvsadm -at [2001:2::10]:8080 -r [2001:2:0:1::3]:80 -b
ipvsadm -at [2001:2::10]:8080 -r [2001:2:0:1::4]:80 -b
ipvsadm -at [2001:2::10]:8080 -r [2001:2:0:1::5]:80 -b
ipvsadm -Pt [2001:2::10]:8080 -z 2001:2:0:1::211 -F d1
ipvsadm -Pt [2001:2::10]:8080 -z 2001:2:0:1::212 -F d1
ipvsadm -Pt [2001:2::10]:8080 -z 2001:2:0:1::213 -F d1

ipvsadm -A -u [2001:2::10]:80
ipvsadm -au [2001:2::10]:80 -r [2001:2:0:1::2]:6000 -b
ipvsadm -au [2001:2::10]:80 -r [2001:2:0:1::5]:6000 -b
ipvsadm -Pu [2001:2::10]:80 -z 2001:2:0:1::212 -F d1

ipvsadm -A -t 198.18.0.10:8080 -j enable
ipvsadm -at 198.18.0.10:8080 -r 198.18.1.2:80 -b
ipvsadm -at 198.18.0.10:8080 -r 198.18.1.3:80 -b
ipvsadm -at 198.18.0.10:8080 -r 198.18.1.4:80 -b
ipvsadm -at 198.18.0.10:8080 -r 198.18.1.5:80 -b
ipvsadm -Pt 198.18.0.10:8080 -z 198.18.1.241 -F d1
ipvsadm -Pt 198.18.0.10:8080 -z 198.18.1.242 -F d1
ipvsadm -Pt 198.18.0.10:8080 -z 198.18.1.243 -F d1

ipvsadm -A -u 198.18.0.10:80 -j enable
ipvsadm -au 198.18.0.10:80 -r 198.18.1.2:6000 -b
ipvsadm -au 198.18.0.10:80 -r 198.18.1.5:6000 -b
ipvsadm -Pu 198.18.0.10:80 -z 198.18.1.241 -F d1

ipvsadm -A -t [2001:2::11]:8080 -j enable
ipvsadm -at [2001:2::11]:8080 -r 198.18.1.2:80 -b
ipvsadm -at [2001:2::11]:8080 -r 198.18.1.3:80 -b
ipvsadm -at [2001:2::11]:8080 -r 198.18.1.4:80 -b
ipvsadm -at [2001:2::11]:8080 -r 198.18.1.5:80 -b
ipvsadm -Pt [2001:2::11]:8080 -z 198.18.1.241 -F d1
ipvsadm -Pt [2001:2::11]:8080 -z 198.18.1.242 -F d1
ipvsadm -Pt [2001:2::11]:8080 -z 198.18.1.243 -F d1

ipvsadm -A -u [2001:2::11]:80
ipvsadm -au [2001:2::11]:80 -r 198.18.1.2:6000 -b
ipvsadm -Pu [2001:2::11]:80 -z 198.18.1.241 -F d1
`,
		want: map[string]outcome{
			"ipvsadm -A -u 198.18.0.10:80 -j enable": {0, "warning: -j ignored: UDP 198.18.0.10:80: the SYN proxy is only for TCP virtual services\n"},
		},
		flows: []flow{
			{proto: "tcp", vip: "[2001:2::10]:8080", n: 12, hosts: []string{"rs0", "rs1"}, from: []string{"2001:2:0:1::211", "2001:2:0:1::212", "2001:2:0:1::213"}},
			{proto: "udp", vip: "[2001:2::10]:80", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "tcp", vip: "198.18.0.10:8080", n: 12, hosts: []string{"rs0", "rs1"}, from: []string{"198.18.1.241", "198.18.1.242", "198.18.1.243"}},
			{proto: "udp", vip: "198.18.0.10:80", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "tcp", vip: "[2001:2::11]:8080", n: 12, hosts: []string{"rs0", "rs1"}, from: []string{"198.18.1.241", "198.18.1.242", "198.18.1.243"}},
			{proto: "udp", vip: "[2001:2::11]:80", n: 5, split: map[string]int{"rs0": 5}},
		},
	},
	{
		// doc/tutorial.md, "NAT mode (one-arm)", on this two-arm layout (bond0's two subnets on
		// their own arms): 192.168.0.66/24 is the director's 198.18.0.1/24 on d0, 10.140.31.48/20
		// its 198.18.1.1/24 on d1, 192.168.0.89 the VIP 198.18.0.10, 10.140.18.33 and .34 the
		// real servers 198.18.1.2 and .3, whose "back route" 192.168.0.0/24 via 10.140.31.48 is
		// 198.18.0.0/24 via 198.18.1.1. Two of its lines are wrong (`-s -rr`, `-A` for `-a`): they
		// fail as on DPVS, with ipvsadm's messages, and the errata replays them as meant.
		name:    "dpvs/tutorial/nat-one-arm",
		servers: []string{"ip route add 198.18.0.0/24 via 198.18.1.1 dev r0"},
		script: `
./dpip addr add 198.18.0.1/24 dev d0
./dpip addr add 198.18.1.1/24 dev d1
./ipvsadm -A -t 198.18.0.10:80 -s -rr
./ipvsadm -A -t 198.18.0.10:80 -r 198.18.1.2 -m
./ipvsadm -A -t 198.18.0.10:80 -r 198.18.1.3 -m
./dpip addr add 198.18.0.10/32 dev d0
`,
		want: map[string]outcome{
			"./ipvsadm -A -t 198.18.0.10:80 -s -rr":           {1, "Scheduler not found\n"},
			"./ipvsadm -A -t 198.18.0.10:80 -r 198.18.1.2 -m": {2, "Illegal 'real-server' option with the 'add-service' command\n"},
			"./ipvsadm -A -t 198.18.0.10:80 -r 198.18.1.3 -m": {2, "Illegal 'real-server' option with the 'add-service' command\n"},
		},
		errata: `
./ipvsadm -A -t 198.18.0.10:80 -s rr
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -m
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3 -m
`,
		flows: []flow{{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}}},
	},
	{
		// test/release/v1.7.2/checklist_setup.sh, its NAT section and its NAT VIPs: 2002::1/64
		// is the VIP 2001:2::10/128, 172.27.88.1/24 198.18.0.10/32, both on d0; the real servers
		// as in its FullNAT section. The script does not say how the real servers route back:
		// through the director, as the tutorial's NAT recipe says.
		name:    "dpvs/test/checklist_setup/nat",
		servers: []string{"ip route add 198.18.0.0/24 via 198.18.1.1 dev r0", "ip -6 route add 2001:2::/64 via 2001:2:0:1::1 dev r0"},
		script: `
dpip addr add 2001:2::10/128 dev d0
dpip addr add 198.18.0.10/32 dev d0

ipvsadm -A -t [2001:2::10]:8080
ipvsadm -at [2001:2::10]:8080 -r [2001:2:0:1::2]:80 -m
ipvsadm -at [2001:2::10]:8080 -r [2001:2:0:1::3]:80 -m

ipvsadm -A -u [2001:2::10]:80
ipvsadm -au [2001:2::10]:80 -r [2001:2:0:1::2]:6000 -m
ipvsadm -au [2001:2::10]:80 -r [2001:2:0:1::3]:6000 -m

ipvsadm -A -t 198.18.0.10:8080
ipvsadm -at 198.18.0.10:8080 -r 198.18.1.2:80 -m
ipvsadm -at 198.18.0.10:8080 -r 198.18.1.3:80 -m

ipvsadm -A -u 198.18.0.10:80
ipvsadm -au 198.18.0.10:80 -r 198.18.1.2:6000 -m
ipvsadm -au 198.18.0.10:80 -r 198.18.1.3:6000 -m
`,
		flows: []flow{
			{proto: "tcp", vip: "[2001:2::10]:8080", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "udp", vip: "[2001:2::10]:80", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "tcp", vip: "198.18.0.10:8080", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "udp", vip: "198.18.0.10:80", n: 10, hosts: []string{"rs0", "rs1"}},
		},
	},
	{
		// ipvsadm(8), EXAMPLE 1 - Simple Virtual Service (NAT). 207.175.44.110 is 198.18.0.10,
		// the real servers 192.168.10.1-5 198.18.1.2-6, whose default route is the director
		// (198.18.1.1), as the example says. Its `echo "1" > /proc/sys/net/ipv4/ip_forward` is
		// not needed: xdpvs forwards, not the director's kernel.
		name:    "ipvsadm.8/example-1",
		servers: []string{"ip route add default via 198.18.1.1 dev r0"},
		script: `
ipvsadm -A -t 198.18.0.10:80 -s rr
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2:80 -m
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3:80 -m
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.4:80 -m
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.5:80 -m
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.6:80 -m
`,
		flows: []flow{{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 6, "rs1": 4}}},
	},
	{
		// ipvsadm(8), EXAMPLE 1 in a single ipvsadm command.
		name:    "ipvsadm.8/example-1-restore",
		servers: []string{"ip route add default via 198.18.1.1 dev r0"},
		script: `
echo "
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m
-a -t 198.18.0.10:80 -r 198.18.1.3:80 -m
-a -t 198.18.0.10:80 -r 198.18.1.4:80 -m
-a -t 198.18.0.10:80 -r 198.18.1.5:80 -m
-a -t 198.18.0.10:80 -r 198.18.1.6:80 -m
" | ipvsadm -R
`,
		flows: []flow{{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 6, "rs1": 4}}},
	},
	{
		// ipvsadm(8), EXAMPLE 2 - Firewall-Mark Virtual Service. Its iptables line (the mark of
		// 207.175.44.110/31, here 198.18.0.10/31) becomes xdpvs's mark rule: the director's
		// kernel never sees the packets, xdpvsadm --add-mark gives the mark. Its modprobe and
		// ip_forward lines are not needed. The real servers answer on the client's port (:0).
		// Also its IPv6 note: "fwmark IPv6 services require the -6 option".
		name:    "ipvsadm.8/example-2-fwmark",
		servers: []string{"ip route add default via 198.18.1.1 dev r0"},
		script: `
ipvsadm --add-mark -f 1 --dst 198.18.0.10/31
ipvsadm -A -f 1  -s rr
ipvsadm -a -f 1 -r 198.18.1.2:0 -m
ipvsadm -a -f 1 -r 198.18.1.3:0 -m
ipvsadm -a -f 1 -r 198.18.1.4:0 -m
ipvsadm -a -f 1 -r 198.18.1.5:0 -m
ipvsadm -a -f 1 -r 198.18.1.6:0 -m
ipvsadm -A -f 1 -6 -s rr
`,
		flows: []flow{{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 6, "rs1": 4}}},
	},
	{
		// ipvsadm(8), EXAMPLE 3 - Virtual Service with GUE Tunneling, and its single-command
		// form: xdpvsd sends no GUE; every --tun-type gue line is refused as a command-line error
		// (the -R form as a whole), and only the service of the first line is configured.
		name: "ipvsadm.8/example-3-gue",
		script: `
ipvsadm -A -t 198.18.0.10:80 -s rr
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.2:80 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.3:80 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.4:80 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.5:80 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.6:80 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -C
echo "
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:80 -i --tun-type gue --tun-port 6080 --tun-csum
-a -t 198.18.0.10:80 -r 198.18.1.3:80 -i --tun-type gue --tun-port 6080 --tun-csum
-a -t 198.18.0.10:80 -r 198.18.1.4:80 -i --tun-type gue --tun-port 6080 --tun-csum
-a -t 198.18.0.10:80 -r 198.18.1.5:80 -i --tun-type gue --tun-port 6080 --tun-csum
-a -t 198.18.0.10:80 -r 198.18.1.6:80 -i --tun-type gue --tun-port 6080 --tun-csum
" | ipvsadm -R
`,
		want: func() map[string]outcome {
			w := map[string]outcome{`echo "`: {2, "stdin:3: " + gueRefused}}
			for i := 2; i <= 6; i++ {
				w[fmt.Sprintf("ipvsadm -a -t 198.18.0.10:80 -r 198.18.1.%d:80 -i --tun-type gue --tun-port 6080 --tun-csum", i)] = outcome{2, gueRefused}
			}
			return w
		}(),
		check: func(l *lab) { l.nothingConfigured() },
	},
	{
		// ipvsadm(8), IPv6: 2001:db8::80 is 2001:2::10, 2001:db8::a0a0 2001:2:0:1::2 (routing
		// back through the director).
		name:    "ipvsadm.8/ipv6",
		servers: []string{"ip -6 route add 2001:2::/64 via 2001:2:0:1::1 dev r0"},
		script: `
ipvsadm -A -t [2001:2::10]:80 -s rr
ipvsadm -a -t [2001:2::10]:80 -r [2001:2:0:1::2]:80 -m
`,
		flows: []flow{{proto: "tcp", vip: "[2001:2::10]:80", n: 5, split: map[string]int{"rs0": 5}}},
	},
}

const (
	fullnatNoLIP = "warning: TCP 198.18.0.10:80 cannot forward yet: its FULLNAT real servers have no local address (add one with --add-laddr -z LIP)\n"
	nat64NoLIP   = "warning: TCP [2001:2::10]:80 cannot forward yet: its IPv4 real servers (NAT64) have no IPv4 local address (add one with --add-laddr -z LIP)\n"
	gueRefused   = "--tun-type gue: GUE tunnels are not supported by xdpvs: -i tunnels are IPIP (IPv6-in-IPv6)\n"
)

// fnatScriptLIPs are the local addresses of setup.fnat.two-arm.sample.sh.
var fnatScriptLIPs = []string{"198.18.1.1", "198.18.1.210", "198.18.1.211", "198.18.1.212", "198.18.1.213"}

// The recipes of the DR layout: client, director and real servers on one segment, 198.18.0.0/24
// and 2001:2::/64; the VIPs 198.18.0.10 and 2001:2::10 are on the director's d0 and on the real
// servers' lo (the layout prepares them as DPVS's recipes say: VIP on lo, arp_ignore).
var drRecipes = []recipe{
	{
		// doc/tutorial.md, "DR Mode (one-arm)": 192.168.100.1/24 is the director's
		// 198.18.0.1/24, 192.168.100.254 the VIP 198.18.0.10, the real servers 192.168.100.2 and
		// .3 198.18.0.20 and .21; dpdk0 is d0.
		name: "dpvs/tutorial/dr-one-arm",
		script: `
./dpip addr add 198.18.0.1/24 dev d0
./dpip addr add 198.18.0.10/32 dev d0
./ipvsadm -A -t 198.18.0.10:80 -s rr
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.0.20 -g
./ipvsadm -a -t 198.18.0.10:80 -r 198.18.0.21 -g
`,
		flows: []flow{{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}}},
	},
	{
		// test/release/v1.7.2/checklist_setup.sh, its DR section and the addresses it uses:
		// 2001::2 is 2001:2::10, 192.168.88.2 198.18.0.10, the host addresses 2001::12/64 and
		// 192.168.88.12/24 2001:2::1/64 and 198.18.0.1/24, the real servers 2001::51 and ::52
		// 2001:2::20 and ::21, 192.168.88.151 and .152 198.18.0.20 and .21; dpdk0 is d0.
		name: "dpvs/test/checklist_setup/dr",
		script: `
dpip addr add 2001:2::1/64 dev d0
dpip addr add 2001:2::10/128 dev d0
dpip addr add 198.18.0.1/24 dev d0
dpip addr add 198.18.0.10/32 dev d0

ipvsadm -A -t [2001:2::10]:80 -s wlc
ipvsadm -at [2001:2::10]:80 -r [2001:2::20]:80 -g -w 100
ipvsadm -at [2001:2::10]:80 -r [2001:2::21]:80 -g -w 200

ipvsadm -A -u [2001:2::10]:6000 -s wlc
ipvsadm -au [2001:2::10]:6000 -r [2001:2::20]:6000 -g -w 50
ipvsadm -au [2001:2::10]:6000 -r [2001:2::21]:6000 -g -w 50

ipvsadm -A -t 198.18.0.10:80 -s rr
ipvsadm -at 198.18.0.10:80 -r 198.18.0.20:80 -g -w 10
ipvsadm -at 198.18.0.10:80 -r 198.18.0.21:80 -g -w 10

ipvsadm -A -u 198.18.0.10:6000 -s wrr
ipvsadm -au 198.18.0.10:6000 -r 198.18.0.20:6000 -g -w 10
ipvsadm -au 198.18.0.10:6000 -r 198.18.0.21:6000 -g -w 20
`,
		flows: []flow{
			{proto: "tcp", vip: "[2001:2::10]:80", n: 12, hosts: []string{"rs0", "rs1"}},
			{proto: "udp", vip: "[2001:2::10]:6000", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "tcp", vip: "198.18.0.10:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}},
			{proto: "udp", vip: "198.18.0.10:6000", n: 9, split: map[string]int{"rs0": 3, "rs1": 6}},
		},
	},
}

// The recipes of the TUN layout: a router joins the client (198.18.0.0/24), the director
// (198.18.1.0/24, its d0 198.18.1.2) and the real servers (198.18.20.2, 198.18.21.2), IPv6 alike;
// the VIPs 198.18.10.10 and 2001:2:0:10::10 are routed to the director and held on the real
// servers' lo (DPVS's recipes put them on tunl0; here xdpvs-rs decapsulates).
var tunRecipes = []recipe{
	{
		// doc/tutorial.md, "Tunnel Mode (one-arm)": 10.140.16.48/20 is the director's
		// 198.18.1.2/24, its gateway 10.140.31.254 the router 198.18.1.1, the VIP 10.140.31.48
		// 198.18.10.10, the real servers 10.140.18.33 and 10.40.84.170 198.18.20.2 and
		// 198.18.21.2 (both routed here; the first shared the director's subnet); dpdk0 is d0.
		name: "dpvs/tutorial/tunnel-one-arm",
		script: `
./dpip addr add 198.18.1.2/24 dev d0
./dpip route add default via 198.18.1.1 src 198.18.1.2 dev d0
./ipvsadm -A -t 198.18.10.10:80 -s rr
./ipvsadm -a -t 198.18.10.10:80 -r 198.18.20.2 -i
./ipvsadm -a -t 198.18.10.10:80 -r 198.18.21.2 -i
./dpip addr add 198.18.10.10/32 dev d0
`,
		flows: []flow{{proto: "tcp", vip: "198.18.10.10:80", n: 10, split: map[string]int{"rs0": 5, "rs1": 5}}},
	},
	{
		// test/release/v1.7.2/checklist_setup.sh, its Tunnel section and the addresses it uses:
		// 2001::3 is 2001:2:0:10::10, 192.168.88.3 198.18.10.10, the host addresses 2001::12/64
		// and 192.168.88.12/24 2001:2:0:1::2/64 and 198.18.1.2/24, the real servers 2001::51 and
		// ::52 2001:2:0:20::2 and 2001:2:0:21::2, 192.168.88.151 and .152 198.18.20.2 and
		// 198.18.21.2; dpdk0 is d0.
		name: "dpvs/test/checklist_setup/tunnel",
		script: `
dpip addr add 2001:2:0:1::2/64 dev d0
dpip addr add 2001:2:0:10::10/128 dev d0
dpip addr add 198.18.1.2/24 dev d0
dpip addr add 198.18.10.10/32 dev d0

ipvsadm -A -t [2001:2:0:10::10]:80
ipvsadm -at [2001:2:0:10::10]:80 -r [2001:2:0:20::2]:80 -i
ipvsadm -at [2001:2:0:10::10]:80 -r [2001:2:0:21::2]:80 -i

ipvsadm -A -u [2001:2:0:10::10]:6000
ipvsadm -au [2001:2:0:10::10]:6000 -r [2001:2:0:20::2]:6000 -i
ipvsadm -au [2001:2:0:10::10]:6000 -r [2001:2:0:21::2]:6000 -i

ipvsadm -A -t 198.18.10.10:80
ipvsadm -at 198.18.10.10:80 -r 198.18.20.2:80 -i
ipvsadm -at 198.18.10.10:80 -r 198.18.21.2:80 -i

ipvsadm -A -u 198.18.10.10:6000
ipvsadm -au 198.18.10.10:6000 -r 198.18.20.2:6000 -i
ipvsadm -au 198.18.10.10:6000 -r 198.18.21.2:6000 -i
`,
		flows: []flow{
			{proto: "tcp", vip: "[2001:2:0:10::10]:80", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "udp", vip: "[2001:2:0:10::10]:6000", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "tcp", vip: "198.18.10.10:80", n: 10, hosts: []string{"rs0", "rs1"}},
			{proto: "udp", vip: "198.18.10.10:6000", n: 10, hosts: []string{"rs0", "rs1"}},
		},
	},
}

// nothingConfigured checks that the refused lines of a recipe left no service.
func (l *lab) nothingConfigured() {
	if s := l.adm1("-S"); s != "" {
		l.t.Errorf("refused lines configured:\n%s", s)
	}
}

// fieldLines splits a listing into the fields of each line.
func fieldLines(s string) [][]string {
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.Fields(line))
	}
	return out
}
