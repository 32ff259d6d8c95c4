package connsync

import (
	"context"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// send collects the workers' exports every cfg.Every and sends them to every peer, in messages of
// whole records up to the MTU.
func (c *Channel) send(ctx context.Context) {
	buf := make([]byte, 64*c.recsPM*control.SyncRecordSize)
	t := time.NewTicker(c.cfg.Every)
	defer t.Stop()
	d := time.NewTicker(DigestEvery)
	defer d.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.C:
			c.sendDigests()
			continue
		case <-t.C:
		}
		for {
			n := c.cfg.Syncer.SyncExport(buf)
			if n == 0 {
				break
			}
			c.sendRecords(c.peers, buf[:n], false)
			if n < len(buf)-c.recsPM*control.SyncRecordSize {
				break
			}
		}
	}
}

// sendRecords sends recs (whole records) to each of peers, split into messages.
func (c *Channel) sendRecords(peers []*peer, recs []byte, bulk bool) {
	step := c.recsPM * control.SyncRecordSize
	now := time.Now()
	for off := 0; off < len(recs); off += step {
		m := recs[off:min(off+step, len(recs))]
		for _, p := range peers {
			if !c.sealTo(p, MsgRecords, m, len(m)/control.SyncRecordSize, now) && bulk {
				time.Sleep(time.Second / time.Duration(c.cfg.Rate)) // a bulk copy waits for its rate
				c.sealTo(p, MsgRecords, m, len(m)/control.SyncRecordSize, time.Now())
			}
		}
	}
}

// bulkPause is the pause after each batch of a bulk copy (a worker's batch: up to 256 records),
// which bounds a bulk copy to about 100,000 records a second.
const bulkPause = 2 * time.Millisecond

// sendBulk answers p's bulk request: every connection of the dataplane, then MsgBulkEnd.
func (c *Channel) sendBulk(p *peer) {
	var n uint64
	err := c.cfg.Syncer.SyncBulk(func(recs []byte) bool {
		c.sendRecords([]*peer{p}, recs, true)
		n += uint64(len(recs) / control.SyncRecordSize)
		// Paced: the joiner's workers apply at most a few hundred records between two of their
		// batches, and a queue they have not drained refuses the rest (import_full).
		time.Sleep(bulkPause)
		return true
	})
	if err != nil {
		c.log.Sugar().Warnf("sync: the bulk copy to %v is incomplete: %v", p.addr, err)
	}
	c.sealTo(p, MsgBulkEnd, nil, 0, time.Now())
	c.mu.Lock()
	p.bulkSent++
	p.bulking = false
	c.mu.Unlock()
	c.log.Sugar().Infof("sync: sent %v a bulk copy of %d connections", p.addr, n)
}

// joinPeers asks every peer for a bulk copy, again every second, until each has answered or
// JoinTimeout has passed; then the channel is ready.
func (c *Channel) joinPeers(ctx context.Context) {
	if len(c.peers) == 0 {
		return
	}
	deadline := time.NewTimer(c.cfg.JoinTimeout)
	defer deadline.Stop()
	if !c.waitConfigured(ctx, deadline.C) {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		waiting := c.waiting()
		if len(waiting) == 0 {
			c.setJoin("done")
			c.log.Sugar().Infof("sync: bulk copies from every peer done in %v", time.Since(c.started).Round(time.Millisecond))
			return
		}
		for _, p := range waiting {
			c.sealTo(p, MsgBulkRequest, nil, 0, time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			if waiting = c.waiting(); len(waiting) == 0 {
				continue // the last copy ended meanwhile: done, above
			}
			c.setJoin("timed out")
			c.log.Sugar().Warnf("sync: %d of %d peers sent no bulk copy within %v: ready without them", len(waiting), len(c.peers), c.cfg.JoinTimeout)
			return
		case <-tick.C:
		}
	}
}

// waitConfigured waits until the configuration is in force (Config.Configured); false if ctx
// ended or the join timed out meanwhile (then the channel is ready: nothing to copy into).
func (c *Channel) waitConfigured(ctx context.Context, deadline <-chan time.Time) bool {
	if c.cfg.Configured == nil || c.cfg.Configured() {
		return true
	}
	c.log.Sugar().Infof("sync: waiting for the configuration before asking the peers for their connections")
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !c.cfg.Configured() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline:
			c.setJoin("timed out")
			c.log.Sugar().Warnf("sync: no configuration within %v: ready without the peers' connections", c.cfg.JoinTimeout)
			return false
		case <-t.C:
		}
	}
	return true
}

func (c *Channel) waiting() []*peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var w []*peer
	for _, p := range c.peers {
		if p.bulkDone.IsZero() {
			w = append(w, p)
		}
	}
	return w
}

func (c *Channel) setJoin(s string) {
	c.mu.Lock()
	c.join = s
	c.mu.Unlock()
}
