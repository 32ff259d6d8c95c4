package dataplane

import "testing"

// TestPipelineStandby: a director on standby (Snapshot.Standby, xdpvsadm ha role backup) forwards
// nothing, neither a new connection's SYN nor a packet of one it holds, in either direction, and
// counts each as standby; its connections stay, and it serves them again once it is master.
func TestPipelineStandby(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	for _, s := range handshake4() {
		mustTX(t, p, s.f(t), s.port, t0)
	}
	standby := *testSnapshot()
	standby.Standby = true
	p.setConfig(mustCompile(t, &standby))
	before := *p.c
	for _, f := range []struct {
		name  string
		frame []byte
		port  int
	}{
		{"client data", dataC(c2v4).frame(t), 0},
		{"server data", dataS(r2l4).frame(t), 1},
		{"new SYN", func() pk { c := c2v4; c.sport = 40999; return syn(c) }().frame(t), 0},
	} {
		if v, _ := p.Process(f.frame, f.port, t0+second); v != VerdictDrop {
			t.Errorf("%s on standby: %s, want a drop", f.name, vname(v))
		}
	}
	if d := p.c.drops[DropStandby]; d != 3 {
		t.Errorf("standby drops %d, want 3 (counters: %s)", d, nonZero(p.c))
	}
	if p.c.tx != before.tx {
		t.Errorf("%d packets sent on standby", p.c.tx-before.tx)
	}
	if n := p.table.Len(); n != 1 {
		t.Fatalf("%d connections on standby, want the one opened before", n)
	}
	p.setConfig(mustCompile(t, testSnapshot()))
	mustTX(t, p, dataC(c2v4).frame(t), 0, t0+2*second)
	mustTX(t, p, dataS(r2l4).frame(t), 1, t0+2*second)
}
