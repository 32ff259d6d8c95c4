package server

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/sched"
)

// digestOfService reads the table digest of the service at vip from -Ln -o json.
func digestOfService(t *testing.T, ts *testServer, vip string) string {
	t.Helper()
	var st struct {
		Services []struct {
			Address     netip.Addr
			Port        uint16
			TableDigest string `json:"table_digest"`
		}
	}
	if err := json.Unmarshal([]byte(ts.mustAdm(t, "-Ln", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Services {
		if netip.AddrPortFrom(s.Address, s.Port).String() == vip {
			return s.TableDigest
		}
	}
	t.Fatalf("no service %s", vip)
	return ""
}

// TestTableDigest: a consistent scheduler's service lists the digest of its table (-L -o json,
// show digest), the one sched computes from its real servers; a change elsewhere keeps it, a
// change of its real servers or of mh's size changes it; rr has none.
func TestTableDigest(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustAdm(t, "-A", "-t", "198.18.0.20:80", "-s", "mh")
	rss := []string{"198.18.1.3", "198.18.1.4", "198.18.1.5"}
	for _, rs := range rss {
		ts.mustAdm(t, "-a", "-t", "198.18.0.20:80", "-r", rs+":80", "-g")
	}
	ts.mustAdm(t, "-A", "-t", "198.18.0.21:80", "-s", "rr")
	cfg := sched.Config{}
	for _, rs := range rss {
		cfg.Dests = append(cfg.Dests, sched.Dest{Weight: 1, Addr: header.AddrFromNetip(netip.MustParseAddr(rs)), Port: 80})
	}
	f, _ := sched.Lookup("mh")
	want, _ := sched.DigestOf("mh", f(cfg), cfg)
	d := digestOfService(t, ts, "198.18.0.20:80")
	if d != want.String() || digestOfService(t, ts, "198.18.0.21:80") != "" {
		t.Fatalf("digest %q, want %v; rr: %q", d, want, digestOfService(t, ts, "198.18.0.21:80"))
	}
	out := ts.mustAdm(t, "show", "digest")
	if !strings.Contains(out, "198.18.0.20:80     mh         4093   "+d+"\n") || !strings.Contains(out, "198.18.0.21:80     rr         -      -\n") {
		t.Fatalf("show digest:\n%s", out)
	}
	ts.mustAdm(t, "-a", "-t", "198.18.0.21:80", "-r", "198.18.1.9:80", "-g")
	if got := digestOfService(t, ts, "198.18.0.20:80"); got != d {
		t.Fatalf("another service's change moved the digest: %s → %s", d, got)
	}
	seen := map[string]bool{d: true}
	for _, change := range [][]string{
		{"-e", "-t", "198.18.0.20:80", "-r", "198.18.1.4:80", "-g", "-w", "2"},
		{"-d", "-t", "198.18.0.20:80", "-r", "198.18.1.5:80"},
		{"-E", "-t", "198.18.0.20:80", "-s", "mh", "-b", "mh-size=8191"},
	} {
		ts.mustAdm(t, change...)
		got := digestOfService(t, ts, "198.18.0.20:80")
		if seen[got] {
			t.Fatalf("%v: digest %s, seen before", change, got)
		}
		seen[got] = true
	}
}

// TestShowPick: show pick answers, for each client, the real server the service's table picks,
// the one sched's scheduler built from the same real servers picks; with mh-port the port counts.
// A service without a consistent scheduler, an unknown one and a client of the other family are
// refused.
func TestShowPick(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustAdm(t, "-A", "-t", "198.18.0.20:80", "-s", "mh", "-b", "mh-port")
	var cfg sched.Config
	cfg.Flags = sched.FlagPort
	for i := range 5 {
		rs := fmt.Sprintf("198.18.1.%d", 10+i)
		ts.mustAdm(t, "-a", "-t", "198.18.0.20:80", "-r", rs+":80", "-g", "-w", fmt.Sprint(i+1))
		cfg.Dests = append(cfg.Dests, sched.Dest{Weight: int32(i + 1), Addr: header.AddrFromNetip(netip.MustParseAddr(rs)), Port: 80})
	}
	f, _ := sched.Lookup("mh")
	inst := f(cfg).Instance()
	args := []string{"show", "pick", "-t", "198.18.0.20:80"}
	var want strings.Builder
	for i := range 200 {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 5, byte(i % 7)}), uint16(30000+i))
		args = append(args, cl.String())
		tu := header.Tuple{SrcAddr: header.AddrFromNetip(cl.Addr()), DstAddr: header.AddrFromNetip(netip.MustParseAddr("198.18.0.20")),
			SrcPort: cl.Port(), DstPort: 80, Proto: 6}
		d := cfg.Dests[inst.Schedule(&tu, cfg.Dests)]
		fmt.Fprintf(&want, "%s -> %s:80\n", cl, d.Addr.Netip())
	}
	if got := ts.mustAdm(t, args...); got != want.String() {
		t.Fatalf("show pick:\n%s\nwant\n%s", got, want.String())
	}
	ts.mustAdm(t, "-A", "-t", "198.18.0.21:80", "-s", "wlc")
	for _, bad := range [][]string{
		{"-t", "198.18.0.21:80", "198.18.5.1"},
		{"-t", "198.18.0.22:80", "198.18.5.1"},
		{"-t", "198.18.0.20:80", "[2001:2::5]:80"},
	} {
		if _, errOut, rc := ts.adm(t, "", append([]string{"show", "pick"}, bad...)...); rc == 0 {
			t.Errorf("show pick %v answered: %s", bad, errOut)
		}
	}
}
