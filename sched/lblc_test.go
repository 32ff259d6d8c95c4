package sched

import (
	"slices"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

// fakeClock is the clock of lblc and lblcr in tests.
type fakeClock struct{ now int64 }

func (c *fakeClock) Now() int64              { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now += int64(d) }

func to(dstAddr string) *header.Tuple { return tcp("192.0.2.1", dstAddr, 1000) }

// step is one new connection of a scripted test: the connection counts to set first (nil keeps
// them), the time to advance first, the destination address, and the expected choice.
type step struct {
	conns   [][2]int32 // active, inactive per destination
	advance time.Duration
	dst     string
	want    int
	why     string
}

func runSteps(t *testing.T, s Scheduler, ds []Dest, clk *fakeClock, steps []step) {
	t.Helper()
	for i, st := range steps {
		for j, c := range st.conns {
			ds[j].ActiveConns, ds[j].InactiveConns = c[0], c[1]
		}
		clk.Advance(st.advance)
		if got := s.Schedule(to(st.dst), ds); got != st.want {
			t.Fatalf("step %d (%s): Schedule(%s) = %d, want %d", i, st.why, st.dst, got, st.want)
		}
	}
}

// TestLBLC replays lblc with A=2, B=2 (weights), derived by hand from ip_vs_lblc.c.
func TestLBLC(t *testing.T) {
	clk := &fakeClock{}
	ds := []Dest{dst(2, 0, 0), dst(2, 0, 0), dst(1, 0, 0)}
	s := mustScheduler(t, "lblc", Config{Dests: ds, Now: clk.Now})
	runSteps(t, s, ds, clk, []step{
		{conns: [][2]int32{{0, 0}, {0, 0}, {5, 0}}, dst: "10.0.0.1", want: 0, why: "new address: wlc, A wins the tie"},
		{conns: [][2]int32{{2, 0}, {0, 0}, {5, 0}}, dst: "10.0.0.1", want: 0, why: "A at its weight is not overloaded"},
		{dst: "10.0.0.2", want: 1, why: "new address: wlc, B (0) beats A (512)"},
		// A 3 > 2 active, and B has 0*2 < 2: overloaded. wlc: A 768*2 > B 0*2 -> B, and the entry
		// now says B.
		{conns: [][2]int32{{3, 0}, {0, 0}, {5, 0}}, dst: "10.0.0.1", want: 1, why: "A overloaded, B under half"},
		{conns: [][2]int32{{0, 0}, {1, 0}, {5, 0}}, dst: "10.0.0.1", want: 1, why: "the entry moved to B"},
		// B 3 > 2, but nobody is under half its weight (A 3*2 >= 2, B 6 >= 2, C 10 >= 1): B stays.
		{conns: [][2]int32{{3, 0}, {3, 0}, {5, 0}}, dst: "10.0.0.1", want: 1, why: "over weight, nobody under half"},
		// C (weight 1) idle: 0*2 < 1, so B is overloaded now. wlc: A 768/2, B 768*2 > 768*2 no,
		// C 768*1 > 0*2 -> C.
		{conns: [][2]int32{{3, 0}, {3, 0}, {0, 0}}, dst: "10.0.0.1", want: 2, why: "C under half its weight"},
		{conns: [][2]int32{{0, 0}, {0, 0}, {4, 0}}, dst: "10.0.0.2", want: 1, why: "10.0.0.2 kept B"},
	})
	t.Run("quiescent_and_overloaded_flag", func(t *testing.T) {
		ds[2].Weight = 0
		// 10.0.0.1 is on C, now quiescent: wlc over A and B -> A (tie).
		if got := s.Schedule(to("10.0.0.1"), ds); got != 0 {
			t.Fatalf("quiescent C: %d, want 0", got)
		}
		// 10.0.0.2 is on B, now above its upper threshold: rescheduled (a deliberate difference:
		// the kernel's lblc keeps a cached server with IP_VS_DEST_F_OVERLOAD).
		ds[1].Overloaded = true
		if got := s.Schedule(to("10.0.0.2"), ds); got != 0 {
			t.Fatalf("overloaded B: %d, want 0", got)
		}
		ds[0].Overloaded = true
		if got := s.Schedule(to("10.0.0.2"), ds); got != -1 {
			t.Fatalf("none available: %d, want -1", got)
		}
	})
}

// TestLBLCExpiry checks the ageing: the full check every 30 minutes removes the entries unused for
// 24 hours, and a full table collects those unused for 6 minutes.
func TestLBLCExpiry(t *testing.T) {
	clk := &fakeClock{}
	ds := []Dest{dst(1, 0, 0), dst(1, 0, 0)}
	s := mustScheduler(t, "lblc", Config{Dests: ds, Now: clk.Now}).(*lblc)
	pin := func(addr string, want int) {
		t.Helper()
		if got := s.Schedule(to(addr), ds); got != want {
			t.Fatalf("Schedule(%s) = %d, want %d", addr, got, want)
		}
	}
	pin("10.0.0.1", 0) // new, A
	ds[0].ActiveConns = 1
	pin("10.0.0.2", 1) // new, B
	ds[0].ActiveConns, ds[1].ActiveConns = 0, 1
	// Both cached; wlc now favours A, so a cached B shows the entry survived.
	clk.Advance(23 * time.Hour)
	pin("10.0.0.2", 1)
	clk.Advance(time.Hour) // 10.0.0.1 idle 24 h exactly, 10.0.0.2 1 h
	pin("10.0.0.3", 0)     // runs the full check: 10.0.0.1 goes (idle >= 24 h)
	if s.tab.n != 2 || s.tab.get(&to("10.0.0.1").DstAddr) >= 0 {
		t.Fatalf("after the full check: %d entries, 10.0.0.1 present: %v", s.tab.n, s.tab.get(&to("10.0.0.1").DstAddr) >= 0)
	}
	pin("10.0.0.2", 1)

	// A full table (max 4 here) first collects the entries idle for 6 minutes.
	s.tab.max = 4
	pin("10.0.0.4", 0) // .2, .3, .4
	if s.tab.n != 3 {
		t.Fatalf("%d entries, want 3", s.tab.n)
	}
	pin("10.0.0.5", 0) // full
	clk.Advance(5*time.Minute + 30*time.Second)
	pin("10.0.0.2", 1)
	pin("10.0.0.6", 0) // full, nothing idle 6 min: served without an entry
	absent := func(a string) bool { return s.tab.get(&to(a).DstAddr) < 0 }
	if s.tab.n != 4 || !absent("10.0.0.6") {
		t.Fatalf("full table: %d entries, 10.0.0.6 absent %v", s.tab.n, absent("10.0.0.6"))
	}
	clk.Advance(30 * time.Second) // .3 .4 .5 idle 6 min, but the last collection was 30 s ago
	pin("10.0.0.6", 0)
	if s.tab.n != 4 || !absent("10.0.0.6") {
		t.Fatalf("collection within a minute: %d entries, 10.0.0.6 absent %v", s.tab.n, absent("10.0.0.6"))
	}
	clk.Advance(30 * time.Second)
	pin("10.0.0.6", 0)
	if s.tab.n != 2 || absent("10.0.0.2") || absent("10.0.0.6") {
		t.Fatalf("after collection: %d entries, want 10.0.0.2 and 10.0.0.6", s.tab.n)
	}
}

// TestAddrTable drives the table through growth and deletions against a map.
func TestAddrTable(t *testing.T) {
	clk := &fakeClock{}
	tab := newAddrTable(Config{Now: clk.Now}, 5000)
	ref := map[header.Addr]int32{}
	rng := uint32(1)
	for i := range 50000 {
		rng = rng*1664525 + 1013904223
		a := header.AddrFrom4([]byte{10, byte(rng >> 28), byte(rng >> 20), byte(rng >> 12)})
		if e := tab.get(&a); e >= 0 {
			if _, ok := ref[a]; !ok || tab.ents[e].addr != a {
				t.Fatalf("op %d: found %v, not in the reference", i, a)
			}
			if rng&3 == 0 {
				tab.remove(e)
				delete(ref, a)
			}
			continue
		}
		if _, ok := ref[a]; ok {
			t.Fatalf("op %d: %v missing", i, a)
		}
		if e := tab.insert(&a, clk.now); e >= 0 {
			tab.ents[e].dest = int32(i)
			ref[a] = int32(i)
		}
	}
	if tab.n != len(ref) {
		t.Fatalf("%d entries, reference %d", tab.n, len(ref))
	}
	for a, v := range ref {
		if e := tab.get(&a); e < 0 || tab.ents[e].dest != v {
			t.Fatalf("%v: entry %d", a, e)
		}
	}
	clk.Advance(time.Hour)
	tab.collect(clk.now, time.Minute.Nanoseconds())
	if tab.n != 0 {
		t.Fatalf("%d entries after collecting all", tab.n)
	}
	for _, s := range tab.slots {
		if s != 0 {
			t.Fatal("slot left behind")
		}
	}
}

// TestLBLCR replays lblcr with A=2, B=2, C=2, derived by hand from ip_vs_lblcr.c.
func TestLBLCR(t *testing.T) {
	clk := &fakeClock{}
	ds := []Dest{dst(2, 0, 0), dst(2, 0, 0), dst(2, 0, 0)}
	s := mustScheduler(t, "lblcr", Config{Dests: ds, Now: clk.Now}).(*lblcr)
	x := to("10.0.0.1")
	set := func() []int32 { return s.set(s.tab.get(&x.DstAddr)) }
	runSteps(t, s, ds, clk, []step{
		{dst: "10.0.0.1", want: 0, why: "new: wlc, A wins the tie; set {A}"},
		// A 3 > 2 with B under half: wlc over all: B (0) -> set {B, A}.
		{conns: [][2]int32{{3, 0}, {0, 0}, {0, 0}}, advance: time.Minute, dst: "10.0.0.1", want: 1, why: "A overloaded: B added"},
		// Least of {B, A}: B 256/2, A 768/2 -> B.
		{conns: [][2]int32{{3, 0}, {1, 0}, {0, 0}}, dst: "10.0.0.1", want: 1, why: "least of the set"},
		// Least of {B, A}: B 768*2 > A 768*2 is false -> B; B 3 > 2 with C under half -> wlc:
		// A 768, B no, C 0 -> C; set {C, B, A}.
		{conns: [][2]int32{{3, 0}, {3, 0}, {0, 0}}, advance: time.Minute, dst: "10.0.0.1", want: 2, why: "B overloaded: C added"},
	})
	if got := set(); !slices.Equal(got, []int32{2, 1, 0}) {
		t.Fatalf("set %v, want [2 1 0] (newest first)", got)
	}
	lastmod := s.tab.ents[s.tab.get(&x.DstAddr)].lastmod
	// Use it every hour: C (0 active) is the least and not overloaded, the set does not change.
	for h := 1; h <= 24; h++ {
		runSteps(t, s, ds, clk, []step{{conns: [][2]int32{{3, 0}, {1, 0}, {0, 0}}, advance: time.Hour, dst: "10.0.0.1", want: 2, why: "hourly"}})
	}
	if got := set(); len(got) != 3 || clk.now-lastmod != int64(24*time.Hour) {
		t.Fatalf("set %v after exactly 24 h unchanged, want 3 members", got)
	}
	// Past 24 h: the most loaded member goes. Max of {C, B, A}: C 0, B 256*2 > 0 -> B, A 768*2 >
	// 256*2 -> A. A is erased; C is still the choice.
	clk.Advance(time.Nanosecond)
	if got := s.Schedule(x, ds); got != 2 {
		t.Fatalf("shrink step chose %d, want 2", got)
	}
	if got := set(); !slices.Equal(got, []int32{2, 1}) {
		t.Fatalf("set %v after shrinking, want [2 1]", got)
	}
	// No member available: wlc over all, added first.
	ds[2].Weight, ds[1].Overloaded = 0, true
	if got := s.Schedule(x, ds); got != 0 {
		t.Fatalf("no member available: %d, want 0", got)
	}
	if got := set(); !slices.Equal(got, []int32{0, 2, 1}) {
		t.Fatalf("set %v, want [0 2 1]", got)
	}
	ds[0].Weight = 0
	if got := s.Schedule(x, ds); got != -1 {
		t.Fatalf("nothing available: %d, want -1", got)
	}
}

// TestLBLCRSetCap checks that a set never outgrows its capacity: with 20 servers and each new
// member overloaded in turn, the set stops at 16, dropping its most loaded member.
func TestLBLCRSetCap(t *testing.T) {
	clk := &fakeClock{}
	ds := make([]Dest, 20)
	for i := range ds {
		ds[i] = dst(1, 0, 0)
	}
	s := newLBLCR(Config{Dests: ds, Now: clk.Now})
	x := to("10.0.0.1")
	for i := range 40 {
		j := s.Schedule(x, ds)
		if j < 0 {
			t.Fatalf("step %d: no destination", i)
		}
		// Overload it (2 > 1) while the idle servers are under half their weight.
		ds[j].ActiveConns = 2
		if i == 19 {
			for k := range ds {
				ds[k].ActiveConns = 0
			}
		}
	}
	if got := len(s.set(s.tab.get(&x.DstAddr))); got != lblcrMaxSet {
		t.Fatalf("set of %d, want %d", got, lblcrMaxSet)
	}
}

// TestAddrTableSpread checks that addresses differing only in their last bytes (IPv4-mapped, so the
// first eight bytes are zero) do not pile up in the index: the average probe is short.
func TestAddrTableSpread(t *testing.T) {
	tab := newAddrTable(Config{Now: (&fakeClock{}).Now}, 4096)
	for i := range 4096 {
		a := header.AddrFrom4([]byte{10, 9, byte(i >> 8), byte(i)})
		tab.insert(&a, 0)
	}
	mask := uint32(len(tab.slots) - 1)
	probes := 0
	for i, s := range tab.slots {
		if s != 0 {
			probes += int((uint32(i)-tab.ents[s-1].hash&mask)&mask) + 1
		}
	}
	if avg := float64(probes) / float64(tab.n); avg > 2 {
		t.Fatalf("average probe length %.2f over %d entries in %d slots", avg, tab.n, len(tab.slots))
	}
}
