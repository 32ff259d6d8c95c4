package connsync

import "github.com/xdpvs/xdpvs/mgmt/api"

// Status is `show sync` without the dataplane's counters (the server adds those).
func (c *Channel) Status() *api.SyncState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &api.SyncState{Listen: c.cfg.Listen, Ready: c.join != "waiting", Join: c.join, Drops: c.drops.list()}
	for _, p := range c.peers {
		ps := p.state()
		st.Peers = append(st.Peers, ps)
		for _, f := range [2]struct{ to, from *api.SyncFlow }{{&st.Sent, &ps.Sent}, {&st.Recv, &ps.Recv}} {
			f.to.Messages += f.from.Messages
			f.to.Records += f.from.Records
			f.to.Bytes += f.from.Bytes
		}
	}
	return st
}
