package model

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

// ServiceKey identifies a virtual service: (protocol, VIP, port), or a firewall-mark service
// (ipvsadm -f MARK [-6]): FWMark set, Address its family's unspecified address (0.0.0.0, or ::
// with -6), Port and Protocol 0 (it takes TCP and UDP: the packets the mark rules give its mark).
type ServiceKey struct {
	Protocol Protocol   `json:"protocol"`
	Address  netip.Addr `json:"address"`
	Port     uint16     `json:"port"`
	FWMark   uint32     `json:"fwmark,omitempty"`
}

// FWMarkKey is the key of the fwmark service of mark for the family of IPv6 (-6) or IPv4.
func FWMarkKey(mark uint32, v6 bool) ServiceKey {
	if v6 {
		return ServiceKey{Address: netip.IPv6Unspecified(), FWMark: mark}
	}
	return ServiceKey{Address: netip.IPv4Unspecified(), FWMark: mark}
}

func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		if k.Address.Is6() {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Address, k.Port))
}

// DataplaneKey is the key in the dataplane's terms.
func (k ServiceKey) DataplaneKey() control.ServiceKey {
	return control.ServiceKey{Proto: uint8(k.Protocol), Addr: k.Address, Port: k.Port, FWMark: k.FWMark}
}

// MarkRule is one of xdpvs's classification rules (--add-mark, an xdpvs extension): the TCP and
// UDP packets (or those of Protocol) to an address of Dst and a destination port from PortLo to
// PortHi get mark Mark, which selects the fwmark service -f Mark, as an iptables MARK rule does
// for IPVS. The first rule that matches a packet decides, in the order they were added.
type MarkRule struct {
	Mark     uint32       `json:"mark"`
	Protocol Protocol     `json:"protocol,omitempty"` // 0: TCP and UDP
	Dst      netip.Prefix `json:"dst"`
	PortLo   uint16       `json:"port_lo"`
	PortHi   uint16       `json:"port_hi"`
}

// ServiceSpec is a virtual service as configured: deterministic and comparable but for LocalAddrs
// and LocalIfaces. SchedFlags holds only the ServiceSchedFlag bits. LocalIfaces holds the
// interface given with a local address (--add-laddr -F IFNAME, DPVS's option): the address
// belongs on it, and the daemon puts it there.
type ServiceSpec struct {
	ServiceKey
	Scheduler  string               `json:"scheduler"`
	SchedFlags control.ServiceFlags `json:"sched_flags,omitempty"`
	// MHSize (-b mh-size=N) is the number of entries of mh's table, a prime (sched.CheckMHSize);
	// 0 is the kernel's 4093 (sched.MHDefaultSize).
	MHSize     int    `json:"mh_size,omitempty"`
	Persistent bool   `json:"persistent,omitempty"`
	Timeout    uint32 `json:"persistence_timeout,omitempty"` // seconds, when Persistent
	Netmask    int    `json:"netmask"`                       // prefix length: 32 or 128 unless set by -M
	OnePacket  bool   `json:"ops,omitempty"`
	SynProxy   bool   `json:"synproxy,omitempty"`
	// ProxyProtocol is --proxy-protocol (DPVS's option): "v1" or "v2" puts a PROXY protocol header
	// at the start of the client's stream toward the (FULLNAT) real servers; "" none.
	ProxyProtocol string                `json:"proxy_protocol,omitempty"`
	Policy        control.BackendPolicy `json:"policy,omitempty"` // --policy: xdpvs's real-server change handling turned off
	// MinServers (--bgp-min-servers N) is how many real servers must be available for the VIP to
	// be announced (0: DefaultMinServers); see mgmt/announce.
	MinServers  int                   `json:"bgp_min_servers,omitempty"`
	LocalAddrs  []netip.Addr          `json:"local_addresses,omitempty"`
	LocalIfaces map[netip.Addr]string `json:"local_interfaces,omitempty"`
}

// ProxyProtocols are the versions --proxy-protocol takes.
var ProxyProtocols = []string{"v1", "v2"}

// RealServerSpec is one real server of a service as configured.
type RealServerSpec struct {
	Address    netip.Addr `json:"address"`
	Port       uint16     `json:"port"`
	Forward    Forward    `json:"forward"`
	Weight     uint32     `json:"weight"`
	UThreshold uint32     `json:"u_threshold,omitempty"`
	LThreshold uint32     `json:"l_threshold,omitempty"`
}

// DefaultMinServers is a service's --bgp-min-servers unless set: its VIP is announced while at
// least one real server is available. MaxMinServers bounds it.
const (
	DefaultMinServers = 1
	MaxMinServers     = 1 << 16
)

// Timeouts are the connection timeouts in seconds (`--set tcp tcpfin udp`).
type Timeouts struct {
	TCP    uint32 `json:"tcp"`
	TCPFin uint32 `json:"tcpfin"`
	UDP    uint32 `json:"udp"`
}

// DefaultTimeouts are IPVS's defaults.
var DefaultTimeouts = Timeouts{DefaultTCPTimeout, DefaultTCPFinTimeout, DefaultUDPTimeout}

// Defense is the connection tables' defence against floods (`--defense MODE [PERCENT]`, an
// xdpvs extension in the spirit of IPVS's drop_entry and secure_tcp sysctls; control.Defense says
// what it does): Mode is "auto" (engaged when a worker's table is Threshold percent full),
// "always" or "off".
type Defense struct {
	Mode      string `json:"mode"`
	Threshold int    `json:"threshold"` // percent, for auto
}

// DefaultDefense is auto at 90 %.
var DefaultDefense = Defense{Mode: "auto", Threshold: 90}

// DefenseModes are the modes --defense takes.
var DefenseModes = []string{"auto", "always", "off"}

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
	ErrMarkRuleExists    = errors.New("Mark rule already exists")
	ErrNoMarkRule        = errors.New("No such mark rule")
)
