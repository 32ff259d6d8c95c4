package dataplane

import "sync/atomic"

// handoffSlotSize is the largest frame a hand-off carries: the largest packet of a 4096-byte UMEM
// frame (xsk.UMEM.MaxPacket).
const (
	handoffSlotSize = 4096 - 256
	handoffSlots    = 256
)

type handoffSlot struct {
	n    uint16
	in   uint8
	data [handoffSlotSize]byte
}

// handoffRing carries frames from one worker to another: a single-producer single-consumer ring
// of copies, so that neither side waits for the other and each keeps its own UMEM.
type handoffRing struct {
	head  atomic.Uint64 // next slot to read, written by the consumer
	_     [56]byte
	tail  atomic.Uint64 // next slot to write, written by the producer
	_     [56]byte
	slots [handoffSlots]handoffSlot
}

// push copies frame (received on port in) into the ring; false if the ring is full or the frame
// does not fit a slot.
func (r *handoffRing) push(frame []byte, in int) bool {
	t := r.tail.Load()
	if t-r.head.Load() >= handoffSlots || len(frame) > handoffSlotSize {
		return false
	}
	s := &r.slots[t%handoffSlots]
	s.n, s.in = uint16(copy(s.data[:], frame)), uint8(in)
	r.tail.Store(t + 1)
	return true
}

// peek returns the oldest slot, or nil; release frees it after use.
func (r *handoffRing) peek() *handoffSlot {
	h := r.head.Load()
	if h == r.tail.Load() {
		return nil
	}
	return &r.slots[h%handoffSlots]
}

func (r *handoffRing) release() { r.head.Add(1) }

func (r *handoffRing) pending() bool { return r.head.Load() != r.tail.Load() }
