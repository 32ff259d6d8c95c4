package dataplane

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/xdpvs/xdpvs/conntrack"
)

// stamp sets counters of every kind in c, at both ends of its arrays, to n: a copy whose fields
// differ was torn.
func stamp(c *counters, n uint64) {
	c.rx, c.tx, c.drops[NumDropReasons-1] = n, n, n
	c.svc[0].Conns, c.svc[MaxServices-1].OutBytes = n, n
	c.dest[0].InPkts, c.dest[MaxDests-1].InBytes, c.synTimeouts[MaxDests-1] = n, n, n
	c.active[MaxDests-1] = int64(n)
}

// stamped returns the value stamp wrote into c, or false if its fields differ.
func stamped(c *counters) (uint64, bool) {
	n := c.rx
	ok := c.tx == n && c.drops[NumDropReasons-1] == n && c.svc[0].Conns == n && c.svc[MaxServices-1].OutBytes == n &&
		c.dest[0].InPkts == n && c.dest[MaxDests-1].InBytes == n && c.synTimeouts[MaxDests-1] == n && c.active[MaxDests-1] == int64(n)
	return n, ok
}

// TestBoardNeverTorn: readers acquiring a worker's published counters while it publishes as fast
// as it can never see a torn copy, nor one older than a copy they saw before (with -race: and no
// data race between the worker's copying and the readers).
func TestBoardNeverTorn(t *testing.T) {
	var b board
	var c counters
	const rounds = 3000
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := uint64(0)
			for !stop.Load() {
				x := b.acquire()
				if x == nil {
					continue
				}
				n, ok := stamped(&x.c)
				at, conns := x.at, x.conns
				x.release()
				if !ok || at != int64(n) || conns != int(n) {
					t.Errorf("torn copy: %+v at %d conns %d", n, at, conns)
					return
				}
				if n < last {
					t.Errorf("went back from %d to %d", last, n)
					return
				}
				last = n
				reads.Add(1)
			}
		}()
	}
	skipped := 0
	for n := uint64(1); n <= rounds; n++ {
		stamp(&c, n)
		if !b.publish(&c, int(n), int64(n)) {
			skipped++
		}
	}
	stop.Store(true)
	wg.Wait()
	if x := b.acquire(); x == nil || x.c.rx == 0 {
		t.Fatal("nothing published")
	}
	t.Logf("%d reads, %d of %d publications skipped (both other copies held)", reads.Load(), skipped, rounds)
}

// TestBoardHeldCopies: a copy a reader holds is never written; with both copies other than the
// current one held, the worker publishes nothing until one is released.
func TestBoardHeldCopies(t *testing.T) {
	var b board
	var c counters
	stamp(&c, 1)
	b.publish(&c, 0, 0)
	x1 := b.acquire()
	stamp(&c, 2)
	b.publish(&c, 0, 0)
	x2 := b.acquire()
	stamp(&c, 3)
	if !b.publish(&c, 0, 0) {
		t.Fatal("the third copy was not used")
	}
	stamp(&c, 4)
	if b.publish(&c, 0, 0) {
		t.Fatal("published over a held copy")
	}
	if n, _ := stamped(&x1.c); n != 1 {
		t.Fatalf("held copy changed to %d", n)
	}
	if n, _ := stamped(&x2.c); n != 2 {
		t.Fatalf("held copy changed to %d", n)
	}
	if x := b.acquire(); x.c.rx != 3 {
		t.Fatalf("current copy %d, want 3", x.c.rx)
	} else {
		x.release()
	}
	x1.release()
	if !b.publish(&c, 0, 0) {
		t.Fatal("a released copy was not reused")
	}
	if n, _ := stamped(&x2.c); n != 2 {
		t.Fatalf("held copy changed to %d", n)
	}
	x2.release()
}

// BenchmarkPublish is a worker's cost of publishing its counters once.
func BenchmarkPublish(b *testing.B) {
	var bd board
	c := new(counters)
	for b.Loop() {
		bd.publish(c, 0, 0)
	}
	b.ReportMetric(float64(unsafe.Sizeof(*c)), "bytes/copy")
}

// fillTable opens n connections in p's table directly (no packet), from distinct clients to
// vip4:80 and real server rs4a, each expiring at exp.
func fillTable(tb testing.TB, p *Pipeline, n int, exp int64) {
	tb.Helper()
	for i := range n {
		o := tuple(tcp, netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff), vip4, 80)
		r := tuple(tcp, rs4a, 8080, o.SrcAddr.Netip(), o.SrcPort)
		id, res := p.table.Insert(&o, &r, exp)
		if res != conntrack.Inserted {
			tb.Fatalf("connection %d: %v", i, res)
		}
		p.table.Entry(id).State = conntrack.StateEstablished
	}
}

// TestListConnsResumes: a listing in batches, resumed at the table index where each stopped (full,
// or out of time on a fake clock that runs at every look), lists each connection present
// throughout exactly once while connections come and go between the batches, and none twice.
func TestListConnsResumes(t *testing.T) {
	e := newTestEnv(t, 4096)
	p := e.p
	fillTable(t, p, 3000, t0+3600*second)
	stay := map[netip.AddrPort]bool{}
	p.table.Range(func(id uint32, en *conntrack.Entry[connVal]) bool {
		if id%3 != 0 {
			stay[netip.AddrPortFrom(en.Tuples[0].SrcAddr.Netip(), en.Tuples[0].SrcPort)] = true
		}
		return true
	})
	var clock int64
	tick := func() int64 { clock += 7; return clock } // a batch ends after 1 to 3 looks
	seen := map[netip.AddrPort]int{}
	next, batches, added := uint32(0), 0, 0
	for end := false; !end; batches++ {
		var out []ConnInfo
		out, next, end = p.listConns(make([]ConnInfo, 0, 100), next, t0, clock+7*int64(1+batches%3), tick)
		for _, c := range out {
			seen[c.Client]++
		}
		// Between batches: a connection goes (one of those not staying), another comes.
		var gone uint32
		p.table.Range(func(id uint32, en *conntrack.Entry[connVal]) bool {
			if id%3 == 0 && !stay[netip.AddrPortFrom(en.Tuples[0].SrcAddr.Netip(), en.Tuples[0].SrcPort)] {
				gone = id
				return false
			}
			return true
		})
		p.table.Delete(gone)
		o := tuple(udp, cip4, uint16(2000+batches), vip4, 53)
		r := tuple(udp, rs4b, 5353, cip4, o.SrcPort)
		if _, res := p.table.Insert(&o, &r, t0+second); res == conntrack.Inserted {
			added++
		}
	}
	for c := range stay {
		if seen[c] != 1 {
			t.Fatalf("%v listed %d times", c, seen[c])
		}
	}
	for c, n := range seen {
		if n != 1 {
			t.Fatalf("%v listed %d times", c, n)
		}
	}
	if batches < 4096/(3*listCheck) {
		t.Fatalf("%d batches", batches)
	}
	t.Logf("%d batches, %d listed, %d connections added meanwhile", batches, len(seen), added)
}

// TestListConnsBudget: with a million connections in a worker's table, a listing's batch stops at
// its deadline, read every listCheck entries, whatever the table's size (the whole list took the
// worker hundreds of milliseconds in one go). With a clock that moves a quarter of the budget at each
// reading, no batch examines more than five readings' worth; the real durations are reported.
func TestListConnsBudget(t *testing.T) {
	const n = 1_000_000
	e := newTestEnv(t, 1<<20)
	p := e.p
	fillTable(t, p, n, t0+3600*second)
	var clockNow int64
	fake := func() int64 { clockNow += listBudget / 4; return clockNow }
	listed, batches := 0, 0
	out := make([]ConnInfo, 0, listBatch)
	for next, end := uint32(0), false; !end; batches++ {
		from := next
		clockNow = 0
		out, next, end = p.listConns(out[:0], from, t0, listBudget, fake)
		if examined := next - from; examined > 5*listCheck && !end {
			t.Fatalf("batch %d examined %d entries past its deadline (%d readings of the clock)", batches, examined, examined/listCheck)
		}
		listed += len(out)
	}
	if listed != n {
		t.Fatalf("listed %d, want %d", listed, n)
	}
	var took []time.Duration
	for next, end := uint32(0), false; !end; {
		start := time.Now()
		now := monotonic()
		out, next, end = p.listConns(out[:0], next, now, now+listBudget, monotonic)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("%d connections in %d batches (fake clock); real clock: %d batches, median %v, 99th percentile %v, longest %v (budget %v)",
		listed, batches, len(took), took[len(took)/2], took[len(took)*99/100], took[len(took)-1], time.Duration(listBudget))
}
