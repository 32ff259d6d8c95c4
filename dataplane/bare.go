package dataplane

import "github.com/xdpvs/xdpvs/header"

// bareForwarder sends every frame out of the other port with only the MACs rewritten: the same xsk
// layer and worker loop with no load-balancing logic, whose rate is the ceiling benchmarks compare
// the pipeline against. The next hop is the route's for the destination, looked up once per
// destination address and remembered.
type bareForwarder struct {
	p     *Pipeline
	neigh *Neighbours
	last  header.Addr
	idx   uint32
	ok    bool
}

func (b *bareForwarder) Process(frame []byte, in int, now int64) (Verdict, int) {
	b.p.c.rx++
	pkt := &b.p.pkt
	if r := pkt.Parse(frame); r != header.ParseOK {
		b.p.c.parse[r]++
		return VerdictDrop, 0
	}
	out := 1 - in
	if !b.ok || b.last != pkt.Tuple.DstAddr {
		_, idx, _, ok := b.neigh.nextHop(&pkt.Tuple.DstAddr)
		b.last, b.idx, b.ok = pkt.Tuple.DstAddr, idx, ok
		if !ok {
			return b.p.drop(DropNeighMiss)
		}
	}
	mac, ok := b.neigh.mac(b.idx)
	if !ok {
		return b.p.drop(DropNeighMiss)
	}
	eth := header.Ethernet(frame)
	eth.SetDestinationAddress(mac)
	eth.SetSourceAddress(b.p.ports[out].MAC)
	b.p.c.tx++
	return VerdictTX, out
}
