package server

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// TestRateOfANewService: a burst in the first seconds of a service shows in its rates and decays
// as IPVS's estimator does (ip_vs_est.c: the estimator starts with zero rates and the counters of
// the new service, zero). The test is the clock: each sampleRates is one 2 s tick.
func TestRateOfANewService(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.sampleRates(EstimatorInterval) // a tick before the service exists
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m`)
	// 60 connections of 10 packets of 100 bytes in the service's first two seconds.
	burst := control.Counters{Conns: 60, InPkts: 600, OutPkts: 300, InBytes: 60000, OutBytes: 30000}
	ts.fake.setStats(&control.Stats{Services: []control.ServiceStats{{
		Key: control.ServiceKey{Proto: 6, Addr: netip.MustParseAddr("198.18.0.10"), Port: 80}, Counters: burst,
		RealServers: []control.RealServerStats{{Addr: netip.MustParseAddr("198.18.1.2"), Port: 8080, Counters: burst}},
	}}})
	var ref ipvsEstimator
	for tick := range 8 {
		ts.sampleRates(EstimatorInterval)
		ref.sample(burst)
		cps, inpps, _ := ref.rates()
		if tick == 0 && cps == 0 {
			t.Fatal("the reference shows no rate either")
		}
		out := ts.mustAdm(t, "-Ln", "--rate")
		svc, rs := rateLine(t, out, "TCP  198.18.0.10:80"), rateLine(t, out, "  -> 198.18.1.2:8080")
		for _, got := range [][2]uint64{svc, rs} {
			if got[0] == 0 && tick < 4 || max(got[0], cps)-min(got[0], cps) > 1 || max(got[1], inpps)-min(got[1], inpps) > 1 {
				t.Errorf("tick %d: cps %d inpps %d, IPVS %d %d\n%s", tick, got[0], got[1], cps, inpps, out)
			}
		}
	}
}

// rateLine returns the CPS and InPPS of the line of -Ln --rate that starts with prefix.
func rateLine(t *testing.T, out, prefix string) [2]uint64 {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			var cps, inpps uint64
			if _, err := fmt.Sscan(l[len(prefix):], &cps, &inpps); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			return [2]uint64{cps, inpps}
		}
	}
	t.Fatalf("no %q in\n%s", prefix, out)
	return [2]uint64{}
}
