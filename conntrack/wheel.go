package conntrack

// The timer wheel is lazy where it can be: when traffic moves an entry's expiry later, only the
// expiry changes, and the wheel re-files the entry when it reaches the slot it was filed under. The
// wheel thus touches an entry about once per timeout period, not once per packet. When the expiry
// moves earlier than that slot (an ESTABLISHED connection closing: 900 s to TIME_WAIT's 120 s), the
// entry is re-filed at once, so that it never outlives its state's timeout.
const (
	wheelSlots = 4096
	// wheelTick is 2^28 ns (about 268 ms), a power of two so that turning a time into a tick, done
	// for every packet, is a shift rather than a division. The wheel spans about 1100 s; longer
	// timeouts are re-filed.
	wheelTick = int64(1) << 28
)

type wheel struct {
	heads [wheelSlots]uint32 // entry index + 1 of each slot's list head, 0 = empty
	tick  int64              // the next tick to process
}

func slotOf(tick int64) uint16 { return uint16(uint64(tick) % wheelSlots) }

// wheelAdd files an entry under its expiry tick, but not before tick lo and less than one turn
// ahead of the next tick to be processed, so that it never lands in the slot being processed.
func (t *Table[V]) wheelAdd(id uint32, lo int64) {
	w, e := &t.wheel, &t.entries[id]
	s := slotOf(min(max(int64(e.expires), lo), w.tick+wheelSlots-1))
	e.slot, e.prev, e.next = s, 0, w.heads[s]
	if w.heads[s] != 0 {
		t.entries[w.heads[s]-1].prev = id + 1
	}
	w.heads[s] = id + 1
}

// SetExpires sets when connection id expires (ns). A later expiry is noted and acted on lazily; an
// expiry earlier than the slot the entry is filed under re-files it now.
func (t *Table[V]) SetExpires(id uint32, ns int64) {
	e := &t.entries[id]
	e.expires = ticksCeil(ns)
	if int64(e.expires) < t.filedTick(e) && t.onWheel(id) {
		t.wheelRemove(id)
		t.wheelAdd(id, t.wheel.tick)
	}
}

// filedTick is the tick of the slot an entry on the wheel is filed under: slots hold the ticks from
// the next one to be processed up to one turn ahead.
func (t *Table[V]) filedTick(e *Entry[V]) int64 {
	return t.wheel.tick + int64((e.slot-slotOf(t.wheel.tick))%wheelSlots)
}

// onWheel reports whether entry id is filed on the wheel: it is not while Expire hands it to
// onExpire, which may set its expiry.
func (t *Table[V]) onWheel(id uint32) bool {
	e := &t.entries[id]
	return e.prev != 0 || t.wheel.heads[e.slot] == id+1
}

func (t *Table[V]) wheelRemove(id uint32) {
	w, e := &t.wheel, &t.entries[id]
	if e.prev != 0 {
		t.entries[e.prev-1].next = e.next
	} else {
		w.heads[e.slot] = e.next
	}
	if e.next != 0 {
		t.entries[e.next-1].prev = e.prev
	}
	e.prev, e.next = 0, 0
}

// Expire processes the wheel up to now (ns): connections whose expiry has passed go to onExpire
// and are freed (unless it keeps them), the others are re-filed. It stops after examining budget
// entries (budget <= 0: no limit), so that a worker never stalls on a burst of expiries; the rest
// waits for the next call. It returns the number of connections freed.
func (t *Table[V]) Expire(now int64, budget int) int {
	w := &t.wheel
	nowTick := now / wheelTick
	freed, examined := 0, 0
	for ; w.tick <= nowTick; w.tick++ {
		s := slotOf(w.tick)
		for w.heads[s] != 0 {
			t.readAheadExpiry(w.heads[s], nowTick)
			for k := 0; w.heads[s] != 0 && k < expiryBatch; k++ {
				if budget > 0 && examined >= budget {
					return freed
				}
				examined++
				id := w.heads[s] - 1
				e := &t.entries[id]
				t.wheelRemove(id)
				if int64(e.expires) <= nowTick {
					h0, h1, ok := t.aheadHashes(id)
					if t.onExpire == nil || !t.onExpire(id, e) {
						if !ok || t.ahead.inserts != t.inserts {
							h0, h1 = e.Tuples[DirOriginal].Hash(&t.key), e.Tuples[DirReply].Hash(&t.key)
						}
						t.release(id, h0, h1)
						freed++
						continue
					}
					e.expires = max(e.expires, uint32(nowTick)+1) // kept: never sooner than the next tick
				}
				// Still alive: file it again, at least one tick ahead so that this loop ends.
				t.wheelAdd(id, w.tick+1)
			}
		}
	}
	return freed
}

// expiryBatch is how many entries of a wheel slot Expire reads ahead of processing them, and
// expiryRun how many slots of each probe run.
const (
	expiryBatch = 16
	expiryRun   = 8
)

// expiryAhead is what Expire read ahead: the ids of the next expired entries of a slot's list, in
// list order, and their tuples' hashes.
type expiryAhead struct {
	n, next int
	inserts uint32 // the table's count of insertions when it was read
	ids     [expiryBatch]uint32
	h       [expiryBatch][2]uint64
}

// aheadHashes returns the hashes read ahead for entry id, if it is the next expired entry read
// ahead. The processing pops the list in the order it was read; a callback that changed the list
// makes the rest miss, and they are hashed again. The hashes hold while nothing was inserted since
// (ahead.inserts): a callback may free an entry whose id an insert hands out again.
func (t *Table[V]) aheadHashes(id uint32) (h0, h1 uint64, ok bool) {
	a := &t.ahead
	if a.next < a.n && a.ids[a.next] == id && a.inserts == t.inserts {
		k := a.next
		a.next++
		return a.h[k][0], a.h[k][1], true
	}
	return 0, 0, false
}

// readAheadExpiry makes the deletions of the next expiryBatch entries of a wheel slot's list
// (head: the first entry's index + 1) overlap their cache misses, as the receive path's read-ahead
// does for lookups: it follows the list and hashes the tuples of the entries that have expired,
// reads their home index slots, then the tuples named by the slots after each entry's own in its
// probe run (a deletion shifts them back, hashing each to find its home). It changes nothing in
// the table; what it finds is only a hint.
func (t *Table[V]) readAheadExpiry(head uint32, nowTick int64) {
	a := &t.ahead
	a.n, a.next, a.inserts = 0, 0, t.inserts
	for r, k := head, 0; r != 0 && k < expiryBatch; k++ {
		id := r - 1
		e := &t.entries[id]
		r = e.next
		if int64(e.expires) > nowTick {
			continue
		}
		a.ids[a.n] = id
		a.h[a.n] = [2]uint64{e.Tuples[DirOriginal].Hash(&t.key), e.Tuples[DirReply].Hash(&t.key)}
		a.n++
	}
	sink := t.sink
	for i := range 2 * a.n { // the home slots, in one loop of independent loads
		sink += t.index[uint32(a.h[i>>1][i&1])&t.mask]
	}
	for i := range 2 * a.n {
		// The probe run after the entry's own slot, to its end: the slots a deletion shifts back,
		// mostly in the home slot's cache line. Each tuple they name is read at both ends.
		own, past := ref(a.ids[i>>1], Dir(i&1)), false
		for j, n := uint32(a.h[i>>1][i&1])&t.mask, 0; n < expiryRun; j, n = (j+1)&t.mask, n+1 {
			s := t.index[j]
			if s == 0 {
				break
			}
			if past {
				r := s&refMask - 1
				k := &t.entries[r>>1].Tuples[r&1]
				sink += uint32(k.SrcAddr[0]) + uint32(k.Proto)
			}
			past = past || s&refMask == own
		}
	}
	t.sink = sink
}
