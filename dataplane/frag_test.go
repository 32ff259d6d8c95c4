package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

// fragmentFrame splits the IP datagram of an Ethernet frame (no IPv4 options, no IPv6 extension
// headers) into fragments of at most mtu bytes of IP packet each, with identification id, as the
// sender's kernel does: the returned frames carry an Ethernet header each, in order.
func fragmentFrame(tb testing.TB, frame []byte, mtu int, id uint32) [][]byte {
	tb.Helper()
	eth := frame[:header.EthernetMinimumSize]
	l3 := frame[header.EthernetMinimumSize:]
	v6 := l3[0]>>4 == 6
	hl := header.IPv4MinimumSize
	if v6 {
		hl = header.IPv6MinimumSize
	}
	data := l3[hl:]
	step := (mtu - hl) &^ 7
	if v6 {
		step = (mtu - hl - header.IPv6FragmentHeaderSize) &^ 7
	}
	var out [][]byte
	for off := 0; off < len(data); off += step {
		chunk := data[off:min(off+step, len(data))]
		more := off+step < len(data)
		f := append([]byte(nil), eth...)
		if v6 {
			ip := append([]byte(nil), l3[:hl]...)
			next := ip[6]
			ip[6] = header.IPv6Fragment
			binary.BigEndian.PutUint16(ip[4:], uint16(header.IPv6FragmentHeaderSize+len(chunk)))
			fh := make([]byte, header.IPv6FragmentHeaderSize)
			fh[0] = next
			fo := uint16(off)
			if more {
				fo |= 1
			}
			binary.BigEndian.PutUint16(fh[2:], fo)
			binary.BigEndian.PutUint32(fh[4:], id)
			f = append(append(append(f, ip...), fh...), chunk...)
		} else {
			ip := header.IPv4(append([]byte(nil), l3[:hl]...))
			ip.SetTotalLength(uint16(hl + len(chunk)))
			binary.BigEndian.PutUint16(ip[4:], uint16(id))
			var flags uint8
			if more {
				flags = header.IPv4FlagMoreFragments
			}
			ip.SetFlagsFragmentOffset(flags, uint16(off))
			ip.FillChecksum()
			f = append(append(f, ip...), chunk...)
		}
		out = append(out, f)
	}
	return out
}

// reassemble joins the fragments (Ethernet frames, any order) of one IP datagram into the whole
// datagram's IP packet (IPv6: without the fragment header), checking that they cover it exactly.
func reassemble(tb testing.TB, frames [][]byte) []byte {
	tb.Helper()
	type piece struct {
		off  int
		data []byte
		more bool
	}
	var ps []piece
	var hdr []byte
	for _, f := range frames {
		var pkt header.Packet
		if r := pkt.Parse(f); r != header.ParseOK {
			tb.Fatalf("reassemble: %v", r)
		}
		l3 := f[pkt.L3Offset : pkt.L3Offset+pkt.L3Length]
		var fi header.IPv6FragmentInfo
		var start int
		more := false
		if pkt.IsIPv6 {
			_, _, fi, _ = header.IPv6(l3).TransportProtocol(header.IPv6DefaultMaxExtHeaders)
			start, more = fi.DataOffset, fi.More
		} else {
			ip := header.IPv4(l3)
			if !ip.IsChecksumValid() {
				tb.Fatalf("reassemble: fragment at %d with a bad IPv4 header checksum", ip.FragmentOffset())
			}
			start, more = ip.HeaderLength(), ip.More()
		}
		if pkt.FragmentOffset == 0 {
			hdr = append([]byte(nil), l3[:start]...)
			if pkt.IsIPv6 {
				hdr = append(hdr[:header.IPv6MinimumSize:header.IPv6MinimumSize], l3[start:start]...)
				hdr[6] = l3[header.IPv6MinimumSize] // the fragment header's next header
			}
		}
		ps = append(ps, piece{off: int(pkt.FragmentOffset), data: l3[start:], more: more})
	}
	if hdr == nil {
		tb.Fatal("reassemble: no first fragment")
	}
	slices.SortFunc(ps, func(a, b piece) int { return a.off - b.off })
	var data []byte
	for i, p := range ps {
		if p.off != len(data) || (i == len(ps)-1) == p.more {
			tb.Fatalf("reassemble: fragment at %d (more %v) after %d bytes, %d of %d", p.off, p.more, len(data), i, len(ps))
		}
		data = append(data, p.data...)
	}
	out := append(hdr, data...)
	if out[0]>>4 == 6 {
		binary.BigEndian.PutUint16(out[4:], uint16(len(data)))
	} else {
		ip := header.IPv4(out)
		ip.SetTotalLength(uint16(len(out)))
		ip.SetFlagsFragmentOffset(0, 0)
		ip.FillChecksum()
	}
	return out
}

// checkDatagram checks a reassembled UDP datagram: its addresses and ports, its checksum over the
// whole of it, and its payload.
func checkDatagram(tb testing.TB, l3 []byte, src, dst netip.AddrPort, payload []byte) {
	tb.Helper()
	var s, d, seg []byte
	if l3[0]>>4 == 6 {
		ip := header.IPv6(l3)
		s, d, seg = ip.SourceAddress(), ip.DestinationAddress(), l3[header.IPv6MinimumSize:]
	} else {
		ip := header.IPv4(l3)
		s, d, seg = ip.SourceAddress(), ip.DestinationAddress(), l3[ip.HeaderLength():]
	}
	u := header.UDP(seg)
	gotSrc := netip.AddrPortFrom(addrOf(s), u.SourcePort())
	gotDst := netip.AddrPortFrom(addrOf(d), u.DestinationPort())
	if gotSrc != src || gotDst != dst {
		tb.Fatalf("datagram %v → %v, want %v → %v", gotSrc, gotDst, src, dst)
	}
	if int(u.Length()) != len(seg) {
		tb.Fatalf("UDP length %d, datagram %d", u.Length(), len(seg))
	}
	if sum := header.Checksum(seg, header.PseudoHeaderChecksum(header.ProtocolUDP, s, d, uint16(len(seg)))); sum != 0xffff {
		tb.Fatalf("UDP checksum over the reassembled datagram: sum %#04x, want 0xffff", sum)
	}
	if !bytes.Equal(seg[header.UDPMinimumSize:], payload) {
		tb.Fatal("payload differs")
	}
}

// addrOf returns the address of 4 or 16 bytes.
func addrOf(a []byte) netip.Addr {
	ip, _ := netip.AddrFromSlice(a)
	return ip
}

// fragSim runs several workers' pipelines as the workers do, with rings between them: a frame
// handed over goes to the back of the target's queue; what a pipeline's fragment handling queued
// is drained after each frame.
type fragSim struct {
	tb   testing.TB
	ps   []*Pipeline
	q    []simFrame
	sent [][]byte // frames transmitted, in order
	port []int
}

type simFrame struct {
	w     int
	frame []byte
	in    int
	kind  frameKind
}

func (s *fragSim) rx(w int, frame []byte, in int, now int64) {
	s.q = append(s.q, simFrame{w: w, frame: frame, in: in, kind: fromRX})
	s.run(now)
}

func (s *fragSim) run(now int64) {
	for len(s.q) > 0 {
		f := s.q[0]
		s.q = s.q[1:]
		p := s.ps[f.w]
		buf := make([]byte, 4096)
		const off = 256
		n := copy(buf[off:], f.frame)
		var v Verdict
		var x, o, l int
		if f.kind == gathered {
			v, x, o, l = p.ProcessGatheredAt(buf, off, n, f.in, now)
		} else {
			v, x, o, l = p.ProcessAt(buf, off, n, f.in, now)
		}
		switch v {
		case VerdictTX:
			s.sent = append(s.sent, append([]byte(nil), buf[o:o+l]...))
			s.port = append(s.port, x)
		case VerdictHandoff:
			if f.kind != fromRX {
				s.tb.Fatalf("worker %d hands a handed-over frame on to %d", f.w, x)
			}
			s.q = append(s.q, simFrame{w: x, frame: f.frame, in: f.in, kind: handedOver})
		case VerdictHandoffFragment:
			if f.kind == gathered {
				s.tb.Fatalf("worker %d hands a gathered fragment on to %d", f.w, x)
			}
			s.q = append(s.q, simFrame{w: x, frame: f.frame, in: f.in, kind: gathered})
		}
		q, pool := p.fragmentOut()
		for i := 0; i < q.n; i++ {
			it := q.items[i]
			fr, in := pool.frame(it.slot)
			fr = append([]byte(nil), fr...)
			pool.put(it.slot)
			if it.to < 0 {
				s.sent = append(s.sent, fr)
				s.port = append(s.port, in)
				continue
			}
			s.q = append(s.q, simFrame{w: int(it.to), frame: fr, in: in, kind: gathered})
		}
		q.n = 0
	}
}

// TestFragmentsNAT sends UDP datagrams of 4, 8 and 60 KB, IPv4 and IPv6, in fragments through a
// NAT service, with one and two workers, in order, reversed, with the first fragment last, and
// one queue's every other fragment before the other queue's (21 disjoint ranges for 60 KB):
// every datagram leaves in fragments that reassemble into the rewritten datagram, its checksum
// right over the whole of it; the replies come back the same way.
func TestFragmentsNAT(t *testing.T) {
	for _, workers := range []int{1, 2} {
		for _, v6 := range []bool{false, true} {
			for _, order := range []string{"in_order", "reversed", "first_last", "queue_by_queue"} {
				t.Run(fmt.Sprintf("workers=%d/v6=%v/%s", workers, v6, order), func(t *testing.T) {
					e := newTestEnv(t, 1024)
					s := &fragSim{tb: t}
					for w := range workers {
						s.ps = append(s.ps, e.worker(w, workers, 1024))
					}
					cip, vip, rsa, rsb := cip4, vip4, rs4a, rs4b
					if v6 {
						cip, vip, rsa, rsb = cip6, vip6, rs6a, rs6b
					}
					for i, size := range []int{4 << 10, 8 << 10, 60 << 10} {
						sport := uint16(40000 + i)
						in := pk{src: cliMAC, dst: port0MAC, sip: cip, dip: vip, proto: header.ProtocolUDP, sport: sport, dport: 53}.dgram(size)
						frags := fragmentFrame(t, in.frame(t), 1500, uint32(0x100+i))
						switch order {
						case "reversed":
							slices.Reverse(frags)
						case "first_last":
							frags = append(frags[1:], frags[0])
						case "queue_by_queue":
							// As a gatherer sees fragments alternating between two queues: one
							// queue's (every other, reversed), then the other's.
							var odd, even [][]byte
							for j, f := range frags {
								if j%2 == 0 {
									even = append([][]byte{f}, even...)
								} else {
									odd = append([][]byte{f}, odd...)
								}
							}
							frags = append(odd, even...)
						}
						s.sent, s.port = nil, nil
						for j, f := range frags {
							s.rx(j%workers, f, 0, t0) // RSS spreads them over the queues
						}
						if len(s.sent) != len(frags) {
							t.Fatalf("%d bytes: %d of %d fragments sent; counters %s / %s", size, len(s.sent), len(frags),
								nonZero(s.ps[0].c), nonZero(s.ps[len(s.ps)-1].c))
						}
						got := reassemble(t, s.sent)
						payload := []byte(payloadOf(size))
						var d netip.Addr
						if l := got[0] >> 4; l == 6 {
							d = netip.AddrFrom16([16]byte(header.IPv6(got).DestinationAddress()))
						} else {
							d = netip.AddrFrom4([4]byte(header.IPv4(got).DestinationAddress()))
						}
						if d != rsa && d != rsb {
							t.Fatalf("sent to %v", d)
						}
						checkDatagram(t, got, netip.AddrPortFrom(cip, sport), netip.AddrPortFrom(d, 5353), payload)
						// The reply, in fragments, reversed.
						rsMAC := rs1MAC
						if d == rsb {
							rsMAC = rs2MAC
						}
						reply := pk{src: rsMAC, dst: port1MAC, sip: d, dip: cip, proto: header.ProtocolUDP, sport: 5353, dport: sport}.dgram(size)
						rfr := fragmentFrame(t, reply.frame(t), 1500, uint32(0x200+i))
						slices.Reverse(rfr)
						s.sent = nil
						for j, f := range rfr {
							s.rx((j+1)%workers, f, 1, t0)
						}
						if len(s.sent) != len(rfr) {
							t.Fatalf("reply of %d bytes: %d of %d fragments sent", size, len(s.sent), len(rfr))
						}
						checkDatagram(t, reassemble(t, s.sent), netip.AddrPortFrom(vip, 53), netip.AddrPortFrom(cip, sport), payload)
					}
					for _, p := range s.ps {
						for _, e := range p.frags.e {
							if e.state != fragFree {
								t.Fatalf("worker %d keeps a datagram's entry after all its fragments (%+v)", p.id, e)
							}
						}
						if len(p.frags.pool.free) != fragPoolSlots {
							t.Fatalf("worker %d: %d pool slots in use", p.id, fragPoolSlots-len(p.frags.pool.free))
						}
					}
				})
			}
		}
	}
}

// decapsulate returns the inner IP packet of a tunnelled frame, checking its outer IPv4 header.
func decapsulate(tb testing.TB, frame []byte, mtu int) []byte {
	tb.Helper()
	outer := header.IPv4(frame[header.EthernetMinimumSize:])
	if outer.Protocol() != header.ProtocolIPIP || !outer.IsChecksumValid() || int(outer.TotalLength()) > mtu ||
		outer.DontFragment() || outer.IsFragment() {
		tb.Fatalf("outer header: proto %d, checksum valid %v, length %d (MTU %d), DF %v, fragment %v", outer.Protocol(),
			outer.IsChecksumValid(), outer.TotalLength(), mtu, outer.DontFragment(), outer.IsFragment())
	}
	eth := make([]byte, header.EthernetMinimumSize)
	header.Ethernet(eth).SetType(header.EtherTypeIPv4)
	return append(eth, outer[outer.HeaderLength():outer.TotalLength()]...)
}

// TestTunnelFragmentsNoDF: IPv4 packets without DF too big for the tunnel are fragmented by the
// director (as IPVS lets the kernel do), each piece in the tunnel within the MTU: a whole 1500-byte
// TCP segment, and the client's own 1500-byte fragments of an 8 KB datagram (a fragment fragmented
// again); the pieces reassemble into the client's packet.
func TestTunnelFragmentsNoDF(t *testing.T) {
	p := tunEnv(t)
	s := &fragSim{tb: t, ps: []*Pipeline{p}}
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	s.rx(0, syn(c).frame(t), 0, t0)
	for _, frames := range [][][]byte{
		{c.seg("PA", 1001, 5001, 1500-40).frame(t)},
		fragmentFrame(t, c.seg("PA", 2461, 5001, 8<<10).frame(t), 1500, 0x77),
	} {
		want := append([]byte(nil), frames[0]...)
		if len(frames) > 1 {
			want = append(make([]byte, header.EthernetMinimumSize), reassemble(t, frames)...)
		}
		for _, f := range frames {
			f[14+6] &^= 0x40 // DF off
			header.IPv4(f[14:]).FillChecksum()
		}
		header.IPv4(want[14:]).SetFlagsFragmentOffset(0, 0)
		made, big := p.c.fragMade, 0
		s.sent = nil
		for _, f := range frames {
			if len(f)-14 > 1500-20 {
				big++
			}
			s.rx(0, f, 0, t0)
		}
		if len(s.sent) != len(frames)+big || p.c.fragMade != made+uint64(2*big) {
			t.Fatalf("%d frames sent, %d fragments made, for %d in (%s)", len(s.sent), p.c.fragMade-made, len(frames), nonZero(p.c))
		}
		var inner [][]byte
		for _, f := range s.sent {
			inner = append(inner, decapsulate(t, f, 1500))
		}
		got := reassemble(t, inner)
		header.IPv4(want[14:]).FillChecksum()
		if !bytes.Equal(got, want[14:]) {
			t.Fatalf("reassembled %d bytes differ from the client's %d", len(got), len(want)-14)
		}
	}
}

// fragsOf returns the fragments (mtu bytes of IP packet) of a UDP datagram of n bytes from the
// client's port sport to the IPv4 or IPv6 VIP's port 53, with identification id.
func fragsOf(tb testing.TB, v6 bool, sport uint16, n, mtu int, id uint32) [][]byte {
	tb.Helper()
	cip, vip := cip4, vip4
	if v6 {
		cip, vip = cip6, vip6
	}
	in := pk{src: cliMAC, dst: port0MAC, sip: cip, dip: vip, proto: header.ProtocolUDP, sport: sport, dport: 53}.dgram(n)
	return fragmentFrame(tb, in.frame(tb), mtu, id)
}

// process runs one frame through p (one worker) and returns the verdict.
func process(p *Pipeline, frame []byte, now int64) Verdict {
	buf := make([]byte, 4096)
	v, _, _, _ := p.ProcessAt(buf, 256, copy(buf[256:], frame), 0, now)
	return v
}

// TestFragmentDrops: the hostile cases of fragments, each a counted drop: overlapping data drops
// the whole datagram (RFC 5722), held fragments included, as do too many fragments; data past
// 65,535 bytes is oversize; a datagram whose first fragment was dropped drops the others.
func TestFragmentDrops(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			p := newTestEnv(t, 1024).p
			f := fragsOf(t, v6, 41000, 8<<10, 1500, 1) // 6 fragments
			if v := process(p, f[3], t0); v != VerdictConsumed {
				t.Fatalf("a later fragment first: %s", vname(v))
			}
			if v := process(p, f[0], t0); v != VerdictTX {
				t.Fatalf("the first: %s", vname(v))
			}
			p.fragmentOut() // the held one was queued (not drained here)
			if v := process(p, f[3], t0); v != VerdictDrop || p.c.drops[DropFragOverlap] != 1 {
				t.Fatalf("a duplicate: %s, overlap %d", vname(v), p.c.drops[DropFragOverlap])
			}
			if v := process(p, f[4], t0); v != VerdictDrop || p.c.drops[DropFragDatagramDropped] != 1 {
				t.Fatalf("after the overlap: %s (%s)", vname(v), nonZero(p.c))
			}
			q, _ := p.fragmentOut()
			q.n = 0
			p.frags.pool = newFragPool()

			// A held fragment, then one overlapping it: both dropped, as overlap.
			g := fragsOf(t, v6, 41001, 8<<10, 1500, 2)
			process(p, g[2], t0)
			over := append([]byte(nil), g[2]...)
			if v6 {
				binary.BigEndian.PutUint16(over[14+40+2:], binary.BigEndian.Uint16(over[14+40+2:])+8)
			} else {
				ip := header.IPv4(over[14:])
				ip.SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, ip.FragmentOffset()+8)
				ip.FillChecksum()
			}
			before := p.c.drops[DropFragOverlap]
			if v := process(p, over, t0); v != VerdictDrop || p.c.drops[DropFragOverlap] != before+2 || len(p.frags.pool.free) != fragPoolSlots {
				t.Fatalf("overlapping a held one: %s, overlap +%d, pool %d free", vname(v), p.c.drops[DropFragOverlap]-before, len(p.frags.pool.free))
			}

			// Too many: 8-byte fragments.
			h := fragsOf(t, v6, 41002, 70*8, header.IPv4MinimumSize+8+map[bool]int{true: 28}[v6], 3)
			for i, fr := range h {
				v := process(p, fr, t0)
				if i < fragMaxFrags && v != VerdictTX || i == fragMaxFrags && (v != VerdictDrop || p.c.drops[DropFragTooMany] != 1) {
					t.Fatalf("fragment %d of %d: %s (%s)", i, len(h), vname(v), nonZero(p.c))
				}
			}

			// Oversize: the last fragment's data ends past 65,535.
			big := append([]byte(nil), f[5]...)
			if v6 {
				binary.BigEndian.PutUint16(big[14+40+2:], 65528)
			} else {
				ip := header.IPv4(big[14:])
				ip.SetFlagsFragmentOffset(0, 65528)
				ip.FillChecksum()
			}
			if v := process(p, big, t0); v != VerdictDrop || p.c.drops[DropFragOversize] != 1 {
				t.Fatalf("oversize: %s (%s)", vname(v), nonZero(p.c))
			}

			// The first dropped (no service on its port), the others follow.
			k := fragsOf(t, v6, 41003, 4<<10, 1500, 4)
			if v6 {
				binary.BigEndian.PutUint16(k[0][14+48+2:], 54)
			} else {
				binary.BigEndian.PutUint16(k[0][14+20+2:], 54)
			}
			process(p, k[0], t0)
			before = p.c.drops[DropFragDatagramDropped]
			if v := process(p, k[1], t0); v != VerdictDrop || p.c.drops[DropNoService] != 1 || p.c.drops[DropFragDatagramDropped] != before+1 {
				t.Fatalf("after a first without service: %s (%s)", vname(v), nonZero(p.c))
			}
		})
	}
}

// TestFragmentFlood: later fragments without their first, each of its own datagram, are held in
// the pool until it is full, then dropped (frag_buffer_full, frag_table_full as old ones are
// evicted), never more memory; every one is counted once; a whole datagram still goes through in
// the flood; after the timeout the held ones are dropped (frag_timeout) and the pool is free.
func TestFragmentFlood(t *testing.T) {
	p := newTestEnv(t, 1024).p
	const n = 3000
	tmpl := fragsOf(t, false, 42000, 4<<10, 1500, 0)[1]
	for i := range n {
		f := append([]byte(nil), tmpl...)
		binary.BigEndian.PutUint16(f[14+4:], uint16(i))
		header.IPv4(f[14:]).FillChecksum()
		process(p, f, t0+int64(i))
	}
	// Each fragment counted once when it came (held or frag_buffer_full); held ones dropped since
	// with the datagram evicted for another (frag_table_full).
	flood := p.c.fragHeld + p.c.drops[DropFragBufferFull]
	t.Logf("%d fragments: %d held, %d frag_buffer_full; %d held ones dropped as frag_table_full, %d datagrams evicted", n, p.c.fragHeld,
		p.c.drops[DropFragBufferFull], p.c.drops[DropFragTableFull], p.c.fragEvicted)
	if flood != n || p.c.fragHeld-p.c.drops[DropFragTableFull] != fragPoolSlots || len(p.frags.pool.free) != 0 {
		t.Fatalf("%d of %d fragments counted as held or dropped; pool %d free (%s)", flood, n, len(p.frags.pool.free), nonZero(p.c))
	}
	s := &fragSim{tb: t, ps: []*Pipeline{p}}
	for _, f := range fragsOf(t, false, 42001, 8<<10, 1500, 0xffff0) {
		s.rx(0, f, 0, t0+n)
	}
	if len(s.sent) != 6 {
		t.Fatalf("a whole datagram in the flood: %d of 6 fragments sent (%s)", len(s.sent), nonZero(p.c))
	}
	for range fragTableSize / fragSweep {
		p.expireFragments(t0 + n + fragTimeout)
	}
	if held := p.c.fragHeld - p.c.drops[DropFragTableFull]; p.c.drops[DropFragTimeout] != held || len(p.frags.pool.free) != fragPoolSlots {
		t.Fatalf("after the timeout: %d frag_timeout, %d held; pool %d free", p.c.drops[DropFragTimeout], held, len(p.frags.pool.free))
	}
	for i := range p.frags.e {
		if p.frags.e[i].state != fragFree {
			t.Fatalf("entry %d left after the timeout: %+v", i, p.frags.e[i])
		}
	}
}

// TestFragmentsZeroAllocs: a datagram's fragments, the first last (held, released, followed),
// allocate nothing.
func TestFragmentsZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	p := newTestEnv(t, 1024).p
	frags := fragsOf(t, false, 43000, 8<<10, 1500, 9)
	frags = append(frags[1:], frags[0])
	buf := make([]byte, 4096)
	id := uint16(0)
	run := func() {
		id++
		for _, f := range frags {
			n := copy(buf[256:], f)
			binary.BigEndian.PutUint16(buf[256+14+4:], id)
			header.IPv4(buf[256+14:]).FillChecksum()
			p.ProcessAt(buf, 256, n, 0, t0)
		}
		q, pool := p.fragmentOut()
		for i := range q.n {
			f, in := pool.frame(q.items[i].slot)
			n := copy(buf[256:], f)
			pool.put(q.items[i].slot)
			if v, _, _, _ := p.ProcessGatheredAt(buf, 256, n, in, t0); v != VerdictTX {
				t.Fatalf("released: %s", vname(v))
			}
		}
		q.n = 0
	}
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Errorf("%v allocations per datagram", n)
	}
	if p.c.fragHeld < 200*5 {
		t.Errorf("%d fragments held in 200 runs", p.c.fragHeld)
	}
}

// TestFragmentsFullNATAndDR: UDP datagrams in fragments through FULLNAT (IPv4 and IPv6) and DR,
// spread over two workers and reversed: FULLNAT's leave from the local address and port to the
// real server, their checksum right over the whole datagram, and the real server's reply, in
// fragments to the local address, goes back from the VIP; DR's leave unchanged but for the MACs.
func TestFragmentsFullNATAndDR(t *testing.T) {
	lip6 := netip.MustParseAddr("2001:2:0:9::1")
	svc := func(vip netip.Addr, port uint16, rs netip.Addr, rport uint16, m ForwardMethod, lips ...netip.Addr) Service {
		return Service{Key: ServiceKey{Proto: udp, Addr: vip, Port: port}, Scheduler: "rr", LocalAddrs: lips,
			RealServers: []RealServer{{Addr: rs, Port: rport, Forward: m, Weight: 1}}}
	}
	s := twoWorkers(t, svc(vip4, 53, rs4a, 5353, ForwardFullNAT, lip4), svc(vip6, 53, rs6a, 5353, ForwardFullNAT, lip6),
		svc(vip4, 54, rs4b, 54, ForwardRoute))
	send := func(frags [][]byte, in int) [][]byte {
		t.Helper()
		s.reversedOverTwo(frags, in)
		if len(s.sent) != len(frags) {
			t.Fatalf("%d of %d fragments sent (%s / %s)", len(s.sent), len(frags), nonZero(s.ps[0].c), nonZero(s.ps[1].c))
		}
		return s.sent
	}
	for i, v6 := range []bool{false, true} {
		cip, vip, rs, lip, rsMAC := cip4, vip4, rs4a, lip4, rs1MAC
		if v6 {
			cip, vip, rs, lip = cip6, vip6, rs6a, lip6
		}
		size := 8 << 10
		payload := []byte(payloadOf(size))
		in := pk{src: cliMAC, dst: port0MAC, sip: cip, dip: vip, proto: udp, sport: 44000, dport: 53}.dgram(size)
		got := reassemble(t, send(fragmentFrame(t, in.frame(t), 1500, uint32(0x300+i)), 0))
		lport := header.UDP(got[map[bool]int{false: 20, true: 40}[v6]:]).SourcePort()
		checkDatagram(t, got, netip.AddrPortFrom(lip, lport), netip.AddrPortFrom(rs, 5353), payload)
		reply := pk{src: rsMAC, dst: port1MAC, sip: rs, dip: lip, proto: udp, sport: 5353, dport: lport}.dgram(size)
		back := reassemble(t, send(fragmentFrame(t, reply.frame(t), 1500, uint32(0x400+i)), 1))
		checkDatagram(t, back, netip.AddrPortFrom(vip, 53), netip.AddrPortFrom(cip, 44000), payload)
	}
	in := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: udp, sport: 44001, dport: 54}.dgram(8 << 10)
	frame := in.frame(t)
	out := send(fragmentFrame(t, frame, 1500, 0x500), 0)
	for _, f := range out {
		if header.Ethernet(f).DestinationAddress() != rs2MAC || header.Ethernet(f).SourceAddress() != port1MAC {
			t.Fatalf("DR fragment to %v from %v", header.Ethernet(f).DestinationAddress(), header.Ethernet(f).SourceAddress())
		}
	}
	whole := header.IPv4(frame[14:])
	whole.SetFlagsFragmentOffset(0, 0) // as reassemble leaves it, with the fragments' identification
	binary.BigEndian.PutUint16(whole[4:], 0x500)
	whole.FillChecksum()
	if got := reassemble(t, out); !bytes.Equal(got, frame[14:]) {
		t.Fatal("DR changed the datagram")
	}
}

// TestFragmentsNAT64: an IPv6 client's fragments, reversed and spread over two workers, leave as
// IPv4 fragments from the local address, which reassemble into the datagram with its checksum
// right; the IPv4 server's 1500-byte fragments come back as IPv6 fragments, each split in two to
// fit the MTU with the fragment header, which reassemble into the reply from the VIP.
func TestFragmentsNAT64(t *testing.T) {
	s := twoWorkers(t, Service{Key: ServiceKey{Proto: udp, Addr: vip6, Port: 86}, Scheduler: "rr",
		LocalAddrs: []netip.Addr{lip4}, RealServers: []RealServer{{Addr: rs4a, Port: 8086, Forward: ForwardFullNAT, Weight: 1}}})
	send := s.reversedOverTwo
	for _, size := range []int{4 << 10, 60 << 10} {
		payload := []byte(payloadOf(size))
		in := pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: udp, sport: uint16(45000 + size>>10), dport: 86}.dgram(size)
		frags := fragmentFrame(t, in.frame(t), 1500, uint32(0xabcd0000+size))
		out := send(frags, 0)
		if len(out) != len(frags) {
			t.Fatalf("%d of %d fragments sent (%s / %s)", len(out), len(frags), nonZero(s.ps[0].c), nonZero(s.ps[1].c))
		}
		got := reassemble(t, out)
		if got[0]>>4 != 4 {
			t.Fatal("not translated to IPv4")
		}
		lport := header.UDP(got[20:]).SourcePort()
		checkDatagram(t, got, netip.AddrPortFrom(lip4, lport), netip.AddrPortFrom(rs4a, 8086), payload)
		reply := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: udp, sport: 8086, dport: lport}.dgram(size)
		rfr := fragmentFrame(t, reply.frame(t), 1500, uint32(0x600+size>>10))
		back := send(rfr, 1)
		if len(back) <= len(rfr) {
			t.Fatalf("the reply's %d fragments left as %d (each too big for the MTU with its IPv6 headers)", len(rfr), len(back))
		}
		for _, f := range back {
			if len(f)-header.EthernetMinimumSize > 1500 {
				t.Fatalf("an IPv6 fragment of %d bytes", len(f)-header.EthernetMinimumSize)
			}
		}
		checkDatagram(t, reassemble(t, back), netip.AddrPortFrom(vip6, 86), netip.AddrPortFrom(cip6, uint16(45000+size>>10)), payload)
	}
}

// BenchmarkFragments measures the pipeline's cost per fragment of 8 KB datagrams (6 fragments)
// through NAT, one worker: in order, and with the first last (5 held, copied and released).
func BenchmarkFragments(b *testing.B) {
	for _, firstLast := range []bool{false, true} {
		b.Run(map[bool]string{false: "in_order", true: "first_last"}[firstLast], func(b *testing.B) {
			p := newTestEnv(b, 1024).p
			frags := fragsOf(b, false, 46000, 8<<10, 1500, 0)
			if firstLast {
				frags = append(frags[1:], frags[0])
			}
			buf := make([]byte, 4096)
			n, id := 0, uint16(0)
			for b.Loop() {
				id++
				for _, f := range frags {
					k := copy(buf[256:], f)
					binary.BigEndian.PutUint16(buf[256+14+4:], id)
					p.ProcessAt(buf, 256, k, 0, t0)
					n++
				}
				q, pool := p.fragmentOut()
				for i := range q.n {
					f, in := pool.frame(q.items[i].slot)
					k := copy(buf[256:], f)
					pool.put(q.items[i].slot)
					p.ProcessGatheredAt(buf, 256, k, in, t0)
				}
				q.n = 0
			}
			reportPerPacket(b, n)
		})
	}
}

// twoWorkers is a fragSim of two workers of one director, both with the services given.
func twoWorkers(t *testing.T, services ...Service) *fragSim {
	t.Helper()
	c, _, err := compile(&Snapshot{Services: services}, nil, newIDs(), 1)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, 1024)
	s := &fragSim{tb: t}
	for w := range 2 {
		p := e.worker(w, 2, 1024)
		p.setConfig(c)
		s.ps = append(s.ps, p)
	}
	return s
}

// reversedOverTwo gives the fragments of one datagram, last first, to the two workers in turn, as
// they came in on port in, and returns what the director sent of them.
func (s *fragSim) reversedOverTwo(frags [][]byte, in int) [][]byte {
	slices.Reverse(frags)
	s.sent = nil
	for j, f := range frags {
		s.rx(j%2, f, in, t0)
	}
	return s.sent
}
