package server

import (
	"math"
	"net/netip"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// EstimatorInterval is how often rates are sampled, as IPVS's estimator (2 s, EWMA weight 1/4).
const EstimatorInterval = 2 // seconds

type rsKey struct {
	svc  control.ServiceKey
	addr netip.Addr
	port uint16
}

// estimator is one IPVS rate estimator (ip_vs_est.c): every interval the counters' deltas per
// second are folded into the average with weight 1/4. As IPVS's, it starts with zero rates and
// the counters its service or real server had when it was created: zero, since the dataplane
// counts a service or real server from zero when it enters the configuration (and again when it
// comes back after leaving it, when its estimator is dropped too). So the traffic of a new
// entry's first interval is in its first sample, not lost to priming.
type estimator struct {
	last control.Counters
	rate [5]float64 // cps, inpps, outpps, inbps, outbps
	seen bool
}

func (e *estimator) sample(c control.Counters, interval float64) {
	e.seen = true
	cur := [5]uint64{c.Conns, c.InPkts, c.OutPkts, c.InBytes, c.OutBytes}
	last := [5]uint64{e.last.Conns, e.last.InPkts, e.last.OutPkts, e.last.InBytes, e.last.OutBytes}
	for i := range cur {
		var d float64
		if cur[i] >= last[i] { // a counter going back is a reset: no rate from it
			d = float64(cur[i]-last[i]) / interval
		}
		e.rate[i] += (d - e.rate[i]) / 4
	}
	e.last = c
}

func (e *estimator) rates() api.Rates {
	if e == nil {
		return api.Rates{}
	}
	r := func(v float64) uint64 { return uint64(math.Round(v)) }
	return api.Rates{CPS: r(e.rate[0]), InPPS: r(e.rate[1]), OutPPS: r(e.rate[2]), InBPS: r(e.rate[3]), OutBPS: r(e.rate[4])}
}

// statsKeeper holds the -Z baselines (the dataplane has no zero operation: counters shown are the
// dataplane's minus the baseline) and the rate estimators. It is guarded by the Server's mutex.
type statsKeeper struct {
	base   map[control.ServiceKey]control.Counters
	baseRS map[rsKey]control.Counters
	est    map[control.ServiceKey]*estimator
	estRS  map[rsKey]*estimator
}

func newStatsKeeper() *statsKeeper {
	return &statsKeeper{
		base:   map[control.ServiceKey]control.Counters{},
		baseRS: map[rsKey]control.Counters{},
		est:    map[control.ServiceKey]*estimator{},
		estRS:  map[rsKey]*estimator{},
	}
}

func minus(cur, base control.Counters) api.Counters {
	if cur.Conns < base.Conns || cur.InPkts < base.InPkts || cur.OutPkts < base.OutPkts ||
		cur.InBytes < base.InBytes || cur.OutBytes < base.OutBytes {
		base = control.Counters{} // the dataplane's counters were reset below the baseline
	}
	return api.Counters{Conns: cur.Conns - base.Conns, InPkts: cur.InPkts - base.InPkts, OutPkts: cur.OutPkts - base.OutPkts,
		InBytes: cur.InBytes - base.InBytes, OutBytes: cur.OutBytes - base.OutBytes}
}

// sample feeds the estimators one interval of counters and drops those of vanished entries.
func (k *statsKeeper) sample(ds *control.Stats, interval float64) {
	if ds == nil {
		return
	}
	for _, e := range k.est {
		e.seen = false
	}
	for _, e := range k.estRS {
		e.seen = false
	}
	for _, s := range ds.Services {
		e := k.est[s.Key]
		if e == nil {
			e = &estimator{}
			k.est[s.Key] = e
		}
		e.sample(s.Counters, interval)
		for _, r := range s.RealServers {
			key := rsKey{s.Key, r.Addr, r.Port}
			e := k.estRS[key]
			if e == nil {
				e = &estimator{}
				k.estRS[key] = e
			}
			e.sample(r.Counters, interval)
		}
	}
	for key, e := range k.est {
		if !e.seen {
			delete(k.est, key)
		}
	}
	for key, e := range k.estRS {
		if !e.seen {
			delete(k.estRS, key)
		}
	}
}

// zero records the current counters as the baseline of one service (key non-nil) or of all.
func (k *statsKeeper) zero(ds *control.Stats, key *control.ServiceKey) {
	if ds == nil {
		return
	}
	for _, s := range ds.Services {
		if key != nil && s.Key != *key {
			continue
		}
		k.base[s.Key] = s.Counters
		for _, r := range s.RealServers {
			k.baseRS[rsKey{s.Key, r.Addr, r.Port}] = r.Counters
		}
	}
}

// forget drops the baselines of services and real servers no longer configured.
func (k *statsKeeper) forget(m *model.Model) {
	live := map[control.ServiceKey]*model.Service{}
	for _, s := range m.Services() {
		live[s.DataplaneKey()] = s
	}
	for key := range k.base {
		if live[key] == nil {
			delete(k.base, key)
		}
	}
	for key := range k.baseRS {
		s := live[key.svc]
		if s == nil || s.FindDest(key.addr, key.port) < 0 {
			delete(k.baseRS, key)
		}
	}
}

// fill puts the live counters of ds into st.
func (k *statsKeeper) fill(st *api.State, ds *control.Stats) {
	byKey := map[control.ServiceKey]*control.ServiceStats{}
	if ds != nil {
		for i := range ds.Services {
			byKey[ds.Services[i].Key] = &ds.Services[i]
		}
	}
	for i := range st.Services {
		s := &st.Services[i]
		key := s.DataplaneKey()
		s.Rate = k.est[key].rates()
		dss := byKey[key]
		if dss == nil {
			continue
		}
		s.Stats = minus(dss.Counters, k.base[key])
		for j := range s.RealServers {
			d := &s.RealServers[j]
			rk := rsKey{key, d.Address, d.Port}
			d.Rate = k.estRS[rk].rates()
			for _, r := range dss.RealServers {
				if r.Addr == d.Address && r.Port == d.Port {
					d.Stats = minus(r.Counters, k.baseRS[rk])
					d.ActiveConns, d.InactiveConns, d.PersistentConns = r.ActiveConns, r.InactiveConns, r.PersistentConns
				}
			}
		}
	}
}
