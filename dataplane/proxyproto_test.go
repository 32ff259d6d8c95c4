package dataplane

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/dataplane/syncrec"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
)

var lip6 = netip.MustParseAddr("2001:2:0:9::1")

// ppCase is a FULLNAT --proxy-protocol service of one family pair, and the header its client's
// stream must start with.
type ppCase struct {
	name          string
	v             ProxyProtocol
	cip, vip, rip netip.Addr
	lip           netip.Addr
	want          string // the header, byte for byte
}

var ppCases = []ppCase{
	{"v1_ipv4", ProxyProtocolV1, cip4, vip4, rs4a, lip4, "PROXY TCP4 198.18.0.2 198.18.2.1 40000 80\r\n"},
	{"v1_ipv6", ProxyProtocolV1, cip6, vip6, rs6a, lip6, "PROXY TCP6 2001:2::2 2001:2:0:2::1 40000 80\r\n"},
	{"v1_nat64", ProxyProtocolV1, cip6, vip6, rs4a, lip4, "PROXY TCP6 2001:2::2 2001:2:0:2::1 40000 80\r\n"},
	{"v2_ipv4", ProxyProtocolV2, cip4, vip4, rs4a, lip4,
		"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc6\x12\x00\x02\xc6\x12\x02\x01\x9c\x40\x00\x50"},
	{"v2_ipv6", ProxyProtocolV2, cip6, vip6, rs6a, lip6,
		"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24" + string(cip6.AsSlice()) + string(vip6.AsSlice()) + "\x9c\x40\x00\x50"},
	{"v2_nat64", ProxyProtocolV2, cip6, vip6, rs4a, lip4,
		"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24" + string(cip6.AsSlice()) + string(vip6.AsSlice()) + "\x9c\x40\x00\x50"},
}

func (c *ppCase) service(proto uint8) Service {
	return Service{Key: ServiceKey{Proto: proto, Addr: c.vip, Port: 80}, Scheduler: "rr", LocalAddrs: []netip.Addr{c.lip},
		RealServers: []RealServer{{Addr: c.rip, Port: 8080, Forward: ForwardFullNAT, Weight: 1}}, ProxyProtocol: c.v}
}

// ppSend processes in (with headroom and tailroom) on port in and returns the frame sent, its
// checksums verified, and its decode.
func ppSend(t *testing.T, p *Pipeline, f []byte, in int) ([]byte, gopacket.Packet) {
	t.Helper()
	buf, off := withHeadroom(f)
	v, _, noff, n := p.ProcessAt(buf, off, len(f), in, t0)
	if v != VerdictTX {
		t.Fatalf("Process = %s (counters: %s)", vname(v), nonZero(p.c))
	}
	out := buf[noff : noff+n]
	checkFrameChecksums(t, out)
	return out, gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
}

func tcpOfPacket(t *testing.T, d gopacket.Packet) *layers.TCP {
	t.Helper()
	l, ok := d.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("no TCP in %v", d)
	}
	return l
}

// TestFullNATProxyProtocol: v1 and v2, IPv4, IPv6 and NAT64: the real server's SYN/ACK reaches the
// client with its MSS lowered by the header's length; the handshake's ACK passes as it is; the
// client's first data segment reaches the real server with the header in front of its data, its
// sequence number unchanged, and again, the same, when the client sends it again; the client's
// later numbers are the header's length more, and the server's acknowledgments that much less
// (those inside the header: the client's first byte); checksums hold everywhere.
func TestFullNATProxyProtocol(t *testing.T) {
	for _, c := range ppCases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			p := e.p
			applyServices(t, p, newIDs(), c.service(tcp))
			n := uint32(len(c.want))
			cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: tcp, sport: 40000, dport: 80}
			_, d := ppSend(t, p, syn(cl).frame(t), 0)
			lport := uint16(tcpOfPacket(t, d).SrcPort)
			rs := pk{src: rs1MAC, dst: port1MAC, sip: c.rip, dip: c.lip, proto: tcp, sport: 8080, dport: lport}
			_, d = ppSend(t, p, synack(rs).frame(t), 1)
			if sa := tcpOfPacket(t, d); sa.Ack != 1001 || sa.Options[0].OptionType != layers.TCPOptionKindMSS ||
				int(sa.Options[0].OptionData[0])<<8|int(sa.Options[0].OptionData[1]) != 1460-int(n) {
				t.Fatalf("SYN/ACK to the client: ack %d, options %v; want MSS %d", sa.Ack, sa.Options, 1460-n)
			}
			if _, d = ppSend(t, p, ack(cl).frame(t), 0); tcpOfPacket(t, d).Seq != 1001 || len(tcpOfPacket(t, d).Payload) != 0 {
				t.Fatalf("handshake ACK changed: %v", d)
			}
			want := append([]byte(c.want), payloadOf(100)...)
			for i := range 2 { // the first data segment, then its retransmission
				_, d = ppSend(t, p, dataC(cl).frame(t), 0)
				if s := tcpOfPacket(t, d); s.Seq != 1001 || s.Ack != 5001 || !bytes.Equal(s.Payload, want) {
					t.Fatalf("data segment %d to the server: seq %d ack %d payload %q, want seq 1001 and %q", i, s.Seq, s.Ack, s.Payload, want)
				}
			}
			if _, d = ppSend(t, p, cl.seg("PA", 1101, 5001, 10).frame(t), 0); tcpOfPacket(t, d).Seq != 1101+n {
				t.Fatalf("next segment's seq %d, want %d", tcpOfPacket(t, d).Seq, 1101+n)
			}
			for _, a := range [][2]uint32{{1001 + n + 100, 1101}, {1001 + n/2, 1001}, {1001, 1001}} {
				if _, d = ppSend(t, p, rs.seg("A", 5001, a[0], 0).frame(t), 1); tcpOfPacket(t, d).Ack != a[1] {
					t.Fatalf("server's ack %d reached the client as %d, want %d", a[0], tcpOfPacket(t, d).Ack, a[1])
				}
			}
			if p.c.pp[proxyproto.OK] != 2 || p.c.ppResent != 1 || p.c.toa[0] != 0 {
				t.Fatalf("counters: pp ok %d, resent %d, toa %d; want 2, 1, 0", p.c.pp[proxyproto.OK], p.c.ppResent, p.c.toa[0])
			}
		})
	}
}

// TestFullNATProxyProtocolUDP: v2 goes in front of the first datagram of a flow only (DPVS), with
// the UDP family; the later datagrams and the replies pass unchanged; checksums hold.
func TestFullNATProxyProtocolUDP(t *testing.T) {
	for _, c := range ppCases {
		if c.v != ProxyProtocolV2 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			p := e.p
			applyServices(t, p, newIDs(), c.service(udp))
			cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: udp, sport: 40000, dport: 80}
			hdr := []byte(c.want)
			hdr[13] = hdr[13]&0xF0 | 0x02 // DGRAM
			var lport layers.UDPPort
			for i, want := range [][]byte{append(hdr, payloadOf(30)...), []byte(payloadOf(30))} {
				_, d := ppSend(t, p, cl.dgram(30).frame(t), 0)
				u := d.Layer(layers.LayerTypeUDP).(*layers.UDP)
				if !bytes.Equal(u.Payload, want) {
					t.Fatalf("datagram %d: %x, want %x", i, u.Payload, want)
				}
				lport = u.SrcPort
			}
			rs := pk{src: rs1MAC, dst: port1MAC, sip: c.rip, dip: c.lip, proto: udp, sport: 8080, dport: uint16(lport)}
			if _, d := ppSend(t, p, rs.dgram(30).frame(t), 1); !bytes.Equal(d.Layer(layers.LayerTypeUDP).(*layers.UDP).Payload, payloadOf(30)) {
				t.Fatal("reply changed")
			}
		})
	}
}

// TestFullNATProxyProtocolTooBig: a first data segment that cannot take the header within the
// MTU is dropped as it came (proxy_protocol, exceeds_mtu) and leaves the connection as it was: its
// retransmission, smaller, carries the header.
func TestFullNATProxyProtocolTooBig(t *testing.T) {
	c := ppCases[0]
	e := newTestEnv(t, 1024)
	p := e.p
	applyServices(t, p, newIDs(), c.service(tcp))
	cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: tcp, sport: 40000, dport: 80}
	_, d := ppSend(t, p, syn(cl).frame(t), 0)
	rs := pk{src: rs1MAC, dst: port1MAC, sip: c.rip, dip: c.lip, proto: tcp, sport: 8080, dport: uint16(tcpOfPacket(t, d).SrcPort)}
	ppSend(t, p, synack(rs).frame(t), 1)
	f := cl.seg("PA", 1001, 5001, 1460).frame(t)
	buf, off := withHeadroom(f)
	if v, _, _, _ := p.ProcessAt(buf, off, len(f), 0, t0); v != VerdictDrop || p.c.drops[DropProxyProto] != 1 || p.c.pp[proxyproto.ExceedsMTU] != 1 {
		t.Fatalf("oversized first segment: %s (%s)", vname(v), nonZero(p.c))
	}
	if !bytes.Equal(buf[off:off+len(f)], f) {
		t.Fatal("the dropped segment was changed")
	}
	if _, d = ppSend(t, p, dataC(cl).frame(t), 0); !bytes.HasPrefix(tcpOfPacket(t, d).Payload, []byte(c.want)) {
		t.Fatal("the smaller retransmission carries no header")
	}
}

// TestProxyProtocolRefused: v1 on a UDP service is refused with an error.
func TestProxyProtocolRefused(t *testing.T) {
	e := newTestEnv(t, 1024)
	c := ppCases[0]
	for _, s := range []Service{c.service(udp)} {
		if _, _, err := compile(&Snapshot{Services: []Service{s}}, e.p.conf, newIDs(), 1); err == nil {
			t.Errorf("%v accepted", s)
		}
	}
}

// TestProxyProtocolAlloc: a connection with the header, from the SYN to the data segments both
// ways, allocates nothing.
func TestProxyProtocolAlloc(t *testing.T) {
	c := ppCases[1]
	e := newTestEnv(t, 1024)
	p := e.p
	applyServices(t, p, newIDs(), c.service(tcp))
	cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: tcp, sport: 40000, dport: 80}
	synF, dataF := syn(cl).frame(t), dataC(cl).frame(t)
	_, d := ppSend(t, p, synF, 0)
	rs := pk{src: rs1MAC, dst: port1MAC, sip: c.rip, dip: c.lip, proto: tcp, sport: 8080, dport: uint16(tcpOfPacket(t, d).SrcPort)}
	ackF := rs.seg("A", 5001, 1101+uint32(len(c.want)), 0).frame(t)
	buf := make([]byte, 2048)
	run := func(f []byte, in int) {
		copy(buf[256:], f)
		p.ProcessAt(buf, 256, len(f), in, t0)
	}
	if a := testing.AllocsPerRun(200, func() {
		run(synF, 0)
		run(dataF, 0)
		run(ackF, 1)
	}); a != 0 {
		t.Fatalf("%v allocations per connection round", a)
	}
	if p.c.pp[proxyproto.OK] == 0 {
		t.Fatal("no header inserted")
	}
}

// TestSynProxyProxyProtocol: -j with --proxy-protocol, IPv4, IPv6 and NAT64: our SYN/ACK's MSS is
// lowered by the header's length (not TOA's); the client's first request, stored while the server
// had not answered, is replayed with the header in front, at the client's ISN + 1 and the server's
// numbers; the client's later numbers are shifted by the header, the server's by the SYN proxy's
// delta; the server's acknowledgment of the header and the request reaches the client as one of
// the request alone.
func TestSynProxyProxyProtocol(t *testing.T) {
	for _, c := range spCases() {
		if !c.fullnat {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			snap := spSnapshot()
			for i := range snap.Services {
				snap.Services[i].ProxyProtocol = ProxyProtocolV2
			}
			p := newPipeline(0, 1, testPorts, newTestNeighbours(), 1024, t0)
			p.setConfig(mustCompile(t, snap))
			var h [proxyproto.MaxLen]byte
			n := uint32(proxyproto.Encode(h[:], proxyproto.V2, tcp, header.AddrFromNetip(c.client), header.AddrFromNetip(c.vip), 40000, c.vport))
			base := uint16(1460)
			if c.v6 {
				base = 1440
			}
			synack, syn := c.handshake(t, p, t0)
			if m := synack.opt(layers.TCPOptionKindMSS); len(m) != 2 || uint32(m[0])<<8|uint32(m[1]) != uint32(base)-n {
				t.Fatalf("our SYN/ACK's MSS %x, want %d", m, uint32(base)-n)
			}
			k := synack.tcp.Seq
			v, _, _ := synack.ts()
			lport := uint16(syn.tcp.SrcPort)
			req := bytes.Repeat([]byte("GET /x "), 20)
			mustSPDrop(t, p, c.fromClient(t, "PA", c.clientISN+1, k+1, []layers.TCPOption{optNop(), optNop(), optTS(5002, v)}, req), 0, t0, DropSynProxyHeld)
			s := c.serverISN
			r := mustSPTX(t, p, c.fromServer(t, lport, "SA", s, c.clientISN+1, 65160, []layers.TCPOption{optMSS(1400), optSACKOK(), optTS(90000, 5001), optNop(), optWS(c.rws)}, nil), 1, 1, t0)
			if r.tcp.Seq != c.clientISN+1 || r.tcp.Ack != s+1 || !bytes.Equal(r.tcp.Payload, append(h[:n:n], req...)) {
				t.Fatalf("replay: seq %#x ack %#x payload %q; want %#x %#x and the header then the request", r.tcp.Seq, r.tcp.Ack, r.tcp.Payload, c.clientISN+1, s+1)
			}
			// The server acknowledges the header and the request, and sends data.
			back := mustSPTX(t, p, c.fromServer(t, lport, "PA", s+1, c.clientISN+1+n+uint32(len(req)), 500, []layers.TCPOption{optNop(), optNop(), optTS(90001, 5002)}, []byte("HTTP/1.1 200")), 1, 0, t0)
			if back.tcp.Seq != k+1 || back.tcp.Ack != c.clientISN+1+uint32(len(req)) {
				t.Fatalf("server's segment to the client: seq %#x ack %#x; want %#x %#x", back.tcp.Seq, back.tcp.Ack, k+1, c.clientISN+1+uint32(len(req)))
			}
			next := mustSPTX(t, p, c.fromClient(t, "PA", c.clientISN+1+uint32(len(req)), k+13, []layers.TCPOption{optNop(), optNop(), optTS(5003, 90001)}, []byte("more")), 0, 1, t0)
			if next.tcp.Seq != c.clientISN+1+n+uint32(len(req)) || next.tcp.Ack != s+13 || !bytes.Equal(next.tcp.Payload, []byte("more")) {
				t.Fatalf("client's next segment: seq %#x ack %#x %q", next.tcp.Seq, next.tcp.Ack, next.tcp.Payload)
			}
		})
	}
}

// TestSyncProxyProtocolTakeover: a FULLNAT connection with a PROXY protocol header, established
// on director A (the header sent), is imported by director B with where the client's stream
// starts: B shifts the client's later numbers and the server's acknowledgments as A did, and
// sends the header again if the client retransmits its first segment.
func TestSyncProxyProtocolTakeover(t *testing.T) {
	c := ppCases[0]
	a, ringA := newSyncPipeline(t, &Snapshot{Services: []Service{c.service(tcp)}})
	cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: tcp, sport: 40000, dport: 80}
	_, d := ppSend(t, a, syn(cl).frame(t), 0)
	rs := pk{src: rs1MAC, dst: port1MAC, sip: c.rip, dip: c.lip, proto: tcp, sport: 8080, dport: uint16(tcpOfPacket(t, d).SrcPort)}
	ppSend(t, a, synack(rs).frame(t), 1)
	ppSend(t, a, ack(cl).frame(t), 0)
	ppSend(t, a, dataC(cl).frame(t), 0)
	id := mustLookup(t, a, cl)
	a.syncExport(syncrec.KindConn, id, a.table.Entry(id), t0+second)
	recs := exported(t, ringA)
	last := recs[len(recs)-1]
	if last.Flags&(syncrec.FlagPP|syncrec.FlagPPSent) != syncrec.FlagPP|syncrec.FlagPPSent || last.PPAt != 1001 {
		t.Fatalf("record flags %b at %d, want PP, sent, 1001", last.Flags, last.PPAt)
	}
	bs := c.service(tcp)
	bs.LocalAddrs = []netip.Addr{lip4b}
	b, _ := newSyncPipeline(t, &Snapshot{Services: []Service{bs}, StandbyLocalAddrs: []netip.Addr{lip4}})
	b.importRecord(&last, t0+2*second)
	if b.c.sync.imported != 1 {
		t.Fatalf("B imported %d; drops %v", b.c.sync.imported, b.c.sync.importDrops)
	}
	n := uint32(len(c.want))
	if _, d = ppSend(t, b, cl.seg("PA", 1101, 5001, 10).frame(t), 0); tcpOfPacket(t, d).Seq != 1101+n {
		t.Fatalf("B: the client's next segment's seq %d, want %d", tcpOfPacket(t, d).Seq, 1101+n)
	}
	if _, d = ppSend(t, b, rs.seg("A", 5001, 1111+n, 0).frame(t), 1); tcpOfPacket(t, d).Ack != 1111 {
		t.Fatalf("B: the server's ack reached the client as %d, want 1111", tcpOfPacket(t, d).Ack)
	}
	if _, d = ppSend(t, b, dataC(cl).frame(t), 0); !bytes.HasPrefix(tcpOfPacket(t, d).Payload, []byte(c.want)) || b.c.ppResent != 1 {
		t.Fatalf("B: the first segment again: %q, resent %d", tcpOfPacket(t, d).Payload, b.c.ppResent)
	}
}

// TestProxyProtocolICMPQuote: an ICMP error from the real server's side quoting a client segment
// the director sent on (its number shifted by the header) reaches the client quoting the client's
// own number, IPv4, IPv6 and NAT64 (translated between the families).
func TestProxyProtocolICMPQuote(t *testing.T) {
	for _, c := range []ppCase{ppCases[0], ppCases[4], ppCases[2]} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			p := e.p
			applyServices(t, p, newIDs(), c.service(tcp))
			n := uint32(len(c.want))
			cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: tcp, sport: 40000, dport: 80}
			_, d := ppSend(t, p, syn(cl).frame(t), 0)
			rs := pk{src: rs1MAC, dst: port1MAC, sip: c.rip, dip: c.lip, proto: tcp, sport: 8080, dport: uint16(tcpOfPacket(t, d).SrcPort)}
			ppSend(t, p, synack(rs).frame(t), 1)
			ppSend(t, p, ack(cl).frame(t), 0)
			ppSend(t, p, dataC(cl).frame(t), 0)
			sent, d := ppSend(t, p, bigC(cl).frame(t), 0)
			if tcpOfPacket(t, d).Seq != 1101+n {
				t.Fatalf("sent with seq %d, want %d", tcpOfPacket(t, d).Seq, 1101+n)
			}
			rtr := rtr4RS
			if c.rip.Is6() {
				rtr = rtr6RS
			}
			errFrame := icmpErr{src: rtr1MAC, dst: port1MAC, sip: rtr, dip: c.lip, mtu: 1280, quote: sent[14 : 14+80]}.frame(t)
			out, _ := ppSend(t, p, errFrame, 1)
			var pkt header.Packet
			if r := pkt.Parse(out); r != header.ParseOK {
				t.Fatalf("parse: %v", r)
			}
			q, _, ql4, ok := pkt.ParseICMPError(out)
			if !ok || q.SrcAddr.Netip() != c.cip || q.SrcPort != 40000 {
				t.Fatalf("the error quotes %v:%d (%v)", q.SrcAddr, q.SrcPort, ok)
			}
			if seq := header.TCP(out[ql4:]).SequenceNumber(); seq != 1101 {
				t.Fatalf("the client finds seq %d in the error, want its own 1101", seq)
			}
		})
	}
}

// TestProxyProtocolFragments: a PROXY header cannot go into a fragmented datagram (it would change
// the length every fragment's offsets depend on), so the fragments of a flow with the PROXY
// protocol are dropped as frag_unsupported, in order and out of order, in FULLNAT and NAT64; the
// flow's next whole datagram still carries the header.
func TestProxyProtocolFragments(t *testing.T) {
	for _, c := range ppCases {
		if c.v != ProxyProtocolV2 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			p := e.worker(0, 1, 1024)
			applyServices(t, p, newIDs(), c.service(udp))
			s := &fragSim{tb: t, ps: []*Pipeline{p}}
			cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: udp, sport: 40000, dport: 80}
			for i, reverse := range []bool{false, true} {
				frags := fragmentFrame(t, cl.dgram(4<<10).frame(t), 1500, uint32(0x600+i))
				if reverse {
					slices.Reverse(frags)
				}
				for _, f := range frags {
					s.rx(0, f, 0, t0)
				}
			}
			if len(s.sent) != 0 || p.c.drops[DropFragUnsupported] == 0 {
				t.Fatalf("%d fragments sent, %d frag_unsupported (%s)", len(s.sent), p.c.drops[DropFragUnsupported], nonZero(p.c))
			}
			hdr := []byte(c.want)
			hdr[13] = hdr[13]&0xF0 | 0x02 // DGRAM
			_, d := ppSend(t, p, cl.dgram(30).frame(t), 0)
			if u := d.Layer(layers.LayerTypeUDP).(*layers.UDP); !bytes.Equal(u.Payload, append(hdr, payloadOf(30)...)) {
				t.Fatalf("the whole datagram after the fragments: %x, want the header and the payload", u.Payload)
			}
		})
	}
}
