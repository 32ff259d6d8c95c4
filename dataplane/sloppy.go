package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// Sloppy TCP (IPVS's sloppy_tcp, on by default here for the services it can serve). Several
// directors behind ECMP routers share the flows of a VIP; when the routers' paths change (a
// director added, removed or drained) an established connection's next segment reaches a director
// that has no entry for it. Only a SYN opens a TCP connection otherwise, so that segment would be
// dropped and the connection stall until it resets. When the service's scheduler is consistent
// (sched.Consistent: mh, sh, dh) every director picks the same real server for the flow, and when
// that server is DR or TUN the director needs nothing of the connection but its server: the segment
// is scheduled and opens the connection ESTABLISHED (ACK, data), or moves it on from there (a FIN
// puts it in FIN_WAIT, as the state table does for an established connection). An RST never opens
// one (no_conn): it ends a connection, and there is none to end. NAT and FULLNAT cannot be served
// so (the replies and the local port belong to the director that opened the connection; the
// connection-sync channel carries those) and stay no_conn, as does every service whose policy has
// no-sloppy, and the SYN proxy's services (their segments are cookie ACKs, spForward).
//
// Only a segment with ACK (and neither SYN nor RST) does: every segment of an established
// connection carries one. A service none of whose real servers is DR or TUN is not sloppy at all,
// so that its mid-flow segments cost no scheduling. The segment of a connection expired because its
// real server was removed (BackendPolicy) is scheduled the same way, to the server that has its
// tuple now, which resets it: the client reconnects at once rather than after its retransmissions.
//
// A sloppy connection is unassured until the client's second segment: a flood of ACKs from spoofed
// sources then cycles through the evictable part of the table (defense.go) instead of filling it
// with ESTABLISHED entries for 15 minutes.

// sloppyConn handles a TCP segment other than a SYN without a connection, for service si.
func (p *Pipeline) sloppyConn(cur *cursor, si int, now int64) (Verdict, int) {
	if !p.conf.svcs[si].sloppy || cur.pkt.TCPFlags&(header.TCPFlagRst|header.TCPFlagSyn|header.TCPFlagAck) != header.TCPFlagAck {
		return p.drop(DropNoConn)
	}
	id, r, ok := p.open(&cur.pkt.Tuple, si, true, now)
	if !ok {
		return p.drop(r)
	}
	e := p.table.Entry(id)
	e.State = conntrack.StateEstablished // active from the start, as open counts it
	e.Value.flags.set(connSloppy, true)
	p.c.sloppy++
	return p.forward(cur, id, conntrack.DirOriginal, now)
}

// assureSloppy counts a segment of a sloppy connection: its second one assures it.
func assureSloppy(v *connVal) {
	if v.flags.has(connSeen) {
		v.flags.set(connSloppy, false)
	}
	v.flags.set(connSeen, true)
}
