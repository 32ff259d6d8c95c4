package api

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Counters are traffic counters since the last -Z.
type Counters struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"inpkts"`
	OutPkts  uint64 `json:"outpkts"`
	InBytes  uint64 `json:"inbytes"`
	OutBytes uint64 `json:"outbytes"`
}

// Rates are IPVS's estimator output: per second, EWMA over 2 s samples.
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"inpps"`
	OutPPS uint64 `json:"outpps"`
	InBPS  uint64 `json:"inbps"`
	OutBPS uint64 `json:"outbps"`
}

// RealServerState is a real server with its live counters.
type RealServerState struct {
	model.RealServerSpec
	ActiveConns     uint64   `json:"active_conns"`
	InactiveConns   uint64   `json:"inactive_conns"`
	PersistentConns uint64   `json:"persistent_conns"`
	Stats           Counters `json:"stats"`
	Rate            Rates    `json:"rate"`
	// Health is set for the real servers of a health-checked service.
	Health *ServerHealth `json:"health,omitempty"`
	// Sorry marks the service's sorry server, listed while it is in use.
	Sorry bool `json:"sorry,omitempty"`
}

// ServiceState is a service with its real servers and live counters.
type ServiceState struct {
	model.ServiceSpec
	RealServers []RealServerState `json:"real_servers"`
	Stats       Counters          `json:"stats"`
	Rate        Rates             `json:"rate"`
	Health      *model.HealthSpec `json:"health,omitempty"`       // the service's health check
	SorryActive bool              `json:"sorry_active,omitempty"` // no real server up: the sorry server serves
	// NotForwarding says why the service cannot forward new connections yet
	// (model.Service.NotForwarding); empty when it can.
	NotForwarding []string `json:"not_forwarding,omitempty"`
	// TableDigest is the digest of the scheduler's table as running (sched.Digest, 16 hex digits),
	// for the consistent schedulers mh, sh and dh: directors with the same digest for a service
	// pick the same real server for every flow (show digest).
	TableDigest string `json:"table_digest,omitempty"`
}

// Pick is the real server a service's scheduler picks for a connection from Client (show pick);
// Server is zero when it picks none (no real server available).
type Pick struct {
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server,omitzero"`
}

// MaxPickClients bounds the clients of one show pick.
const MaxPickClients = 1 << 16

// Conn is one connection entry (-Lc).
type Conn struct {
	Protocol    model.Protocol `json:"protocol"`
	Client      netip.AddrPort `json:"client"`
	Virtual     netip.AddrPort `json:"virtual"`
	Local       netip.AddrPort `json:"local,omitzero"`
	Destination netip.AddrPort `json:"destination"`
	State       string         `json:"state"`
	Expires     uint32         `json:"expires"` // seconds
}

// State is the answer to a listing: the services (in configuration order), timeouts and, when
// asked for, connections.
type State struct {
	Services    []ServiceState   `json:"services"`
	MarkRules   []model.MarkRule `json:"mark_rules,omitempty"` // xdpvs's classification for fwmark services
	Timeouts    model.Timeouts   `json:"timeouts"`
	Defense     model.Defense    `json:"defense"`
	Connections []Conn           `json:"connections,omitempty"`
	Workers     []WorkerStats    `json:"workers,omitempty"` // show workers, queues, drops, events, synproxy
	Config      *ConfigStatus    `json:"config,omitempty"`  // show config
	BGP         *BGPState        `json:"bgp,omitempty"`     // show bgp
	Picks       []Pick           `json:"picks,omitempty"`   // show pick
	Sync        *SyncState       `json:"sync,omitempty"`    // show sync
	HA          *HAState         `json:"ha,omitempty"`      // show ha
	// WorkerChoice is how the daemon chose its number of workers (--workers auto: from the
	// interfaces' queues and the CPUs), with show workers.
	WorkerChoice string `json:"worker_choice,omitempty"`
}

// ConfigStatus is the state of the daemon's configuration file (show config): where it is, when
// it was last saved, the saves that failed, and whether it holds the running configuration.
type ConfigStatus struct {
	Path         string    `json:"path"`           // empty: no file (xdpvsd --config), nothing survives a restart
	Saved        time.Time `json:"saved,omitzero"` // last written by the daemon, or modified when it was loaded
	SaveFailures uint64    `json:"save_failures"`  // changes refused because they could not be saved, and previous files not put back
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	// Differs tells that the file, read now, is not the running configuration: a restart would
	// load another one (Reason says why).
	Differs bool   `json:"differs"`
	Reason  string `json:"reason,omitempty"`
}

func cmpAddr(a, b netip.Addr) int {
	// IPv4 first, as IPVS sorts by address family.
	if a.Is4() != b.Is4() {
		if a.Is4() {
			return -1
		}
		return 1
	}
	return a.Compare(b)
}

// SortState orders services and real servers as ipvsadm does (ipvs_cmp_services, ipvs_cmp_dests):
// by address family, protocol, address, port. Listings (-L) are sorted so.
func SortState(st *State) {
	SortServices(st)
	for i := range st.Services {
		slices.SortStableFunc(st.Services[i].RealServers, func(a, b RealServerState) int {
			return cmp.Or(cmpAddr(a.Address, b.Address), cmp.Compare(a.Port, b.Port))
		})
	}
}

// SortServices orders the services as SortState does and leaves each service's real servers in
// configuration order, which is what -S and the configuration file keep: sh and dh fill their
// buckets in that order (as IPVS, which lists real servers in insertion order), so a sorted
// restore would move clients between servers.
func SortServices(st *State) {
	slices.SortStableFunc(st.Services, func(a, b ServiceState) int {
		return cmp.Or(
			cmp.Compare(a.FWMark, b.FWMark), // as ipvs_cmp_services: the fwmark services after the others
			cmpAddr4(a.Address, b.Address),
			cmp.Compare(a.Protocol, b.Protocol),
			a.Address.Compare(b.Address),
			cmp.Compare(a.Port, b.Port))
	})
}

func cmpAddr4(a, b netip.Addr) int {
	if a.Is4() == b.Is4() {
		return 0
	}
	if a.Is4() {
		return -1
	}
	return 1
}

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

// StateOf is the configuration of m as listed, without counters, rates or health: what -S
// writes (cli.WriteRules) and the daemon's listings start from.
func StateOf(m *model.Model) *State {
	st := &State{Timeouts: m.Timeouts(), Defense: m.Defense(), Services: make([]ServiceState, len(m.Services())),
		MarkRules: slices.Clone(m.MarkRules())}
	for i, s := range m.Services() {
		ss := ServiceState{ServiceSpec: s.ServiceSpec, RealServers: make([]RealServerState, len(s.Dests)),
			NotForwarding: s.NotForwarding()}
		ss.LocalAddrs = slices.Clone(s.LocalAddrs)
		if s.Health.Enabled() {
			h := s.Health
			ss.Health = &h
		}
		for j, d := range s.Dests {
			ss.RealServers[j] = RealServerState{RealServerSpec: d}
		}
		st.Services[i] = ss
	}
	return st
}
