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

// MaxCapacity is the largest table: an index slot holds a 25-bit reference to (entry, direction).
const MaxCapacity = 1<<24 - 1

// Entry is one connection. Tuples[DirOriginal] and Tuples[DirReply] are its two index keys.
// With a payload of 16 bytes an entry is 108 bytes; with its share of the index (two 4-byte slots
// at a load of at most 3/4) a connection costs at most 124 bytes.
type Entry[V any] struct {
	Tuples  [2]header.Tuple
	Value   V
	expires uint32 // wheel tick at which it expires (SetExpires)
	next    uint32 // wheel list link (entry index + 1, 0 = none); the free list's link when unused
	prev    uint32
	slot    uint16 // the wheel slot the entry is filed under
	State   State
	used    bool // last: PrefetchEntries reads it to reach the entry's last cache line
}

// Expires is when the connection expires, in the table's clock (ns), rounded up to a wheel tick.
func (e *Entry[V]) Expires() int64 { return int64(e.expires) * wheelTick }

func ticksCeil(ns int64) uint32 {
	t := (ns + wheelTick - 1) / wheelTick
	return uint32(min(max(t, 0), 1<<32-1))
}

// MaxProbe bounds every probe of the index: a tuple is inserted within MaxProbe slots of its home
// slot or not at all (Insert returns ProbeLimit), so a lookup never reads more than MaxProbe slots
// whatever is in the table. Backward-shift deletion only moves slots closer to home, so the bound
// holds for the table's life. With a keyed hash at a load of at most 3/4, runs this long do not
// happen by chance (TestProbeLengthAtCapacity: about 200 slots at most in a full table of 1.5M
// connections, its index 3/4 full).
const MaxProbe = 1024

// Index slots: a 7-bit tag from the top of the key's hash, so that most probes that do not match
// never touch the entry, and a 25-bit reference: (entry index << 1 | direction) + 1; 0 is empty.
const (
	refBits = 25
	refMask = 1<<refBits - 1
	tagMask = ^uint32(refMask)
)

// Table is a fixed-capacity connection table. It is not safe for concurrent use.
type Table[V any] struct {
	entries  []Entry[V]
	index    []uint32 // open addressing with linear probing, no tombstones
	mask     uint32
	key      header.HashKey // random per table: nobody outside can choose colliding tuples
	live     int
	hwm      uint32 // entries handed out at least once; beyond it, all are free
	free     uint32 // head of the free list (entry index + 1)
	wheel    wheel
	onExpire func(id uint32, e *Entry[V]) bool
	evictor  Evictor[V]
	rng      uint64 // xorshift state for eviction's samples
	evicted  uint64
	sink     uint32 // what PrefetchEntries read, kept so that its loads are not optimized away
	ahead    expiryAhead
	inserts  uint32 // connections inserted, mod 2^32: Expire's read-ahead holds while it is unchanged
}

// New returns a table holding up to capacity connections (at most MaxCapacity), with its clock
// starting at now (ns). onExpire, if not nil, is called for every connection whose time has come;
// it returns true to keep the connection, after moving its expiry forward (a persistence template
// that still controls connections does), and false to let it be freed.
func New[V any](capacity int, now int64, onExpire func(id uint32, e *Entry[V]) bool) *Table[V] {
	capacity = min(max(capacity, 1), MaxCapacity)
	return NewIn(make([]Entry[V], capacity), make([]uint32, IndexSize(capacity)), now, onExpire)
}

// IndexSize is the number of index slots a table of capacity connections needs: two keys per
// connection at a load of at most 3/4, and always an empty slot to end a probe.
func IndexSize(capacity int) int {
	return 1 << bits.Len64(uint64(min(max(capacity, 1), MaxCapacity))*8/3+2-1)
}

// NewIn is New on memory the caller provides, zeroed: entries (its length is the capacity, at most
// MaxCapacity) and an index of IndexSize(len(entries)) slots. The dataplane backs them with huge
// pages, which cuts the TLB misses of random lookups in a large table.
func NewIn[V any](entries []Entry[V], index []uint32, now int64, onExpire func(id uint32, e *Entry[V]) bool) *Table[V] {
	if len(entries) == 0 || len(entries) > MaxCapacity || len(index) != IndexSize(len(entries)) {
		panic("conntrack: NewIn: bad sizes")
	}
	t := &Table[V]{entries: entries, index: index, mask: uint32(len(index) - 1), key: header.NewHashKey(), onExpire: onExpire}
	t.wheel.tick = now / wheelTick
	return t
}

// Len is the number of connections in the table; Cap its capacity.
func (t *Table[V]) Len() int { return t.live }
func (t *Table[V]) Cap() int { return len(t.entries) }

// IndexSlots is the size of the index, for memory accounting.
func (t *Table[V]) IndexSlots() int { return len(t.index) }

// InUse reports whether entry id holds a connection (ids run from 0 to Cap()-1).
func (t *Table[V]) InUse(id uint32) bool { return t.entries[id].used }

// Entry returns the entry with the given id, as returned by Lookup or Insert.
func (t *Table[V]) Entry(id uint32) *Entry[V] { return &t.entries[id] }

// Lookup finds the connection a tuple belongs to and the direction it has in it.
func (t *Table[V]) Lookup(k *header.Tuple) (id uint32, dir Dir, ok bool) {
	return t.lookup(k, k.Hash(&t.key))
}

func (t *Table[V]) lookup(k *header.Tuple, h uint64) (id uint32, dir Dir, ok bool) {
	tag := uint32(h>>57) << refBits
	for i, n := uint32(h)&t.mask, 0; n < MaxProbe; i, n = (i+1)&t.mask, n+1 {
		s := t.index[i]
		if s == 0 {
			return 0, 0, false
		}
		if s&tagMask != tag {
			continue
		}
		ref := s&refMask - 1
		id, dir = ref>>1, Dir(ref&1)
		if t.entries[id].Tuples[dir].Equal(k) {
			return id, dir, true
		}
	}
	return 0, 0, false
}

// InsertResult says whether Insert added the connection, and if not, why.
type InsertResult uint8

const (
	Inserted   InsertResult = iota
	Full                    // every entry is taken
	Exists                  // one of the tuples is already in the table
	ProbeLimit              // a tuple's probe run is MaxProbe slots long (a flood of colliding tuples)
)

var insertResultNames = [...]string{"inserted", "full", "exists", "probe_limit"}

func (r InsertResult) String() string {
	if int(r) < len(insertResultNames) {
		return insertResultNames[r]
	}
	return "unknown"
}

// Insert adds a connection under both tuples, expiring at expires (ns), and returns its id.
func (t *Table[V]) Insert(orig, reply *header.Tuple, expires int64) (uint32, InsertResult) {
	return t.InsertHashed(orig, reply, orig.Hash(&t.key), expires)
}

// InsertHashed is Insert for an original tuple whose hash h0 (Hash) is known.
func (t *Table[V]) InsertHashed(orig, reply *header.Tuple, h0 uint64, expires int64) (uint32, InsertResult) {
	h1 := reply.Hash(&t.key)
	// Both home slots are read before either is probed, so that their cache misses overlap; an
	// empty home slot ends its probe at once.
	s0, s1 := t.index[uint32(h0)&t.mask], t.index[uint32(h1)&t.mask]
	if s0 != 0 {
		if _, _, dup := t.lookup(orig, h0); dup {
			return 0, Exists
		}
	}
	if s1 != 0 {
		if _, _, dup := t.lookup(reply, h1); dup {
			return 0, Exists
		}
	}
	var id uint32
	switch {
	case t.free != 0:
		id = t.free - 1
	case int(t.hwm) < len(t.entries):
		id = t.hwm
	case t.evict():
		id = t.free - 1
	default:
		return 0, Full
	}
	i0, ok0 := t.indexFind(h0)
	if !ok0 {
		return 0, ProbeLimit
	}
	t.index[i0] = 1 // held while the reply's slot is found
	i1, ok1 := t.indexFind(h1)
	t.index[i0] = 0
	if !ok1 {
		return 0, ProbeLimit
	}
	t.inserts++
	if id == t.hwm {
		t.hwm++
	} else {
		t.free = t.entries[id].next
	}
	e := &t.entries[id]
	var zero V
	*e = Entry[V]{Tuples: [2]header.Tuple{*orig, *reply}, expires: ticksCeil(expires), used: true, Value: zero}
	t.index[i0] = slotValue(h0, id, DirOriginal)
	t.index[i1] = slotValue(h1, id, DirReply)
	t.wheelAdd(id, t.wheel.tick)
	t.live++
	return id, Inserted
}

// Delete removes a connection now, without calling onExpire.
func (t *Table[V]) Delete(id uint32) {
	if !t.entries[id].used {
		return
	}
	t.wheelRemove(id)
	e := &t.entries[id]
	t.release(id, e.Tuples[DirOriginal].Hash(&t.key), e.Tuples[DirReply].Hash(&t.key))
}

// release drops an entry that is no longer on the wheel from the index and frees it; h0 and h1
// are its tuples' hashes.
func (t *Table[V]) release(id uint32, h0, h1 uint64) {
	e := &t.entries[id]
	t.indexDel(h0, id, DirOriginal)
	t.indexDel(h1, id, DirReply)
	e.used = false
	e.next, t.free = t.free, id+1
	t.live--
}

// Range calls fn for every connection until fn returns false.
func (t *Table[V]) Range(fn func(id uint32, e *Entry[V]) bool) {
	for i := range t.entries[:t.hwm] {
		if t.entries[i].used && !fn(uint32(i), &t.entries[i]) {
			return
		}
	}
}

func ref(id uint32, dir Dir) uint32 { return (id<<1 | uint32(dir)) + 1 }

// indexFind returns the first empty slot of the probe run of hash h, if it lies within MaxProbe of
// home.
func (t *Table[V]) indexFind(h uint64) (uint32, bool) {
	i := uint32(h) & t.mask
	for n := 0; t.index[i] != 0; n++ {
		if n == MaxProbe-1 {
			return 0, false
		}
		i = (i + 1) & t.mask
	}
	return i, true
}

// slotValue is the index slot of (id, dir) under hash h: its tag and its reference.
func slotValue(h uint64, id uint32, dir Dir) uint32 { return uint32(h>>57)<<refBits | ref(id, dir) }

// indexDel removes the slot of (id, dir), whose tuple hashes to h, and shifts later slots of the
// probe run back, so that the index never needs tombstones (Knuth's algorithm R).
func (t *Table[V]) indexDel(h uint64, id uint32, dir Dir) {
	want := ref(id, dir)
	i := uint32(h) & t.mask
	for t.index[i]&refMask != want {
		if t.index[i] == 0 {
			return
		}
		i = (i + 1) & t.mask
	}
	for j := (i + 1) & t.mask; t.index[j] != 0; j = (j + 1) & t.mask {
		r := t.index[j]&refMask - 1
		home := uint32(t.entries[r>>1].Tuples[r&1].Hash(&t.key)) & t.mask
		// Move slot j back to the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.index[i] = t.index[j]
			i = j
		}
	}
	t.index[i] = 0
}
