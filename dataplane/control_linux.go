package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
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
	return statsOf(c, cs, ws, d.persist.Load())
}

// Connections implements Control.
func (d *Dataplane) Connections(max int) []ConnInfo {
	var out []ConnInfo
	for _, w := range d.workers {
		var part []ConnInfo
		w.do(func() {
			now := monotonic()
			w.p.table.Range(func(_ uint32, e *conntrack.Entry[connVal]) bool {
				part = append(part, connInfo(e, now))
				return max <= 0 || len(part) < max
			})
		})
		out = append(out, part...)
		if max > 0 && len(out) >= max {
			return out[:max]
		}
	}
	return out
}
