package dataplane

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// hopCacheBits sizes a worker's next-hop cache: 256 entries of 40 bytes. The next hops of new
// connections are few (the gateways towards the clients, the real servers on their links).
const hopCacheBits = 8

// hopCache is a worker's own memory of the next hops its new connections found in the shared
// neighbour index. That index is two Go maps keyed by 24 bytes (its delta, then its base), each
// hashing the key; a new NAT connection looks up two next hops. The cache is a direct-mapped array
// under the worker's own random seed (an on-link client chooses its address, and so its entry: the
// worst it can do is miss). A hit is used on the index's own terms: while the slot's state word is
// the one it was found with (a slot serves one key from publication to recycling, and recycling
// changes the word) and its MAC resolved; else the index is asked and the entry replaced.
type hopCache struct {
	seed uint64
	ents [1 << hopCacheBits]hopEntry
}

// hopEntry is one cached next hop; h.idx 0 is an empty entry (slot 0 is never a neighbour).
type hopEntry struct {
	k neighKey
	h slotRef
}

func newHopCache() *hopCache { return &hopCache{seed: rand.Uint64()} }

// slot returns k's entry.
func (c *hopCache) slot(k *neighKey) *hopEntry {
	w0 := binary.LittleEndian.Uint64(k.addr[:8])
	w1 := binary.LittleEndian.Uint64(k.addr[8:])
	x := (w0 ^ bits.RotateLeft64(w1, 29) ^ uint64(k.port) ^ c.seed) * 0x9e3779b97f4a7c15
	return &c.ents[x>>(64-hopCacheBits)]
}

// get returns k's slot if the cache has it.
func (e *hopEntry) get(k *neighKey) (slotRef, bool) {
	return e.h, e.h.idx != 0 && e.k.port == k.port && e.k.addr == k.addr
}
