package conntrack

import (
	"reflect"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

// TestPrefetch: reading ahead changes nothing in the table, reads the home slot of each hash, and
// LookupHashed finds what Lookup finds, for tuples present in either direction and absent.
func TestPrefetch(t *testing.T) {
	tb := New[payload](512, 0, nil)
	var keys []header.Tuple
	for p := uint16(1); p <= 400; p++ {
		o, r := conn(p)
		if _, res := tb.Insert(&o, &r, int64(time.Minute)); res != Inserted {
			t.Fatalf("insert %d: %v", p, res)
		}
		keys = append(keys, o, r)
	}
	for p := uint16(401); p <= 464; p++ { // absent
		o, _ := conn(p)
		keys = append(keys, o)
	}
	index := append([]uint32(nil), tb.index...)
	entries := append([]Entry[payload](nil), tb.entries...)
	hs := make([]uint64, len(keys))
	for i := range keys {
		hs[i] = tb.Hash(&keys[i])
	}
	slots := make([]uint32, len(keys))
	tb.PrefetchSlots(hs, slots)
	tb.PrefetchEntries(hs, slots)
	if !reflect.DeepEqual(index, tb.index) || !reflect.DeepEqual(entries, tb.entries) {
		t.Fatal("reading ahead changed the table")
	}
	for i := range keys {
		if want := tb.index[uint32(hs[i])&tb.mask]; slots[i] != want {
			t.Errorf("key %d: slot read %#x, want the home slot %#x", i, slots[i], want)
		}
		id, dir, ok := tb.Lookup(&keys[i])
		id2, dir2, ok2 := tb.LookupHashed(&keys[i], hs[i])
		if id != id2 || dir != dir2 || ok != ok2 || ok != (i < 800) {
			t.Errorf("key %d: Lookup = %d, %d, %v; LookupHashed = %d, %d, %v", i, id, dir, ok, id2, dir2, ok2)
		}
	}
}
