package dataplane

import (
	"errors"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/dataplane/xsk"
	"github.com/xdpvs/xdpvs/header"
)

// The record and stats slot layouts the pipeline and the program share.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(fastStat{})-unsafe.Sizeof(xsk.FastStat{})]
	_ = [1]struct{}{}[unsafe.Sizeof(xsk.FastStat{})-16]
)

// enableFastPath turns the steering program's fast path on (before it is attached), for
// records of both directions of every connection of every worker. A kernel that lacks a feature
// leaves the fast path off, logged once; it is not an error.
func (d *Dataplane) enableFastPath() {
	if !d.cfg.FastPath {
		return
	}
	why := ""
	switch {
	case d.cfg.BareForward:
		return
	case d.cfg.CompleteChecksums:
		why = "--complete-checksums: the checksums of such packets are the workers' to complete"
	case len(d.ports) > xsk.MaxFastPorts:
		why = "too many interfaces"
	}
	if why == "" {
		ifindexes := make([]int, len(d.ports))
		for i, p := range d.ports {
			ifindexes[i] = p.Ifindex
		}
		err := d.steer.EnableFastPath(d.cfg.Workers*d.cfg.Conns*2, ifindexes)
		if err == nil {
			d.fastOn = true
			d.log.Info("XDP fast path on: established connections are forwarded by the steering program",
				zap.Int("records", d.cfg.Workers*d.cfg.Conns*2))
			return
		}
		why = err.Error()
		if errors.Is(err, xsk.ErrNotSupported) {
			why = "the kernel lacks a feature: " + why
		}
	}
	d.log.Warn("XDP fast path off: every packet goes through the workers", zap.String("reason", why))
}

// newWorkerFastPath gives worker w's pipeline its share of the program's stats slots.
func (d *Dataplane) newWorkerFastPath(w *worker) {
	if !d.fastOn {
		return
	}
	all := d.steer.FastStats()
	n := d.cfg.Conns * 2
	slots := unsafe.Slice((*fastStat)(unsafe.Pointer(&all[w.id*n])), n)
	w.p.fast = newFastPath(d.cfg.Conns, slots, uint32(w.id*n), workersFastClock(d.steer.FastClock()))
	w.fastKeys = make([]xsk.FlowKey, 0, xsk.MaxFlowBatch)
	w.fastRecs = make([]xsk.FastRecord, 0, xsk.MaxFlowBatch)
}

// syncFast hands the pipeline's log of fast-path records made and removed to the program, in
// order, a batch system call per run of either; and first, when the pipeline asks for it
// (flushAll), removes them all. A record the program refused (its map full) is undone: the
// connection stays with the worker (logged once).
func (w *worker) syncFast() {
	f := w.p.fast
	if f == nil {
		return
	}
	for {
		done := !f.flushAll || w.p.flushFast()
		w.sendFastLog()
		if done {
			return
		}
	}
}

func (w *worker) sendFastLog() {
	if err := sendFastLog(w.dp.steer, w.p, w.fastKeys, w.fastRecs); err != nil && w.dp.fastFull.CompareAndSwap(false, true) {
		w.dp.log.Warn("XDP fast path: the program's map refused records; their connections stay with the workers (counted: fast_path_refused)",
			zap.Int("worker", w.id), zap.Error(err))
	}
}

// sendFastLog hands p's log to st's program in batches of up to cap(keys) (keys and recs are the
// batch buffers), undoing the records the program refused; it returns the first refusal.
func sendFastLog(st *xsk.Steering, p *Pipeline, keys []xsk.FlowKey, recs []xsk.FastRecord) error {
	var refused error
	l := &p.fast.log
	for i := 0; i < l.n; {
		add := l.ops[i].add
		keys, recs = keys[:0], recs[:0]
		j := i
		for ; j < l.n && l.ops[j].add == add && len(keys) < cap(keys); j++ {
			op := &l.ops[j]
			keys = append(keys, fastKey(&op.key))
			if add {
				recs = append(recs, fastRecord(&op.rec, op.key.Is4()))
			}
		}
		if !add {
			if err := st.DeleteFast(keys); err != nil {
				p.c.fastErrors += uint64(len(keys))
			}
		} else if n, err := st.AddFast(keys, recs); err != nil {
			for k := i + n; k < j; k++ {
				p.fastRefusedAt(&l.ops[k].key)
			}
			if refused == nil {
				refused = err
			}
		}
		i = j
	}
	l.n = 0
	return refused
}

func fastKey(t *header.Tuple) xsk.FlowKey {
	return xsk.Flow(t.Proto, (*[16]byte)(&t.SrcAddr), t.SrcPort, (*[16]byte)(&t.DstAddr), t.DstPort, t.Is4())
}

// fastRecord is r in the program's layout: network byte order, IPv4 addresses first.
func fastRecord(r *fastRec, v4 bool) xsk.FastRecord {
	x := xsk.FastRecord{Kind: r.kind, Port: r.port, Ifindex: r.ifindex, Slot: r.slot, L4Delta: r.l4Delta,
		IpDelta: r.ipDelta, Mtu: r.mtu, Sport: htons(r.sport), Dport: htons(r.dport), DstMac: r.dstMAC, SrcMac: r.srcMAC}
	if v4 {
		copy(x.Saddr[:4], r.saddr[12:])
		copy(x.Daddr[:4], r.daddr[12:])
	} else {
		x.Saddr, x.Daddr = r.saddr, r.daddr
	}
	return x
}

// htons is v in network byte order, as a host-order field holds it.
func htons(v uint16) uint16 {
	b := [2]byte{byte(v >> 8), byte(v)}
	return *(*uint16)(unsafe.Pointer(&b))
}

// workersFastClock maps the program's jiffies to the workers' clock (monotonic).
func workersFastClock(c xsk.JiffyClock) fastClock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	off := ts.Nano() - monotonic() // CLOCK_MONOTONIC minus the workers' clock
	return fastClock{j0: c.J0, t0: c.T0 - off, tick: c.Tick}
}
