package dataplane

import "github.com/xdpvs/xdpvs/header"

// bareForwarder sends every frame out of the other port with only the MACs rewritten, to the first
// resolved neighbour of that port: the same xsk layer and worker loop with no load-balancing
// logic, whose rate is the ceiling benchmarks compare the pipeline against.
type bareForwarder struct {
	p     *Pipeline
	neigh *Neighbours
	idx   [2]uint32
	ok    [2]bool
}

func (b *bareForwarder) ProcessAt(buf []byte, off, n, in int, now int64) (Verdict, int, int, int) {
	v, port := b.process(buf[off:off+n], in)
	return v, port, off, n
}

func (b *bareForwarder) process(frame []byte, in int) (Verdict, int) {
	b.p.c.rx++
	if len(frame) < header.EthernetMinimumSize {
		b.p.c.parse[header.ParseTooShort]++
		return VerdictDrop, 0
	}
	out := 1 - in
	if !b.ok[out] {
		b.idx[out], b.ok[out] = b.neigh.anyOn(out)
		if !b.ok[out] {
			return b.p.drop(DropNeighMiss)
		}
	}
	mac, ok := b.neigh.mac(b.idx[out])
	if !ok {
		b.ok[out] = false
		return b.p.drop(DropNeighMiss)
	}
	eth := header.Ethernet(frame)
	eth.SetDestinationAddress(mac)
	eth.SetSourceAddress(b.p.ports[out].MAC)
	b.p.c.tx++
	return VerdictTX, out
}
