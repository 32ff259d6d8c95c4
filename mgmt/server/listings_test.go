package server

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
)

var (
	v4web = control.ServiceKey{Proto: 6, Addr: netip.MustParseAddr("198.18.0.10"), Port: 80}
	v4dns = control.ServiceKey{Proto: 17, Addr: netip.MustParseAddr("198.18.0.10"), Port: 53}
	v6tls = control.ServiceKey{Proto: 6, Addr: netip.MustParseAddr("2001:2::10"), Port: 443}
)

func rss(addr string, port uint16, c control.Counters, act, inact, pers uint64) control.RealServerStats {
	return control.RealServerStats{Addr: netip.MustParseAddr(addr), Port: port, Counters: c,
		ActiveConns: act, InactiveConns: inact, PersistentConns: pers}
}

// goldenStats returns counters scaled by k, with values big enough for the K/M/G abbreviations.
func goldenStats(k uint64) *control.Stats {
	return &control.Stats{Services: []control.ServiceStats{
		{Key: v4web, Counters: control.Counters{Conns: 30 * k, InPkts: 123456789 * k, OutPkts: 98765 * k, InBytes: 12345678901 * k, OutBytes: 123456789012345 * k},
			RealServers: []control.RealServerStats{
				rss("198.18.1.2", 80, control.Counters{Conns: 10 * k, InPkts: 23456789 * k, OutPkts: 8765 * k, InBytes: 2345678901 * k, OutBytes: 23456789012345 * k}, 4, 2, 0),
				rss("198.18.1.3", 8080, control.Counters{Conns: 20 * k, InPkts: 100000000 * k, OutPkts: 90000 * k, InBytes: 10000000000 * k, OutBytes: 100000000000000 * k}, 7, 1, 0),
			}},
		{Key: v4dns, Counters: control.Counters{Conns: 5 * k, InPkts: 5 * k, OutPkts: 5 * k, InBytes: 500 * k, OutBytes: 700 * k},
			RealServers: []control.RealServerStats{
				rss("198.18.1.4", 53, control.Counters{Conns: 5 * k, InPkts: 5 * k, OutPkts: 5 * k, InBytes: 500 * k, OutBytes: 700 * k}, 0, 3, 2),
			}},
		{Key: v6tls, Counters: control.Counters{Conns: 3 * k, InPkts: 40 * k, OutPkts: 50 * k, InBytes: 4000 * k, OutBytes: 90000 * k},
			RealServers: []control.RealServerStats{
				rss("2001:2::1:2", 8443, control.Counters{Conns: 2 * k, InPkts: 30 * k, OutPkts: 40 * k, InBytes: 3000 * k, OutBytes: 80000 * k}, 1, 0, 1),
				rss("198.18.1.5", 8443, control.Counters{Conns: 1 * k, InPkts: 10 * k, OutPkts: 10 * k, InBytes: 1000 * k, OutBytes: 10000 * k}, 1, 0, 0),
			}},
	}}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func newGoldenServer(t *testing.T) *testServer {
	t.Helper()
	ts := newTestServer(t, Config{})
	ts.mustLines(t, mgmttest.GoldenConfig)
	ts.fake.setStats(goldenStats(1))
	return ts
}

func TestGoldenListings(t *testing.T) {
	ts := newGoldenServer(t)
	// Rates: two samples 2 s apart: the counters reach stats(1) from zero (the services are new:
	// the first sample counts them, as IPVS's estimator does), then double.
	ts.sampleRates(2)
	ts.fake.setStats(goldenStats(2))
	ts.sampleRates(2)
	ts.fake.setStats(goldenStats(1))

	for _, tc := range []struct{ name, args string }{
		{"list_n", "-Ln"},
		{"list", "-L"},
		{"list_l", "-l"},
		{"list_service_v4", "-L -n -t 198.18.0.10:80"},
		{"list_service_v6", "-Ln -t [2001:2::10]:443"},
		{"list_stats", "-Ln --stats"},
		{"list_stats_exact", "-Ln --stats --exact"},
		{"list_rate", "-Ln --rate"},
		{"list_rate_exact", "-Ln --rate --exact"},
		{"list_thresholds", "-Ln --thresholds"},
		{"list_persistent_conn", "-Ln --persistent-conn"},
		{"list_timeout", "-L --timeout"},
		{"list_nosort", "-Ln --nosort"},
		{"save", "-S"},
		{"save_n", "-S -n"},
		{"get_laddr", "--get-laddr"},
		{"get_laddr_service", "--get-laddr -t [2001:2::10]:443"},
		{"list_json", "-Ln -o json"},
		{"save_json", "-S -o json"},
		{"timeout_json", "-L --timeout --output=json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mgmttest.Golden(t, tc.name, ts.mustAdm(t, strings.Fields(tc.args)...))
		})
	}
}

func TestGoldenConnections(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.fake.conns = []control.ConnInfo{
		{Proto: 6, Client: ap("198.18.3.1:40000"), Virtual: ap("198.18.0.10:80"), Dest: ap("198.18.1.2:80"), State: "ESTABLISHED", Expires: 899 * time.Second},
		{Proto: 17, Client: ap("198.18.3.2:5353"), Virtual: ap("198.18.0.10:53"), Dest: ap("198.18.1.4:53"), State: "UDP", Expires: 61500 * time.Millisecond},
	}
	mgmttest.Golden(t, "conns", ts.mustAdm(t, "-Lnc"))
	ts.fake.conns = append(ts.fake.conns, control.ConnInfo{Proto: 6, Client: ap("[2001:2::3:1]:40001"),
		Virtual: ap("[2001:2::10]:443"), Local: ap("198.18.2.1:1025"), Dest: ap("198.18.1.5:8443"), State: "SYN_RECV", Expires: 30 * time.Second})
	mgmttest.Golden(t, "conns_fullnat", ts.mustAdm(t, "-L", "-n", "-c"))
	mgmttest.Golden(t, "conns_json", ts.mustAdm(t, "-L", "-c", "-o", "json"))
	ts.fake.conns = nil
	mgmttest.Golden(t, "conns_empty", ts.mustAdm(t, "-lc"))
}

func TestZero(t *testing.T) {
	ts := newGoldenServer(t)
	ts.mustAdm(t, "-Z", "-t", "198.18.0.10:80")
	ts.fake.setStats(goldenStats(2))
	out := ts.mustAdm(t, "-Ln", "--stats", "--exact")
	// 198.18.0.10:80 counts from the baseline (stats(2) - stats(1) = stats(1)); the others do not.
	for _, want := range []string{
		fmt.Sprintf("%-33s%9d%10d%9d%12d%16d", "TCP  198.18.0.10:80", 30, 123456789, 98765, 12345678901, 123456789012345),
		fmt.Sprintf("%-33s%9d%9d%9d%9d%9d", "UDP  198.18.0.10:53", 10, 10, 10, 1000, 1400),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	ts.mustAdm(t, "-Z")
	out = ts.mustAdm(t, "-Ln", "--stats")
	for _, l := range strings.Split(out, "\n")[3:] {
		if l != "" && !strings.HasSuffix(l, "        0        0        0        0        0") {
			t.Errorf("not zeroed: %q", l)
		}
	}
	if _, errs, rc := ts.adm(t, "", "-Z", "-t", "198.18.0.99:80"); rc != 1 || errs != "No such service\n" {
		t.Errorf("-Z of a missing service: rc %d %q", rc, errs)
	}
	// A dataplane reset below the baseline shows the raw counters again rather than wrapping.
	ts.fake.setStats(goldenStats(1))
	if out := ts.mustAdm(t, "-Ln", "--stats", "--exact", "-t", "198.18.0.10:80"); !strings.Contains(out, "       30 123456789") {
		t.Errorf("after a reset:\n%s", out)
	}
}
