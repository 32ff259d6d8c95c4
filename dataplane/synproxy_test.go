package dataplane

// The SYN proxy through the pipeline: every segment of the handshake, the replay and the
// translated segments after it, built with gopacket (with TCP options) and checked field by field
// on the way out, checksums by an independent sum.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/synproxy"
	"github.com/xdpvs/xdpvs/toa"
)

var (
	spLIP4 = netip.MustParseAddr("198.18.1.100")
	spLIP6 = netip.MustParseAddr("2001:2:0:1::100")
)

// spSnapshot: SYN-proxied services, NAT and FULLNAT, IPv4 and IPv6, one real server each; the
// last one is not proxied.
func spSnapshot() *Snapshot {
	svc := func(vip netip.Addr, port uint16, rs netip.Addr, rport uint16, m ForwardMethod, lips ...netip.Addr) Service {
		return Service{Key: ServiceKey{Proto: header.ProtocolTCP, Addr: vip, Port: port}, Scheduler: "rr", Flags: ServiceSynProxy,
			LocalAddrs: lips, RealServers: []RealServer{{Addr: rs, Port: rport, Forward: m, Weight: 1}}}
	}
	return &Snapshot{Services: []Service{
		svc(vip4, 80, rs4a, 8080, ForwardMasq),
		svc(vip6, 80, rs6a, 8080, ForwardMasq),
		svc(vip4, 90, rs4b, 8090, ForwardFullNAT, spLIP4),
		svc(vip6, 90, rs6b, 8090, ForwardFullNAT, spLIP6),
		svc(vip6, 100, rs4b, 8100, ForwardFullNAT, spLIP4), // NAT64
	}}
}

func newSPPipeline(tb testing.TB, id, workers int) *Pipeline {
	tb.Helper()
	p := newPipeline(id, workers, testPorts, newTestNeighbours(), 1024, t0)
	p.setConfig(mustCompile(tb, spSnapshot()))
	return p
}

// tcpSeg is one TCP segment with options, as a frame.
type tcpSeg struct {
	src, dst     header.MAC
	sip, dip     netip.Addr
	sport, dport uint16
	flags        string // of "SAFRP"
	seq, ack     uint32
	win          uint16
	opts         []layers.TCPOption
	payload      []byte
}

func (s tcpSeg) frame(tb testing.TB) []byte {
	tb.Helper()
	var ls []gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	if s.sip.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
			SrcIP: ipOf(s.sip), DstIP: ipOf(s.dip)}
		ls, netl = append(ls, ip), ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: ipOf(s.sip), DstIP: ipOf(s.dip)}
		ls, netl = append(ls, ip), ip
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack,
		Window: s.win, SYN: strings.Contains(s.flags, "S"), ACK: strings.Contains(s.flags, "A"),
		FIN: strings.Contains(s.flags, "F"), RST: strings.Contains(s.flags, "R"), PSH: strings.Contains(s.flags, "P"),
		Options: s.opts}
	_ = tcp.SetNetworkLayerForChecksum(netl)
	ls = append(ls, tcp, gopacket.Payload(s.payload))
	return serialize(tb, append(ethOf(s.src, s.dst, s.sip.Is6(), 0), ls...)...)
}

func optMSS(v uint16) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, v)}
}
func optWS(v uint8) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{v}}
}
func optSACKOK() layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}
}
func optTS(val, ecr uint32) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10,
		OptionData: binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, val), ecr)}
}
func optSACK(edges ...uint32) layers.TCPOption {
	var b []byte
	for _, e := range edges {
		b = binary.BigEndian.AppendUint32(b, e)
	}
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(b)), OptionData: b}
}
func optNop() layers.TCPOption { return layers.TCPOption{OptionType: layers.TCPOptionKindNop} }

// outSeg is a decoded output frame.
type outSeg struct {
	eth      *layers.Ethernet
	src, dst netip.Addr
	tcp      *layers.TCP
}

func decodeSeg(tb testing.TB, frame []byte) outSeg {
	tb.Helper()
	checkFrameChecksums(tb, frame)
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	var o outSeg
	o.eth, _ = pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if l, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		o.src, _ = netip.AddrFromSlice(l.SrcIP.To4())
		o.dst, _ = netip.AddrFromSlice(l.DstIP.To4())
	} else if l, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		o.src, _ = netip.AddrFromSlice(l.SrcIP)
		o.dst, _ = netip.AddrFromSlice(l.DstIP)
	}
	o.tcp, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if o.eth == nil || o.tcp == nil || !o.src.IsValid() {
		tb.Fatalf("output is not an Ethernet TCP frame: %v", pkt)
	}
	return o
}

func (o outSeg) opt(kind layers.TCPOptionKind) []byte {
	for _, x := range o.tcp.Options {
		if x.OptionType == kind {
			return append([]byte{}, x.OptionData...)
		}
	}
	return nil
}

func (o outSeg) ts() (val, ecr uint32, ok bool) {
	b := o.opt(layers.TCPOptionKindTimestamps)
	if len(b) != 8 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), true
}

func (o outSeg) flags() string {
	s := ""
	for _, f := range []struct {
		on bool
		c  string
	}{{o.tcp.SYN, "S"}, {o.tcp.ACK, "A"}, {o.tcp.FIN, "F"}, {o.tcp.RST, "R"}, {o.tcp.PSH, "P"}} {
		if f.on {
			s += f.c
		}
	}
	return s
}

// spRun processes frame on port in with headroom and tailroom, as a worker does.
func spRun(p *Pipeline, frame []byte, in int, now int64) (Verdict, int, []byte) {
	buf := make([]byte, 2048)
	const off = 256
	copy(buf[off:], frame)
	v, port, o, n := p.ProcessAt(buf, off, len(frame), in, now)
	return v, port, buf[o : o+n]
}

func mustSPTX(tb testing.TB, p *Pipeline, frame []byte, in, wantPort int, now int64) outSeg {
	tb.Helper()
	v, port, out := spRun(p, frame, in, now)
	if v != VerdictTX || port != wantPort {
		tb.Fatalf("Process = %s, %d; want TX on port %d (%s)", vname(v), port, wantPort, nonZero(p.c))
	}
	return decodeSeg(tb, out)
}

func mustSPDrop(tb testing.TB, p *Pipeline, frame []byte, in int, now int64, r DropReason) {
	tb.Helper()
	before := p.c.drops[r]
	if v, port, _ := spRun(p, frame, in, now); v != VerdictDrop || p.c.drops[r] != before+1 {
		tb.Fatalf("Process = %s, %d; want a drop for %s (%s)", vname(v), port, r, nonZero(p.c))
	}
}

// spCase is one SYN-proxied service as the client and the real server see it.
type spCase struct {
	name          string
	client, vip   netip.Addr
	vport         uint16
	rs            netip.Addr
	rport         uint16
	rsMAC         header.MAC
	lip           netip.Addr // FULLNAT
	mss, synMSS   uint16     // our SYN/ACK's MSS; the MSS the SYN to the server carries
	clientMSS     uint16
	v6, fullnat   bool
	serverISN     uint32
	clientISN     uint32
	clientWS, rws uint8
}

func spCases() []spCase {
	return []spCase{
		{name: "nat4", client: cip4, vip: vip4, vport: 80, rs: rs4a, rport: 8080, rsMAC: rs1MAC, mss: 1460, synMSS: 1460, clientMSS: 1460,
			serverISN: 0xfffffff0, clientISN: 0x10000000, clientWS: 7, rws: 9},
		{name: "nat6", client: cip6, vip: vip6, vport: 80, rs: rs6a, rport: 8080, rsMAC: rs1MAC, mss: 1440, synMSS: 1440, clientMSS: 1440, v6: true,
			serverISN: 0x7ffffff0, clientISN: 0xfffffffe, clientWS: 2, rws: 7},
		{name: "fullnat4", client: cip4, vip: vip4, vport: 90, rs: rs4b, rport: 8090, rsMAC: rs2MAC, lip: spLIP4, fullnat: true,
			mss: 1460 - toa.Size4, synMSS: 1452, clientMSS: 1455, serverISN: 12345, clientISN: 0xffffffff, clientWS: 7, rws: 7},
		{name: "fullnat6", client: cip6, vip: vip6, vport: 90, rs: rs6b, rport: 8090, rsMAC: rs2MAC, lip: spLIP6, fullnat: true, v6: true,
			mss: 1440 - toa.Size6, synMSS: 1440, clientMSS: 1440, serverISN: 1, clientISN: 77, clientWS: 14, rws: 0},
		{name: "nat64", client: cip6, vip: vip6, vport: 100, rs: rs4b, rport: 8100, rsMAC: rs2MAC, lip: spLIP4, fullnat: true, v6: true,
			mss: 1440 - toa.Size6, synMSS: 1440, clientMSS: 1440, serverISN: 0xffffff00, clientISN: 5, clientWS: 7, rws: 8},
	}
}

// fromClient is a segment of the client's connection to the service.
func (c spCase) fromClient(tb testing.TB, flags string, seq, ack uint32, opts []layers.TCPOption, payload []byte) []byte {
	return tcpSeg{src: cliMAC, dst: port0MAC, sip: c.client, dip: c.vip, sport: 40000, dport: c.vport, flags: flags,
		seq: seq, ack: ack, win: 502, opts: opts, payload: payload}.frame(tb)
}

// fromServer is a real server's segment toward the client's address (NAT) or the local address
// and port the director chose (FULLNAT).
func (c spCase) fromServer(tb testing.TB, lport uint16, flags string, seq, ack uint32, win uint16, opts []layers.TCPOption, payload []byte) []byte {
	dst, dport := c.client, uint16(40000)
	if c.fullnat {
		dst, dport = c.lip, lport
	}
	return tcpSeg{src: c.rsMAC, dst: port1MAC, sip: c.rs, dip: dst, sport: c.rport, dport: dport, flags: flags,
		seq: seq, ack: ack, win: win, opts: opts, payload: payload}.frame(tb)
}

// handshake drives a client SYN and its cookie ACK through p and returns our SYN/ACK and the SYN
// that went to the real server.
func (c spCase) handshake(t testing.TB, p *Pipeline, now int64) (synack, syn outSeg) {
	t.Helper()
	synOpts := []layers.TCPOption{optMSS(c.clientMSS), optSACKOK(), optTS(5000, 0), optNop(), optWS(c.clientWS)}
	synack = mustSPTX(t, p, c.fromClient(t, "S", c.clientISN, 0, synOpts, nil), 0, 0, now)
	k := synack.tcp.Seq
	v, _, _ := synack.ts()
	ack := c.fromClient(t, "A", c.clientISN+1, k+1, []layers.TCPOption{optNop(), optNop(), optTS(5001, v)}, nil)
	syn = mustSPTX(t, p, ack, 0, 1, now)
	return synack, syn
}

func TestSynProxyHandshake(t *testing.T) {
	for _, c := range spCases() {
		t.Run(c.name, func(t *testing.T) {
			p := newSPPipeline(t, 0, 1)
			synack, syn := c.handshake(t, p, t0)

			// Our SYN/ACK: back to the client, from the VIP, nothing kept.
			if synack.eth.DstMAC.String() != hw(cliMAC).String() || synack.eth.SrcMAC.String() != hw(port0MAC).String() {
				t.Errorf("SYN/ACK MACs %v -> %v", synack.eth.SrcMAC, synack.eth.DstMAC)
			}
			if synack.src != c.vip || synack.dst != c.client || synack.tcp.SrcPort != layers.TCPPort(c.vport) || synack.tcp.DstPort != 40000 {
				t.Errorf("SYN/ACK %v:%d -> %v:%d", synack.src, synack.tcp.SrcPort, synack.dst, synack.tcp.DstPort)
			}
			if synack.flags() != "SA" || synack.tcp.Ack != c.clientISN+1 {
				t.Errorf("SYN/ACK flags %s ack %#x", synack.flags(), synack.tcp.Ack)
			}
			if m := synack.opt(layers.TCPOptionKindMSS); len(m) != 2 || binary.BigEndian.Uint16(m) != c.mss {
				t.Errorf("SYN/ACK MSS %x, want %d", m, c.mss)
			}
			if ws := synack.opt(layers.TCPOptionKindWindowScale); len(ws) != 1 || ws[0] != synproxy.DefaultWindowScale {
				t.Errorf("SYN/ACK window scale %v", ws)
			}
			if _, ecr, ok := synack.ts(); !ok || ecr != 5000 {
				t.Errorf("SYN/ACK timestamps: ecr %d ok %v", ecr, ok)
			}
			if synack.opt(layers.TCPOptionKindSACKPermitted) == nil {
				t.Error("SYN/ACK without SACK-permitted")
			}
			k := synack.tcp.Seq
			v, _, _ := synack.ts()

			// The SYN to the real server: the client's ISN and options.
			wantSrc, lport := c.client, uint16(40000)
			if c.fullnat {
				wantSrc, lport = c.lip, uint16(syn.tcp.SrcPort)
			}
			if syn.dst != c.rs || syn.tcp.DstPort != layers.TCPPort(c.rport) || syn.src != wantSrc || syn.eth.DstMAC.String() != hw(c.rsMAC).String() {
				t.Errorf("SYN %v:%d -> %v:%d via %v", syn.src, syn.tcp.SrcPort, syn.dst, syn.tcp.DstPort, syn.eth.DstMAC)
			}
			if syn.flags() != "S" || syn.tcp.Seq != c.clientISN || uint32(syn.tcp.Window) != min(uint32(502)<<c.clientWS, 0xffff) {
				t.Errorf("SYN flags %s seq %#x window %d", syn.flags(), syn.tcp.Seq, syn.tcp.Window)
			}
			if m := syn.opt(layers.TCPOptionKindMSS); len(m) != 2 || binary.BigEndian.Uint16(m) != c.synMSS {
				t.Errorf("SYN MSS %x, want %d", m, c.synMSS)
			}
			if ws := syn.opt(layers.TCPOptionKindWindowScale); len(ws) != 1 || ws[0] != c.clientWS {
				t.Errorf("SYN window scale %v, want %d", ws, c.clientWS)
			}
			if val, ecr, ok := syn.ts(); !ok || val != 5001 || ecr != 0 {
				t.Errorf("SYN timestamps %d %d %v", val, ecr, ok)
			}
			if p.table.Len() != 1 {
				t.Fatalf("%d connections after the cookie ACK", p.table.Len())
			}
			var e *conntrack.Entry[connVal]
			p.table.Range(func(_ uint32, x *conntrack.Entry[connVal]) bool { e = x; return false })
			if e.State != conntrack.StateSynRecv || e.Value.sp != spWaiting {
				t.Errorf("connection state %v phase %d", e.State, e.Value.sp)
			}

			// The client's request while the server has not answered: stored, then held.
			req := bytes.Repeat([]byte("GET /x "), 20)
			mustSPDrop(t, p, c.fromClient(t, "PA", c.clientISN+1, k+1, []layers.TCPOption{optNop(), optNop(), optTS(5002, v)}, req), 0, t0, DropSynProxyHeld)
			mustSPDrop(t, p, c.fromClient(t, "PA", c.clientISN+1+uint32(len(req)), k+1, []layers.TCPOption{optNop(), optNop(), optTS(5002, v)}, []byte("more")), 0, t0, DropSynProxyHeld)
			if p.c.sp.stored != 1 {
				t.Errorf("stored %d, want 1", p.c.sp.stored)
			}

			// The server's SYN/ACK becomes the replay of the request, in the server's numbers, and the
			// slot is freed; a retransmitted SYN/ACK (the replay was lost) is answered with the ACK that
			// completes the server's handshake (the request comes again from the client, unacknowledged).
			s := c.serverISN
			synackOpts := []layers.TCPOption{optMSS(1400), optSACKOK(), optTS(90000, 5001), optNop(), optWS(c.rws)}
			for i := range 2 {
				r := mustSPTX(t, p, c.fromServer(t, lport, "SA", s, c.clientISN+1, 65160, synackOpts, nil), 1, 1, t0)
				wantFlags, wantPayload, wantTSval := "AP", req, uint32(5002)
				if i == 1 {
					wantFlags, wantPayload, wantTSval = "A", nil, 5001
				}
				if r.dst != c.rs || r.src != wantSrc || r.tcp.SrcPort != layers.TCPPort(lport) || r.flags() != wantFlags {
					t.Errorf("answer %d: %v:%d -> %v flags %s", i, r.src, r.tcp.SrcPort, r.dst, r.flags())
				}
				if r.tcp.Seq != c.clientISN+1 || r.tcp.Ack != s+1 || !bytes.Equal(r.tcp.Payload, wantPayload) {
					t.Errorf("answer %d: seq %#x ack %#x (want %#x %#x), %d bytes", i, r.tcp.Seq, r.tcp.Ack, c.clientISN+1, s+1, len(r.tcp.Payload))
				}
				if val, ecr, _ := r.ts(); val != wantTSval || ecr != 90000 {
					t.Errorf("answer %d: TSval %d TSecr %d, want %d 90000", i, val, ecr, wantTSval)
				}
				if c.fullnat && i == 0 {
					var opts []byte
					for _, o := range r.tcp.Options {
						opts = append(opts, byte(o.OptionType))
						if o.OptionType > 1 {
							opts = append(append(opts, o.OptionLength), o.OptionData...)
						}
					}
					if a, port, ok := toa.Decode(opts); !ok || a.Netip() != c.client || port != 40000 {
						t.Errorf("replay: TOA %v %d %v", a.Netip(), port, ok)
					}
				}
				if free := len(p.sp.free); free != spSlots {
					t.Errorf("answer %d: %d free slots, want all %d: the replay frees its slot", i, free, spSlots)
				}
			}
			if p.c.sp.handshakes != 1 || p.c.sp.replays != 1 || p.c.sp.reacked != 1 {
				t.Errorf("handshakes %d replays %d reacked %d, want 1 1 1", p.c.sp.handshakes, p.c.sp.replays, p.c.sp.reacked)
			}

			// The server's answer, in the client's numbers: sequence, TSval, window rescaled.
			answer := []byte("HTTP/1.1 200 OK\r\n")
			r := mustSPTX(t, p, c.fromServer(t, lport, "PA", s+1, c.clientISN+1+uint32(len(req)), 1000,
				[]layers.TCPOption{optNop(), optNop(), optTS(90001, 5002)}, answer), 1, 0, t0)
			if r.src != c.vip || r.dst != c.client || r.tcp.SrcPort != layers.TCPPort(c.vport) || r.tcp.DstPort != 40000 {
				t.Errorf("answer %v:%d -> %v:%d", r.src, r.tcp.SrcPort, r.dst, r.tcp.DstPort)
			}
			if r.tcp.Seq != k+1 || r.tcp.Ack != c.clientISN+1+uint32(len(req)) || !bytes.Equal(r.tcp.Payload, answer) {
				t.Errorf("answer seq %#x ack %#x, want %#x", r.tcp.Seq, r.tcp.Ack, k+1)
			}
			if val, ecr, _ := r.ts(); val != v+1 || ecr != 5002 {
				t.Errorf("answer TSval %d TSecr %d, want %d 5002", val, ecr, v+1)
			}
			if want := min(uint32(1000)<<c.rws>>synproxy.DefaultWindowScale, 0xffff); uint32(r.tcp.Window) != want {
				t.Errorf("answer window %d, want %d", r.tcp.Window, want)
			}
			if e.Value.sp != spOn || len(p.sp.free) != spSlots {
				t.Errorf("phase %d, %d free slots after the server's first segment", e.Value.sp, len(p.sp.free))
			}

			// The client's ACK with a SACK block, in the server's numbers.
			a := mustSPTX(t, p, c.fromClient(t, "A", c.clientISN+1+uint32(len(req)), k+1+uint32(len(answer)),
				[]layers.TCPOption{optNop(), optNop(), optTS(5003, v+1), optNop(), optNop(), optSACK(k+100, k+200)}, nil), 0, 1, t0)
			sack := a.opt(layers.TCPOptionKindSACK)
			if a.tcp.Ack != s+1+uint32(len(answer)) || len(sack) != 8 ||
				binary.BigEndian.Uint32(sack) != s+100 || binary.BigEndian.Uint32(sack[4:]) != s+200 {
				t.Errorf("client ACK: ack %#x SACK %x, want %#x and %#x-%#x", a.tcp.Ack, sack, s+1+uint32(len(answer)), s+100, s+200)
			}
			if _, ecr, _ := a.ts(); ecr != 90001 {
				t.Errorf("client ACK TSecr %d, want 90001", ecr)
			}
			if e.State != conntrack.StateEstablished {
				t.Errorf("state %v, want ESTABLISHED", e.State)
			}
		})
	}
}

// TestSynProxyFloodKeepsNoState: SYNs are answered and forged ACKs dropped without a connection
// or a slot being taken.
func TestSynProxyFloodKeepsNoState(t *testing.T) {
	p := newSPPipeline(t, 0, 1)
	c := spCases()[0]
	for i := range 1000 {
		f := tcpSeg{src: cliMAC, dst: port0MAC, sip: c.client, dip: c.vip, sport: uint16(1024 + i), dport: 80, flags: "S",
			seq: uint32(i) * 7919, win: 1024, opts: []layers.TCPOption{optMSS(1460)}}.frame(t)
		if v, port, _ := spRun(p, f, 0, t0); v != VerdictTX || port != 0 {
			t.Fatalf("SYN %d: %s %d", i, vname(v), port)
		}
		ack := tcpSeg{src: cliMAC, dst: port0MAC, sip: c.client, dip: c.vip, sport: uint16(1024 + i), dport: 80, flags: "A",
			seq: uint32(i)*7919 + 1, ack: uint32(i) * 104729, win: 1024}.frame(t)
		mustSPDrop(t, p, ack, 0, t0, DropSynProxyCookie)
	}
	rst := tcpSeg{src: cliMAC, dst: port0MAC, sip: c.client, dip: c.vip, sport: 999, dport: 80, flags: "R", seq: 5}.frame(t)
	mustSPDrop(t, p, rst, 0, t0, DropNoConn)
	if p.table.Len() != 0 || len(p.sp.free) != spSlots {
		t.Errorf("%d connections, %d free slots after the flood", p.table.Len(), len(p.sp.free))
	}
	if p.c.sp.answered != 1000 || p.c.sp.cookie[synproxy.BadCookie] != 1000 || p.c.tx != 1000 {
		t.Errorf("answered %d, bad cookies %d, tx %d", p.c.sp.answered, p.c.sp.cookie[synproxy.BadCookie], p.c.tx)
	}
	// A corrupted SYN is not answered.
	bad := c.fromClient(t, "S", 1, 0, nil, nil)
	bad[14+20+14] ^= 0xff // the window
	mustSPDrop(t, p, bad, 0, t0, DropSynProxySYN)
	if p.c.sp.answer[synproxy.BadChecksum] != 1 {
		t.Errorf("bad-checksum SYNs %d", p.c.sp.answer[synproxy.BadChecksum])
	}
}

// TestSynProxyServerRefuses: a RST from the real server resets the client at once, with the
// sequence number the client expects.
func TestSynProxyServerRefuses(t *testing.T) {
	for _, c := range spCases() {
		t.Run(c.name, func(t *testing.T) {
			p := newSPPipeline(t, 0, 1)
			synack, syn := c.handshake(t, p, t0)
			r := mustSPTX(t, p, c.fromServer(t, uint16(syn.tcp.SrcPort), "RA", 0, c.clientISN+1, 0, nil, nil), 1, 0, t0)
			if r.flags() != "R" || r.tcp.Seq != synack.tcp.Seq+1 || r.src != c.vip || r.dst != c.client ||
				r.tcp.SrcPort != layers.TCPPort(c.vport) || r.tcp.DstPort != 40000 || r.eth.DstMAC.String() != hw(cliMAC).String() {
				t.Errorf("reset %s seq %#x (want %#x) %v:%d -> %v:%d", r.flags(), r.tcp.Seq, synack.tcp.Seq+1, r.src, r.tcp.SrcPort, r.dst, r.tcp.DstPort)
			}
			if p.table.Len() != 0 || len(p.sp.free) != spSlots || p.c.sp.serverRST != 1 {
				t.Errorf("%d connections, %d free slots, %d server resets", p.table.Len(), len(p.sp.free), p.c.sp.serverRST)
			}
			if pool := p.lpools[header.AddrFromNetip(c.lip)]; c.fullnat && pool.size != len(pool.ring) {
				t.Error("local port not returned")
			}
		})
	}
}

// TestSynProxyServerSilent: the SYN goes again after 1, 2 and 4 s; then the client is reset.
func TestSynProxyServerSilent(t *testing.T) {
	for _, c := range spCases() {
		t.Run(c.name, func(t *testing.T) {
			p := newSPPipeline(t, 0, 1)
			synack, syn := c.handshake(t, p, t0)
			want := func(at int64, n int) {
				t.Helper()
				p.table.Expire(at, 0)
				if p.sp.gen.n != n {
					t.Fatalf("at +%dms: %d generated packets, want %d", (at-t0)/1e6, p.sp.gen.n, n)
				}
			}
			// Due 1, 3, 7 and 15 s after the SYN; the wheel's ticks (268 ms) may add up to one each.
			const late = 1100 * 1e6
			for i, at := range []int64{t0 + second, t0 + 3*second, t0 + 7*second} {
				want(at-50*1e6, 0)
				want(at+late, 1)
				f, port := p.sp.gen.frame(0)
				again := decodeSeg(t, f)
				if port != 1 || again.flags() != "S" || again.tcp.Seq != syn.tcp.Seq || again.src != syn.src || again.tcp.SrcPort != syn.tcp.SrcPort ||
					again.dst != c.rs || !bytes.Equal(again.tcp.Contents, syn.tcp.Contents) {
					t.Errorf("retry %d on port %d: %s %v:%d -> %v", i, port, again.flags(), again.src, again.tcp.SrcPort, again.dst)
				}
				p.sp.gen.n = 0
			}
			want(t0+15*second-50*1e6, 0)
			want(t0+15*second+late, 1)
			f, port := p.sp.gen.frame(0)
			r := decodeSeg(t, f)
			if port != 0 || r.flags() != "R" || r.tcp.Seq != synack.tcp.Seq+1 || r.dst != c.client || r.src != c.vip {
				t.Errorf("reset on port %d: %s seq %#x %v -> %v", port, r.flags(), r.tcp.Seq, r.src, r.dst)
			}
			if p.table.Len() != 0 || len(p.sp.free) != spSlots || p.c.sp.timeouts != 1 || p.c.sp.retries != 3 {
				t.Errorf("%d connections, %d free slots, %d timeouts, %d retries", p.table.Len(), len(p.sp.free), p.c.sp.timeouts, p.c.sp.retries)
			}
			var st uint64
			for _, n := range p.c.synTimeouts {
				st += n
			}
			if st != 1 {
				t.Errorf("%d SYN timeouts counted for health checks, want 1", st)
			}
		})
	}
}

// TestSynProxyWorkers: with two workers, a SYN is answered where it arrives; any other segment
// without a connection there may belong to one of its owner, and goes there, where a forged
// cookie is dropped and a valid one opens the connection.
func TestSynProxyWorkers(t *testing.T) {
	c := spCases()[0]
	caddr := header.AddrFromNetip(c.client)
	o := owner(&caddr, 40000, 2)
	other := newSPPipeline(t, 1-o, 2)
	own := newSPPipeline(t, o, 2)
	own.cookies = other.cookies
	synack := mustSPTX(t, other, c.fromClient(t, "S", c.clientISN, 0, []layers.TCPOption{optMSS(1460)}, nil), 0, 0, t0)
	forged := c.fromClient(t, "A", c.clientISN+1, synack.tcp.Seq+2, nil, nil)
	ack := c.fromClient(t, "A", c.clientISN+1, synack.tcp.Seq+1, nil, nil)
	for _, f := range [][]byte{forged, ack} {
		if v, port, _ := spRun(other, f, 0, t0); v != VerdictHandoff || port != o {
			t.Fatalf("ACK on the other worker: %s %d", vname(v), port)
		}
	}
	mustSPDrop(t, own, forged, 0, t0, DropSynProxyCookie)
	if syn := mustSPTX(t, own, ack, 0, 1, t0); syn.flags() != "S" || syn.tcp.Seq != c.clientISN {
		t.Errorf("owner sent %s seq %#x", syn.flags(), syn.tcp.Seq)
	}
	if other.table.Len() != 0 || own.table.Len() != 1 {
		t.Errorf("connections: %d on the other worker, %d on the owner", other.table.Len(), own.table.Len())
	}
}

// TestSynProxyReuse: a client reusing the tuple of a finished connection gets a new one, whether
// its SYN reaches the owner or (with several workers) only its cookie ACK does.
func TestSynProxyReuse(t *testing.T) {
	c := spCases()[0]
	for _, viaACK := range []bool{false, true} {
		p := newSPPipeline(t, 0, 1)
		c.handshake(t, p, t0)
		var e *conntrack.Entry[connVal]
		p.table.Range(func(_ uint32, x *conntrack.Entry[connVal]) bool { e = x; return false })
		e.State = conntrack.StateTimeWait
		syn := c.fromClient(t, "S", c.clientISN+100000, 0, []layers.TCPOption{optMSS(1460)}, nil)
		if !viaACK {
			synack := mustSPTX(t, p, syn, 0, 0, t0+second)
			if synack.flags() != "SA" || p.table.Len() != 0 || p.c.reopened != 1 {
				t.Errorf("SYN on a TIME_WAIT tuple: %s, %d connections, reopened %d", synack.flags(), p.table.Len(), p.c.reopened)
			}
			continue
		}
		other := newSPPipeline(t, 0, 1)
		other.cookies = p.cookies
		synack := mustSPTX(t, other, syn, 0, 0, t0+second)
		s := mustSPTX(t, p, c.fromClient(t, "A", c.clientISN+100001, synack.tcp.Seq+1, nil, nil), 0, 1, t0+second)
		if s.flags() != "S" || s.tcp.Seq != c.clientISN+100000 || p.table.Len() != 1 || p.c.reopened != 1 {
			t.Errorf("cookie ACK on a TIME_WAIT tuple: %s seq %#x, %d connections, reopened %d", s.flags(), s.tcp.Seq, p.table.Len(), p.c.reopened)
		}
	}
}

// TestSynProxyRefusedModes: DR and TUN cannot be SYN-proxied, nor UDP.
func TestSynProxyRefusedModes(t *testing.T) {
	for _, m := range []ForwardMethod{ForwardRoute, ForwardTunnel} {
		s := &Snapshot{Services: []Service{{Key: ServiceKey{Proto: header.ProtocolTCP, Addr: vip4, Port: 80}, Scheduler: "rr",
			Flags: ServiceSynProxy, RealServers: []RealServer{{Addr: rs4a, Port: 80, Forward: m, Weight: 1}}}}}
		if _, _, err := compile(s, nil, newIDs(), 1); err == nil || !strings.Contains(err.Error(), "SYN proxy") {
			t.Errorf("%v: %v", m, err)
		}
	}
	s := &Snapshot{Services: []Service{{Key: ServiceKey{Proto: header.ProtocolUDP, Addr: vip4, Port: 53}, Scheduler: "rr", Flags: ServiceSynProxy}}}
	if _, _, err := compile(s, nil, newIDs(), 1); err == nil {
		t.Error("UDP SYN proxy accepted")
	}
}

// TestSynProxyZeroAllocs: answering, opening, replaying and translating allocate nothing.
func TestSynProxyZeroAllocs(t *testing.T) {
	c := spCases()[2] // FULLNAT: the longest path
	p := newSPPipeline(t, 0, 1)
	buf := make([]byte, 2048)
	run := func(f []byte, in int) (Verdict, int, []byte) {
		copy(buf[256:], f)
		v, port, o, n := p.ProcessAt(buf, 256, len(f), in, t0)
		return v, port, buf[o : o+n]
	}
	syn := c.fromClient(t, "S", c.clientISN, 0, []layers.TCPOption{optMSS(1460), optSACKOK(), optTS(1, 0), optNop(), optWS(7)}, nil)
	if n := testing.AllocsPerRun(200, func() { run(syn, 0) }); n != 0 {
		t.Errorf("answer: %v allocations", n)
	}
	_, _, out := run(syn, 0)
	sa := decodeSeg(t, out)
	tv, _, _ := sa.ts()
	ack := c.fromClient(t, "A", c.clientISN+1, sa.tcp.Seq+1, []layers.TCPOption{optNop(), optNop(), optTS(2, tv)}, nil)
	forged := c.fromClient(t, "A", c.clientISN+1, sa.tcp.Seq+9, []layers.TCPOption{optNop(), optNop(), optTS(2, tv)}, nil)
	if n := testing.AllocsPerRun(200, func() { run(forged, 0) }); n != 0 {
		t.Errorf("forged ACK: %v allocations", n)
	}
	// Opening: each run a new client port, its ACK made from our answer to its SYN.
	var acks [][]byte
	for port := uint16(50000); port < 50002; port++ {
		f := tcpSeg{src: cliMAC, dst: port0MAC, sip: c.client, dip: c.vip, sport: port, dport: c.vport, flags: "S", seq: 9, win: 100,
			opts: []layers.TCPOption{optMSS(1460)}}
		_, _, o := run(f.frame(t), 0)
		f.flags, f.seq, f.ack, f.opts = "A", 10, decodeSeg(t, o).tcp.Seq+1, nil
		acks = append(acks, f.frame(t))
	}
	if n := testing.AllocsPerRun(1, func() {
		if v, _, _ := run(acks[0], 0); v != VerdictTX {
			t.Fatalf("cookie ACK not forwarded (%s)", nonZero(p.c))
		}
		acks = acks[1:]
	}); n != 0 {
		t.Errorf("open: %v allocations", n)
	}
	_, _, out = run(ack, 0)
	lport := binary.BigEndian.Uint16(out[14+20:])
	synackS := c.fromServer(t, lport, "SA", 1000, c.clientISN+1, 65535, []layers.TCPOption{optMSS(1460), optTS(9, 2)}, nil)
	if n := testing.AllocsPerRun(50, func() { run(synackS, 1) }); n != 0 {
		t.Errorf("replay: %v allocations", n)
	}
	data := c.fromServer(t, lport, "A", 1001, c.clientISN+1, 100, []layers.TCPOption{optNop(), optNop(), optTS(10, 2)}, []byte("x"))
	if n := testing.AllocsPerRun(200, func() {
		if v, _, _ := run(data, 1); v != VerdictTX {
			t.Fatalf("server segment not forwarded (%s)", nonZero(p.c))
		}
	}); n != 0 {
		t.Errorf("translate: %v allocations", n)
	}
}

// BenchmarkSynProxy: what one worker's pipeline spends on the SYN proxy, beside the plain
// forwarding of an established NAT packet measured in the same run (see BenchmarkPipeline for the
// method: each frame is copied into a scratch buffer first, the copy included).
//
//	go test -run '^$' -bench BenchmarkSynProxy -benchtime=2s ./dataplane/
//
// flood_syn: SYNs from 65,536 spoofed clients answered with cookies (no state). forged_ack: ACKs
// with bad cookies dropped (one hash each). established: a client segment (100 bytes, with
// timestamps) of an established SYN-proxied connection, translated and forwarded. forward_nat: an
// established NAT segment (100 bytes) of a service without the proxy, the baseline.
func BenchmarkSynProxy(b *testing.B) {
	c := spCases()[0]
	run := func(b *testing.B, p *Pipeline, frames *frameSet, n int, want Verdict) {
		var scratch [2048]byte
		b.ReportAllocs()
		k, i := 0, 0
		for b.Loop() {
			f := frames.get(i)
			copy(scratch[256:], f)
			if v, _, _, _ := p.ProcessAt(scratch[:], 256, len(f), 0, t0); v != want {
				b.Fatalf("Process = %s (%s)", vname(v), nonZero(p.c))
			}
			k++
			if i++; i == n {
				i = 0
			}
		}
		reportPerPacket(b, k)
	}
	const clients = 1 << 16
	spoofed := func(flags string, ack uint32) *frameSet {
		set := newFrameSet(clients, 128)
		for i := range clients {
			a, port := benchClient(i)
			set.set(i, tcpSeg{src: cliMAC, dst: port0MAC, sip: a, dip: c.vip, sport: port, dport: c.vport, flags: flags,
				seq: uint32(i) * 2654435761, ack: ack, win: 1024, opts: []layers.TCPOption{optMSS(1460)}}.frame(b))
		}
		return set
	}
	b.Run("flood_syn", func(b *testing.B) {
		run(b, newSPPipeline(b, 0, 1), spoofed("S", 0), clients, VerdictTX)
	})
	b.Run("forged_ack", func(b *testing.B) {
		run(b, newSPPipeline(b, 0, 1), spoofed("A", 12345), clients, VerdictDrop)
	})
	b.Run("established", func(b *testing.B) {
		p := newSPPipeline(b, 0, 1)
		sa, _ := c.handshake(b, p, t0)
		v, _, _ := sa.ts()
		spRun(p, c.fromServer(b, 0, "SA", 1, c.clientISN+1, 65535, []layers.TCPOption{optMSS(1460), optSACKOK(), optTS(9, 5001), optNop(), optWS(7)}, nil), 1, t0)
		spRun(p, c.fromServer(b, 0, "A", 2, c.clientISN+1, 65535, []layers.TCPOption{optNop(), optNop(), optTS(10, 5001)}, nil), 1, t0)
		set := newFrameSet(1, 256)
		set.set(0, c.fromClient(b, "PA", c.clientISN+1, sa.tcp.Seq+1, []layers.TCPOption{optNop(), optNop(), optTS(5002, v)}, make([]byte, 100)))
		run(b, p, set, 1, VerdictTX)
	})
	b.Run("forward_nat", func(b *testing.B) {
		e := newTestEnv(b, 1024)
		for _, s := range handshake4() {
			mustTX(b, e.p, s.f(b), s.port, t0)
		}
		set := newFrameSet(1, 256)
		set.set(0, dataC(c2v4).frame(b)) // 100 bytes of data, as above
		run(b, e.p, set, 1, VerdictTX)
	})
}

// FuzzSynProxy feeds arbitrary frames to a pipeline of SYN-proxied services holding a connection
// waiting for its server (IPv4 NAT) and an established one (IPv6 FULLNAT), seeded with the
// segments of both handshakes and mutations of them. Every frame moves exactly one counter; a
// dropped frame is unchanged; a transmitted one parses, with valid checksums.
//
//	go test -run '^$' -fuzz=FuzzSynProxy -fuzztime=60s ./dataplane/
func FuzzSynProxy(f *testing.F) {
	cs := spCases()
	env := func(tb testing.TB) (*Pipeline, [][]byte) {
		p := newSPPipeline(tb, 0, 1)
		p.cookies = fuzzCookies(tb)
		var seeds [][]byte
		c := cs[0]
		synOpts := []layers.TCPOption{optMSS(1460), optSACKOK(), optTS(5000, 0), optNop(), optWS(7)}
		syn := c.fromClient(tb, "S", c.clientISN, 0, synOpts, nil)
		sa, _, out := spRun(p, syn, 0, t0)
		if sa != VerdictTX {
			tb.Fatal("SYN not answered")
		}
		k := binary.BigEndian.Uint32(out[14+20+4:])
		ack := c.fromClient(tb, "A", c.clientISN+1, k+1, nil, nil)
		spRun(p, ack, 0, t0)
		seeds = append(seeds, syn, ack, c.fromServer(tb, 0, "SA", 7, c.clientISN+1, 100, synOpts, nil),
			c.fromServer(tb, 0, "RA", 0, c.clientISN+1, 0, nil, nil))
		c = cs[3]
		_, s := c.handshake(tb, p, t0)
		lport := uint16(s.tcp.SrcPort)
		synack := c.fromServer(tb, lport, "SA", 9, c.clientISN+1, 100, synOpts, nil)
		spRun(p, synack, 1, t0)
		data := c.fromServer(tb, lport, "PA", 10, c.clientISN+1, 100, []layers.TCPOption{optNop(), optNop(), optTS(1, 2)}, []byte("abc"))
		spRun(p, data, 1, t0)
		seeds = append(seeds, synack, data, c.fromClient(tb, "A", c.clientISN+1, 5, []layers.TCPOption{optSACK(1, 2, 3, 4)}, nil))
		return p, seeds
	}
	_, seeds := env(f)
	for i, s := range seeds {
		f.Add(s, uint8(i))
		for _, off := range []int{14 + 20 + 13, 14 + 40 + 13, 14 + 20 + 12, 14 + 20 + 22, len(s) - 1} {
			if off < len(s) {
				m := append([]byte(nil), s...)
				m[off] ^= byte(0x11 * (i + 1))
				f.Add(m, uint8(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte, port uint8) {
		p, _ := env(t)
		in := append([]byte(nil), frame...)
		ipOK, l4OK := frameChecksumsOK(in)
		total, tx := counterTotal(p.c), p.c.tx
		v, _, out := spRun(p, frame, int(port&1), t0+second)
		if got := counterTotal(p.c) - total; got != 1 {
			t.Fatalf("Process moved %d counters, want exactly 1 (%s)", got, nonZero(p.c))
		}
		switch v {
		case VerdictDrop:
			if p.c.tx != tx {
				t.Fatal("drop counted as tx")
			}
		case VerdictTX:
			var po header.Packet
			if r := po.Parse(out); r != header.ParseOK || po.Proto != header.ProtocolTCP {
				t.Fatalf("output does not parse as TCP (%v):\n in %x\nout %x", r, in, out)
			}
			gotIP, gotL4 := frameChecksumsOK(out)
			if (ipOK && !gotIP) || (l4OK && !gotL4) {
				t.Fatalf("checksums broken:\n in %x\nout %x", in, out)
			}
		default:
			t.Fatalf("verdict %s", vname(v))
		}
	})
}

// fuzzCookies are cookies with a fixed secret, so that a crasher replays exactly.
func fuzzCookies(tb testing.TB) *synproxy.Cookies {
	cfg := synproxy.DefaultConfig()
	cfg.Rand = fixedRand{}
	c, err := synproxy.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

type fixedRand struct{}

func (fixedRand) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	return len(b), nil
}

// TestSynProxyICMPQuote: an ICMP error about a segment the director sent to the client reaches
// the real server with the segment's sequence number in the server's numbering (and, for
// FULLNAT, the quote and the outer header as the server's side knows them).
func TestSynProxyICMPQuote(t *testing.T) {
	for _, c := range spCases() {
		t.Run(c.name, func(t *testing.T) {
			p := newSPPipeline(t, 0, 1)
			_, syn := c.handshake(t, p, t0)
			lport := uint16(syn.tcp.SrcPort)
			s := c.serverISN
			mustSPTX(t, p, c.fromServer(t, lport, "SA", s, c.clientISN+1, 65535, []layers.TCPOption{optMSS(1460)}, nil), 1, 1, t0)
			_, _, toClient := spRun(p, c.fromServer(t, lport, "PA", s+1, c.clientISN+1, 1000, nil, make([]byte, 1400)), 1, t0)
			hl := 20
			if c.v6 {
				hl = 40
			}
			quote := append([]byte(nil), toClient[14:14+hl+8]...)
			if binary.BigEndian.Uint32(quote[hl+4:]) == s+1 {
				t.Fatal("the segment to the client was not translated")
			}
			rtr := rtr4
			if c.v6 {
				rtr = rtr6
			}
			e := icmpErr{src: cliMAC, dst: port0MAC, sip: rtr, dip: c.vip, mtu: 1400, quote: quote}.frame(t)
			v, port, out := spRun(p, e, 0, t0)
			if v != VerdictTX || port != 1 {
				t.Fatalf("ICMP error: %s %d (%s)", vname(v), port, nonZero(p.c))
			}
			checkFrameChecksums(t, out)
			ohl := 20 // the error reaches the server in the server's family (NAT64: IPv4)
			if out[14]>>4 == 6 {
				ohl = 40
			}
			q := out[14+ohl+8:]
			if seq := binary.BigEndian.Uint32(q[ohl+4:]); seq != s+1 {
				t.Errorf("quoted sequence number %#x, want the server's %#x", seq, s+1)
			}
			if sport := binary.BigEndian.Uint16(q[ohl:]); sport != c.rport {
				t.Errorf("quoted source port %d, want the server's %d", sport, c.rport)
			}
			o := decodeICMPOuter(t, out)
			if want := map[bool]netip.Addr{false: c.client, true: c.lip}[c.fullnat]; o.dst != c.rs || (c.fullnat && o.src != want) {
				t.Errorf("ICMP error %v -> %v, want to %v (from %v for FULLNAT)", o.src, o.dst, c.rs, want)
			}
		})
	}
}

// decodeICMPOuter returns an ICMP error frame's outer addresses.
func decodeICMPOuter(tb testing.TB, frame []byte) (o struct{ src, dst netip.Addr }) {
	tb.Helper()
	var pp header.Packet
	if r := pp.Parse(frame); r != header.ParseOK {
		tb.Fatalf("ICMP error does not parse: %v", r)
	}
	return struct{ src, dst netip.Addr }{pp.Tuple.SrcAddr.Netip(), pp.Tuple.DstAddr.Netip()}
}

// TestSynProxyValidWithoutServer: a valid cookie ACK that finds no available real server is counted
// as a valid cookie but opens nothing (dropped for no_dest); the client may retry.
func TestSynProxyValidWithoutServer(t *testing.T) {
	s := spSnapshot()
	s.Services[0].RealServers[0].Weight = 0
	p := newPipeline(0, 1, testPorts, newTestNeighbours(), 1024, t0)
	p.setConfig(mustCompile(t, s))
	c := spCases()[0]
	sa := mustSPTX(t, p, c.fromClient(t, "S", c.clientISN, 0, []layers.TCPOption{optMSS(1460)}, nil), 0, 0, t0)
	mustSPDrop(t, p, c.fromClient(t, "A", c.clientISN+1, sa.tcp.Seq+1, nil, nil), 0, t0, DropNoDest)
	if p.c.sp.cookie[synproxy.OK] != 1 || p.c.sp.opened != 0 || p.table.Len() != 0 || len(p.sp.free) != spSlots {
		t.Errorf("valid %d, opened %d, %d connections, %d free slots", p.c.sp.cookie[synproxy.OK], p.c.sp.opened, p.table.Len(), len(p.sp.free))
	}
}

// handshakeFrom is handshake from client port sport; it returns the SYN that went to the server.
func (c spCase) handshakeFrom(t testing.TB, p *Pipeline, sport uint16, now int64) outSeg {
	t.Helper()
	from := func(flags string, seq, ack uint32, opts []layers.TCPOption) []byte {
		return tcpSeg{src: cliMAC, dst: port0MAC, sip: c.client, dip: c.vip, sport: sport, dport: c.vport, flags: flags,
			seq: seq, ack: ack, win: 502, opts: opts}.frame(t)
	}
	synOpts := []layers.TCPOption{optMSS(c.clientMSS), optSACKOK(), optTS(5000, 0), optNop(), optWS(c.clientWS)}
	synack := mustSPTX(t, p, from("S", c.clientISN, 0, synOpts), 0, 0, now)
	v, _, _ := synack.ts()
	return mustSPTX(t, p, from("A", c.clientISN+1, synack.tcp.Seq+1, []layers.TCPOption{optNop(), optNop(), optTS(5001, v)}), 0, 1, now)
}

// TestSynProxyIdleHandshakesFreeSlots: clients that complete their handshake and then send
// nothing (the server waiting for a request: it never speaks first) hold no pending slot once the
// server's SYN/ACK replayed their ACK, so twice as many of them as there are slots all get in.
// Before, a slot was freed only when the server spoke after its SYN/ACK, and the 1,025th idle
// client was dropped (synproxy_no_slot).
func TestSynProxyIdleHandshakesFreeSlots(t *testing.T) {
	c := spCases()[0] // nat4
	p := newPipeline(0, 1, testPorts, newTestNeighbours(), 4*spSlots, t0)
	p.setConfig(mustCompile(t, spSnapshot()))
	for i := range 2 * spSlots {
		sport := uint16(20000 + i)
		syn := c.handshakeFrom(t, p, sport, t0)
		mustSPTX(t, p, tcpSeg{src: c.rsMAC, dst: port1MAC, sip: c.rs, dip: c.client, sport: c.rport, dport: sport, flags: "SA",
			seq: c.serverISN, ack: syn.tcp.Seq + 1, win: 65160, opts: []layers.TCPOption{optTS(90000, 5001)}}.frame(t), 1, 1, t0)
	}
	if free := len(p.sp.free); free != spSlots || p.c.drops[DropSynProxyNoSlot] != 0 || p.table.Len() != 2*spSlots {
		t.Fatalf("%d free slots, %d synproxy_no_slot drops, %d connections", free, p.c.drops[DropSynProxyNoSlot], p.table.Len())
	}
}

// TestSynProxySourceLimit: one source holds at most spSlotsPerSource of a worker's pending slots
// (its handshakes toward a silent server); beyond, its cookie ACKs are dropped and counted, while
// another source still gets in; as its handshakes time out, the source gets slots again.
func TestSynProxySourceLimit(t *testing.T) {
	c4, c6 := spCases()[0], spCases()[1]
	p := newSPPipeline(t, 0, 1)
	for i := range spSlotsPerSource {
		c4.handshakeFrom(t, p, uint16(20000+i), t0)
	}
	from := func(flags string, seq, ack uint32, opts []layers.TCPOption) []byte {
		return tcpSeg{src: cliMAC, dst: port0MAC, sip: c4.client, dip: c4.vip, sport: 30000, dport: c4.vport, flags: flags,
			seq: seq, ack: ack, win: 502, opts: opts}.frame(t)
	}
	synack := mustSPTX(t, p, from("S", 1, 0, nil), 0, 0, t0)
	mustSPDrop(t, p, from("A", 2, synack.tcp.Seq+1, nil), 0, t0, DropSynProxySourceLimit)
	c6.handshakeFrom(t, p, 20000, t0) // another source
	// The silent server's handshakes time out (resets after 15 s), and the slots come back.
	for at := t0; at <= t0+16*second; at += second / 4 {
		p.table.Expire(at, 0)
		p.sp.gen.n = 0
	}
	if free := len(p.sp.free); free != spSlots {
		t.Fatalf("%d free slots after the timeouts, want %d", free, spSlots)
	}
	c4.handshakeFrom(t, p, 30001, t0+16*second)
}
