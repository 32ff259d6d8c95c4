package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/syncrec"
	"github.com/xdpvs/xdpvs/proxyproto"
)

// importNew creates the connection of a peer's record, as open would have here, or says why not
// (numImportDrops: created). The real server is found by address, port and method in the
// service's current list, never by a peer's index.
func (p *Pipeline) importNew(r *syncrec.Record, now int64) importDrop {
	c := p.conf
	si, ok := c.lookupService(r.Orig.Proto, &r.Orig.DstAddr, r.Orig.DstPort)
	if !ok {
		return importNoService
	}
	s := &c.svcs[si]
	k := s.importDest(r)
	if k < 0 {
		return importNoDest
	}
	if r.Flags&syncrec.FlagSynProxy != 0 && (!s.synproxy || p.sp == nil) {
		return importNoSynProxy
	}
	d := &s.dests[k]
	standby := false
	if d.method == ForwardFullNAT {
		pool := p.lpools[r.Reply.DstAddr]
		switch {
		case pool != nil:
			if !pool.take(r.Reply.DstPort) {
				return importPortTaken
			}
		case c.isLocal(&r.Reply.DstAddr):
			standby = true // a peer's local address: valid for replies, never allocated from
		default:
			return importNoLocal
		}
	}
	drop := p.importInsert(r, s, d, standby, now)
	if drop != numImportDrops && d.method == ForwardFullNAT && !standby {
		p.lpools[r.Reply.DstAddr].put(r.Reply.DstPort)
	}
	return drop
}

// importDest is the index of the real server of record r in s, or -1.
func (s *svcInfo) importDest(r *syncrec.Record) int {
	for j := range s.dests {
		d := &s.dests[j]
		port := d.port
		if port == 0 {
			port = r.Orig.DstPort
		}
		if d.addr == r.Reply.SrcAddr && port == r.Reply.SrcPort && uint8(d.method) == r.Method {
			return j
		}
	}
	return -1
}

// importInsert resolves the next hops of record r's connection to real server d of service s and
// inserts it.
func (p *Pipeline) importInsert(r *syncrec.Record, s *svcInfo, d *destInfo, standby bool, now int64) importDrop {
	var out1 int
	var n1 slotRef
	if s.replies {
		o, n, routed, ok := p.neigh.nextHop(&r.Orig.SrcAddr, p.hops)
		if !routed {
			return importNoRoute
		}
		if !ok {
			return importNeighMiss
		}
		out1, n1 = o, n
	}
	out0, n0, routed, ok := p.neigh.nextHop(&d.addr, p.hops)
	if !routed {
		return importNoRoute
	}
	if !ok {
		return importNeighMiss
	}
	steered := d.method == ForwardMasq && p.flows != nil
	if steered && p.flows.room() == 0 {
		return importTableFull
	}
	id, res := p.table.Insert(&r.Orig, &r.Reply, now+int64(r.TimeoutMs)*1e6)
	if res != conntrack.Inserted {
		return importTableFull
	}
	if !p.holdHops(n0, n1) {
		p.table.Delete(id)
		return importNeighMiss
	}
	e := p.table.Entry(id)
	e.Value = connVal{destID: d.id, destGen: d.gen, neigh: [2]uint16{uint16(n0.idx), uint16(n1.idx)}, svcID: s.id,
		out: [2]uint8{uint8(out0), uint8(out1)}, xmit: bindXmit(d.method, d.addr.Is4() == r.Orig.SrcAddr.Is4())}
	e.Value.flags.set(connStandbyLocal, standby)
	if s.pp != proxyproto.None && d.method == ForwardFullNAT {
		p.ppOpen(id, e, s.pp)
	}
	p.c.active[d.id]++
	p.setState(e, conntrack.State(r.State))
	p.importFlags(id, e, r, now)
	if s.persist != 0 && r.Flags&syncrec.FlagTemplate != 0 {
		client := maskAddr(r.Orig.SrcAddr, s.maskBits)
		// holdTemplate makes it expire persist seconds after the time it is given: the peer's
		// remaining time from now (modulo 2^32, as the template clock).
		at := uint32(now/1e9) + r.TemplateMs/1000 - s.persist
		p.holdTemplate(e, s, d, -1, p.tmpls.keyOf(&s.key, &client), at)
	}
	if steered {
		p.flows.opened(id, &r.Reply)
	}
	return numImportDrops
}
