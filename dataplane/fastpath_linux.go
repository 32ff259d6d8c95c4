package dataplane

import (
	"cmp"
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
	w.fastBatch = newFastBatch(xsk.MaxFlowBatch)
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

// fastBatch holds a batch of the log on its way to the program: up to size additions or
// deletions, their keys split by family (one map each), with the records of an addition and the
// log positions of each key.
type fastBatch struct {
	size         int
	keys4        []xsk.FastKey4
	keys6        []xsk.FlowKey
	recs4, recs6 []xsk.FastRecord
	at4, at6     []int
}

func newFastBatch(size int) fastBatch {
	size = max(size, 1)
	return fastBatch{size: size, keys4: make([]xsk.FastKey4, 0, size), keys6: make([]xsk.FlowKey, 0, size),
		recs4: make([]xsk.FastRecord, 0, size), recs6: make([]xsk.FastRecord, 0, size),
		at4: make([]int, 0, size), at6: make([]int, 0, size)}
}

// sendFastLog hands p's log to st's program: each run of additions or of deletions (up to a
// batch) in a system call or two, one per family (the two maps are apart, so the order between
// families does not matter), undoing the records the program refused; it returns the first
// refusal.
func sendFastLog(st *xsk.Steering, p *Pipeline, b *fastBatch) error {
	var refused error
	l := &p.fast.log
	for i := 0; i < l.n; {
		add := l.ops[i].add
		b.keys4, b.keys6, b.recs4, b.recs6, b.at4, b.at6 = b.keys4[:0], b.keys6[:0], b.recs4[:0], b.recs6[:0], b.at4[:0], b.at6[:0]
		j := i
		for ; j < l.n && l.ops[j].add == add && j-i < b.size; j++ {
			op := &l.ops[j]
			if v4 := op.key.Is4(); v4 {
				b.keys4, b.at4 = append(b.keys4, fastKey4(&op.key)), append(b.at4, j)
				if add {
					b.recs4 = append(b.recs4, fastRecord(&op.rec, v4))
				}
			} else {
				b.keys6, b.at6 = append(b.keys6, fastKey6(&op.key)), append(b.at6, j)
				if add {
					b.recs6 = append(b.recs6, fastRecord(&op.rec, v4))
				}
			}
		}
		if add {
			n, err := st.AddFast4(b.keys4, b.recs4)
			refused = cmp.Or(refused, p.fastRefusedLog(b.at4[n:], err))
			n, err = st.AddFast6(b.keys6, b.recs6)
			refused = cmp.Or(refused, p.fastRefusedLog(b.at6[n:], err))
		} else {
			if err := st.DeleteFast4(b.keys4); err != nil {
				p.c.fastErrors += uint64(len(b.keys4))
			}
			if err := st.DeleteFast6(b.keys6); err != nil {
				p.c.fastErrors += uint64(len(b.keys6))
			}
		}
		i = j
	}
	l.n = 0
	return refused
}

// fastRefusedLog undoes the log's additions at positions at, which the program refused with err
// (nil: none were); it returns err.
func (p *Pipeline) fastRefusedLog(at []int, err error) error {
	if err != nil {
		for _, k := range at {
			p.fastRefusedAt(&p.fast.log.ops[k].key)
		}
	}
	return err
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
