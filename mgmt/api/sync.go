package api

import (
	"net/netip"
	"time"
)

// SyncState is `xdpvsadm show sync`: the connection-sync channel (mgmt/connsync) and what went
// through it since the daemon started. It is set when the daemon syncs (--sync-peer).
type SyncState struct {
	Listen netip.AddrPort `json:"listen"`
	// Ready tells that the joining director's bulk copy is done (every peer answered, or the join
	// timed out): what keepalived's track_script (`xdpvsadm ha ready`) and the announcement gate read.
	Ready   bool       `json:"ready"`
	Join    string     `json:"join"` // how the bulk copy went: "waiting", "done", "timed out", "no peers"
	Peers   []SyncPeer `json:"peers"`
	Drops   []Count    `json:"drops"`   // messages dropped before a peer was known (unknown_peer, malformed)
	Sent    SyncFlow   `json:"sent"`    // over every peer
	Recv    SyncFlow   `json:"recv"`    // over every peer
	Exports []Count    `json:"exports"` // the dataplane's sync_* counters: exported, export_full, imported, import_*
}

// SyncPeer is one --sync-peer.
type SyncPeer struct {
	Address  netip.AddrPort `json:"address"`
	Sent     SyncFlow       `json:"sent"`
	Recv     SyncFlow       `json:"recv"`
	Drops    []Count        `json:"drops"`              // by reason: bad_auth, replay, bad_length, import_full, rate_limited, send_error
	LastRecv time.Time      `json:"last_recv,omitzero"` // last authenticated message
	LagP50   time.Duration  `json:"lag_p50_ns"`         // export on the peer → queued here, of the last 1,024 records
	LagP99   time.Duration  `json:"lag_p99_ns"`         //
	BulkSent uint64         `json:"bulk_sent"`          // bulk copies sent to it
	BulkDone time.Time      `json:"bulk_done,omitzero"` // its bulk copy to us ended
	BulkRecs uint64         `json:"bulk_records"`       // records of its bulk copies to us
	// DigestMismatch lists the services whose scheduler table digest (show digest) the peer last
	// reported differently from ours: they would pick other real servers for some flows.
	DigestMismatch []string  `json:"digest_mismatch,omitempty"`
	DigestsAt      time.Time `json:"digests_at,omitzero"` // when it last reported its digests
}

// SyncFlow counts messages, records and bytes one way.
type SyncFlow struct {
	Messages uint64 `json:"messages"`
	Records  uint64 `json:"records"`
	Bytes    uint64 `json:"bytes"`
}

// Count is a counter with its name.
type Count struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}
