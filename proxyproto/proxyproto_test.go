package proxyproto

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
)

var (
	cli4 = header.AddrFromNetip(netip.MustParseAddr("198.18.0.7"))
	vip4 = header.AddrFromNetip(netip.MustParseAddr("198.18.1.1"))
	cli6 = header.AddrFromNetip(netip.MustParseAddr("2001:2::7"))
	vip6 = header.AddrFromNetip(netip.MustParseAddr("2001:2:0:1::1"))
	lip4 = netip.MustParseAddr("198.18.1.10")
	rip4 = netip.MustParseAddr("198.18.2.2")
	lip6 = netip.MustParseAddr("2001:2:0:1::10")
	rip6 = netip.MustParseAddr("2001:2:0:2::2")
)

func encode(v Version, proto uint8, src, dst header.Addr) []byte {
	var b [MaxLen]byte
	return append([]byte(nil), b[:Encode(b[:], v, proto, src, dst, 40000, 80)]...)
}

func TestEncode(t *testing.T) {
	for _, c := range []struct {
		name  string
		v     Version
		proto uint8
		src   header.Addr
		dst   header.Addr
		want  string // text for v1, hex for v2
	}{
		{"v1_tcp4", V1, header.ProtocolTCP, cli4, vip4, "PROXY TCP4 198.18.0.7 198.18.1.1 40000 80\r\n"},
		{"v1_tcp6", V1, header.ProtocolTCP, cli6, vip6, "PROXY TCP6 2001:2::7 2001:2:0:1::1 40000 80\r\n"},
		{"v1_udp_none", V1, header.ProtocolUDP, cli4, vip4, ""},
		{"none", None, header.ProtocolTCP, cli4, vip4, ""},
		{"v2_tcp4", V2, header.ProtocolTCP, cli4, vip4,
			// signature, v2 PROXY, INET STREAM, 12 bytes: src, dst, sport 40000, dport 80
			"0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "c6120007" + "c6120101" + "9c40" + "0050"},
		{"v2_udp4", V2, header.ProtocolUDP, cli4, vip4,
			"0d0a0d0a000d0a515549540a" + "21" + "12" + "000c" + "c6120007" + "c6120101" + "9c40" + "0050"},
		{"v2_tcp6", V2, header.ProtocolTCP, cli6, vip6,
			"0d0a0d0a000d0a515549540a" + "21" + "21" + "0024" + "20010002000000000000000000000007" +
				"20010002000000010000000000000001" + "9c40" + "0050"},
		{"v2_udp6", V2, header.ProtocolUDP, cli6, vip6,
			"0d0a0d0a000d0a515549540a" + "21" + "22" + "0024" + "20010002000000000000000000000007" +
				"20010002000000010000000000000001" + "9c40" + "0050"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := encode(c.v, c.proto, c.src, c.dst)
			want := []byte(c.want)
			if c.v == V2 {
				want, _ = hex.DecodeString(c.want)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got %q (%x), want %q", got, got, want)
			}
		})
	}
	// The longest v1 line fits the specification's bound.
	long := header.AddrFromNetip(netip.MustParseAddr("2001:2:ffff:ffff:ffff:ffff:ffff:fffe"))
	var b [MaxLen]byte
	if n := Encode(b[:], V1, header.ProtocolTCP, long, long, 65535, 65535); n > MaxV1Len || n != 98 {
		t.Errorf("longest v1 header: %d bytes", n)
	}
}

// build serializes an IP packet (v4 unless v6) with a TCP ACK (or a UDP datagram) carrying
// payload, gopacket computing every length and checksum.
func build(tb testing.TB, v6, udp bool, payload []byte) []byte {
	tb.Helper()
	var l4 gopacket.SerializableLayer
	var proto layers.IPProtocol
	var setNet func(gopacket.NetworkLayer) error
	if udp {
		u := &layers.UDP{SrcPort: 1024, DstPort: 8080}
		l4, proto, setNet = u, layers.IPProtocolUDP, u.SetNetworkLayerForChecksum
	} else {
		tcp := &layers.TCP{SrcPort: 1024, DstPort: 8080, Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 502,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop, OptionLength: 1}, {OptionType: layers.TCPOptionKindNop, OptionLength: 1},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}}}}
		l4, proto, setNet = tcp, layers.IPProtocolTCP, tcp.SetNetworkLayerForChecksum
	}
	var l3 gopacket.SerializableLayer
	if v6 {
		ip := &layers.IPv6{Version: 6, NextHeader: proto, HopLimit: 64, SrcIP: lip6.AsSlice(), DstIP: rip6.AsSlice()}
		_ = setNet(ip)
		l3 = ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: lip4.AsSlice(), DstIP: rip4.AsSlice()}
		_ = setNet(ip)
		l3 = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l3, l4, gopacket.Payload(payload)); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func withRoom(pkt []byte, room int) []byte {
	b := make([]byte, len(pkt), len(pkt)+room)
	copy(b, pkt)
	return b
}

// TestInsert: the packet with the header inserted is byte for byte what gopacket builds with the
// header in front of the payload, for v1 (odd and even lengths) and v2, TCP and UDP, IPv4 and IPv6.
func TestInsert(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, hdr := range [][]byte{encode(V1, header.ProtocolTCP, cli4, vip4), encode(V1, header.ProtocolTCP, cli6, vip6),
				encode(V2, header.ProtocolUDP, cli4, vip4), encode(V2, header.ProtocolTCP, cli6, vip6), []byte("odd")} {
				for _, payload := range [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), []byte("x"), bytes.Repeat([]byte{0xa5, 0x5a, 0xff}, 400)} {
					in := build(t, v6, udp, payload)
					want := build(t, v6, udp, append(append([]byte(nil), hdr...), payload...))
					pkt := withRoom(in, len(hdr))
					n, r := Insert(pkt, len(in), v6, hdr, 0)
					if r != OK || !bytes.Equal(pkt[:n], want) {
						t.Fatalf("v6 %v udp %v header %d payload %d: %v\n got %x\nwant %x", v6, udp, len(hdr), len(payload), r, pkt[:n], want)
					}
				}
			}
		}
	}
}

func TestInsertRefused(t *testing.T) {
	hdr := encode(V2, header.ProtocolTCP, cli4, vip4)
	in := build(t, false, false, []byte("hello"))
	for _, c := range []struct {
		name string
		pkt  []byte
		n    int
		mtu  int
		want Result
	}{
		{"no_tailroom", withRoom(in, len(hdr)-1), len(in), 0, NoTailroom},
		{"exceeds_mtu", withRoom(in, len(hdr)), len(in), len(in) + len(hdr) - 1, ExceedsMTU},
		{"truncated", withRoom(in, len(hdr)), len(in) - 3, 0, Malformed},
		{"not_ip", withRoom(make([]byte, len(in)), len(hdr)), len(in), 0, Malformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := append([]byte(nil), c.pkt...)
			if n, r := Insert(c.pkt, c.n, false, hdr, c.mtu); r != c.want || n != c.n || !bytes.Equal(c.pkt, before) {
				t.Errorf("got %v %d, want %v %d, packet unchanged", r, n, c.want, c.n)
			}
		})
	}
	// An IPv4 UDP datagram without a checksum keeps none.
	u := build(t, false, true, []byte("dns"))
	u[20+6], u[20+7] = 0, 0
	pkt := withRoom(u, len(hdr))
	if n, r := Insert(pkt, len(u), false, hdr, 0); r != OK || pkt[26] != 0 || pkt[27] != 0 || n != len(u)+len(hdr) {
		t.Errorf("checksum-less datagram: %v, checksum %x", r, pkt[26:28])
	}
}

func TestAlloc(t *testing.T) {
	in := build(t, true, false, []byte("GET / HTTP/1.1\r\n\r\n"))
	pkt := withRoom(in, MaxLen)
	var b [MaxLen]byte
	if a := testing.AllocsPerRun(100, func() {
		n := Encode(b[:], V1, header.ProtocolTCP, cli6, vip6, 40000, 80)
		copy(pkt[:cap(pkt)], in)
		Insert(pkt[:len(in)], len(in), true, b[:n], 0)
	}); a != 0 {
		t.Errorf("%v allocations", a)
	}
}
