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

	"github.com/xdpvs/xdpvs/internal/netns"
)

// RunOptions bound and place one Generator.Run.
type RunOptions struct {
	// Duration stops the run early; 0 means DefaultDuration. Every run is bounded in time.
	Duration time.Duration
	// Pin runs the generator on CPU (the calling thread's affinity is restored afterwards).
	Pin bool
	CPU int
	// Chunk is the number of frames per BPF_PROG_RUN call (0: DefaultChunk); the time limit is
	// checked between calls.
	Chunk uint32
}

const (
	DefaultDuration = 10 * time.Second
	DefaultChunk    = 1 << 18
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
	var cfg genGenConfig
	cfg.Limit = count
	cfg.Len = uint32(len(g.frame))
	cfg.Flows = uint32(g.cfg.Flows)
	cfg.SportMin = g.cfg.SrcPort
	cfg.UdpOff = uint16(g.cfg.udpOffset())
	// The program reads the field as the wire bytes in a native-endian word, as it reads ports.
	cfg.UdpCsum = binary.NativeEndian.Uint16(g.frame[cfg.UdpOff+6:])
	if !g.cfg.IPv6() {
		cfg.UdpCsum = 0 // the template's is 0 anyway: IPv4 UDP without a checksum
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
	var st genGenState
	for {
		left := count - st.Sent
		if left == 0 || !time.Now().Before(deadline) {
			break
		}
		_, err := g.objs.XdpvsPktgen.Run(&ebpf.RunOptions{
			Data:    g.frame,
			Repeat:  uint32(min(left, uint64(opts.Chunk))),
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
