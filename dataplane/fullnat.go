package dataplane

import (
	"math/rand/v2"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/toa"
)

// FULLNAT local ports. A worker owns the ports p of every local address (LIP) with p ≡ worker
// (mod workers), as DPVS partitions them, so that the reply to LIP:lport is owned by worker
// lport mod workers, which any worker can compute. Each worker hands out its ports of a LIP first
// in, first out: a port is reused as late as possible, which real servers' TIME_WAIT sockets like.
// The ring starts at a random port, so that a restarted director does not hand out again the ports
// its previous run used last (the real servers may still hold them in TIME_WAIT), and an observer
// cannot predict the next port from the start time.
const firstLocalPort = 1024

type portPool struct {
	ring       []uint16
	head, size int
	// out has a bit for each port handed out (get, take); skip one for each port an imported
	// connection took (take) while it was still in the ring, which get passes over.
	out, skip [1 << 16 / 64]uint64
}

func newPortPool(worker, workers int) *portPool {
	p := &portPool{}
	for port := firstLocalPort; port < 1<<16; port++ {
		if port%workers == worker {
			p.ring = append(p.ring, uint16(port))
		}
	}
	p.size = len(p.ring)
	p.head = rand.IntN(len(p.ring))
	return p
}

func bit(m *[1 << 16 / 64]uint64, port uint16) bool { return m[port/64]&(1<<(port%64)) != 0 }
func setBit(m *[1 << 16 / 64]uint64, port uint16, on bool) {
	if on {
		m[port/64] |= 1 << (port % 64)
	} else {
		m[port/64] &^= 1 << (port % 64)
	}
}

func (p *portPool) get() (uint16, bool) {
	for p.size > 0 {
		port := p.ring[p.head]
		p.head = (p.head + 1) % len(p.ring)
		p.size--
		if bit(&p.skip, port) { // an imported connection holds it
			setBit(&p.skip, port, false)
			continue
		}
		setBit(&p.out, port, true)
		return port, true
	}
	return 0, false
}

func (p *portPool) put(port uint16) {
	if !bit(&p.out, port) {
		return
	}
	setBit(&p.out, port, false)
	if bit(&p.skip, port) { // taken while in the ring, and still there
		setBit(&p.skip, port, false)
		return
	}
	if p.size == len(p.ring) {
		return
	}
	p.ring[(p.head+p.size)%len(p.ring)] = port
	p.size++
}

// take hands out port for an imported connection that holds it; false if it is out already.
// The port stays in the ring, marked, until get passes it.
func (p *portPool) take(port uint16) bool {
	if bit(&p.out, port) || port < firstLocalPort {
		return false
	}
	setBit(&p.out, port, true)
	setBit(&p.skip, port, true)
	return true
}

// localOwner is the worker owning connections whose reply goes to local port lport.
func localOwner(lport uint16, workers int) int { return int(lport) % workers }

// isLocal reports whether addr is a FULLNAT local address of the configuration.
func (c *compiled) isLocal(addr *header.Addr) bool {
	_, ok := c.lips[*addr]
	return ok
}

// hasLocal reports whether the service has a local address for FULLNAT toward real servers of
// its own family (nat64 false) or IPv4 ones of its IPv6 VIP (nat64 true).
func (s *svcInfo) hasLocal(nat64 bool) bool {
	if nat64 {
		return len(s.lips4) > 0
	}
	return len(s.lips) > 0
}

// allocLocal picks the local address and port of a new FULLNAT connection of service si: the
// service's LIPs in turn (its IPv4 ones for NAT64), the first with a free port of this worker. ok is
// false when every one is exhausted.
func (p *Pipeline) allocLocal(si int, nat64 bool) (header.Addr, uint16, bool) {
	s, st := &p.conf.svcs[si], &p.svcState[si]
	lips := s.lips
	if nat64 {
		lips = s.lips4
	}
	for range lips {
		lip := lips[st.lipNext%len(lips)]
		st.lipNext++
		if port, ok := p.lpools[lip].get(); ok {
			return lip, port, true
		}
	}
	return header.Addr{}, 0, false
}

// fullnatTCP does what FULLNAT adds to a TCP segment once rewritten (the transport header is where
// it was received, in cur.frame; the packet now lies at cur.out()):
//
//   - the real server's SYN/ACK leaves with its MSS lowered by the size of the TOA option, so that
//     the client's segments, which carry the option, always have room for it;
//   - the TOA option, the client's address and port for the real server (DPVS's kmod/toa), goes
//     on the client's segments from the handshake's ACK until one carrying data has taken it, so
//     that losing either one of the first two still delivers it. Each outcome is counted.
func (p *Pipeline) fullnatTCP(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir) {
	pkt := &cur.pkt
	client := &e.Tuples[conntrack.DirOriginal]
	seg := header.TCP(cur.buf[cur.off+pkt.L4Offset : cur.outOff+cur.outLen])
	flags := pkt.TCPFlags
	size := uint16(toa.OptionSize(client.SrcAddr))
	switch {
	case dir == conntrack.DirReply:
		if flags&(header.TCPFlagSyn|header.TCPFlagAck) != header.TCPFlagSyn|header.TCPFlagAck {
			return
		}
		if mss, ok := seg.MSS(); ok && mss > size+64 {
			seg.SetMSSWithChecksumUpdate(mss - size)
		} else {
			p.c.mssNotLowered++
		}
	case flags&header.TCPFlagAck != 0 && flags&(header.TCPFlagRst|header.TCPFlagSyn) == 0 && !e.Value.flags.has(connTOADone):
		ip := cur.buf[cur.outOff+header.EthernetMinimumSize:]
		server := &e.Tuples[conntrack.DirReply]
		n, r := toa.Insert(ip, cur.outLen-header.EthernetMinimumSize, !server.SrcAddr.Is4(), client.SrcAddr, client.SrcPort,
			p.ports[e.Value.out[conntrack.DirOriginal]].mtu())
		p.c.toa[r]++
		hasData := pkt.L3Offset+pkt.L3Length > pkt.PayloadOffset
		switch r {
		case toa.OK:
			cur.outLen = n + header.EthernetMinimumSize
			e.Value.flags.set(connTOADone, hasData)
		case toa.ExceedsMTU, toa.NoTailroom:
			// A later, smaller segment may take it.
		default:
			e.Value.flags.set(connTOADone, true) // it will never fit this connection
		}
	}
}
