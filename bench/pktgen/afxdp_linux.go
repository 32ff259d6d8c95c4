package pktgen

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/dataplane/xsk"
	"github.com/xdpvs/xdpvs/internal/netns"
)

// The AF_XDP engine's socket: TX-only in effect. The kernel wants a fill ring (and the xsk layer
// makes an RX ring) even with no XDP program to redirect anything to the socket: they get a few
// frames that are never used. Every other frame is a TX frame, on the free stack, the TX ring or
// the completion ring, so the TX ring (as large as the TX frames) always has room.
const (
	xskFrameSize = 2048 // a 1514-byte frame fits
	xskTXSize    = 2048
	xskRXSize    = 64
	xskFillSize  = 64
	xskTXFrames  = xskTXSize
	// xskDrain bounds the wait for the last completions at the end of a run.
	xskDrain = time.Second
)

// XSKGenerator sends the frames of one Config from the TX ring of an AF_XDP socket
// (EngineAFXDP). Its UMEM frames are written with the template once, when the socket is bound;
// per frame, only the flow, the TCP sequence number, the stamp and the checksums are written
// (see framer), exactly the fields the BPF program writes. The socket is bound on the first Run
// and kept for the next ones on the same (namespace, interface, queue). Runs are serialised.
type XSKGenerator struct {
	mu    sync.Mutex
	cfg   Config
	frame []byte
	f     *framer
	umem  *xsk.UMEM
	sock  *xsk.Socket
	bound xskKey
	descs []xsk.Desc
}

type xskKey struct {
	ns             string
	ifindex, queue int
}

// NewXSK prepares an AF_XDP generator for cfg; the socket is made by Run.
func NewXSK(cfg Config) (*XSKGenerator, error) {
	frame, err := cfg.Frame()
	if err != nil {
		return nil, err
	}
	if len(frame) > xskFrameSize {
		return nil, fmt.Errorf("pktgen: frame of %d bytes does not fit a %d-byte UMEM frame", len(frame), xskFrameSize)
	}
	return &XSKGenerator{cfg: cfg, frame: frame, f: newFramer(cfg, frame)}, nil
}

// Config returns the generator's configuration.
func (g *XSKGenerator) Config() Config { return g.cfg }

// Engine returns EngineAFXDP.
func (g *XSKGenerator) Engine() Engine { return EngineAFXDP }

// Close closes the socket and unmaps the UMEM.
func (g *XSKGenerator) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.unbind()
}

func (g *XSKGenerator) unbind() error {
	if g.umem == nil {
		return nil
	}
	err := g.umem.Close()
	g.umem, g.sock, g.bound = nil, nil, xskKey{}
	return err
}

// Statistics reads the socket's XDP_STATISTICS (zero before the first Run).
func (g *XSKGenerator) Statistics() (xsk.Statistics, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sock == nil {
		return xsk.Statistics{}, nil
	}
	return g.sock.Statistics()
}

// ZeroCopy reports whether the socket is bound in zero-copy mode (false before the first Run;
// veth has copy mode only).
func (g *XSKGenerator) ZeroCopy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sock != nil && g.sock.ZeroCopy()
}

// Run sends count frames out of queue opts.Queue of the interface ifindex of ns (nil: the
// caller's namespace) from the calling goroutine's thread, locked and switched into ns for the
// duration, and stops early at opts.Duration. Frames are written in batches of opts.Chunk
// (DefaultXSKBatch), stamped once per batch, put on the TX ring with one Reserve/Submit and
// sent with one sendto (copy mode; a zero-copy driver is woken only when it sets need_wakeup);
// completed frames go back to the free stack for the next batches. At the end the run waits
// (at most a second) for the last completions: Result.Sent counts completed frames.
func (g *XSKGenerator) Run(ns *netns.NS, ifindex int, count uint64, opts RunOptions) (Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	if opts.Chunk == 0 {
		opts.Chunk = DefaultXSKBatch
	}
	opts.Chunk = min(opts.Chunk, xskTXSize/2)
	return runIn(ns, func() (Result, error) { return g.run(ns, ifindex, count, opts) })
}

// bind makes the socket for key, in the calling thread's namespace, and writes the template
// into every TX frame.
func (g *XSKGenerator) bind(key xskKey, batch int) error {
	if g.umem != nil && g.bound == key && len(g.descs) >= batch {
		return nil
	}
	if err := g.unbind(); err != nil {
		return fmt.Errorf("pktgen: close the previous socket: %w", err)
	}
	o := xsk.Options{
		NumFrames: xskTXFrames + xskFillSize, FrameSize: xskFrameSize,
		FillSize: xskFillSize, CompletionSize: xskTXSize, RXSize: xskRXSize, TXSize: xskTXSize,
		TXBudget: max(batch, 32), Mode: xsk.BindAuto,
	}
	u, err := xsk.NewUMEM(o)
	if err != nil {
		return fmt.Errorf("pktgen: %w", err)
	}
	s, err := u.Bind(key.ifindex, key.queue)
	if err != nil {
		u.Close()
		if errors.Is(err, xsk.ErrNotSupported) {
			err = fmt.Errorf("%w: %w", ErrNotSupported, err)
		}
		return fmt.Errorf("pktgen: AF_XDP socket on ifindex %d queue %d: %w", key.ifindex, key.queue, err)
	}
	// Bind put the fill ring's frames aside; the rest are the TX frames.
	addrs := make([]uint64, 0, u.FreeCount())
	for {
		a, ok := u.Alloc()
		if !ok {
			break
		}
		copy(u.Frame(a), g.frame)
		addrs = append(addrs, a)
	}
	for _, a := range addrs {
		u.Free(a)
	}
	if len(addrs) != xskTXFrames {
		u.Close()
		return fmt.Errorf("pktgen: %d TX frames, want %d", len(addrs), xskTXFrames)
	}
	g.umem, g.sock, g.bound = u, s, key
	g.descs = make([]xsk.Desc, batch)
	return nil
}

// monoClock maps the runtime's monotonic clock to CLOCK_MONOTONIC nanoseconds, the clock of
// bpf_ktime_get_ns, without a system call per reading.
type monoClock struct {
	base  uint64
	start time.Time
}

func newMonoClock() (monoClock, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return monoClock{}, fmt.Errorf("pktgen: clock_gettime: %w", err)
	}
	return monoClock{base: uint64(ts.Nano()), start: time.Now()}, nil
}

func (c monoClock) now() uint64 { return c.base + uint64(time.Since(c.start)) }

// run is Run on a locked thread in the right namespace.
func (g *XSKGenerator) run(ns *netns.NS, ifindex int, count uint64, opts RunOptions) (Result, error) {
	res := Result{CPU: -1}
	if ifindex <= 0 || opts.Queue < 0 {
		return res, fmt.Errorf("pktgen: bad ifindex %d or queue %d", ifindex, opts.Queue)
	}
	key := xskKey{ifindex: ifindex, queue: opts.Queue}
	if ns != nil {
		key.ns = ns.Name
	}
	if err := g.bind(key, int(opts.Chunk)); err != nil {
		return res, err
	}
	restore, err := place(&opts, &res)
	if err != nil {
		return res, err
	}
	defer restore()
	clock, err := newMonoClock()
	if err != nil {
		return res, err
	}
	u, s, f, descs := g.umem, g.sock, g.f, g.descs
	before, err := s.Statistics()
	if err != nil {
		return res, err
	}
	s.Complete() // whatever an earlier run left in flight
	f.reset()
	n := uint32(f.n)
	var queued uint64 // frames put on the TX ring: the next frame's sequence number
	idle := 0
	err = loop(count, opts, uint64(opts.Chunk), &res, func(want uint64) (uint64, error) {
		s.Complete()
		now := clock.now()
		k := 0
		for k < int(want) {
			a, ok := u.Alloc()
			if !ok {
				break
			}
			f.write(u.Frame(a), uint32(queued)+uint32(k), now)
			descs[k] = xsk.Desc{Addr: a, Len: n}
			k++
		}
		if k == 0 {
			// Every frame is in flight: kick the kernel, and let it run if that does not help.
			s.Wakeup()
			if idle++; idle > 64 {
				sleep(10 * time.Microsecond)
			}
			return 0, nil
		}
		idle = 0
		if got := s.Transmit(descs[:k]); got != k {
			// Cannot happen: the TX ring has a slot for every TX frame.
			for _, d := range descs[got:k] {
				u.Free(d.Addr)
			}
			return uint64(got), fmt.Errorf("pktgen: the TX ring took %d of %d descriptors", got, k)
		}
		queued += uint64(k)
		return uint64(k), nil
	})
	// Sent counts completions: wait for the frames still in flight.
	inflight := func() uint64 { s.Complete(); return uint64(xskTXFrames - u.FreeCount()) }
	for deadline := time.Now().Add(xskDrain); inflight() > 0 && time.Now().Before(deadline); {
		s.Wakeup()
		sleep(20 * time.Microsecond)
	}
	left := inflight()
	res.Sent = queued - left
	if err != nil {
		return res, err
	}
	if left > 0 {
		return res, fmt.Errorf("pktgen: %d frames still on the TX ring of ifindex %d queue %d after %v", left, ifindex, opts.Queue, xskDrain)
	}
	after, err := s.Statistics()
	if err != nil {
		return res, err
	}
	if d := after.TxInvalidDescs - before.TxInvalidDescs; d != 0 {
		return res, fmt.Errorf("pktgen: the kernel found %d invalid TX descriptors", d)
	}
	return res, nil
}
