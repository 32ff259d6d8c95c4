package mgmt

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// ServerHealth is the health of one real server of a checked service, as listed (-o json,
// show health).
type ServerHealth struct {
	Up          bool      `json:"up"`
	Passive     bool      `json:"passive,omitempty"` // down because of SYN timeouts seen by the data path
	InService   bool      `json:"in_service"`        // in the dataplane's snapshot (false: removed)
	Weight      uint32    `json:"effective_weight"`
	Successes   int       `json:"successes"` // consecutive
	Failures    int       `json:"failures"`  // consecutive
	Checks      uint64    `json:"checks"`
	Failed      uint64    `json:"failed_checks"`
	Transitions uint64    `json:"transitions"`
	Since       time.Time `json:"since"` // of the current state
	LastCheck   time.Time `json:"last_check,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

type healthKey struct {
	svc  ServiceKey
	addr netip.Addr
	port uint16
}

func (k healthKey) target(h *HealthSpec) netip.AddrPort {
	if h.CheckPort != 0 {
		return netip.AddrPortFrom(k.addr, h.CheckPort)
	}
	return netip.AddrPortFrom(k.addr, k.port)
}

// rsHealth is the state of one checked real server and its prober. It is guarded by Server.mu.
type rsHealth struct {
	ServerHealth
	spec    HealthSpec
	gen     uint64 // of the prober whose results count
	cancel  context.CancelFunc
	syn     uint64 // last SynTimeouts seen
	synSeen bool
}

// healthState is the Server's health-check bookkeeping, guarded by Server.mu.
type healthState struct {
	rs    map[healthKey]*rsHealth
	sorry map[ServiceKey]bool // services whose sorry server is in use
	gen   uint64
	dirty bool // the dataplane refused the last health change: retry
}

func newHealthState() *healthState {
	return &healthState{rs: map[healthKey]*rsHealth{}, sorry: map[ServiceKey]bool{}}
}

// up tells whether a real server is up (unchecked ones are).
func (hs *healthState) up(k healthKey) bool {
	if hs == nil {
		return true
	}
	h := hs.rs[k]
	return h == nil || h.Up
}

// syncHealth starts, restarts and stops probers to follow the model. Called with s.mu held.
func (s *Server) syncHealth() {
	want := map[healthKey]*service{}
	for _, svc := range s.m.services {
		if !svc.health.Enabled() {
			continue
		}
		for _, d := range svc.dests {
			want[healthKey{svc.ServiceKey, d.Address, d.Port}] = svc
		}
	}
	for k, h := range s.hs.rs {
		if svc := want[k]; svc == nil || svc.health != h.spec {
			h.cancel()
			if svc == nil {
				delete(s.hs.rs, k)
			}
		}
	}
	for k, svc := range want {
		h := s.hs.rs[k]
		if h != nil && h.spec == svc.health {
			continue
		}
		if h == nil {
			// A new server starts up, as keepalived's do: a check must fail fall times first.
			h = &rsHealth{ServerHealth: ServerHealth{Up: true, Since: time.Now()}}
			s.hs.rs[k] = h
		}
		h.spec = svc.health
		h.Successes, h.Failures = 0, 0
		s.hs.gen++
		h.gen = s.hs.gen
		ctx, cancel := context.WithCancel(s.ctx)
		h.cancel = cancel
		chk := checkerFor(&h.spec, k.svc, s.dial)
		s.probers.Add(1)
		go s.probe(ctx, k, h.gen, h.spec, chk)
	}
	for k := range s.hs.sorry {
		if s.m.find(k) < 0 {
			delete(s.hs.sorry, k)
		}
	}
}

// probe runs the checks of one real server until ctx is done.
func (s *Server) probe(ctx context.Context, k healthKey, gen uint64, spec HealthSpec, chk Checker) {
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
		sk := ServiceKey{Protocol: Protocol(ss.Key.Proto), Address: ss.Key.Addr, Port: ss.Key.Port}
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
		zap.String("server", addrPort(k.addr, k.port)),
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
	sn := s.m.snapshot(s.hs)
	if err := s.cfg.Control.Apply(sn); err != nil {
		s.hs.dirty = true
		s.log.Error("dataplane refused a health change; will retry", zap.Error(err))
		return
	}
	s.hs.dirty = false
	s.logSorry()
}

// logSorry logs the sorry servers taking over or handing back. Called with s.mu held.
func (s *Server) logSorry() {
	for _, svc := range s.m.services {
		active := svc.sorryActive(s.hs)
		if active == s.hs.sorry[svc.ServiceKey] {
			continue
		}
		s.hs.sorry[svc.ServiceKey] = active
		sorry := svc.health.Sorry
		if active {
			s.log.Warn("sorry server in use: no real server is up", zap.String("service", svc.ServiceKey.String()),
				zap.String("sorry", addrPort(sorry.Addr(), sorry.Port())))
		} else {
			s.log.Info("sorry server released", zap.String("service", svc.ServiceKey.String()),
				zap.String("sorry", addrPort(sorry.Addr(), sorry.Port())))
		}
	}
}

// sorryActive tells whether the service's sorry server takes the traffic: it has one and no
// real server is up.
func (svc *service) sorryActive(hs *healthState) bool {
	if !svc.health.Enabled() || !svc.health.Sorry.IsValid() {
		return false
	}
	for _, d := range svc.dests {
		if hs.up(healthKey{svc.ServiceKey, d.Address, d.Port}) {
			return false
		}
	}
	return true
}

// effective is the weight the dataplane gets for a real server and whether it is in the snapshot.
func (svc *service) effective(hs *healthState, d *RealServerSpec) (weight uint32, in bool) {
	if hs.up(healthKey{svc.ServiceKey, d.Address, d.Port}) {
		return d.Weight, true
	}
	if svc.health.OnFail == OnFailRemove {
		return 0, false
	}
	return 0, true
}

// fillHealth adds the health of every checked real server, the effective weights and, while in
// use, the sorry servers to a listing. Called with s.mu held.
func (s *Server) fillHealth(st *State, sorryEntries bool) {
	for i := range st.Services {
		ss := &st.Services[i]
		j := s.m.find(ss.ServiceKey)
		if j < 0 {
			continue
		}
		svc := s.m.services[j]
		if !svc.health.Enabled() {
			continue
		}
		h := svc.health
		ss.Health = &h
		for k := range ss.RealServers {
			d := &ss.RealServers[k]
			key := healthKey{svc.ServiceKey, d.Address, d.Port}
			var sh ServerHealth
			if x := s.hs.rs[key]; x != nil {
				sh = x.ServerHealth
			} else {
				sh = ServerHealth{Up: true}
			}
			sh.Weight, sh.InService = svc.effective(s.hs, &d.RealServerSpec)
			d.Health = &sh
		}
		if svc.sorryActive(s.hs) {
			ss.SorryActive = true
			if sorryEntries {
				ss.RealServers = append(ss.RealServers, RealServerState{
					RealServerSpec: RealServerSpec{Address: h.Sorry.Addr(), Port: h.Sorry.Port(), Forward: h.SorryForward, Weight: 1},
					Sorry:          true,
				})
			}
		}
	}
}
