package header

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// defaultTestSeed makes the differential corpora fixed from run to run; TEST_SEED overrides it.
const defaultTestSeed = 20240607

// testRand returns a PCG generator seeded from TEST_SEED (decimal) or defaultTestSeed, and logs the seed
// so that a failure can be replayed.
func testRand(tb testing.TB) *rand.Rand {
	tb.Helper()
	seed := uint64(defaultTestSeed)
	if s := os.Getenv("TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("TEST_SEED=%q is not a decimal uint64: %v", s, err)
		}
		seed = v
	}
	tb.Logf("random seed: TEST_SEED=%d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// naiveChecksum is the RFC 1071 reference: 16-bit big-endian words summed into 32 bits, folded.
func naiveChecksum(buf []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for i := 0; i+1 < len(buf); i += 2 {
		sum += uint32(buf[i])<<8 | uint32(buf[i+1])
	}
	if len(buf)%2 == 1 {
		sum += uint32(buf[len(buf)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xFFFF + sum>>16
	}
	return uint16(sum)
}

// naivePseudo is the pseudo-header sum built byte by byte (RFC 793 §3.1, RFC 8200 §8.1).
func naivePseudo(proto uint8, src, dst []byte, length int) uint16 {
	var b []byte
	b = append(b, src...)
	b = append(b, dst...)
	if len(src) == 4 {
		b = append(b, 0, proto, byte(length>>8), byte(length))
	} else {
		b = append(b, byte(length>>24), byte(length>>16), byte(length>>8), byte(length), 0, 0, 0, proto)
	}
	return naiveChecksum(b, 0)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var (
	testSrcMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	testDstMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	testSrc4   = net.IP{198, 18, 0, 1}
	testDst4   = net.IP{198, 18, 0, 2}
	testSrc6   = net.ParseIP("2001:db8::1")
	testDst6   = net.ParseIP("2001:db8::2")
)

// mustSerialize builds a frame with gopacket, fixing lengths and computing checksums.
func mustSerialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	for _, l := range ls {
		switch t := l.(type) {
		case *layers.TCP:
			setNet(tb, t, ls)
		case *layers.UDP:
			setNet(tb, t, ls)
		case *layers.ICMPv6:
			setNet(tb, t, ls)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func setNet(tb testing.TB, l interface {
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}, ls []gopacket.SerializableLayer) {
	for _, n := range ls {
		if nl, ok := n.(gopacket.NetworkLayer); ok {
			if err := l.SetNetworkLayerForChecksum(nl); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: testSrcMAC, DstMAC: testDstMAC, EthernetType: t}
}

func ip4(p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: p, SrcIP: testSrc4, DstIP: testDst4}
}

func ip6(p layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: testSrc6, DstIP: testDst6}
}

func tcpSyn(sport, dport uint16) *layers.TCP {
	return &layers.TCP{
		SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, SYN: true, Window: 65535,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
}

// Frame builders shared by the parse, benchmark and fuzz tests.

func frameTCP4(tb testing.TB) []byte {
	return mustSerialize(tb, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpSyn(40000, 80), gopacket.Payload("hello"))
}

func frameUDP6(tb testing.TB) []byte {
	return mustSerialize(tb, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("query"))
}

// gopacketDecode decodes a frame with gopacket, failing on a decoding error.
func gopacketDecode(tb testing.TB, frame []byte) gopacket.Packet {
	tb.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket decode: %v", el.Error())
	}
	return pkt
}
