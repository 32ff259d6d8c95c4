package conntrack

import (
	"math/bits"

	"github.com/xdpvs/xdpvs/header"
)

// Dir is the direction of a packet relative to its connection.
type Dir uint8

const (
	DirOriginal Dir = 0 // client → director, as the connection was opened
	DirReply    Dir = 1 // real server → director
)

// Entry is one connection. Tuples[DirOriginal] and Tuples[DirReply] are its two index keys.
type Entry[V any] struct {
	Tuples  [2]header.Tuple
	Expires int64 // monotonic ns; the timer wheel re-files the entry lazily when it moves
	State   State
	used    bool
	slot    uint16 // the wheel slot the entry is filed under
	prev    uint32 // wheel list links: entry index + 1, 0 = none
	next    uint32
	Value   V
}

// Table is a fixed-capacity connection table. Not safe for concurrent use.
type Table[V any] struct {
	entries  []Entry[V]
	free     []uint32 // stack of free entry indices
	index    []uint64 // open addressing, linear probing: tag<<32 | (entry+1)<<1 | dir; 0 = empty
	mask     uint64
	seed     uint64
	wheel    wheel
	onExpire func(id uint32, e *Entry[V])
}

// New returns a table holding up to capacity connections, with its clock starting at now.
// onExpire, if not nil, is called for every connection the timer wheel expires, before its entry
// is freed.
func New[V any](capacity int, now int64, onExpire func(id uint32, e *Entry[V])) *Table[V] {
	if capacity < 1 {
		capacity = 1
	}
	slots := uint64(1) << bits.Len64(uint64(capacity)*4-1) // two keys per conn, load <= 0.5
	t := &Table[V]{
		entries:  make([]Entry[V], capacity),
		free:     make([]uint32, capacity),
		index:    make([]uint64, slots),
		mask:     slots - 1,
		seed:     0x5bd1e9955bd1e995,
		onExpire: onExpire,
	}
	t.wheel.tick = now / wheelTick
	for i := range t.free {
		t.free[i] = uint32(capacity - 1 - i)
	}
	return t
}

// Len is the number of connections in the table; Cap its capacity.
func (t *Table[V]) Len() int { return len(t.entries) - len(t.free) }
func (t *Table[V]) Cap() int { return len(t.entries) }

// Entry returns the entry with the given id, as returned by Lookup or Insert.
func (t *Table[V]) Entry(id uint32) *Entry[V] { return &t.entries[id] }

// Lookup finds the connection a tuple belongs to and the direction it has in it.
func (t *Table[V]) Lookup(k *header.Tuple) (id uint32, dir Dir, ok bool) {
	h := k.Hash(t.seed)
	tag := h >> 32
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.index[i]
		if s == 0 {
			return 0, 0, false
		}
		if s>>32 != tag {
			continue
		}
		ref := uint32(s)
		id, dir = ref>>1-1, Dir(ref&1)
		if t.entries[id].Tuples[dir] == *k {
			return id, dir, true
		}
	}
}

// Insert adds a connection under both tuples, expiring at expires. It fails when the table is full
// or either tuple is already present.
func (t *Table[V]) Insert(orig, reply *header.Tuple, expires int64) (uint32, bool) {
	if len(t.free) == 0 {
		return 0, false
	}
	if _, _, dup := t.Lookup(orig); dup {
		return 0, false
	}
	if _, _, dup := t.Lookup(reply); dup {
		return 0, false
	}
	id := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	e := &t.entries[id]
	var zero V
	*e = Entry[V]{Tuples: [2]header.Tuple{*orig, *reply}, Expires: expires, used: true, Value: zero}
	t.indexAdd(orig, id, DirOriginal)
	t.indexAdd(reply, id, DirReply)
	t.wheelAdd(id, t.wheel.tick)
	return id, true
}

// Delete removes a connection now, without calling onExpire.
func (t *Table[V]) Delete(id uint32) {
	if !t.entries[id].used {
		return
	}
	t.wheelRemove(id)
	t.release(id)
}

// release drops an entry that is no longer on the wheel from the index and frees it.
func (t *Table[V]) release(id uint32) {
	e := &t.entries[id]
	t.indexDel(&e.Tuples[DirOriginal], id, DirOriginal)
	t.indexDel(&e.Tuples[DirReply], id, DirReply)
	e.used = false
	t.free = append(t.free, id)
}

// Range calls fn for every connection until fn returns false.
func (t *Table[V]) Range(fn func(id uint32, e *Entry[V]) bool) {
	for i := range t.entries {
		if t.entries[i].used && !fn(uint32(i), &t.entries[i]) {
			return
		}
	}
}

func (t *Table[V]) indexAdd(k *header.Tuple, id uint32, dir Dir) {
	h := k.Hash(t.seed)
	s := h>>32<<32 | uint64((id+1)<<1|uint32(dir))
	i := h & t.mask
	for t.index[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.index[i] = s
}

// indexDel removes the slot of (id, dir) and shifts later slots of the probe run back, so that the
// index never needs tombstones (Knuth's algorithm R).
func (t *Table[V]) indexDel(k *header.Tuple, id uint32, dir Dir) {
	want := uint32((id+1)<<1 | uint32(dir))
	i := k.Hash(t.seed) & t.mask
	for uint32(t.index[i]) != want {
		if t.index[i] == 0 {
			return
		}
		i = (i + 1) & t.mask
	}
	for j := (i + 1) & t.mask; t.index[j] != 0; j = (j + 1) & t.mask {
		ref := uint32(t.index[j])
		e := &t.entries[ref>>1-1]
		home := e.Tuples[ref&1].Hash(t.seed) & t.mask
		// Move slot j back to the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.index[i] = t.index[j]
			i = j
		}
	}
	t.index[i] = 0
}
