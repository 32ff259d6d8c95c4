package pktgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/netns"
)

// RunOptions bound, pace and place one Generator.Run.
type RunOptions struct {
	// Duration stops the run early; 0 means DefaultDuration. Every run is bounded in time.
	Duration time.Duration
	// Pin runs the generator on CPU (the calling thread's affinity is restored afterwards).
	Pin bool
	CPU int
	// Chunk is the largest number of frames per BPF_PROG_RUN call (0: DefaultChunk); the time
	// limit and the pace are checked between calls.
	Chunk uint32
	// Rate is the target rate in frames per second; 0 sends as fast as the CPU can. The pace is
	// kept in slices of PaceSlice: each call sends what is due, so bursts are at most one slice
	// of frames (50 at 0.5 Mpps).
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
	// PaceSlice is the pacing period of a run with a target rate.
	PaceSlice = 100 * time.Microsecond
)

// Result is what one run did.
type Result struct {
	Sent    uint64        // frames handed to the interface (XDP_TX)
	Elapsed time.Duration // wall time of the BPF_PROG_RUN calls
	CPU     int           // CPU the run was pinned to, -1 if not pinned
}

// PPS is the sending rate.
func (r Result) PPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// Generator sends the frames of one Config. Runs are serialised: the program's state is shared.
type Generator struct {
	mu    sync.Mutex
	cfg   Config
	frame []byte
	objs  genObjects
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
	return g, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Close releases the program and its maps.
func (g *Generator) Close() error { return g.objs.Close() }

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
	var res Result
	fn := func() error {
		var err error
		res, err = g.run(ifindex, count, opts)
		return err
	}
	if ns == nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return res, fn()
	}
	err := ns.Do(fn)
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
	if opts.Pin {
		var old, set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return res, fmt.Errorf("pktgen: get affinity: %w", err)
		}
		set.Set(opts.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return res, fmt.Errorf("pktgen: pin to CPU %d: %w", opts.CPU, err)
		}
		defer unix.SchedSetaffinity(0, &old) //nolint:errcheck
		res.CPU = opts.CPU
	}
	if err := g.arm(count); err != nil {
		return res, err
	}
	ctx := xdpMD{DataEnd: uint32(len(g.frame)), IngressIfindex: uint32(ifindex)}
	start := time.Now()
	deadline := start.Add(opts.Duration)
	nextReport, lastReport, lastSent := start.Add(time.Second), start, uint64(0)
	var st genGenState
	for {
		left := count - st.Sent
		now := time.Now()
		if left == 0 || !now.Before(deadline) {
			break
		}
		if opts.Progress != nil && !now.Before(nextReport) {
			opts.Progress(Progress{Elapsed: now.Sub(start), Sent: st.Sent,
				Rate: float64(st.Sent-lastSent) / now.Sub(lastReport).Seconds()})
			nextReport, lastReport, lastSent = nextReport.Add(time.Second), now, st.Sent
		}
		n := min(left, uint64(opts.Chunk))
		if opts.Rate > 0 {
			// What is due by the end of the current slice, less what went out.
			due := uint64(opts.Rate * (now.Sub(start) + PaceSlice).Seconds())
			if due <= st.Sent {
				time.Sleep(time.Duration(float64(st.Sent+1-due)/opts.Rate*1e9) + PaceSlice/2)
				continue
			}
			n = min(n, due-st.Sent)
		}
		_, err := g.objs.XdpvsPktgen.Run(&ebpf.RunOptions{
			Data:    g.frame,
			Repeat:  uint32(n),
			Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			Context: ctx,
		})
		if err != nil {
			res.Elapsed = time.Since(start)
			if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EOPNOTSUPP) {
				err = fmt.Errorf("%w: %w", ErrNotSupported, err)
			}
			return res, fmt.Errorf("pktgen: BPF_PROG_RUN live frames on ifindex %d: %w", ifindex, err)
		}
		if err := g.objs.State.Lookup(uint32(0), &st); err != nil {
			return res, fmt.Errorf("pktgen: read state: %w", err)
		}
		res.Sent = st.Sent
		if st.Errors != 0 {
			return res, fmt.Errorf("pktgen: %d frames failed in the program", st.Errors)
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}
