// Package control is the contract between mgmt and the dataplane: the Control interface and the
// immutable Snapshot it applies, the statistics it reports and the connections it lists. It
// imports only the standard library, so that mgmt depends on nothing of the packet path.
package control

import (
	"net/netip"
	"time"
)

// Control is everything mgmt may ask of the dataplane. mgmt builds an immutable Snapshot and hands it
// over with Apply; workers pick it up between batches. Stats and Connections read per-worker state
// without stopping a worker for longer than a batch.
type Control interface {
	// Apply validates and publishes a new configuration. An error leaves the previous one in force.
	Apply(s *Snapshot) error
	// Stats returns the counters summed over all workers, per service and real server, and per
	// worker, as the workers last published them (every 100 ms while they forward): each worker's
	// are one moment of its counters, never torn nor behind an earlier answer. It never waits for a
	// worker.
	Stats() *Stats
	// Connections lists the connection entries, worker after worker, in batches: it calls yield
	// with each batch (the caller's to keep) until every entry is listed or yield returns false.
	// A worker lists one batch between two of its packet batches, so that a listing never holds up
	// forwarding for longer than a batch (a batch is at most 512 entries and 50 µs of a worker's
	// time). Connections opened or closed meanwhile may be listed or not. An error means the
	// listing is incomplete: a worker did not answer.
	Connections(yield func([]ConnInfo) bool) error
	// AddAddress puts address a (a host prefix) on the interface ifname unless it has it already,
	// as DPVS puts a FULLNAT local address on the interface `--add-laddr -F IFNAME` names, so that
	// the real servers on that link resolve it; added tells whether it did. An interface the
	// dataplane does not forward on is an error that names the ones it does.
	AddAddress(ifname string, a netip.Addr) (added bool, err error)
	// RemoveAddress takes address a off the interface ifname again (an address AddAddress added).
	RemoveAddress(ifname string, a netip.Addr) error
}

// ForwardMethod is how a packet reaches a real server, named as ipvsadm names it.
type ForwardMethod uint8

const (
	ForwardMasq    ForwardMethod = iota // NAT (-m): DNAT in, SNAT on the reply
	ForwardRoute                        // DR (-g): destination MAC rewrite only
	ForwardTunnel                       // TUN (-i): IPIP / IPv6-in-IPv6
	ForwardFullNAT                      // FULLNAT (-b): source to LIP:lport, destination to RIP:rport
)

func (m ForwardMethod) String() string {
	switch m {
	case ForwardMasq:
		return "Masq"
	case ForwardRoute:
		return "Route"
	case ForwardTunnel:
		return "Tunnel"
	case ForwardFullNAT:
		return "FullNat"
	}
	return "Unknown"
}

// ServiceFlags are IPVS's IP_VS_SVC_F_* flags plus DPVS's synproxy flag.
type ServiceFlags uint32

const (
	ServicePersistent ServiceFlags = 0x0001 // -p
	ServiceHashed     ServiceFlags = 0x0002
	ServiceOnePacket  ServiceFlags = 0x0004 // -o / --ops
	ServiceSchedFlag1 ServiceFlags = 0x0008 // sh-fallback, mh-fallback
	ServiceSchedFlag2 ServiceFlags = 0x0010 // sh-port, mh-port
	ServiceSchedFlag3 ServiceFlags = 0x0020
	ServiceSynProxy   ServiceFlags = 0x8000 // -j (DPVS)
)

// ServiceKey identifies a virtual service. Proto is an IP protocol number (6 TCP, 17 UDP). A
// firewall-mark service (ipvsadm -f) has FWMark set, Addr the unspecified address of its family
// (0.0.0.0 or ::), Port and Proto 0: it takes the TCP and UDP packets the MarkRules give its mark.
type ServiceKey struct {
	Proto  uint8
	Addr   netip.Addr
	Port   uint16
	FWMark uint32
}

// MarkRule gives the mark Mark to the TCP and UDP packets (Proto 0; or only those of Proto) to an
// address of Dst and a destination port from PortLo to PortHi: xdpvs's classification, in place of
// the netfilter mark an XDP program cannot see. The first rule that matches a packet decides.
type MarkRule struct {
	Mark           uint32
	Proto          uint8
	Dst            netip.Prefix
	PortLo, PortHi uint16
}

// Limits of the mark rules: how many, and how many (protocol, address, port) endpoints they may
// cover together (a port range covering every port counts once per address and protocol), which
// the steering program is given one by one.
const (
	MaxMarkRules     = 256
	MaxMarkEndpoints = 16384
)

// Snapshot is the whole configuration the dataplane runs with. It is never modified once applied.
type Snapshot struct {
	Services  []Service
	MarkRules []MarkRule
	Timeouts  Timeouts
	Defense   Defense
	// StandbyLocalAddrs are FULLNAT local addresses of peer directors (connection sync): packets
	// to them are taken for the connections synced from those peers, and no connection is ever
	// given one of their ports here.
	StandbyLocalAddrs []netip.Addr
	// Standby is a director that must not take traffic (active/standby: xdpvsadm ha role backup
	// or fault): every packet the steering program hands the workers is dropped (counted as
	// standby), none forwarded, none answered; the connections in the tables stay, to be served
	// again when the director becomes master.
	Standby bool
}

// Defense is the connection tables' defence against floods of connections that never become real
// (spoofed SYNs, one-datagram UDP floods), in the spirit of IPVS's drop_entry and secure_tcp: under
// pressure, connections not yet assured (a TCP handshake not completed, a UDP flow without a
// second packet or a reply) expire after DefenseTimeout instead of their state's timeout, and a
// full table makes room for a new connection by evicting the oldest of them.
type Defense struct {
	Mode DefenseMode
	// Threshold is how full a worker's table must be, in percent, for DefenseAuto to engage
	// (0: DefaultDefenseThreshold).
	Threshold int
}

// DefenseMode says when the defence is on.
type DefenseMode uint8

const (
	DefenseAuto   DefenseMode = iota // under pressure: a table at least Threshold percent full (the default)
	DefenseAlways                    // always
	DefenseOff                       // never: a full table refuses new connections (table_full)
)

// DefaultDefenseThreshold is DefenseAuto's threshold, in percent of a worker's table.
const DefaultDefenseThreshold = 90

// DefenseTimeout is how long an unassured connection lives while the defence is on.
const DefenseTimeout = 3 * time.Second

// Timeouts are the connection timeouts set by `--set tcp tcpfin udp`; zero means the default.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// Service is one virtual service with its real servers.
type Service struct {
	Key       ServiceKey
	Scheduler string // a name registered in sched
	Flags     ServiceFlags
	// Persistence is the persistence timeout (ServicePersistent set); Netmask groups clients for it
	// (IPv4: a dotted mask as ipvsadm -M takes; IPv6: a prefix length, as ipvsadm shows).
	Persistence time.Duration
	Netmask     netip.Prefix
	LocalAddrs  []netip.Addr // FULLNAT local addresses (--add-laddr)
	RealServers []RealServer
	Policy      BackendPolicy
	MHSize      int // mh: the entries of its table, a prime (-b mh-size=N); 0: the kernel's 4093
	// ProxyProtocol puts a PROXY protocol header of this version at the start of the client's
	// stream toward FULLNAT real servers (--proxy-protocol, DPVS's option).
	ProxyProtocol ProxyProtocol
}

// ProxyProtocol is a PROXY protocol version (HAProxy's proxy-protocol.txt): none, v1 (text, TCP)
// or v2 (binary; for UDP, on the first datagram of a flow).
type ProxyProtocol uint8

const (
	ProxyProtocolOff ProxyProtocol = iota
	ProxyProtocolV1
	ProxyProtocolV2
)

// BackendPolicy turns off, per service, how xdpvs handles real-server changes where IPVS's defaults
// are known to hurt; the zero value is xdpvs's behaviour:
//
//   - the connections of a removed real server are expired, not black-holed: the next packet of
//     a UDP flow is scheduled afresh at once, a TCP client is dropped and reconnects (IPVS's
//     expire_nodest_conn);
//   - a SYN that reuses the tuple of a TIME_WAIT or CLOSE connection is scheduled afresh rather
//     than sent to the old server (IPVS's conn_reuse_mode);
//   - a quiescent (weight 0) server drains: persistence no longer sends it new connections
//     (IPVS's expire_quiescent_template);
//   - a TCP segment without a connection that is not a SYN (nor an RST) is scheduled and opens an
//     ESTABLISHED connection, when the service's scheduler is consistent (mh, sh, dh) and the real
//     server it picks is DR or TUN (IPVS's sloppy_tcp): after an ECMP change moves a flow from
//     another director, this one picks the same real server and the flow goes on. NAT and FULLNAT
//     cannot (their replies and local ports belong to the director that opened the connection);
//   - established connections are forwarded by the XDP fast path (xdpvsd --fast-path) rather
//     than by the workers.
type BackendPolicy uint8

const (
	KeepRemovedConns   BackendPolicy = 1 << iota // go on forwarding to a removed real server
	NoConnReuse                                  // a SYN reusing a finished connection goes to its old server
	PersistToQuiescent                           // persistence templates still choose a weight-0 server
	NoSloppy                                     // only a SYN opens a TCP connection, as IPVS without sloppy_tcp
	NoFastPath                                   // every packet of its connections goes through the workers
)

// RealServer is one destination of a service.
type RealServer struct {
	Addr           netip.Addr
	Port           uint16
	Forward        ForwardMethod
	Weight         uint32 // 0..65535; 0 = quiescent
	UpperThreshold uint32 // -x, 0 = none
	LowerThreshold uint32 // -y, 0 = none
}

// Counters are the traffic counters IPVS keeps per service and real server.
type Counters struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// Add adds o to c.
func (c *Counters) Add(o *Counters) {
	c.Conns += o.Conns
	c.InPkts += o.InPkts
	c.OutPkts += o.OutPkts
	c.InBytes += o.InBytes
	c.OutBytes += o.OutBytes
}

// RealServerStats are one real server's counters and connection counts.
type RealServerStats struct {
	Addr            netip.Addr
	Port            uint16
	Counters        Counters
	ActiveConns     uint64
	InactiveConns   uint64
	PersistentConns uint64
	// SynTimeouts counts connections that expired waiting for the real server's SYN/ACK: the
	// data path's sign of a dead server, for passive health checking (DPVS's dest-check).
	SynTimeouts uint64
}

// ServiceStats are one service's counters and those of its real servers.
type ServiceStats struct {
	Key         ServiceKey
	Counters    Counters
	RealServers []RealServerStats
}

// NamedCount is a counter with its name, for per-reason drops and socket statistics.
type NamedCount struct {
	Name  string
	Count uint64
}

// WorkerStats are one worker's counters.
type WorkerStats struct {
	ID, Queue, CPU int
	RXPackets      uint64
	TXPackets      uint64
	HandoffsOut    uint64 // packets handed to the worker owning their connection
	HandoffsIn     uint64
	Conns          uint64 // entries in this worker's connection table
	Drops          []NamedCount
	Events         []NamedCount // what is neither a drop nor a packet: connections reopened, ...
	Sockets        []NamedCount // XDP_STATISTICS per interface, "IF/rx_dropped" and so on
}

// Stats is what Control.Stats returns.
type Stats struct {
	Services []ServiceStats
	Workers  []WorkerStats
}

// ConnInfo is one connection, as `ipvsadm -Lnc` lists it.
type ConnInfo struct {
	Proto   uint8
	Client  netip.AddrPort
	Virtual netip.AddrPort
	Local   netip.AddrPort // FULLNAT only
	Dest    netip.AddrPort
	State   string // IPVS's names: ESTABLISHED, SYN_RECV, ... or UDP, NONE
	Expires time.Duration
}
