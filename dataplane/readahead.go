package dataplane

import "github.com/xdpvs/xdpvs/header"

// Reading ahead for a batch of received frames. In a connection table far larger than the cache
// (a million connections: over 100 MB), a packet costs two cache misses one after the other, the
// index slot and then the entry, and a worker that takes the packets of a batch one by one waits
// for each in turn. ReadAhead, called with the whole batch before it is processed, parses every
// frame, hashes every TCP and UDP tuple, and reads every home slot and then every entry in two
// tight loops of independent loads (conntrack's PrefetchSlots and PrefetchEntries), so that the
// misses of the whole batch overlap. ProcessAheadAt then processes frame i from its parse and its
// hash. What was read ahead is only ever a starting point: a frame that is not the one read ahead
// (another buffer or length) is parsed afresh, and the table's lookup is exact whatever was read.

// readAhead is what ReadAhead made of the batch, by position in it.
type readAhead struct {
	n     int // frames read ahead
	frame [batchSize]*byte
	lens  [batchSize]int
	res   [batchSize]header.ParseResult
	pkts  [batchSize]header.Packet
	hash  [batchSize]uint64 // of pkts[i].Tuple under the table's key, where hashed
	slots [batchSize]uint32
}

// ReadAhead parses frames (at most batchSize; any beyond are not read ahead) and brings into the
// cache what their lookups will read. It changes nothing ProcessAt depends on.
func (p *Pipeline) ReadAhead(frames [][]byte) {
	ra := p.ra
	ra.n = min(len(frames), batchSize)
	for i, f := range frames[:ra.n] {
		ra.frame[i], ra.lens[i] = nil, len(f)
		if len(f) > 0 {
			ra.frame[i] = &f[0]
		}
		pkt := &ra.pkts[i]
		ra.res[i] = pkt.Parse(f)
		ra.hash[i] = 0
		if ra.res[i] == header.ParseOK && !pkt.Fragment && (pkt.Proto == header.ProtocolTCP || pkt.Proto == header.ProtocolUDP) {
			ra.hash[i] = p.table.Hash(&pkt.Tuple)
		}
	}
	p.table.PrefetchSlots(ra.hash[:ra.n], ra.slots[:])
	p.table.PrefetchEntries(ra.hash[:ra.n], ra.slots[:])
}

// ProcessAheadAt is ProcessAt for frame i of the batch last given to ReadAhead, buf[off:off+n].
func (p *Pipeline) ProcessAheadAt(i int, buf []byte, off, n, in int, now int64) (v Verdict, port, outOff, outLen int) {
	ra := p.ra
	if i >= ra.n || n == 0 || ra.frame[i] != &buf[off] || ra.lens[i] != n {
		return p.ProcessAt(buf, off, n, in, now)
	}
	cur := &p.cur
	cur.buf, cur.frame, cur.off, cur.outOff, cur.outLen, cur.in = buf, buf[off:off+n], off, off, n, in
	cur.gathered = false
	cur.pkt = ra.pkts[i]
	cur.hash, cur.hashed = ra.hash[i], ra.hash[i] != 0
	v, port = p.classify(cur, ra.res[i], now)
	return v, port, cur.outOff, cur.outLen
}
