package dataplane

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
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
