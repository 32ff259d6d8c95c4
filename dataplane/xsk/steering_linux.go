package xsk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ProgramName is the name of the steering program in the kernel (bpftool
// prog show, ip link). Attach replaces a stale program of this name left
// attached by a crashed run, and nothing else.
const ProgramName = "xdpvs_steer"

// ErrInterfaceBusy is returned by Attach when the interface already has an
// XDP program that Attach must not replace.
var ErrInterfaceBusy = errors.New("interface has another XDP program")

const (
	familyV4 = 4
	familyV6 = 6
)

// Steering owns the steering maps and one program instance per attached
// interface. Its methods are not safe for concurrent use. A Steering
// belongs to one network namespace: Attach works on the interfaces of the
// calling thread's namespace, and interfaces are identified by ifindex.
type Steering struct {
	spec   *ebpf.CollectionSpec
	shared steerSharedMaps
	ones   []uint32 // the values of AddFlows
	ifaces map[int]*steerIface
	closed bool
	fast   fastMem              // the fast path's stats, mapped (EnableFastPath)
	slow   *ebpf.CollectionSpec // the spec without the fast path (DisableFastPath)
}

type steerSharedMaps struct {
	Services   *ebpf.Map `ebpf:"services"`
	NATFlows   *ebpf.Map `ebpf:"nat_flows"`
	LocalAddrs *ebpf.Map `ebpf:"local_addrs"`
	FragAddrs  *ebpf.Map `ebpf:"frag_addrs"`
	Stats      *ebpf.Map `ebpf:"stats"`
	FastFlows4 *ebpf.Map `ebpf:"fast_flows4"`
	FastFlows6 *ebpf.Map `ebpf:"fast_flows6"`
	FastStats  *ebpf.Map `ebpf:"fast_stats"`
	FastPorts  *ebpf.Map `ebpf:"fast_ports"`
}

func (m *steerSharedMaps) replacements() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{
		"services":    m.Services,
		"nat_flows":   m.NATFlows,
		"local_addrs": m.LocalAddrs,
		"frag_addrs":  m.FragAddrs,
		"stats":       m.Stats,
		"fast_flows4": m.FastFlows4,
		"fast_flows6": m.FastFlows6,
		"fast_stats":  m.FastStats,
		"fast_ports":  m.FastPorts,
	}
}

func (m *steerSharedMaps) close() {
	for _, x := range []*ebpf.Map{m.Services, m.NATFlows, m.LocalAddrs, m.FragAddrs, m.Stats, m.FastFlows4, m.FastFlows6, m.FastStats, m.FastPorts} {
		if x != nil {
			x.Close()
		}
	}
}

type steerIface struct {
	objs steerIfaceObjects
	link link.Link
	mode AttachMode
}

type steerIfaceObjects struct {
	Prog *ebpf.Program `ebpf:"xdpvs_steer"`
	Xsks *ebpf.Map     `ebpf:"xsks"`
}

// NewSteering creates the shared maps, with room for flows NAT connections (at least 1024).
// Nothing is attached yet.
func NewSteering(flows int) (*Steering, error) {
	spec, err := loadSteer()
	if err != nil {
		return nil, fmt.Errorf("xsk: load steering spec: %w", err)
	}
	if n := spec.Maps["stats"].MaxEntries; int(n) != len(StatNames) {
		return nil, fmt.Errorf("xsk: steering program has %d counters, Go side knows %d", n, len(StatNames))
	}
	spec.Maps["nat_flows"].MaxEntries = uint32(min(max(flows, 1024), 1<<28))
	for _, m := range fastMaps { // off until EnableFastPath
		spec.Maps[m].MaxEntries = 1
	}
	st := &Steering{spec: spec, ifaces: map[int]*steerIface{}, ones: make([]uint32, MaxFlowBatch)}
	for i := range st.ones {
		st.ones[i] = 1
	}
	for name, dst := range map[string]**ebpf.Map{"services": &st.shared.Services, "nat_flows": &st.shared.NATFlows,
		"local_addrs": &st.shared.LocalAddrs, "frag_addrs": &st.shared.FragAddrs, "stats": &st.shared.Stats, "fast_flows4": &st.shared.FastFlows4,
		"fast_flows6": &st.shared.FastFlows6, "fast_stats": &st.shared.FastStats, "fast_ports": &st.shared.FastPorts} {
		m, err := ebpf.NewMap(spec.Maps[name])
		if err != nil {
			st.shared.close()
			return nil, fmt.Errorf("xsk: create map %s: %w", name, wrapMapErr(err))
		}
		*dst = m
	}
	return st, nil
}

// FlowKey is a NAT connection's reply tuple as the steering program looks it up (Flow).
type FlowKey = steerFlowKey

// Flow returns the key of the reply tuple src:sport -> dst:dport of protocol proto; addresses are
// 16 bytes, IPv4 in its IPv4-mapped form.
func Flow(proto uint8, src *[16]byte, sport uint16, dst *[16]byte, dport uint16, v4 bool) FlowKey {
	k := FlowKey{Proto: proto, Sport: htons(sport), Dport: htons(dport)}
	if v4 {
		k.Family = familyV4
		copy(k.Saddr[:4], src[12:])
		copy(k.Daddr[:4], dst[12:])
	} else {
		k.Family = familyV6
		k.Saddr, k.Daddr = *src, *dst
	}
	return k
}

// AddFlows puts NAT reply tuples in the program's map, so that their packets are steered to the
// workers, in one system call that allocates nothing (a worker calls it once per batch). It
// returns how many went in before an error (the map full). AddFlows and DeleteFlows may be called
// by several workers at once.
func (st *Steering) AddFlows(keys []FlowKey) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if len(st.ones) < len(keys) {
		return 0, fmt.Errorf("xsk: add %d NAT flows: at most %d at once", len(keys), len(st.ones))
	}
	n, err := mapBatch(unix.BPF_MAP_UPDATE_BATCH, st.shared.NATFlows.FD(), unsafe.Pointer(&keys[0]), unsafe.Pointer(&st.ones[0]), len(keys))
	if err != nil {
		return n, fmt.Errorf("xsk: add %d NAT flows: %w", len(keys), err)
	}
	return n, nil
}

// DeleteFlows takes NAT reply tuples out of the program's map, in one system call (more if some
// are not there: they are skipped), allocating nothing.
func (st *Steering) DeleteFlows(keys []FlowKey) error {
	return deleteBatch(st.shared.NATFlows, keys, "NAT flows")
}

// deleteBatch takes keys out of m in one system call, more if some are not there (they are
// skipped); what names them in errors.
func deleteBatch[K any](m *ebpf.Map, keys []K, what string) error {
	for len(keys) > 0 {
		n, err := mapBatch(unix.BPF_MAP_DELETE_BATCH, m.FD(), unsafe.Pointer(&keys[0]), nil, len(keys))
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("xsk: delete %d %s: %w", len(keys), what, err)
		}
		keys = keys[n+1:] // the one at n was not there
	}
	return nil
}

// MaxFlowBatch is the most keys AddFlows takes at once.
const MaxFlowBatch = 1024

// mapBatch is BPF_MAP_UPDATE_BATCH or BPF_MAP_DELETE_BATCH on count keys (and values), without
// the reflection of ebpf.Map's batch methods, which allocates.
func mapBatch(cmd uintptr, fd int, keys, values unsafe.Pointer, count int) (int, error) {
	attr := struct {
		inBatch, outBatch, keys, values uint64
		count, mapFD                    uint32
		elemFlags, flags                uint64
	}{keys: uint64(uintptr(keys)), values: uint64(uintptr(values)), count: uint32(count), mapFD: uint32(fd)}
	_, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(keys)
	runtime.KeepAlive(values)
	if errno != 0 {
		return int(attr.count), errno
	}
	return int(attr.count), nil
}

func wrapMapErr(err error) error {
	if errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("%w (%w)", ErrNotSupported, err)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w (needs CAP_BPF/CAP_SYS_ADMIN)", err)
	}
	return err
}

// loadProgram loads one program instance with its own XSKMAP, sharing the
// Steering's maps.
func (st *Steering) loadProgram() (steerIfaceObjects, error) {
	var objs steerIfaceObjects
	err := st.spec.Copy().LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: st.shared.replacements()})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return objs, fmt.Errorf("load program: %+v", ve)
		}
		return objs, fmt.Errorf("load program: %w", wrapMapErr(err))
	}
	return objs, nil
}

// Program loads a detached program instance (with its own XSKMAP) for
// tests and tools such as BPF_PROG_TEST_RUN. The caller closes both.
func (st *Steering) Program() (*ebpf.Program, *ebpf.Map, error) {
	objs, err := st.loadProgram()
	if err != nil {
		return nil, nil, fmt.Errorf("xsk: %w", err)
	}
	return objs.Prog, objs.Xsks, nil
}

// Attach loads a program instance for ifindex and attaches it with a
// bpf_link (detached by the kernel when the process exits). An interface
// holding a stale program named ProgramName that was attached without a
// link (by a crashed run) is cleared first; any other XDP program on the
// interface, or one held by a live link, makes Attach fail with
// ErrInterfaceBusy. It returns the mode that was used.
func (st *Steering) Attach(ifindex int, mode AttachMode) (AttachMode, error) {
	if st.closed {
		return 0, fmt.Errorf("xsk: attach ifindex %d: steering closed", ifindex)
	}
	if _, ok := st.ifaces[ifindex]; ok {
		return 0, fmt.Errorf("xsk: attach ifindex %d: already attached", ifindex)
	}
	if err := clearStale(ifindex); err != nil {
		return 0, fmt.Errorf("xsk: attach ifindex %d: %w", ifindex, err)
	}
	objs, err := st.loadProgram()
	if err != nil {
		return 0, fmt.Errorf("xsk: attach ifindex %d: %w", ifindex, err)
	}
	var modes []AttachMode
	switch mode {
	case AttachAuto:
		modes = []AttachMode{AttachNative, AttachGeneric}
	case AttachNative, AttachGeneric:
		modes = []AttachMode{mode}
	default:
		objs.Prog.Close()
		objs.Xsks.Close()
		return 0, fmt.Errorf("xsk: attach ifindex %d: unknown mode %d", ifindex, int(mode))
	}
	var errs []error
	for _, m := range modes {
		flags := link.XDPDriverMode
		if m == AttachGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: objs.Prog, Interface: ifindex, Flags: flags})
		if err == nil {
			st.ifaces[ifindex] = &steerIface{objs: objs, link: l, mode: m}
			return m, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			break // something got attached meanwhile; another mode won't help
		}
	}
	objs.Prog.Close()
	objs.Xsks.Close()
	err = errors.Join(errs...)
	if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
		err = fmt.Errorf("%w: %w", ErrInterfaceBusy, err)
	}
	return 0, fmt.Errorf("xsk: attach ifindex %d: %w", ifindex, err)
}

// clearStale removes a link-less program named ProgramName from ifindex
// and refuses anything else that is attached.
func clearStale(ifindex int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("look up interface: %w", err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return nil
	}
	if x.ProgId == 0 {
		return fmt.Errorf("%w: several XDP programs attached (mode %d); remove them with `ip link set dev %s xdp off` and `xdpgeneric off`",
			ErrInterfaceBusy, x.AttachMode, l.Attrs().Name)
	}
	name := fmt.Sprintf("id %d", x.ProgId)
	if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
		if info, err := p.Info(); err == nil {
			name = fmt.Sprintf("%q (id %d)", info.Name, x.ProgId)
			if info.Name != ProgramName {
				p.Close()
				return fmt.Errorf("%w: %s holds %s, not ours; remove it with `ip link set dev %s xdp off`",
					ErrInterfaceBusy, l.Attrs().Name, name, l.Attrs().Name)
			}
		}
		p.Close()
	} else {
		return fmt.Errorf("%w: %s holds XDP program %s: %v", ErrInterfaceBusy, l.Attrs().Name, name, err)
	}
	flags := 0
	switch x.AttachMode {
	case 1: // XDP_ATTACHED_DRV
		flags = unix.XDP_FLAGS_DRV_MODE
	case 2: // XDP_ATTACHED_SKB
		flags = unix.XDP_FLAGS_SKB_MODE
	case 3:
		flags = unix.XDP_FLAGS_HW_MODE
	}
	if err := netlink.LinkSetXdpFdWithFlags(l, -1, flags); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%w: %s holds %s through a live bpf_link (another xdpvs running?)", ErrInterfaceBusy, l.Attrs().Name, name)
		}
		return fmt.Errorf("remove stale %s: %w", name, err)
	}
	return nil
}

// Register puts s into the XSKMAP of its interface at its queue.
func (st *Steering) Register(s *Socket) error {
	ifc, ok := st.ifaces[s.Ifindex()]
	if !ok {
		return fmt.Errorf("xsk: register ifindex %d queue %d: interface not attached", s.Ifindex(), s.Queue())
	}
	if err := ifc.objs.Xsks.Update(uint32(s.Queue()), uint32(s.FD()), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("xsk: register ifindex %d queue %d: %w", s.Ifindex(), s.Queue(), err)
	}
	return nil
}

// Unregister removes the socket of (ifindex, queue) from the XSKMAP; the
// queue's traffic then goes to the kernel. (Closing a socket removes it
// too.)
func (st *Steering) Unregister(ifindex, queue int) error {
	ifc, ok := st.ifaces[ifindex]
	if !ok {
		return fmt.Errorf("xsk: unregister ifindex %d queue %d: interface not attached", ifindex, queue)
	}
	if err := ifc.objs.Xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("xsk: unregister ifindex %d queue %d: %w", ifindex, queue, err)
	}
	return nil
}

// Linked tells whether the program is still attached to ifindex through its link: the
// kernel detaches a link whose interface goes away, and nothing else can (a program attached
// by a link cannot be replaced without it).
func (st *Steering) Linked(ifindex int) bool {
	ifc, ok := st.ifaces[ifindex]
	if !ok {
		return false
	}
	info, err := ifc.link.Info()
	if err != nil {
		return false
	}
	x := info.XDP()
	return x != nil && int(x.Ifindex) == ifindex
}

func epKey(e Endpoint) (steerEpKey, error) {
	a := e.Addr.Unmap()
	k := steerEpKey{Proto: e.Proto, Port: htons(e.Port)}
	switch {
	case a.Is4():
		k.Family = familyV4
		b := a.As4()
		copy(k.Addr[:], b[:])
	case a.Is6():
		k.Family = familyV6
		k.Addr = a.As16()
	default:
		return k, fmt.Errorf("invalid address in %v", e)
	}
	if e.Proto != unix.IPPROTO_TCP && e.Proto != unix.IPPROTO_UDP {
		return k, fmt.Errorf("protocol %d of %v+%d: want TCP (6) or UDP (17)", e.Proto, e.Addr, e.Port)
	}
	return k, nil
}

// The roles of a frag_addrs key (its Pad[0]), as in steer.c.
const (
	fragTo   = 1 // a VIP: fragments sent to it
	fragFrom = 2 // a NAT real server: fragments it sends
)

func addrKey(a netip.Addr) (steerAddrKey, error) {
	a = a.Unmap()
	var k steerAddrKey
	switch {
	case a.Is4():
		k.Family = familyV4
		b := a.As4()
		copy(k.Addr[:], b[:])
	case a.Is6():
		k.Family = familyV6
		k.Addr = a.As16()
	default:
		return k, fmt.Errorf("invalid address %v", a)
	}
	return k, nil
}

// htons returns v in network byte order, as the key's host-order field
// must hold it.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16([]byte{byte(v >> 8), byte(v)})
}

// syncMap makes m hold exactly the keys in want (value 1): it first
// writes every wanted key (existing ones are overwritten in place, so an
// unchanged entry is never missing), then deletes the others.
func syncMap[K comparable](m *ebpf.Map, want map[K]struct{}) error {
	one := uint32(1)
	for k := range want {
		if err := m.Update(&k, &one, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update %s: %w", m, err)
		}
	}
	var (
		k     K
		v     uint32
		stale []K
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate %s: %w", m, err)
	}
	for _, k := range stale {
		if err := m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete from %s: %w", m, err)
		}
	}
	return nil
}

// Update makes the maps equal to r: new entries are added, stale ones
// deleted, unchanged ones never disappear. Invalid entries fail the whole
// update before any map is touched. (The NAT flows are the workers', through
// AddFlows and DeleteFlows.)
func (st *Steering) Update(r Rules) error {
	services := map[steerEpKey]struct{}{}
	locals := map[steerAddrKey]struct{}{}
	for _, e := range r.Services {
		k, err := epKey(e)
		if err != nil {
			return fmt.Errorf("xsk: update: service: %w", err)
		}
		services[k] = struct{}{}
	}
	for _, a := range r.LocalAddrs {
		k, err := addrKey(a)
		if err != nil {
			return fmt.Errorf("xsk: update: local address: %w", err)
		}
		locals[k] = struct{}{}
	}
	frags := map[steerAddrKey]struct{}{}
	for role, addrs := range map[uint8][]netip.Addr{fragTo: r.FragmentTo, fragFrom: r.FragmentFrom} {
		for _, a := range addrs {
			k, err := addrKey(a)
			if err != nil {
				return fmt.Errorf("xsk: update: fragment address: %w", err)
			}
			k.Pad[0] = role
			frags[k] = struct{}{}
		}
	}
	if err := syncMap(st.shared.Services, services); err != nil {
		return fmt.Errorf("xsk: update services: %w", err)
	}
	if err := syncMap(st.shared.FragAddrs, frags); err != nil {
		return fmt.Errorf("xsk: update fragment addresses: %w", err)
	}
	if err := syncMap(st.shared.LocalAddrs, locals); err != nil {
		return fmt.Errorf("xsk: update local addresses: %w", err)
	}
	return nil
}

// Stats returns the program's counters (see StatNames), summed over CPUs
// and over all interfaces.
func (st *Steering) Stats() (map[string]uint64, error) {
	out := make(map[string]uint64, len(StatNames))
	var per []uint64
	for i, name := range StatNames {
		if err := st.shared.Stats.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("xsk: read stat %s: %w", name, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	return out, nil
}

// Attached returns the attach mode per attached ifindex.
func (st *Steering) Attached() map[int]AttachMode {
	out := make(map[int]AttachMode, len(st.ifaces))
	for i, ifc := range st.ifaces {
		out[i] = ifc.mode
	}
	return out
}

// Detach detaches and unloads the program of one interface.
func (st *Steering) Detach(ifindex int) error {
	ifc, ok := st.ifaces[ifindex]
	if !ok {
		return nil
	}
	delete(st.ifaces, ifindex)
	return ifc.close(ifindex)
}

func (ifc *steerIface) close(ifindex int) error {
	var errs []error
	if err := ifc.link.Close(); err != nil {
		errs = append(errs, fmt.Errorf("xsk: detach ifindex %d: %w", ifindex, err))
	}
	ifc.objs.Prog.Close()
	ifc.objs.Xsks.Close()
	return errors.Join(errs...)
}

// Close detaches the program from every interface and closes all maps.
func (st *Steering) Close() error {
	if st.closed {
		return nil
	}
	st.closed = true
	var errs []error
	for i, ifc := range st.ifaces {
		errs = append(errs, ifc.close(i))
	}
	st.ifaces = nil
	st.fast.unmap()
	st.shared.close()
	return errors.Join(errs...)
}
