package dataplane

import (
	"encoding/hex"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/syncrec"
	"github.com/xdpvs/xdpvs/dataplane/xsk"
)

const (
	batchSize    = 64
	spinIdle     = 2000                         // empty polls before sleeping in poll()
	sleepTimeout = 100                          // ms: an idle worker still runs expiry this often
	expiryEvery  = int64(10 * time.Millisecond) // how often the timer wheel advances under load
	expiryBudget = 1024                         // entries examined per advance
)

// processor is the per-packet logic a worker runs: the load-balancing Pipeline, or the bare
// forwarder that measures the ceiling of the xsk layer. The packet is buf[off:off+n], buf the
// whole UMEM frame; it returns the verdict, the port (or owner) and where the packet lies after.
type processor interface {
	ProcessAt(buf []byte, off, n, in int, now int64) (v Verdict, port, outOff, outLen int)
}

// worker owns queue id of every port, and the queues id + k*workers beyond the workers' count, so
// that every queue of every port has a socket: one UMEM, one socket per owned queue, one pipeline.
type worker struct {
	id, cpu   int
	dp        *Dataplane
	p         *Pipeline
	proc      processor
	umem      *xsk.UMEM
	socks     []*xsk.Socket // by port: the socket of queue id, which transmits
	rxs       []rxSocket    // every socket, for reception
	rx        []xsk.Desc
	frames    [][]byte     // the received batch's frames, for readAhead
	txq       [][]xsk.Desc // by port
	in, out   []*handoffRing
	frameMask uint64 // UMEM frame size - 1
	efd       int
	sleeping  atomic.Bool
	lists     chan listReq        // batches of connection listings (Connections)
	syncOut   *syncRing           // connection sync: what it exported (nil: sync off)
	syncIn    chan syncrec.Record // and what peers sent for it
	bulks     chan bulkReq        // batches of bulk copies (SyncBulk)
	pollfds   []unix.PollFd
	queues    []int         // the queues it owns, on every port (queues beyond a port's count skipped)
	flowKeys  []xsk.FlowKey // syncFlows' batch
	fastBatch fastBatch     // syncFast's batch (empty: no fast path)
	cur       xsk.Desc      // the frame being processed, freed if processing panics
	inFrame   bool
	panicked  bool         // a panic was logged: later ones are only counted
	stats     board        // its counters as last published, for Stats
	published int64        // when
	beat      atomic.Int64 // monotonic time of the loop\'s last round: the heartbeat Liveness reads
}

var clockBase = time.Now()

// monotonic is the workers' clock, in nanoseconds.
func monotonic() int64 { return int64(time.Since(clockBase)) }

func (w *worker) run(stop *atomic.Bool, done chan<- struct{}) {
	defer close(done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if w.cpu >= 0 {
		var set unix.CPUSet
		set.Set(w.cpu)
		_ = unix.SchedSetaffinity(0, &set) // best effort: a restricted cpuset keeps the default
	}
	for !stop.Load() {
		w.serve(stop)
	}
}

// serve is the worker's loop. It returns when stop is set, or after recovering from a panic, so
// that a bug a packet triggers costs that packet and is counted (worker_panic), and the worker and
// the others keep forwarding.
func (w *worker) serve(stop *atomic.Bool) {
	defer w.recoverPanic()
	idle, lastExpire := 0, monotonic()
	for !stop.Load() {
		if c := w.dp.conf.Load(); c != w.p.conf {
			w.p.setConfig(c)
		}
		select {
		case r := <-w.lists:
			w.list(r)
		default:
		}
		now := monotonic()
		w.beat.Store(now)
		if w.syncIn != nil {
			w.syncRound(now)
		}
		n := 0
		for _, r := range w.rxs {
			k := r.s.Receive(w.rx)
			_, pipeline := w.proc.(*Pipeline) // not the bare forwarder
			ahead := pipeline && k > 1
			if ahead {
				w.readAhead(k)
			}
			for i := range k {
				if ahead {
					w.handleAhead(i, r.port, now)
				} else {
					w.handle(w.rx[i], r.port, now, fromRX)
				}
			}
			w.drainFragments(now)
			w.syncFlows()
			n += k
		}
		n += w.drainHandoffs(now)
		w.drainFragments(now)
		w.flush()
		if now-lastExpire >= expiryEvery {
			if budget := min(expiryBudget, w.p.flows.room()); budget > 0 { // each expiry may log a closing
				w.p.expire(now, budget)
				w.syncFlows()
			}
			if w.p.fast != nil {
				w.p.foldFast(now, w.dp.neigh.changes.Load())
			}
			w.syncFast()
			lastExpire = now
			w.p.expireFragments(now)
			if g := w.p.generated(); g != nil && g.n > 0 {
				w.sendGenerated(g)
			}
		}
		if now-w.published >= publishEvery {
			w.publish(now)
		}
		if n > 0 {
			idle = 0
			continue
		}
		if idle++; idle >= spinIdle {
			if w.unpublished() {
				w.publish(now) // what the last packets did, before a sleep of up to sleepTimeout
			}
			w.sleep()
			idle = 0
		}
	}
}

// publish copies the worker's counters for Stats (see board), between two batches.
func (w *worker) publish(now int64) {
	if w.stats.publish(w.p.c, w.p.table.Len(), now) {
		w.published = now
	}
}

// unpublished reports whether packets came or connections went since the last publication.
func (w *worker) unpublished() bool {
	x := w.stats.cur.Load() // the worker's own copy: only it writes one
	return x == nil || x.c.rx != w.p.c.rx || x.conns != w.p.table.Len()
}

// recoverPanic, deferred by serve, counts a panic, frees the frame being processed and logs the
// first panic of the worker with the frame's first bytes and the stack.
func (w *worker) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	w.p.c.panics++
	var frame []byte
	if w.inFrame {
		w.inFrame = false
		base := w.cur.Addr &^ w.frameMask
		off := int(w.cur.Addr - base)
		frame = w.umem.Frame(base)[off : off+min(int(w.cur.Len), 128)]
		frame = append([]byte(nil), frame...)
		w.umem.Free(w.cur.Addr)
	}
	if !w.panicked {
		w.panicked = true
		w.dp.log.Error("worker recovered from a panic; the packet was dropped and the worker goes on (later panics are only counted: worker_panic)",
			zap.Int("worker", w.id), zap.Any("panic", r), zap.String("frame", hex.EncodeToString(frame)),
			zap.ByteString("stack", debug.Stack()))
	}
}

// frameKind says where a frame a worker handles comes from.
type frameKind uint8

const (
	fromRX     frameKind = iota // received
	handedOver                  // handed over by another worker (VerdictHandoff)
	gathered                    // a fragment from its datagram's gatherer (VerdictHandoffFragment), or held here
)

// handle processes one frame. A frame another worker handed over is never handed on: ownership is
// a pure function of the flow, so that would be a loop. (A fragment goes at most twice: to its
// datagram's gatherer, then to its connection's owner, as gathered.)
func (w *worker) handle(d xsk.Desc, port int, now int64, kind frameKind) {
	base := d.Addr &^ w.frameMask
	buf := w.umem.Frame(base)
	off := int(d.Addr - base)
	w.cur, w.inFrame = d, true
	var v Verdict
	var x, noff, n int
	if kind == gathered {
		v, x, noff, n = w.p.ProcessGatheredAt(buf, off, int(d.Len), port, now)
	} else {
		v, x, noff, n = w.proc.ProcessAt(buf, off, int(d.Len), port, now)
	}
	w.inFrame = false
	w.dispatch(d, buf, off, port, kind, v, x, noff, n)
}

// dispatch does what the verdict v on frame d (buf[off:], come in on port) says: queue it for
// transmission on port x at buf[noff:noff+n], hand it to worker x, or free it.
func (w *worker) dispatch(d xsk.Desc, buf []byte, off, port int, kind frameKind, v Verdict, x, noff, n int) {
	base := d.Addr &^ w.frameMask
	switch v {
	case VerdictTX:
		q := append(w.txq[x], xsk.Desc{Addr: base + uint64(noff), Len: uint32(n)})
		w.txq[x] = q
		if len(q) == cap(q) {
			w.flushPort(x)
		}
	case VerdictHandoff, VerdictHandoffFragment:
		switch {
		case kind != fromRX && v == VerdictHandoff, kind == gathered:
			w.p.c.drops[DropHandoffLoop]++
		case w.out[x].push(buf[off:off+int(d.Len)], port, v == VerdictHandoffFragment):
			w.dp.workers[x].wake()
		default:
			w.p.c.drops[DropHandoffFull]++
		}
		w.umem.Free(d.Addr)
	default:
		w.umem.Free(d.Addr)
	}
}

// readAhead gives the pipeline the k frames just received to read ahead (readahead.go).
func (w *worker) readAhead(k int) {
	for i, d := range w.rx[:k] {
		base := d.Addr &^ w.frameMask
		off := int(d.Addr - base)
		w.frames[i] = w.umem.Frame(base)[off : off+int(d.Len)]
	}
	w.p.ReadAhead(w.frames[:k])
}

// handleAhead is handle for received frame i of a batch read ahead.
func (w *worker) handleAhead(i, port int, now int64) {
	d := w.rx[i]
	base := d.Addr &^ w.frameMask
	buf := w.umem.Frame(base)
	off := int(d.Addr - base)
	w.cur, w.inFrame = d, true
	v, x, noff, n := w.p.ProcessAheadAt(i, buf, off, int(d.Len), port, now)
	w.inFrame = false
	w.dispatch(d, buf, off, port, fromRX, v, x, noff, n)
}

// drainHandoffs processes frames other workers handed over, copying each into a frame of ours.
func (w *worker) drainHandoffs(now int64) int {
	n := 0
	for _, r := range w.in {
		for r != nil && n < batchSize {
			frame, port, isGathered, ok := r.peek()
			if !ok {
				break
			}
			addr, ok := w.umem.Alloc()
			if !ok {
				return n
			}
			addr += xsk.XDPPacketHeadroom
			d := xsk.Desc{Addr: addr, Len: uint32(copy(w.umem.Frame(addr), frame))}
			r.release()
			w.p.c.handoffIn++
			kind := handedOver
			if isGathered {
				kind = gathered
			}
			w.handle(d, port, now, kind)
			n++
		}
	}
	return n
}

// drainFragments sends what the pipeline's fragment handling queued (frag.go), in order: the
// fragments held for their datagram's first, to the worker that owns its connection (processed
// here, as gathered, when that is this one), and the fragments it made of a packet too big for a
// tunnel, to transmit.
func (w *worker) drainFragments(now int64) {
	q, pool := w.p.fragmentOut()
	for i := 0; i < q.n; i++ { // processing one here may queue more (a tunnel's fragments)
		it := q.items[i]
		frame, port := pool.frame(it.slot)
		switch {
		case it.to >= 0 && int(it.to) != w.id:
			w.p.c.handoffOut++
			if w.out[it.to].push(frame, port, true) {
				w.dp.workers[it.to].wake()
			} else {
				w.p.c.drops[DropHandoffFull]++
			}
		default:
			addr, ok := w.umem.Alloc()
			if !ok {
				w.p.c.drops[DropTXFull]++
				break
			}
			addr += xsk.XDPPacketHeadroom
			d := xsk.Desc{Addr: addr, Len: uint32(copy(w.umem.Frame(addr), frame))}
			if it.to >= 0 {
				pool.put(it.slot)
				w.handle(d, port, now, gathered)
				continue
			}
			w.p.c.tx++
			w.txq[port] = append(w.txq[port], d)
			if len(w.txq[port]) == cap(w.txq[port]) {
				w.flushPort(port)
			}
		}
		pool.put(it.slot)
	}
	q.n = 0
}

// sendGenerated transmits the packets the expiry timer made (the SYN proxy's SYNs re-sent and
// client resets).
func (w *worker) sendGenerated(g *genQueue) {
	for i := range g.n {
		frame, port := g.frame(i)
		addr, ok := w.umem.Alloc()
		if !ok {
			w.p.c.drops[DropTXFull]++
			continue
		}
		addr += xsk.XDPPacketHeadroom
		w.txq[port] = append(w.txq[port], xsk.Desc{Addr: addr, Len: uint32(copy(w.umem.Frame(addr), frame))})
		if len(w.txq[port]) == cap(w.txq[port]) {
			w.flushPort(port)
		}
	}
	g.n = 0
	w.flush()
}

func (w *worker) flushPort(port int) {
	q := w.txq[port]
	if len(q) == 0 {
		return
	}
	w.syncFlows() // a connection's first packet never leaves before its replies are steered
	sent := w.socks[port].Transmit(q)
	for _, d := range q[sent:] {
		w.umem.Free(d.Addr)
	}
	if rej := uint64(len(q) - sent); rej > 0 {
		w.p.c.drops[DropTXFull] += rej
		w.p.c.tx -= rej
	}
	w.txq[port] = q[:0]
}

// flush transmits what the batch left queued, then hands the fast-path records it made to the
// program: a record goes in only once the packet that made it has left, so that the program's
// packets of a connection never overtake the worker's (a DR server would see the request before
// the handshake's last ACK).
func (w *worker) flush() {
	for port, s := range w.socks {
		w.flushPort(port)
		s.Complete()
	}
	w.syncFast()
}

// syncFlows hands the pipeline's log of NAT connections opened and closed to the steering
// program, in order, a batch system call per run of openings or closings. A connection whose reply
// tuple the program refused (its map full) is removed: its replies would reach the kernel.
func (w *worker) syncFlows() {
	l := w.p.flows
	if l == nil {
		return
	}
	for i := 0; i < l.n; {
		add, keys := l.ops[i].add, w.flowKeys[:0]
		j := i
		for ; j < l.n && l.ops[j].add == add && len(keys) < cap(keys); j++ {
			r := &l.ops[j].reply
			keys = append(keys, xsk.Flow(r.Proto, (*[16]byte)(&r.SrcAddr), r.SrcPort, (*[16]byte)(&r.DstAddr), r.DstPort, r.Is4()))
		}
		if !add {
			if err := w.dp.steer.DeleteFlows(keys); err != nil {
				w.p.c.flowErrors += uint64(len(keys))
			}
		} else if n, err := w.dp.steer.AddFlows(keys); err != nil {
			w.p.flows = nil // the removals below are of tuples the program does not have
			for k := i + n; k < j; k++ {
				if id, dir, ok := w.p.table.Lookup(&l.ops[k].reply); ok && id == l.ops[k].id && dir == conntrack.DirReply {
					w.p.remove(id, w.p.table.Entry(id))
				}
				w.p.c.flowErrors++
			}
			w.p.flows = l
		}
		i = j
	}
	l.n = 0
}

// rxSocket is one of a worker's sockets and the port it is bound on.
type rxSocket struct {
	s    *xsk.Socket
	port int
}

// sleep waits in poll() for packets, a hand-off or a request, at most sleepTimeout.
func (w *worker) sleep() {
	w.sleeping.Store(true)
	defer w.sleeping.Store(false)
	for _, r := range w.in {
		if r != nil && r.pending() {
			return
		}
	}
	if len(w.lists) > 0 || len(w.syncIn) > 0 || len(w.bulks) > 0 {
		return
	}
	for i := range w.pollfds {
		w.pollfds[i].Revents = 0
	}
	_, _ = unix.Poll(w.pollfds, sleepTimeout)
	var buf [8]byte
	_, _ = unix.Read(w.efd, buf[:])
}

// wake interrupts the worker's poll() if it is sleeping.
func (w *worker) wake() {
	if w.sleeping.Load() {
		var one = [8]byte{1}
		_, _ = unix.Write(w.efd, one[:])
	}
}

// list answers one batch of a connection listing, between two packet batches: at most
// cap(r.out) connections, for at most listBudget. The answer never blocks the worker.
func (w *worker) list(r listReq) {
	now := monotonic()
	out, next, end := w.p.listConns(r.out, r.from, now, now+listBudget, monotonic)
	r.done <- listAnswer{out: out, next: next, end: end}
}
