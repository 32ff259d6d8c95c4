package model

import "net/netip"

// Op is what a command does, named after ipvsadm's long options.
type Op string

// The commands of xdpvsadm. OpHelp and OpVersion never reach the daemon.
const (
	OpAddService  Op = "add-service"
	OpEditService Op = "edit-service"
	OpDelService  Op = "delete-service"
	OpFlush       Op = "clear"
	OpList        Op = "list"
	OpAddServer   Op = "add-server"
	OpEditServer  Op = "edit-server"
	OpDelServer   Op = "delete-server"
	OpZero        Op = "zero"
	OpSet         Op = "set"
	OpDefense     Op = "defense" // --defense MODE [PERCENT]
	OpSave        Op = "save"
	OpRestore     Op = "restore"
	OpAddLaddr    Op = "add-laddr"
	OpDelLaddr    Op = "del-laddr"
	OpGetLaddr    Op = "get-laddr"
	OpAddMark     Op = "add-mark" // a mark rule (xdpvs's classification for -f services)
	OpDelMark     Op = "del-mark"
	OpHealth      Op = "health"   // --health: a service's health check
	OpShow        Op = "show"     // show VERB: one of ShowVerbs
	OpDrain       Op = "drain"    // withdraw every announcement (GRACEFUL_SHUTDOWN first), keep forwarding
	OpUndrain     Op = "undrain"  // announce again what the policy allows
	OpHARole      Op = "ha-role"  // ha role master|backup|fault: keepalived's notify tells the director its role
	OpHAReady     Op = "ha-ready" // ha ready: whether the director may take traffic (keepalived's track_script)
	OpHelp        Op = "help"
	OpVersion     Op = "version"
)

// Changes reports whether op changes the configuration (and is persisted).
func (op Op) Changes() bool {
	switch op {
	case OpAddService, OpEditService, OpDelService, OpFlush, OpAddServer, OpEditServer, OpDelServer,
		OpSet, OpDefense, OpAddLaddr, OpDelLaddr, OpHealth, OpAddMark, OpDelMark:
		return true
	}
	return false
}

// ListOptions are the output switches of -L, -S and --get-laddr.
type ListOptions struct {
	Numeric        bool `json:"numeric,omitempty"`
	Connections    bool `json:"connections,omitempty"`
	Stats          bool `json:"stats,omitempty"`
	Rate           bool `json:"rate,omitempty"`
	Timeout        bool `json:"timeout,omitempty"`
	Exact          bool `json:"exact,omitempty"`
	Thresholds     bool `json:"thresholds,omitempty"`
	PersistentConn bool `json:"persistent_conn,omitempty"`
	NoSort         bool `json:"nosort,omitempty"`
	JSON           bool `json:"json,omitempty"`
}

// Command is one parsed xdpvsadm command line; it is also what the admin tool sends to the daemon
// and what Exec runs. HasService tells whether a service (-t/-u) was given; Service holds it and, for -A/-E, its
// attributes. Server is the real server of -a/-e/-d with its port already defaulted to the service
// port.
type Command struct {
	Op         Op               `json:"op"`
	HasService bool             `json:"has_service,omitempty"`
	Service    ServiceSpec      `json:"service"`
	Server     RealServerSpec   `json:"server"`
	LocalAddr  netip.Addr       `json:"local_address,omitempty"`
	Ifname     string           `json:"ifname,omitempty"` // --add-laddr -F: the interface the local address belongs on
	Timeouts   Timeouts         `json:"timeouts"`
	Defense    Defense          `json:"defense,omitzero"` // OpDefense
	List       ListOptions      `json:"list"`
	Show       Show             `json:"show,omitempty"`    // what OpShow shows
	Health     *HealthSpec      `json:"health,omitempty"`  // OpHealth; a zero Check removes the check
	Clients    []netip.AddrPort `json:"clients,omitempty"` // show pick: the clients to pick a real server for
	Mark       MarkRule         `json:"mark,omitzero"`     // OpAddMark, OpDelMark
	Role       string           `json:"role,omitempty"`    // OpHARole: api.HAMaster, HABackup or HAFault
}

// Show is what `xdpvsadm show` lists.
type Show string

// The verbs of show.
const (
	ShowServices    Show = "services"    // the services, as -Ln
	ShowServers     Show = "servers"     // real servers with their effective weight and health
	ShowConnections Show = "connections" // as -Lnc
	ShowWorkers     Show = "workers"     // per-worker counters
	ShowQueues      Show = "queues"      // the AF_XDP socket statistics of every queue
	ShowDrops       Show = "drops"       // drops by reason
	ShowEvents      Show = "events"      // what workers did besides forwarding and dropping
	ShowSynProxy    Show = "synproxy"    // the SYN proxy's counters
	ShowHealth      Show = "health"      // the health checks and the servers' states
	ShowConfig      Show = "config"      // the configuration file: when saved, whether it holds the running configuration
	ShowDefense     Show = "defense"     // the connection tables' flood defence: its setting and what it did
	ShowBGP         Show = "bgp"         // the BGP sessions and what is announced (mgmt/announce)
	ShowDigest      Show = "digest"      // the digest of each consistent scheduler's table (sched.Digest)
	ShowPick        Show = "pick"        // the real server a service picks for given clients
	ShowSync        Show = "sync"        // the connection-sync channel: peers, messages, records, drops, lag
	ShowMarks       Show = "marks"       // the mark rules of the fwmark services (--add-mark)
	ShowHA          Show = "ha"          // the active/standby role, its changes, readiness
)

// ShowVerbs are the verbs of show, in the order the usage lists them.
var ShowVerbs = []Show{ShowServices, ShowServers, ShowConnections, ShowWorkers, ShowQueues, ShowDrops,
	ShowEvents, ShowSynProxy, ShowDefense, ShowHealth, ShowConfig, ShowBGP, ShowDigest, ShowPick, ShowSync, ShowMarks, ShowHA}

func (s Show) String() string { return string(s) }

// Workers tells whether s lists the workers' counters (the dataplane's Stats) rather than the
// services.
func (s Show) Workers() bool {
	switch s {
	case ShowWorkers, ShowQueues, ShowDrops, ShowEvents, ShowSynProxy, ShowDefense:
		return true
	}
	return false
}
