package dataplane

import (
	"fmt"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/xsk"
)

// Stats implements Control: it reads the counters each worker last published (every
// publishEvery, see board), and never waits for a worker.
func (d *Dataplane) Stats() *Stats {
	c := d.conf.Load()
	cs := make([]*counters, len(d.workers))
	ws := make([]WorkerStats, len(d.workers))
	for i, w := range d.workers {
		x := w.stats.acquire()
		if x == nil {
			x = &unpublished
		} else {
			defer x.release()
		}
		cs[i] = &x.c
		ws[i] = workerStats(w.id, w.id, w.cpu, &x.c, x.conns)
		// XDP_STATISTICS per port, summed over the worker's queues of it.
		sums := make([]xsk.Statistics, len(d.ports))
		for _, r := range w.rxs {
			if x, err := r.s.Statistics(); err == nil {
				t := &sums[r.port]
				t.RxDropped += x.RxDropped
				t.RxInvalidDescs += x.RxInvalidDescs
				t.TxInvalidDescs += x.TxInvalidDescs
				t.RxRingFull += x.RxRingFull
				t.RxFillRingEmptyDescs += x.RxFillRingEmptyDescs
				t.TxRingEmptyDescs += x.TxRingEmptyDescs
			}
		}
		for port, x := range sums {
			name := d.ports[port].Name + "/"
			ws[i].Sockets = append(ws[i].Sockets,
				NamedCount{Name: name + "rx_dropped", Count: x.RxDropped},
				NamedCount{Name: name + "rx_invalid_descs", Count: x.RxInvalidDescs},
				NamedCount{Name: name + "tx_invalid_descs", Count: x.TxInvalidDescs},
				NamedCount{Name: name + "rx_ring_full", Count: x.RxRingFull},
				NamedCount{Name: name + "rx_fill_ring_empty_descs", Count: x.RxFillRingEmptyDescs},
				NamedCount{Name: name + "tx_ring_empty_descs", Count: x.TxRingEmptyDescs})
		}
	}
	if d.cfg.Sync.Enabled && len(ws) > 0 {
		ws[0].Events = append(ws[0].Events, d.syncStatsEvents()...)
	}
	// The steering program's counters (fast_tx, fast_redirect, match_service, ...), summed over
	// CPUs and interfaces: the director's, listed with worker 0's sockets as "xdp/NAME".
	if d.steer != nil && len(ws) > 0 {
		if prog, err := d.steer.Stats(); err == nil {
			for _, name := range xsk.StatNames {
				ws[0].Sockets = append(ws[0].Sockets, NamedCount{Name: "xdp/" + name, Count: prog[name]})
			}
		}
	}
	return statsOf(c, cs, ws, d.persist.Load())
}

// Connections implements Control: each worker walks its table in batches of at most listBatch
// connections and listBudget of its time, one between two of its packet batches, resuming at the
// table index where the last stopped; the next batch is asked for before yield sees the last. Each
// batch is a buffer of its own that the worker fills and hands back: one that is not answered
// within listWait (or no longer wanted) is abandoned and never read, and a listing a worker did
// not answer ends with an error.
func (d *Dataplane) Connections(yield func([]ConnInfo) bool) error {
	for _, w := range d.workers {
		next, err := w.ask(0)
		for err == nil {
			var a listAnswer
			if a, err = next.wait(); err != nil {
				break
			}
			if !a.end {
				next, err = w.ask(a.next)
			}
			if len(a.out) > 0 && !yield(a.out) {
				return nil
			}
			if a.end {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// How a listing goes: batches of at most listBatch connections and listBudget of a worker's time,
// each answered within listWait or abandoned.
const (
	listBatch  = 512
	listBudget = int64(50 * time.Microsecond)
)

var listWait = 5 * time.Second // a variable for tests

// listReq asks a worker for the connections of its table from index from on, into out (empty, of
// capacity listBatch), answered on done (buffered: the worker never waits for the requester).
type listReq struct {
	w    *worker
	from uint32
	out  []ConnInfo
	done chan listAnswer
	at   time.Time // asked
}

// listAnswer is a batch: the connections, the index to go on from and whether the table is done.
type listAnswer struct {
	out  []ConnInfo
	next uint32
	end  bool
}

// ask asks the worker for one batch of its connections from table index from.
func (w *worker) ask(from uint32) (listReq, error) {
	r := listReq{w: w, from: from, out: make([]ConnInfo, 0, listBatch), done: make(chan listAnswer, 1), at: time.Now()}
	t := time.NewTimer(listWait)
	defer t.Stop()
	select {
	case w.lists <- r:
	case <-t.C:
		return r, fmt.Errorf("dataplane: worker %d takes no request: the connection listing is incomplete", w.id)
	}
	w.wake()
	return r, nil
}

// wait waits for the answer, at most listWait from the request.
func (r listReq) wait() (listAnswer, error) {
	t := time.NewTimer(listWait - time.Since(r.at))
	defer t.Stop()
	select {
	case a := <-r.done:
		return a, nil
	case <-t.C:
		// r.out is the worker's from now on: it may still fill it, and nobody reads it.
		return listAnswer{}, fmt.Errorf("dataplane: worker %d did not answer within %v: the connection listing is incomplete", r.w.id, listWait)
	}
}
