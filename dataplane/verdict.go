package dataplane

import "github.com/xdpvs/xdpvs/conntrack"

// Verdict is what becomes of a packet.
type Verdict uint8

const (
	VerdictDrop    Verdict = iota // counted under a DropReason and returned to the free frames
	VerdictTX                     // rewritten in place, to be sent on the returned port
	VerdictHandoff                // belongs to a connection owned by another worker
	// VerdictHandoffFragment is a fragment gathered here (frag.go), for the returned worker, which
	// owns its datagram's connection: it is processed there as gathered (ProcessGatheredAt), never
	// handed on.
	VerdictHandoffFragment
	VerdictConsumed // copied and kept by the pipeline (a fragment held until its first): the frame is free
)

// DropReason says why a packet was dropped; each has its own counter. Malformed headers are counted
// per header.ParseResult instead.
type DropReason uint8

const (
	DropFragment            DropReason = iota // an IP fragment of a protocol other than TCP and UDP
	DropVLAN                                  // VLAN-tagged frames are not supported yet
	DropMappedAddr                            // IPv6 with IPv4-mapped addresses, or an ICMP quote of the other family
	DropProto                                 // neither TCP, UDP nor an ICMP error
	DropNoService                             // no service and no connection for the packet
	DropNoConn                                // not a connection's first packet (TCP without SYN) and no entry
	DropNoDest                                // the scheduler found no available real server
	DropTableFull                             // the connection table is full
	DropNoLocalPort                           // FULLNAT: no local address of the real server's family yet, or every local port of them taken (this worker's share)
	DropNoRoute                               // no route to the real server or the client
	DropNeighMiss                             // next hop's MAC not resolved yet (resolution requested)
	DropICMPNoConn                            // an ICMP error that quotes no known connection
	DropICMPNAT64                             // an ICMP error of a NAT64 connection of a type RFC 7915 does not translate
	DropDestGone                              // a reply on a connection whose real server was removed (the connection is expired)
	DropHandoffFull                           // the owner's hand-off ring was full
	DropHandoffLoop                           // a handed-over packet that belongs to yet another worker
	DropTXFull                                // the egress TX ring was full
	DropNoHeadroom                            // no room before the packet for a tunnel header (Process without headroom)
	DropTooBig                                // tunnelled, it would exceed the MTU: the client was sent an ICMP error (unless it was one)
	DropTooBigNoDF                            // tunnelled, it would exceed the MTU and may be fragmented, but has IPv4 options (we fragment only without)
	DropSynProxySYN                           // SYN proxy: a SYN that could not be answered (malformed, bad checksum)
	DropSynProxyCookie                        // SYN proxy: a client segment without connection that is not a valid cookie ACK
	DropSynProxyHeld                          // SYN proxy: a client segment held back until the real server answers
	DropSynProxyNoSlot                        // SYN proxy: every pending-handshake slot of the worker is taken
	DropSynProxyTooBig                        // SYN proxy: a client segment too big to store for the replay
	DropSynProxySynAck                        // SYN proxy: the real server's answer to our SYN is not a SYN/ACK for it
	DropSynProxyMalformed                     // SYN proxy: a segment whose sequence translation failed (malformed options)
	DropTupleTaken                            // the new connection's reply tuple belongs to another connection (NAT: same real server and client port)
	DropProbeLimit                            // the table's probe run for the tuple is at its bound (a flood of colliding tuples)
	DropFlowLogFull                           // NAT: the log of flows for the steering program is full (the worker did not drain it)
	DropSynProxySourceLimit                   // SYN proxy: the client's source holds its share of the worker's pending-handshake slots
	DropNoTunnelSource                        // TUN: the director has no address to tunnel from toward the real server (tunsrc.go)
	DropFragTableFull                         // fragments: the probe run of the datagram's entry is full of datagrams under way, or held ones of a datagram evicted (frag.go)
	DropFragTimeout                           // fragments: held for a first fragment that did not come in time
	DropFragOverlap                           // fragments: data overlapping the datagram's (RFC 5722), or past its end; the datagram is dropped
	DropFragOversize                          // fragments: data beyond 65,535 bytes
	DropFragTooMany                           // fragments: more than fragMaxFrags of one datagram, or too many disjoint ranges; the datagram is dropped
	DropFragBadLength                         // fragments: empty, or not the last and not a multiple of 8 bytes
	DropFragBufferFull                        // fragments: no room in the pool to hold one that came before its first; the datagram is dropped
	DropFragNoFirst                           // fragments: a later fragment whose datagram's first was dropped or never came here
	DropFragDatagramDropped                   // fragments: one of a datagram already dropped
	DropFragUnsupported                       // fragments: of a SYN-proxied connection; NAT64 ones with extension headers after the fragment header, or IPv4 UDP without checksum
	DropProxyProto                            // FULLNAT: a client segment or datagram that cannot take its PROXY protocol header (MTU, malformed)
	DropStandby                               // the director is on standby (Snapshot.Standby: xdpvsadm ha role backup|fault) and forwards nothing
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{
	"fragment", "vlan", "mapped_address", "unsupported_proto", "no_service", "no_conn", "no_dest", "table_full", "no_local_port",
	"no_route", "neigh_miss", "icmp_no_conn", "icmp_nat64", "dest_gone", "handoff_full", "handoff_loop", "tx_full", "no_headroom", "too_big", "too_big_no_df",
	"synproxy_syn", "synproxy_bad_cookie", "synproxy_held", "synproxy_no_slot", "synproxy_too_big", "synproxy_bad_synack", "synproxy_malformed",
	"tuple_taken", "probe_limit", "flow_log_full", "synproxy_source_limit", "no_tunnel_source",
	"frag_table_full", "frag_timeout", "frag_overlap", "frag_oversize", "frag_too_many", "frag_bad_length", "frag_buffer_full",
	"frag_no_first", "frag_dropped_datagram", "frag_unsupported",
	"proxy_protocol", "standby",
}

// insertDrops is the drop reason of each failed conntrack.Insert.
var insertDrops = [...]DropReason{conntrack.Full: DropTableFull, conntrack.Exists: DropTupleTaken, conntrack.ProbeLimit: DropProbeLimit}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}
