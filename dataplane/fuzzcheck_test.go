package dataplane

// The invariants of FuzzPipeline, per verdict and, for a transmitted frame, per what was sent:
//
//   - every frame moves rx and exactly one of tx, handoffOut, a drop or a parse counter (a packet
//     too big for its tunnel moves two: it is dropped, too_big, and the ICMP error that answers it
//     is sent, tx); a service's and a real server's packet counters move together, at most once,
//     and only for a frame sent; the events (tunnelled, icmp_sent, nat64_translated, toa_*, the SYN
//     proxy's) at most once;
//   - a dropped or handed-off frame is unchanged;
//   - a sent frame lies in the buffer, parses, leaves from the egress port's MAC, and
//   - answered by the director itself (a SYN cookie's SYN/ACK, the ACK to a server's SYN/ACK sent
//     again, fragmentation needed or packet too big for a tunnel, the reset of a SYN-proxied
//     client whose server refused): goes back where it came from, or to the client, as a packet of
//     the reverse of the input's tuple (or a correct ICMP error quoting the input, which was not
//     an ICMP error itself), with valid checksums;
//   - tunnelled (TUN): outer header from the director's address on the egress port to the real
//     server of the input's connection, DF as the inner packet's, a valid IPv4 header checksum; the
//     inner packet is the input's IP packet, byte for byte;
//   - forwarded (NAT, FULLNAT, NAT64, DR, the SYN proxy's translated segments): out of the
//     connection's egress port to its next hop's MAC; DR changes only the MACs; the others carry
//     the reverse of the connection's other tuple (or an ICMP error quoting exactly that tuple, the
//     quoted transport bytes after the ports unchanged but a SYN-proxied or PROXY-protocol-shifted
//     sequence number), their
//     checksums verifying whenever the input's did, every other field kept (the IP header's, the
//     TCP numbers, flags and window but where the SYN proxy translates them, an ICMP error's type,
//     code and MTU); NAT64 changes the family, maps TOS and TTL, and keeps the payload; TOA adds
//     exactly its option's bytes, carrying the client's address and port, and FULLNAT lowers a
//     SYN/ACK's MSS by them.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
	"github.com/xdpvs/xdpvs/synproxy"
	"github.com/xdpvs/xdpvs/toa"
)

// fuzzCounts are the counters the invariants read, summed where per service or real server.
type fuzzCounts struct {
	rx, tx, handoff, drops, parse                  uint64
	drop                                           [NumDropReasons]uint64
	tunnelled, icmpSent, translated, mssNotLowered uint64
	toa                                            [toa.NumResults]uint64
	pp                                             [proxyproto.NumResults]uint64
	answered, opened, replays, reacked, serverRST  uint64
	svcPkts, destPkts                              uint64
	held, made                                     uint64 // fragments held for their first, and made for a tunnel
}

func countsOf(c *counters) fuzzCounts {
	k := fuzzCounts{rx: c.rx, tx: c.tx, handoff: c.handoffOut, drop: c.drops, tunnelled: c.tunnelled, icmpSent: c.icmpSent,
		translated: c.translated, mssNotLowered: c.mssNotLowered, toa: c.toa, pp: c.pp, answered: c.sp.answered, opened: c.sp.opened,
		replays: c.sp.replays, reacked: c.sp.reacked, serverRST: c.sp.serverRST, held: c.fragHeld, made: c.fragMade}
	for _, v := range c.drops {
		k.drops += v
	}
	for _, v := range c.parse {
		k.parse += v
	}
	for i := range c.svc {
		k.svcPkts += c.svc[i].InPkts + c.svc[i].OutPkts
	}
	for i := range c.dest {
		k.destPkts += c.dest[i].InPkts + c.dest[i].OutPkts
	}
	return k
}

// fuzzObs is one fuzzed frame: the input, the pipeline's state around it, and what came out.
type fuzzObs struct {
	p      *Pipeline
	in     []byte
	inPort int
	pi     header.Packet
	parsed bool
	// The input's checksums (frameChecksumsOK) and its ICMP error's quoted IPv4 header checksum.
	ipOK, l4OK, quoteOK bool
	before, after       fuzzCounts
	pre                 conntrack.Entry[connVal] // the input tuple's connection before, if preOK
	preOK               bool
	fragFlow            header.Tuple // a later fragment's: the connection its datagram's first opened (fragFlowOf)
	v                   Verdict
	port, off, n        int
	buf, out            []byte
}

func newFuzzObs(p *Pipeline, in []byte, inPort int) *fuzzObs {
	x := &fuzzObs{p: p, in: in, inPort: inPort, before: countsOf(p.c)}
	x.parsed = x.pi.Parse(in) == header.ParseOK
	x.ipOK, x.l4OK = frameChecksumsOK(in)
	x.quoteOK = quoteChecksumOK(in)
	if x.parsed && x.pi.NonFirstFragment() {
		x.fragFlow = fragFlowOf(p, in, &x.pi)
	}
	if x.parsed {
		if id, _, ok := p.table.Lookup(&x.pi.Tuple); ok {
			x.pre, x.preOK = *p.table.Entry(id), true
		}
	}
	return x
}

func (x *fuzzObs) finish(v Verdict, port int, buf []byte, off, n int) {
	x.v, x.port, x.buf, x.off, x.n, x.after = v, port, buf, off, n, countsOf(x.p.c)
}

func (x *fuzzObs) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	var out []byte
	if x.off >= 0 && x.n >= 0 && x.off+x.n <= len(x.buf) {
		out = x.buf[x.off : x.off+x.n]
	}
	args = append(args, vname(x.v), x.port, nonZero(x.p.c), shortHex(x.in), shortHex(out))
	t.Fatalf(format+"\nverdict %s port %d (%s)\n in %s\nout %s", args...)
}

// shortHex is b in hex, its first 160 bytes only.
func shortHex(b []byte) string {
	if len(b) > 160 {
		return fmt.Sprintf("%x... (%d bytes)", b[:160], len(b))
	}
	return fmt.Sprintf("%x", b)
}

func (x *fuzzObs) check(t *testing.T) {
	t.Helper()
	b, a := &x.before, &x.after
	if a.rx != b.rx+1 {
		x.fail(t, "rx moved by %d", a.rx-b.rx)
	}
	one := (a.tx - b.tx) + (a.handoff - b.handoff) + (a.drops - b.drops) + (a.parse - b.parse) + (a.held - b.held)
	tooBig := a.icmpSent - b.icmpSent
	switch {
	case tooBig > 1:
		x.fail(t, "icmp_sent moved by %d", tooBig)
	case tooBig == 1 && (one != 2 || a.drop[DropTooBig] != b.drop[DropTooBig]+1 || a.tx != b.tx+1):
		x.fail(t, "a packet too big for its tunnel moved %d counters, want too_big and tx", one)
	case tooBig == 0 && one != 1:
		x.fail(t, "the frame moved %d counters, want exactly 1", one)
	}
	for _, e := range []struct {
		name string
		d    uint64
	}{{"tunnelled", a.tunnelled - b.tunnelled}, {"nat64_translated", a.translated - b.translated},
		{"synproxy_syn_answered", a.answered - b.answered}, {"synproxy_conn_opened", a.opened - b.opened},
		{"synproxy_replayed", a.replays - b.replays}, {"synproxy_reacked", a.reacked - b.reacked},
		{"synproxy_fail_server_rst", a.serverRST - b.serverRST}, {"toa_mss_not_lowered", a.mssNotLowered - b.mssNotLowered}} {
		if e.d > 1 {
			x.fail(t, "%s moved by %d", e.name, e.d)
		}
	}
	var toaMoved, ppMoved uint64
	for r := range a.toa {
		toaMoved += a.toa[r] - b.toa[r]
	}
	for r := range a.pp {
		ppMoved += a.pp[r] - b.pp[r]
	}
	switch {
	case ppMoved > 1:
		x.fail(t, "proxy_protocol counters moved by %d", ppMoved)
	case x.v != VerdictTX && a.pp[proxyproto.OK] != b.pp[proxyproto.OK]:
		x.fail(t, "a PROXY protocol header inserted into a frame not sent")
	}
	svc, dest := a.svcPkts-b.svcPkts, a.destPkts-b.destPkts
	switch {
	case toaMoved > 1:
		x.fail(t, "toa counters moved by %d", toaMoved)
	case svc > 1 || svc != dest:
		x.fail(t, "service packets moved by %d, real servers' by %d", svc, dest)
	case svc == 1 && x.v != VerdictTX:
		x.fail(t, "a packet not sent was counted for its service")
	}
	if x.v != VerdictTX {
		if a.tunnelled != b.tunnelled || a.translated != b.translated || a.answered != b.answered || a.reacked != b.reacked || toaMoved != 0 {
			x.fail(t, "a frame not sent was counted as tunnelled, translated, answered or given TOA")
		}
		if got := x.buf[rxHeadroom : rxHeadroom+len(x.in)]; !bytes.Equal(got, x.in) {
			x.fail(t, "a frame not sent (%s) was modified:\n now %x", vname(x.v), got)
		}
	}
	switch x.v {
	case VerdictDrop:
		if a.tx != b.tx || a.handoff != b.handoff {
			x.fail(t, "a drop counted as tx or hand-off")
		}
	case VerdictHandoff, VerdictHandoffFragment:
		if a.handoff != b.handoff+1 || x.p.workers == 1 || x.port < 0 || x.port >= x.p.workers || x.port == x.p.id {
			x.fail(t, "handed off to worker %d of %d (self %d)", x.port, x.p.workers, x.p.id)
		}
		if x.v == VerdictHandoffFragment && !x.pi.Fragment {
			x.fail(t, "a packet that is not a fragment handed over as one")
		}
	case VerdictConsumed:
		if a.held != b.held+1 || !x.pi.NonFirstFragment() {
			x.fail(t, "consumed, but not held as a later fragment")
		}
	case VerdictTX:
		if a.tx != b.tx+1 {
			x.fail(t, "a frame sent, tx not counted")
		}
		x.checkTX(t)
	default:
		x.fail(t, "verdict %d", x.v)
	}
}

// checkTX checks a transmitted frame: what every one must be, then what it must be as what it is.
func (x *fuzzObs) checkTX(t *testing.T) {
	t.Helper()
	if x.off < 0 || x.n < header.EthernetMinimumSize || x.off+x.n > len(x.buf) {
		x.fail(t, "the output lies at [%d, %d) of a %d-byte buffer", x.off, x.off+x.n, len(x.buf))
	}
	if x.port < 0 || x.port >= len(x.p.ports) {
		x.fail(t, "egress port %d of %d", x.port, len(x.p.ports))
	}
	if !x.parsed {
		x.fail(t, "transmitted a frame that did not parse")
	}
	x.out = x.buf[x.off : x.off+x.n]
	var po header.Packet
	if r := po.Parse(x.out); r != header.ParseOK {
		x.fail(t, "the output does not parse (%v)", r)
	}
	if eth := header.Ethernet(x.out); eth.SourceAddress() != x.p.ports[x.port].MAC {
		x.fail(t, "sent from MAC %v, not port %d's", eth.SourceAddress(), x.port)
	}
	b, a := &x.before, &x.after
	switch {
	case a.answered != b.answered || a.reacked != b.reacked:
		x.checkAnswer(t, &po)
	case a.icmpSent != b.icmpSent:
		x.checkTooBig(t, &po)
	case a.serverRST != b.serverRST:
		x.checkClientReset(t, &po)
	case a.tunnelled != b.tunnelled:
		x.checkTunnel(t, &po)
	default:
		x.checkForward(t, &po)
	}
}

// conn returns the connection the input belongs to now: its tuple's, or for an ICMP error the
// reverse of its quote's.
func (x *fuzzObs) conn() (e *conntrack.Entry[connVal], dir conntrack.Dir, ok bool) {
	_, e, dir, ok = x.connID()
	return e, dir, ok
}

func (x *fuzzObs) connID() (id uint32, e *conntrack.Entry[connVal], dir conntrack.Dir, ok bool) {
	k := x.pi.Tuple
	if x.pi.NonFirstFragment() {
		k = x.fragFlow
	}
	if x.isICMPError() {
		q, _, _, qok := x.pi.ParseICMPError(x.in)
		if !qok {
			return 0, nil, 0, false
		}
		k = q.Reverse()
	}
	id, dir, ok = x.p.table.Lookup(&k)
	if !ok {
		return 0, nil, 0, false
	}
	return id, x.p.table.Entry(id), dir, true
}

// fragFlowOf returns the tuple whose connection a later fragment follows (its datagram's first
// fragment's), as the pipeline's fragment table holds it, without touching the table; a zero
// tuple if none.
func fragFlowOf(p *Pipeline, frame []byte, pkt *header.Packet) header.Tuple {
	key, _, _, _ := fragKeyOf(frame, pkt)
	h := int(key.Hash(&fragKey))
	for i := range fragProbe {
		if e := &p.frags.e[(h+i)&(fragTableSize-1)]; e.state != fragFree && e.key == key {
			return e.flow
		}
	}
	return header.Tuple{}
}

func (x *fuzzObs) isICMPError() bool {
	return (x.pi.Proto == header.ProtocolICMP || x.pi.Proto == header.ProtocolICMPv6) && x.pi.IsICMPError(x.in)
}

// checkNextHop checks that the output goes to connection e's next hop in direction dir.
func (x *fuzzObs) checkNextHop(t *testing.T, e *conntrack.Entry[connVal], dir conntrack.Dir) {
	t.Helper()
	mac, ok := x.p.neigh.mac(uint32(e.Value.neigh[dir]))
	if x.port != int(e.Value.out[dir]) || !ok || header.Ethernet(x.out).DestinationAddress() != mac {
		x.fail(t, "sent to %v out of port %d; the connection's next hop (%v) is %v (resolved %v) out of port %d",
			header.Ethernet(x.out).DestinationAddress(), x.port, dir, mac, ok, e.Value.out[dir])
	}
}

// checkBack checks that the output goes back out of the port the input came in on, to the MAC it
// came from.
func (x *fuzzObs) checkBack(t *testing.T) {
	t.Helper()
	if x.port != x.inPort || header.Ethernet(x.out).DestinationAddress() != header.Ethernet(x.in).SourceAddress() {
		x.fail(t, "an answer sent to %v out of port %d, not back to %v out of port %d",
			header.Ethernet(x.out).DestinationAddress(), x.port, header.Ethernet(x.in).SourceAddress(), x.inPort)
	}
}

// checkAnswer: a SYN cookie's SYN/ACK, or the ACK to a real server's SYN/ACK sent again after the
// replay; both go back where the segment came from.
func (x *fuzzObs) checkAnswer(t *testing.T, po *header.Packet) {
	t.Helper()
	x.checkBack(t)
	const saf = header.TCPFlagSyn | header.TCPFlagAck | header.TCPFlagRst | header.TCPFlagFin
	in, out := x.pi.TCPFlags&saf, po.TCPFlags&saf
	switch {
	case po.Proto != header.ProtocolTCP || x.pi.Proto != header.ProtocolTCP || po.Tuple != x.pi.Tuple.Reverse():
		x.fail(t, "an answer that is not the reverse of the segment's tuple")
	case x.after.answered != x.before.answered && (in != header.TCPFlagSyn || out != header.TCPFlagSyn|header.TCPFlagAck):
		x.fail(t, "a SYN cookie's answer of flags %#x to a segment of flags %#x", out, in)
	case x.after.reacked != x.before.reacked && (in != header.TCPFlagSyn|header.TCPFlagAck || out != header.TCPFlagAck):
		x.fail(t, "a re-ACK of flags %#x to a segment of flags %#x", out, in)
	}
	x.checkChecksums(t, true)
}

// checkChecksums checks the output's IPv4 header and L4 checksums: whenever the input's verified
// (always, when the director built the packet).
func (x *fuzzObs) checkChecksums(t *testing.T, always bool) {
	t.Helper()
	ipOK, l4OK := frameChecksumsOK(x.out)
	if (always || x.ipOK) && !ipOK {
		x.fail(t, "the output's IPv4 header checksum does not verify")
	}
	if (always || x.l4OK) && !l4OK {
		x.fail(t, "the output's L4 checksum does not verify")
	}
}

// checkTooBig: a packet too big for its tunnel is answered with fragmentation needed (IPv4) or
// packet too big (IPv6), from the address it was sent to, quoting it, back where it came from.
func (x *fuzzObs) checkTooBig(t *testing.T, po *header.Packet) {
	t.Helper()
	x.checkBack(t)
	e, dir, ok := x.conn()
	if !ok || e.Value.xmit != xmitTunnel || dir != conntrack.DirOriginal {
		x.fail(t, "an ICMP error about a packet that is not a tunnel connection's")
	}
	if x.isICMPError() {
		x.fail(t, "an ICMP error sent in answer to an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4)")
	}
	mtu := x.p.ports[e.Value.out[conntrack.DirOriginal]].mtu()
	quote := x.out[po.L4Offset+8 : po.L3Offset+po.L3Length]
	var gotMTU, want int
	if x.pi.IsIPv6 {
		mtu -= ip6Overhead
		want = min(x.pi.L3Length, 1280-48)
		gotMTU = int(binary.BigEndian.Uint32(x.out[po.L4Offset+4:]))
		if !po.IsIPv6 || po.Proto != header.ProtocolICMPv6 || x.out[po.L4Offset] != header.ICMPv6PacketTooBig || x.out[po.L4Offset+1] != 0 {
			x.fail(t, "not an ICMPv6 packet too big")
		}
	} else {
		mtu -= ipipOverhead
		want = min(x.pi.L3Length, 576-28)
		gotMTU = int(binary.BigEndian.Uint16(x.out[po.L4Offset+6:]))
		if po.IsIPv6 || po.Proto != header.ProtocolICMP || x.out[po.L4Offset] != header.ICMPv4DstUnreachable ||
			x.out[po.L4Offset+1] != header.ICMPv4FragmentationNeeded || !header.IPv4(x.in[x.pi.L3Offset:]).DontFragment() {
			x.fail(t, "not an ICMP fragmentation needed, or about a packet without DF")
		}
	}
	switch {
	case x.pi.L3Length <= mtu:
		x.fail(t, "a packet of %d bytes too big for a tunnel of MTU %d", x.pi.L3Length, mtu)
	case gotMTU != mtu:
		x.fail(t, "the error says MTU %d, the tunnel's is %d", gotMTU, mtu)
	case po.Tuple.SrcAddr != x.pi.Tuple.DstAddr || po.Tuple.DstAddr != x.pi.Tuple.SrcAddr:
		x.fail(t, "the error goes %v → %v; the packet went %v → %v", po.Tuple.SrcAddr, po.Tuple.DstAddr, x.pi.Tuple.SrcAddr, x.pi.Tuple.DstAddr)
	case len(quote) != want || !bytes.Equal(quote, x.in[x.pi.L3Offset:x.pi.L3Offset+len(quote)]):
		x.fail(t, "the error quotes %d bytes, not the packet's first %d", len(quote), want)
	case len(x.out) != po.L3Offset+po.L3Length:
		x.fail(t, "the error of %d bytes is sent in a %d-byte frame", po.L3Length, len(x.out))
	}
	x.checkChecksums(t, true)
}

// checkClientReset: the real server refused a SYN-proxied handshake; the client, which believes
// the connection open, is reset from the VIP, and the connection is gone.
func (x *fuzzObs) checkClientReset(t *testing.T, po *header.Packet) {
	t.Helper()
	if !x.preOK || x.pre.Value.sp != spWaiting {
		x.fail(t, "a client reset for a segment of no SYN-proxied connection waiting for its server")
	}
	if _, _, still := x.p.table.Lookup(&x.pi.Tuple); still {
		x.fail(t, "the connection whose client was reset is still there")
	}
	client := x.pre.Tuples[conntrack.DirOriginal]
	if po.Proto != header.ProtocolTCP || po.TCPFlags&header.TCPFlagRst == 0 || po.Tuple != client.Reverse() {
		x.fail(t, "the reset is not a RST from %v to the client %v", client.DstAddr, client.SrcAddr)
	}
	x.checkNextHop(t, &x.pre, conntrack.DirReply)
	x.checkChecksums(t, true)
}

// checkTunnel: the input's IP packet, unchanged, in an IPIP or IPv6-in-IPv6 tunnel from the
// director's address on the egress port to the connection's real server.
func (x *fuzzObs) checkTunnel(t *testing.T, po *header.Packet) {
	t.Helper()
	e, dir, ok := x.conn()
	if !ok || e.Value.xmit != xmitTunnel || dir != conntrack.DirOriginal {
		x.fail(t, "a tunnelled packet that is not a tunnel connection's towards its server")
	}
	x.checkNextHop(t, e, dir)
	inner := x.in[x.pi.L3Offset : x.pi.L3Offset+x.pi.L3Length]
	rs := e.Tuples[conntrack.DirReply].SrcAddr
	src := fuzzTunSource(rs)
	hdr := ipipOverhead
	if x.pi.IsIPv6 {
		hdr = ip6Overhead
		ip := header.IPv6(x.out[header.EthernetMinimumSize:])
		if !po.IsIPv6 || ip.NextHeader() != header.ProtocolIPv6 || po.Tuple.SrcAddr != src || po.Tuple.DstAddr != rs {
			x.fail(t, "outer IPv6 header %v → %v next %d; want %v → %v next 41", po.Tuple.SrcAddr, po.Tuple.DstAddr, ip.NextHeader(), src, rs)
		}
	} else {
		ip := header.IPv4(x.out[header.EthernetMinimumSize:])
		df := header.IPv4(inner).DontFragment()
		if po.IsIPv6 || ip.HeaderLength() != hdr || ip.Protocol() != header.ProtocolIPIP || po.Tuple.SrcAddr != src ||
			po.Tuple.DstAddr != rs || ip.DontFragment() != df || ip.More() || ip.FragmentOffset() != 0 || ip.TTL() == 0 {
			x.fail(t, "outer IPv4 header %v → %v proto %d DF %v; want %v → %v proto 4 DF %v", po.Tuple.SrcAddr, po.Tuple.DstAddr,
				ip.Protocol(), ip.DontFragment(), src, rs, df)
		}
		if !ip.IsChecksumValid() {
			x.fail(t, "the outer IPv4 header checksum does not verify")
		}
	}
	got := x.out[po.L4Offset : po.L3Offset+po.L3Length]
	if x.after.made > x.before.made {
		// Too big, without DF: fragmented, this the first piece (the others are in the pool).
		in4, out4 := header.IPv4(inner), header.IPv4(got)
		if x.pi.IsIPv6 || in4.DontFragment() || !out4.More() || out4.FragmentOffset() != in4.FragmentOffset() || !out4.IsChecksumValid() ||
			len(got) >= len(inner) || len(got) > x.p.tunnelMTU(&x.p.cur, x.port) || !bytes.Equal(got[20:], inner[20:len(got)]) ||
			!bytes.Equal(got[:2], inner[:2]) || !bytes.Equal(got[4:6], inner[4:6]) || !bytes.Equal(got[8:10], inner[8:10]) || !bytes.Equal(got[12:20], inner[12:20]) {
			x.fail(t, "the first piece of a packet fragmented for the tunnel is not the input's head (%d bytes of %d)", len(got), len(inner))
		}
		return
	}
	if po.L4Offset != header.EthernetMinimumSize+hdr || !bytes.Equal(got, inner) || len(x.out) != po.L3Offset+po.L3Length {
		x.fail(t, "the tunnel does not carry the input's IP packet unchanged (%d bytes, the input's %d)", len(got), len(inner))
	}
}

// checkForward: a packet of a connection, rewritten for its forwarding method.
func (x *fuzzObs) checkForward(t *testing.T, po *header.Packet) {
	t.Helper()
	id, e, dir, ok := x.connID()
	if !ok {
		x.fail(t, "sent a packet of no connection")
	}
	b, a := &x.before, &x.after
	if a.replays != b.replays {
		dir = conntrack.DirOriginal // the server's SYN/ACK became the client's stored segment
	}
	xk := e.Value.xmit
	switch {
	case xk == xmitTunnel:
		x.fail(t, "a packet of a tunnel connection sent without its tunnel")
	case xk.inputOnly() && dir == conntrack.DirReply:
		x.fail(t, "a reply of a DR connection went through the director")
	case (xk == xmitNAT64) != (a.translated != b.translated):
		x.fail(t, "a packet of a %d-kind connection translated %d times", xk, a.translated-b.translated)
	}
	x.checkNextHop(t, e, dir)
	if xk == xmitDR {
		if !bytes.Equal(x.out[12:], x.in[12:]) {
			x.fail(t, "DR changed more than the MACs")
		}
		return
	}
	other := &e.Tuples[dir^1]
	if x.isICMPError() {
		x.checkICMPForward(t, po, e, dir, other)
		return
	}
	// A fragment translated to IPv6 that no longer fit the MTU was split: this is its head.
	split := a.made > b.made
	if x.pi.NonFirstFragment() {
		// No ports: the addresses alone are rewritten, the data kept.
		inData, outData := x.in[x.pi.L4Offset:x.pi.L3Offset+x.pi.L3Length], x.out[po.L4Offset:po.L3Offset+po.L3Length]
		if po.Tuple.SrcAddr != other.DstAddr || po.Tuple.DstAddr != other.SrcAddr || !po.NonFirstFragment() ||
			!(bytes.Equal(inData, outData) || split && bytes.HasPrefix(inData, outData)) {
			x.fail(t, "a later fragment sent %v → %v; the connection's other side expects the reverse of %v → %v, the data unchanged",
				po.Tuple.SrcAddr, po.Tuple.DstAddr, other.SrcAddr, other.DstAddr)
		}
		x.checkChecksums(t, false)
		return
	}
	if po.Tuple.Reverse() != *other || po.Proto != x.pi.Proto {
		x.fail(t, "sent %v:%d → %v:%d; the connection's other side expects the reverse of %v:%d → %v:%d", po.Tuple.SrcAddr, po.Tuple.SrcPort,
			po.Tuple.DstAddr, po.Tuple.DstPort, other.SrcAddr, other.SrcPort, other.DstAddr, other.DstPort)
	}
	x.checkChecksums(t, false)
	if po.IsIPv6 && po.Proto == header.ProtocolUDP && header.UDP(x.out[po.L4Offset:]).Checksum() == 0 {
		x.fail(t, "UDP over IPv6 left with a zero checksum")
	}
	if a.opened != b.opened || a.replays != b.replays {
		return // the SYN proxy made this packet (the SYN to the server, the replay): not the input's
	}
	client := &e.Tuples[conntrack.DirOriginal]
	toaN, toaOK := 0, a.toa[toa.OK] != b.toa[toa.OK]
	if toaOK {
		toaN = toa.OptionSize(client.SrcAddr)
		if !xk.fullNAT() || dir != conntrack.DirOriginal {
			x.fail(t, "TOA inserted into a packet of a %d-kind connection going %v", xk, dir)
		}
		if addr, port, ok := toa.Decode(header.TCP(x.out[po.L4Offset:]).Options()); !ok || addr != client.SrcAddr || port != client.SrcPort {
			x.fail(t, "the TOA option says %v:%d (%v), the client is %v:%d", addr, port, ok, client.SrcAddr, client.SrcPort)
		}
	}
	inL4 := x.pi.L3Offset + x.pi.L3Length - x.pi.L4Offset
	outL4 := po.L3Offset + po.L3Length - po.L4Offset
	inPay := x.in[x.pi.PayloadOffset : x.pi.L3Offset+x.pi.L3Length]
	outPay := x.out[po.PayloadOffset : po.L3Offset+po.L3Length]
	pp := e.Value.flags.has(connPP)
	if a.pp[proxyproto.OK] != b.pp[proxyproto.OK] {
		// The PROXY protocol header, then the payload: the header of the client and the VIP.
		var h [proxyproto.MaxLen]byte
		n := proxyproto.Encode(h[:], x.p.pp[id].v, client.Proto, client.SrcAddr, client.DstAddr, client.SrcPort, client.DstPort)
		if !pp || dir != conntrack.DirOriginal || toaOK || !bytes.HasPrefix(outPay, h[:n]) {
			x.fail(t, "a PROXY protocol header inserted in a packet going %v (the connection's: %v), or not the client's %q", dir, pp, h[:n])
		}
		toaN, outPay = n, outPay[n:]
	}
	switch {
	case split && (xk != xmitNAT64 || !x.pi.Fragment || outL4 >= inL4 || !bytes.HasPrefix(inPay, outPay)):
		x.fail(t, "a fragment of %d bytes split to %d that is not its head", inL4, outL4)
	case split:
	case outL4 != inL4+toaN:
		x.fail(t, "a transport segment of %d bytes left with %d (TOA or PROXY protocol: %d)", inL4, outL4, toaN)
	case !bytes.Equal(inPay, outPay):
		x.fail(t, "the payload changed")
	case xk != xmitNAT64 && (po.IsIPv6 != x.pi.IsIPv6 || po.L4Offset != x.pi.L4Offset):
		x.fail(t, "the IP header changed size or family")
	case xk == xmitNAT64 && po.IsIPv6 == x.pi.IsIPv6:
		x.fail(t, "NAT64 kept the family")
	}
	x.checkHeaders(t, po, xk, e.Value.sp != spOff || pp && x.pi.Proto == header.ProtocolTCP, toaN)
	// FULLNAT lowers the server's SYN/ACK's MSS by the client's TOA option's size (by the PROXY
	// protocol header's length, for a connection that has one).
	const sa = header.TCPFlagSyn | header.TCPFlagAck
	if xk.fullNAT() && dir == conntrack.DirReply && x.pi.Proto == header.ProtocolTCP && x.pi.TCPFlags&(sa|header.TCPFlagRst) == sa &&
		e.Value.sp == spOff && a.mssNotLowered == b.mssNotLowered {
		inMSS, _ := header.TCP(x.in[x.pi.L4Offset:]).MSS()
		outMSS, ok := header.TCP(x.out[po.L4Offset:]).MSS()
		lower := toa.OptionSize(client.SrcAddr)
		if pp {
			lower = int(x.p.pp[id].n)
		}
		if !ok || int(outMSS) != int(inMSS)-lower {
			x.fail(t, "a SYN/ACK's MSS %d left as %d", inMSS, outMSS)
		}
	}
}

// checkHeaders checks the fields a rewrite must keep: NAT and FULLNAT change only the addresses,
// the ports, the checksums and (TOA, the PROXY protocol header: grown bytes) the lengths; NAT64 maps
// TOS and traffic class, TTL and hop limit (RFC 7915) and sets DF on the IPv4 side. The TCP sequence
// numbers, flags and window, and the UDP length, stay, but where the SYN proxy or the PROXY protocol
// translates them.
func (x *fuzzObs) checkHeaders(t *testing.T, po *header.Packet, xk xmitKind, translated bool, grown int) {
	t.Helper()
	in, out := x.in[x.pi.L3Offset:], x.out[po.L3Offset:]
	same := func(what string, a, b []byte) {
		if !bytes.Equal(a, b) {
			x.fail(t, "%s changed: %x, was %x", what, b, a)
		}
	}
	tos := func(ip []byte, v6 bool) byte {
		if v6 {
			return ip[0]<<4 | ip[1]>>4
		}
		return ip[1]
	}
	ttl := func(ip []byte, v6 bool) byte {
		if v6 {
			return ip[7]
		}
		return ip[8]
	}
	switch {
	case xk == xmitNAT64:
		if tos(in, x.pi.IsIPv6) != tos(out, po.IsIPv6) || ttl(in, x.pi.IsIPv6) != ttl(out, po.IsIPv6) ||
			(!po.IsIPv6 && header.IPv4(out).DontFragment() == x.pi.Fragment) { // DF set, but on fragments
			x.fail(t, "NAT64 mapped TOS %#x TTL %d to %#x, %d (DF %v)", tos(in, x.pi.IsIPv6), ttl(in, x.pi.IsIPv6),
				tos(out, po.IsIPv6), ttl(out, po.IsIPv6), !po.IsIPv6 && header.IPv4(out).DontFragment())
		}
	case x.pi.IsIPv6:
		same("the IPv6 version, traffic class, flow label, next header or hop limit", append(in[:4:4], in[6:8]...), append(out[:4:4], out[6:8]...))
		same("the IPv6 extension headers", in[40:x.pi.L4Offset-x.pi.L3Offset], out[40:po.L4Offset-po.L3Offset])
	default:
		same("the IPv4 version, IHL, TOS, ID, flags, TTL or protocol", append(in[:2:2], in[4:10]...), append(out[:2:2], out[4:10]...))
		same("the IPv4 options", in[20:x.pi.L4Offset-x.pi.L3Offset], out[20:po.L4Offset-po.L3Offset])
	}
	l4in, l4out := x.in[x.pi.L4Offset:], x.out[po.L4Offset:]
	switch {
	case translated:
	case x.pi.Proto == header.ProtocolTCP:
		same("the TCP sequence numbers", l4in[4:12], l4out[4:12])
		same("the TCP flags, window or urgent pointer", append(l4in[13:16:16], l4in[18:20]...), append(l4out[13:16:16], l4out[18:20]...))
	case x.pi.Proto == header.ProtocolUDP:
		if binary.BigEndian.Uint16(l4out[4:]) != binary.BigEndian.Uint16(l4in[4:])+uint16(grown) {
			x.fail(t, "the UDP length %d left as %d (grown by %d)", binary.BigEndian.Uint16(l4in[4:]), binary.BigEndian.Uint16(l4out[4:]), grown)
		}
	}
}

// checkICMPForward: an ICMP error about a connection's packet, sent on to the other side: it
// quotes the packet as the other side sent it (other) and goes to its sender.
func (x *fuzzObs) checkICMPForward(t *testing.T, po *header.Packet, e *conntrack.Entry[connVal], dir conntrack.Dir, other *header.Tuple) {
	t.Helper()
	if po.Proto != header.ProtocolICMP && po.Proto != header.ProtocolICMPv6 {
		x.fail(t, "an ICMP error left as protocol %d", po.Proto)
	}
	q, _, ql4, ok := po.ParseICMPError(x.out)
	if !ok {
		x.fail(t, "the ICMP error sent on does not parse")
	}
	if q != *other {
		x.fail(t, "the error sent on quotes %v:%d → %v:%d, not what the other side sent (%v:%d → %v:%d)",
			q.SrcAddr, q.SrcPort, q.DstAddr, q.DstPort, other.SrcAddr, other.SrcPort, other.DstAddr, other.DstPort)
	}
	// The outer addresses the director rewrites (as IPVS's ip_vs_nat_icmp): NAT the one facing the
	// real server, FULLNAT and NAT64 both. The other is the error's sender's to choose.
	xk := e.Value.xmit
	if ((xk.fullNAT() || dir == conntrack.DirOriginal) && po.Tuple.DstAddr != q.SrcAddr) ||
		((xk.fullNAT() || dir == conntrack.DirReply) && po.Tuple.SrcAddr != q.DstAddr) {
		x.fail(t, "the error goes %v → %v quoting %v → %v", po.Tuple.SrcAddr, po.Tuple.DstAddr, q.SrcAddr, q.DstAddr)
	}
	if ti, to := x.in[x.pi.L4Offset:], x.out[po.L4Offset:]; xk != xmitNAT64 && (!bytes.Equal(ti[:2], to[:2]) || !bytes.Equal(ti[4:8], to[4:8])) {
		x.fail(t, "the error's type, code or MTU changed: %x, was %x", to[:8], ti[:8])
	}
	_, icmpOK := frameChecksumsOK(x.out)
	if !icmpOK || !quoteChecksumOK(x.out) {
		x.fail(t, "the error's checksum or its quoted IPv4 header checksum does not verify (both recomputed)")
	}
	if ipOK, _ := frameChecksumsOK(x.out); x.ipOK && !ipOK {
		x.fail(t, "the error's IPv4 header checksum does not verify")
	}
	// The quoted transport header after the ports is the input's, but a SYN-proxied sequence number
	// (spQuote) on its way to the server.
	_, _, il4, _ := x.pi.ParseICMPError(x.in)
	inT, outT := x.in[il4+4:x.pi.L3Offset+x.pi.L3Length], x.out[ql4+4:po.L3Offset+po.L3Length]
	if len(inT) != len(outT) {
		x.fail(t, "the quoted transport header and data changed length: %d, were %d", len(outT), len(inT))
	}
	if e.Value.sp >= spReplayed && dir == conntrack.DirOriginal && q.Proto == header.ProtocolTCP && len(inT) >= 4 {
		id, _, _, _ := x.connID()
		in, out := binary.BigEndian.Uint32(inT), binary.BigEndian.Uint32(outT)
		if want := in + uint32(x.p.sp.conns[id].d.Seq); out != want {
			x.fail(t, "the quoted sequence number %#x reaches the server as %#x, not in its numbering (%#x)", in, out, want)
		}
		inT, outT = inT[4:], outT[4:]
	}
	if e.Value.flags.has(connPP) && dir == conntrack.DirReply && q.Proto == header.ProtocolTCP && len(inT) >= 4 {
		// The PROXY protocol's shift of the client's numbers, undone on the way to the client (ppQuote).
		id, _, _, _ := x.connID()
		in, out := binary.BigEndian.Uint32(inT), binary.BigEndian.Uint32(outT)
		ins := synproxy.Insertion{At: synproxy.Value(x.p.pp[id].at), N: synproxy.Size(x.p.pp[id].n)}
		if want := ins.Unshift(in); out != want {
			x.fail(t, "the quoted sequence number %#x reaches the client as %#x, not in its numbering (%#x)", in, out, want)
		}
		inT, outT = inT[4:], outT[4:]
	}
	if !bytes.Equal(inT, outT) {
		x.fail(t, "the quoted transport bytes after the ports changed")
	}
}

// frameChecksumsOK reports whether a frame's IPv4 header checksum verifies (true for IPv6 and for
// frames that do not parse) and whether its TCP, UDP, ICMP or ICMPv6 checksum does (false when
// there is none to check), with the naive reference.
func frameChecksumsOK(frame []byte) (ipOK, l4OK bool) {
	var pp header.Packet
	if pp.Parse(frame) != header.ParseOK {
		return true, false
	}
	ip := frame[pp.L3Offset:]
	ipOK = true
	var src, dst []byte
	if pp.IsIPv6 {
		src, dst = ip[8:24], ip[24:40]
	} else {
		hl := int(ip[0]&0xf) * 4
		ipOK = naiveFold(naiveSum(0, ip[:hl])) == 0xffff
		src, dst = ip[12:16], ip[16:20]
	}
	if pp.Fragment {
		return ipOK, false
	}
	seg := frame[pp.L4Offset : pp.L3Offset+pp.L3Length]
	pseudo := func(n int) uint32 {
		s := naiveSum(naiveSum(0, src), dst) + uint32(pp.Proto)
		return s + uint32(n>>16) + uint32(n&0xffff)
	}
	switch pp.Proto {
	case header.ProtocolTCP:
		l4OK = naiveFold(naiveSum(pseudo(len(seg)), seg)) == 0xffff
	case header.ProtocolUDP:
		n := int(binary.BigEndian.Uint16(seg[4:]))
		l4OK = (!pp.IsIPv6 && binary.BigEndian.Uint16(seg[6:]) == 0) || naiveFold(naiveSum(pseudo(n), seg[:n])) == 0xffff
	case header.ProtocolICMP:
		l4OK = !pp.IsIPv6 && naiveFold(naiveSum(0, seg)) == 0xffff
	case header.ProtocolICMPv6:
		l4OK = pp.IsIPv6 && naiveFold(naiveSum(pseudo(len(seg)), seg)) == 0xffff
	}
	return ipOK, l4OK
}

// quoteChecksumOK reports whether the IPv4 header quoted by an ICMP error verifies (true when the
// frame is no ICMP error quoting a whole IPv4 header).
func quoteChecksumOK(frame []byte) bool {
	var pp header.Packet
	if pp.Parse(frame) != header.ParseOK || pp.IsIPv6 || pp.Proto != header.ProtocolICMP || !pp.IsICMPError(frame) {
		return true
	}
	q := frame[pp.L4Offset+8 : pp.L3Offset+pp.L3Length]
	if len(q) < header.IPv4MinimumSize || q[0]>>4 != 4 || int(q[0]&0xf)*4 > len(q) {
		return true
	}
	return naiveFold(naiveSum(0, q[:int(q[0]&0xf)*4])) == 0xffff
}

// fuzzFixChecksums makes a frame's checksums right, with the naive reference: the IPv4 header's,
// the TCP, UDP (unless zero over IPv4), ICMP or ICMPv6 one, and an ICMP error's quoted IPv4
// header's. A frame that does not parse is left alone.
func fuzzFixChecksums(frame []byte) {
	var pp header.Packet
	if pp.Parse(frame) != header.ParseOK {
		return
	}
	ip := frame[pp.L3Offset:]
	var src, dst []byte
	if pp.IsIPv6 {
		src, dst = ip[8:24], ip[24:40]
	} else {
		hl := int(ip[0]&0xf) * 4
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^naiveFold(naiveSum(0, ip[:hl])))
		src, dst = ip[12:16], ip[16:20]
	}
	if pp.NonFirstFragment() {
		return
	}
	seg := frame[pp.L4Offset : pp.L3Offset+pp.L3Length]
	pseudo := func(n int) uint32 {
		s := naiveSum(naiveSum(0, src), dst) + uint32(pp.Proto)
		return s + uint32(n>>16) + uint32(n&0xffff)
	}
	fill := func(at int, sum uint32) {
		seg[at], seg[at+1] = 0, 0
		binary.BigEndian.PutUint16(seg[at:], ^naiveFold(sum))
	}
	switch pp.Proto {
	case header.ProtocolTCP:
		seg[16], seg[17] = 0, 0
		fill(16, naiveSum(pseudo(len(seg)), seg))
	case header.ProtocolUDP:
		n := min(int(binary.BigEndian.Uint16(seg[4:])), len(seg))
		if pp.IsIPv6 || binary.BigEndian.Uint16(seg[6:]) != 0 {
			seg[6], seg[7] = 0, 0
			fill(6, naiveSum(pseudo(n), seg[:n]))
			if seg[6] == 0 && seg[7] == 0 {
				seg[6], seg[7] = 0xff, 0xff
			}
		}
	case header.ProtocolICMP, header.ProtocolICMPv6:
		if len(seg) < 8 || (pp.Proto == header.ProtocolICMPv6) != pp.IsIPv6 {
			return
		}
		if q := seg[8:]; !pp.IsIPv6 && len(q) >= header.IPv4MinimumSize && q[0]>>4 == 4 && int(q[0]&0xf)*4 <= len(q) && q[0]&0xf >= 5 {
			hl := int(q[0]&0xf) * 4
			q[10], q[11] = 0, 0
			binary.BigEndian.PutUint16(q[10:], ^naiveFold(naiveSum(0, q[:hl])))
		}
		seg[2], seg[3] = 0, 0
		if pp.IsIPv6 {
			fill(2, naiveSum(pseudo(len(seg)), seg))
		} else {
			fill(2, naiveSum(0, seg))
		}
	}
}
