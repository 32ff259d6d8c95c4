package pktgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/netns"
)

// RunOptions bound, pace and place one run of either engine.
type RunOptions struct {
	// Duration stops the run early; 0 means DefaultDuration. Every run is bounded in time.
	Duration time.Duration
	// Pin runs the generator on CPU (the calling thread's affinity is restored afterwards).
	Pin bool
	CPU int
	// Chunk is the largest number of frames per call: per BPF_PROG_RUN (0: DefaultChunk) or per
	// AF_XDP batch, one Reserve/Submit on the TX ring and one sendto (0: DefaultXSKBatch). The
	// time limit and the pace are checked between calls.
	Chunk uint32
	// Queue is the queue of the interface the AF_XDP engine binds and transmits on; on a veth the
	// peer receives on its queue of that number (on the CPU that sends). The BPF_PROG_RUN engine
	// has no choice: its frames reach the peer's queue numbered after the sending CPU (CPU mod
	// the peer's queues), so pin it to choose the queue.
	Queue int
	// Rate is the target rate in frames per second; 0 sends as fast as the CPU can. The pace is
	// a token bucket refilled at Rate: a run sends when it has PaceSlice's worth of frames (at
	// least one) and sleeps (nanosleep, with 1 ns of timer slack) otherwise, so it sends bursts
	// of about Rate×PaceSlice frames (50 at 0.5 Mpps). A late wake-up is made up with one burst
	// of at most three quanta (or 32 frames); time lost beyond that is not made up, and shows as
	// an achieved rate below the target.
	Rate float64
	// Progress, if set, is called about once a second (from the sending thread, between calls)
	// with what was sent so far.
	Progress func(Progress)
}

// Progress is a run's state at one moment.
type Progress struct {
	Elapsed time.Duration
	Sent    uint64
	// Rate is the sending rate since the previous report.
	Rate float64
}

const (
	DefaultDuration = 10 * time.Second
	DefaultChunk    = 1 << 18
	// DefaultXSKBatch is the AF_XDP engine's default batch: descriptors per Reserve/Submit and
	// per sendto (the socket's XDP_MAX_TX_SKB_BUDGET is raised to it).
	DefaultXSKBatch = 64
	// PaceSlice is the pacing quantum of a run with a target rate.
	PaceSlice = 100 * time.Microsecond
)

// Result is what one run did.
type Result struct {
	// Sent counts the frames handed to the interface: returned with XDP_TX (BPF_PROG_RUN), or
	// completed by the kernel (AF_XDP; a frame the driver then dropped is completed too).
	Sent    uint64
	Elapsed time.Duration // wall time of the sending loop
	CPU     int           // CPU the run was pinned to, -1 if not pinned
	// MaxBurst is the most frames one call sent (one BPF_PROG_RUN, one AF_XDP batch): frames
	// that leave back to back at the engine's full speed, whatever the target rate.
	MaxBurst uint64
}

// PPS is the sending rate.
func (r Result) PPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// Sender is a generator of either engine: Generator (EngineProgRun) or XSKGenerator
// (EngineAFXDP). Both send the same frames (see the package documentation) and take the same
// options.
type Sender interface {
	Config() Config
	Engine() Engine
	// Run sends count frames out of the interface ifindex of ns (nil: the caller's namespace)
	// from the calling goroutine's thread, locked and switched into ns for the duration, and
	// stops early at opts.Duration.
	Run(ns *netns.NS, ifindex int, count uint64, opts RunOptions) (Result, error)
	Close() error
}

// Open returns a generator of cfg's frames with engine e.
func Open(cfg Config, e Engine) (Sender, error) {
	switch e {
	case EngineProgRun, "":
		return New(cfg)
	case EngineAFXDP:
		return NewXSK(cfg)
	}
	return nil, fmt.Errorf("pktgen: unknown engine %q", e)
}

// Generator sends the frames of one Config with BPF_PROG_RUN (EngineProgRun). Runs are
// serialised: the program's state is shared.
type Generator struct {
	mu        sync.Mutex
	cfg       Config
	frame     []byte
	objs      genObjects
	anchor    *anchor
	anchorErr error
}

// New loads the generator program for cfg.
func New(cfg Config) (*Generator, error) {
	frame, err := cfg.Frame()
	if err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("pktgen: memlock: %w", err)
	}
	g := &Generator{cfg: cfg, frame: frame}
	if err := loadGenObjects(&g.objs, nil); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			err = fmt.Errorf("%w: %w", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("pktgen: load generator (needs bpf_xdp_store_bytes, Linux 5.18): %w", err)
	}
	g.anchor, g.anchorErr = newAnchor(g.objs.XdpvsPktgen)
	return g, nil
}

// LiveFrames reports whether this kernel lets the process run an XDP program with
// BPF_PROG_RUN in live-frames mode, the prog-run engine's way of sending, and if not, why (nil
// when it does). It runs a trivial XDP_DROP program over ten frames of the loopback of the
// caller's namespace: nothing is sent. Some kernels and sandboxes refuse the mode (EPERM) while
// they allow BPF_PROG_RUN without it; a run that needs the prog-run engine can then use the
// AF_XDP engine instead.
func LiveFrames() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "pktgen_probe", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}}) // XDP_DROP
	if err != nil {
		return fmt.Errorf("pktgen: live-frames probe: %w", err)
	}
	defer prog.Close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return fmt.Errorf("pktgen: live-frames probe: %w", err)
	}
	data := make([]byte, 60)
	_, err = prog.Run(&ebpf.RunOptions{Data: data, Repeat: 10, Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		Context: xdpMD{DataEnd: uint32(len(data)), IngressIfindex: uint32(lo.Index)}})
	if err != nil {
		return fmt.Errorf("%w: BPF_PROG_RUN in live-frames mode: %w", ErrNotSupported, err)
	}
	return nil
}

// Anchored reports whether the program is held in the kernel's XDP dispatcher for the
// generator's life (see anchor), and if not, why: without it every BPF_PROG_RUN call waits for
// two RCU grace periods (about 25 ms on the development VMs), so a paced run cannot keep its
// rate with small bursts.
func (g *Generator) Anchored() (bool, error) { return g.anchor != nil, g.anchorErr }

// anchor keeps an XDP program in the kernel's XDP dispatcher. BPF_PROG_RUN of an XDP program
// adds the program to the dispatcher for the duration of the call and removes it afterwards
// (bpf_prog_change_xdp); each change rewrites the dispatcher and waits for an RCU grace period
// (synchronize_rcu in bpf_dispatcher_change_prog), so each call sleeps for two grace periods,
// about 25 ms on a 2-vCPU VM with HZ=250 and lazy RCU, whatever the number of frames. A program
// that is already in the dispatcher only has its reference count changed. The anchor attaches
// the program in generic mode to the loopback of a private, unnamed network namespace made for
// it: that loopback is down and receives nothing, so the program never runs there. The
// namespace lives as long as the anchor holds its file descriptor, and goes with the process.
type anchor struct {
	netns int
	link  link.Link
}

func newAnchor(prog *ebpf.Program) (*anchor, error) {
	// On a goroutine of its own, so that a thread left in the private namespace (if it cannot
	// switch back) ends with it rather than with the caller's goroutine.
	type result struct {
		a   *anchor
		err error
	}
	ch := make(chan result, 1)
	go func() {
		a, err := anchorOnThread(prog)
		ch <- result{a, err}
	}()
	r := <-ch
	return r.a, r.err
}

func anchorOnThread(prog *ebpf.Program) (_ *anchor, err error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pktgen: anchor: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pktgen: anchor: unshare the network namespace: %w", err)
	}
	a := &anchor{netns: -1}
	if fd, oerr := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); oerr != nil {
		err = oerr
	} else {
		a.netns = fd
		var lo *net.Interface
		if lo, err = net.InterfaceByName("lo"); err == nil {
			a.link, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: lo.Index, Flags: link.XDPGenericMode})
		}
	}
	if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
		// The thread stays locked: the runtime discards it when the goroutine ends.
		a.close()
		return nil, fmt.Errorf("pktgen: anchor: back to the original network namespace: %w", serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		a.close()
		return nil, fmt.Errorf("pktgen: anchor: attach to a private loopback: %w", err)
	}
	return a, nil
}

func (a *anchor) close() error {
	if a == nil {
		return nil
	}
	var err error
	if a.link != nil {
		err = a.link.Close()
	}
	if a.netns >= 0 {
		err = errors.Join(err, unix.Close(a.netns))
	}
	return err
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Engine returns EngineProgRun.
func (g *Generator) Engine() Engine { return EngineProgRun }

// Close releases the anchor, the program and its maps.
func (g *Generator) Close() error { return errors.Join(g.anchor.close(), g.objs.Close()) }

// xdpMD is struct xdp_md, the context of an XDP program run.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Run sends count frames out of the interface ifindex of ns (nil: the caller's namespace) from
// the calling goroutine's thread, locked and switched into ns for the duration. It stops early
// at opts.Duration. The frames leave as XDP_TX frames of the interface (ndo_xdp_xmit). On a veth
// the peer receives them on the CPU that runs the generator, on its receive queue number
// (that CPU mod the peer's queues): pin to choose the queue as well as the CPU.
func (g *Generator) Run(ns *netns.NS, ifindex int, count uint64, opts RunOptions) (Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	if opts.Chunk == 0 {
		opts.Chunk = DefaultChunk
	}
	return runIn(ns, func() (Result, error) { return g.run(ifindex, count, opts) })
}

// runIn runs fn on a locked thread in ns (nil: the caller's namespace).
func runIn(ns *netns.NS, fn func() (Result, error)) (res Result, err error) {
	do := func() error {
		res, err = fn()
		return err
	}
	if ns == nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err = do()
		return res, err
	}
	err = ns.Do(do)
	return res, err
}

// arm loads the configuration with a limit of count frames and resets the state.
func (g *Generator) arm(count uint64) error {
	c := g.cfg
	var cfg genGenConfig
	cfg.Limit = count
	cfg.Len = uint32(len(g.frame))
	cfg.Ports = uint32(c.Flows)
	cfg.Addrs = uint32(c.addrs())
	cfg.AddrLo = low32(c.Src.Unmap())
	cfg.SportMin = c.SrcPort
	cfg.L4Off = uint16(c.l4Offset())
	// The program reads checksums as the wire bytes in a native-endian word, as it reads ports.
	if !c.IPv6() {
		cfg.IpCsum = binary.NativeEndian.Uint16(g.frame[header.EthernetMinimumSize+10:])
	}
	if c.l4Checksummed() {
		cfg.HasCsum = 1
		csumOff := 6
		if c.Proto == TCP {
			csumOff = 16
		}
		cfg.L4Csum = binary.NativeEndian.Uint16(g.frame[c.l4Offset()+csumOff:])
	}
	if c.Proto == TCP {
		cfg.Tcp = 1
	}
	if c.Stamped() {
		cfg.StampOff = uint16(c.PayloadOffset())
	}
	copy(cfg.Frame[:], g.frame)
	if err := g.objs.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("pktgen: set config: %w", err)
	}
	if err := g.objs.State.Put(uint32(0), &genGenState{}); err != nil {
		return fmt.Errorf("pktgen: reset state: %w", err)
	}
	return nil
}

// run is Run on a locked thread in the right namespace.
func (g *Generator) run(ifindex int, count uint64, opts RunOptions) (Result, error) {
	res := Result{CPU: -1}
	if ifindex <= 0 {
		return res, fmt.Errorf("pktgen: bad ifindex %d", ifindex)
	}
	restore, err := place(&opts, &res)
	if err != nil {
		return res, err
	}
	defer restore()
	if err := g.arm(count); err != nil {
		return res, err
	}
	ctx := xdpMD{DataEnd: uint32(len(g.frame)), IngressIfindex: uint32(ifindex)}
	run := ebpf.RunOptions{Data: g.frame, Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES, Context: ctx}
	var st genGenState
	err = loop(count, opts, uint64(opts.Chunk), &res, func(n uint64) (uint64, error) {
		before := st.Sent
		run.Repeat = uint32(n)
		if _, err := g.objs.XdpvsPktgen.Run(&run); err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EOPNOTSUPP) {
				err = fmt.Errorf("%w: %w", ErrNotSupported, err)
			}
			return 0, fmt.Errorf("pktgen: BPF_PROG_RUN live frames on ifindex %d: %w", ifindex, err)
		}
		if err := g.objs.State.Lookup(uint32(0), &st); err != nil {
			return 0, fmt.Errorf("pktgen: read state: %w", err)
		}
		if st.Errors != 0 {
			return st.Sent - before, fmt.Errorf("pktgen: %d frames failed in the program", st.Errors)
		}
		return st.Sent - before, nil
	})
	return res, err
}

// place pins the calling (locked) thread to opts.CPU when opts.Pin and makes its sleeps precise
// (a timer slack of 1 ns instead of 50 µs, for the pacer); restore undoes both.
func place(opts *RunOptions, res *Result) (restore func(), err error) {
	var undo []func()
	restore = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if opts.Pin {
		var old, set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return restore, fmt.Errorf("pktgen: get affinity: %w", err)
		}
		set.Set(opts.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return restore, fmt.Errorf("pktgen: pin to CPU %d: %w", opts.CPU, err)
		}
		undo = append(undo, func() { unix.SchedSetaffinity(0, &old) }) //nolint:errcheck
		res.CPU = opts.CPU
	}
	if slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err == nil && slack > 1 {
		if unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) == nil {
			undo = append(undo, func() { unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0) }) //nolint:errcheck
		}
	}
	return restore, nil
}

// loop is the sending loop of both engines: it calls send with at most chunk frames at a time
// (fewer when the pacer allows fewer or fewer are left) until count frames are sent or the
// duration is over, reporting progress about once a second. send returns how many frames it
// sent, which may be fewer than asked (none, when the engine must wait for room). loop sets
// res.Sent, res.Elapsed and res.MaxBurst.
func loop(count uint64, opts RunOptions, chunk uint64, res *Result, send func(n uint64) (uint64, error)) error {
	start := time.Now()
	deadline := start.Add(opts.Duration)
	nextReport, lastReport, lastSent := start.Add(time.Second), start, uint64(0)
	var p pacer
	if opts.Rate > 0 {
		p = newPacer(opts.Rate, start)
	}
	defer func() { res.Elapsed = time.Since(start) }()
	for {
		left := count - res.Sent
		now := time.Now()
		if left == 0 || !now.Before(deadline) {
			return nil
		}
		if opts.Progress != nil && !now.Before(nextReport) {
			opts.Progress(Progress{Elapsed: now.Sub(start), Sent: res.Sent,
				Rate: float64(res.Sent-lastSent) / now.Sub(lastReport).Seconds()})
			nextReport, lastReport, lastSent = nextReport.Add(time.Second), now, res.Sent
		}
		n := min(left, chunk)
		if opts.Rate > 0 {
			var wait time.Duration
			if n, wait = p.take(now, n); n == 0 {
				sleep(min(wait, deadline.Sub(now)))
				continue
			}
		}
		k, err := send(n)
		res.Sent += k
		res.MaxBurst = max(res.MaxBurst, k)
		if opts.Rate > 0 && k < n {
			p.giveBack(n - k)
		}
		if err != nil {
			return err
		}
	}
}

// The pacer's bucket holds three quanta (300 µs' worth of frames), or paceMinBurst frames at low
// rates: a wake-up up to 200 µs late costs no frames, and the burst that makes up for it
// stays small (240 frames at 0.8 Mpps). Larger catch-up bursts cost the receivers measured here:
// a millisecond's worth at 0.8 Mpps (800 frames) overflowed the kernel's 1000-packet backlog of
// the director's nftables path while it forwarded 0.94 Mpps unpaced. Longer stalls are not made
// up: they show as an achieved rate below the target.
const paceMinBurst = 32

// pacer is a token bucket: tokens accrue at the target rate; a run sends only whole tokens, and
// waits while it has fewer than one quantum (PaceSlice's worth of frames, at least 1). The bucket
// holds what a wake-up up to two quanta late needs, so a thread that slept too long (or was
// descheduled) makes up for that in one burst of at most three quanta, and no more: after a
// longer stall the rate is kept from there on rather than caught up with a burst.
type pacer struct {
	rate           float64 // frames per second
	tokens         float64
	quantum, burst float64
	last           time.Time
}

func newPacer(rate float64, start time.Time) pacer {
	q := max(1, rate*PaceSlice.Seconds())
	return pacer{rate: rate, tokens: q, quantum: q, burst: max(3*q, paceMinBurst), last: start}
}

// take returns how many of want frames may go now, or 0 and how long to wait for a quantum.
func (p *pacer) take(now time.Time, want uint64) (uint64, time.Duration) {
	p.tokens = min(p.burst, p.tokens+p.rate*now.Sub(p.last).Seconds())
	p.last = now
	if need := min(p.quantum, float64(want)); p.tokens < need {
		return 0, time.Duration((need - p.tokens) / p.rate * 1e9)
	}
	n := min(want, uint64(p.tokens))
	p.tokens -= float64(n)
	return n, 0
}

// giveBack returns tokens taken for frames that did not go.
func (p *pacer) giveBack(n uint64) { p.tokens = min(p.burst, p.tokens+float64(n)) }

// sleep sleeps on the calling thread with nanosleep: time.Sleep wakes through the runtime's
// netpoller, at millisecond granularity (a 50 µs sleep takes 1.1 ms on the development VMs),
// which would make the pacer send millisecond bursts.
func sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}
