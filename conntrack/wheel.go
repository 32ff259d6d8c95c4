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
			if budget > 0 && examined >= budget {
				return freed
			}
			examined++
			id := w.heads[s] - 1
			e := &t.entries[id]
			t.wheelRemove(id)
			if int64(e.expires) <= nowTick {
				if t.onExpire == nil || !t.onExpire(id, e) {
					t.release(id)
					freed++
					continue
				}
				e.expires = max(e.expires, uint32(nowTick)+1) // kept: never sooner than the next tick
			}
			// Still alive: file it again, at least one tick ahead so that this loop ends.
			t.wheelAdd(id, w.tick+1)
		}
	}
	return freed
}
