package sched

import (
	"encoding/binary"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

// The ageing rules of ip_vs_lblc.c and ip_vs_lblcr.c.
const (
	// lblcMaxEntries is the kernel's tbl->max_size (IP_VS_LBLC_TAB_SIZE*16). The kernel lets a
	// table grow past it until its next garbage collection; here it is a hard cap.
	lblcMaxEntries = 1 << 10 * 16
	// lblcEntryTimeout (ENTRY_TIMEOUT) is the idle time after which an entry may be collected when
	// the table is full.
	lblcEntryTimeout = int64(6 * time.Minute)
	// lblcExpiration is the default of the lblc_expiration and lblcr_expiration sysctls: an entry
	// idle that long is collected by the full check, and an lblcr set unchanged that long loses its
	// most loaded destination.
	lblcExpiration = int64(24 * time.Hour)
	// lblcFullCheck is how often the full check runs: every COUNT_FOR_FULL_EXPIRATION (30) runs
	// of the kernel's 60-second timer.
	lblcFullCheck = int64(30 * time.Minute)
	// lblcCheckInterval (CHECK_EXPIRE_INTERVAL) is the period of the kernel's collection timer;
	// here the shortest time between two collections of a full table.
	lblcCheckInterval = int64(time.Minute)
	// addrTableMinSlots is the initial hash table size.
	addrTableMinSlots = 64
)

// addrEntry is one destination address of an lblc or lblcr table.
type addrEntry struct {
	addr    header.Addr
	lastuse int64 // last scheduled
	lastmod int64 // lblcr: last change of the set
	hash    uint32
	dest    int32 // lblc: the destination; lblcr: the size of the set; free entries: next free + 1
}

// addrTable maps destination addresses to entries, with ageing. It replaces the kernel's chained
// hash table, its GFP_ATOMIC allocations and its timer: entries live in one slice, reused through a
// free list, and are found through an open-addressing index (linear probing, backward-shift
// deletion) that grows by doubling up to twice lblcMaxEntries. Memory is therefore taken only when a
// new address arrives while the table is at its largest size so far, at most about ten times in an
// instance's life, and never beyond about 1.3 MiB. The garbage collection that the kernel runs from
// a timer runs here inside the Schedule that finds it due (see expire).
type addrTable struct {
	slots    []int32 // entry index + 1, 0 for an empty slot
	ents     []addrEntry
	free     int32 // first free entry + 1
	n        int
	max      int
	now      func() int64
	lastFull int64 // last full check
	lastGC   int64 // last collection of a full table
}

func newAddrTable(cfg Config, max int) addrTable {
	t := addrTable{slots: make([]int32, addrTableMinSlots), max: max, now: clock(cfg)}
	t.lastFull = t.now()
	t.lastGC = t.lastFull - lblcCheckInterval
	return t
}

// addrHash mixes all 128 bits of the address (murmur3's finalizer), so that addresses differing
// in any byte spread over the whole index.
func addrHash(a *header.Addr) uint32 {
	h := binary.LittleEndian.Uint64(a[0:])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(a[8:])
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return uint32(h)
}

// get returns the entry of a, or -1.
func (t *addrTable) get(a *header.Addr) int32 {
	h := addrHash(a)
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := t.slots[i] - 1
		if e < 0 {
			return -1
		}
		if t.ents[e].hash == h && t.ents[e].addr == *a {
			return e
		}
	}
}

// insert adds an entry for a, which must be absent, used now. When the table is full it collects
// the entries idle for lblcEntryTimeout, at most once per lblcCheckInterval (the kernel's timer
// period), so that a flood of new addresses cannot make every Schedule scan the table. It returns -1
// when the table is still full: the caller then goes on without an entry, as the kernel does when
// its allocation fails.
func (t *addrTable) insert(a *header.Addr, now int64) int32 {
	if t.n >= t.max {
		if now-t.lastGC < lblcCheckInterval {
			return -1
		}
		t.lastGC = now
		t.collect(now, lblcEntryTimeout)
		if t.n >= t.max {
			return -1
		}
	}
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	var e int32
	if t.free > 0 {
		e = t.free - 1
		t.free = t.ents[e].dest
	} else {
		e = int32(len(t.ents))
		t.ents = append(t.ents, addrEntry{})
	}
	h := addrHash(a)
	t.ents[e] = addrEntry{addr: *a, hash: h, lastuse: now, lastmod: now}
	t.place(e)
	t.n++
	return e
}

func (t *addrTable) place(e int32) {
	mask := uint32(len(t.slots) - 1)
	i := t.ents[e].hash & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = e + 1
}

func (t *addrTable) grow() {
	old := t.slots
	t.slots = make([]int32, 2*len(old))
	for _, s := range old {
		if s != 0 {
			t.place(s - 1)
		}
	}
}

// remove deletes entry e.
func (t *addrTable) remove(e int32) {
	mask := uint32(len(t.slots) - 1)
	i := t.ents[e].hash & mask
	for t.slots[i] != e+1 {
		i = (i + 1) & mask
	}
	// Backward-shift deletion: pull back every later entry of the run that may sit at i.
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := t.ents[t.slots[j]-1].hash & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	t.ents[e] = addrEntry{dest: t.free}
	t.free = e + 1
	t.n--
}

// collect removes the entries idle for at least idle ns (the kernel's time_before(now,
// lastuse + timeout) keeps the others).
func (t *addrTable) collect(now, idle int64) {
	for i := 0; i < len(t.slots); {
		e := t.slots[i] - 1
		if e >= 0 && now-t.ents[e].lastuse >= idle {
			t.remove(e) // may shift a later entry into slot i: look at it again
			continue
		}
		i++
	}
}

// expire runs the kernel's full expiration check when it is due: every lblcFullCheck, the entries
// idle for lblcExpiration go. It scans the table, so one new connection every half hour pays for
// it (tens of microseconds for a full table).
func (t *addrTable) expire(now int64) {
	if now-t.lastFull < lblcFullCheck {
		return
	}
	t.lastFull = now
	t.collect(now, lblcExpiration)
}
