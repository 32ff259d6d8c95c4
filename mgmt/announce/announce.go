package announce

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Defaults of Config.
const (
	DefaultStall    = time.Second
	DefaultInterval = 100 * time.Millisecond
	DefaultResync   = 5 * time.Second
)

// Route is one prefix to announce; GracefulShutdown during a drain. Standby marks a peer's
// FULLNAT local address held here for connection sync: announced with a longer path, so that it
// carries the replies only once the owner's route is gone.
type Route struct {
	Prefix           netip.Prefix
	GracefulShutdown bool
	Standby          bool
}

// Sink carries the decision out: Set makes its routes exactly routes.
type Sink interface {
	Set(routes []Route) error
}

// Guard is told every prefix of the configured services, announced or not (routed mode's
// blackholes, mgmt/kroute): Set makes its prefixes exactly prefixes.
type Guard interface {
	Set(prefixes []netip.Prefix) error
}

// Service is what the policy needs of one service.
type Service struct {
	Key        model.ServiceKey
	Available  int // real servers in the snapshot with a weight above 0
	MinServers int // 0: model.DefaultMinServers
	LocalAddrs []netip.Addr
}

// ServicesOf reads the policy's view of services from a listing with health (the server's).
func ServicesOf(st *api.State) []Service {
	out := make([]Service, 0, len(st.Services))
	for i := range st.Services {
		s := &st.Services[i]
		svc := Service{Key: s.ServiceKey, MinServers: s.MinServers, LocalAddrs: slices.Clone(s.LocalAddrs)}
		for j := range s.RealServers {
			rs := &s.RealServers[j]
			if rs.Sorry {
				continue // a sorry server is no real server: the VIP goes when the last one does
			}
			w := rs.Weight
			if h := rs.Health; h != nil {
				if !h.InService {
					continue
				}
				w = h.Weight
			}
			if w > 0 {
				svc.Available++
			}
		}
		out = append(out, svc)
	}
	return out
}

// Config is how an Announcer runs.
type Config struct {
	Liveness control.Liveness
	// Services lists the services; nil means not known yet (the daemon is starting): nothing is
	// announced and the guards are left as they are.
	Services func() []Service
	Sinks    []Sink
	Guards   []Guard
	// Standby, if set, lists the standby local addresses (peers' FULLNAT local addresses that
	// connection sync holds here): announced as Route.Standby while the dataplane may be.
	Standby func() []netip.Addr
	// Ready, if set, holds every announcement back while it is false: a joining director's
	// connection-sync bulk copy is not done (mgmt/connsync), and it must not take traffic with an
	// empty table while its peers hold the state.
	Ready func() bool
	// HA, if set, says why the director must not be announced by reason of its active/standby
	// role ("" when it may: server.Server.Standby): a backup withdraws everything.
	HA func() string
	// DrainTime is how long a drain announces with GRACEFUL_SHUTDOWN before it withdraws.
	DrainTime time.Duration
	Stall     time.Duration // 0: DefaultStall
	Interval  time.Duration // 0: DefaultInterval
	// Resync is how often the sinks are given the routes again though nothing changed (0:
	// DefaultResync), so that a route taken from under a sink comes back: an export table
	// flushed by a watchdog while the daemon was hung (SIGSTOP), or by hand. A sink's Set of what
	// it holds changes nothing (the speaker and the exporter compare).
	Resync time.Duration
	Now    func() time.Time
	Logger *zap.Logger
}

// prefix is the policy's record of one prefix.
type prefix struct {
	api.BGPPrefix
	seen bool // in the last evaluation
}

// Announcer runs the policy.
type Announcer struct {
	cfg  Config
	log  *zap.Logger
	poke chan struct{}

	mu         sync.Mutex
	draining   bool
	drainStart time.Time
	down       string // why nothing is announced ("" if the dataplane may be)
	prefixes   map[netip.Prefix]*prefix
	pushed     []Route   // what the sinks hold
	pushedAt   time.Time // when they were last given it
	dirty      bool      // a sink failed: push again
	guarded    []netip.Prefix
	guardDirty bool // a guard failed: tell them again
	ann, wdr   uint64
}

// New makes an announcer; Run runs it.
func New(cfg Config) *Announcer {
	if cfg.Stall == 0 {
		cfg.Stall = DefaultStall
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Resync == 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Announcer{cfg: cfg, log: cfg.Logger, poke: make(chan struct{}, 1), prefixes: map[netip.Prefix]*prefix{}, dirty: true, guardDirty: true}
}

// Run evaluates the policy every Interval and on Poke until stop is closed.
func (a *Announcer) Run(stop <-chan struct{}) {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		a.Step()
		select {
		case <-stop:
			return
		case <-t.C:
		case <-a.poke:
		}
	}
}

// Poke asks for an evaluation now (a configuration or health change).
func (a *Announcer) Poke() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// Drain starts (on) or ends (off) a drain.
func (a *Announcer) Drain(on bool) {
	a.mu.Lock()
	if on && !a.draining {
		a.draining, a.drainStart = true, a.cfg.Now()
		a.log.Warn("draining: every prefix is withdrawn", zap.Duration("graceful_shutdown_for", a.cfg.DrainTime))
	} else if !on && a.draining {
		a.draining = false
		a.log.Info("undrained: announcing again what the policy allows")
	}
	a.mu.Unlock()
	a.Step()
}

// Shutdown drains and waits until the drain time is over and the routes are withdrawn from the
// sinks (or until the wait is longer than the drain time and a second).
func (a *Announcer) Shutdown() {
	a.Drain(true)
	deadline := time.Now().Add(a.cfg.DrainTime + time.Second)
	for time.Now().Before(deadline) {
		a.Step()
		a.mu.Lock()
		done := len(a.pushed) == 0 && !a.dirty
		a.mu.Unlock()
		if done {
			return
		}
		time.Sleep(min(a.cfg.Interval, 50*time.Millisecond))
	}
}

// Step evaluates the policy once and pushes the routes to the sinks if they changed.
func (a *Announcer) Step() {
	var li control.LivenessInfo
	if a.cfg.Liveness != nil {
		li = a.cfg.Liveness.Liveness()
	}
	var svcs []Service
	if a.cfg.Services != nil {
		svcs = a.cfg.Services()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	down := cmp.Or(a.dataplaneDown(li), a.haDown())
	if down != a.down {
		if down != "" {
			a.log.Warn("withdrawing every prefix", zap.String("reason", down))
		} else if a.down != "" {
			a.log.Info("announcing again", zap.String("was", a.down))
		}
		a.down = down
	}
	gshut := false
	drainReason := ""
	if a.draining {
		if now.Sub(a.drainStart) < a.cfg.DrainTime {
			gshut = true
		} else {
			drainReason = "draining"
		}
	}
	want := decide(svcs)
	if a.cfg.Standby != nil {
		for _, l := range a.cfg.Standby() {
			if pfx := netip.PrefixFrom(l.Unmap(), l.Unmap().BitLen()); want[pfx] == nil {
				want[pfx] = &decision{kind: KindStandby}
			}
		}
	}
	for _, p := range a.prefixes {
		p.seen = false
	}
	var routes []Route
	for pfx, d := range want {
		p := a.prefixes[pfx]
		if p == nil {
			p = &prefix{BGPPrefix: api.BGPPrefix{Prefix: pfx, Since: now}}
			a.prefixes[pfx] = p
		}
		p.seen = true
		p.Kind, p.Services = d.kind, d.services
		reason := cmp.Or(down, drainReason, d.reason)
		a.transition(p, reason == "", now)
		p.Reason = reason
		p.GracefulShutdown = p.Announced && gshut
		if p.Announced {
			routes = append(routes, Route{Prefix: pfx, GracefulShutdown: p.GracefulShutdown, Standby: d.kind == KindStandby})
		}
	}
	for pfx, p := range a.prefixes {
		if !p.seen {
			a.transition(p, false, now)
			delete(a.prefixes, pfx)
		}
	}
	slices.SortFunc(routes, func(x, y Route) int { return x.Prefix.Addr().Compare(y.Prefix.Addr()) })
	if svcs != nil { // nil: the services are not known yet; the guards keep what they have
		a.guard(want)
	}
	if !a.dirty && slices.Equal(routes, a.pushed) && now.Sub(a.pushedAt) < a.cfg.Resync {
		return
	}
	a.dirty, a.pushedAt = false, now
	for _, s := range a.cfg.Sinks {
		if err := s.Set(routes); err != nil {
			a.dirty = true
			a.log.Warn("announcement not carried out; trying again", zap.Error(err))
		}
	}
	a.pushed = routes
}

// guard tells the guards the configured prefixes when they change (or a guard failed).
func (a *Announcer) guard(want map[netip.Prefix]*decision) {
	all := make([]netip.Prefix, 0, len(want))
	for p := range want {
		all = append(all, p)
	}
	slices.SortFunc(all, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	if !a.guardDirty && slices.Equal(all, a.guarded) {
		return
	}
	a.guardDirty = false
	for _, g := range a.cfg.Guards {
		if err := g.Set(all); err != nil {
			a.guardDirty = true
			a.log.Warn("guard routes not set; trying again", zap.Error(err))
		}
	}
	a.guarded = all
}

// transition records a prefix going to announced (on) or not.
func (a *Announcer) transition(p *prefix, on bool, now time.Time) {
	if p.Announced == on {
		return
	}
	p.Announced, p.Since = on, now
	if on {
		p.Announcements++
		a.ann++
		a.log.Info("announce", zap.Stringer("prefix", p.Prefix))
	} else {
		p.Withdrawals++
		a.wdr++
		a.log.Info("withdraw", zap.Stringer("prefix", p.Prefix), zap.String("reason", cmp.Or(p.Reason, "removed")))
	}
}

// haDown is why the director's active/standby role keeps it from being announced, or "".
func (a *Announcer) haDown() string {
	if a.cfg.HA == nil {
		return ""
	}
	return a.cfg.HA()
}

// dataplaneDown is why the dataplane may not be announced at all, or "".
func (a *Announcer) dataplaneDown(li control.LivenessInfo) string {
	if a.cfg.Ready != nil && !a.cfg.Ready() {
		return "connection sync: the bulk copy from the peers is not done"
	}
	if a.cfg.Liveness == nil {
		return ""
	}
	return DataplaneDown(li, a.cfg.Stall)
}

// DataplaneDown is why a dataplane of liveness li cannot serve, or "": a steering program
// detached, no worker, or a worker without a heartbeat for longer than stall. It is also the
// daemon's readiness (xdpvsadm ha ready).
func DataplaneDown(li control.LivenessInfo, stall time.Duration) string {
	if len(li.Detached) > 0 {
		return "steering program not attached to " + strings.Join(li.Detached, ", ")
	}
	if len(li.Workers) == 0 {
		return "no worker"
	}
	for _, w := range li.Workers {
		if w.Age > stall {
			return fmt.Sprintf("worker %d stalled (no heartbeat for %v)", w.ID, w.Age.Round(time.Millisecond))
		}
	}
	return ""
}

// KindStandby is the kind of a standby local address's prefix (api.BGPPrefix.Kind).
const KindStandby = "standby-laddr"

// decision is the policy's verdict on one prefix from the services alone.
type decision struct {
	kind     string
	reason   string // "" if some service may announce it
	services []string
}

// decide applies the per-service rule: a prefix may be announced while any of its services has
// its minimum of available real servers.
func decide(svcs []Service) map[netip.Prefix]*decision {
	out := map[netip.Prefix]*decision{}
	var reasons = map[netip.Prefix][]string{}
	add := func(a netip.Addr, kind string, s *Service, ok bool, why string) {
		pfx := netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		d := out[pfx]
		if d == nil {
			d = &decision{kind: kind, reason: "-"}
			out[pfx] = d
		}
		if kind == "vip" {
			d.kind = "vip" // an address that is both a VIP and a local address is a VIP
		}
		d.services = append(d.services, s.Key.String())
		if ok {
			d.reason = ""
		} else {
			reasons[pfx] = append(reasons[pfx], why)
		}
	}
	for i := range svcs {
		s := &svcs[i]
		need := cmp.Or(s.MinServers, model.DefaultMinServers)
		ok := s.Available >= need
		why := fmt.Sprintf("%s: %d of %d real servers available", s.Key, s.Available, need)
		add(s.Key.Address, "vip", s, ok, why)
		for _, l := range s.LocalAddrs {
			add(l, "laddr", s, ok, why)
		}
	}
	for pfx, d := range out {
		if d.reason != "" {
			d.reason = strings.Join(reasons[pfx], "; ")
		}
		slices.Sort(d.services)
		d.services = slices.Compact(d.services)
	}
	return out
}

// State is the policy's part of `show bgp`: the global state and the prefixes, sorted.
func (a *Announcer) State() *api.BGPState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &api.BGPState{Announcing: a.down == "" && !a.draining, Down: a.down, Draining: a.draining,
		Announcements: a.ann, Withdrawals: a.wdr, Prefixes: []api.BGPPrefix{}, Peers: []api.BGPPeer{}}
	if a.draining {
		st.DrainUntil = a.drainStart.Add(a.cfg.DrainTime)
		if st.Down == "" {
			st.Down = "draining"
		}
	}
	for _, p := range a.prefixes {
		bp := p.BGPPrefix
		bp.Services = slices.Clone(p.Services)
		st.Prefixes = append(st.Prefixes, bp)
	}
	slices.SortFunc(st.Prefixes, func(x, y api.BGPPrefix) int {
		if x.Prefix.Addr().Is4() != y.Prefix.Addr().Is4() {
			if x.Prefix.Addr().Is4() {
				return -1
			}
			return 1
		}
		return x.Prefix.Addr().Compare(y.Prefix.Addr())
	})
	return st
}
