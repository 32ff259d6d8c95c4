package xsk

import (
	"sync/atomic"
	"unsafe"
)

// ring is the part common to the four AF_XDP rings, after libxdp's
// struct xsk_ring_prod / xsk_ring_cons. producer, consumer and flags point
// into the mmapped ring; cachedProd/cachedCons are this side's copies.
// For a producer ring cachedCons is kept as consumer+size, so that
// cachedCons-cachedProd is the free space.
type ring struct {
	producer   *uint32
	consumer   *uint32
	flags      *uint32
	mask       uint32
	size       uint32
	cachedProd uint32
	cachedCons uint32
	mem        []byte // the mapping, for munmap
}

func (r *ring) init(mem []byte, prodOff, consOff, flagsOff uint64, size uint32, producer bool) {
	r.mem = mem
	r.producer = (*uint32)(unsafe.Pointer(&mem[prodOff]))
	r.consumer = (*uint32)(unsafe.Pointer(&mem[consOff]))
	r.flags = (*uint32)(unsafe.Pointer(&mem[flagsOff]))
	r.size = size
	r.mask = size - 1
	r.cachedProd = atomic.LoadUint32(r.producer)
	r.cachedCons = atomic.LoadUint32(r.consumer)
	if producer {
		r.cachedCons += size
	}
}

// needWakeup reports XDP_RING_NEED_WAKEUP on this ring.
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&xdpRingNeedWakeup != 0
}

// Producer side.

// free returns the free entries, refreshing the consumer index only when
// the cached value shows fewer than want.
func (r *ring) free(want uint32) uint32 {
	n := r.cachedCons - r.cachedProd
	if n >= want {
		return n
	}
	r.cachedCons = atomic.LoadUint32(r.consumer) + r.size
	return r.cachedCons - r.cachedProd
}

// Reserve reserves up to n entries and returns the index of the first and
// how many were reserved.
func (r *ring) Reserve(n uint32) (idx, got uint32) {
	got = min(n, r.free(n))
	idx = r.cachedProd
	r.cachedProd += got
	return idx, got
}

// Submit publishes n reserved entries to the kernel (store-release of the
// producer index).
func (r *ring) Submit(n uint32) {
	atomic.StoreUint32(r.producer, atomic.LoadUint32(r.producer)+n)
}

// pending is the number of submitted entries the kernel has not consumed.
func (r *ring) pending() uint32 {
	return atomic.LoadUint32(r.producer) - atomic.LoadUint32(r.consumer)
}

// Consumer side.

// avail returns up to want available entries, refreshing the producer
// index only when the cache is empty.
func (r *ring) avail(want uint32) uint32 {
	n := r.cachedProd - r.cachedCons
	if n == 0 {
		r.cachedProd = atomic.LoadUint32(r.producer)
		n = r.cachedProd - r.cachedCons
	}
	return min(n, want)
}

// Peek takes up to n entries and returns the index of the first and how
// many.
func (r *ring) Peek(n uint32) (idx, got uint32) {
	got = r.avail(n)
	idx = r.cachedCons
	r.cachedCons += got
	return idx, got
}

// Release gives n peeked entries back to the kernel (store-release of the
// consumer index).
func (r *ring) Release(n uint32) {
	atomic.StoreUint32(r.consumer, atomic.LoadUint32(r.consumer)+n)
}

// Cancel un-peeks n entries.
func (r *ring) Cancel(n uint32) { r.cachedCons -= n }

// addrRing is a fill or completion ring (UMEM addresses).
type addrRing struct {
	ring
	addrs []uint64
}

// descRing is an RX or TX ring (struct xdp_desc).
type descRing struct {
	ring
	descs []Desc
}
