package conntrack

import "github.com/xdpvs/xdpvs/header"

// Reading ahead for a batch of lookups. In a table far larger than the cache, a lookup costs two
// cache misses one after the other: the index slot, then the entry it refers to. A worker that
// has a whole batch of packets in hand can make the misses of all of them overlap instead: hash
// every tuple (Hash), read every home slot (PrefetchSlots), then every entry those slots refer to
// (PrefetchEntries), each pass a loop of independent loads that the CPU keeps in flight together,
// and only then look each tuple up (LookupHashed), its slot and entry now in the cache. The passes
// change nothing in the table and their results are only hints: a lookup is right whatever was
// read ahead.

// Hash is the hash of k under the table's key, for LookupHashed and PrefetchSlots.
func (t *Table[V]) Hash(k *header.Tuple) uint64 { return k.Hash(&t.key) }

// LookupHashed is Lookup for a tuple whose hash h (Hash) is known.
func (t *Table[V]) LookupHashed(k *header.Tuple, h uint64) (id uint32, dir Dir, ok bool) {
	return t.lookup(k, h)
}

// PrefetchSlots reads the home index slot of every hash in hs into slots (len(slots) >= len(hs)).
func (t *Table[V]) PrefetchSlots(hs []uint64, slots []uint32) {
	slots = slots[:len(hs)]
	for i, h := range hs {
		slots[i] = t.index[uint32(h)&t.mask]
	}
}

// PrefetchEntries reads the entry each slot PrefetchSlots read refers to, where the slot's tag
// is that of its hash: an entry is larger than a cache line and lies across two or three, so it
// reads a byte of each tuple (at offsets 0 and 38), the expiry (after the payload) and the last
// byte; no 64-byte line of the entry lies between two of them while the payload is at most 26
// bytes (the dataplane's is 20).
func (t *Table[V]) PrefetchEntries(hs []uint64, slots []uint32) {
	slots = slots[:len(hs)]
	var sink uint32
	for i, h := range hs {
		s := slots[i]
		if s == 0 || s&tagMask != uint32(h>>57)<<refBits {
			continue
		}
		e := &t.entries[(s&refMask-1)>>1]
		sink += uint32(e.Tuples[0].SrcAddr[0]) + uint32(e.Tuples[1].SrcAddr[0]) + e.expires
		if e.used {
			sink++
		}
	}
	t.sink = sink
}
