package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// haEnv is the layout of several directors with BIRD as the router and a daemon per director.
type haEnv struct {
	t    *testing.T
	ha   *topo.HA
	bird *topo.BIRD
	ds   []*topo.Daemon
	adm  string
	bin  string
	svc  []string // more -A options of every service (newHAEnvWith)
	// announce is director i's daemon flags for its announcements (nil: BGP to the router).
	announce func(i int) []string
	via6     []string // the directors' IPv6 next hops at the router (nil: their segment addresses)
}

// newHAEnv builds two directors announcing, over BGP in routed mode, a DR mh service on each VIP
// to three real servers, and waits until the router has both directors' routes.
func newHAEnv(t *testing.T, name string, extra ...string) *haEnv {
	t.Helper()
	return newHAEnvWith(t, name, nil, extra...)
}

// newHAEnvWith is newHAEnv with svc added to the -A of every service.
func newHAEnvWith(t *testing.T, name string, svc []string, extra ...string) *haEnv {
	t.Helper()
	testutil.RequireRoot(t)
	b := binaries(t)
	ha, err := topo.NewHA(topo.Prefix(name), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, ha)
	e := &haEnv{t: t, ha: ha, adm: b.adm, bin: b.xdpvsd, svc: svc}
	if e.bird, err = topo.StartBIRD(ha.Router, t.TempDir(), topo.HARouterBIRD(2, 240)); err != nil {
		t.Skip(err) // BIRD 2 is installed by make deps
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := e.bird.Ctl(ha.Router, "show protocols all")
			t.Logf("bird:\n%s\n%s", e.bird.Log(), out)
		}
		e.bird.Stop()
	})
	for i := range ha.RS {
		for _, a := range []string{topo.VIP4, topo.VIP6} {
			s, err := topo.ServeHTTP(ha.RS[i], netip.AddrPortFrom(netip.MustParseAddr(a), 80), fmt.Sprintf("rs%d", i))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
		}
	}
	for i := range ha.Dirs {
		e.ds = append(e.ds, e.start(i, extra...))
	}
	if !slices.Contains(extra, "--ha") { // with --ha, both start on standby and announce nothing
		e.waitRoutes(2, 2)
	}
	return e
}

// start runs director i's daemon and configures its services (the same on every director, in
// the same order, so that mh picks the same real server everywhere).
func (e *haEnv) start(i int, extra ...string) *topo.Daemon {
	e.t.Helper()
	ann := []string{"--bgp-as", fmt.Sprint(topo.HADirAS), "--bgp-router-id", topo.HADir4(i),
		"--bgp-peer", fmt.Sprintf("%s,%d", topo.HARouter4, topo.HARouterAS), "--bgp-peer", fmt.Sprintf("%s,%d", topo.HARouter6, topo.HARouterAS),
		"--bgp-hold", "3s"}
	if e.announce != nil {
		ann = e.announce(i)
	}
	args := append(append([]string{"--workers", "1", "--routed"}, ann...), extra...)
	d, err := topo.StartDaemon(e.ha.Dirs[i], e.bin, e.t.TempDir(), []string{"d0"}, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("director %d log:\n%s", i, d.Log)
		}
		_ = d.Stop()
	})
	for _, vip := range []string{topo.VIP4 + ":80", "[" + topo.VIP6 + "]:80"} {
		mustAdm(e.t, d, e.adm, append([]string{"-A", "-t", vip, "-s", "mh"}, e.svc...)...)
		for r := range e.ha.RS {
			rip := topo.DRRS4(r)
			if strings.HasPrefix(vip, "[") {
				rip = "[" + topo.DRRS6(r) + "]"
			}
			mustAdm(e.t, d, e.adm, "-a", "-t", vip, "-r", rip+":80", "-g")
		}
	}
	return d
}

func mustAdm(t *testing.T, d *topo.Daemon, adm string, args ...string) string {
	t.Helper()
	out, err := d.Adm(adm, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// nextHops are the router's next hops of the VIP of a family.
func (e *haEnv) nextHops(v6 bool) int {
	args := []string{"ip", "route", "show", topo.VIP4}
	if v6 {
		args = []string{"ip", "-6", "route", "show", topo.VIP6}
	}
	out, _ := e.ha.Router.Exec(args...)
	n := 0
	for i := range e.ha.Dirs {
		via := "via " + topo.HADir4(i) + " "
		switch {
		case v6 && e.via6 != nil:
			via = "via " + e.via6[i] + " "
		case v6:
			via = "via " + topo.HADir6(i) + " "
		}
		if strings.Contains(out+" ", via) {
			n++
		}
	}
	return n
}

// waitRoutes waits until the router's VIP routes have n4 and n6 next hops.
func (e *haEnv) waitRoutes(n4, n6 int) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.nextHops(false) != n4 || e.nextHops(true) != n6 {
		if time.Now().After(deadline) {
			r4, _ := e.ha.Router.Exec("ip", "route")
			r6, _ := e.ha.Router.Exec("ip", "-6", "route")
			e.t.Fatalf("router: want %d and %d next hops for the VIPs:\n%s%s", n4, n6, r4, r6)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// conns is the number of connections director d scheduled for the service on vip:80.
func (e *haEnv) conns(d *topo.Daemon, vip string) uint64 {
	e.t.Helper()
	var st struct {
		Services []struct {
			Address netip.Addr
			Stats   struct{ Conns uint64 }
		}
	}
	out := mustAdm(e.t, d, e.adm, "-L", "-n", "--stats", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("%v: %s", err, out)
	}
	for _, s := range st.Services {
		if s.Address == netip.MustParseAddr(vip) {
			return s.Stats.Conns
		}
	}
	return 0
}

// TestHAECMP: two directors announce both VIPs to BIRD, which installs both next hops (ECMP);
// 200 connections per family from one client are split between the directors within 50 % ± 10 %,
// and every one is answered (direct routing with mh: the same real server whichever director).
// show bgp lists the sessions established and the prefixes announced.
func TestHAECMP(t *testing.T) {
	e := newHAEnv(t, "haecmp")
	c := topo.HTTPClient(e.ha.Client, false)
	c.Timeout = 5 * time.Second
	for _, vip := range []string{topo.VIP4, topo.VIP6} {
		for i := range 200 {
			if _, _, err := topo.Get(c, topo.URL(vip, 80, "/")); err != nil {
				t.Fatalf("%s flow %d: %v", vip, i, err)
			}
		}
		a, b := e.conns(e.ds[0], vip), e.conns(e.ds[1], vip)
		t.Logf("%s: director 0 took %d connections, director 1 %d", vip, a, b)
		if a+b != 200 || a < 80 || a > 120 {
			t.Errorf("%s: split %d/%d, want 200 within 100 ± 20", vip, a, b)
		}
	}
	out := mustAdm(t, e.ds[0], e.adm, "show", "bgp")
	for _, want := range []string{"State: announcing", topo.HARouter4, topo.HARouter6, "established", topo.VIP4 + "/32", topo.VIP6 + "/128"} {
		if !strings.Contains(out, want) {
			t.Errorf("show bgp lacks %q:\n%s", want, out)
		}
	}
}

// TestHAWithdraw: a VIP whose last real server goes is withdrawn by both directors (the router
// loses the route), with the reason in show bgp; the first real server back announces it again;
// drain withdraws one director's routes, undrain brings them back.
func TestHAWithdraw(t *testing.T) {
	e := newHAEnv(t, "hawdr")
	for _, d := range e.ds {
		for r := range e.ha.RS {
			mustAdm(t, d, e.adm, "-d", "-t", topo.VIP4+":80", "-r", topo.DRRS4(r)+":80")
		}
	}
	e.waitRoutes(0, 2)
	if out := mustAdm(t, e.ds[0], e.adm, "show", "bgp"); !strings.Contains(out, "0 of 1 real servers available") {
		t.Errorf("show bgp:\n%s", out)
	}
	for _, d := range e.ds {
		mustAdm(t, d, e.adm, "-a", "-t", topo.VIP4+":80", "-r", topo.DRRS4(0)+":80", "-g")
	}
	e.waitRoutes(2, 2)
	mustAdm(t, e.ds[1], e.adm, "drain")
	e.waitRoutes(1, 1)
	mustAdm(t, e.ds[1], e.adm, "undrain")
	e.waitRoutes(2, 2)
}

// TestHANoResetWhileDown: in routed mode a director whose daemon is dead answers nothing for the
// VIP: its blackhole routes stay, so a client's SYN that still reaches it (here sent straight to
// its MAC by a static route at the router) gets no RST and is not forwarded back out, and the
// client's connect times out instead of being refused.
func TestHANoResetWhileDown(t *testing.T) {
	e := newHAEnv(t, "hanorst")
	d := e.ds[1]
	if err := syscall.Kill(d.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitRoutes(1, 1)
	if out, _ := e.ha.Dirs[1].Exec("ip", "route", "show", "proto", "250"); !strings.Contains(out, "blackhole "+topo.VIP4) {
		t.Fatalf("director 1's guard is gone after SIGKILL:\n%s", out)
	}
	// Send the VIP to the dead director, as a router would until its hold timer expires.
	for _, r := range [][]string{
		{"ip", "route", "replace", topo.VIP4 + "/32", "via", topo.HADir4(1), "table", "100"},
		{"ip", "-6", "route", "replace", topo.VIP6 + "/128", "via", topo.HADir6(1), "table", "100"},
		{"ip", "rule", "add", "from", topo.HAClient4, "lookup", "100", "pref", "100"},
		{"ip", "-6", "rule", "add", "from", topo.HAClient6, "lookup", "100", "pref", "100"},
	} {
		if _, err := e.ha.Router.Exec(r...); err != nil {
			t.Fatal(err)
		}
	}
	// Count, at the dead director, what the kernel would do with the VIP's packets: forward them
	// (back out), or answer them (RST, ICMP errors).
	for _, c := range [][]string{
		{"nft", "add", "table", "inet", "xg"},
		{"nft", "add", "chain", "inet", "xg", "xfwd", "{ type filter hook forward priority 0; }"},
		{"nft", "add", "rule", "inet", "xg", "xfwd", "ip", "daddr", topo.VIP4, "counter"},
		{"nft", "add", "rule", "inet", "xg", "xfwd", "ip6", "daddr", topo.VIP6, "counter"},
		{"nft", "add", "chain", "inet", "xg", "xout", "{ type filter hook output priority 0; }"},
		{"nft", "add", "rule", "inet", "xg", "xout", "meta", "l4proto", "tcp", "counter"},
		{"nft", "add", "rule", "inet", "xg", "xout", "meta", "l4proto", "icmp", "counter"},
		{"nft", "add", "rule", "inet", "xg", "xout", "icmpv6", "type", "{ destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-redirect }", "counter"},
	} {
		if out, err := e.ha.Dirs[1].Exec(c...); err != nil {
			t.Fatalf("nftables: %v: %s", err, out)
		}
	}
	counted := func(chain string) int {
		out, _ := e.ha.Dirs[1].Exec("nft", "list", "chain", "inet", "xg", chain)
		n := 0
		for _, f := range strings.Split(out, "packets ")[1:] {
			var k int
			fmt.Sscan(f, &k)
			n += k
		}
		return n
	}
	dial := topo.DialContext(e.ha.Client)
	attempt := func(vip string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond) // SYNs at 0, 1 and 3 s
		defer cancel()
		_, err := dial(ctx, "tcp", net.JoinHostPort(vip, "80"))
		return err
	}
	for _, vip := range []string{topo.VIP4, topo.VIP6} {
		err := attempt(vip)
		var ne net.Error
		if err == nil || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: connect to a dead director: %v, want a time-out (no RST)", vip, err)
		}
	}
	if f, o := counted("xfwd"), counted("xout"); f != 0 || o != 0 {
		t.Errorf("the dead director forwarded %d of the VIPs' packets and sent %d TCP or ICMP errors", f, o)
	}
	// The control: without its blackhole, the dead director forwards the SYNs back out (its
	// default route is the router): the guard is what keeps it quiet.
	if _, err := e.ha.Dirs[1].Exec("ip", "route", "del", "blackhole", topo.VIP4+"/32", "proto", "250"); err != nil {
		t.Fatal(err)
	}
	_ = attempt(topo.VIP4)
	if f := counted("xfwd"); f == 0 {
		t.Errorf("without the guard the dead director forwarded nothing: the test cannot tell")
	} else {
		t.Logf("control, without the guard: the dead director forwarded %d packets to the VIP", f)
	}
}
