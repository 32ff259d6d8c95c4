package pktgen

import (
	"encoding/binary"

	"github.com/xdpvs/xdpvs/header"
)

// framer writes into a copy of Config.Frame what varies from frame to frame, the contract of the
// BPF program (bpf/gen.c) in Go for the AF_XDP engine: the flow (source port fastest, then source
// address), the TCP sequence number, the stamp's flow and time, and the checksums, updated
// incrementally (RFC 1624) from the template's. Every value is derived from the template, not
// from what the buffer held, so a buffer may be reused for any flow without a fresh copy of the
// template: only these fields are ever written.
type framer struct {
	n         int // frame length without FCS
	sportOff  int // source port
	srcOff    int // last 32 bits of the source address
	ipCsumOff int // IPv4 header checksum; 0 for IPv6
	l4CsumOff int // L4 checksum; 0 when the frame carries none (IPv4 UDP)
	seqOff    int // TCP sequence number; 0 for UDP
	stampOff  int // the stamp's flow and time (after its magic); 0 without a stamp
	udp       bool
	sportMin  uint16
	addrLo    uint32
	ports     uint32
	addrs     uint32
	// l4Base and ipBase are the one's-complement sums of the complemented template checksums and
	// of the complements of the template's words that every frame replaces (RFC 1624 eqn. 3).
	l4Base, ipBase uint64
	port, addr     uint32 // the next frame's flow: port index, address index
}

func newFramer(c Config, tmpl []byte) *framer {
	f := &framer{n: len(tmpl), sportOff: c.l4Offset(), udp: c.Proto == UDP, sportMin: c.SrcPort,
		addrLo: low32(c.Src.Unmap()), ports: uint32(c.Flows), addrs: uint32(c.addrs())}
	if c.IPv6() {
		f.srcOff = header.EthernetMinimumSize + 8 + 12
	} else {
		f.srcOff = header.EthernetMinimumSize + 12
		f.ipCsumOff = header.EthernetMinimumSize + 10
		f.ipBase = uint64(^binary.BigEndian.Uint16(tmpl[f.ipCsumOff:])) + uint64(^uint16(f.addrLo>>16)) + uint64(^uint16(f.addrLo))
	}
	if c.l4Checksummed() {
		f.l4CsumOff = c.l4Offset() + 6
		if c.Proto == TCP {
			f.l4CsumOff = c.l4Offset() + 16
		}
		f.l4Base = uint64(^binary.BigEndian.Uint16(tmpl[f.l4CsumOff:])) + uint64(^f.sportMin) +
			uint64(^uint16(f.addrLo>>16)) + uint64(^uint16(f.addrLo))
		// The template's sequence number and stamp flow and time are zeros: ^0 per word.
		if c.Proto == TCP {
			f.l4Base += 2 * 0xffff
		}
		if c.Stamped() {
			f.l4Base += 6 * 0xffff
		}
	}
	if c.Proto == TCP {
		f.seqOff = c.l4Offset() + 4
	}
	if c.Stamped() {
		f.stampOff = c.PayloadOffset() + 4
	}
	return f
}

// reset makes the next frame flow 0's.
func (f *framer) reset() { f.port, f.addr = 0, 0 }

// fold folds a one's-complement sum to 16 bits.
func fold(s uint64) uint16 {
	s = s&0xffffffff + s>>32
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

func words32(v uint32) uint64 { return uint64(v>>16) + uint64(v&0xffff) }

// write turns b, a copy of the template (or a frame this framer wrote before), into the next
// flow's frame with sequence number seq and stamp time now (CLOCK_MONOTONIC nanoseconds).
func (f *framer) write(b []byte, seq uint32, now uint64) {
	_ = b[f.n-1]
	pidx, aidx := f.port, f.addr
	if f.port++; f.port >= f.ports {
		f.port = 0
		if f.addr++; f.addr >= f.addrs {
			f.addr = 0
		}
	}
	sport := f.sportMin + uint16(pidx)
	addr := f.addrLo + aidx
	binary.BigEndian.PutUint16(b[f.sportOff:], sport)
	binary.BigEndian.PutUint32(b[f.srcOff:], addr)
	if f.ipCsumOff != 0 {
		binary.BigEndian.PutUint16(b[f.ipCsumOff:], ^fold(f.ipBase+words32(addr)))
	}
	if f.seqOff != 0 {
		binary.BigEndian.PutUint32(b[f.seqOff:], seq)
	}
	var flow uint32
	if f.stampOff != 0 {
		flow = aidx*f.ports + pidx
		binary.BigEndian.PutUint32(b[f.stampOff:], flow)
		binary.BigEndian.PutUint64(b[f.stampOff+4:], now)
	}
	if f.l4CsumOff != 0 {
		s := f.l4Base + uint64(sport) + words32(addr)
		if f.seqOff != 0 {
			s += words32(seq)
		}
		if f.stampOff != 0 {
			s += words32(flow) + words32(uint32(now>>32)) + words32(uint32(now))
		}
		c := ^fold(s)
		if c == 0 && f.udp {
			c = 0xffff // UDP: 0 means no checksum
		}
		binary.BigEndian.PutUint16(b[f.l4CsumOff:], c)
	}
}
