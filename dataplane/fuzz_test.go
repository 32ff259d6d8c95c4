package dataplane

// FuzzPipeline feeds arbitrary frames to a configured pipeline that already holds connections of
// every kind (IPv4 and IPv6, TCP and UDP, an all-ports service), seeded with the golden frames and
// mutations of them. Run it with
//
//	go test -run '^$' -fuzz=FuzzPipeline -fuzztime=60s ./dataplane/
//
// Crashers land in testdata/fuzz/FuzzPipeline and are replayed by every `go test`.

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

// fuzzPrep opens the connections the fuzzed frames may hit.
func fuzzPrep() []step {
	s := append(handshake4(), handshake6()...)
	return append(s, at(0, c2vU4.frame), at(0, c2vU6.frame), at(0, syn(c2vA4).frame), at(1, synack(r2lA4).frame))
}

// fuzzShared is built once per process: the neighbour table (read-only to Process but for
// resolution requests, which are dropped when nobody drains them) and the priming frames.
var fuzzShared struct {
	once  sync.Once
	neigh *Neighbours
	prep  []step
	bytes [][]byte
}

// fuzzEnv returns a fresh pipeline holding the fuzzPrep connections, so that every input runs
// from the same state and a crasher replays exactly. mode bit 0 selects two workers (the
// pipeline is worker 0), bit 1 the input port.
func fuzzEnv(t *testing.T, mode uint8) *Pipeline {
	fs := &fuzzShared
	fs.once.Do(func() {
		fs.neigh = newTestNeighbours()
		fs.prep = fuzzPrep()
		for _, s := range fs.prep {
			fs.bytes = append(fs.bytes, s.f(t))
		}
	})
	conf := mustCompile(t, testSnapshot()) // fresh: the rr positions live in it
	p := newPipeline(0, 1+int(mode&1), testPorts, fs.neigh, 64, t0)
	p.setConfig(conf)
	var buf [2048]byte
	for i, s := range fs.prep {
		f := buf[:copy(buf[:], fs.bytes[i])]
		if v, port := p.Process(f, s.port, t0); v != VerdictTX && v != VerdictHandoff {
			t.Fatalf("prep[%d]: Process = %s, %d (%s)", i, vname(v), port, nonZero(p.c))
		}
	}
	return p
}

func FuzzPipeline(f *testing.F) {
	var seeds [][]byte
	for _, tc := range goldenCases() {
		for _, s := range tc.prep {
			seeds = append(seeds, s.f(f))
		}
		seeds = append(seeds, tc.in(f))
	}
	for i, s := range seeds {
		f.Add(s, uint8(i%4))
		// A few mutations each, at the fields the pipeline branches on.
		var pp header.Packet
		if pp.Parse(s) != header.ParseOK {
			continue
		}
		m := func(fn func(b []byte)) {
			b := append([]byte(nil), s...)
			fn(b)
			f.Add(b, uint8(i%4))
		}
		if pp.Proto == header.ProtocolTCP {
			for _, fl := range []uint8{0, header.TCPFlagSyn | header.TCPFlagAck, header.TCPFlagRst, header.TCPFlagFin | header.TCPFlagAck, 0xff} {
				m(func(b []byte) { b[pp.L4Offset+13] = fl })
			}
		}
		m(func(b []byte) { b[pp.L4Offset] ^= 0x01 })                                     // source port
		m(func(b []byte) { b[len(b)-1] ^= 0x80 })                                        // last byte
		m(func(b []byte) { binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv6^1) }) // EtherType
		if !pp.IsIPv6 {
			m(func(b []byte) { b[pp.L3Offset+6] |= 0x20 })  // MF
			m(func(b []byte) { b[pp.L3Offset+9] = 132 })    // SCTP
			m(func(b []byte) { b[pp.L3Offset+3] -= 1 })     // total length one short
			m(func(b []byte) { b[pp.L3Offset+15] ^= 0x01 }) // source address
			m(func(b []byte) { b[pp.L3Offset+10] ^= 0xff }) // bad header checksum
		} else {
			m(func(b []byte) { b[pp.L3Offset+6] = 0 })      // hop-by-hop next
			m(func(b []byte) { b[pp.L3Offset+5] += 8 })     // payload length past the frame
			m(func(b []byte) { b[pp.L3Offset+23] ^= 0x01 }) // source address
		}
	}

	f.Fuzz(func(t *testing.T, frame []byte, mode uint8) {
		p := fuzzEnv(t, mode)
		in := append([]byte(nil), frame...)
		inPort := int(mode >> 1 & 1)
		ipOK, l4OK := frameChecksumsOK(in)
		total, rx, tx, handoff := counterTotal(p.c), p.c.rx, p.c.tx, p.c.handoffOut

		v, port := p.Process(frame, inPort, t0+second)

		if got := counterTotal(p.c) - total; got != 1 {
			t.Fatalf("Process moved %d counters, want exactly 1 (%s)", got, nonZero(p.c))
		}
		if p.c.rx != rx+1 {
			t.Fatalf("rx moved by %d", p.c.rx-rx)
		}
		if len(frame) != len(in) {
			t.Fatalf("frame length changed")
		}
		switch v {
		case VerdictDrop:
			if p.c.tx != tx || p.c.handoffOut != handoff {
				t.Fatalf("drop counted as tx or handoff")
			}
			if !bytes.Equal(frame, in) {
				t.Fatalf("dropped frame was modified:\n got %x\nwant %x", frame, in)
			}
		case VerdictHandoff:
			if p.c.handoffOut != handoff+1 {
				t.Fatalf("handoff not counted")
			}
			if port < 0 || port >= p.workers || port == p.id {
				t.Fatalf("handed off to worker %d of %d (self %d)", port, p.workers, p.id)
			}
			if !bytes.Equal(frame, in) {
				t.Fatalf("handed-off frame was modified")
			}
		case VerdictTX:
			if p.c.tx != tx+1 {
				t.Fatalf("tx not counted")
			}
			if port < 0 || port >= len(p.ports) {
				t.Fatalf("egress port %d of %d", port, len(p.ports))
			}
			checkTXInvariants(t, p, in, frame, ipOK, l4OK)
		default:
			t.Fatalf("verdict %d", v)
		}
	})
}

// checkTXInvariants checks a transmitted frame: it still parses as the input did, its IPv4 header
// and TCP/UDP checksums verify if the input's did, an ICMP error's checksum and quoted IPv4 header
// checksum verify, and what it carries (or quotes) belongs to a connection.
func checkTXInvariants(t *testing.T, p *Pipeline, in, out []byte, ipOK, l4OK bool) {
	t.Helper()
	var pi, po header.Packet
	if r := pi.Parse(in); r != header.ParseOK {
		t.Fatalf("transmitted a frame that did not parse (%v)", r)
	}
	if r := po.Parse(out); r != header.ParseOK {
		t.Fatalf("output does not parse (%v):\n in %x\nout %x", r, in, out)
	}
	if po.IsIPv6 != pi.IsIPv6 || po.Proto != pi.Proto || po.L4Offset != pi.L4Offset || po.L3Length != pi.L3Length {
		t.Fatalf("output parses differently: %+v, input %+v", po, pi)
	}
	gotIP, gotL4 := frameChecksumsOK(out)
	if ipOK && !gotIP {
		t.Fatalf("IPv4 header checksum broken by the rewrite:\n in %x\nout %x", in, out)
	}
	switch po.Proto {
	case header.ProtocolTCP, header.ProtocolUDP:
		if l4OK && !gotL4 {
			t.Fatalf("L4 checksum broken by the rewrite:\n in %x\nout %x", in, out)
		}
		if po.IsIPv6 && po.Proto == header.ProtocolUDP && header.UDP(out[po.L4Offset:]).Checksum() == 0 {
			t.Fatalf("UDP over IPv6 left with a zero checksum")
		}
		// The packet now goes as the other side expects: its reverse is the connection's other tuple.
		k := po.Tuple.Reverse()
		if _, _, ok := p.table.Lookup(&k); !ok {
			t.Fatalf("output tuple %v→%v is not a connection's", po.Tuple.SrcAddr, po.Tuple.DstAddr)
		}
	case header.ProtocolICMP, header.ProtocolICMPv6:
		if !gotL4 {
			t.Fatalf("ICMP checksum of a translated error does not verify:\n in %x\nout %x", in, out)
		}
		inner, il3, _, ok := po.ParseICMPError(out)
		if !ok {
			t.Fatalf("translated ICMP error no longer parses")
		}
		if !po.IsIPv6 {
			q := out[il3:]
			if naiveFold(naiveSum(0, q[:int(q[0]&0xf)*4])) != 0xffff {
				t.Fatalf("quoted IPv4 header checksum does not verify")
			}
		}
		// The quote is what the other side sent: a connection's tuple as it stands.
		if _, _, ok := p.table.Lookup(&inner); !ok {
			t.Fatalf("translated quote %v→%v is not a connection's", inner.SrcAddr, inner.DstAddr)
		}
	default:
		t.Fatalf("transmitted protocol %d", po.Proto)
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
