package conntrack

import (
	"testing"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

// longestProbe is the largest distance of an index slot from its tuple's home slot.
func (t *Table[V]) longestProbe() int {
	longest := 0
	for i, s := range t.index {
		if s == 0 {
			continue
		}
		r := s&refMask - 1
		home := uint32(t.entries[r>>1].Tuples[r&1].Hash(&t.key)) & t.mask
		longest = max(longest, int((uint32(i)-home)&t.mask))
	}
	return longest
}

// TestProbeLengthAtCapacity: a table filled to capacity with random connections has probe runs far
// shorter than MaxProbe, so the bound refuses nothing legitimate.
func TestProbeLengthAtCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table of 1.5M connections")
	}
	const n = 3<<19 - 1 // the largest capacity of its index size: the index is 3/4 full
	rng := testutil.Rand(t)
	tb := New[payload](n, 0, nil)
	for tb.Len() < n {
		var o, r header.Tuple
		for i := 12; i < 16; i++ {
			o.SrcAddr[i], r.SrcAddr[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		o.SrcAddr[10], o.SrcAddr[11], r.SrcAddr[10], r.SrcAddr[11] = 0xff, 0xff, 0xff, 0xff
		o.DstAddr, r.DstAddr = r.SrcAddr, o.SrcAddr
		o.SrcPort, o.DstPort, o.Proto = uint16(rng.Uint32()), 80, 6
		r.SrcPort, r.DstPort, r.Proto = 8080, o.SrcPort, 6
		if _, res := tb.Insert(&o, &r, 0); res == ProbeLimit {
			t.Fatalf("probe limit hit at %d connections", tb.Len())
		}
	}
	longest := tb.longestProbe()
	t.Logf("%d connections, %d index slots: longest probe %d slots (MaxProbe %d)", n, len(tb.index), longest, MaxProbe)
	if longest > MaxProbe/2 {
		t.Errorf("longest probe %d, want well under MaxProbe %d", longest, MaxProbe)
	}
}

// TestProbeLimitCollisionFlood: tuples that all share one home slot (found here by brute force
// with the table's own key, which an attacker does not have) fill one probe run up to MaxProbe;
// past it inserts are refused with ProbeLimit, lookups of absent tuples stop after MaxProbe slots,
// and every inserted connection is still found.
func TestProbeLimitCollisionFlood(t *testing.T) {
	tb := New[payload](2000, 0, nil)
	base := tuple("198.18.0.2", "198.18.0.10", 0, 80)
	home := uint32(base.Hash(&tb.key)) & tb.mask
	var colliding []header.Tuple
	for a := 0; len(colliding) < MaxProbe+10; a++ {
		x := base
		x.SrcAddr[14], x.SrcAddr[15] = byte(a>>16), byte(a>>8)
		x.SrcPort = uint16(a)
		if uint32(x.Hash(&tb.key))&tb.mask == home {
			colliding = append(colliding, x)
		}
	}
	var ids []uint32
	refused := 0
	for i := range colliding {
		r := tuple("198.18.1.2", "198.18.0.2", 8080, uint16(i))
		r.DstAddr = colliding[i].SrcAddr
		id, res := tb.Insert(&colliding[i], &r, 0)
		switch res {
		case Inserted:
			ids = append(ids, id)
		case ProbeLimit:
			refused++
		default:
			t.Fatalf("insert %d: %v", i, res)
		}
	}
	if refused == 0 || len(ids) >= MaxProbe {
		t.Fatalf("%d inserted, %d refused: want the run bounded by MaxProbe %d", len(ids), refused, MaxProbe)
	}
	if l := tb.longestProbe(); l >= MaxProbe {
		t.Fatalf("longest probe %d, want < %d", l, MaxProbe)
	}
	for i, id := range ids {
		if got, _, ok := tb.Lookup(&tb.entries[id].Tuples[DirOriginal]); !ok || got != id {
			t.Fatalf("connection %d not found after the flood", i)
		}
	}
	// Deleting from the middle of the run keeps every other connection reachable.
	for _, id := range ids[:len(ids)/2] {
		tb.Delete(id)
	}
	for _, id := range ids[len(ids)/2:] {
		if got, _, ok := tb.Lookup(&tb.entries[id].Tuples[DirOriginal]); !ok || got != id {
			t.Fatal("connection lost after deletes in its run")
		}
	}
}
