package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdpvs/xdpvs/mgmt/server"
)

// syncCollector exports `show sync` (server.Sync): readiness, each peer's messages, records,
// bytes, drops by reason and lag, and the dataplane's export and import counters. It exports
// nothing when the daemon syncs nothing.
type syncCollector struct {
	s                                    *server.Server
	ready, msgs, recs, bytes, drops, lag *prometheus.Desc
	unknown, dataplane, mismatch         *prometheus.Desc
}

func newSyncCollector(s *server.Server) *syncCollector {
	peer := []string{"peer"}
	return &syncCollector{
		s:         s,
		ready:     desc("sync_ready", "1 once the joining director's bulk copy is done (or timed out).", nil),
		msgs:      desc("sync_messages_total", "Sync messages, by peer and direction (sent, received).", peer, "direction"),
		recs:      desc("sync_records_total", "Connection records in sync messages, by peer and direction.", peer, "direction"),
		bytes:     desc("sync_bytes_total", "Bytes of sync messages, by peer and direction.", peer, "direction"),
		drops:     desc("sync_drops_total", "Sync messages (or records) dropped, by peer and reason.", peer, "reason"),
		lag:       desc("sync_lag_seconds", "Sync lag from export on the peer to import here, of the last 1,024 records.", peer, "quantile"),
		unknown:   desc("sync_unattributed_drops_total", "Sync messages dropped before a peer was known, by reason.", []string{"reason"}),
		mismatch:  desc("sync_digest_mismatches", "Services whose scheduler table digest the peer reports differently from ours.", peer),
		dataplane: desc("sync_dataplane_total", "The dataplane's sync counters (exported, export_full, imported, import_* by reason).", []string{"counter"}),
	}
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ready, c.msgs, c.recs, c.bytes, c.drops, c.lag, c.unknown, c.dataplane, c.mismatch} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Sync()
	if st == nil {
		return
	}
	e := emitter{ch}
	e.gauge(c.ready, bit(st.Ready))
	for _, p := range st.Peers {
		a := p.Address.String()
		for _, f := range []struct {
			dir string
			m   uint64
			r   uint64
			b   uint64
		}{{"sent", p.Sent.Messages, p.Sent.Records, p.Sent.Bytes}, {"received", p.Recv.Messages, p.Recv.Records, p.Recv.Bytes}} {
			e.counter(c.msgs, f.m, a, f.dir)
			e.counter(c.recs, f.r, a, f.dir)
			e.counter(c.bytes, f.b, a, f.dir)
		}
		for _, d := range p.Drops {
			e.counter(c.drops, d.Count, a, d.Name)
		}
		e.gauge(c.lag, p.LagP50.Seconds(), a, "0.5")
		e.gauge(c.lag, p.LagP99.Seconds(), a, "0.99")
		e.gauge(c.mismatch, float64(len(p.DigestMismatch)), a)
	}
	for _, d := range st.Drops {
		e.counter(c.unknown, d.Count, d.Name)
	}
	for _, d := range st.Exports {
		e.counter(c.dataplane, d.Count, d.Name[len("sync_"):])
	}
}
