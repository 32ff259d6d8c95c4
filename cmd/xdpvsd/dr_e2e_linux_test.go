package main

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// newDREnv runs xdpvsd one-armed on the DR layout: client, director and two real servers on one
// bridge, the servers serving HTTP on VIP:80 and UDP echo on VIP:53 (the VIPs on their lo).
func newDREnv(t *testing.T, name string, workers int) *env {
	t.Helper()
	testutil.RequireRoot(t)
	dr, err := topo.NewDR(topo.Prefix(name), 2, max(workers, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dr.Close(); err != nil {
			t.Error(err)
		}
	})
	e := runDaemon(t, dr.Client, dr.Director, []string{"d0"}, workers)
	for i, rs := range dr.RS {
		for _, vip := range []string{topo.VIP4, topo.VIP6} {
			a := netip.MustParseAddr(vip)
			s, err := topo.ServeHTTP(rs, netip.AddrPortFrom(a, 80), fmt.Sprintf("rs%d", i))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			u, err := topo.ServeUDPEcho(rs, netip.AddrPortFrom(a, 53), fmt.Sprintf("rs%d", i))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Close() })
		}
	}
	return e
}

// TestDR: direct routing for IPv4 and IPv6, one and two workers: 1,000 short connections split by
// rr, 50 MiB each way with matching SHA-256, UDP request/response; the real servers answer the
// client directly from the VIP.
func TestDR(t *testing.T) {
	for _, workers := range []int{1, 2} {
		for _, v6 := range []bool{false, true} {
			fam, rs0, rs1, vip := "v4", topo.DRRS4(0), topo.DRRS4(1), topo.VIP4
			if v6 {
				fam, rs0, rs1, vip = "v6", "["+topo.DRRS6(0)+"]", "["+topo.DRRS6(1)+"]", "["+topo.VIP6+"]"
			}
			t.Run(fmt.Sprintf("%s/workers=%d", fam, workers), func(t *testing.T) {
				e := newDREnv(t, fmt.Sprintf("dr%s%d", fam, workers), workers)
				for _, proto := range []string{"-t", "-u"} {
					port := map[string]string{"-t": ":80", "-u": ":53"}[proto]
					e.adm1("-A", proto, vip+port, "-s", "rr")
					for _, rs := range []string{rs0, rs1} {
						e.adm1("-a", proto, vip+port, "-r", rs+port, "-g")
					}
				}
				if got := e.shortConnections(1000, v6); got["rs0"] != 500 || got["rs1"] != 500 {
					t.Fatalf("rr split %v, want 500/500", got)
				}
				e.transfers(v6, 50<<20)
				if got := e.udp(v6, 100); got["rs0"] != 50 || got["rs1"] != 50 {
					t.Fatalf("udp rr split %v, want 50/50", got)
				}
				list := e.adm1("-Ln", "--stats")
				t.Logf("\n%s", list)
				e.checkWorkers(workers)
			})
		}
	}
}
