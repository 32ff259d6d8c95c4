package conntrack

// The timer wheel is lazy: a packet only moves Entry.Expires forward, and an entry is re-filed when
// the wheel reaches the slot it was filed under. The wheel thus touches an entry about once per
// timeout period, not once per packet, and expiry costs nothing on the per-packet path.
const (
	wheelSlots = 4096
	wheelTick  = int64(250e6) // 250 ms: the wheel spans 1024 s; longer timeouts are re-filed
)

type wheel struct {
	heads [wheelSlots]uint32 // entry index + 1 of each slot's list head, 0 = empty
	tick  int64              // the next tick to process
}

func slotOf(tick int64) uint16 { return uint16(uint64(tick) % wheelSlots) }

// fileTick is the tick an entry expiring at exp is filed under: not before lo and less than one
// turn ahead of the next tick to be processed, so it never lands in the slot being processed.
func (w *wheel) fileTick(exp, lo int64) int64 {
	return min(max(exp/wheelTick, lo), w.tick+wheelSlots-1)
}

// wheelAdd files an entry not before tick lo.
func (t *Table[V]) wheelAdd(id uint32, lo int64) {
	w, e := &t.wheel, &t.entries[id]
	s := slotOf(w.fileTick(e.Expires, lo))
	e.slot, e.prev, e.next = s, 0, w.heads[s]
	if w.heads[s] != 0 {
		t.entries[w.heads[s]-1].prev = id + 1
	}
	w.heads[s] = id + 1
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

// Expire processes the wheel up to now: connections whose Expires has passed are handed to
// onExpire and freed, the others re-filed. It stops after examining budget entries (budget <= 0:
// no limit) so that a worker never stalls on a burst of expiries; the rest waits for the next call.
// It returns the number of connections expired.
func (t *Table[V]) Expire(now int64, budget int) int {
	w := &t.wheel
	expired, examined := 0, 0
	for ; w.tick <= now/wheelTick; w.tick++ {
		s := slotOf(w.tick)
		for w.heads[s] != 0 {
			if budget > 0 && examined >= budget {
				return expired
			}
			examined++
			id := w.heads[s] - 1
			e := &t.entries[id]
			t.wheelRemove(id)
			if e.Expires <= now {
				if t.onExpire != nil {
					t.onExpire(id, e)
				}
				t.release(id)
				expired++
				continue
			}
			// Still alive: file it again, at least one tick ahead so this loop ends.
			t.wheelAdd(id, w.tick+1)
		}
	}
	return expired
}
