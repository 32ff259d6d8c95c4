package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

// newTUNEnv runs xdpvsd on the routed TUN layout; each real server runs xdpvs-rs to decapsulate
// (this kernel has no ipip module) and serves HTTP on VIP:80 and UDP echo on VIP:53.
func newTUNEnv(t *testing.T, name string, workers int) *env {
	t.Helper()
	testutil.RequireRoot(t)
	tun, err := topo.NewTUN(topo.Prefix(name), 2, max(workers, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tun.Close(); err != nil {
			t.Error(err)
		}
	})
	for i, rs := range tun.RS {
		a, err := topo.StartAgent(rs, binaries(t).agent, "--iface", "r0", "--vip", topo.TUNVIP4, "--vip", topo.TUNVIP6)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := a.Stop(); err != nil {
				t.Errorf("xdpvs-rs: %v\n%s", err, a.Log)
			}
		})
		for _, vip := range []string{topo.TUNVIP4, topo.TUNVIP6} {
			s, err := topo.ServeHTTP(rs, netip.AddrPortFrom(netip.MustParseAddr(vip), 80), fmt.Sprintf("rs%d", i))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			u, err := topo.ServeUDPEcho(rs, netip.AddrPortFrom(netip.MustParseAddr(vip), 53), fmt.Sprintf("rs%d", i))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { u.Close() })
		}
	}
	e := runDaemon(t, tun.Client, tun.Director, []string{"d0"}, workers)
	e.vips = [2]string{topo.TUNVIP4, topo.TUNVIP6}
	return e
}

// TestTUN: tunnelling for IPv4 (IPIP) and IPv6 (IPv6-in-IPv6), one and two workers: 1,000 short
// connections split by rr, 50 MiB each way with matching SHA-256, UDP request/response. Every
// link has an MTU of 1500, so the client's full-size segments do not fit the tunnel: the director
// answers them with fragmentation-needed / packet-too-big, and the transfers succeed after it.
func TestTUN(t *testing.T) {
	for _, workers := range []int{1, 2} {
		for _, v6 := range []bool{false, true} {
			fam, rs0, rs1, vip := "v4", topo.TUNRS4(0), topo.TUNRS4(1), topo.TUNVIP4
			if v6 {
				fam, rs0, rs1, vip = "v6", "["+topo.TUNRS6(0)+"]", "["+topo.TUNRS6(1)+"]", "["+topo.TUNVIP6+"]"
			}
			t.Run(fmt.Sprintf("%s/workers=%d", fam, workers), func(t *testing.T) {
				e := newTUNEnv(t, fmt.Sprintf("tu%s%d", fam, workers), workers)
				for _, proto := range []string{"-t", "-u"} {
					port := map[string]string{"-t": ":80", "-u": ":53"}[proto]
					e.adm1("-A", proto, vip+port, "-s", "rr")
					for _, rs := range []string{rs0, rs1} {
						e.adm1("-a", proto, vip+port, "-r", rs+port, "-i")
					}
				}
				if got := e.shortConnections(1000, v6); got["rs0"] != 500 || got["rs1"] != 500 {
					t.Fatalf("rr split %v, want 500/500", got)
				}
				e.transfers(v6, 50<<20)
				if got := e.udp(v6, 100); got["rs0"] != 50 || got["rs1"] != 50 {
					t.Fatalf("udp rr split %v, want 50/50", got)
				}
				var st struct{ Workers []api.WorkerStats }
				if err := json.Unmarshal([]byte(e.adm1("show", "workers", "-o", "json")), &st); err != nil {
					t.Fatal(err)
				}
				var icmp, tunnelled uint64
				for _, w := range st.Workers {
					for _, ev := range w.Events {
						switch ev.Name {
						case "icmp_sent":
							icmp += ev.Count
						case "tunnelled":
							tunnelled += ev.Count
						}
					}
				}
				t.Logf("tunnelled %d packets, sent %d ICMP errors for the MTU", tunnelled, icmp)
				if icmp == 0 || tunnelled == 0 {
					t.Fatalf("tunnelled %d, ICMP errors sent %d: the MTU case was not exercised", tunnelled, icmp)
				}
				e.checkWorkers(workers)
			})
		}
	}
}
