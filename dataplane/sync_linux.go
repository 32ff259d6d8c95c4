package dataplane

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/syncrec"
	"github.com/xdpvs/xdpvs/header"
)

var _ Syncer = (*Dataplane)(nil)

// maxStandby bounds the peers' local addresses a director takes as standby ones.
const maxStandby = 256

// syncShared is the Dataplane's connection-sync state beside the workers'.
type syncShared struct {
	standby     []netip.Addr  // peers' FULLNAT local addresses learned from their records (under Dataplane.mu)
	bad         atomic.Uint64 // records that did not decode (from an authenticated peer: a bug or another version)
	standbyFull atomic.Uint64 // records of a local address beyond maxStandby
}

// clusterOwnerKey is the owner hash's key of a cluster secret: the same on every director.
func clusterOwnerKey(secret []byte) header.HashKey {
	h := sha256.Sum256(append([]byte("xdpvs owner key\x00"), secret...))
	return header.HashKeyOf(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16]))
}

// clusterCookieGen is the generation of the cluster's SYN-cookie secret at t: the same on every
// director, a new one every CookieRotation of wall-clock time.
func clusterCookieGen(t time.Time) uint32 {
	return uint32(t.Unix() / int64(CookieRotation/time.Second))
}

// withStandby is s with the standby local addresses learned so far (s itself when none).
func (d *Dataplane) withStandby(s *Snapshot) *Snapshot {
	if len(d.sync.standby) == 0 {
		return s
	}
	c := *s
	c.StandbyLocalAddrs = slices.Clone(s.StandbyLocalAddrs)
	for _, a := range d.sync.standby {
		if !slices.Contains(c.StandbyLocalAddrs, a) {
			c.StandbyLocalAddrs = append(c.StandbyLocalAddrs, a)
		}
	}
	return &c
}

// SyncExport implements Syncer. It must be called by one goroutine at a time (each ring has one
// consumer).
func (d *Dataplane) SyncExport(buf []byte) int {
	n := 0
	for _, w := range d.workers {
		if w.syncOut != nil {
			n += w.syncOut.pop(buf[n:])
		}
	}
	return n
}

// SyncImport implements Syncer: each record goes to the worker that owns its connection here
// (FULLNAT: its local port's; otherwise its client's). A FULLNAT record whose local address is
// not known here makes it a standby local address first (a peer's, learned from an authenticated
// record), so that the replies to it are steered to the workers.
func (d *Dataplane) SyncImport(recs []byte) int {
	taken := 0
	for off := 0; off+syncrec.Size <= len(recs); off += syncrec.Size {
		var r syncrec.Record
		if syncrec.Decode(recs[off:], &r) != syncrec.OK {
			d.sync.bad.Add(1)
			taken++
			continue
		}
		o := owner(&r.Orig.SrcAddr, r.Orig.SrcPort, len(d.workers))
		if r.Method == uint8(ForwardFullNAT) {
			o = localOwner(r.Reply.DstPort, len(d.workers))
			if c := d.conf.Load(); !c.isLocal(&r.Reply.DstAddr) && !c.isVIP(&r.Reply.DstAddr) {
				d.learnStandby(r.Reply.DstAddr.Netip())
			}
		}
		w := d.workers[o]
		if w.syncIn == nil {
			continue
		}
		select {
		case w.syncIn <- r:
			taken++
			w.wake()
		default:
		}
	}
	return taken
}

// isVIP reports whether a is the address of one of c's services (never a peer's local address:
// a record that says so is refused, no_local, rather than announced).
func (c *compiled) isVIP(a *header.Addr) bool {
	for i := range c.svcs {
		if c.svcs[i].key.addr == *a {
			return true
		}
	}
	return false
}

// learnStandby makes a a standby local address, re-applying the configuration in force.
func (d *Dataplane) learnStandby(a netip.Addr) {
	d.mu.Lock()
	if slices.Contains(d.sync.standby, a) {
		d.mu.Unlock()
		return
	}
	if len(d.sync.standby) >= maxStandby {
		d.mu.Unlock()
		d.sync.standbyFull.Add(1)
		return
	}
	d.sync.standby = append(d.sync.standby, a)
	snap := d.conf.Load().snap
	d.mu.Unlock()
	if err := d.Apply(snap); err != nil {
		d.log.Warn("sync: standby local address not applied", zap.Stringer("laddr", a), zap.Error(err))
		return
	}
	d.log.Info("sync: a peer's local address is a standby local address here", zap.Stringer("laddr", a))
}

// syncRound is a worker's sync work between two batches: the peers' records, a bulk request.
func (w *worker) syncRound(now int64) {
	if c := w.dp.conf.Load(); c != w.p.conf {
		w.p.setConfig(c) // a standby local address its records need may have just come
	}
	w.p.drainImports(now)
	select {
	case r := <-w.bulks:
		out, next, end := w.p.bulkRecords(r.out, r.from, now)
		r.done <- bulkAnswer{out: out, next: next, end: end}
	default:
	}
}

// bulkReq asks a worker for the records of its connections from table index from on.
type bulkReq struct {
	from uint32
	out  []byte // empty, of capacity bulkBatch records
	done chan bulkAnswer
}

type bulkAnswer struct {
	out  []byte
	next uint32
	end  bool
}

const bulkBatch = 256

// bulkRecords appends the records of the connections worth syncing from table index from on, until
// out is full or the table ends.
func (p *Pipeline) bulkRecords(out []byte, from uint32, now int64) ([]byte, uint32, bool) {
	t, i, n := p.table, from, uint32(p.table.Cap())
	var r syncrec.Record
	for ; i < n && len(out)+syncrec.Size <= cap(out); i++ {
		if !t.InUse(i) {
			continue
		}
		e := t.Entry(i)
		if !worthSyncing(e) {
			continue
		}
		p.syncRecord(&r, syncrec.KindConn, i, e, now)
		out = out[:len(out)+syncrec.Size]
		r.Encode(out[len(out)-syncrec.Size:])
	}
	return out, i, i >= n
}

// SyncBulk implements Syncer, a batch of each worker at a time, as Connections.
func (d *Dataplane) SyncBulk(yield func([]byte) bool) error {
	for _, w := range d.workers {
		if w.bulks == nil {
			return nil
		}
		for from := uint32(0); ; {
			r := bulkReq{from: from, out: make([]byte, 0, bulkBatch*syncrec.Size), done: make(chan bulkAnswer, 1)}
			select {
			case w.bulks <- r:
			case <-time.After(listWait):
				return fmt.Errorf("dataplane: worker %d takes no bulk request", w.id)
			}
			w.wake()
			var a bulkAnswer
			select {
			case a = <-r.done:
			case <-time.After(listWait):
				return fmt.Errorf("dataplane: worker %d did not answer a bulk request within %v", w.id, listWait)
			}
			if len(a.out) > 0 && !yield(a.out) {
				return nil
			}
			if a.end {
				break
			}
			from = a.next
		}
	}
	return nil
}

// StandbyLocalAddrs are the peers' FULLNAT local addresses connection sync holds here (learned
// from their records), for the announcement of each with a longer path.
func (d *Dataplane) StandbyLocalAddrs() []netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sync.standby)
}

// syncStatsEvents are the dataplane's own sync counters, beside the workers'.
func (d *Dataplane) syncStatsEvents() []NamedCount {
	d.mu.Lock()
	n := len(d.sync.standby)
	d.mu.Unlock()
	return []NamedCount{{Name: "sync_import_bad_record", Count: d.sync.bad.Load()},
		{Name: "sync_standby_laddrs", Count: uint64(n)}, {Name: "sync_standby_full", Count: d.sync.standbyFull.Load()}}
}
