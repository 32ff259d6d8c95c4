package conntrack

import (
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

// TestExpiryMovesEarlier: a connection whose expiry moves earlier (ESTABLISHED's 900 s, then
// TIME_WAIT's 120 s when it closes) is freed at the earlier time, not at the slot it was filed
// under. Before the fix the wheel kept it until its old ESTABLISHED expiry, and a table full of
// closed connections refused new ones.
func TestExpiryMovesEarlier(t *testing.T) {
	const s = int64(time.Second)
	freed := 0
	now := int64(5000 * s)
	tb := New[payload](16, now, func(uint32, *Entry[payload]) bool { freed++; return false })
	o, r := conn(1)
	id, _ := tb.Insert(&o, &r, now+2*s) // NONE/SYN_RECV: a short first timeout
	tb.SetExpires(id, now+900*s)        // ESTABLISHED
	// The wheel re-files it at its 900 s slot when its first slot comes round.
	for ; now < 5010*s; now += s {
		tb.Expire(now, 0)
	}
	tb.SetExpires(id, now+120*s) // TIME_WAIT
	closedAt := now
	for ; now <= closedAt+121*s+wheelTick; now += s {
		tb.Expire(now, 0)
	}
	if freed != 1 || tb.Len() != 0 {
		t.Fatalf("closed connection still held %ds after TIME_WAIT began (freed %d, len %d)",
			(now-closedAt)/s, freed, tb.Len())
	}
}

// TestExpiryMovesEarlierMany: as above with many connections in every slot, moved earlier and
// later in a random order; each is freed within one tick of its last expiry, never before it.
func TestExpiryMovesEarlierMany(t *testing.T) {
	const s = int64(time.Second)
	rng := testutil.Rand(t)
	now := int64(0)
	want := map[uint32]int64{}
	var ids []uint32
	var early, late []uint32
	tb := New[payload](4096, now, func(id uint32, e *Entry[payload]) bool {
		if w := want[id]; now < w {
			early = append(early, id)
		} else if now > w+2*wheelTick && now < 2000*s {
			late = append(late, id)
		}
		delete(want, id)
		return false
	})
	for p := range 4000 {
		o, r := conn(uint16(p + 1))
		exp := now + int64(rng.IntN(1500))*s
		id, res := tb.Insert(&o, &r, exp)
		if res != Inserted {
			t.Fatal("insert")
		}
		want[id] = tb.Entry(id).Expires()
		ids = append(ids, id)
	}
	for ; now < 2000*s; now += s / 4 {
		for range 20 {
			if id := ids[rng.IntN(len(ids))]; want[id] != 0 {
				tb.SetExpires(id, now+int64(rng.IntN(1200))*s)
				want[id] = tb.Entry(id).Expires()
			}
		}
		tb.Expire(now, 0)
	}
	now += 1500 * s
	tb.Expire(now, 0)
	if len(early) > 0 || len(late) > 0 || tb.Len() != 0 {
		t.Fatalf("%d expired early, %d late, %d left", len(early), len(late), tb.Len())
	}
}

// TestExpireCallbacksChangeTheList: Expire reads a slot's list ahead (the expired entries' hashes)
// and must stay right when the callbacks change the table under it: keep a connection, delete
// others (some read ahead), insert new ones (which take the freed ids, already expired, into the
// slot being processed). After every call the index holds exactly the live connections' tuples.
// A small index makes long probe runs, so that deletions shift slots back.
func TestExpireCallbacksChangeTheList(t *testing.T) {
	const s = int64(time.Second)
	rng := testutil.Rand(t)
	now := int64(0)
	live := map[uint32][2]header.Tuple{}
	var tb *Table[payload]
	next := 0
	insert := func(exp int64) {
		next++
		o := header.Tuple{SrcAddr: header.AddrFrom4([]byte{198, 18, byte(next >> 16), byte(next >> 8)}),
			DstAddr: header.AddrFrom4([]byte{198, 19, 0, 1}), SrcPort: uint16(next), DstPort: 80, Proto: 6}
		r := header.Tuple{SrcAddr: header.AddrFrom4([]byte{198, 19, 1, byte(next)}), DstAddr: o.SrcAddr,
			SrcPort: 8080, DstPort: o.SrcPort, Proto: 6}
		if id, res := tb.Insert(&o, &r, exp); res == Inserted {
			live[id] = [2]header.Tuple{o, r}
		}
	}
	other := func(not uint32) (uint32, bool) {
		for id := range live { // (a map's order is random enough)
			if id != not {
				return id, true
			}
		}
		return 0, false
	}
	tb = New[payload](512, now, func(id uint32, e *Entry[payload]) bool {
		switch rng.IntN(6) {
		case 0: // kept for a while
			tb.SetExpires(id, now+int64(rng.IntN(3))*s)
			return true
		case 1: // another one goes too
			if o, ok := other(id); ok {
				tb.Delete(o)
				delete(live, o)
			}
		case 2: // a new one comes, expired already: it lands in the slot being processed
			insert(now)
		case 3: // both: the new one takes the id just freed
			if o, ok := other(id); ok {
				tb.Delete(o)
				delete(live, o)
			}
			insert(now - s)
		}
		delete(live, id)
		return false
	})
	check := func() {
		t.Helper()
		used := 0
		for _, v := range tb.index {
			if v != 0 {
				used++
			}
		}
		if used != 2*len(live) || tb.Len() != len(live) {
			t.Fatalf("at %ds: %d index slots used, table Len %d, %d connections live", now/s, used, tb.Len(), len(live))
		}
		for id, k := range live {
			for dir := range 2 {
				if got, d, ok := tb.Lookup(&k[dir]); !ok || got != id || d != Dir(dir) {
					t.Fatalf("at %ds: connection %d's tuple %d: found %v (%d, %d)", now/s, id, dir, ok, got, d)
				}
			}
		}
	}
	for range 400 {
		for n := rng.IntN(80); n > 0 && tb.Len() < tb.Cap(); n-- {
			insert(now + int64(rng.IntN(4))*s)
		}
		now += s
		tb.Expire(now, rng.IntN(3)*40) // budgets of none, 40 and 80 entries
		check()
	}
}
