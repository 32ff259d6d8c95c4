package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"go.uber.org/zap"
)

// DefaultHold is the hold time the speaker proposes (xdpvsd --bgp-hold): the routers withdraw a
// stopped director's routes this long after its last keepalive. Keepalives go every third of it.
const DefaultHold = 9 * time.Second

// GracefulShutdown is RFC 8326's GRACEFUL_SHUTDOWN community (65535:0): routers that honour it
// lower the route's preference, so that traffic moves to the other directors before the route
// is withdrawn.
const GracefulShutdown = uint32(bgp.COMMUNITY_PLANNED_SHUT)

// Peer is one router the speaker keeps a session with.
type Peer struct {
	Addr netip.Addr
	AS   uint32
	// Local, if set, is the address the session leaves from (otherwise the kernel's choice).
	Local netip.Addr
}

// ParsePeer reads xdpvsd's --bgp-peer ADDR,ASN.
func ParsePeer(s string) (Peer, error) {
	a, as, ok := cutLast(s, ',')
	if !ok {
		return Peer{}, fmt.Errorf("bgp peer %q: want ADDR,ASN", s)
	}
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return Peer{}, fmt.Errorf("bgp peer %q: %w", s, err)
	}
	n, err := ParseAS(as)
	if err != nil {
		return Peer{}, fmt.Errorf("bgp peer %q: %w", s, err)
	}
	return Peer{Addr: addr.Unmap(), AS: n}, nil
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// ParseAS reads an AS number, 1 to 4294967294 (asplain).
func ParseAS(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n == 1<<32-1 {
		return 0, fmt.Errorf("AS %q: want a number from 1 to 4294967294", s)
	}
	return uint32(n), nil
}

// Config is how a Speaker is started.
type Config struct {
	AS       uint32
	RouterID netip.Addr // an IPv4 address
	Peers    []Peer
	// Hold is the hold time proposed to every peer: whole seconds, 3 or more (0: DefaultHold).
	Hold time.Duration
	// Password, if set, protects every session with TCP MD5 (RFC 2385).
	Password string
	// NextHop4 and NextHop6, if set, are the next hops of the IPv4 and IPv6 routes; otherwise
	// each session's local address.
	NextHop4, NextHop6 netip.Addr
	// BFD, if not zero, runs BFD with every peer at this interval (detection after three missed).
	BFD time.Duration
	// ListenPort, if not zero, makes the speaker accept sessions on that port too (tests); by
	// default it only connects.
	ListenPort int
	// PeerPort is the port connected to (0: 179).
	PeerPort int
	// Retry is how soon a failed or closed session is tried again (0: 1 s).
	Retry  time.Duration
	Logger *zap.Logger
}

// Route is one prefix to announce. GracefulShutdown adds RFC 8326's community (drain); Prepend
// puts the speaker's AS that many more times in the AS path, so that the route is taken only
// where no shorter one is (a standby local address of connection sync: the owner's route wins
// while it lives).
type Route struct {
	Prefix           netip.Prefix
	GracefulShutdown bool
	Prepend          int
}

// MaxPrepend bounds Route.Prepend.
const MaxPrepend = 8

// PeerStatus is a session as the speaker sees it.
type PeerStatus struct {
	Addr       netip.Addr
	AS         uint32
	State      string    // idle, connect, active, opensent, openconfirm, established
	Since      time.Time // when it became established (zero otherwise)
	Advertised uint64    // prefixes sent to the peer
	Received   uint64    // prefixes received from it (never used)
	LastError  string    // why the last session ended, if one did
}

// Speaker is the embedded GoBGP.
type Speaker struct {
	cfg Config
	s   *server.BgpServer

	mu     sync.Mutex // guards routes and closed
	routes map[netip.Prefix]Route
	closed bool
}

// New checks cfg, starts GoBGP and adds the peers; the sessions come up in the background.
func New(cfg Config) (*Speaker, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.AS == 0 {
		return nil, errors.New("bgp: no AS (--bgp-as)")
	}
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("bgp: router ID %v: want an IPv4 address (--bgp-router-id)", cfg.RouterID)
	}
	if len(cfg.Peers) == 0 {
		return nil, errors.New("bgp: no peer (--bgp-peer ADDR,ASN)")
	}
	if cfg.Hold == 0 {
		cfg.Hold = DefaultHold
	}
	if cfg.Hold < 3*time.Second || cfg.Hold%time.Second != 0 || cfg.Hold > 65535*time.Second {
		return nil, fmt.Errorf("bgp: hold time %v: want whole seconds from 3s to 65535s (RFC 4271)", cfg.Hold)
	}
	if cfg.NextHop4.IsValid() && !cfg.NextHop4.Is4() || cfg.NextHop6.IsValid() && !cfg.NextHop6.Is6() {
		return nil, fmt.Errorf("bgp: next hops %v, %v: an IPv4 and an IPv6 address", cfg.NextHop4, cfg.NextHop6)
	}
	if cfg.Retry == 0 {
		cfg.Retry = time.Second
	}
	seen := map[netip.Addr]bool{}
	for _, p := range cfg.Peers {
		if !p.Addr.IsValid() || p.AS == 0 || seen[p.Addr] {
			return nil, fmt.Errorf("bgp: peer %v AS %d: an address given once and an AS", p.Addr, p.AS)
		}
		seen[p.Addr] = true
	}
	lvl := new(slog.LevelVar)
	lvl.Set(slog.LevelWarn)
	if cfg.Logger.Core().Enabled(zap.DebugLevel) {
		lvl.Set(slog.LevelDebug)
	}
	s := &Speaker{cfg: cfg, routes: map[netip.Prefix]Route{},
		s: server.NewBgpServer(server.LoggerOption(slog.New(&zapHandler{log: cfg.Logger.Named("gobgp"), lvl: lvl}), lvl))}
	go s.s.Serve()
	port := int32(-1) // GoBGP's "do not listen"
	if cfg.ListenPort != 0 {
		port = int32(cfg.ListenPort)
	}
	ctx := context.Background()
	if err := s.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.AS, RouterId: cfg.RouterID.String(), ListenPort: port,
	}}); err != nil {
		s.s.Stop()
		return nil, fmt.Errorf("bgp: start: %w", err)
	}
	for _, p := range cfg.Peers {
		if err := s.s.AddPeer(ctx, &api.AddPeerRequest{Peer: s.peerConf(p)}); err != nil {
			s.s.Stop()
			return nil, fmt.Errorf("bgp: peer %v: %w", p.Addr, err)
		}
	}
	return s, nil
}

// peerConf is GoBGP's configuration of a session: its family only, the timers, MD5, BFD.
func (s *Speaker) peerConf(p Peer) *api.Peer {
	hold := uint64(s.cfg.Hold / time.Second)
	retry := uint64(max(s.cfg.Retry/time.Second, 1))
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if p.Addr.Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	ap := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Addr.String(), PeerAsn: p.AS, AuthPassword: s.cfg.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{HoldTime: hold, KeepaliveInterval: max(hold/3, 1),
			ConnectRetry: retry, IdleHoldTimeAfterReset: retry}},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}
	ap.Transport = &api.Transport{RemotePort: uint32(s.cfg.PeerPort)}
	if p.Local.IsValid() {
		ap.Transport.LocalAddress = p.Local.String()
	}
	if s.cfg.BFD > 0 {
		us := uint32(s.cfg.BFD / time.Microsecond)
		ap.Bfd = &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: us, RequiredMinimumReceive: us, DetectionMultiplier: 3}
	}
	return ap
}

// Set makes the announced routes exactly routes: new ones and those whose community changed are
// (re-)announced, the others withdrawn. A prefix that is not a host route is refused.
func (s *Speaker) Set(routes []Route) error {
	want := make(map[netip.Prefix]Route, len(routes))
	for _, r := range routes {
		p := r.Prefix.Masked()
		if !p.IsValid() || p.Bits() != p.Addr().BitLen() {
			return fmt.Errorf("bgp: %v: only host routes (/32, /128) are announced", r.Prefix)
		}
		if r.Prepend < 0 || r.Prepend > MaxPrepend {
			return fmt.Errorf("bgp: %v: prepend %d: want 0 to %d", r.Prefix, r.Prepend, MaxPrepend)
		}
		r.Prefix = p
		want[p] = r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("bgp: speaker closed")
	}
	var add, del []*apiutil.Path
	for p, r := range want {
		if old, ok := s.routes[p]; !ok || old != r {
			path, err := s.path(r)
			if err != nil {
				return err
			}
			add = append(add, path)
		}
	}
	for p, r := range s.routes {
		if _, ok := want[p]; !ok {
			path, err := s.path(r)
			if err != nil {
				return err
			}
			del = append(del, path)
		}
	}
	if len(del) > 0 {
		if err := s.s.DeletePath(apiutil.DeletePathRequest{Paths: del}); err != nil {
			return fmt.Errorf("bgp: withdraw: %w", err)
		}
		for p := range s.routes {
			if _, ok := want[p]; !ok {
				delete(s.routes, p)
			}
		}
	}
	if len(add) > 0 {
		if _, err := s.s.AddPath(apiutil.AddPathRequest{Paths: add}); err != nil {
			return fmt.Errorf("bgp: announce: %w", err)
		}
	}
	s.routes = want
	return nil
}

// path is GoBGP's path of a route: origin IGP, the next hop (unspecified: the session's local
// address), and the community of a drain.
func (s *Speaker) path(r Route) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(r.Prefix)
	if err != nil {
		return nil, fmt.Errorf("bgp: %v: %w", r.Prefix, err)
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	family := bgp.RF_IPv4_UC
	if r.Prefix.Addr().Is4() {
		nh := s.cfg.NextHop4
		if !nh.IsValid() {
			nh = netip.IPv4Unspecified()
		}
		a, err := bgp.NewPathAttributeNextHop(nh)
		if err != nil {
			return nil, fmt.Errorf("bgp: next hop %v: %w", nh, err)
		}
		attrs = append(attrs, a)
	} else {
		family = bgp.RF_IPv6_UC
		nh := s.cfg.NextHop6
		if !nh.IsValid() {
			nh = netip.IPv6Unspecified()
		}
		a, err := bgp.NewPathAttributeMpReachNLRI(family, []bgp.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, fmt.Errorf("bgp: next hop %v: %w", nh, err)
		}
		attrs = append(attrs, a)
	}
	if r.GracefulShutdown {
		attrs = append(attrs, bgp.NewPathAttributeCommunities([]uint32{GracefulShutdown}))
	}
	if r.Prepend > 0 {
		as := make([]uint32, r.Prepend) // GoBGP adds our AS once more toward an eBGP peer
		for i := range as {
			as[i] = s.cfg.AS
		}
		attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, as)}))
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs}, nil
}

// Routes are the routes announced (in the RIB), sorted.
func (s *Speaker) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Route, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// Peers lists the sessions in the order of Config.Peers.
func (s *Speaker) Peers() []PeerStatus {
	got := map[netip.Addr]PeerStatus{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.s.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		if p.Conf == nil || p.State == nil {
			return
		}
		addr, err := netip.ParseAddr(p.Conf.NeighborAddress)
		if err != nil {
			return
		}
		st := PeerStatus{Addr: addr.Unmap(), AS: p.Conf.PeerAsn, State: stateName(p.State.SessionState), LastError: p.State.DisconnectMessage}
		if st.State == "established" && p.Timers != nil && p.Timers.State != nil && p.Timers.State.Uptime != nil {
			st.Since = p.Timers.State.Uptime.AsTime()
		}
		for _, af := range p.AfiSafis {
			if af.State != nil {
				st.Advertised += af.State.Advertised
				st.Received += af.State.Received
			}
		}
		got[st.Addr] = st
	})
	out := make([]PeerStatus, 0, len(s.cfg.Peers))
	for _, p := range s.cfg.Peers {
		st, ok := got[p.Addr]
		if !ok {
			st = PeerStatus{Addr: p.Addr, AS: p.AS, State: "unknown"}
		}
		out = append(out, st)
	}
	return out
}

func stateName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_SESSION_STATE_IDLE:
		return "idle"
	case api.PeerState_SESSION_STATE_CONNECT:
		return "connect"
	case api.PeerState_SESSION_STATE_ACTIVE:
		return "active"
	case api.PeerState_SESSION_STATE_OPENSENT:
		return "opensent"
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return "openconfirm"
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return "established"
	}
	return "unknown"
}

// Close withdraws every route, then closes the sessions with a Cease (peer de-configured) and
// stops GoBGP.
func (s *Speaker) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	err := s.Set(nil)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.s.Stop() // the Cease makes the peers drop whatever the withdrawals did not reach

	return err
}
