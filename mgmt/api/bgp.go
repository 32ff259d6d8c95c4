package api

import (
	"net/netip"
	"time"
)

// BGPState is `xdpvsadm show bgp`: what the director announces, to whom, and why a prefix is not
// announced (mgmt/announce's policy). It is set when the daemon runs a speaker (--bgp-as) or
// exports routes (--export-table).
type BGPState struct {
	AS          uint32     `json:"as,omitempty"`
	RouterID    netip.Addr `json:"router_id,omitzero"`
	HoldSeconds uint32     `json:"hold_seconds,omitempty"`
	ExportTable int        `json:"export_table,omitempty"` // kernel routing table the prefixes are written to
	Routed      bool       `json:"routed,omitempty"`       // routed mode: blackhole routes guard the VIPs
	// Announcing tells that the dataplane may be announced at all; Down says why not (a
	// detached program, a stalled worker, a drain).
	Announcing bool        `json:"announcing"`
	Down       string      `json:"down,omitempty"`
	Draining   bool        `json:"draining"`
	DrainUntil time.Time   `json:"drain_until,omitzero"` // end of the GRACEFUL_SHUTDOWN period
	Peers      []BGPPeer   `json:"peers"`
	Prefixes   []BGPPrefix `json:"prefixes"`
	// Announcements and Withdrawals count the prefixes' transitions since the daemon started.
	Announcements uint64 `json:"announcements"`
	Withdrawals   uint64 `json:"withdrawals"`
}

// BGPPeer is one session of the speaker.
type BGPPeer struct {
	Address    netip.Addr `json:"address"`
	AS         uint32     `json:"as"`
	State      string     `json:"state"`          // idle, connect, active, opensent, openconfirm, established
	Since      time.Time  `json:"since,omitzero"` // established since
	Advertised uint64     `json:"advertised"`     // prefixes sent to it
	LastError  string     `json:"last_error,omitempty"`
}

// BGPPrefix is one prefix the policy decides on: a VIP, or a FULLNAT local address.
type BGPPrefix struct {
	Prefix           netip.Prefix `json:"prefix"`
	Kind             string       `json:"kind"` // "vip", "laddr" or "standby-laddr" (a peer's, held for connection sync)
	Announced        bool         `json:"announced"`
	GracefulShutdown bool         `json:"graceful_shutdown,omitempty"`
	Reason           string       `json:"reason,omitempty"` // why it is not announced
	Since            time.Time    `json:"since"`            // of its last change
	Announcements    uint64       `json:"announcements"`
	Withdrawals      uint64       `json:"withdrawals"`
	Services         []string     `json:"services"` // the services that use it
}
