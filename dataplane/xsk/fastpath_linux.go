package xsk

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The fast path (bpf/fastpath.h): the steering program forwards a packet itself when its tuple
// has a record the owning worker installed (AddFast), and counts it in the record's stats slot,
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

// EnableFastPath turns the fast path on for the programs Attach loads from now on: records for
// up to slots connection directions, stats slots 0..slots-1, and ports (ifindexes, by port
// position) to redirect to. It must be called before the first Attach. Kernel gaps (no mmapable
// arrays, no devmap) are ErrNotSupported; the steering then goes on without a fast path.
func (st *Steering) EnableFastPath(slots int, ports []int) error {
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
	spec.Maps["fast_flows"].MaxEntries = uint32(slots)
	spec.Maps["fast_stats"].MaxEntries = uint32(slots)
	flows, err := ebpf.NewMap(spec.Maps["fast_flows"])
	if err != nil {
		return fmt.Errorf("xsk: create map fast_flows: %w", wrapMapErr(err))
	}
	stats, err := ebpf.NewMap(spec.Maps["fast_stats"])
	if err != nil {
		flows.Close()
		return fmt.Errorf("xsk: create map fast_stats: %w", wrapMapErr(err))
	}
	size := slots * int(unsafe.Sizeof(FastStat{}))
	mem, err := unix.Mmap(stats.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		flows.Close()
		stats.Close()
		return fmt.Errorf("%w: xsk: map fast_stats memory: %w", ErrNotSupported, err)
	}
	for i, ifindex := range ports {
		if err := st.shared.FastPorts.Update(uint32(i), uint32(ifindex), ebpf.UpdateAny); err != nil {
			flows.Close()
			stats.Close()
			_ = unix.Munmap(mem)
			return fmt.Errorf("xsk: fast path port %d (ifindex %d): %w", i, ifindex, wrapMapErr(err))
		}
	}
	if err := spec.Variables["fast_path_on"].Set(uint8(1)); err != nil {
		flows.Close()
		stats.Close()
		_ = unix.Munmap(mem)
		return fmt.Errorf("xsk: enable fast path: %w", err)
	}
	st.shared.FastFlows.Close()
	st.shared.FastStats.Close()
	st.fast.unmap()
	st.slow = st.spec
	st.shared.FastFlows, st.shared.FastStats, st.spec = flows, stats, spec
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

// AddFast installs records (recs[i] for the packets of keys[i]) in one system call that allocates
// nothing. It returns how many went in before an error (E2BIG: the map is full). Several workers
// may call it at once.
func (st *Steering) AddFast(keys []FlowKey, recs []FastRecord) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if len(recs) != len(keys) {
		return 0, fmt.Errorf("xsk: add %d fast-path records with %d keys", len(recs), len(keys))
	}
	n, err := mapBatch(unix.BPF_MAP_UPDATE_BATCH, st.shared.FastFlows.FD(), unsafe.Pointer(&keys[0]), unsafe.Pointer(&recs[0]), len(keys))
	if err != nil {
		return n, fmt.Errorf("xsk: add %d fast-path records: %w", len(keys), err)
	}
	return n, nil
}

// DeleteFast removes records, in one system call (more if some are not there: they are skipped),
// allocating nothing.
func (st *Steering) DeleteFast(keys []FlowKey) error {
	for len(keys) > 0 {
		n, err := mapBatch(unix.BPF_MAP_DELETE_BATCH, st.shared.FastFlows.FD(), unsafe.Pointer(&keys[0]), nil, len(keys))
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("xsk: delete %d fast-path records: %w", len(keys), err)
		}
		keys = keys[n+1:]
	}
	return nil
}

// FastRecords returns how many records are installed, by walking the map (for tests and tools).
func (st *Steering) FastRecords() (int, error) {
	var (
		k FlowKey
		v FastRecord
		n int
	)
	it := st.shared.FastFlows.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		return n, fmt.Errorf("xsk: iterate fast_flows: %w", err)
	}
	return n, nil
}
