package synproxy

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

func newRand(tb testing.TB) *rand.Rand { return testutil.Rand(tb) }

// seedReader is a deterministic io.Reader for Config.Rand.
type seedReader struct{ r *rand.Rand }

func (s seedReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(s.r.Uint32())
	}
	return len(b), nil
}

// newTestCookies returns Cookies whose secrets come from a fixed seed.
func newTestCookies(tb testing.TB, seed uint64) *Cookies {
	tb.Helper()
	c, err := New(Config{Rand: seedReader{rand.New(rand.NewPCG(seed, 1))}})
	testutil.MustNoErr(tb, err, "New")
	return c
}

// t0 is a test clock reading in the middle of a slot.
const t0 = int64(1000*DefaultSlot + DefaultSlot/2)

var (
	cli4 = netip.MustParseAddr("198.51.100.7")
	vip4 = netip.MustParseAddr("203.0.113.10")
	cli6 = netip.MustParseAddr("2001:db8:1::7")
	vip6 = netip.MustParseAddr("2001:db8:2::10")
)

// seg describes a TCP segment to build with gopacket.
type seg struct {
	v6           bool
	src, dst     netip.Addr
	sport, dport uint16
	seq, ack     uint32
	syn, ack_    bool
	rst, fin     bool
	win          uint16
	opts         []layers.TCPOption
	payload      []byte
}

// synOpts returns the options of a SYN: MSS (if mss != 0), SACK-permitted, timestamps, window scale
// (ws < 0: none), in Linux's order.
func synOpts(mss int, sack, ts bool, tsval uint32, ws int) []layers.TCPOption {
	var o []layers.TCPOption
	if mss >= 0 {
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: be16(uint16(mss))})
	}
	if sack {
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
	}
	if ts {
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: append(be32(tsval), 0, 0, 0, 0)})
	}
	if ws >= 0 {
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
			layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(ws)}})
	}
	return o
}

func tsOpt(val, ecr uint32) []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: append(be32(val), be32(ecr)...)},
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// mustBuild serializes s as an IP packet with correct checksums, with 128 bytes of spare capacity.
func mustBuild(tb testing.TB, s seg) []byte {
	tb.Helper()
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack,
		SYN: s.syn, ACK: s.ack_, RST: s.rst, FIN: s.fin, Window: s.win, Options: s.opts,
	}
	var ipl gopacket.SerializableLayer
	if s.v6 {
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice()}
		testutil.MustNoErr(tb, tcp.SetNetworkLayerForChecksum(ip), "checksum layer")
		ipl = ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice(), Flags: layers.IPv4DontFragment}
		testutil.MustNoErr(tb, tcp.SetNetworkLayerForChecksum(ip), "checksum layer")
		ipl = ip
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ipl, tcp, gopacket.Payload(s.payload))
	testutil.MustNoErr(tb, err, "serialize")
	b := buf.Bytes()
	out := make([]byte, len(b), len(b)+128)
	copy(out, b)
	return out
}

// mustSYN builds a client SYN to the VIP.
func mustSYN(tb testing.TB, v6 bool, isn uint32, opts []layers.TCPOption) []byte {
	tb.Helper()
	src, dst := cli4, vip4
	if v6 {
		src, dst = cli6, vip6
	}
	return mustBuild(tb, seg{v6: v6, src: src, dst: dst, sport: 40000, dport: 80, seq: isn, syn: true, win: 64240, opts: opts})
}

// decoded is a packet parsed by gopacket, its TCP checksum verified.
type decoded struct {
	src, dst netip.Addr
	ttl      uint8
	tcp      *layers.TCP
}

func mustDecode(tb testing.TB, b []byte) decoded {
	tb.Helper()
	var first gopacket.LayerType = layers.LayerTypeIPv4
	if b[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	p := gopacket.NewPacket(b, first, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket: %v", el.Error())
	}
	var d decoded
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		d.src, _ = netip.AddrFromSlice(ip.SrcIP)
		d.dst, _ = netip.AddrFromSlice(ip.DstIP)
		d.ttl = ip.TTL
		if !header.IPv4(b).IsChecksumValid() {
			tb.Fatalf("bad IPv4 header checksum")
		}
		if int(ip.Length) != len(b) {
			tb.Fatalf("IPv4 total length %d, packet %d", ip.Length, len(b))
		}
	case *layers.IPv6:
		d.src, _ = netip.AddrFromSlice(ip.SrcIP)
		d.dst, _ = netip.AddrFromSlice(ip.DstIP)
		d.ttl = ip.HopLimit
		if int(ip.Length)+40 != len(b) {
			tb.Fatalf("IPv6 payload length %d, packet %d", ip.Length, len(b))
		}
	}
	tl := p.Layer(layers.LayerTypeTCP)
	if tl == nil {
		tb.Fatalf("no TCP layer")
	}
	d.tcp = tl.(*layers.TCP)
	testutil.MustNoErr(tb, d.tcp.SetNetworkLayerForChecksum(p.NetworkLayer()), "checksum layer")
	err, v := d.tcp.VerifyChecksum()
	testutil.MustNoErr(tb, err, "verify checksum")
	if !v.Valid {
		tb.Fatalf("bad TCP checksum %#04x, want %#04x", v.Actual, v.Correct)
	}
	return d
}

// ackFor builds the client's third packet for the SYN/ACK synack (as Answer made it): seq = the SYN's
// ISN + 1, ack = the cookie + 1, and, if the SYN/ACK had timestamps, TSval = tsval, TSecr = its TSval.
func ackFor(tb testing.TB, synack []byte, tsval uint32, payload []byte) []byte {
	tb.Helper()
	d := mustDecode(tb, synack)
	s := seg{
		v6: synack[0]>>4 == 6, src: d.dst, dst: d.src, sport: uint16(d.tcp.DstPort), dport: uint16(d.tcp.SrcPort),
		seq: d.tcp.Ack, ack: d.tcp.Seq + 1, ack_: true, win: 502, payload: payload,
	}
	for _, o := range d.tcp.Options {
		if o.OptionType == layers.TCPOptionKindTimestamps {
			s.opts = tsOpt(tsval, binary.BigEndian.Uint32(o.OptionData))
		}
	}
	return mustBuild(tb, s)
}

// tcpOf returns the TCP segment of an IP packet built by mustBuild.
func tcpOf(tb testing.TB, ip []byte) header.TCP {
	tb.Helper()
	s, r := parse(ip)
	if r != OK {
		tb.Fatalf("parse: %v", r)
	}
	return header.TCP(ip[s.l4:s.end])
}

// checksumOK reports whether the TCP checksum of the IP packet verifies.
func checksumOK(ip []byte) bool {
	s, r := parse(ip)
	if r != OK {
		return false
	}
	tcp := header.TCP(ip[s.l4:s.end])
	return tcp.IsChecksumValid(pseudo(ip, s.v6, len(tcp)))
}

// fixChecksum recomputes the TCP checksum of the IP packet.
func fixChecksum(ip []byte) {
	s, _ := parse(ip)
	tcp := header.TCP(ip[s.l4:s.end])
	tcp.FillChecksum(pseudo(ip, s.v6, len(tcp)))
}

// handshake runs Answer and Validate for a SYN with the given options and returns the SYN/ACK, the
// ACK and the Handshake.
func handshake(tb testing.TB, c *Cookies, v6 bool, isn uint32, opts []layers.TCPOption, now int64) (synack, ack []byte, h Handshake) {
	tb.Helper()
	p := mustSYN(tb, v6, isn, opts)
	n, r := c.Answer(p, now, 0)
	if r != OK {
		tb.Fatalf("Answer: %v", r)
	}
	synack = p[:n]
	ack = ackFor(tb, synack, 0xABCD0000, nil)
	h, r = c.Validate(ack, now)
	if r != OK {
		tb.Fatalf("Validate: %v", r)
	}
	return synack, ack, h
}

var _ = time.Second
