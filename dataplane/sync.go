package dataplane

import (
	"sync/atomic"
	"time"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/syncrec"
	"github.com/xdpvs/xdpvs/synproxy"
)

// Connection sync (docs/connection-sync.md), the dataplane's side: each worker exports its
// connections worth keeping (established TCP, UDP with traffic both ways, a SYN-proxied one once
// its handshake is done) as syncrec records into a ring of its own, with neither lock nor
// allocation: when one becomes worth keeping (once it is SyncConfig.MinAge old), at each state
// change after that, when it is removed before its time, and again before a peer's copy could
// expire (half its state's timeout after the last export). mgmt's sender drains the rings
// (SyncExport). Records received from peers are queued to the worker that owns the connection here
// (SyncImport), which creates or updates the entry between two packet batches.

// SyncConfig turns connection sync on.
type SyncConfig struct {
	Enabled bool
	// MinAge is how old a connection must be before it is exported (--sync-min-age).
	MinAge time.Duration
	// Secret, when set, is the cluster's (mgmt/connsync.ClusterSecret of --sync-key): the owner
	// hash is keyed with it, so that every director with as many workers gives a connection to
	// the same worker, and an imported FULLNAT connection's local port and client agree on it.
	Secret []byte
}

const (
	syncRingSize   = 4096 // records a worker may have exported and not yet sent
	syncImportSize = 4096 // records queued to a worker and not yet applied
	syncImportMax  = 256  // records a worker applies between two batches
	syncExported   = 1 << 31
	// syncRefreshMax bounds the time between two exports of a live connection.
	syncRefreshMax = 30 * 60
	// A record whose next hop is not resolved yet waits, up to syncRetryMax of them per worker.
	syncRetryMax   = 1024
	syncRetryEvery = int64(20 * time.Millisecond)
	syncRetryFor   = int64(3 * time.Second)
)

// syncRing is a worker's single-producer (the worker), single-consumer (SyncExport) ring of
// encoded records.
type syncRing struct {
	head atomic.Uint64 // next slot the worker writes
	tail atomic.Uint64 // next slot the consumer reads
	recs [syncRingSize][syncrec.Size]byte
}

func (r *syncRing) push(rec *syncrec.Record) bool {
	h := r.head.Load()
	if h-r.tail.Load() == syncRingSize {
		return false
	}
	rec.Encode(r.recs[h%syncRingSize][:])
	r.head.Store(h + 1)
	return true
}

// pop copies whole records into buf and returns the bytes copied.
func (r *syncRing) pop(buf []byte) int {
	t, h := r.tail.Load(), r.head.Load()
	n := 0
	for ; t < h && n+syncrec.Size <= len(buf); t++ {
		n += copy(buf[n:], r.recs[t%syncRingSize][:])
	}
	r.tail.Store(t)
	return n
}

// syncState is a worker's connection-sync state, made when sync is on.
type syncState struct {
	out    *syncRing
	in     chan syncrec.Record
	due    []uint32 // by connection id: syncExported once exported, | the second (clock+1) of the next export
	minAge uint32   // seconds
	wall   func() int64
	// retry holds records whose next hop was being resolved, tried again every syncRetryEvery
	// until syncRetryFor after they came (then counted neigh_miss).
	retry   []syncRetry
	spare   []syncRetry // retry's other buffer
	retryAt int64
}

// syncRetry is a record waiting for a next hop, and when it came.
type syncRetry struct {
	r    syncrec.Record
	came int64
}

// syncCounters count what a worker's sync did.
type syncCounters struct {
	exported, exportFull, imported, updated, closed uint64
	importDrops                                     [numImportDrops]uint64
}

// importDrop is why a worker did not apply a record.
type importDrop uint8

const (
	importNoService  importDrop = iota // no such virtual service here
	importNoDest                       // the service has no such real server here (by address, port and method)
	importConflict                     // the tuple belongs to another connection here
	importNoLocal                      // FULLNAT: the local address is neither ours nor a peer's here
	importPortTaken                    // FULLNAT: our local port is held by another connection
	importNoRoute                      // no route to the real server or the client
	importNeighMiss                    // a next hop is not resolved yet (resolution asked)
	importTableFull                    // the connection table refused it (full, probe limit)
	importNoSynProxy                   // a SYN-proxied record for a service that is not
	numImportDrops
)

var importDropNames = [numImportDrops]string{"no_service", "no_dest", "conflict", "no_local", "port_taken", "no_route",
	"neigh_miss", "table_full", "no_synproxy"}

func syncEvents(ev []NamedCount, c *syncCounters) []NamedCount {
	ev = append(ev, NamedCount{Name: "sync_exported", Count: c.exported}, NamedCount{Name: "sync_export_full", Count: c.exportFull},
		NamedCount{Name: "sync_imported", Count: c.imported}, NamedCount{Name: "sync_import_updated", Count: c.updated},
		NamedCount{Name: "sync_import_closed", Count: c.closed})
	for r := range numImportDrops {
		ev = append(ev, NamedCount{Name: "sync_import_" + importDropNames[r], Count: c.importDrops[r]})
	}
	return ev
}

// enableSync makes the pipeline export its connections into out and take records from in.
func (p *Pipeline) enableSync(minAge time.Duration, out *syncRing, in chan syncrec.Record) {
	p.sync = &syncState{out: out, in: in, due: make([]uint32, p.table.Cap()), minAge: uint32(minAge / time.Second),
		wall: func() int64 { return time.Now().UnixNano() }}
}

func syncSec(now int64) uint32 { return uint32(now/1e9) + 1 }

// syncOpened starts connection id's export clock: it is first exported once MinAge old.
func (p *Pipeline) syncOpened(id uint32, now int64) {
	if p.sync != nil {
		p.sync.due[id] = syncSec(now) + p.sync.minAge
	}
}

// worthSyncing reports whether a peer should have connection e.
func worthSyncing(e *conntrack.Entry[connVal]) bool {
	if e.Value.sp != spOff && e.Value.sp != spOn {
		return false
	}
	switch e.State {
	case conntrack.StateUDP:
		return e.Value.flags.has(connAssured)
	case conntrack.StateNone, conntrack.StateSynSent, conntrack.StateSynRecv, conntrack.StateSynAck, conntrack.StateListen:
		return false
	}
	return true
}

// syncTouch exports connection id, just forwarded (changed: its state changed), if it is time.
func (p *Pipeline) syncTouch(id uint32, e *conntrack.Entry[connVal], changed bool, now int64) {
	s := p.sync
	if !worthSyncing(e) {
		return
	}
	due, sec := s.due[id], syncSec(now)
	if !(changed && due&syncExported != 0) && sec < due&^syncExported {
		return
	}
	p.syncExport(syncrec.KindConn, id, e, now)
}

// syncExport writes connection id's record of kind k into the ring (or counts it lost).
func (p *Pipeline) syncExport(k syncrec.Kind, id uint32, e *conntrack.Entry[connVal], now int64) {
	s := p.sync
	var r syncrec.Record
	p.syncRecord(&r, k, id, e, now)
	if !s.out.push(&r) {
		p.c.sync.exportFull++
		return
	}
	p.c.sync.exported++
	refresh := min(max(p.conf.timeouts[e.State]/2e9, 1), syncRefreshMax)
	s.due[id] = syncExported | (syncSec(now) + uint32(refresh))
}

// syncRecord describes connection id.
func (p *Pipeline) syncRecord(r *syncrec.Record, k syncrec.Kind, id uint32, e *conntrack.Entry[connVal], now int64) {
	v := &e.Value
	*r = syncrec.Record{Kind: k, Orig: e.Tuples[conntrack.DirOriginal], Reply: e.Tuples[conntrack.DirReply],
		Method: uint8(xmitMethod[v.xmit]), State: uint8(e.State), TimeoutMs: uint32(max(e.Expires()-now, 0) / 1e6),
		Exported: p.sync.wall()}
	if v.flags.has(connTOADone) {
		r.Flags |= syncrec.FlagTOADone
	}
	if v.flags.has(connAssured) {
		r.Flags |= syncrec.FlagAssured
	}
	if v.sp == spOn {
		d := &p.sp.conns[id].d
		r.Flags |= syncrec.FlagSynProxy
		r.SP = syncrec.SP{Seq: uint32(d.Seq), TS: uint32(d.TS), Flags: uint8(d.Flags), ClientWS: d.ClientWS, ProxyWS: d.ProxyWS, ServerWS: d.ServerWS}
	}
	if v.flags.has(connPP) {
		r.Flags |= syncrec.FlagPP
		r.PPAt = p.pp[id].at
		if v.flags.has(connPPSent) {
			r.Flags |= syncrec.FlagPPSent
		}
	}
	if v.tmpl != 0 {
		if _, _, exp := unpackTmpl(p.tmpls.slots[v.tmpl-1].val.Load()); exp > uint32(now/1e9) {
			r.Flags |= syncrec.FlagTemplate
			r.TemplateMs = (exp - uint32(now/1e9)) * 1000
		}
	}
}

// syncRemoved tells the peers that connection id, exported before, is gone before its time.
func (p *Pipeline) syncRemoved(id uint32, e *conntrack.Entry[connVal]) {
	if p.sync != nil && p.sync.due[id]&syncExported != 0 {
		p.syncExport(syncrec.KindClosed, id, e, e.Expires())
		p.sync.due[id] = 0
	}
}

// xmitMethod is the forwarding method of each transmit function.
var xmitMethod = [numXmit]ForwardMethod{xmitDR: ForwardRoute, xmitTunnel: ForwardTunnel, xmitNAT: ForwardMasq,
	xmitFullNAT: ForwardFullNAT, xmitNAT64: ForwardFullNAT}

// drainImports applies the records queued to this worker, at most syncImportMax, after those
// waiting for a next hop when it is time to try them again.
func (p *Pipeline) drainImports(now int64) {
	s := p.sync
	if len(s.retry) > 0 && now >= s.retryAt {
		s.retryAt = now + syncRetryEvery
		waiting := append(s.spare[:0], s.retry...)
		s.retry = s.retry[:0]
		for i := range waiting {
			p.importAt(&waiting[i].r, waiting[i].came, now)
		}
		s.spare = waiting
	}
	for range syncImportMax {
		select {
		case r := <-s.in:
			p.importAt(&r, now, now)
		default:
			return
		}
	}
}

// importAt applies record r, which came at came; one whose next hop is being resolved waits.
func (p *Pipeline) importAt(r *syncrec.Record, came, now int64) {
	s := p.sync
	if d := p.importRecord(r, now); d == importNeighMiss {
		if now-came < syncRetryFor && len(s.retry) < syncRetryMax {
			s.retry = append(s.retry, syncRetry{r: *r, came: came})
			return
		}
		p.c.sync.importDrops[d]++
	}
}

// importRecord creates, updates or removes the connection a peer's record describes, and returns
// why it did not (numImportDrops: it did). A neighbour miss is left to the caller to count.
func (p *Pipeline) importRecord(r *syncrec.Record, now int64) importDrop {
	if id, dir, ok := p.table.Lookup(&r.Orig); ok {
		e := p.table.Entry(id)
		switch {
		case dir != conntrack.DirOriginal || e.Tuples[conntrack.DirReply] != r.Reply:
			p.c.sync.importDrops[importConflict]++
			return importConflict
		case r.Kind == syncrec.KindClosed:
			p.forget(id, e)
			p.table.Delete(id)
			p.c.sync.closed++
		default:
			p.setState(e, conntrack.State(r.State))
			p.importFlags(id, e, r, now)
			p.table.SetExpires(id, now+int64(r.TimeoutMs)*1e6)
			p.c.sync.updated++
		}
		return numImportDrops
	}
	if r.Kind == syncrec.KindClosed {
		return numImportDrops
	}
	d := p.importNew(r, now)
	switch d {
	case numImportDrops:
		p.c.sync.imported++
	case importNeighMiss:
	default:
		p.c.sync.importDrops[d]++
	}
	return d
}

// importFlags sets what a record says of a connection besides its state.
func (p *Pipeline) importFlags(id uint32, e *conntrack.Entry[connVal], r *syncrec.Record, now int64) {
	v := &e.Value
	v.flags.set(connTOADone, r.Flags&syncrec.FlagTOADone != 0 || v.flags.has(connTOADone))
	if r.Flags&syncrec.FlagAssured != 0 {
		v.flags.set(connAssured|connSeen, true)
	}
	if r.Flags&syncrec.FlagPP != 0 && v.flags.has(connPP) {
		// Where the header goes is the peer's: the client's SYN passed there.
		p.pp[id].at = r.PPAt
		v.flags.set(connPPSent, r.Flags&syncrec.FlagPPSent != 0 || v.flags.has(connPPSent))
	}
	if r.Flags&syncrec.FlagSynProxy != 0 && p.sp != nil {
		if v.sp != spOff && v.sp != spOn {
			return // its handshake is under way here: ours
		}
		v.sp = spOn
		p.sp.conns[id] = spConn{d: synproxy.Delta{Seq: synproxy.Size(r.SP.Seq), TS: synproxy.Size(r.SP.TS),
			Flags: synproxy.DeltaFlags(r.SP.Flags), ClientWS: r.SP.ClientWS, ProxyWS: r.SP.ProxyWS, ServerWS: r.SP.ServerWS}}
	}
	if p.sync != nil {
		p.sync.due[id] = syncExported | (syncSec(now) + syncRefreshMax) // ours now too: its changes here go to the peers
	}
}
