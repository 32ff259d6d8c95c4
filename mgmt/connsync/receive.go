package connsync

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// stampOffset is where a record holds its export time (Unix ns, big-endian): dataplane/syncrec's
// layout.
const stampOffset = 100

// receive reads messages until the socket is closed.
func (c *Channel) receive() {
	buf := make([]byte, 65536)
	out := make([]byte, 0, 65536)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c.handle(buf[:n], from.Addr(), out, time.Now())
	}
}

// handle checks one message from address from and acts on it. Nothing of a message reaches the
// dataplane before it is from a peer, authenticated and new.
func (c *Channel) handle(msg []byte, from netip.Addr, out []byte, now time.Time) {
	c.mu.Lock()
	p := c.peerOf(from)
	if p == nil {
		c.drops.add(DropUnknownPeer, 1)
		c.mu.Unlock()
		return
	}
	aeads := c.aeads
	c.mu.Unlock()
	env, payload, err := open(out[:0], msg, aeads[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, errMalformed):
		p.drops.add(DropMalformed, 1)
		return
	case err != nil:
		p.drops.add(DropBadAuth, 1)
		return
	case !p.window.check(env.epoch, env.seq):
		p.drops.add(DropReplay, 1)
		return
	case env.t == MsgRecords && (len(payload) == 0 || len(payload)%control.SyncRecordSize != 0):
		p.drops.add(DropBadLength, 1)
		return
	case env.t != MsgRecords && env.t != MsgDigests && len(payload) != 0:
		p.drops.add(DropBadLength, 1)
		return
	}
	var digests map[model.ServiceKey]string
	if env.t == MsgDigests {
		var ok bool
		if digests, ok = decodeDigests(payload); !ok {
			p.drops.add(DropBadLength, 1)
			return
		}
	}
	p.window.accept(env.epoch, env.seq)
	p.recv.Messages++
	p.recv.Bytes += uint64(len(msg))
	p.lastRecv = now
	switch env.t {
	case MsgRecords:
		c.importRecords(p, payload, now)
	case MsgBulkRequest:
		if !p.bulking { // asked again every second until it ends: one copy at a time
			p.bulking = true
			c.log.Sugar().Infof("sync: %v asks for a bulk copy", p.addr)
			go c.sendBulk(p)
		}
	case MsgDigests:
		c.compareDigests(p, digests)
	case MsgBulkEnd:
		if p.bulkDone.IsZero() {
			c.log.Sugar().Infof("sync: the bulk copy from %v is done (%d records)", p.addr, p.bulkRecs)
		}
		p.bulkDone = now
	}
}

// importRecords hands authenticated records to the dataplane (under the channel's lock: the
// receiver is one goroutine, and the lock only orders it with the status).
func (c *Channel) importRecords(p *peer, recs []byte, now time.Time) {
	n := len(recs) / control.SyncRecordSize
	p.recv.Records += uint64(n)
	if p.bulkDone.IsZero() {
		p.bulkRecs += uint64(n)
	}
	for i := 0; i < n; i++ {
		stamp := int64(binary.BigEndian.Uint64(recs[i*control.SyncRecordSize+stampOffset:]))
		p.lag(now.Sub(time.Unix(0, stamp)))
	}
	if q := c.cfg.Syncer.SyncImport(recs); q < n {
		p.drops.add(DropImportFull, uint64(n-q))
	}
}
