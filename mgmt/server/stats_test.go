package server

import (
	"testing"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// ipvsEstimator is the kernel's estimator (net/netfilter/ipvs/ip_vs_est.c) in its fixed-point
// arithmetic: every 2 s, rate = delta << 9 (per second, scaled by 2^10), avg += (rate - avg) >> 2,
// shown as (avg + 0x1FF) >> 10. Bytes are scaled by 2^5 (delta << 4).
type ipvsEstimator struct {
	last              control.Counters
	cps, inpps, inbps int64
}

func (e *ipvsEstimator) sample(c control.Counters) {
	r := int64(c.Conns-e.last.Conns) << 9
	e.cps += (r - e.cps) >> 2
	r = int64(c.InPkts-e.last.InPkts) << 9
	e.inpps += (r - e.inpps) >> 2
	r = int64(c.InBytes-e.last.InBytes) << 4
	e.inbps += (r - e.inbps) >> 2
	e.last = c
}

func (e *ipvsEstimator) rates() (cps, inpps, inbps uint64) {
	return uint64((e.cps + 0x1FF) >> 10), uint64((e.inpps + 0x1FF) >> 10), uint64((e.inbps + 0xF) >> 5)
}

// TestEstimatorFollowsIPVS: over a load that rises, holds and stops, our estimator's rates stay
// within one unit (rounding) of IPVS's fixed-point ones at every 2 s sample, and a constant load
// converges as 1 - (3/4)^n.
func TestEstimatorFollowsIPVS(t *testing.T) {
	var ours estimator
	var ref ipvsEstimator
	var c control.Counters
	ours.sample(c, EstimatorInterval) // primes
	perSecond := []uint64{0, 10, 100, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 3, 0, 0, 0, 0, 0, 0, 0}
	for i, r := range perSecond {
		c.Conns += r * EstimatorInterval
		c.InPkts += 3 * r * EstimatorInterval
		c.InBytes += 1000 * r * EstimatorInterval
		ours.sample(c, EstimatorInterval)
		ref.sample(c)
		got := ours.rates()
		cps, inpps, inbps := ref.rates()
		near := func(a, b uint64) bool { return a+1 >= b && b+1 >= a }
		if !near(got.CPS, cps) || !near(got.InPPS, inpps) || max(got.InBPS, inbps)-min(got.InBPS, inbps) > inbps/1000+1 {
			t.Errorf("sample %d: ours cps %d inpps %d inbps %d, IPVS %d %d %d", i, got.CPS, got.InPPS, got.InBPS, cps, inpps, inbps)
		}
	}
	// Constant 1000/s from zero: after n samples, 1000 * (1 - (3/4)^n).
	var e estimator
	c = control.Counters{}
	e.sample(c, EstimatorInterval)
	want := []uint64{250, 438, 578, 684, 763, 822, 867, 900, 925, 944, 958, 968, 976}
	for n, w := range want {
		c.Conns += 1000 * EstimatorInterval
		e.sample(c, EstimatorInterval)
		if got := e.rates().CPS; got != w {
			t.Errorf("after %d samples: cps %d, want %d", n+1, got, w)
		}
	}
}
