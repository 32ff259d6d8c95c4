package xsk

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	xdpRingNeedWakeup = unix.XDP_RING_NEED_WAKEUP
	sizeofDesc        = 16

	// bindBusyTimeout bounds the retries of a bind that sees EBUSY: the
	// kernel releases a closed socket's hold on (dev, queue) from a
	// deferred work item, ~30 ms after close.
	bindBusyTimeout = time.Second
	bindBusyPause   = 5 * time.Millisecond
)

// Compile-time check that Desc matches struct xdp_desc.
var _ [sizeofDesc]byte = [unsafe.Sizeof(Desc{})]byte{}

// UMEM is a region of NumFrames frames shared by the sockets of one
// worker, with a stack of free frame addresses. Not safe for concurrent
// use.
type UMEM struct {
	opts       Options
	mem        []byte
	frameMask  uint64 // FrameSize-1
	free       []uint64
	owner      *Socket // the socket the UMEM is registered on
	sockets    []*Socket
	closed     bool
	frameCount uint64
}

// NewUMEM maps and zeroes the UMEM memory and puts every frame on the free
// stack. The memory is registered with the kernel by the first Bind.
func NewUMEM(o Options) (*UMEM, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	size := o.NumFrames * o.FrameSize
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("xsk: mmap umem of %d bytes: %w", size, err)
	}
	u := &UMEM{
		opts:       o,
		mem:        mem,
		frameMask:  uint64(o.FrameSize - 1),
		free:       make([]uint64, o.NumFrames),
		frameCount: uint64(o.NumFrames),
	}
	// Lowest addresses on top of the stack.
	for i := range o.NumFrames {
		u.free[i] = uint64(o.NumFrames-1-i) * uint64(o.FrameSize)
	}
	return u, nil
}

// Options returns the options the UMEM was made with.
func (u *UMEM) Options() Options { return u.opts }

// Frame returns the bytes of the frame holding addr, from addr to the end
// of the frame. It panics if addr is outside the UMEM.
func (u *UMEM) Frame(addr uint64) []byte {
	end := (addr &^ u.frameMask) + u.frameMask + 1
	return u.mem[addr:end:end]
}

// MaxPacket is the largest packet the kernel delivers into a frame:
// FrameSize minus XDP_PACKET_HEADROOM (256), the UMEM having no headroom of
// its own (3840 for 4096-byte frames, 1792 for 2048). Larger packets are
// dropped by the kernel (XDP_STATISTICS rx_dropped). A packet built from an
// Alloc'd frame (starting at the frame's base) may use the whole frame, but
// keeping to MaxPacket keeps forwarding symmetric.
func (u *UMEM) MaxPacket() int { return u.opts.FrameSize - XDPPacketHeadroom }

// Alloc pops a free frame; it returns the frame's base address.
func (u *UMEM) Alloc() (uint64, bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	a := u.free[n-1]
	u.free = u.free[:n-1]
	return a, true
}

// Free pushes the frame holding addr on the free stack. Freeing a frame
// twice corrupts the UMEM's accounting; it is not checked.
func (u *UMEM) Free(addr uint64) {
	if len(u.free) == cap(u.free) {
		return // more frees than frames: a caller bug; do not grow
	}
	u.free = append(u.free, addr&^u.frameMask)
}

// FreeCount is the number of frames on the free stack.
func (u *UMEM) FreeCount() int { return len(u.free) }

// Sockets returns the sockets bound so far, in Bind order.
func (u *UMEM) Sockets() []*Socket { return u.sockets }

// Socket is one AF_XDP socket bound to (ifindex, queue), with its RX and TX
// rings and its own fill and completion rings. Not safe for concurrent
// use.
type Socket struct {
	umem     *UMEM
	fd       int
	ifindex  int
	queue    int
	zeroCopy bool
	wakeup   bool // bound with XDP_USE_NEED_WAKEUP (or sharing such a UMEM)
	txBudget int

	fill, comp addrRing
	rx, tx     descRing
	closed     bool
}

// FD is the socket's file descriptor (for the XSKMAP and poll).
func (s *Socket) FD() int { return s.fd }

// Ifindex is the interface the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// Queue is the queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// ZeroCopy reports whether the socket runs in zero-copy mode (from
// getsockopt XDP_OPTIONS).
func (s *Socket) ZeroCopy() bool { return s.zeroCopy }

// TXBudget is the number of descriptors the kernel sends per sendto in
// copy mode: Options.TXBudget if the kernel accepted XDP_MAX_TX_SKB_BUDGET,
// else its default of 32.
func (s *Socket) TXBudget() int { return s.txBudget }

// Bind creates a socket bound to (ifindex, queue) in the calling thread's
// network namespace. The first Bind registers the UMEM on the new socket
// (bind mode per Options.Mode, with XDP_USE_NEED_WAKEUP); later Binds, to
// another interface and/or queue, share it with XDP_SHARED_UMEM and their
// own fill and completion rings, inheriting the owner's mode. Binding the
// same (ifindex, queue) twice is an error.
func (u *UMEM) Bind(ifindex, queue int) (*Socket, error) {
	if u.closed {
		return nil, fmt.Errorf("xsk: bind ifindex %d queue %d: umem closed", ifindex, queue)
	}
	if ifindex <= 0 || queue < 0 {
		return nil, fmt.Errorf("xsk: bind ifindex %d queue %d: bad interface or queue", ifindex, queue)
	}
	for _, s := range u.sockets {
		if s.ifindex == ifindex && s.queue == queue {
			return nil, fmt.Errorf("xsk: bind ifindex %d queue %d: already bound by this umem", ifindex, queue)
		}
	}
	var (
		s   *Socket
		err error
	)
	if u.owner == nil {
		s, err = u.bindOwner(ifindex, queue)
	} else {
		s, err = u.newSocket(ifindex, queue, false)
		if err == nil {
			err = s.bind(unix.XDP_SHARED_UMEM, u.owner.fd)
			if err != nil {
				s.close()
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("xsk: bind ifindex %d queue %d: %w", ifindex, queue, err)
	}
	s.setTXBudget()
	if err := s.readOptions(); err != nil {
		s.close()
		return nil, fmt.Errorf("xsk: bind ifindex %d queue %d: %w", ifindex, queue, err)
	}
	s.wakeup = true // the owner always uses need_wakeup; sharers inherit it
	if u.owner == nil {
		u.owner = s
	}
	u.sockets = append(u.sockets, s)
	s.Refill()
	return s, nil
}

// bindOwner makes the socket that registers the UMEM, trying zero-copy
// first in BindAuto mode. A failed zero-copy attempt is undone completely
// (the socket is closed) before copy mode is tried on a fresh socket.
func (u *UMEM) bindOwner(ifindex, queue int) (*Socket, error) {
	try := func(flags uint16) (*Socket, error) {
		s, err := u.newSocket(ifindex, queue, true)
		if err != nil {
			return nil, err
		}
		if err := s.bind(flags|unix.XDP_USE_NEED_WAKEUP, 0); err != nil {
			s.close()
			return nil, err
		}
		return s, nil
	}
	switch u.opts.Mode {
	case BindCopy:
		return try(unix.XDP_COPY)
	case BindZeroCopy:
		s, err := try(unix.XDP_ZEROCOPY)
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = fmt.Errorf("zero-copy: %w (%w)", ErrNotSupported, err)
		}
		return s, err
	}
	s, zcErr := try(unix.XDP_ZEROCOPY)
	if zcErr == nil {
		return s, nil
	}
	s, err := try(unix.XDP_COPY)
	if err != nil {
		return nil, fmt.Errorf("copy mode: %w (zero-copy: %v)", err, zcErr)
	}
	return s, nil
}

// newSocket creates an AF_XDP socket with its rings set up and mapped.
// With register it registers the UMEM on it.
func (u *UMEM) newSocket(ifindex, queue int, register bool) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, fmt.Errorf("socket(AF_XDP): %w (%w)", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("socket(AF_XDP): %w", err)
	}
	s := &Socket{umem: u, fd: fd, ifindex: ifindex, queue: queue, txBudget: 32}
	if err := s.setup(register); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup(register bool) error {
	o := s.umem.opts
	if register {
		reg := unix.XDPUmemReg{
			Addr: uint64(uintptr(unsafe.Pointer(&s.umem.mem[0]))),
			Len:  uint64(len(s.umem.mem)),
			Size: uint32(o.FrameSize),
		}
		if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			if errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EPERM) {
				return fmt.Errorf("register umem: %w (RLIMIT_MEMLOCK may be too low; run with CAP_IPC_LOCK or use fewer frames)", err)
			}
			return fmt.Errorf("register umem: %w", err)
		}
	}
	for _, r := range []struct {
		opt  int
		size int
		name string
	}{
		{unix.XDP_UMEM_FILL_RING, o.FillSize, "fill"},
		{unix.XDP_UMEM_COMPLETION_RING, o.CompletionSize, "completion"},
		{unix.XDP_RX_RING, o.RXSize, "rx"},
		{unix.XDP_TX_RING, o.TXSize, "tx"},
	} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, r.opt, r.size); err != nil {
			return fmt.Errorf("set %s ring size %d: %w", r.name, r.size, err)
		}
	}
	var off unix.XDPMmapOffsets
	optlen := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&optlen)), 0); e != 0 {
		return fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: %w", e)
	}
	if optlen != uint32(unsafe.Sizeof(off)) {
		return fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: short answer (%d bytes): %w", optlen, ErrNotSupported)
	}
	mapRing := func(r *ring, ro unix.XDPRingOffset, pgoff int64, entries int, elem uintptr, producer bool) (unsafe.Pointer, error) {
		size := int(ro.Desc) + entries*int(elem)
		mem, err := unix.Mmap(s.fd, pgoff, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("mmap ring at %#x: %w", pgoff, err)
		}
		r.init(mem, ro.Producer, ro.Consumer, ro.Flags, uint32(entries), producer)
		return unsafe.Pointer(&mem[ro.Desc]), nil
	}
	p, err := mapRing(&s.fill.ring, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, o.FillSize, 8, true)
	if err != nil {
		return err
	}
	s.fill.addrs = unsafe.Slice((*uint64)(p), o.FillSize)
	if p, err = mapRing(&s.comp.ring, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, o.CompletionSize, 8, false); err != nil {
		return err
	}
	s.comp.addrs = unsafe.Slice((*uint64)(p), o.CompletionSize)
	if p, err = mapRing(&s.rx.ring, off.Rx, unix.XDP_PGOFF_RX_RING, o.RXSize, sizeofDesc, false); err != nil {
		return err
	}
	s.rx.descs = unsafe.Slice((*Desc)(p), o.RXSize)
	if p, err = mapRing(&s.tx.ring, off.Tx, unix.XDP_PGOFF_TX_RING, o.TXSize, sizeofDesc, true); err != nil {
		return err
	}
	s.tx.descs = unsafe.Slice((*Desc)(p), o.TXSize)
	return nil
}

// bind binds the socket, retrying briefly on EBUSY (a socket closed just
// before still holds the queue).
func (s *Socket) bind(flags uint16, sharedFD int) error {
	sa := &unix.SockaddrXDP{
		Flags:        flags,
		Ifindex:      uint32(s.ifindex),
		QueueID:      uint32(s.queue),
		SharedUmemFD: uint32(sharedFD),
	}
	deadline := time.Now().Add(bindBusyTimeout)
	for {
		err := unix.Bind(s.fd, sa)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.EBUSY) && time.Now().Before(deadline) {
			time.Sleep(bindBusyPause)
			continue
		}
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("bind (flags %#x): %w (queue still in use after %v)", flags, err, bindBusyTimeout)
		}
		return fmt.Errorf("bind (flags %#x): %w", flags, err)
	}
}

// setTXBudget requests Options.TXBudget with XDP_MAX_TX_SKB_BUDGET; older
// kernels (ENOPROTOOPT) and refused values keep the default of 32.
func (s *Socket) setTXBudget() {
	b := s.umem.opts.TXBudget
	if b == 0 {
		return
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, b); err == nil {
		s.txBudget = b
	}
}

func (s *Socket) readOptions() error {
	var opts uint32
	optlen := uint32(unsafe.Sizeof(opts))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_OPTIONS,
		uintptr(unsafe.Pointer(&opts)), uintptr(unsafe.Pointer(&optlen)), 0); e != 0 {
		return fmt.Errorf("getsockopt XDP_OPTIONS: %w", e)
	}
	s.zeroCopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	return nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), size, 0); e != 0 {
		return e
	}
	return nil
}

// Refill moves frames from the free stack to the fill ring, as many as
// both allow, and returns how many. Every socket's fill ring draws on the
// same stack: a worker that also Allocs frames for packets it generates
// needs NumFrames above the sum of its fill ring sizes.
func (s *Socket) Refill() int {
	u := s.umem
	want := uint32(len(u.free))
	if want == 0 {
		return 0
	}
	idx, n := s.fill.Reserve(want)
	if n == 0 {
		return 0
	}
	top := len(u.free)
	for i := range n {
		s.fill.addrs[(idx+i)&s.fill.mask] = u.free[top-1-int(i)]
	}
	u.free = u.free[:top-int(n)]
	s.fill.Submit(n)
	return int(n)
}

// Receive copies up to len(descs) received descriptors into descs,
// releases their ring slots, refills the fill ring from the free stack and
// returns how many. The frames now belong to the caller (transmit or Free
// them). When nothing arrived and the kernel asks for it (need_wakeup on
// the fill ring), it wakes the driver with a non-blocking recvfrom.
func (s *Socket) Receive(descs []Desc) int {
	idx, n := s.rx.Peek(uint32(len(descs)))
	for i := range n {
		descs[i] = s.rx.descs[(idx+i)&s.rx.mask]
	}
	if n > 0 {
		s.rx.Release(n)
	}
	s.Refill()
	if n == 0 && s.fill.needWakeup() {
		_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	return int(n)
}

// Transmit puts as many of descs on the TX ring as fit, submits them and
// kicks the kernel when it needs it (always in copy mode). It returns how
// many were accepted; those belong to the kernel until Complete returns
// them to the free stack, the rest still belong to the caller. Kick
// failures (EAGAIN, EBUSY, ENOBUFS) leave the descriptors on the ring for
// the next kick.
func (s *Socket) Transmit(descs []Desc) int {
	idx, n := s.tx.Reserve(uint32(len(descs)))
	for i := range n {
		s.tx.descs[(idx+i)&s.tx.mask] = descs[i]
	}
	if n > 0 {
		s.tx.Submit(n)
	}
	s.Wakeup()
	return int(n)
}

// Wakeup kicks the kernel to send what is on the TX ring, if anything is
// and the kernel needs a kick (copy mode, or need_wakeup set).
func (s *Socket) Wakeup() {
	if s.tx.pending() == 0 {
		return
	}
	if !s.zeroCopy || !s.wakeup || s.tx.needWakeup() {
		s.kick()
	}
}

// kick calls sendto until the kernel has consumed the TX ring, at most
// enough times for the pending descriptors at TXBudget per call, plus one.
// EAGAIN means the budget or the completion ring ran out: completions are
// reaped and the kick repeated. Other errors end it; the descriptors stay
// queued.
func (s *Socket) kick() {
	limit := int(s.tx.pending())/max(s.txBudget, 1) + 2
	for range limit {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			if s.zeroCopy || s.tx.pending() == 0 {
				return
			}
		case unix.EAGAIN:
			s.Complete()
		default: // EBUSY, ENOBUFS, ENETDOWN, ENXIO: retry on the next kick
			return
		}
		if s.tx.pending() == 0 {
			return
		}
	}
}

// Complete moves transmitted frames from the completion ring to the free
// stack and returns how many.
func (s *Socket) Complete() int {
	idx, n := s.comp.Peek(s.comp.size)
	if n == 0 {
		return 0
	}
	u := s.umem
	for i := range n {
		u.Free(s.comp.addrs[(idx+i)&s.comp.mask])
	}
	s.comp.Release(n)
	return int(n)
}

// Statistics reads XDP_STATISTICS.
func (s *Socket) Statistics() (Statistics, error) {
	var st unix.XDPStatistics
	optlen := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&optlen)), 0); e != 0 {
		return Statistics{}, fmt.Errorf("xsk: getsockopt XDP_STATISTICS: %w", e)
	}
	return Statistics{
		RxDropped:            st.Rx_dropped,
		RxInvalidDescs:       st.Rx_invalid_descs,
		TxInvalidDescs:       st.Tx_invalid_descs,
		RxRingFull:           st.Rx_ring_full,
		RxFillRingEmptyDescs: st.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs:     st.Tx_ring_empty_descs,
	}, nil
}

// close unmaps the rings, then closes the descriptor.
func (s *Socket) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, r := range []*ring{&s.fill.ring, &s.comp.ring, &s.rx.ring, &s.tx.ring} {
		if r.mem != nil {
			if err := unix.Munmap(r.mem); err != nil {
				errs = append(errs, fmt.Errorf("munmap ring: %w", err))
			}
			r.mem = nil
		}
	}
	if err := unix.Close(s.fd); err != nil {
		errs = append(errs, fmt.Errorf("close: %w", err))
	}
	return errors.Join(errs...)
}

// Close closes every socket (sharers first, then the UMEM owner), each
// after unmapping its rings, and unmaps the UMEM memory.
func (u *UMEM) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	var errs []error
	for i := len(u.sockets) - 1; i >= 0; i-- {
		if err := u.sockets[i].close(); err != nil {
			errs = append(errs, fmt.Errorf("xsk: close socket ifindex %d queue %d: %w", u.sockets[i].ifindex, u.sockets[i].queue, err))
		}
	}
	u.sockets, u.owner = nil, nil
	if err := unix.Munmap(u.mem); err != nil {
		errs = append(errs, fmt.Errorf("xsk: munmap umem: %w", err))
	}
	u.mem, u.free = nil, nil
	return errors.Join(errs...)
}
