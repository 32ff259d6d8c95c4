package dataplane

// FuzzPipeline feeds arbitrary frames to a pipeline configured with services of every forwarding
// mode (NAT, DR, TUN, FULLNAT with TOA, NAT64, SYN proxy, all ports; IPv4 and IPv6) that already
// holds connections of each kind (fuzzenv_test.go), as a worker does: the frame at offset 256 of a
// 2048-byte buffer, headroom before it and tailroom after. Every input gets a fresh pipeline, so a
// crasher replays exactly. What each verdict must satisfy is fuzzObs.check's (fuzzcheck_test.go).
// Seeds: the golden frames, the frames of every mode's connections (data, FIN, RST, SYN again, ICMP
// errors both ways, packets too big for a tunnel, the SYN proxy's segments in every phase), and
// mutations of each at the fields the pipeline branches on. Run it with
//
//	go test -run '^$' -fuzz=FuzzPipeline -fuzztime=60s ./dataplane/
//
// Crashers land in testdata/fuzz/FuzzPipeline and are replayed by every `go test`. The input's
// mode byte: bit 0 selects two workers (the pipeline is worker 0), bit 1 the input port, and bit 2
// makes the frame's checksums right before it is processed (fuzzFixChecksums), so that the
// invariants that hold whenever the input's checksums verify also judge the fuzzer's mutations,
// which break them; bit 3 sends the frame through ReadAhead and ProcessAheadAt, as a worker's
// batches go (readahead.go).

import (
	"encoding/binary"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

// fuzzMutationShare: one in this many of a seed's mutations is a seed too. Few seeds keep the
// fuzzer's start quick: it runs every seed first, at about 150 a second here.
const fuzzMutationShare = 48

func FuzzPipeline(f *testing.F) {
	saved, savedFrag := ownerKey, fragKey
	f.Cleanup(func() { ownerKey, fragKey = saved, savedFrag })
	w := theFuzzWorld(f) // which fixes ownerKey for the fuzzed pipelines
	seen := map[string]bool{}
	key := func(b []byte, mode uint8) string { return string(b) + string(rune(mode)) }
	add := func(b []byte, mode uint8) {
		if k := key(b, mode); !seen[k] {
			seen[k] = true
			f.Add(b, mode)
		}
	}
	// Every seed, and a share of the mutations, a different one for each seed. The worker count
	// (where the seed is for either) and the checksum bit alternate.
	i, j := 0, 0
	for _, s := range w.seeds {
		mode := uint8(s.port<<1) | uint8(i&2)<<1 | uint8(i&4)<<1
		if s.workers == 2 || (s.workers == 0 && i&1 != 0) {
			mode |= 1
		}
		if seen[key(s.frame, mode)] {
			continue
		}
		add(s.frame, mode)
		for _, m := range fuzzMutations(s.frame) {
			if j++; j%fuzzMutationShare == 0 {
				add(m, mode)
			}
		}
		i++
	}

	f.Fuzz(func(t *testing.T, frame []byte, mode uint8) {
		workers, inPort := 1+int(mode&1), int(mode>>1&1)
		p := w.env(t, workers)
		var buf [2048]byte
		n := copy(buf[rxHeadroom:], frame) // a frame longer than AF_XDP delivers is cut
		if mode&4 != 0 {
			fuzzFixChecksums(buf[rxHeadroom : rxHeadroom+n])
		}
		in := append([]byte(nil), buf[rxHeadroom:rxHeadroom+n]...)
		x := newFuzzObs(p, in, inPort)
		var v Verdict
		var port, off, m int
		if mode&8 != 0 {
			p.ReadAhead([][]byte{buf[rxHeadroom : rxHeadroom+n]})
			v, port, off, m = p.ProcessAheadAt(0, buf[:], rxHeadroom, n, inPort, t0+second)
		} else {
			v, port, off, m = p.ProcessAt(buf[:], rxHeadroom, n, inPort, t0+second)
		}
		x.finish(v, port, buf[:], off, m)
		x.check(t)
	})
}

// fuzzMutations returns copies of a seed frame changed at the fields the pipeline branches on:
// TCP flags, data offset and options, ports, IP lengths, fragment bits, options and extension
// headers, the EtherType, and an ICMP error's type, code and quoted packet. Checksums are made
// right again (fuzzFixChecksums), but for the mutations that break one, so that the invariants
// that hold "whenever the input's checksums verified" bite.
func fuzzMutations(s []byte) [][]byte {
	var pp header.Packet
	if pp.Parse(s) != header.ParseOK {
		return nil
	}
	var out [][]byte
	m := func(fix bool, fn func(b []byte) []byte) {
		b := fn(append([]byte(nil), s...))
		if b == nil {
			return
		}
		if fix {
			fuzzFixChecksums(b)
		}
		out = append(out, b)
	}
	l3, l4 := pp.L3Offset, pp.L4Offset
	switch pp.Proto {
	case header.ProtocolTCP:
		for _, fl := range []uint8{0, header.TCPFlagSyn, header.TCPFlagAck, header.TCPFlagSyn | header.TCPFlagAck, header.TCPFlagRst,
			header.TCPFlagFin | header.TCPFlagAck, header.TCPFlagRst | header.TCPFlagAck, 0xff} {
			m(true, func(b []byte) []byte { b[l4+13] = fl; return b })
		}
		m(true, func(b []byte) []byte { b[l4+12] += 0x10; return b }) // data offset one word longer
		m(true, func(b []byte) []byte { b[l4+12] -= 0x10; return b }) // and shorter
		if pp.PayloadOffset > l4+20 {
			m(true, func(b []byte) []byte { b[l4+20] = 254; return b })             // a TOA option kind
			m(true, func(b []byte) []byte { b[l4+20] = 0; return b })               // EOL first
			m(true, func(b []byte) []byte { b[l4+21] = 0xff; return b })            // an option past the header
			m(true, func(b []byte) []byte { b[l4+20], b[l4+21] = 8, 10; return b }) // timestamps where it was
		}
		m(true, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[l4+4:], binary.BigEndian.Uint32(b[l4+4:])+1)
			return b
		}) // seq
		m(true, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[l4+8:], binary.BigEndian.Uint32(b[l4+8:])-1)
			return b
		}) // ack
	case header.ProtocolUDP:
		m(true, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[l4+4:], binary.BigEndian.Uint16(b[l4+4:])-1)
			return b
		}) // length
		m(false, func(b []byte) []byte { b[l4+6], b[l4+7] = 0, 0; return b }) // no checksum
	case header.ProtocolICMP, header.ProtocolICMPv6:
		out = append(out, fuzzICMPMutations(s, &pp)...)
	}
	if pp.Proto == header.ProtocolTCP || pp.Proto == header.ProtocolUDP {
		m(true, func(b []byte) []byte { b[l4] ^= 0x01; return b })   // source port
		m(true, func(b []byte) []byte { b[l4+3] ^= 0x01; return b }) // destination port
	}
	m(false, func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }) // last byte
	m(true, func(b []byte) []byte { return b[:len(b)-1] })            // one byte short of its IP length
	m(true, func(b []byte) []byte { return append(b, 0, 0, 0, 0) })   // link padding
	m(false, func(b []byte) []byte { binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv6^1); return b })
	m(false, func(b []byte) []byte { // the other family's EtherType
		et := uint16(header.EtherTypeIPv6)
		if pp.IsIPv6 {
			et = header.EtherTypeIPv4
		}
		binary.BigEndian.PutUint16(b[12:], et)
		return b
	})
	if !pp.IsIPv6 {
		m(true, func(b []byte) []byte { b[l3+6] |= 0x20; return b })   // MF
		m(true, func(b []byte) []byte { b[l3+6] ^= 0x40; return b })   // DF
		m(true, func(b []byte) []byte { b[l3+7] = 1; return b })       // a fragment offset
		m(true, func(b []byte) []byte { b[l3+9] = 132; return b })     // SCTP
		m(true, func(b []byte) []byte { b[l3+3] -= 1; return b })      // total length one short
		m(true, func(b []byte) []byte { b[l3+15] ^= 0x01; return b })  // source address
		m(true, func(b []byte) []byte { b[l3+19] ^= 0x01; return b })  // destination address
		m(false, func(b []byte) []byte { b[l3+10] ^= 0xff; return b }) // bad header checksum
		m(true, func(b []byte) []byte {                                // a 4-byte option (router alert) in the header
			if b[l3]&0xf != 5 {
				return nil
			}
			b = append(b[:l4], append([]byte{148, 4, 0, 0}, b[l4:]...)...)
			b[l3] = 0x46
			binary.BigEndian.PutUint16(b[l3+2:], binary.BigEndian.Uint16(b[l3+2:])+4)
			return b
		})
	} else {
		m(true, func(b []byte) []byte { b[l3+6] = 0; return b })                                // hop-by-hop next
		m(true, func(b []byte) []byte { b[l3+6] = 44; return b })                               // fragment next
		m(false, func(b []byte) []byte { b[l3+5] += 8; return b })                              // payload length past the frame
		m(true, func(b []byte) []byte { b[l3+23] ^= 0x01; return b })                           // source address
		m(true, func(b []byte) []byte { b[l3+39] ^= 0x01; return b })                           // destination address
		m(true, func(b []byte) []byte { copy(b[l3+8:], []byte{10: 0xff, 11: 0xff}); return b }) // an IPv4-mapped source
		m(true, func(b []byte) []byte {                                                         // an 8-byte destination-options header before the transport
			if l4 != l3+40 {
				return nil
			}
			next := b[l3+6]
			b = append(b[:l4], append([]byte{next, 0, 1, 4, 0, 0, 0, 0}, b[l4:]...)...)
			b[l3+6] = 60
			binary.BigEndian.PutUint16(b[l3+4:], binary.BigEndian.Uint16(b[l3+4:])+8)
			return b
		})
	}
	return out
}

// fuzzICMPMutations changes an ICMP error's type and code, and its quoted packet: protocol, ports,
// addresses, truncation.
func fuzzICMPMutations(s []byte, pp *header.Packet) [][]byte {
	_, il3, il4, ok := pp.ParseICMPError(s)
	var out [][]byte
	m := func(fn func(b []byte) []byte) {
		if b := fn(append([]byte(nil), s...)); b != nil {
			fuzzFixChecksums(b)
			out = append(out, b)
		}
	}
	l4 := pp.L4Offset
	types := [][2]uint8{{3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}, {3, 9}, {3, 14}, {11, 0}, {12, 0}, {5, 0}, {0, 0}}
	if pp.IsIPv6 {
		types = [][2]uint8{{1, 0}, {1, 1}, {1, 3}, {1, 4}, {1, 7}, {2, 0}, {3, 0}, {3, 1}, {4, 0}, {4, 1}, {128, 0}}
	}
	for _, tc := range types {
		m(func(b []byte) []byte { b[l4], b[l4+1] = tc[0], tc[1]; return b })
	}
	m(func(b []byte) []byte { binary.BigEndian.PutUint32(b[l4+4:], 100); return b }) // a tiny MTU
	if !ok {
		return out
	}
	setLen := func(b []byte, n int) []byte { // cut the frame to n bytes and say so in the IP header
		b = b[:n]
		if pp.IsIPv6 {
			binary.BigEndian.PutUint16(b[pp.L3Offset+4:], uint16(n-pp.L3Offset-40))
		} else {
			binary.BigEndian.PutUint16(b[pp.L3Offset+2:], uint16(n-pp.L3Offset))
		}
		return b
	}
	m(func(b []byte) []byte { return setLen(b, il4+8) }) // the quote's first 8 transport bytes only
	m(func(b []byte) []byte { return setLen(b, il4+4) }) // its ports only
	m(func(b []byte) []byte { return setLen(b, il4) })   // no transport header
	m(func(b []byte) []byte { b[il4] ^= 0x01; return b })
	m(func(b []byte) []byte { b[il4+3] ^= 0x01; return b })
	if pp.IsIPv6 {
		m(func(b []byte) []byte { b[il3+6] ^= header.ProtocolTCP ^ header.ProtocolUDP; return b })
		m(func(b []byte) []byte { b[il3+6] = 58; return b }) // quoting ICMPv6
		m(func(b []byte) []byte { b[il3+23] ^= 0x01; return b })
		m(func(b []byte) []byte { b[il3+39] ^= 0x01; return b })
		m(func(b []byte) []byte { b[il3] = 0x40; return b }) // an IPv4 quote in an ICMPv6 error
	} else {
		m(func(b []byte) []byte { b[il3+9] ^= header.ProtocolTCP ^ header.ProtocolUDP; return b })
		m(func(b []byte) []byte { b[il3+9] = 1; return b })              // quoting ICMP
		m(func(b []byte) []byte { b[il3+6] |= 0x20; return b })          // a quoted first fragment
		m(func(b []byte) []byte { b[il3+7] = 1; return b })              // a later one
		m(func(b []byte) []byte { b[il3] = 0x46; return b })             // a longer quoted header
		m(func(b []byte) []byte { b[il3+15] ^= 0x01; return b })         // quoted source
		m(func(b []byte) []byte { b[il3+19] ^= 0x01; return b })         // quoted destination
		m(func(b []byte) []byte { b[il3] = 0x60; return b })             // an IPv6 quote in an ICMP error
		m(func(b []byte) []byte { b[il3+2], b[il3+3] = 0, 4; return b }) // quoted total length shorter than its header
	}
	return out
}
