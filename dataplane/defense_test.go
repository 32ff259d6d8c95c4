package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/control"
)

// defenseEnv is a worker with a table of capacity connections and the given defence.
func defenseEnv(t *testing.T, capacity int, d control.Defense) *testEnv {
	t.Helper()
	e := newTestEnv(t, capacity)
	s := testSnapshot()
	s.Defense = d
	e.conf = mustCompile(t, s)
	e.p.setConfig(e.conf)
	return e
}

// spoofed is the SYN of a flood from client port i (never answered by a handshake's ACK).
func spoofed(i int) pk {
	p := syn(c2v4)
	p.sport = uint16(10000 + i)
	return p
}

// TestDefenseEvictsTheFlood: a table full of a SYN flood's unassured connections takes a
// legitimate client's SYN by evicting the oldest of them; the client's handshake completes, and
// the flood that goes on never evicts it. With the defence off the client is refused.
func TestDefenseEvictsTheFlood(t *testing.T) {
	const capacity = 64
	for _, mode := range []control.DefenseMode{control.DefenseAuto, control.DefenseOff} {
		e := defenseEnv(t, capacity, control.Defense{Mode: mode})
		p := e.p
		now := t0
		for i := range capacity {
			mustTX(t, p, spoofed(i).frame(t), 0, now)
		}
		now += second
		v, _ := p.Process(syn(c2v4).frame(t), 0, now)
		if mode == control.DefenseOff {
			if v != VerdictDrop || p.c.drops[DropTableFull] != 1 {
				t.Fatalf("defence off: %s, table_full %d; want the SYN refused", vname(v), p.c.drops[DropTableFull])
			}
			continue
		}
		if v != VerdictTX || p.c.evicted != 1 {
			t.Fatalf("a legitimate SYN into a table full of a flood: %s, %d evicted", vname(v), p.c.evicted)
		}
		mustTX(t, p, synack(r2l4).frame(t), 1, now)
		mustTX(t, p, ack(c2v4).frame(t), 0, now)
		for i := capacity; i < 10*capacity; i++ { // the flood goes on
			mustTX(t, p, spoofed(i).frame(t), 0, now)
		}
		if s := stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 80)); s != conntrack.StateEstablished {
			t.Fatalf("the client's connection is %s after the flood", s)
		}
		mustTX(t, p, dataC(c2v4).frame(t), 0, now)
		if p.c.evicted != 10*capacity-capacity+1 || p.c.drops[DropTableFull] != 0 {
			t.Fatalf("%d evicted, table_full %d", p.c.evicted, p.c.drops[DropTableFull])
		}
	}
}

// TestDefenseShortTimeouts: while the defence is on, an unassured connection lives
// DefenseTimeout; an established one, or a UDP flow with a reply or a second packet, keeps its
// state's timeout. In auto mode the defence is on only from the threshold.
func TestDefenseShortTimeouts(t *testing.T) {
	short := int64(control.DefenseTimeout)
	expires := func(p *Pipeline, tu tupleArgs) int64 {
		t.Helper()
		x := tuple(tu.proto, tu.src, tu.sport, vip4, tu.dport)
		id, _, ok := p.table.Lookup(&x)
		if !ok {
			t.Fatalf("no connection %v", x)
		}
		return p.table.Entry(id).Expires() - t0
	}
	e := defenseEnv(t, 64, control.Defense{Mode: control.DefenseAlways})
	p := e.p
	for _, s := range handshake4() {
		mustTX(t, p, s.f(t), s.port, t0)
	}
	mustTX(t, p, spoofed(1).frame(t), 0, t0)
	if got := expires(p, tupleArgs{tcp, cip4, 10001, 80}); got > short+second {
		t.Errorf("unassured SYN_RECV expires in %v, want at most %v", time.Duration(got), control.DefenseTimeout)
	}
	if got := expires(p, tupleArgs{tcp, cip4, 40000, 80}); got < int64(14*time.Minute) {
		t.Errorf("an established connection expires in %v under the defence", time.Duration(got))
	}
	mustTX(t, p, c2vU4.frame(t), 0, t0) // one datagram: unassured
	if got := expires(p, tupleArgs{udp, cip4, 40001, 53}); got > short+second {
		t.Errorf("a one-datagram UDP flow expires in %v, want at most %v", time.Duration(got), control.DefenseTimeout)
	}
	mustTX(t, p, c2vU4.frame(t), 0, t0) // a second: assured
	if got := expires(p, tupleArgs{udp, cip4, 40001, 53}); got < int64(4*time.Minute) {
		t.Errorf("a UDP flow with a second datagram expires in %v", time.Duration(got))
	}
	// auto at 50 % of 64: the first 31 SYNs get SYN_RECV's minute, from the 32nd on the defence's.
	e = defenseEnv(t, 64, control.Defense{Mode: control.DefenseAuto, Threshold: 50})
	p = e.p
	for i := range 40 {
		mustTX(t, p, spoofed(i).frame(t), 0, t0)
		got := expires(p, tupleArgs{tcp, cip4, uint16(10000 + i), 80})
		if on := p.table.Len() >= 32; on != (got <= short+second) {
			t.Fatalf("SYN %d (table %d/64): expires in %v", i, p.table.Len(), time.Duration(got))
		}
	}
	p.table.Expire(t0+short+2*second, 0)
	if n := p.table.Len(); n != 31 {
		t.Errorf("%d connections left after the defence's timeout, want the 31 made below the threshold", n)
	}
}

type tupleArgs struct {
	proto        uint8
	src          netip.Addr
	sport, dport uint16
}
