package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
)

// The table's defence against floods of connections that never become real, in the spirit of
// IPVS's drop_entry and secure_tcp (control.Defense). A connection is unassured until it proves
// itself: a TCP connection until its handshake completes (NONE, SYN_RECV, SYNACK; a SYN-proxied one
// is assured from the start, its client having answered a cookie), a UDP flow until a second packet
// or a reply. While the defence is on (always, or with the table at least Threshold percent full),
// an unassured connection expires after control.DefenseTimeout rather than its state's timeout; a
// full table evicts the oldest unassured connection of a sample for each new one (conntrack's
// Evictor) instead of refusing it, unless the defence is off. So a spoofed flood cycles through the
// unassured part of the table, and a legitimate client's handshake, which completes in a round
// trip, keeps its slot. A connection opened mid-flow (sloppy.go) is unassured until the client's
// second segment.

// setDefense applies the configuration's defence to the pipeline.
func (p *Pipeline) setDefense(d *control.Defense) {
	p.defense = d.Mode
	pct := d.Threshold
	if pct <= 0 || pct > 100 {
		pct = control.DefaultDefenseThreshold
	}
	p.pressureAt = max(p.table.Cap()*pct/100, 1)
}

// defended reports whether the defence is on now.
func (p *Pipeline) defended() bool {
	return p.defense == control.DefenseAlways || (p.defense == control.DefenseAuto && p.table.Len() >= p.pressureAt)
}

// timeout is how long connection e lives after a packet in direction dir: its state's timeout, or
// the defence's while it is on and the connection unassured. A UDP flow's second packet or first
// reply assures it.
func (p *Pipeline) timeout(e *conntrack.Entry[connVal], dir conntrack.Dir) int64 {
	v := &e.Value
	if e.State == conntrack.StateUDP && !v.flags.has(connAssured) {
		v.flags.set(connAssured, dir == conntrack.DirReply || v.flags.has(connSeen))
		v.flags.set(connSeen, true)
	}
	if v.flags.has(connSloppy) {
		assureSloppy(v)
	}
	t := p.conf.timeouts[e.State]
	if p.defended() && p.unassured(e) {
		p.c.defended++
		return min(t, int64(control.DefenseTimeout))
	}
	return t
}

// unassured reports whether connection e has not proved itself yet (the table's Evictable).
func (p *Pipeline) unassured(e *conntrack.Entry[connVal]) bool {
	if p.defense == control.DefenseOff {
		return false
	}
	if e.Value.flags.has(connSloppy) {
		return true // opened mid-flow, not seen twice yet (sloppy.go)
	}
	switch e.State {
	case conntrack.StateNone, conntrack.StateSynRecv, conntrack.StateSynAck:
		return e.Tuples[0].Proto == header.ProtocolTCP && e.Value.sp == spOff
	case conntrack.StateUDP:
		return !e.Value.flags.has(connAssured)
	}
	return false
}

// evicted is the table's eviction callback: the connection goes to make room for a new one.
func (p *Pipeline) evicted(id uint32, e *conntrack.Entry[connVal]) {
	p.c.evicted++
	p.forget(id, e)
}
