package dataplane

// Regression tests of what FuzzPipeline found; each failed before its fix. The crashers themselves
// are in testdata/fuzz/FuzzPipeline.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
)

// rxHeadroom is where a received frame starts in its 2048-byte buffer, as AF_XDP delivers it.
const rxHeadroom = 256

// processCopy runs frame through p with headroom, as a worker does, and returns the verdict, what
// was sent, and the frame's bytes afterwards where it was received.
func processCopy(p *Pipeline, frame []byte, in int) (Verdict, []byte, []byte) {
	buf := make([]byte, 2048)
	copy(buf[rxHeadroom:], frame)
	v, _, off, n := p.ProcessAt(buf, rxHeadroom, len(frame), in, t0)
	return v, buf[off : off+n], buf[rxHeadroom : rxHeadroom+len(frame)]
}

// TestTunnelTooBigNoDFCountedOnce: a packet too big for its tunnel and without DF, that the
// director does not fragment (it has IP options), is dropped as too_big_no_df, and counted only
// so; it was also counted as too_big, whose ICMP error it does not get (two counters for one
// packet). (Without options it is fragmented: TestTunnelFragmentsNoDF.)
func TestTunnelTooBigNoDFCountedOnce(t *testing.T) {
	p := tunEnv(t)
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80, opts: true}
	if v, _, _ := processCopy(p, syn(c).frame(t), 0); v != VerdictTX {
		t.Fatalf("SYN: %s", vname(v))
	}
	big := c.seg("PA", 1001, 5001, 1500-44).frame(t)
	big[14+6] &^= 0x40 // DF off
	header.IPv4(big[14:]).FillChecksum()
	total := counterTotal(p.c)
	v, _, after := processCopy(p, big, 0)
	if v != VerdictDrop || p.c.drops[DropTooBigNoDF] != 1 || p.c.drops[DropTooBig] != 0 || counterTotal(p.c) != total+1 || p.c.icmpSent != 0 {
		t.Errorf("%s, too_big_no_df %d, too_big %d, %d counters moved, icmp_sent %d; want one drop, too_big_no_df",
			vname(v), p.c.drops[DropTooBigNoDF], p.c.drops[DropTooBig], counterTotal(p.c)-total, p.c.icmpSent)
	}
	if !bytes.Equal(after, big) {
		t.Error("the dropped frame was modified")
	}
}

// TestTunnelICMPErrorTooBigNotAnswered: an ICMP error of a tunnel connection too big for the
// tunnel is dropped (too_big); it was answered with an ICMP error, which no host may send about an
// ICMP error (RFC 1122 3.2.2, RFC 4443 2.4).
func TestTunnelICMPErrorTooBigNotAnswered(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := tunEnv(t)
		c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
		e := icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: vip4, mtu: 1280}
		hl := 20
		if v6 {
			c.sip, c.dip, e.sip, e.dip, hl = cip6, vip6, rtr6, vip6, 40
		}
		if v, _, _ := processCopy(p, syn(c).frame(t), 0); v != VerdictTX {
			t.Fatalf("v6=%v: SYN: %s", v6, vname(v))
		}
		// What the server sent the client directly, quoted whole: an error of 1488 (1508) bytes.
		reply := pk{src: port1MAC, dst: cliMAC, sip: c.dip, dip: c.sip, proto: tcp, sport: 80, dport: 40000}.seg("PA", 5001, 1001, 1460-hl)
		e.quote = reply.frame(t)[14:]
		f := e.frame(t)
		if !v6 {
			f[14+6] |= 0x40 // DF
			header.IPv4(f[14:]).FillChecksum()
		}
		v, _, after := processCopy(p, f, 0)
		if v != VerdictDrop || p.c.drops[DropTooBig] != 1 || p.c.icmpSent != 0 || !bytes.Equal(after, f) {
			t.Errorf("v6=%v: %s, too_big %d, icmp_sent %d, frame unchanged %v; want a too_big drop, nothing sent",
				v6, vname(v), p.c.drops[DropTooBig], p.c.icmpSent, bytes.Equal(after, f))
		}
	}
}

// TestNAT64UDPDatagramShorterThanPayload: a UDP datagram that ends before its IP payload (trailing
// bytes after its UDP length) is translated with its checksum over the datagram, as the receiver
// checks it; it was computed over the whole IP payload, with the payload's length, and the receiver
// dropped the datagram. Both ways.
func TestNAT64UDPDatagramShorterThanPayload(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	applyServices(t, p, newIDs(), Service{Key: ServiceKey{Proto: udp, Addr: vip6, Port: 53}, Scheduler: "rr",
		LocalAddrs: []netip.Addr{lip4}, RealServers: []RealServer{{Addr: rs4a, Port: 5353, Forward: ForwardFullNAT, Weight: 1}}})
	trail := func(f []byte, v6 bool) []byte { // one byte after the datagram, inside the IP payload
		f = append(f, 0x5a)
		if v6 {
			binary.BigEndian.PutUint16(f[14+4:], binary.BigEndian.Uint16(f[14+4:])+1)
		} else {
			binary.BigEndian.PutUint16(f[14+2:], binary.BigEndian.Uint16(f[14+2:])+1)
			header.IPv4(f[14:]).FillChecksum()
		}
		return f
	}
	v, out, _ := processCopy(p, trail(c2vU6.frame(t), true), 0)
	if v != VerdictTX {
		t.Fatalf("request: %s (%s)", vname(v), nonZero(p.c))
	}
	checkFrameChecksums(t, out)
	lport := parsed(t, out).SrcPort
	r := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: udp, sport: 5353, dport: lport, payload: 20}
	if v, out, _ = processCopy(p, trail(r.frame(t), false), 1); v != VerdictTX {
		t.Fatalf("reply: %s (%s)", vname(v), nonZero(p.c))
	}
	checkFrameChecksums(t, out)
}

// TestNeighMissLeavesFrame: a packet whose next hop is not resolved is dropped as it came. Three
// paths rewrote it first: an ICMP error of a NAT64 connection (translated, then the client's MAC
// missing), a SYN-proxied server's SYN/ACK (overwritten with the replay, then the server's MAC
// missing), and its RST (overwritten with the client's reset, then the client's MAC missing).
func TestNeighMissLeavesFrame(t *testing.T) {
	check := func(t *testing.T, p *Pipeline, frame []byte, in int) {
		t.Helper()
		misses := p.c.drops[DropNeighMiss]
		v, _, after := processCopy(p, frame, in)
		if v != VerdictDrop || p.c.drops[DropNeighMiss] != misses+1 {
			t.Errorf("%s (%s), want a neigh_miss drop", vname(v), nonZero(p.c))
		}
		if !bytes.Equal(after, frame) {
			t.Errorf("the dropped frame was modified:\n got %x\nwant %x", after, frame)
		}
	}
	t.Run("nat64_icmp", func(t *testing.T) {
		e := newTestEnv(t, 1024)
		p := e.p
		applyServices(t, p, newIDs(), Service{Key: ServiceKey{Proto: tcp, Addr: vip6, Port: 80}, Scheduler: "rr",
			LocalAddrs: []netip.Addr{lip4}, RealServers: []RealServer{{Addr: rs4a, Port: 8080, Forward: ForwardFullNAT, Weight: 1}}})
		v, out, _ := processCopy(p, syn(c2v6).frame(t), 0)
		if v != VerdictTX {
			t.Fatalf("SYN: %s", vname(v))
		}
		e.neigh.Set(0, cip6, cliMAC, false)
		check(t, p, icmpErr{src: rtr1MAC, dst: port1MAC, sip: rtr4RS, dip: lip4, typ: 3, code: 3, quote: out[14:]}.frame(t), 1)
	})
	c := spCases()[0] // nat4
	for _, tc := range []struct {
		name  string
		flags string
		stale func(n *Neighbours)
	}{
		{"synproxy_replay", "SA", func(n *Neighbours) { n.Set(1, c.rs, c.rsMAC, false) }},
		{"synproxy_reset", "RA", func(n *Neighbours) { n.Set(0, c.client, cliMAC, false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newSPPipeline(t, 0, 1)
			c.handshake(t, p, t0)
			tc.stale(p.neigh)
			check(t, p, c.fromServer(t, 0, tc.flags, c.serverISN, c.clientISN+1, 65535, []layers.TCPOption{optMSS(1460)}, nil), 1)
		})
	}
}
