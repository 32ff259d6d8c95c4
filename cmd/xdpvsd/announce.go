package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/announce"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/bgp"
	"github.com/xdpvs/xdpvs/mgmt/kroute"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// announceFlags are the flags of several directors (DESIGN.md's contract): the BGP speaker, the
// drain time, the export table and routed mode.
type announceFlags struct {
	as, routerID, password string
	peers, nextHops        listFlag
	hold, drain, bfd       time.Duration
	exportTable            int
	routed                 bool
}

func addAnnounceFlags(fs *flag.FlagSet) *announceFlags {
	f := &announceFlags{}
	fs.StringVar(&f.as, "bgp-as", "", "announce the VIPs over BGP from this AS (with --bgp-router-id and --bgp-peer)")
	fs.StringVar(&f.routerID, "bgp-router-id", "", "BGP router ID (an IPv4 address)")
	fs.Var(&f.peers, "bgp-peer", "BGP peer ADDR,ASN (repeat for several; IPv4 prefixes go to IPv4 peers, IPv6 to IPv6 peers)")
	fs.DurationVar(&f.hold, "bgp-hold", bgp.DefaultHold, "BGP hold time proposed to the peers (whole seconds, 3s or more)")
	fs.StringVar(&f.password, "bgp-password", "", "TCP MD5 password of every BGP session (RFC 2385)")
	fs.Var(&f.nextHops, "bgp-next-hop", "next hop of the announced routes, one per family (default: each session's local address)")
	fs.DurationVar(&f.bfd, "bgp-bfd", 0, "run BFD with every peer at this interval, detection after 3 missed (GoBGP's; default off)")
	fs.DurationVar(&f.drain, "drain-time", 0, "on SIGTERM or xdpvsadm drain, announce with GRACEFUL_SHUTDOWN this long before withdrawing")
	fs.IntVar(&f.exportTable, "export-table", 0, "write the announced prefixes into this kernel routing table, for BIRD or FRR to redistribute (OSPF sites)")
	fs.BoolVar(&f.routed, "routed", false, "routed mode: VIPs are not interface addresses; a blackhole route guards each VIP and local address, left behind when the daemon stops, so a dead director answers nothing")
	return f
}

// enabled tells whether the daemon announces anything.
func (f *announceFlags) enabled() bool { return f.as != "" || f.exportTable != 0 || f.routed }

// speakerConfig checks the BGP flags; a zero AS means no speaker.
func (f *announceFlags) speakerConfig(log *zap.Logger) (bgp.Config, error) {
	if f.as == "" {
		if f.routerID != "" || len(f.peers) > 0 || f.password != "" || len(f.nextHops) > 0 || f.bfd != 0 {
			return bgp.Config{}, errors.New("--bgp-router-id, --bgp-peer, --bgp-password, --bgp-next-hop and --bgp-bfd need --bgp-as")
		}
		return bgp.Config{}, nil
	}
	as, err := bgp.ParseAS(f.as)
	if err != nil {
		return bgp.Config{}, fmt.Errorf("--bgp-as: %w", err)
	}
	cfg := bgp.Config{AS: as, Hold: f.hold, Password: f.password, BFD: f.bfd, Logger: log.Named("bgp")}
	if cfg.RouterID, err = netip.ParseAddr(f.routerID); err != nil || !cfg.RouterID.Is4() {
		return bgp.Config{}, fmt.Errorf("--bgp-router-id %q: want an IPv4 address", f.routerID)
	}
	for _, p := range f.peers {
		peer, err := bgp.ParsePeer(p)
		if err != nil {
			return bgp.Config{}, fmt.Errorf("--bgp-peer: %w", err)
		}
		cfg.Peers = append(cfg.Peers, peer)
	}
	for _, h := range f.nextHops {
		a, err := netip.ParseAddr(h)
		switch {
		case err != nil:
			return bgp.Config{}, fmt.Errorf("--bgp-next-hop %q: %w", h, err)
		case a.Is4() && !cfg.NextHop4.IsValid():
			cfg.NextHop4 = a
		case a.Is6() && !cfg.NextHop6.IsValid():
			cfg.NextHop6 = a
		default:
			return bgp.Config{}, fmt.Errorf("--bgp-next-hop %q: one next hop per family", h)
		}
	}
	return cfg, nil
}

// announcer is the daemon's announcement: the policy and what carries it out. It implements
// server.Announcer.
type announcer struct {
	pol     *announce.Announcer
	speaker *bgp.Speaker
	export  *kroute.Exporter
	flags   *announceFlags
	bgpCfg  bgp.Config
	log     *zap.Logger
	srv     atomic.Pointer[server.Server] // set once the server runs: until then nothing is announced
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// startAnnouncer checks the flags and starts the speaker, the exporter and the policy, which
// reads the services of the server stored in srv.
func startAnnouncer(f *announceFlags, live control.Liveness, standby func() []netip.Addr, log *zap.Logger) (*announcer, error) {
	bc, err := f.speakerConfig(log)
	if err != nil {
		return nil, err
	}
	if f.drain < 0 {
		return nil, fmt.Errorf("--drain-time %v: want 0 or more", f.drain)
	}
	a := &announcer{flags: f, bgpCfg: bc, log: log.Named("announce"), stop: make(chan struct{}), done: make(chan struct{})}
	cfg := announce.Config{Liveness: live, DrainTime: f.drain, Logger: a.log, Services: func() []announce.Service {
		if s := a.srv.Load(); s != nil {
			return announce.ServicesOf(s.Listing())
		}
		return nil
	}, Standby: standby, Ready: func() bool {
		s := a.srv.Load()
		return s != nil && s.SyncReady()
	}, HA: func() string {
		if s := a.srv.Load(); s != nil {
			return s.Standby()
		}
		return ""
	}}
	if f.exportTable != 0 {
		if a.export, err = kroute.NewExporter(f.exportTable); err != nil {
			return nil, fmt.Errorf("--export-table: %w", err)
		}
		cfg.Sinks = append(cfg.Sinks, exportSink{a.export})
	}
	if f.routed {
		cfg.Guards = append(cfg.Guards, &guard{g: kroute.NewGuard(), log: a.log, warned: map[netip.Prefix]bool{}})
	}
	if bc.AS != 0 {
		if a.speaker, err = bgp.New(bc); err != nil {
			if a.export != nil {
				a.export.Close()
			}
			return nil, err
		}
		cfg.Sinks = append(cfg.Sinks, speakerSink{a.speaker})
		log.Info("BGP speaker started", zap.Uint32("as", bc.AS), zap.Stringer("router_id", bc.RouterID), zap.Int("peers", len(bc.Peers)),
			zap.Duration("hold", bc.Hold))
	}
	a.pol = announce.New(cfg)
	go func() {
		defer close(a.done)
		a.pol.Run(a.stop)
	}()
	return a, nil
}

// Shutdown drains (GRACEFUL_SHUTDOWN for the drain time), withdraws everything, closes the
// sessions with a Cease and removes the exported routes; routed mode's guards stay.
func (a *announcer) Shutdown() {
	a.once.Do(func() {
		a.log.Info("withdrawing every prefix before stopping", zap.Duration("drain_time", a.flags.drain))
		a.pol.Shutdown()
		close(a.stop)
		<-a.done
		if a.speaker != nil {
			if err := a.speaker.Close(); err != nil {
				a.log.Warn("BGP speaker close", zap.Error(err))
			}
		}
		if a.export != nil {
			if err := a.export.Close(); err != nil {
				a.log.Warn("export table", zap.Error(err))
			}
		}
	})
}

// BGP implements server.Announcer: the policy's state with the speaker's sessions.
func (a *announcer) BGP() *api.BGPState {
	st := a.pol.State()
	st.ExportTable, st.Routed = a.flags.exportTable, a.flags.routed
	if a.speaker != nil {
		st.AS, st.RouterID, st.HoldSeconds = a.bgpCfg.AS, a.bgpCfg.RouterID, uint32(a.bgpCfg.Hold/time.Second)
		for _, p := range a.speaker.Peers() {
			st.Peers = append(st.Peers, api.BGPPeer{Address: p.Addr, AS: p.AS, State: p.State, Since: p.Since,
				Advertised: p.Advertised, LastError: p.LastError})
		}
	}
	return st
}

// Drain implements server.Announcer.
func (a *announcer) Drain(on bool) { a.pol.Drain(on) }

// Poke implements server.Announcer.
func (a *announcer) Poke() { a.pol.Poke() }

type speakerSink struct{ s *bgp.Speaker }

func (k speakerSink) Set(rs []announce.Route) error {
	out := make([]bgp.Route, len(rs))
	for i, r := range rs {
		out[i] = bgp.Route{Prefix: r.Prefix, GracefulShutdown: r.GracefulShutdown}
		if r.Standby {
			out[i].Prepend = standbyPrepend
		}
	}
	return k.s.Set(out)
}

// standbyPrepend is how many more times a standby local address's route carries our AS.
const standbyPrepend = 3

// exportSink writes the announced prefixes to the export table; a drain's graceful shutdown
// has no equivalent there, so the routes stay until withdrawn.
type exportSink struct{ e *kroute.Exporter }

func (k exportSink) Set(rs []announce.Route) error {
	ps := make([]netip.Prefix, 0, len(rs))
	for _, r := range rs {
		if !r.Standby { // a kernel route has no AS path to lengthen: left to BGP sites
			ps = append(ps, r.Prefix)
		}
	}
	return k.e.Set(ps)
}

// guard is routed mode's blackholes; it warns once about a VIP that is an interface address
// (the kernel answers for it while the daemon is down, which routed mode is meant to prevent).
type guard struct {
	g      *kroute.Guard
	log    *zap.Logger
	warned map[netip.Prefix]bool
}

func (g *guard) Set(ps []netip.Prefix) error {
	for _, p := range kroute.Local(ps) {
		if !g.warned[p] {
			g.warned[p] = true
			g.log.Warn("routed mode: this VIP or local address is an interface address, so the kernel answers for it (RST) while xdpvsd is down; remove it from the interface",
				zap.Stringer("prefix", p))
		}
	}
	for p := range g.warned {
		if !slices.Contains(ps, p) {
			delete(g.warned, p)
		}
	}
	return g.g.Set(ps)
}
