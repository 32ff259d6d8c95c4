package server

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/health"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

type healthKey struct {
	svc  model.ServiceKey
	addr netip.Addr
	port uint16
}

func (k healthKey) target(h *model.HealthSpec) netip.AddrPort {
	if h.CheckPort != 0 {
		return netip.AddrPortFrom(k.addr, h.CheckPort)
	}
	return netip.AddrPortFrom(k.addr, k.port)
}

// rsHealth is the state of one checked real server and its prober. It is guarded by Server.mu.
type rsHealth struct {
	api.ServerHealth
	spec    model.HealthSpec
	gen     uint64 // of the prober whose results count
	cancel  context.CancelFunc
	syn     uint64 // last SynTimeouts seen
	synSeen bool
}

// healthState is the Server's health-check bookkeeping, guarded by Server.mu.
type healthState struct {
	rs    map[healthKey]*rsHealth
	sorry map[model.ServiceKey]bool // services whose sorry server is in use
	gen   uint64
	dirty bool // the dataplane refused the last health change: retry
}

func newHealthState() *healthState {
	return &healthState{rs: map[healthKey]*rsHealth{}, sorry: map[model.ServiceKey]bool{}}
}

// up tells whether a real server is up (unchecked ones are): the model's UpFunc.
func (hs *healthState) up(svc model.ServiceKey, rs netip.AddrPort) bool {
	if hs == nil {
		return true
	}
	h := hs.rs[healthKey{svc, rs.Addr(), rs.Port()}]
	return h == nil || h.Up
}

// syncHealth starts, restarts and stops probers to follow the model. Called with s.mu held.
func (s *Server) syncHealth() {
	want := map[healthKey]*model.Service{}
	for _, svc := range s.m.Services() {
		if !svc.Health.Enabled() {
			continue
		}
		for _, d := range svc.Dests {
			want[healthKey{svc.ServiceKey, d.Address, d.Port}] = svc
		}
	}
	for k, h := range s.hs.rs {
		if svc := want[k]; svc == nil || svc.Health != h.spec {
			h.cancel()
			if svc == nil {
				delete(s.hs.rs, k)
			}
		}
	}
	for k, svc := range want {
		h := s.hs.rs[k]
		if h != nil && h.spec == svc.Health {
			continue
		}
		if h == nil {
			// A new server starts up, as keepalived's do: a check must fail fall times first.
			h = &rsHealth{ServerHealth: api.ServerHealth{Up: true, Since: time.Now()}}
			s.hs.rs[k] = h
		}
		h.spec = svc.Health
		h.Successes, h.Failures = 0, 0
		s.hs.gen++
		h.gen = s.hs.gen
		ctx, cancel := context.WithCancel(s.ctx)
		h.cancel = cancel
		chk := health.New(&h.spec, k.svc, s.dial, s.scripts)
		s.probers.Add(1)
		go s.probe(ctx, k, h.gen, h.spec, chk)
	}
	for k := range s.hs.sorry {
		if s.m.Find(k) == nil {
			delete(s.hs.sorry, k)
		}
	}
}

// probe runs the checks of one real server until ctx is done.
func (s *Server) probe(ctx context.Context, k healthKey, gen uint64, spec model.HealthSpec, chk health.Checker) {
	defer s.probers.Done()
	target := k.target(&spec)
	iv := time.Duration(spec.Interval)
	// The first check soon, spread over a tenth of the interval so that servers are not probed in
	// lockstep.
	t := time.NewTimer(rand.N(iv/10 + 1))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, time.Duration(spec.Timeout))
		err := chk.Check(cctx, target)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.healthResult(k, gen, err, start)
		t.Reset(max(iv-time.Since(start), iv/10))
	}
}

// healthResult records one check and applies a transition.
func (s *Server) healthResult(k healthKey, gen uint64, err error, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hs.rs[k]
	if h == nil || h.gen != gen {
		return // a stale prober
	}
	h.Checks++
	h.LastCheck = at
	if err == nil {
		h.Successes++
		h.Failures = 0
		h.LastError = ""
		if !h.Up && h.Successes >= h.spec.Rise {
			s.transition(k, h, true, "")
		}
	} else {
		h.Failed++
		h.Failures++
		h.Successes = 0
		h.LastError = err.Error()
		if h.Up && h.Failures >= h.spec.Fall {
			s.transition(k, h, false, h.LastError)
		}
	}
	if s.hs.dirty {
		s.applyHealth()
	}
}

// passiveCheck marks down the checked real servers whose SYN timeouts grew since the last look
// (DPVS's dest-check). Called with s.mu held.
func (s *Server) passiveCheck(ds *control.Stats) {
	if ds == nil || len(s.hs.rs) == 0 {
		return
	}
	for _, ss := range ds.Services {
		sk := model.ServiceKey{Protocol: model.Protocol(ss.Key.Proto), Address: ss.Key.Addr, Port: ss.Key.Port, FWMark: ss.Key.FWMark}
		for _, r := range ss.RealServers {
			h := s.hs.rs[healthKey{sk, r.Addr, r.Port}]
			if h == nil {
				continue
			}
			grew := h.synSeen && r.SynTimeouts > h.syn
			h.syn, h.synSeen = r.SynTimeouts, true
			if grew && h.Up {
				h.Successes = 0
				h.Passive = true
				s.transition(healthKey{sk, r.Addr, r.Port}, h, false, "connections timed out in SYN_SENT (passive check)")
			}
		}
	}
}

// transition changes a server's state, logs it and applies the new effective configuration.
func (s *Server) transition(k healthKey, h *rsHealth, up bool, reason string) {
	h.Up = up
	h.Since = time.Now()
	h.Transitions++
	if up {
		h.Passive = false
	}
	fields := []zap.Field{
		zap.String("service", k.svc.String()),
		zap.String("server", netip.AddrPortFrom(k.addr, k.port).String()),
		zap.String("check", h.spec.Check),
		zap.String("on_fail", h.spec.OnFail),
	}
	if up {
		s.log.Info("real server up", append(fields, zap.Int("successes", h.Successes))...)
	} else {
		s.log.Warn("real server down", append(fields, zap.Int("failures", h.Failures), zap.Bool("passive", h.Passive), zap.String("reason", reason))...)
	}
	s.applyHealth()
}

// applyHealth publishes the model with the current health. Called with s.mu held.
func (s *Server) applyHealth() {
	sn := s.snapshot(s.m)
	if err := s.cfg.Control.Apply(sn); err != nil {
		s.hs.dirty = true
		s.log.Error("dataplane refused a health change; will retry", zap.Error(err))
		return
	}
	s.hs.dirty = false
	s.tabs.applied(sn)
	s.logSorry()
}

// logSorry logs the sorry servers taking over or handing back. Called with s.mu held.
func (s *Server) logSorry() {
	for _, svc := range s.m.Services() {
		active := svc.SorryActive(s.hs.up)
		if active == s.hs.sorry[svc.ServiceKey] {
			continue
		}
		s.hs.sorry[svc.ServiceKey] = active
		sorry := svc.Health.Sorry
		if active {
			s.log.Warn("sorry server in use: no real server is up", zap.String("service", svc.ServiceKey.String()),
				zap.String("sorry", sorry.String()))
		} else {
			s.log.Info("sorry server released", zap.String("service", svc.ServiceKey.String()),
				zap.String("sorry", sorry.String()))
		}
	}
}

// fillHealth adds the health of every checked real server, the effective weights and, while in
// use, the sorry servers to a listing. Called with s.mu held.
func (s *Server) fillHealth(st *api.State, sorryEntries bool) {
	for i := range st.Services {
		ss := &st.Services[i]
		svc := s.m.Find(ss.ServiceKey)
		if svc == nil {
			continue
		}
		if !svc.Health.Enabled() {
			continue
		}
		h := svc.Health
		ss.Health = &h
		for k := range ss.RealServers {
			d := &ss.RealServers[k]
			key := healthKey{svc.ServiceKey, d.Address, d.Port}
			var sh api.ServerHealth
			if x := s.hs.rs[key]; x != nil {
				sh = x.ServerHealth
			} else {
				sh = api.ServerHealth{Up: true}
			}
			sh.Weight, sh.InService = svc.Effective(s.hs.up, &d.RealServerSpec)
			d.Health = &sh
		}
		if svc.SorryActive(s.hs.up) {
			ss.SorryActive = true
			if sorryEntries {
				ss.RealServers = append(ss.RealServers, api.RealServerState{
					RealServerSpec: model.RealServerSpec{Address: h.Sorry.Addr(), Port: h.Sorry.Port(), Forward: h.SorryForward, Weight: 1},
					Sorry:          true,
				})
			}
		}
	}
}
