package model

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/sched"
)

// Service is one service of the model with its real servers in configuration order and its
// health check (zero: none).
type Service struct {
	ServiceSpec
	Dests  []RealServerSpec
	Health HealthSpec
}

func (s *Service) clone() *Service {
	c := &Service{ServiceSpec: s.ServiceSpec, Dests: append([]RealServerSpec(nil), s.Dests...), Health: s.Health}
	c.LocalAddrs = append([]netip.Addr(nil), s.LocalAddrs...)
	c.LocalIfaces = maps.Clone(s.LocalIfaces)
	return c
}

// FindDest returns the index of the real server (a, port), or -1.
func (s *Service) FindDest(a netip.Addr, port uint16) int {
	for i, d := range s.Dests {
		if d.Address == a && d.Port == port {
			return i
		}
	}
	return -1
}

// NotForwarding says why the service cannot forward new connections yet, one reason per entry,
// or nothing: it has no real server (and no sorry server), or FULLNAT real servers without a local
// address of the family they are reached in. ipvsadm and DPVS accept these steps in any order, and
// so does xdpvs; meanwhile the dataplane drops what the service receives (no_dest,
// no_local_port).
func (s *Service) NotForwarding() []string {
	var why []string
	if len(s.Dests) == 0 && !(s.Health.Enabled() && s.Health.Sorry.IsValid()) {
		why = append(why, "no real server (add one with -a)")
	}
	var same, nat64, lipSame, lip4 bool
	for _, d := range s.Dests {
		if d.Forward == FullNAT {
			same = same || d.Address.Is4() == s.Address.Is4()
			nat64 = nat64 || d.Address.Is4() != s.Address.Is4()
		}
	}
	for _, l := range s.LocalAddrs {
		lipSame = lipSame || l.Is4() == s.Address.Is4()
		lip4 = lip4 || l.Is4()
	}
	if same && !lipSame {
		why = append(why, "its FULLNAT real servers have no local address (add one with --add-laddr -z LIP)")
	}
	if nat64 && !lip4 {
		why = append(why, "its IPv4 real servers (NAT64) have no IPv4 local address (add one with --add-laddr -z LIP)")
	}
	return why
}

// Model is the whole configuration. It is only changed through Exec on a Clone, so that a failed
// Apply leaves the previous model untouched; its readers must not change what it returns.
type Model struct {
	services []*Service // configuration order
	marks    []MarkRule // in order
	timeouts Timeouts
	defense  Defense
}

// New returns an empty model with IPVS's default timeouts and the default defence.
func New() *Model { return &Model{timeouts: DefaultTimeouts, defense: DefaultDefense} }

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	c := &Model{timeouts: m.timeouts, defense: m.defense, services: make([]*Service, len(m.services)), marks: slices.Clone(m.marks)}
	for i, s := range m.services {
		c.services[i] = s.clone()
	}
	return c
}

// Services lists the services in configuration order.
func (m *Model) Services() []*Service { return m.services }

// Timeouts are the connection timeouts.
func (m *Model) Timeouts() Timeouts { return m.timeouts }

// MarkRules are the mark rules, in order.
func (m *Model) MarkRules() []MarkRule { return m.marks }

// Defense is the connection tables' defence.
func (m *Model) Defense() Defense { return m.defense }

// Find returns the service k, or nil.
func (m *Model) Find(k ServiceKey) *Service {
	if i := m.find(k); i >= 0 {
		return m.services[i]
	}
	return nil
}

func (m *Model) find(k ServiceKey) int {
	for i, s := range m.services {
		if s.ServiceKey == k {
			return i
		}
	}
	return -1
}

// FullMask is the prefix length of one address: 32 or 128.
func FullMask(a netip.Addr) int {
	if a.Is4() {
		return 32
	}
	return 128
}

// checkServiceSpec validates what -A and -E give, filling the defaults (scheduler, netmask).
func checkServiceSpec(s *ServiceSpec) error {
	if s.FWMark == 0 && s.Protocol != TCP && s.Protocol != UDP {
		return fmt.Errorf("unsupported protocol %d", uint8(s.Protocol))
	}
	if s.FWMark != 0 {
		if err := checkFWMarkService(s); err != nil {
			return err
		}
	} else if err := checkUnicast("virtual server", s.Address); err != nil {
		return err
	}
	if s.Scheduler == "" {
		s.Scheduler = DefaultScheduler()
	}
	if !schedulerExists(s.Scheduler) {
		return ErrSchedNotFound
	}
	if s.SchedFlags&^(control.ServiceSchedFlag1|control.ServiceSchedFlag2|control.ServiceSchedFlag3) != 0 {
		return fmt.Errorf("invalid scheduler flags %#x", uint32(s.SchedFlags))
	}
	if s.MHSize != 0 {
		if s.Scheduler != "mh" {
			return fmt.Errorf("mh-size is for the mh scheduler, not %s", s.Scheduler)
		}
		if err := sched.CheckMHSize(s.MHSize); err != nil {
			return err
		}
	}
	if s.Port == 0 && !s.Persistent && s.FWMark == 0 {
		return errors.New("Zero port specified for non-persistent service")
	}
	if s.OnePacket && s.Protocol != UDP {
		return errors.New("One-Packet Scheduling is only for UDP virtual services")
	}
	if err := checkProxyProtocol(s); err != nil {
		return err
	}
	if s.MinServers < 0 || s.MinServers > MaxMinServers {
		return fmt.Errorf("invalid --bgp-min-servers %d: want 0 to %d", s.MinServers, MaxMinServers)
	}
	if s.Persistent {
		if s.Timeout == 0 {
			s.Timeout = DefaultPersistence
		}
		if s.Timeout > MaxTimeout {
			return fmt.Errorf("invalid timeout value `%d' specified", s.Timeout)
		}
		if s.Netmask == 0 {
			s.Netmask = FullMask(s.Address)
		}
		if s.Netmask < 1 || s.Netmask > FullMask(s.Address) {
			if s.Address.Is4() {
				return errors.New("illegal virtual server persistent mask specified")
			}
			return errors.New("illegal ipv6 netmask specified")
		}
	} else {
		// The mask only matters with persistence; ipvsadm does not save it otherwise.
		s.Timeout = 0
		s.Netmask = FullMask(s.Address)
	}
	return nil
}

func checkUnicast(what string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return fmt.Errorf("illegal %s address[:port] specified", what)
	case a.Zone() != "":
		return fmt.Errorf("%s address %s: zones are not supported", what, a)
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s address %s is not a unicast address", what, a)
	}
	return nil
}

// checkDest validates a real server against its service.
func checkDest(s *Service, d *RealServerSpec) error {
	if err := checkUnicast("real server", d.Address); err != nil {
		return err
	}
	switch d.Forward {
	case Masq, Route, Tunnel, FullNAT:
	default:
		return fmt.Errorf("unknown forwarding method %d", d.Forward)
	}
	if d.Address.Is4() != s.Address.Is4() {
		// IPVS allows this for tunnels; xdpvs only for FULLNAT toward IPv4 real servers (NAT64).
		if !(d.Forward == FullNAT && s.Address.Is6() && d.Address.Is4()) {
			return errors.New("Different address family is allowed only for fullnat servers (an IPv4 real server under an IPv6 service)")
		}
	}
	if d.Forward != FullNAT && s.ProxyProtocol != "" {
		return errors.New("the PROXY protocol (--proxy-protocol) is for fullnat (-b) real servers: the header goes in the stream the director relays")
	}
	if (d.Forward == Route || d.Forward == Tunnel) && s.SynProxy {
		return fmt.Errorf("the SYN proxy (-j) needs the real servers' replies: use masquerading (-m) or fullnat (-b), not %s",
			map[Forward]string{Route: "gatewaying (-g)", Tunnel: "ipip (-i)"}[d.Forward])
	}
	if (d.Forward == Route || d.Forward == Tunnel) && d.Port != s.Port {
		return fmt.Errorf("real server port %d differs from the service port %d: %s forwarding cannot change the port (use -m or -b)",
			d.Port, s.Port, map[Forward]string{Route: "gatewaying (-g)", Tunnel: "ipip (-i)"}[d.Forward])
	}
	if d.Weight > MaxWeight {
		return errors.New("illegal weight specified")
	}
	if d.UThreshold > MaxThreshold {
		return errors.New("illegal u_threshold specified")
	}
	if d.LThreshold > MaxThreshold {
		return errors.New("illegal l_threshold specified")
	}
	if d.UThreshold != 0 && d.LThreshold > d.UThreshold {
		return fmt.Errorf("lower threshold %d is above the upper threshold %d", d.LThreshold, d.UThreshold)
	}
	return nil
}

// checkProxyProtocol checks a service's --proxy-protocol: v1 is for TCP (v2 also takes UDP).
func checkProxyProtocol(s *ServiceSpec) error {
	switch {
	case s.ProxyProtocol == "":
		return nil
	case !slices.Contains(ProxyProtocols, s.ProxyProtocol):
		return fmt.Errorf("invalid proxy-protocol value `%s' specified (v1 or v2)", s.ProxyProtocol)
	case s.ProxyProtocol == "v1" && s.Protocol != TCP:
		return errors.New("PROXY protocol v1 is only for TCP virtual services (use v2 for UDP)")
	}
	return nil
}
