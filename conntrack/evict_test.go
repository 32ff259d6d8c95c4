package conntrack

import (
	"testing"
	"time"
)

// TestEvictUnassured: a full table makes room for a new connection by removing an unassured one,
// the oldest of those it samples; assured connections are never removed; with every connection
// assured, or eviction off, the insert fails with Full.
func TestEvictUnassured(t *testing.T) {
	const n = 1000
	tb := New[payload](n, 0, nil)
	var evicted []uint32
	tb.SetEvictor(Evictor[payload]{
		Evictable: func(e *Entry[payload]) bool { return e.Value.rs == 0 }, // rs 0: unassured
		Evicted:   func(_ uint32, e *Entry[payload]) { evicted = append(evicted, uint32(e.Tuples[0].SrcPort)) },
	})
	for p := uint16(1); p <= n; p++ {
		o, r := conn(p)
		id, res := tb.Insert(&o, &r, int64(p)*int64(time.Second))
		if res != Inserted {
			t.Fatal(res)
		}
		if p%2 == 0 {
			tb.Entry(id).Value.rs = 1 // even ports: assured
		}
	}
	for p := uint16(n + 1); p <= n+200; p++ {
		o, r := conn(p)
		if _, res := tb.Insert(&o, &r, int64(p)*int64(time.Second)); res != Inserted {
			t.Fatalf("insert %d into a full table with unassured entries: %v", p, res)
		}
	}
	if len(evicted) != 200 || tb.Evicted() != 200 || tb.Len() != n {
		t.Fatalf("%d evicted (counted %d), %d in the table", len(evicted), tb.Evicted(), tb.Len())
	}
	for _, p := range evicted {
		if p <= n && p%2 == 0 {
			t.Fatalf("assured connection %d evicted", p)
		}
	}
	// The victims are among the oldest: their average port is well below the average of the
	// unassured ones (500).
	sum := 0
	for _, p := range evicted {
		sum += int(p)
	}
	if avg := sum / len(evicted); avg > 400 {
		t.Errorf("victims' average port %d: not the oldest", avg)
	}
	tb.SetEvictor(Evictor[payload]{})
	o, r := conn(5000)
	if _, res := tb.Insert(&o, &r, 0); res != Full {
		t.Fatalf("eviction off: %v, want Full", res)
	}
	all := New[payload](10, 0, nil)
	all.SetEvictor(Evictor[payload]{Evictable: func(*Entry[payload]) bool { return false }})
	for p := uint16(1); p <= 10; p++ {
		o, r := conn(p)
		all.Insert(&o, &r, 0)
	}
	if _, res := all.Insert(&o, &r, 0); res != Full {
		t.Fatalf("every entry assured: %v, want Full", res)
	}
}
