package dataplane

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// wrrSnapshot is n wrr services, each with two NAT real servers of the given weights.
func wrrSnapshot(n int, w0, w1 uint32) *Snapshot {
	s := &Snapshot{}
	for i := range n {
		vip := netip.AddrFrom4([4]byte{198, 18, 4 + byte(i>>8), byte(i)})
		s.Services = append(s.Services, Service{Key: ServiceKey{Proto: tcp, Addr: vip, Port: 80}, Scheduler: "wrr",
			RealServers: []RealServer{{Addr: rs4a, Port: 8080, Forward: ForwardMasq, Weight: w0},
				{Addr: rs4b, Port: 8080, Forward: ForwardMasq, Weight: w1}}})
	}
	return s
}

// allocated returns the bytes f allocates and how long it takes.
func allocated(f func()) (uint64, time.Duration) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc, d
}

// TestConfigChangeCost: a configuration of 1,024 wrr services with weights {1, 65535} costs a
// worker little when it takes it, and is built once for all workers: setConfig built every
// service's scheduler on every worker, inside the forwarding loop (1.1 s and 3.6 GiB allocated
// per worker per change, 767 MiB of it kept).
func TestConfigChangeCost(t *testing.T) {
	s := wrrSnapshot(MaxServices, 1, 65535)
	var c *compiled
	cb, cd := allocated(func() {
		var err error
		if c, _, err = compile(s, nil, newIDs(), 1); err != nil {
			t.Fatal(err)
		}
	})
	e := newTestEnv(t, 1024)
	w1 := e.worker(1, 2, 1024)
	wb, wd := allocated(func() { e.p.setConfig(c) })
	w1.setConfig(c)
	t.Logf("1,024 wrr services {1, 65535}: compile %v, %d KiB; a worker's setConfig %v, %d KiB", cd, cb>>10, wd, wb>>10)
	if cb > 8<<20 || wb > 2<<20 {
		t.Errorf("compile allocated %d KiB, a worker's setConfig %d KiB: want at most 8 MiB and 2 MiB", cb>>10, wb>>10)
	}
	for i := range c.svcs {
		if e.p.svcState[i].sched != w1.svcState[i].sched {
			t.Fatalf("service %d: the workers have schedulers of their own; wrr's table is shared", i)
		}
	}
	// A change of one service rebuilds that one only.
	s2 := wrrSnapshot(MaxServices, 1, 65535)
	s2.Services[7].RealServers[1].Weight = 2
	c2, _, err := compile(s2, c, newIDs(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c2.svcs {
		if same := c2.svcs[i].sched == c.svcs[i].sched; same != (i != 7) {
			t.Fatalf("service %d: scheduler carried over %v", i, same)
		}
	}
}

// TestUnchangedServiceKeepsScheduler: a change that leaves a service's scheduler, flags and real
// servers alone leaves its scheduler alone: rr goes on from where it was, instead of starting its
// rotation again at every change of any service (or health transition), and lblc remembers its
// destinations.
func TestUnchangedServiceKeepsScheduler(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	rrSvc := svc2(udp, 53, 5353, 0, 1, 1)
	lblc := Service{Key: ServiceKey{Proto: tcp, Addr: vip4, Port: 80}, Scheduler: "lblc",
		RealServers: []RealServer{{Addr: rs4a, Port: 8080, Forward: ForwardMasq, Weight: 1}}}
	ids := applyServices(t, p, newIDs(), rrSvc, lblc)
	first := udpTo(t, p, 1000, t0)
	inst := p.svcState[1].sched
	lblc.RealServers[0].Weight = 2 // the other service changes
	applyServices(t, p, ids, rrSvc, lblc)
	if second := udpTo(t, p, 1001, t0); second == first {
		t.Fatalf("rr sent the first connection after an unrelated change to %v again: its rotation restarted", second)
	}
	if p.svcState[1].sched == inst {
		t.Fatal("lblc kept its instance although its real server's weight changed")
	}
	inst = p.svcState[1].sched
	applyServices(t, p, ids, rrSvc, lblc)
	if p.svcState[1].sched != inst {
		t.Fatal("lblc's instance was rebuilt by a change that left its service alone")
	}
}

// BenchmarkConfigChange is the cost of a change to a configuration of 1,024 wrr services with
// weights {1, 65535}: compile (once, off the workers) and a worker's setConfig (its stall).
func BenchmarkConfigChange(b *testing.B) {
	s := wrrSnapshot(MaxServices, 1, 65535)
	e := newTestEnv(b, 1024)
	b.Run("compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := compile(s, nil, newIDs(), 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	c, _, err := compile(s, nil, newIDs(), 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("setConfig", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.p.setConfig(c)
		}
	})
}

// TestCompileMHSize: a service's mh table has the size configured (a new build when it changes),
// and a size that is no mh table's is refused.
func TestCompileMHSize(t *testing.T) {
	s := sloppyService("mh", ForwardRoute, 0)
	s.MHSize = 8191
	c := mustCompile(t, &Snapshot{Services: []Service{s}})
	s2 := s
	s2.MHSize = 0
	c2, _, err := compile(&Snapshot{Services: []Service{s2}}, c, newIDs(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if c2.svcs[0].sched == c.svcs[0].sched || c2.svcs[0].sched.size != 0 || c.svcs[0].sched.size != 8191 {
		t.Fatal("a new table size kept the old table")
	}
	for _, bad := range []Service{
		func() Service { b := s; b.MHSize = 8192; return b }(),
		func() Service { b := sloppyService("sh", ForwardRoute, 0); b.MHSize = 8191; return b }(),
	} {
		if _, _, err := compile(&Snapshot{Services: []Service{bad}}, nil, newIDs(), 1); err == nil {
			t.Errorf("%s with size %d accepted", bad.Scheduler, bad.MHSize)
		}
	}
}
