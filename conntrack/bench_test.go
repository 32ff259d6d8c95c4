package conntrack

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

// benchPayload is the size of the dataplane's per-connection record.
type benchPayload [4]uint32

// flow returns connection i's tuples: distinct clients (198.19.0.0/16 × ports) to one VIP, NATed
// to one of 256 real servers.
func flow(i int) (header.Tuple, header.Tuple) {
	var o header.Tuple
	o.SrcAddr = header.AddrFrom4([]byte{198, 19, byte(i >> 24), byte(i >> 16)})
	o.DstAddr = header.AddrFrom4([]byte{198, 18, 0, 10})
	o.SrcPort, o.DstPort, o.Proto = uint16(i), 80, 6
	r := header.Tuple{SrcAddr: header.AddrFrom4([]byte{198, 18, 1, byte(i)}), DstAddr: o.SrcAddr, SrcPort: 8080, DstPort: o.SrcPort, Proto: 6}
	return o, r
}

func filled(b *testing.B, n int) (*Table[benchPayload], []header.Tuple) {
	b.Helper()
	tb := New[benchPayload](n, 0, nil)
	keys := make([]header.Tuple, n)
	for i := range n {
		o, r := flow(i)
		if _, res := tb.Insert(&o, &r, int64(time.Hour)); res != Inserted {
			b.Fatalf("insert %d failed", i)
		}
		keys[i] = o
	}
	return tb, keys
}

// BenchmarkTable measures the table at 1M and 10M connections: bytes per connection (both index
// entries included), lookups that hit (random order, alternating directions) and miss, and the
// throughput of inserting a connection and expiring one.
func BenchmarkTable(b *testing.B) {
	for _, n := range []int{1 << 20, 10_000_000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			tb, keys := filled(b, n)
			per := float64(reflect.TypeFor[Entry[benchPayload]]().Size()) + float64(tb.IndexSlots()*4)/float64(n)
			rng := rand.New(rand.NewPCG(1, 2))
			order := make([]uint32, 1<<20)
			for i := range order {
				order[i] = uint32(rng.IntN(n))
			}
			b.Run("lookup_hit", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					k := &keys[order[i&(len(order)-1)]]
					if _, _, ok := tb.Lookup(k); !ok {
						b.Fatal("miss")
					}
					i++
				}
				b.ReportMetric(per, "B/conn")
			})
			b.Run("lookup_miss", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					k := keys[order[i&(len(order)-1)]]
					k.DstPort = 81 // same client, a port no connection uses
					if _, _, ok := tb.Lookup(&k); ok {
						b.Fatal("hit")
					}
					i++
				}
			})
			b.Run("insert_expire", func(b *testing.B) {
				// Steady state at n connections with a 1000 s timeout: each step is a new
				// connection, and the wheel expires the ones whose time has come (n per 1000 s).
				b.ReportAllocs()
				span := int64(1000 * time.Second)
				dt := span / int64(n)
				// Expiry comes in 250 ms ticks (n/4000 connections at a time): 1 % headroom.
				tb := New[benchPayload](n+n/100, 0, nil)
				for i := range n {
					o, r := flow(i)
					tb.Insert(&o, &r, int64(i)*dt+span)
				}
				i := n
				for b.Loop() {
					now := int64(i) * dt
					tb.Expire(now, 0)
					o, r := flow(i)
					o.SrcPort ^= uint16(i >> 24) // keep tuples distinct past 2^24
					r.DstPort = o.SrcPort
					if _, res := tb.Insert(&o, &r, now+span); res != Inserted {
						b.Fatalf("insert %d failed at %d connections", i, tb.Len())
					}
					i++
				}
			})
		})
	}
}

// TestGCPauseWithFullTable: the garbage collector's pause with a full table of a million
// connections is that of an empty one: entries hold no pointers, so the GC never scans them.
func TestGCPauseWithFullTable(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table of a million connections")
	}
	pause := func() time.Duration {
		var best time.Duration = time.Hour
		for range 5 {
			runtime.GC()
			var st debug.GCStats
			debug.ReadGCStats(&st)
			best = min(best, st.Pause[0])
		}
		return best
	}
	empty := pause()
	tb := New[benchPayload](1<<20, 0, nil)
	for i := range 1 << 20 {
		o, r := flow(i)
		tb.Insert(&o, &r, int64(time.Hour))
	}
	full := pause()
	runtime.KeepAlive(tb)
	t.Logf("GC pause: empty heap %v, full table of %d connections %v", empty, tb.Len(), full)
	// Pauses are tens of microseconds either way; a scanned table would add milliseconds.
	if full > empty+time.Millisecond {
		t.Errorf("GC pause %v with a full table, %v without", full, empty)
	}
}
