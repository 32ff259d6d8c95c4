package dataplane

import (
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/conntrack"
)

// TestClosedConnectionExpiresOnTime: a connection that lived past its first wheel slot (so that it
// was re-filed at ESTABLISHED's 15 minutes) and then closes is gone after TIME_WAIT's 2 minutes,
// and its slot serves a new connection. Before the fix it stayed until its ESTABLISHED expiry, and
// a table full of closed connections refused new ones (table_full).
func TestClosedConnectionExpiresOnTime(t *testing.T) {
	e := newTestEnv(t, 1)
	p := e.p
	now := t0
	for _, s := range handshake4() {
		mustTX(t, p, s.f(t), s.port, now)
	}
	for range 10 { // ten seconds of traffic: the wheel re-files the entry at its 15-minute slot
		now += second
		mustTX(t, p, dataC(c2v4).frame(t), 0, now)
		p.table.Expire(now, 0)
	}
	mustTX(t, p, fin(c2v4).frame(t), 0, now)
	mustTX(t, p, r2l4.seg("FA", 5001, 1102, 0).frame(t), 1, now)
	mustTX(t, p, c2v4.seg("A", 1102, 5002, 0).frame(t), 0, now)
	if s := stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 80)); s != conntrack.StateTimeWait {
		t.Fatalf("state %s after the close, want TIME_WAIT", s)
	}
	closed := now
	for now < closed+int64(2*time.Minute)+2*second {
		now += second
		p.table.Expire(now, 0)
	}
	if n := p.table.Len(); n != 0 {
		t.Fatalf("%d connections left %v after TIME_WAIT began, want 0", n, time.Duration(now-closed))
	}
	// The only slot of the table is free again: a new connection opens.
	c2 := c2v4
	c2.sport++
	mustTX(t, p, syn(c2).frame(t), 0, now)
}

// TestFlowLog: a NAT connection's reply tuple is logged for the steering program when it opens
// and when it goes, in order.
func TestFlowLog(t *testing.T) {
	e := newTestEnv(t, 16)
	p := e.p
	p.flows = new(flowLog)
	for _, s := range handshake4() {
		mustTX(t, p, s.f(t), s.port, t0)
	}
	reply := tuple(tcp, rs4a, 8080, cip4, 40000)
	if p.flows.n != 1 || !p.flows.ops[0].add || p.flows.ops[0].reply != reply {
		t.Fatalf("log after a NAT handshake: %+v, want the opening of %v", p.flows.ops[:p.flows.n], reply)
	}
	p.table.Expire(t0+int64(16*time.Minute), 0)
	if p.flows.n != 2 || p.flows.ops[1].add || p.flows.ops[1].reply != reply {
		t.Fatalf("log after expiry: %+v, want the closing of %v", p.flows.ops[:p.flows.n], reply)
	}
}
