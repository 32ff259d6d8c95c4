package xsk

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The fast path stamps each forwarded packet's stats slot with the kernel's jiffies
// (bpf_jiffies64, which the verifier inlines as one load): bpf_ktime_get_coarse_ns, a helper
// call, cost a fifth of the program's hot hit. Jiffies advance by one every TICK_NSEC of
// CLOCK_MONOTONIC (the kernel updates them from that clock), so one measurement of where a tick
// begins maps them to CLOCK_MONOTONIC for the life of the process, to the tick, the resolution the
// coarse clock had.

// JiffyClock maps jiffies to CLOCK_MONOTONIC: jiffy J0 began at T0 (ns), and each lasts Tick ns.
type JiffyClock struct {
	J0       uint64
	T0, Tick int64
}

// Nanos is when jiffy j began, in CLOCK_MONOTONIC ns.
func (c JiffyClock) Nanos(j uint64) int64 { return c.T0 + int64(j-c.J0)*c.Tick }

// hzChoices are the kernel's CONFIG_HZ values (the common four, then those some architectures
// offer); a measured tick snaps to the nearest within 5 %.
var hzChoices = []int64{100, 250, 300, 1000, 24, 32, 48, 64, 128, 256, 512, 1024, 1200}

// calibrateTicks is how many tick boundaries MeasureJiffyClock times.
const calibrateTicks = 8

// MeasureJiffyClock finds where the kernel's ticks begin on CLOCK_MONOTONIC and how long they
// are, by reading the jiffies through a probe (an XDP program that stores bpf_jiffies64 in a map,
// run with BPF_PROG_RUN) until they have changed calibrateTicks times: 8 ticks (80 ms at HZ=100,
// 8 ms at 1000). Each boundary is known to the few microseconds a probe takes, and seen late by
// the tick interrupt's latency.
func MeasureJiffyClock() (JiffyClock, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return JiffyClock{}, fmt.Errorf("xsk: jiffies probe map: %w", err)
	}
	defer m.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R6, asm.R0),
		asm.FnJiffies64.Call(),
		asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), // XDP_PASS
		asm.Return(),
	}})
	if err != nil {
		return JiffyClock{}, fmt.Errorf("%w: xsk: jiffies probe: %w", ErrNotSupported, err)
	}
	defer prog.Close()
	frame := make([]byte, 64)
	probe := func() (uint64, int64, error) {
		if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			return 0, 0, err
		}
		var j uint64
		if err := m.Lookup(uint32(0), &j); err != nil {
			return 0, 0, err
		}
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			return 0, 0, err
		}
		return j, ts.Nano(), nil
	}
	// A boundary: a probe that sees a new jiffy; the tick began after the probe before it read
	// the old one (timed just after that read).
	j, t, err := probe()
	if err != nil {
		return JiffyClock{}, fmt.Errorf("%w: xsk: jiffies probe: %w", ErrNotSupported, err)
	}
	var js [calibrateTicks]uint64
	var ts [calibrateTicks]int64
	deadline := time.Now().Add(time.Second)
	for n := 0; n < calibrateTicks; {
		k, now, err := probe()
		if err != nil {
			return JiffyClock{}, fmt.Errorf("xsk: jiffies probe: %w", err)
		}
		if k != j {
			js[n], ts[n] = k, t
			n++
		}
		j, t = k, now
		if time.Now().After(deadline) {
			return JiffyClock{}, errors.New("xsk: jiffies did not advance within a second")
		}
	}
	ticks := int64(js[calibrateTicks-1] - js[0])
	if ticks <= 0 {
		return JiffyClock{}, errors.New("xsk: jiffies went back")
	}
	c := JiffyClock{J0: js[0], T0: ts[0], Tick: snapTick((ts[calibrateTicks-1] - ts[0]) / ticks)}
	// A tick is seen late by the interrupt's latency (tens of microseconds in a VM): the earliest
	// of the boundaries, brought back to J0, is the truest.
	for n := range js {
		c.T0 = min(c.T0, ts[n]-int64(js[n]-c.J0)*c.Tick)
	}
	return c, nil
}

// snapTick returns the kernel's TICK_NSEC for the HZ nearest a measured tick of ns, or ns itself
// if no HZ is within 5 %.
func snapTick(ns int64) int64 {
	for _, hz := range hzChoices {
		tick := (int64(time.Second) + hz/2) / hz // TICK_NSEC
		if d := ns - tick; d*20 < tick && -d*20 < tick {
			return tick
		}
	}
	return ns
}
