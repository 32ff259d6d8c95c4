package announce

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// fakeDP is the dataplane's liveness as the test sets it.
type fakeDP struct{ li control.LivenessInfo }

func (f *fakeDP) Liveness() control.LivenessInfo { return f.li }

// sink records what it was given; fail makes the next Set fail.
type sink struct {
	routes []Route
	sets   int
	fail   bool
}

func (s *sink) Set(r []Route) error {
	s.sets++
	if s.fail {
		s.fail = false
		return errors.New("sink down")
	}
	s.routes = slices.Clone(r)
	return nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

var (
	vip4  = netip.MustParseAddr("198.18.0.10")
	vip6  = netip.MustParseAddr("2001:2::10")
	lip   = netip.MustParseAddr("198.18.5.1")
	web4  = model.ServiceKey{Protocol: model.TCP, Address: vip4, Port: 80}
	dns4  = model.ServiceKey{Protocol: model.UDP, Address: vip4, Port: 53}
	web6  = model.ServiceKey{Protocol: model.TCP, Address: vip6, Port: 80}
	host4 = netip.PrefixFrom(vip4, 32)
	host6 = netip.PrefixFrom(vip6, 128)
	lip32 = netip.PrefixFrom(lip, 32)
)

type env struct {
	dp   *fakeDP
	svcs []Service
	sink *sink
	clk  *clock
	a    *Announcer
}

func newEnv(t *testing.T, drain time.Duration) *env {
	t.Helper()
	e := &env{dp: &fakeDP{li: control.LivenessInfo{Workers: []control.WorkerBeat{{ID: 0}, {ID: 1}}}}, sink: &sink{},
		clk: &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	e.svcs = []Service{
		{Key: web4, Available: 2},
		{Key: dns4, Available: 1},
		{Key: web6, Available: 1, LocalAddrs: []netip.Addr{lip}},
	}
	e.a = New(Config{Liveness: e.dp, Services: func() []Service { return e.svcs }, Sinks: []Sink{e.sink},
		DrainTime: drain, Now: e.clk.now})
	return e
}

// want checks the sink's routes: prefixes announced, each with the graceful shutdown community
// if gshut.
func (e *env) want(t *testing.T, gshut bool, pfxs ...netip.Prefix) {
	t.Helper()
	e.a.Step()
	var want []Route
	for _, p := range pfxs {
		want = append(want, Route{Prefix: p, GracefulShutdown: gshut})
	}
	if !slices.Equal(e.sink.routes, want) {
		t.Fatalf("routes %v, want %v", e.sink.routes, want)
	}
}

func (e *env) prefix(t *testing.T, p netip.Prefix) api.BGPPrefix {
	t.Helper()
	for _, bp := range e.a.State().Prefixes {
		if bp.Prefix == p {
			return bp
		}
	}
	t.Fatalf("%v not in State", p)
	return api.BGPPrefix{}
}

func TestAnnounceAll(t *testing.T) {
	e := newEnv(t, 0)
	e.want(t, false, host4, lip32, host6)
	st := e.a.State()
	if !st.Announcing || st.Down != "" || st.Announcements != 3 || st.Withdrawals != 0 || len(st.Prefixes) != 3 {
		t.Fatalf("State() = %+v", st)
	}
	if p := e.prefix(t, host4); p.Kind != "vip" || !slices.Equal(p.Services, []string{"TCP 198.18.0.10:80", "UDP 198.18.0.10:53"}) {
		t.Errorf("VIP %+v", p)
	}
	if p := e.prefix(t, lip32); p.Kind != "laddr" || !p.Announced {
		t.Errorf("local address %+v", p)
	}
	// Nothing changed: nothing pushed again.
	sets := e.sink.sets
	e.a.Step()
	if e.sink.sets != sets {
		t.Errorf("an unchanged decision was pushed again")
	}
}

// TestLastRealServer: a VIP whose services have no available real server is withdrawn, with the
// reason, and comes back with the first one; a shared VIP stays while any service may announce
// it; a local address goes with its service.
func TestLastRealServer(t *testing.T) {
	e := newEnv(t, 0)
	e.want(t, false, host4, lip32, host6)
	e.svcs[0].Available = 0 // web4 down, dns4 still up: the shared VIP stays
	e.want(t, false, host4, lip32, host6)
	e.svcs[1].Available = 0
	e.clk.advance(time.Second)
	e.want(t, false, lip32, host6)
	p := e.prefix(t, host4)
	if p.Announced || !strings.Contains(p.Reason, "TCP 198.18.0.10:80: 0 of 1 real servers available") ||
		!strings.Contains(p.Reason, "UDP 198.18.0.10:53: 0 of 1") || p.Withdrawals != 1 || !p.Since.Equal(e.clk.t) {
		t.Fatalf("withdrawn VIP %+v", p)
	}
	e.svcs[2].Available = 0 // the IPv6 service and its local address
	e.want(t, false)
	e.svcs[1].Available = 1
	e.want(t, false, host4)
	if p := e.prefix(t, host4); !p.Announced || p.Reason != "" || p.Announcements != 2 {
		t.Fatalf("announced again %+v", p)
	}
}

func TestMinServers(t *testing.T) {
	e := newEnv(t, 0)
	e.svcs = e.svcs[2:] // the IPv6 service, 1 available
	e.svcs[0].MinServers = 2
	e.want(t, false)
	if p := e.prefix(t, host6); !strings.Contains(p.Reason, "1 of 2 real servers") {
		t.Fatalf("reason %q", p.Reason)
	}
	e.svcs[0].Available = 2
	e.want(t, false, lip32, host6)
}

// TestWatchdog: a worker whose heartbeat is older than Stall, or an interface without the
// steering program, withdraws everything; the prefixes come back when it beats again.
func TestWatchdog(t *testing.T) {
	e := newEnv(t, 0)
	e.want(t, false, host4, lip32, host6)
	e.dp.li.Workers[1].Age = 900 * time.Millisecond
	e.want(t, false, host4, lip32, host6)
	e.dp.li.Workers[1].Age = 1500 * time.Millisecond
	e.want(t, false)
	st := e.a.State()
	if st.Announcing || st.Down != "worker 1 stalled (no heartbeat for 1.5s)" {
		t.Fatalf("State() = %+v", st)
	}
	if p := e.prefix(t, host6); p.Reason != st.Down {
		t.Errorf("prefix reason %q, want the global one", p.Reason)
	}
	e.dp.li.Workers[1].Age = 0
	e.want(t, false, host4, lip32, host6)
	e.dp.li.Detached = []string{"d0"}
	e.want(t, false)
	if st := e.a.State(); st.Down != "steering program not attached to d0" {
		t.Fatalf("Down %q", st.Down)
	}
	e.dp.li = control.LivenessInfo{}
	e.want(t, false)
	if st := e.a.State(); st.Down != "no worker" {
		t.Fatalf("Down %q", st.Down)
	}
}

// TestDrain: a drain keeps the routes with GRACEFUL_SHUTDOWN for the drain time, then withdraws
// them; undrain announces them again; without a drain time the withdrawal is at once.
func TestDrain(t *testing.T) {
	e := newEnv(t, 5*time.Second)
	e.want(t, false, host4, lip32, host6)
	e.a.Drain(true)
	e.want(t, true, host4, lip32, host6)
	if st := e.a.State(); st.Announcing || !st.Draining || !st.DrainUntil.Equal(e.clk.t.Add(5*time.Second)) {
		t.Fatalf("State() = %+v", st)
	}
	e.clk.advance(4900 * time.Millisecond)
	e.want(t, true, host4, lip32, host6)
	e.clk.advance(100 * time.Millisecond)
	e.want(t, false)
	if p := e.prefix(t, host4); p.Reason != "draining" {
		t.Errorf("reason %q", p.Reason)
	}
	e.a.Drain(false)
	e.want(t, false, host4, lip32, host6)

	e = newEnv(t, 0)
	e.want(t, false, host4, lip32, host6)
	e.a.Drain(true)
	e.want(t, false)
}

type guard struct{ prefixes []netip.Prefix }

func (g *guard) Set(p []netip.Prefix) error { g.prefixes = slices.Clone(p); return nil }

// TestGuards: the guards get every configured prefix, announced or not, and lose a removed
// service's.
func TestGuards(t *testing.T) {
	e := newEnv(t, 0)
	g := &guard{}
	e.a.cfg.Guards = []Guard{g}
	e.dp.li.Workers[0].Age = time.Hour // nothing announced
	e.a.Step()
	if !slices.Equal(g.prefixes, []netip.Prefix{host4, lip32, host6}) || len(e.sink.routes) != 0 {
		t.Fatalf("guarded %v, announced %v", g.prefixes, e.sink.routes)
	}
	e.svcs = e.svcs[:2]
	e.a.Step()
	if !slices.Equal(g.prefixes, []netip.Prefix{host4}) {
		t.Fatalf("guarded %v after the IPv6 service went", g.prefixes)
	}
	e.svcs = nil // not known (a daemon starting): the guards keep theirs
	e.a.Step()
	if !slices.Equal(g.prefixes, []netip.Prefix{host4}) {
		t.Fatalf("guarded %v while the services are not known", g.prefixes)
	}
	e.svcs = []Service{}
	e.a.Step()
	if len(g.prefixes) != 0 {
		t.Fatalf("guarded %v with no service", g.prefixes)
	}
}

// TestResync: the sinks are given the routes again every Resync though nothing changed, so that
// routes taken from under them (a flushed export table) come back; not before.
func TestResync(t *testing.T) {
	e := newEnv(t, 0)
	e.want(t, false, host4, lip32, host6)
	sets := e.sink.sets
	e.sink.routes = nil // flushed from under the policy
	e.clk.advance(DefaultResync - time.Millisecond)
	e.a.Step()
	if e.sink.sets != sets {
		t.Fatalf("given the routes again after %v", DefaultResync-time.Millisecond)
	}
	e.clk.advance(time.Millisecond)
	e.want(t, false, host4, lip32, host6)
	if e.sink.sets != sets+1 {
		t.Fatalf("%d sets, want %d", e.sink.sets, sets+1)
	}
}

// TestSinkFailure: a sink that fails is given the routes again at the next step.
func TestSinkFailure(t *testing.T) {
	e := newEnv(t, 0)
	e.sink.fail = true
	e.a.Step()
	if e.sink.routes != nil {
		t.Fatalf("failed sink holds %v", e.sink.routes)
	}
	e.want(t, false, host4, lip32, host6)
}

func TestServicesOf(t *testing.T) {
	rs := func(w uint32, h *api.ServerHealth, sorry bool) api.RealServerState {
		return api.RealServerState{RealServerSpec: model.RealServerSpec{Weight: w}, Health: h, Sorry: sorry}
	}
	st := &api.State{Services: []api.ServiceState{{
		ServiceSpec: model.ServiceSpec{ServiceKey: web4, MinServers: 2, LocalAddrs: []netip.Addr{lip}},
		RealServers: []api.RealServerState{
			rs(1, nil, false), // unchecked, weight 1: available
			rs(0, nil, false), // quiescent
			rs(5, &api.ServerHealth{InService: true, Weight: 5}, false), // up
			rs(5, &api.ServerHealth{InService: true, Weight: 0}, false), // down, quiesced
			rs(5, &api.ServerHealth{InService: false}, false),           // down, removed
			rs(1, nil, true), // the sorry server
		},
	}}}
	got := ServicesOf(st)
	want := []Service{{Key: web4, Available: 2, MinServers: 2, LocalAddrs: []netip.Addr{lip}}}
	if len(got) != 1 || got[0].Key != want[0].Key || got[0].Available != 2 || got[0].MinServers != 2 || !slices.Equal(got[0].LocalAddrs, want[0].LocalAddrs) {
		t.Fatalf("ServicesOf = %+v, want %+v", got, want)
	}
}

// TestStandbyAndReady: a peer's local address held for connection sync is announced as standby
// (a longer path), beside the director's own prefixes, and withdrawn with them when the dataplane
// stalls; while connection sync is not ready, nothing is announced and State says why.
func TestStandbyAndReady(t *testing.T) {
	e := newEnv(t, 0)
	peerLIP := netip.MustParseAddr("198.18.5.2")
	ready := false
	e.a = New(Config{Liveness: e.dp, Services: func() []Service { return e.svcs }, Sinks: []Sink{e.sink}, Now: e.clk.now,
		Standby: func() []netip.Addr { return []netip.Addr{peerLIP, lip} }, Ready: func() bool { return ready }})
	e.want(t, false)
	if st := e.a.State(); st.Announcing || !strings.Contains(st.Down, "bulk copy") {
		t.Fatalf("not ready: %+v", st)
	}
	ready = true
	e.a.Step()
	peer32 := netip.PrefixFrom(peerLIP, 32)
	want := []Route{{Prefix: host4}, {Prefix: lip32}, {Prefix: peer32, Standby: true}, {Prefix: host6}}
	if !slices.Equal(e.sink.routes, want) {
		t.Fatalf("routes %v, want %v (our own local address stays ours, not standby)", e.sink.routes, want)
	}
	if p := e.prefix(t, peer32); p.Kind != KindStandby || !p.Announced {
		t.Errorf("standby %+v", p)
	}
	e.dp.li.Workers[1].Age = time.Minute
	e.want(t, false)
}

// TestHAStandby: a director whose active/standby role is not master (Config.HA) announces
// nothing, says why, and announces again once it is master.
func TestHAStandby(t *testing.T) {
	e := newEnv(t, 0)
	role := "ha role backup"
	e.a.cfg.HA = func() string { return role }
	e.a.Step()
	e.want(t, false)
	if st := e.a.State(); st.Announcing || st.Down != "ha role backup" || st.Prefixes[0].Reason != "ha role backup" {
		t.Errorf("backup: announcing %v, down %q, %+v", st.Announcing, st.Down, st.Prefixes[0])
	}
	role = ""
	e.a.Step()
	e.want(t, false, host4, lip32, host6)
	if st := e.a.State(); !st.Announcing || st.Down != "" {
		t.Errorf("master: announcing %v, down %q", st.Announcing, st.Down)
	}
}
