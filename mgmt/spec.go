package mgmt

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// Protocol is the IP protocol of a virtual service. It is written "TCP" or "UDP" in JSON.
type Protocol uint8

// The protocols a virtual service can have.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// MarshalText writes "TCP" or "UDP" (another protocol as its number, none as "").
func (p Protocol) MarshalText() ([]byte, error) {
	switch p {
	case 0:
		return nil, nil
	case TCP, UDP:
		return []byte(p.String()), nil
	}
	return []byte(strconv.Itoa(int(p))), nil
}

// UnmarshalText reads what MarshalText writes.
func (p *Protocol) UnmarshalText(b []byte) error {
	switch s := strings.ToUpper(string(b)); s {
	case "":
		*p = 0
	case "TCP":
		*p = TCP
	case "UDP":
		*p = UDP
	default:
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return fmt.Errorf("unknown protocol %q", b)
		}
		*p = Protocol(n)
	}
	return nil
}

// Forward is a real server's forwarding method, with ipvsadm's names ("Masq", "Route", "Tunnel",
// "FullNat") in JSON. Its values are those of control.ForwardMethod.
type Forward uint8

// The forwarding methods.
const (
	Masq    = Forward(control.ForwardMasq)
	Route   = Forward(control.ForwardRoute)
	Tunnel  = Forward(control.ForwardTunnel)
	FullNAT = Forward(control.ForwardFullNAT)
)

func (f Forward) String() string { return control.ForwardMethod(f).String() }

// MarshalText writes ipvsadm's name of the method.
func (f Forward) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads ipvsadm's name of the method.
func (f *Forward) UnmarshalText(b []byte) error {
	for _, m := range []Forward{Masq, Route, Tunnel, FullNAT} {
		if strings.EqualFold(m.String(), string(b)) {
			*f = m
			return nil
		}
	}
	return fmt.Errorf("unknown forwarding method %q", b)
}

// switchName is the ipvsadm switch that selects the method.
func (f Forward) switchName() string {
	switch f {
	case Masq:
		return "-m"
	case Tunnel:
		return "-i"
	case FullNAT:
		return "-b"
	}
	return "-g"
}

// Persistence and timeout limits, as ipvsadm has them.
const (
	DefaultPersistence = 300        // seconds, `-p` without a value
	MaxTimeout         = 86400 * 31 // seconds, ipvsadm's MAX_TIMEOUT
	MaxWeight          = 65535
	MaxThreshold       = 1<<31 - 1 // INT_MAX, as ipvsadm parses -x and -y
)

// IPVS's default connection timeouts, shown by `-L --timeout` until `--set` changes them.
const (
	DefaultTCPTimeout    = 900
	DefaultTCPFinTimeout = 120
	DefaultUDPTimeout    = 300
)

// ServiceKey identifies a virtual service: (protocol, VIP, port).
type ServiceKey struct {
	Protocol Protocol   `json:"protocol"`
	Address  netip.Addr `json:"address"`
	Port     uint16     `json:"port"`
}

func (k ServiceKey) String() string {
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Address, k.Port))
}

func (k ServiceKey) dataplane() control.ServiceKey {
	return control.ServiceKey{Proto: uint8(k.Protocol), Addr: k.Address, Port: k.Port}
}

// ServiceSpec is a virtual service as configured: deterministic and comparable but for LocalAddrs.
// SchedFlags holds only the ServiceSchedFlag bits.
type ServiceSpec struct {
	ServiceKey
	Scheduler  string                `json:"scheduler"`
	SchedFlags control.ServiceFlags  `json:"sched_flags,omitempty"`
	Persistent bool                  `json:"persistent,omitempty"`
	Timeout    uint32                `json:"persistence_timeout,omitempty"` // seconds, when Persistent
	Netmask    int                   `json:"netmask"`                       // prefix length: 32 or 128 unless set by -M
	OnePacket  bool                  `json:"ops,omitempty"`
	SynProxy   bool                  `json:"synproxy,omitempty"`
	Policy     control.BackendPolicy `json:"policy,omitempty"` // --policy: xdpvs's real-server change handling turned off
	LocalAddrs []netip.Addr          `json:"local_addresses,omitempty"`
}

// RealServerSpec is one real server of a service as configured.
type RealServerSpec struct {
	Address    netip.Addr `json:"address"`
	Port       uint16     `json:"port"`
	Forward    Forward    `json:"forward"`
	Weight     uint32     `json:"weight"`
	UThreshold uint32     `json:"u_threshold,omitempty"`
	LThreshold uint32     `json:"l_threshold,omitempty"`
}

// Timeouts are the connection timeouts in seconds (`--set tcp tcpfin udp`).
type Timeouts struct {
	TCP    uint32 `json:"tcp"`
	TCPFin uint32 `json:"tcpfin"`
	UDP    uint32 `json:"udp"`
}

// DefaultTimeouts are IPVS's defaults.
var DefaultTimeouts = Timeouts{DefaultTCPTimeout, DefaultTCPFinTimeout, DefaultUDPTimeout}

// Errors with ipvsadm's wording. They reach the admin tool as text.
var (
	ErrServiceExists     = errors.New("Service already exists")
	ErrNoService         = errors.New("No such service")
	ErrServiceNotDefined = errors.New("Service not defined")
	ErrDestExists        = errors.New("Destination already exists")
	ErrNoDest            = errors.New("No such destination")
	ErrSchedNotFound     = errors.New("Scheduler not found")
	ErrLaddrExists       = errors.New("Local address already exists")
	ErrNoLaddr           = errors.New("No such local address")
)

// service is one service of the model with its real servers in configuration order.
type service struct {
	ServiceSpec
	dests  []RealServerSpec
	health HealthSpec // --health; zero: none
}

func (s *service) clone() *service {
	c := &service{ServiceSpec: s.ServiceSpec, dests: append([]RealServerSpec(nil), s.dests...), health: s.health}
	c.LocalAddrs = append([]netip.Addr(nil), s.LocalAddrs...)
	return c
}

func (s *service) findDest(a netip.Addr, port uint16) int {
	for i, d := range s.dests {
		if d.Address == a && d.Port == port {
			return i
		}
	}
	return -1
}

// model is the whole configuration. It is only changed through exec on a clone, so that a failed
// Apply leaves the previous model untouched.
type model struct {
	services []*service // configuration order
	timeouts Timeouts
}

func newModel() *model { return &model{timeouts: DefaultTimeouts} }

func (m *model) clone() *model {
	c := &model{timeouts: m.timeouts, services: make([]*service, len(m.services))}
	for i, s := range m.services {
		c.services[i] = s.clone()
	}
	return c
}

func (m *model) find(k ServiceKey) int {
	for i, s := range m.services {
		if s.ServiceKey == k {
			return i
		}
	}
	return -1
}

func fullMask(a netip.Addr) int {
	if a.Is4() {
		return 32
	}
	return 128
}

// checkServiceSpec validates what -A and -E give, filling the defaults (scheduler, netmask).
func checkServiceSpec(s *ServiceSpec) error {
	if s.Protocol != TCP && s.Protocol != UDP {
		return fmt.Errorf("unsupported protocol %d", uint8(s.Protocol))
	}
	if err := checkUnicast("virtual server", s.Address); err != nil {
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
	if s.Port == 0 && !s.Persistent {
		return errors.New("Zero port specified for non-persistent service")
	}
	if s.OnePacket && s.Protocol != UDP {
		return errors.New("One-Packet Scheduling is only for UDP virtual services")
	}
	if s.SynProxy && s.Protocol != TCP {
		return errors.New("SYN proxy is only for TCP virtual services")
	}
	if s.Persistent {
		if s.Timeout == 0 {
			s.Timeout = DefaultPersistence
		}
		if s.Timeout > MaxTimeout {
			return fmt.Errorf("invalid timeout value `%d' specified", s.Timeout)
		}
		if s.Netmask == 0 {
			s.Netmask = fullMask(s.Address)
		}
		if s.Netmask < 1 || s.Netmask > fullMask(s.Address) {
			if s.Address.Is4() {
				return errors.New("illegal virtual server persistent mask specified")
			}
			return errors.New("illegal ipv6 netmask specified")
		}
	} else {
		// The mask only matters with persistence; ipvsadm does not save it otherwise.
		s.Timeout = 0
		s.Netmask = fullMask(s.Address)
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
func checkDest(s *service, d *RealServerSpec) error {
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

// exec applies one changing command to m. It returns an error with ipvsadm's wording and leaves m
// partly changed on error: callers run it on a clone.
func (m *model) exec(c *Command) error {
	switch c.Op {
	case OpAddService, OpEditService:
		spec := c.Service
		spec.LocalAddrs = nil
		if err := checkServiceSpec(&spec); err != nil {
			return err
		}
		i := m.find(spec.ServiceKey)
		if c.Op == OpAddService {
			if i >= 0 {
				return ErrServiceExists
			}
			m.services = append(m.services, &service{ServiceSpec: spec})
			return nil
		}
		if i < 0 {
			return ErrNoService
		}
		s := m.services[i]
		spec.LocalAddrs = s.LocalAddrs
		s.ServiceSpec = spec
		for j := range s.dests {
			if err := checkDest(s, &s.dests[j]); err != nil {
				return err
			}
		}
		return checkHealthSpec(s, &s.health)
	case OpDelService:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrNoService
		}
		m.services = append(m.services[:i], m.services[i+1:]...)
		return nil
	case OpFlush:
		m.services = nil
		return nil
	case OpAddServer, OpEditServer, OpDelServer:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrServiceNotDefined
		}
		s := m.services[i]
		d := c.Server
		j := s.findDest(d.Address, d.Port)
		if c.Op != OpDelServer && s.health.Sorry.IsValid() && s.health.Sorry == netip.AddrPortFrom(d.Address, d.Port) {
			return errors.New("the real server is the service's sorry server (--health --sorry)")
		}
		switch c.Op {
		case OpAddServer:
			if j >= 0 {
				return ErrDestExists
			}
			if err := checkDest(s, &d); err != nil {
				return err
			}
			s.dests = append(s.dests, d)
		case OpEditServer:
			if j < 0 {
				return ErrNoDest
			}
			if err := checkDest(s, &d); err != nil {
				return err
			}
			s.dests[j] = d
		case OpDelServer:
			if j < 0 {
				return ErrNoDest
			}
			s.dests = append(s.dests[:j], s.dests[j+1:]...)
		}
		return nil
	case OpHealth:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrNoService
		}
		var h HealthSpec
		if c.Health != nil {
			h = *c.Health
		}
		h.fillDefaults()
		if err := checkHealthSpec(m.services[i], &h); err != nil {
			return err
		}
		m.services[i].health = h
		return nil
	case OpSet:
		t := c.Timeouts
		for _, v := range []uint32{t.TCP, t.TCPFin, t.UDP} {
			if v > MaxTimeout {
				return fmt.Errorf("invalid timeout value `%d' specified", v)
			}
		}
		// As in IPVS, zero leaves a timeout as it is.
		if t.TCP != 0 {
			m.timeouts.TCP = t.TCP
		}
		if t.TCPFin != 0 {
			m.timeouts.TCPFin = t.TCPFin
		}
		if t.UDP != 0 {
			m.timeouts.UDP = t.UDP
		}
		return nil
	case OpAddLaddr, OpDelLaddr:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrNoService
		}
		if err := checkUnicast("local", c.LocalAddr); err != nil {
			return err
		}
		s := m.services[i]
		k := -1
		for j, a := range s.LocalAddrs {
			if a == c.LocalAddr {
				k = j
			}
		}
		if c.Op == OpAddLaddr {
			if k >= 0 {
				return ErrLaddrExists
			}
			s.LocalAddrs = append(s.LocalAddrs, c.LocalAddr)
		} else {
			if k < 0 {
				return ErrNoLaddr
			}
			s.LocalAddrs = append(s.LocalAddrs[:k], s.LocalAddrs[k+1:]...)
		}
		return nil
	}
	return fmt.Errorf("command %q does not change the configuration", c.Op)
}

// snapshot builds the immutable dataplane configuration from m with the health of hs (nil: every
// server up): a real server that is down gets weight 0 or, with on-fail remove, is left out; the
// sorry server is added with weight 1 while no real server is up.
func (m *model) snapshot(hs *healthState) *control.Snapshot {
	sn := &control.Snapshot{
		Services: make([]control.Service, 0, len(m.services)),
		Timeouts: control.Timeouts{
			TCP:    secs(m.timeouts.TCP),
			TCPFin: secs(m.timeouts.TCPFin),
			UDP:    secs(m.timeouts.UDP),
		},
	}
	for _, s := range m.services {
		ds := control.Service{
			Key:         s.dataplane(),
			Scheduler:   s.Scheduler,
			Flags:       s.SchedFlags,
			Netmask:     netip.PrefixFrom(unspecified(s.Address), s.Netmask),
			LocalAddrs:  append([]netip.Addr(nil), s.LocalAddrs...),
			RealServers: make([]control.RealServer, 0, len(s.dests)+1),
		}
		if s.Persistent {
			ds.Flags |= control.ServicePersistent
			ds.Persistence = secs(s.Timeout)
		}
		if s.OnePacket {
			ds.Flags |= control.ServiceOnePacket
		}
		ds.Policy = s.Policy
		if s.SynProxy {
			ds.Flags |= control.ServiceSynProxy
		}
		for _, d := range s.dests {
			w, in := s.effective(hs, &d)
			if !in {
				continue
			}
			ds.RealServers = append(ds.RealServers, control.RealServer{
				Addr:           d.Address,
				Port:           d.Port,
				Forward:        control.ForwardMethod(d.Forward),
				Weight:         w,
				UpperThreshold: d.UThreshold,
				LowerThreshold: d.LThreshold,
			})
		}
		if s.sorryActive(hs) {
			h := &s.health
			ds.RealServers = append(ds.RealServers, control.RealServer{
				Addr:    h.Sorry.Addr(),
				Port:    h.Sorry.Port(),
				Forward: control.ForwardMethod(h.SorryForward),
				Weight:  1,
			})
		}
		sn.Services = append(sn.Services, ds)
	}
	return sn
}

func unspecified(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
