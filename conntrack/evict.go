package conntrack

import "math/rand/v2"

// Eviction is the table's defence against floods of connections that never become real (spoofed
// SYNs, one-datagram UDP floods), in the spirit of IPVS's drop_entry: when the table is full, an
// insert makes room by removing a connection its owner calls evictable (not yet assured: a SYN
// never answered, a datagram never replied to), so that a flood cannot keep legitimate clients out.
// The victim is the one expiring soonest among EvictSample entries drawn at random: the oldest of
// the flood's, never an established connection. Sampling keeps the cost bounded (EvictSample entry
// reads per insert, and only when the table is full) and needs no list of unassured entries.

// EvictSample is how many entries a full table's insert examines for a victim.
const EvictSample = 16

// Evictor decides which connections may be removed to make room, and is told when one is.
type Evictor[V any] struct {
	Evictable func(e *Entry[V]) bool       // not yet assured: may make room
	Evicted   func(id uint32, e *Entry[V]) // called before an evicted entry is freed
}

// SetEvictor turns eviction on (Evictable not nil) or off.
func (t *Table[V]) SetEvictor(ev Evictor[V]) {
	t.evictor = ev
	if t.rng == 0 {
		t.rng = rand.Uint64() | 1 // unpredictable: nobody may aim the samples
	}
}

// Evicted is the number of connections removed to make room.
func (t *Table[V]) Evicted() uint64 { return t.evicted }

// evict removes one evictable connection of a full table, if the sample holds one.
func (t *Table[V]) evict() bool {
	if t.evictor.Evictable == nil || t.hwm == 0 {
		return false
	}
	victim, found := uint32(0), false
	for range EvictSample {
		t.rng ^= t.rng << 13
		t.rng ^= t.rng >> 7
		t.rng ^= t.rng << 17
		id := uint32((t.rng >> 32) * uint64(t.hwm) >> 32)
		e := &t.entries[id]
		if !e.used || !t.evictor.Evictable(e) {
			continue
		}
		if !found || e.expires < t.entries[victim].expires {
			victim, found = id, true
		}
	}
	if !found {
		return false
	}
	if t.evictor.Evicted != nil {
		t.evictor.Evicted(victim, &t.entries[victim])
	}
	t.Delete(victim)
	t.evicted++
	return true
}
