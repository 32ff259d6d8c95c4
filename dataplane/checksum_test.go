package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

// partialize returns frame (IPv4 or IPv6 without options, TCP or UDP) as a sender with transmit
// checksum offload hands it over: the L4 checksum field holds the pseudo-header sum (complement:
// its complement, the other convention), computed with the independent reference naivePseudo.
func partialize(tb testing.TB, frame []byte, complement bool) []byte {
	tb.Helper()
	b := bytes.Clone(frame)
	var src, dst net.IP
	var l4 []byte
	var proto uint8
	switch et := binary.BigEndian.Uint16(b[12:]); et {
	case header.EtherTypeIPv4:
		ip := b[14:]
		src, dst, proto, l4 = net.IP(ip[12:16]), net.IP(ip[16:20]), ip[9], ip[20:binary.BigEndian.Uint16(ip[2:])]
	case header.EtherTypeIPv6:
		ip := b[14:]
		src, dst, proto, l4 = net.IP(ip[8:24]), net.IP(ip[24:40]), ip[6], ip[40:40+binary.BigEndian.Uint16(ip[4:])]
	default:
		tb.Fatalf("partialize: EtherType %#04x", et)
	}
	field := 16
	if proto == header.ProtocolUDP {
		field = 6
	}
	v := naiveFold(naivePseudo(src, dst, proto, len(l4)))
	if complement {
		v = ^v
	}
	binary.BigEndian.PutUint16(l4[field:], v)
	return b
}

// withChecksum returns frame with its L4 checksum field (at field bytes into the L4 header, which
// follows a plain IPv4 or IPv6 header) set to f(old value).
func withChecksum(frame []byte, field int, f func(uint16) uint16) []byte {
	b := bytes.Clone(frame)
	off := 14 + 20
	if binary.BigEndian.Uint16(b[12:]) == header.EtherTypeIPv6 {
		off = 14 + 40
	}
	binary.BigEndian.PutUint16(b[off+field:], f(binary.BigEndian.Uint16(b[off+field:])))
	return b
}

// TestCompleteChecksums: with completeSums, a TCP or UDP packet whose checksum was left to
// transmit offload (the pseudo-header sum, or its complement, in the field) leaves with the full
// checksum, exactly the frame a sender without offload would have caused, client to server and
// server to client, IPv4 and IPv6; it is counted. Without completeSums it leaves as it does today,
// still wrong. A packet with a checksum wrong in any other way is not "completed": it leaves as it
// would without the option.
func TestCompleteChecksums(t *testing.T) {
	type flow struct {
		name     string
		prep     []step // the connection, with full checksums
		in       pk
		inPort   int
		out      pk
		outPort  int
		sumField int
	}
	flows := []flow{
		{name: "tcp4_syn", in: syn(c2v4), out: syn(l2r4), outPort: 1, sumField: 16},
		{name: "tcp6_syn", in: syn(c2v6), out: syn(l2r6), outPort: 1, sumField: 16},
		{name: "tcp4_data", prep: handshake4(), in: dataC(c2v4), out: dataC(l2r4), outPort: 1, sumField: 16},
		{name: "tcp4_reply", prep: handshake4(), in: dataS(r2l4), inPort: 1, out: dataS(v2c4), sumField: 16},
		{name: "udp4", in: c2vU4, out: l2rU4, outPort: 1, sumField: 6},
		{name: "udp6", in: c2vU6, out: l2rU6, outPort: 1, sumField: 6},
		{name: "udp6_reply", prep: []step{at(0, c2vU6.frame)}, in: r2lU6, inPort: 1, out: v2cU6, sumField: 6},
	}
	run := func(t *testing.T, fl flow, complete bool, in []byte) (out []byte, c *counters) {
		t.Helper()
		e := newTestEnv(t, 1024)
		e.p.completeSums = complete
		for _, s := range fl.prep {
			mustTX(t, e.p, s.f(t), s.port, t0)
		}
		before := *e.p.c
		frame := bytes.Clone(in)
		if port := mustTX(t, e.p, frame, fl.inPort, t0); port != fl.outPort {
			t.Fatalf("egress port %d, want %d", port, fl.outPort)
		}
		after := *e.p.c
		after.sumsCompleted -= before.sumsCompleted
		return frame, &after
	}
	for _, fl := range flows {
		t.Run(fl.name, func(t *testing.T) {
			want := fl.out.frame(t)
			for _, complement := range []bool{false, true} {
				in := partialize(t, fl.in.frame(t), complement)
				out, c := run(t, fl, true, in)
				if !bytes.Equal(out, want) {
					t.Errorf("complement=%v: completed frame differs:\n%s", complement, frameDiff(out, want))
				}
				checkFrameChecksums(t, out)
				if c.sumsCompleted != 1 {
					t.Errorf("complement=%v: checksums_completed moved by %d, want 1", complement, c.sumsCompleted)
				}
				// Without the option: forwarded as today, its checksum still partial (wrong).
				plain, c := run(t, fl, false, in)
				if bytes.Equal(plain, want) || c.sumsCompleted != 0 {
					t.Errorf("complement=%v: without completeSums the partial checksum was completed", complement)
				}
				if !bytes.Equal(withChecksum(plain, fl.sumField, func(uint16) uint16 { return 0 }), withChecksum(want, fl.sumField, func(uint16) uint16 { return 0 })) {
					t.Errorf("complement=%v: without completeSums, more than the checksum differs:\n%s", complement, frameDiff(plain, want))
				}
			}
			// A checksum simply wrong, and a right one: what leaves is what leaves without the option.
			for name, f := range map[string]func(uint16) uint16{
				"wrong": func(x uint16) uint16 { return x ^ 0x0100 },
				"right": func(x uint16) uint16 { return x },
			} {
				in := withChecksum(fl.in.frame(t), fl.sumField, f)
				got, c := run(t, fl, true, in)
				ref, _ := run(t, fl, false, in)
				if !bytes.Equal(got, ref) || c.sumsCompleted != 0 {
					t.Errorf("%s checksum: completeSums changed the frame (completed %d):\n%s", name, c.sumsCompleted, frameDiff(got, ref))
				}
				if name == "right" && !bytes.Equal(got, want) {
					t.Errorf("right checksum: frame differs:\n%s", frameDiff(got, want))
				}
			}
		})
	}
}
