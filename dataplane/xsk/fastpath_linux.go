package xsk

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The fast path (bpf/fastpath.h): the steering program forwards a packet itself when its tuple
// has a record the owning worker installed (AddFast4, AddFast6), and counts it in the record's stats slot,
// which the worker reads and resets in place (FastStats).

// FastRecord is one direction's rewrite, as bpf/fastpath.h's struct fast_rec: addresses and ports
// in network byte order (IPv4 in the first 4 bytes of an address).
type FastRecord = steerFastRec

// FastStat is a stats slot: Count is packets << 36 | bytes (IP length), Last the last packet's time
// in jiffies (FastClock maps them to CLOCK_MONOTONIC). The program adds to it atomically; read and
// reset it only with sync/atomic.
type FastStat = steerFastStat

// The kinds of FastRecord.
const (
	FastNAT uint8 = 1 // new addresses and ports (NAT, FULLNAT)
	FastDR  uint8 = 2 // MACs only
	FastTUN uint8 = 3 // an outer IPv4 or IPv6 header
)

// MaxFastPorts is the most ports the fast path redirects to.
const MaxFastPorts = 64

// fastMem is the fast_stats map's memory.
type fastMem struct {
	mem   []byte
	slots []FastStat
	clock JiffyClock // the clock of the slots' Last
}

func (m *fastMem) unmap() {
	if m.mem != nil {
		_ = unix.Munmap(m.mem)
		m.mem, m.slots = nil, nil
	}
}

// fastMaps are the maps EnableFastPath sizes: the records of either family and their stats slots.
var fastMaps = [...]string{"fast_flows4", "fast_flows6", "fast_stats"}

// EnableFastPath turns the fast path on for the programs Attach loads from now on: records for
// up to slots connection directions of either family, stats slots 0..slots-1, and ports
// (ifindexes, by port position) to redirect to. It must be called before the first Attach.
// Kernel gaps (no mmapable arrays, no devmap) are ErrNotSupported; the steering then goes on
// without a fast path.
func (st *Steering) EnableFastPath(slots int, ports []int) (err error) {
	if len(st.ifaces) > 0 {
		return errors.New("xsk: enable fast path: programs already attached")
	}
	if len(ports) > MaxFastPorts {
		return fmt.Errorf("xsk: enable fast path: %d ports, at most %d", len(ports), MaxFastPorts)
	}
	slots = min(max(slots, 1024), 1<<28)
	clock, err := MeasureJiffyClock()
	if err != nil {
		return fmt.Errorf("xsk: enable fast path: %w", err)
	}
	spec := st.spec.Copy()
	var maps [len(fastMaps)]*ebpf.Map
	defer func() {
		if err != nil {
			for _, m := range maps {
				if m != nil {
					m.Close()
				}
			}
		}
	}()
	for i, name := range fastMaps {
		spec.Maps[name].MaxEntries = uint32(slots)
		if maps[i], err = ebpf.NewMap(spec.Maps[name]); err != nil {
			return fmt.Errorf("xsk: create map %s: %w", name, wrapMapErr(err))
		}
	}
	stats := maps[2]
	size := slots * int(unsafe.Sizeof(FastStat{}))
	mem, err := unix.Mmap(stats.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("%w: xsk: map fast_stats memory: %w", ErrNotSupported, err)
	}
	for i, ifindex := range ports {
		if err = st.shared.FastPorts.Update(uint32(i), uint32(ifindex), ebpf.UpdateAny); err != nil {
			_ = unix.Munmap(mem)
			return fmt.Errorf("xsk: fast path port %d (ifindex %d): %w", i, ifindex, wrapMapErr(err))
		}
	}
	if err = spec.Variables["fast_path_on"].Set(uint8(1)); err != nil {
		_ = unix.Munmap(mem)
		return fmt.Errorf("xsk: enable fast path: %w", err)
	}
	st.shared.FastFlows4.Close()
	st.shared.FastFlows6.Close()
	st.shared.FastStats.Close()
	st.fast.unmap()
	st.slow = st.spec
	st.shared.FastFlows4, st.shared.FastFlows6, st.shared.FastStats, st.spec = maps[0], maps[1], stats, spec
	st.fast = fastMem{mem: mem, slots: unsafe.Slice((*FastStat)(unsafe.Pointer(&mem[0])), slots), clock: clock}
	return nil
}

// DisableFastPath turns the fast path off again for the programs Attach loads from now on (for a
// kernel that refused the program with it); its maps stay until Close.
func (st *Steering) DisableFastPath() {
	if st.slow != nil {
		st.spec, st.slow = st.slow, nil
	}
}

// FastStats returns the stats slots (nil while the fast path is off), memory shared with the
// program: use sync/atomic on their fields.
func (st *Steering) FastStats() []FastStat { return st.fast.slots }

// FastClock maps the jiffies of the stats slots' Last to CLOCK_MONOTONIC (measured by
// EnableFastPath).
func (st *Steering) FastClock() JiffyClock { return st.fast.clock }

// FastKey4 is an IPv4 connection direction's tuple as the fast path looks it up (Flow4); IPv6
// directions are looked up by their FlowKey (Flow).
type FastKey4 = steerFastKey4

// Flow4 returns the fast-path key of the IPv4 tuple src:sport -> dst:dport of protocol proto;
// addresses in their IPv4-mapped form, as Flow takes them.
func Flow4(proto uint8, src *[16]byte, sport uint16, dst *[16]byte, dport uint16) FastKey4 {
	k := FastKey4{Proto: proto, Sport: htons(sport), Dport: htons(dport)}
	copy(k.Saddr[:], src[12:])
	copy(k.Daddr[:], dst[12:])
	return k
}

// AddFast4 installs IPv4 records (recs[i] for the packets of keys[i]) in one system call that
// allocates nothing. It returns how many went in before an error (E2BIG: the map is full).
// Several workers may call it, and the other Add and Delete methods, at once.
func (st *Steering) AddFast4(keys []FastKey4, recs []FastRecord) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	return st.addFast(st.shared.FastFlows4, unsafe.Pointer(&keys[0]), len(keys), recs)
}

// AddFast6 is AddFast4 for IPv6: keys made by Flow with v4 false.
func (st *Steering) AddFast6(keys []FlowKey, recs []FastRecord) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	for i := range keys {
		if keys[i].Family != familyV6 {
			return 0, fmt.Errorf("xsk: add fast-path records: key %d is not IPv6 (use AddFast4)", i)
		}
	}
	return st.addFast(st.shared.FastFlows6, unsafe.Pointer(&keys[0]), len(keys), recs)
}

func (st *Steering) addFast(m *ebpf.Map, keys unsafe.Pointer, n int, recs []FastRecord) (int, error) {
	if len(recs) != n {
		return 0, fmt.Errorf("xsk: add %d fast-path records with %d keys", len(recs), n)
	}
	done, err := mapBatch(unix.BPF_MAP_UPDATE_BATCH, m.FD(), keys, unsafe.Pointer(&recs[0]), n)
	if err != nil {
		return done, fmt.Errorf("xsk: add %d fast-path records: %w", n, err)
	}
	return done, nil
}

// DeleteFast4 removes IPv4 records, in one system call (more if some are not there: they are
// skipped), allocating nothing.
func (st *Steering) DeleteFast4(keys []FastKey4) error {
	return deleteBatch(st.shared.FastFlows4, keys, "fast-path records")
}

// DeleteFast6 is DeleteFast4 for IPv6.
func (st *Steering) DeleteFast6(keys []FlowKey) error {
	return deleteBatch(st.shared.FastFlows6, keys, "fast-path records")
}

// FastRecords returns how many records are installed, by walking the maps (for tests and tools).
func (st *Steering) FastRecords() (int, error) {
	var (
		k4 FastKey4
		k6 FlowKey
		v  FastRecord
		n  int
	)
	for _, it := range []struct {
		m   *ebpf.Map
		key any
	}{{st.shared.FastFlows4, &k4}, {st.shared.FastFlows6, &k6}} {
		i := it.m.Iterate()
		for i.Next(it.key, &v) {
			n++
		}
		if err := i.Err(); err != nil {
			return n, fmt.Errorf("xsk: iterate the fast-path records: %w", err)
		}
	}
	return n, nil
}
