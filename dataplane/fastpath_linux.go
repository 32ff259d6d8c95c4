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
	w.fastBatch = newFastBatch()
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
	if err := sendFastLog(w.dp.steer, w.p, &w.fastBatch); err != nil && w.dp.fastFull.CompareAndSwap(false, true) {
		w.dp.log.Warn("XDP fast path: the program's map refused records; their connections stay with the workers (counted: fast_path_refused)",
			zap.Int("worker", w.id), zap.Error(err))
	}
}

// fastBatch holds a batch of the log on its way to the program: the keys of one family, and the
// records of an addition.
type fastBatch struct {
	keys4 []xsk.FastKey4
	keys6 []xsk.FlowKey
	recs  []xsk.FastRecord
}

func newFastBatch() fastBatch {
	return fastBatch{keys4: make([]xsk.FastKey4, 0, xsk.MaxFlowBatch), keys6: make([]xsk.FlowKey, 0, xsk.MaxFlowBatch),
		recs: make([]xsk.FastRecord, 0, xsk.MaxFlowBatch)}
}

// sendFastLog hands p's log to st's program, a system call per run of additions or deletions of
// one family (up to a batch's capacity), undoing the records the program refused; it returns the
// first refusal.
func sendFastLog(st *xsk.Steering, p *Pipeline, b *fastBatch) error {
	var refused error
	l := &p.fast.log
	for i := 0; i < l.n; {
		add, v4 := l.ops[i].add, l.ops[i].key.Is4()
		b.keys4, b.keys6, b.recs = b.keys4[:0], b.keys6[:0], b.recs[:0]
		j := i
		for ; j < l.n && l.ops[j].add == add && l.ops[j].key.Is4() == v4 && j-i < cap(b.recs); j++ {
			op := &l.ops[j]
			if v4 {
				b.keys4 = append(b.keys4, fastKey4(&op.key))
			} else {
				b.keys6 = append(b.keys6, fastKey6(&op.key))
			}
			if add {
				b.recs = append(b.recs, fastRecord(&op.rec, v4))
			}
		}
		var (
			n   int
			err error
		)
		switch {
		case !add && v4:
			err = st.DeleteFast4(b.keys4)
		case !add:
			err = st.DeleteFast6(b.keys6)
		case v4:
			n, err = st.AddFast4(b.keys4, b.recs)
		default:
			n, err = st.AddFast6(b.keys6, b.recs)
		}
		if err != nil && !add {
			p.c.fastErrors += uint64(j - i)
		} else if err != nil {
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

// fastKey4 and fastKey6 are the program's keys of an IPv4 and an IPv6 tuple.
func fastKey4(t *header.Tuple) xsk.FastKey4 {
	return xsk.Flow4(t.Proto, (*[16]byte)(&t.SrcAddr), t.SrcPort, (*[16]byte)(&t.DstAddr), t.DstPort)
}

func fastKey6(t *header.Tuple) xsk.FlowKey {
	return xsk.Flow(t.Proto, (*[16]byte)(&t.SrcAddr), t.SrcPort, (*[16]byte)(&t.DstAddr), t.DstPort, false)
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
