package dataplane

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/conntrack"
)

// newConnTable allocates a worker's connection table outside the Go heap, in anonymous memory
// advised for transparent huge pages: a random lookup in a table of a million connections then
// misses the TLB far less. The memory holds no pointers, so the garbage collector needs not see
// it; it lives as long as the process. A table whose entries fit in less than a huge page gains
// nothing from one and stays on the heap, where it is freed with its pipeline (tests and the fuzzer
// make thousands of small ones: each took two huge pages, 4 MiB zeroed on first touch, for good).
// Without mmap it falls back to the heap.
func newConnTable(capacity int, now int64, onExpire func(uint32, *conntrack.Entry[connVal]) bool) *conntrack.Table[connVal] {
	capacity = min(max(capacity, 1), conntrack.MaxCapacity)
	slots := conntrack.IndexSize(capacity)
	esize := int(unsafe.Sizeof(conntrack.Entry[connVal]{}))
	if capacity*esize < hugePage {
		return conntrack.New(capacity, now, onExpire)
	}
	emem, err1 := hugeAlloc(capacity * esize)
	imem, err2 := hugeAlloc(slots * 4)
	if err1 != nil || err2 != nil {
		return conntrack.New(capacity, now, onExpire)
	}
	entries := unsafe.Slice((*conntrack.Entry[connVal])(unsafe.Pointer(&emem[0])), capacity)
	index := unsafe.Slice((*uint32)(unsafe.Pointer(&imem[0])), slots)
	return conntrack.NewIn(entries, index, now, onExpire)
}

// hugePage is the size of a transparent huge page (x86-64, arm64 with 4 KiB pages).
const hugePage = 2 << 20

// hugeAlloc maps size bytes of zeroed anonymous memory, asking for huge pages.
func hugeAlloc(size int) ([]byte, error) {
	size = (size + hugePage - 1) &^ (hugePage - 1)
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE) // best effort: THP may be off
	return mem, nil
}
