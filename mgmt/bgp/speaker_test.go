package bgp

import (
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"go.uber.org/zap/zaptest"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

func TestParsePeer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Peer
		err  bool
	}{
		{in: "198.18.0.1,65001", want: Peer{Addr: netip.MustParseAddr("198.18.0.1"), AS: 65001}},
		{in: "2001:2::1,4200000000", want: Peer{Addr: netip.MustParseAddr("2001:2::1"), AS: 4200000000}},
		{in: "198.18.0.1", err: true},
		{in: "198.18.0.1,0", err: true},
		{in: "198.18.0.1,4294967295", err: true},
		{in: "host,65001", err: true},
	} {
		got, err := ParsePeer(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParsePeer(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	peer := []Peer{{Addr: netip.MustParseAddr("198.18.0.1"), AS: 65001}}
	rid := netip.MustParseAddr("198.18.0.2")
	for name, cfg := range map[string]Config{
		"no AS":          {RouterID: rid, Peers: peer},
		"no router ID":   {AS: 65002, Peers: peer},
		"no peer":        {AS: 65002, RouterID: rid},
		"short hold":     {AS: 65002, RouterID: rid, Peers: peer, Hold: time.Second},
		"fractional":     {AS: 65002, RouterID: rid, Peers: peer, Hold: 4500 * time.Millisecond},
		"next hop v6":    {AS: 65002, RouterID: rid, Peers: peer, NextHop4: netip.MustParseAddr("2001:2::1")},
		"duplicate peer": {AS: 65002, RouterID: rid, Peers: append(slices.Clone(peer), peer...)},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	s, err := New(Config{AS: 65002, RouterID: rid, Peers: peer})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]Route{{Prefix: netip.MustParsePrefix("198.18.0.0/24")}}); err == nil {
		t.Error("Set accepted a /24")
	}
	s.Close()
}

// inNamespace runs the test again inside a fresh network namespace (the whole process, so that
// GoBGP's goroutines dial from it) with lo up and the given addresses on it, and reports whether
// this is that run.
func inNamespace(t *testing.T, addrs ...string) bool {
	t.Helper()
	if os.Getenv("XDPVS_BGP_TEST_NS") == t.Name() {
		return true
	}
	testutil.RequireRoot(t)
	ns := testutil.NewNetNS(t, "bgp")
	for _, a := range addrs {
		ns.Run(t, "ip", "addr", "add", a, "dev", "lo")
	}
	cmd := exec.Command("ip", "netns", "exec", ns.Name, os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "XDPVS_BGP_TEST_NS="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in namespace %s:\n%s", ns.Name, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the run in the namespace failed: %v", err)
	}
	return false
}

// received lists what s holds in its global RIB from peers: prefix → communities.
func received(t *testing.T, s *Speaker) map[netip.Prefix][]uint32 {
	t.Helper()
	got := map[netip.Prefix][]uint32{}
	for _, fam := range []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		err := s.s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam}, func(n bgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				if p.Withdrawal || !p.PeerAddress.IsValid() {
					continue
				}
				pfx, err := netip.ParsePrefix(n.String())
				if err != nil {
					t.Errorf("NLRI %s: %v", n, err)
					continue
				}
				comms := []uint32{}
				for _, a := range p.Attrs {
					if c, ok := a.(*bgp.PathAttributeCommunities); ok {
						comms = append(comms, c.Value...)
					}
				}
				got[pfx] = comms
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// asPaths lists the AS paths of what s holds from peers.
func asPaths(t *testing.T, s *Speaker) map[netip.Prefix][]uint32 {
	t.Helper()
	got := map[netip.Prefix][]uint32{}
	for _, fam := range []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		err := s.s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam}, func(n bgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				if p.Withdrawal || !p.PeerAddress.IsValid() {
					continue
				}
				pfx, _ := netip.ParsePrefix(n.String())
				for _, a := range p.Attrs {
					if ap, ok := a.(*bgp.PathAttributeAsPath); ok {
						for _, seg := range ap.Value {
							got[pfx] = append(got[pfx], seg.GetAS()...)
						}
					}
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSpeakers: two embedded speakers peer over IPv4 and IPv6 on lo inside a namespace; what one
// Sets, the other receives (IPv4 on the IPv4 session, IPv6 on the IPv6 one), with the graceful
// shutdown community when asked, and withdrawn when dropped or when the speaker closes.
func TestSpeakers(t *testing.T) {
	const a4, b4, a6, b6 = "198.18.0.1", "198.18.0.2", "2001:2::1", "2001:2::2"
	if !inNamespace(t, a4+"/32", b4+"/32", a6+"/128", b6+"/128") {
		return
	}
	log := zaptest.NewLogger(t)
	addr := netip.MustParseAddr
	router, err := New(Config{AS: 65001, RouterID: addr(a4), ListenPort: 10179, PeerPort: 10180, Logger: log.Named("router"),
		Peers: []Peer{{Addr: addr(b4), AS: 65002, Local: addr(a4)}, {Addr: addr(b6), AS: 65002, Local: addr(a6)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close()
	dir, err := New(Config{AS: 65002, RouterID: addr(b4), PeerPort: 10179, Hold: 3 * time.Second, Logger: log.Named("director"),
		Peers: []Peer{{Addr: addr(a4), AS: 65001, Local: addr(b4)}, {Addr: addr(a6), AS: 65001, Local: addr(b6)}}})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			dir.Close()
		}
	}()
	waitFor(t, "both sessions established", func() bool {
		ps := dir.Peers()
		return len(ps) == 2 && ps[0].State == "established" && ps[1].State == "established" && !ps[0].Since.IsZero()
	})
	v4, v6 := netip.MustParsePrefix("198.18.0.100/32"), netip.MustParsePrefix("2001:2::100/128")
	if err := dir.Set([]Route{{Prefix: v4}, {Prefix: v6}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both prefixes at the router", func() bool {
		r := received(t, router)
		return len(r) == 2 && len(r[v4]) == 0 && len(r[v6]) == 0
	})
	waitFor(t, "one prefix advertised to each peer", func() bool {
		ps := dir.Peers()
		return ps[0].Advertised == 1 && ps[1].Advertised == 1
	})
	// Drain: the same prefixes with GRACEFUL_SHUTDOWN.
	if err := dir.Set([]Route{{Prefix: v4, GracefulShutdown: true}, {Prefix: v6, GracefulShutdown: true}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the graceful shutdown community", func() bool {
		r := received(t, router)
		return slices.Equal(r[v4], []uint32{GracefulShutdown}) && slices.Equal(r[v6], []uint32{GracefulShutdown})
	})
	// One withdrawn.
	if err := dir.Set([]Route{{Prefix: v6}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the IPv4 prefix withdrawn", func() bool {
		r := received(t, router)
		_, ok4 := r[v4]
		return !ok4 && len(r) == 1 && len(r[v6]) == 0
	})
	if got := dir.Routes(); len(got) != 1 || got[0].Prefix != v6 {
		t.Errorf("Routes() = %v, want only %v", got, v6)
	}
	// A standby route: the AS path longer by Prepend.
	if err := dir.Set([]Route{{Prefix: v6}, {Prefix: v4, Prepend: 3}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the prepended path", func() bool {
		p := asPaths(t, router)
		return slices.Equal(p[v4], []uint32{65002, 65002, 65002, 65002}) && slices.Equal(p[v6], []uint32{65002})
	})
	if err := dir.Set([]Route{{Prefix: v4, Prepend: MaxPrepend + 1}}); err == nil {
		t.Error("a prepend beyond MaxPrepend: no error")
	}
	if err := dir.Set([]Route{{Prefix: v6}}); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := dir.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "everything withdrawn and the sessions down", func() bool {
		ps := router.Peers()
		return len(received(t, router)) == 0 && ps[0].State != "established" && ps[1].State != "established"
	})
}
