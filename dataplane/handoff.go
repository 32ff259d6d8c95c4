package dataplane

import "sync/atomic"

// handoffSlots is the capacity of one hand-off ring.
const handoffSlots = 1024

// handoffRing carries frames from one worker to another: a single-producer single-consumer ring of
// copies, so that neither side waits for the other and each keeps its own UMEM. Slots are
// preallocated, slotSize bytes each (the UMEM's largest packet).
type handoffRing struct {
	head     atomic.Uint64 // next slot to read, written by the consumer
	_        [56]byte
	tail     atomic.Uint64 // next slot to write, written by the producer
	_        [56]byte
	slotSize int
	lens     [handoffSlots]uint16
	ins      [handoffSlots]uint8
	gathered [handoffSlots]bool // a fragment from its gatherer (VerdictHandoffFragment)
	data     []byte
}

func newHandoffRing(slotSize int) *handoffRing {
	return &handoffRing{slotSize: slotSize, data: make([]byte, handoffSlots*slotSize)}
}

// push copies frame (received on port in; gathered: a fragment from its gatherer) into the ring;
// false if the ring is full or the frame is larger than a slot.
func (r *handoffRing) push(frame []byte, in int, gathered bool) bool {
	t := r.tail.Load()
	if t-r.head.Load() >= handoffSlots || len(frame) > r.slotSize {
		return false
	}
	i := t % handoffSlots
	r.lens[i] = uint16(copy(r.data[int(i)*r.slotSize:], frame))
	r.ins[i] = uint8(in)
	r.gathered[i] = gathered
	r.tail.Store(t + 1)
	return true
}

// peek returns the oldest frame, its port and whether it is a gathered fragment, or ok=false;
// release frees it after use.
func (r *handoffRing) peek() (frame []byte, in int, gathered, ok bool) {
	h := r.head.Load()
	if h == r.tail.Load() {
		return nil, 0, false, false
	}
	i := h % handoffSlots
	off := int(i) * r.slotSize
	return r.data[off : off+int(r.lens[i])], int(r.ins[i]), r.gathered[i], true
}

func (r *handoffRing) release() { r.head.Add(1) }

func (r *handoffRing) pending() bool { return r.head.Load() != r.tail.Load() }
