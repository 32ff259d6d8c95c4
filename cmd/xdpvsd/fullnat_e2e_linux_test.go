package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// FULLNAT local addresses: on no interface; the real servers route them to the director.
const (
	lip4 = "198.18.9.1"
	lip6 = "2001:2:0:9::1"
)

// TestFullNAT: FULLNAT for IPv4 and IPv6, one and two workers: 1,000 short connections split by
// rr, 50 MiB each way with matching SHA-256, UDP request/response; the real servers see the
// connections come from the local address.
func TestFullNAT(t *testing.T) {
	for _, workers := range []int{1, 2} {
		for _, v6 := range []bool{false, true} {
			fam, lip := "v4", lip4
			if v6 {
				fam, lip = "v6", lip6
			}
			t.Run(fmt.Sprintf("%s/workers=%d", fam, workers), func(t *testing.T) {
				e := newEnv(t, fmt.Sprintf("fn%s%d", fam, workers), workers)
				for _, proto := range []string{"-t", "-u"} {
					svc := e.natService(proto, v6) // NAT first, then every real server switched to FULLNAT
					e.adm1("--add-laddr", "-z", lip, proto, svc)
					for i := range 2 {
						rs := topo.RS4(i)
						if v6 {
							rs = "[" + topo.RS6(i) + "]"
						}
						rport := map[string]string{"-t": ":8080", "-u": ":5353"}[proto]
						e.adm1("-e", proto, svc, "-r", rs+rport, "-b")
					}
				}
				if !strings.Contains(e.adm1("-Ln"), "FullNat") {
					t.Fatalf("listing lacks FullNat:\n%s", e.adm1("-Ln"))
				}
				if got := e.shortConnections(1000, v6); got["rs0"] != 500 || got["rs1"] != 500 {
					t.Fatalf("rr split %v, want 500/500", got)
				}
				e.transfers(v6, 50<<20)
				if got := e.udp(v6, 100); got["rs0"] != 50 || got["rs1"] != 50 {
					t.Fatalf("udp rr split %v, want 50/50", got)
				}
				body, _, err := topo.Get(e.client, topo.URL(vipAddr(v6), 80, "/whoami"))
				if err != nil {
					t.Fatal(err)
				}
				peer, err := netip.ParseAddrPort(string(body))
				if err != nil || peer.Addr() != netip.MustParseAddr(lip) {
					t.Fatalf("the real server saw the connection from %q, want %s", body, lip)
				}
				if workers > 1 && int(peer.Port())%workers >= workers {
					t.Fatalf("local port %d", peer.Port())
				}
				t.Logf("\n%s", e.adm1("-Ln", "--stats"))
				e.checkWorkers(workers)
			})
		}
	}
}

// TestNAT64: an IPv6 client reaches the IPv4 real servers through an IPv6 VIP (FULLNAT with an
// IPv4 local address), with one and two workers: 1,000 short connections, 50 MiB each way with
// matching SHA-256, UDP request/response.
func TestNAT64(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			e := newEnv(t, fmt.Sprintf("n64%d", workers), workers)
			vip := "[" + topo.VIP6 + "]"
			for _, proto := range []string{"-t", "-u"} {
				vport, rport := map[string]string{"-t": "80", "-u": "53"}[proto], map[string]string{"-t": "8080", "-u": "5353"}[proto]
				svc := vip + ":" + vport
				e.adm1("-A", proto, svc, "-s", "rr")
				e.adm1("--add-laddr", "-z", lip4, proto, svc)
				for i := range 2 {
					e.adm1("-a", proto, svc, "-r", topo.RS4(i)+":"+rport, "-b")
				}
			}
			if got := e.shortConnections(1000, true); got["rs0"] != 500 || got["rs1"] != 500 {
				t.Fatalf("rr split %v, want 500/500", got)
			}
			e.transfers(true, 50<<20)
			if got := e.udp(true, 100); got["rs0"] != 50 || got["rs1"] != 50 {
				t.Fatalf("udp rr split %v, want 50/50", got)
			}
			body, _, err := topo.Get(e.client, topo.URL(topo.VIP6, 80, "/whoami"))
			if err != nil {
				t.Fatal(err)
			}
			if peer, err := netip.ParseAddrPort(string(body)); err != nil || peer.Addr() != netip.MustParseAddr(lip4) {
				t.Fatalf("the IPv4 real server saw the connection from %q, want %s", body, lip4)
			}
			// ICMP across families: the IPv4 server's port unreachable reaches the IPv6 client as
			// ICMPv6 quoting its own flow, so its connected socket reports the refusal.
			e.adm1("-A", "-u", vip+":54", "-s", "rr")
			e.adm1("--add-laddr", "-z", lip4, "-u", vip+":54")
			e.adm1("-a", "-u", vip+":54", "-r", topo.RS4(0)+":5454", "-b")
			if err := e.refused(netip.MustParseAddrPort(vip+":54"), topo.RS4(0)+":5454"); err != nil {
				t.Fatal(err)
			}
			e.checkWorkers(workers)
		})
	}
}
