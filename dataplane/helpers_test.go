package dataplane

// Fixtures shared by the pipeline tests, the fuzz target and the benchmarks.
//
// Regeneration recipe: no frame is stored by hand. Every fixture is a pk (or icmpErr) description
// below, serialized at test time with gopacket (SerializeOptions{ComputeChecksums: true,
// FixLengths: true}); an expected output frame is a second description serialized the same way, so
// its checksums are gopacket's full recomputes, never the incremental updates under test. To look
// at the fixtures in Wireshark, run
//
//	go test -run TestPipelineGolden ./dataplane/ -args -write-pcap
//
// which rewrites testdata/pipeline_golden.pcap (each case's input frame, then its output frame).
//
// Topology (198.18.0.0/15 and 2001:2::/48 only, RFC 2544 / RFC 5180 benchmarking space):
//
//	client 198.18.0.2, 2001:2::2 ──port 0 "d0"── xdpvs ──port 1 "d1"── RS 198.18.1.10/.11, 2001:2:0:1::10/::11
//	VIPs 198.18.2.1 (tcp 80, 81, 82, udp 53), 198.18.2.2 (tcp all ports), 2001:2:0:2::1 (tcp 80, udp 53)

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

var (
	port0MAC  = header.MAC{0x02, 0x00, 0x00, 0x00, 0xd0, 0x00}
	port1MAC  = header.MAC{0x02, 0x00, 0x00, 0x00, 0xd1, 0x00}
	cliMAC    = header.MAC{0x02, 0x00, 0x00, 0x00, 0x0c, 0x01} // the client side's next hop (client or its router)
	rtr0MAC   = header.MAC{0x02, 0x00, 0x00, 0x00, 0x0c, 0xfe} // a router on the client side, sending ICMP errors
	rs1MAC    = header.MAC{0x02, 0x00, 0x00, 0x00, 0x01, 0x0a}
	rs2MAC    = header.MAC{0x02, 0x00, 0x00, 0x00, 0x01, 0x0b}
	rtr1MAC   = header.MAC{0x02, 0x00, 0x00, 0x00, 0x01, 0xfe} // a router on the real-server side
	otherMAC  = header.MAC{0x02, 0x00, 0x00, 0x00, 0x0c, 0x02}
	testPorts = []Port{{Name: "d0", Ifindex: 2, MAC: port0MAC}, {Name: "d1", Ifindex: 3, MAC: port1MAC}}

	cip4      = netip.MustParseAddr("198.18.0.2")  // client, resolved
	cip4Unres = netip.MustParseAddr("198.18.0.3")  // client whose MAC is unknown
	cip4NoRt  = netip.MustParseAddr("198.18.3.2")  // client without a route
	rtr4      = netip.MustParseAddr("198.18.0.1")  // client-side router
	rtr4RS    = netip.MustParseAddr("198.18.1.1")  // real-server-side router
	vip4      = netip.MustParseAddr("198.18.2.1")  // tcp 80, 81 (quiescent), 82 (unresolved RS), udp 53
	vip4All   = netip.MustParseAddr("198.18.2.2")  // tcp, all ports
	vip4None  = netip.MustParseAddr("198.18.2.9")  // no service
	rs4a      = netip.MustParseAddr("198.18.1.10") // resolved
	rs4b      = netip.MustParseAddr("198.18.1.11") // resolved
	rs4Unres  = netip.MustParseAddr("198.18.1.12") // MAC unknown
	cip6      = netip.MustParseAddr("2001:2::2")
	rtr6      = netip.MustParseAddr("2001:2::1")
	rtr6RS    = netip.MustParseAddr("2001:2:0:1::1")
	vip6      = netip.MustParseAddr("2001:2:0:2::1")
	rs6a      = netip.MustParseAddr("2001:2:0:1::10")
	rs6b      = netip.MustParseAddr("2001:2:0:1::11")
)

// Service and real-server ids as compile assigns them for testSnapshot (in order); newTestEnv
// checks that they hold.
const (
	svcTCP4, svcUDP4, svcTCP6, svcUDP6, svcAll4, svcQuiesc, svcUnres = 0, 1, 2, 3, 4, 5, 6

	dTCP4a, dTCP4b, dUDP4a, dUDP4b, dTCP6a, dTCP6b, dUDP6a, dUDP6b, dAll4, dQuiesc, dUnres = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
)

const (
	t0     = int64(1_000_000_000_000) // the tests' clock origin, ns
	second = int64(1_000_000_000)
)

func testSnapshot() *Snapshot {
	rs := func(a netip.Addr, port uint16, w uint32) RealServer {
		return RealServer{Addr: a, Port: port, Forward: ForwardMasq, Weight: w}
	}
	svc := func(proto uint8, a netip.Addr, port uint16, dests ...RealServer) Service {
		return Service{Key: ServiceKey{Proto: proto, Addr: a, Port: port}, Scheduler: "rr", RealServers: dests}
	}
	return &Snapshot{Services: []Service{
		svc(header.ProtocolTCP, vip4, 80, rs(rs4a, 8080, 1), rs(rs4b, 8080, 1)),
		svc(header.ProtocolUDP, vip4, 53, rs(rs4a, 5353, 1), rs(rs4b, 5353, 1)),
		svc(header.ProtocolTCP, vip6, 80, rs(rs6a, 8080, 1), rs(rs6b, 8080, 1)),
		svc(header.ProtocolUDP, vip6, 53, rs(rs6a, 5353, 1), rs(rs6b, 5353, 1)),
		svc(header.ProtocolTCP, vip4All, 0, rs(rs4a, 0, 1)),
		svc(header.ProtocolTCP, vip4, 81, rs(rs4a, 8081, 0)),
		svc(header.ProtocolTCP, vip4, 82, rs(rs4Unres, 8082, 1)),
	}}
}

func newTestNeighbours() *Neighbours {
	n := NewNeighbours()
	n.SetRoutes([]Route{
		{Prefix: netip.MustParsePrefix("198.18.0.0/24"), Port: 0},
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 1},
		{Prefix: netip.MustParsePrefix("2001:2::/64"), Port: 0},
		{Prefix: netip.MustParsePrefix("2001:2:0:1::/64"), Port: 1},
	})
	n.Set(0, cip4, cliMAC, true)
	n.Set(0, cip6, cliMAC, true)
	n.Set(1, rs4a, rs1MAC, true)
	n.Set(1, rs4b, rs2MAC, true)
	n.Set(1, rs6a, rs1MAC, true)
	n.Set(1, rs6b, rs2MAC, true)
	return n
}

func mustCompile(tb testing.TB, s *Snapshot) *compiled {
	tb.Helper()
	c, _, err := compile(s, nil, newIDs(), 1)
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	return c
}

// testEnv is one or more workers' pipelines over one neighbour table and configuration.
type testEnv struct {
	neigh *Neighbours
	conf  *compiled
	p     *Pipeline // worker 0
}

// newTestEnv returns worker 0 of 1 with testSnapshot applied.
func newTestEnv(tb testing.TB, capacity int) *testEnv {
	tb.Helper()
	e := &testEnv{neigh: newTestNeighbours(), conf: mustCompile(tb, testSnapshot())}
	checkIDs(tb, e.conf)
	e.p = e.worker(0, 1, capacity)
	return e
}

// worker returns a new pipeline for worker id of workers, sharing e's neighbours and configuration.
func (e *testEnv) worker(id, workers, capacity int) *Pipeline {
	p := newPipeline(id, workers, testPorts, e.neigh, capacity, t0)
	p.setConfig(e.conf)
	return p
}

func checkIDs(tb testing.TB, c *compiled) {
	tb.Helper()
	next := uint16(0)
	for i := range c.svcs {
		if c.svcs[i].id != uint16(i) {
			tb.Fatalf("service %d has id %d; the fixtures' constants are stale", i, c.svcs[i].id)
		}
		for _, d := range c.svcs[i].dests {
			if d.id != next {
				tb.Fatalf("service %d: real server has id %d, want %d; the fixtures' constants are stale", i, d.id, next)
			}
			next++
		}
	}
}

// drainResolve returns the resolution requests queued since the last call.
func drainResolve(n *Neighbours) []neighKey {
	var ks []neighKey
	for {
		select {
		case k := <-n.resolve:
			ks = append(ks, k)
		default:
			return ks
		}
	}
}

// pk describes one TCP or UDP frame.
type pk struct {
	src, dst     header.MAC
	sip, dip     netip.Addr
	proto        uint8 // header.ProtocolTCP or header.ProtocolUDP
	sport, dport uint16
	flags        string // TCP flags, of "SAFRP"
	seq, ack     uint32
	payload      int  // bytes of payload (a fixed pattern)
	zeroCsum     bool // UDP over IPv4 sent without a checksum
	vlan         uint16
	frag         bool // IPv4: MF set; IPv6: a fragment header (offset 0, M set)
	opts         bool // IPv4: a router-alert option (IHL 6); IPv6: a destination-options header
}

// seg returns p with TCP flags, sequence numbers and payload size set.
func (p pk) seg(flags string, seq, ack uint32, payload int) pk {
	p.flags, p.seq, p.ack, p.payload = flags, seq, ack, payload
	return p
}

// dgram returns p with n bytes of UDP payload.
func (p pk) dgram(n int) pk {
	p.payload = n
	return p
}

func (p pk) noCsum() pk {
	p.zeroCsum = true
	return p
}

func payloadOf(n int) gopacket.Payload {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func hw(m header.MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }

func ipOf(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// l3 returns the IP layer and its L4 layers (for ICMP quotes and frames alike).
func (p pk) layers() []gopacket.SerializableLayer {
	var ls []gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	if p.sip.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocol(p.proto), SrcIP: ipOf(p.sip), DstIP: ipOf(p.dip)}
		if p.frag {
			ip.Flags = layers.IPv4MoreFragments
		}
		if p.opts {
			ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
		}
		ls, netl = append(ls, ip), ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, FlowLabel: 0x12345, NextHeader: layers.IPProtocol(p.proto),
			SrcIP: ipOf(p.sip), DstIP: ipOf(p.dip)}
		ls, netl = append(ls, ip), ip
		if p.opts {
			ls = append(ls, &ipv6DestOptsLayer{next: ip.NextHeader})
			ip.NextHeader = layers.IPProtocolIPv6Destination
		}
		if p.frag {
			ip.NextHeader = layers.IPProtocolIPv6Fragment
			ls = append(ls, &ipv6FragLayer{next: p.proto, id: 0xabcd})
		}
	}
	switch p.proto {
	case header.ProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: p.seq, Ack: p.ack,
			Window: 64240, SYN: strings.Contains(p.flags, "S"), ACK: strings.Contains(p.flags, "A"),
			FIN: strings.Contains(p.flags, "F"), RST: strings.Contains(p.flags, "R"), PSH: strings.Contains(p.flags, "P")}
		if tcp.SYN {
			tcp.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
				{OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
			}
		}
		_ = tcp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, tcp)
	case header.ProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		_ = udp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, udp)
	default:
		panic(fmt.Sprintf("pk: protocol %d", p.proto))
	}
	return append(ls, payloadOf(p.payload))
}

// ipv6FragLayer is an IPv6 fragment header (gopacket can decode one but not serialize it).
type ipv6FragLayer struct {
	next uint8
	off  uint16 // in 8-byte units
	id   uint32
}

func (f *ipv6FragLayer) LayerType() gopacket.LayerType { return layers.LayerTypeIPv6Fragment }

func (f *ipv6FragLayer) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	h, err := b.PrependBytes(8)
	if err != nil {
		return err
	}
	h[0], h[1] = f.next, 0
	binary.BigEndian.PutUint16(h[2:], f.off<<3|1) // M set
	binary.BigEndian.PutUint32(h[4:], f.id)
	return nil
}

// ipv6DestOptsLayer is an 8-byte IPv6 destination-options header holding one PadN option.
type ipv6DestOptsLayer struct{ next layers.IPProtocol }

func (d *ipv6DestOptsLayer) LayerType() gopacket.LayerType { return layers.LayerTypeIPv6Destination }

func (d *ipv6DestOptsLayer) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	h, err := b.PrependBytes(8)
	if err != nil {
		return err
	}
	copy(h, []byte{byte(d.next), 0, 1, 4, 0, 0, 0, 0}) // length 0 (8 bytes), PadN of 4
	return nil
}

func ethOf(src, dst header.MAC, v6 bool, vlan uint16) []gopacket.SerializableLayer {
	et := layers.EthernetTypeIPv4
	if v6 {
		et = layers.EthernetTypeIPv6
	}
	if vlan != 0 {
		return []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: hw(src), DstMAC: hw(dst), EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: vlan, Type: et},
		}
	}
	return []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: hw(src), DstMAC: hw(dst), EthernetType: et}}
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// frame serializes p as an Ethernet frame.
func (p pk) frame(tb testing.TB) []byte {
	tb.Helper()
	b := serialize(tb, append(ethOf(p.src, p.dst, p.sip.Is6(), p.vlan), p.layers()...)...)
	if p.zeroCsum {
		var pp header.Packet
		if r := pp.Parse(b); r != header.ParseOK || pp.Proto != header.ProtocolUDP {
			tb.Fatalf("zeroCsum on a non-UDP frame (%v)", r)
		}
		header.UDP(b[pp.L4Offset:]).SetChecksum(0)
	}
	return b
}

// l3 serializes p without its Ethernet header: the packet an ICMP error quotes.
func (p pk) l3(tb testing.TB) []byte {
	tb.Helper()
	return serialize(tb, p.layers()...)
}

// icmpErr describes an ICMP fragmentation-needed (IPv4, type 3 code 4) or ICMPv6 packet-too-big
// (type 2) message, or another error with typ/code set.
type icmpErr struct {
	src, dst   header.MAC
	sip, dip   netip.Addr
	typ, code  uint8 // 0, 0: frag-needed / packet-too-big
	mtu        uint32
	quote      []byte
	quoteBuild func(tb testing.TB) []byte // when quote is nil
}

func (m icmpErr) frame(tb testing.TB) []byte {
	tb.Helper()
	q := m.quote
	if q == nil {
		q = m.quoteBuild(tb)
	}
	if m.sip.Is4() {
		typ, code := m.typ, m.code
		if typ == 0 {
			typ, code = header.ICMPv4DstUnreachable, header.ICMPv4FragmentationNeeded
		}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x4321, Protocol: layers.IPProtocolICMPv4,
			SrcIP: ipOf(m.sip), DstIP: ipOf(m.dip)}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Seq: uint16(m.mtu)}
		return serialize(tb, append(ethOf(m.src, m.dst, false, 0), ip, icmp, gopacket.Payload(q))...)
	}
	typ, code := m.typ, m.code
	if typ == 0 {
		typ = header.ICMPv6PacketTooBig
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: ipOf(m.sip), DstIP: ipOf(m.dip)}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	_ = icmp.SetNetworkLayerForChecksum(ip)
	body := binary.BigEndian.AppendUint32(nil, m.mtu)
	return serialize(tb, append(ethOf(m.src, m.dst, true, 0), ip, icmp, gopacket.Payload(append(body, q...)))...)
}

// quoteOf returns the first n bytes of packet p, as an ICMP error quotes it.
func quoteOf(p pk, n int) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		tb.Helper()
		b := p.l3(tb)
		if n > len(b) {
			tb.Fatalf("quote of %d bytes from a %d-byte packet", n, len(b))
		}
		return b[:n]
	}
}

// translatedQuoteOf is quoteOf(p, n) for the expected output of an ICMP translation: the quoted L4
// checksum is kept from orig, since it is not updated (as in IPVS's ip_vs_nat_icmp; the ports are).
func translatedQuoteOf(p, orig pk, n int) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		tb.Helper()
		q, o := quoteOf(p, n)(tb), quoteOf(orig, n)(tb)
		hl := 40
		if p.sip.Is4() {
			hl = 20
		}
		off := hl + 16 // TCP checksum
		if p.proto == header.ProtocolUDP {
			off = hl + 6
		}
		if off+2 <= n {
			copy(q[off:off+2], o[off:off+2])
		}
		return q
	}
}

// mutate returns a frame builder applying f to a copy of base's frame.
func mutate(base func(testing.TB) []byte, f func(b []byte) []byte) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		tb.Helper()
		return f(append([]byte(nil), base(tb)...))
	}
}

// --- an independent checksum reference, sharing no code with package header ---

// naiveSum is RFC 1071: 16-bit big-endian words summed into 32 bits and folded, not complemented.
func naiveSum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func naiveFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// naivePseudo is the pseudo header's sum (RFC 793 §3.1, RFC 8200 §8.1).
func naivePseudo(src, dst net.IP, proto uint8, n int) uint32 {
	if len(src) == net.IPv4len {
		return naiveSum(naiveSum(0, src), dst) + uint32(proto) + uint32(n)
	}
	return naiveSum(naiveSum(0, src), dst) + uint32(proto) + uint32(n>>16) + uint32(n&0xffff)
}

// checkFrameChecksums decodes frame with gopacket and verifies with naiveSum the IPv4 header
// checksum, the TCP, UDP (unless 0 over IPv4), ICMP or ICMPv6 checksum, and the IPv4 header checksum
// of a quoted packet in an ICMP error.
func checkFrameChecksums(tb testing.TB, frame []byte) {
	tb.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	var src, dst net.IP
	var l4 []byte
	var proto uint8
	if l := pkt.Layer(layers.LayerTypeIPv4); l != nil {
		ip := l.(*layers.IPv4)
		if s := naiveFold(naiveSum(0, ip.Contents)); s != 0xffff {
			tb.Errorf("IPv4 header checksum %#04x does not verify (sum %#04x)", ip.Checksum, s)
		}
		src, dst, l4, proto = ip.SrcIP.To4(), ip.DstIP.To4(), ip.Payload, uint8(ip.Protocol)
	} else if l := pkt.Layer(layers.LayerTypeIPv6); l != nil {
		ip := l.(*layers.IPv6)
		src, dst, l4, proto = ip.SrcIP, ip.DstIP, ip.Payload, uint8(ip.NextHeader)
	} else {
		tb.Fatalf("no IP layer in %x", frame)
	}
	switch proto {
	case header.ProtocolTCP:
		if s := naiveFold(naiveSum(naivePseudo(src, dst, proto, len(l4)), l4)); s != 0xffff {
			tb.Errorf("TCP checksum does not verify (sum %#04x)", s)
		}
	case header.ProtocolUDP:
		n := int(binary.BigEndian.Uint16(l4[4:]))
		if binary.BigEndian.Uint16(l4[6:]) == 0 && len(src) == 4 {
			return
		}
		if s := naiveFold(naiveSum(naivePseudo(src, dst, proto, n), l4[:n])); s != 0xffff {
			tb.Errorf("UDP checksum does not verify (sum %#04x)", s)
		}
	case header.ProtocolICMP:
		if s := naiveFold(naiveSum(0, l4)); s != 0xffff {
			tb.Errorf("ICMP checksum does not verify (sum %#04x)", s)
		}
		if q := l4[8:]; header.ICMPv4TypeIsError(l4[0]) && len(q) >= 20 && q[0]>>4 == 4 {
			if s := naiveFold(naiveSum(0, q[:int(q[0]&0xf)*4])); s != 0xffff {
				tb.Errorf("quoted IPv4 header checksum does not verify (sum %#04x)", s)
			}
		}
	case header.ProtocolICMPv6:
		if s := naiveFold(naiveSum(naivePseudo(src, dst, proto, len(l4)), l4)); s != 0xffff {
			tb.Errorf("ICMPv6 checksum does not verify (sum %#04x)", s)
		}
	}
}

// --- counters ---

// delta is one expected change of a worker's counters (rx always moves by one, implicitly).
type delta func(c *counters)

func dTX() delta                        { return func(c *counters) { c.tx++ } }
func dDrop(r DropReason) delta          { return func(c *counters) { c.drops[r]++ } }
func dParse(r header.ParseResult) delta { return func(c *counters) { c.parse[r]++ } }

// dNew counts a new connection of service s to real server d.
func dNew(s uint16, d uint32) delta {
	return func(c *counters) { c.svc[s].Conns++; c.dest[d].Conns++ }
}

// dIn and dOut count a packet of n bytes (IP length) client → server and back.
func dIn(s uint16, d uint32, n uint64) delta {
	return func(c *counters) {
		c.svc[s].InPkts++
		c.svc[s].InBytes += n
		c.dest[d].InPkts++
		c.dest[d].InBytes += n
	}
}

func dOut(s uint16, d uint32, n uint64) delta {
	return func(c *counters) {
		c.svc[s].OutPkts++
		c.svc[s].OutBytes += n
		c.dest[d].OutPkts++
		c.dest[d].OutBytes += n
	}
}

// dConns moves real server d's active and inactive connection counts.
func dConns(d uint32, active, inactive int64) delta {
	return func(c *counters) { c.active[d] += active; c.inactive[d] += inactive }
}

// counterDiff lists the fields of got that differ from want, by name and index.
func counterDiff(got, want *counters) []string {
	var out []string
	var walk func(path string, g, w reflect.Value)
	walk = func(path string, g, w reflect.Value) {
		switch g.Kind() {
		case reflect.Struct:
			for i := range g.NumField() {
				walk(path+"."+g.Type().Field(i).Name, g.Field(i), w.Field(i))
			}
		case reflect.Array:
			for i := range g.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
			}
		default:
			if !g.Equal(w) {
				out = append(out, fmt.Sprintf("%s = %v, want %v", path, g, w))
			}
		}
	}
	walk("c", reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem())
	return out
}

// counterTotal is the sum of the counters of which every processed frame moves exactly one.
func counterTotal(c *counters) uint64 {
	n := c.tx + c.handoffOut + c.fragHeld
	for _, v := range c.drops {
		n += v
	}
	for _, v := range c.parse {
		n += v
	}
	return n
}

// mustTX processes frame and fails unless it is transmitted.
func mustTX(tb testing.TB, p *Pipeline, frame []byte, in int, now int64) int {
	tb.Helper()
	v, port := p.Process(frame, in, now)
	if v != VerdictTX {
		tb.Fatalf("Process = %s, %d; want VerdictTX (counters: %s)", vname(v), port, nonZero(p.c))
	}
	return port
}

// nonZero summarizes the worker-level counters that are not zero.
func nonZero(c *counters) string {
	var s []string
	for r, v := range c.drops {
		if v != 0 {
			s = append(s, fmt.Sprintf("drop/%v=%d", DropReason(r), v))
		}
	}
	for r, v := range c.parse {
		if v != 0 {
			s = append(s, fmt.Sprintf("parse/%v=%d", header.ParseResult(r), v))
		}
	}
	return fmt.Sprintf("rx=%d tx=%d handoff=%d %s", c.rx, c.tx, c.handoffOut, strings.Join(s, " "))
}

func vname(v Verdict) string {
	switch v {
	case VerdictDrop:
		return "VerdictDrop"
	case VerdictTX:
		return "VerdictTX"
	case VerdictHandoff:
		return "VerdictHandoff"
	case VerdictHandoffFragment:
		return "VerdictHandoffFragment"
	case VerdictConsumed:
		return "VerdictConsumed"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// stateOf returns the state of the connection of tuple t.
func stateOf(tb testing.TB, p *Pipeline, t header.Tuple) conntrack.State {
	tb.Helper()
	id, _, ok := p.table.Lookup(&t)
	if !ok {
		tb.Fatalf("no connection for %v", t)
	}
	return p.table.Entry(id).State
}

func tuple(proto uint8, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) header.Tuple {
	return header.Tuple{SrcAddr: header.AddrFromNetip(src), DstAddr: header.AddrFromNetip(dst), SrcPort: sport, DstPort: dport, Proto: proto}
}
