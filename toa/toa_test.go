package toa

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
)

var (
	lip4 = netip.MustParseAddr("198.18.1.1")
	rip4 = netip.MustParseAddr("198.18.2.2")
	lip6 = netip.MustParseAddr("2001:2:0:1::1")
	rip6 = netip.MustParseAddr("2001:2:0:2::2")
	cli4 = header.AddrFromNetip(netip.MustParseAddr("198.18.0.7"))
	cli6 = header.AddrFromNetip(netip.MustParseAddr("2001:2::7"))
)

func opt(kind layers.TCPOptionKind, data ...byte) layers.TCPOption {
	return layers.TCPOption{OptionType: kind, OptionLength: uint8(len(data) + 2), OptionData: data}
}

var (
	nop     = layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1}
	mss1460 = opt(layers.TCPOptionKindMSS, 0x05, 0xb4)
	ws7     = opt(layers.TCPOptionKindWindowScale, 7)
	ts      = opt(layers.TCPOptionKindTimestamps, 0, 0, 0, 1, 0, 0, 0, 2)
	sackOK  = opt(layers.TCPOptionKindSACKPermitted)
)

func toaOpt(client header.Addr, port uint16) layers.TCPOption {
	var b [MaxLen]byte
	n := Encode(b[:], client, port)
	return opt(layers.TCPOptionKind(Kind), b[2:n]...)
}

// build serializes an IP packet (v4 unless v6) carrying a TCP ACK with the given options and payload,
// with gopacket computing every length and checksum. Options must fill a multiple of 4 bytes unless
// the test wants gopacket's zero padding (an EOL).
func build(tb testing.TB, v6 bool, opts []layers.TCPOption, payload []byte) []byte {
	tb.Helper()
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 2000, ACK: true, PSH: len(payload) > 0, Window: 502, Options: opts}
	var l3 gopacket.SerializableLayer
	if v6 {
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: lip6.AsSlice(), DstIP: rip6.AsSlice()}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l3 = ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: lip4.AsSlice(), DstIP: rip4.AsSlice()}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l3 = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l3, tcp, gopacket.Payload(payload)); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// withRoom copies pkt into a buffer of capacity len(pkt)+room.
func withRoom(pkt []byte, room int) []byte {
	b := make([]byte, len(pkt), len(pkt)+room)
	copy(b, pkt)
	return b
}

// verifyChecksums recomputes the IPv4 header checksum and the TCP checksum from scratch.
func verifyChecksums(tb testing.TB, pkt []byte, v6 bool) {
	tb.Helper()
	var src, dst, seg []byte
	if v6 {
		ip := header.IPv6(pkt)
		_, l4, _, ok := ip.TransportProtocol(maxIPv6Ext)
		if !ok {
			tb.Fatal("bad IPv6 chain")
		}
		src, dst, seg = ip.SourceAddress(), ip.DestinationAddress(), pkt[l4:]
	} else {
		ip := header.IPv4(pkt)
		if !ip.IsChecksumValid() {
			tb.Fatalf("IPv4 header checksum wrong: %x", pkt[:20])
		}
		src, dst, seg = ip.SourceAddress(), ip.DestinationAddress(), pkt[ip.HeaderLength():]
	}
	pseudo := header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint16(len(seg)))
	if !header.TCP(seg).IsChecksumValid(pseudo) {
		tb.Fatalf("TCP checksum wrong after insert (full recompute disagrees)")
	}
}

func TestInsertMatchesReference(t *testing.T) {
	payload := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	odd := []byte("odd")
	cases := []struct {
		name    string
		v6      bool
		client  header.Addr
		in      []layers.TCPOption
		want    []layers.TCPOption // options of the expected packet, before the TOA
		payload []byte
	}{
		{"ipv4_ack_no_options", false, cli4, nil, nil, nil},
		{"ipv4_data_no_options", false, cli4, nil, nil, payload},
		{"ipv4_odd_payload", false, cli4, nil, nil, odd},
		{"ipv4_timestamps", false, cli4, []layers.TCPOption{nop, nop, ts}, []layers.TCPOption{nop, nop, ts}, payload},
		{"ipv4_eol_padding_becomes_nop", false, cli4, []layers.TCPOption{mss1460, ws7}, []layers.TCPOption{mss1460, ws7, nop}, payload},
		{"ipv4_eol_after_ws", false, cli4, []layers.TCPOption{ws7}, []layers.TCPOption{ws7, nop}, odd},
		{"ipv4_eol_then_3_pad", false, cli4, []layers.TCPOption{nop, nop, ts, sackOK, nop, nop, nop}, []layers.TCPOption{nop, nop, ts, sackOK, nop, nop, nop, nop, nop, nop}, odd},
		{"nat64_ipv6_client_in_ipv4", false, cli6, []layers.TCPOption{nop, nop, ts}, []layers.TCPOption{nop, nop, ts}, payload},
		{"ipv6_ack", true, cli6, nil, nil, nil},
		{"ipv6_timestamps_data", true, cli6, []layers.TCPOption{nop, nop, ts}, []layers.TCPOption{nop, nop, ts}, payload},
		{"ipv6_syn_options", true, cli6, []layers.TCPOption{mss1460, sackOK, ts, nop, ws7}, []layers.TCPOption{mss1460, sackOK, ts, nop, ws7}, odd},
		{"ipv6_packet_ipv4_client", true, cli4, nil, nil, payload},
		{"ipv4_options_exactly_full", false, cli6, []layers.TCPOption{nop, nop, ts, nop, nop, ws7, nop}, []layers.TCPOption{nop, nop, ts, nop, nop, ws7, nop, nop, nop}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := build(t, tc.v6, tc.in, tc.payload)
			want := build(t, tc.v6, append(append([]layers.TCPOption(nil), tc.want...), toaOpt(tc.client, 4660)), tc.payload)
			pkt := withRoom(in, MaxLen)
			n, r := Insert(pkt, len(in), tc.v6, tc.client, 4660, 1500)
			if r != OK {
				t.Fatalf("Insert = %v, want ok", r)
			}
			if n != len(in)+OptionSize(tc.client) {
				t.Fatalf("newLen %d, want %d", n, len(in)+OptionSize(tc.client))
			}
			if !bytes.Equal(pkt[:n], want) {
				t.Fatalf("got\n%x\nwant\n%x", pkt[:n], want)
			}
			verifyChecksums(t, pkt[:n], tc.v6)
			// The real server's side finds it again.
			tcp := tcpOf(t, pkt[:n], tc.v6)
			a, p, ok := Decode(tcp.Options())
			if !ok || a != tc.client || p != 4660 {
				t.Fatalf("Decode = %v %d %v", a, p, ok)
			}
			if !bytes.Equal(tcp.Payload(), tc.payload) {
				t.Fatalf("payload %q, want %q", tcp.Payload(), tc.payload)
			}
		})
	}
}

func tcpOf(tb testing.TB, pkt []byte, v6 bool) header.TCP {
	tb.Helper()
	if v6 {
		_, l4, _, _ := header.IPv6(pkt).TransportProtocol(maxIPv6Ext)
		return header.TCP(pkt[l4:])
	}
	return header.TCP(pkt[header.IPv4(pkt).HeaderLength():])
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestInsertGoldenBytes pins the wire format byte by byte, independently of gopacket.
func TestInsertGoldenBytes(t *testing.T) {
	// Checksum fields are zero in the fixtures and filled from scratch, independently of Insert.
	in := unhex(t, `
		45 00 00 28  1234 4000  40 06 0000   c6120101 c6120202 // IPv4 198.18.1.1 -> 198.18.2.2, 40 bytes
		9c40 0050  000003e8  000007d0  50 10 01f6  0000 0000  // TCP 40000 -> 80 ACK, doff 5`)
	header.IPv4(in).FillChecksum()
	header.TCP(in[20:]).FillChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, in[12:16], in[16:20], 20))
	want := unhex(t, `
		45 00 00 30  1234 4000  40 06 0000   c6120101 c6120202 // total length 48
		9c40 0050  000003e8  000007d0  70 10 01f6  0000 0000  // doff 7
		fe 08 1234 c6120007                                   // TOA: kind 254, len 8, port 4660, 198.18.0.7`)
	header.IPv4(want).FillChecksum()
	header.TCP(want[20:]).FillChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, want[12:16], want[16:20], 28))
	pkt := withRoom(in, 8)
	n, r := Insert(pkt, len(in), false, cli4, 0x1234, 0)
	if r != OK || !bytes.Equal(pkt[:n], want) {
		t.Fatalf("%v\ngot  %x\nwant %x", r, pkt[:n], want)
	}

	in6 := unhex(t, `
		60000000 0014 06 40  20010002000000010000000000000001  20010002000000020000000000000002 // IPv6, payload 20
		9c40 0050  000003e8  000007d0  50 10 01f6  0000 0000`)
	header.TCP(in6[40:]).FillChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, in6[8:24], in6[24:40], 20))
	want6 := unhex(t, `
		60000000 0028 06 40  20010002000000010000000000000001  20010002000000020000000000000002 // payload 40
		9c40 0050  000003e8  000007d0  a0 10 01f6  0000 0000  // doff 10
		fe 14 1234 20010002000000000000000000000007             // TOA: kind 254, len 20, port 4660, 2001:2::7`)
	header.TCP(want6[40:]).FillChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, want6[8:24], want6[24:40], 40))
	pkt = withRoom(in6, 20)
	n, r = Insert(pkt, len(in6), true, cli6, 0x1234, 0)
	if r != OK || !bytes.Equal(pkt[:n], want6) {
		t.Fatalf("%v\ngot  %x\nwant %x", r, pkt[:n], want6)
	}
}

func TestInsertRefusals(t *testing.T) {
	base4 := build(t, false, []layers.TCPOption{nop, nop, ts}, []byte("data"))
	base6 := build(t, true, nil, []byte("data"))
	full := build(t, false, []layers.TCPOption{nop, nop, ts, nop, nop, ts, nop, nop, ts}, nil) // 36 bytes of options
	present := build(t, false, []layers.TCPOption{nop, nop, toaOpt(cli4, 1)}, nil)
	udp := func() []byte {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: lip4.AsSlice(), DstIP: rip4.AsSlice()}
		u := &layers.UDP{SrcPort: 1, DstPort: 2}
		_ = u.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		_ = gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, u, gopacket.Payload("x"))
		return buf.Bytes()
	}()
	mutate := func(p []byte, f func([]byte)) []byte {
		p = append([]byte(nil), p...)
		f(p)
		return p
	}
	cases := []struct {
		name string
		pkt  []byte
		n    int // 0: len(pkt)
		v6   bool
		cl   header.Addr
		room int
		mtu  int
		want Result
	}{
		{"ipv4_no_tailroom", base4, 0, false, cli4, 7, 0, NoTailroom},
		{"ipv6_no_tailroom_for_20", base6, 0, true, cli6, 19, 0, NoTailroom},
		{"ipv4_options_full", full, 0, false, cli4, 8, 0, OptionsFull},
		{"ipv4_exceeds_mtu", base4, 0, false, cli4, 8, len(base4) + 7, ExceedsMTU},
		{"ipv4_fits_mtu_exactly", base4, 0, false, cli4, 8, len(base4) + 8, OK},
		{"ipv4_already_present", present, 0, false, cli4, 8, 0, AlreadyPresent},
		{"ipv4_udp", udp, 0, false, cli4, 8, 0, Malformed},
		{"ipv4_truncated", base4, 30, false, cli4, 8, 0, Malformed},
		{"ipv4_tcp_header_cut", mutate(base4, func(p []byte) { binary.BigEndian.PutUint16(p[2:], 30); header.IPv4(p).FillChecksum() }), 0, false, cli4, 8, 0, Malformed},
		{"ipv4_fragment", mutate(base4, func(p []byte) { p[6] |= 0x20 }), 0, false, cli4, 8, 0, Malformed},
		{"ipv4_doff_too_small", mutate(base4, func(p []byte) { p[32] = 0x40 }), 0, false, cli4, 8, 0, Malformed},
		{"ipv4_doff_past_end", mutate(base4, func(p []byte) { p[32] = 0xf0 }), 0, false, cli4, 8, 0, Malformed},
		{"ipv4_option_len_1", mutate(base4, func(p []byte) { p[43] = 1 }), 0, false, cli4, 8, 0, Malformed},
		{"ipv4_option_past_end", mutate(base4, func(p []byte) { p[43] = 11 }), 0, false, cli4, 8, 0, Malformed},
		{"ipv4_given_as_v6", base4, 0, true, cli4, 8, 0, Malformed},
		{"ipv6_given_as_v4", base6, 0, false, cli4, 8, 0, Malformed},
		{"ipv6_fragment_header", mutate(append(append([]byte(nil), base6[:40]...), append([]byte{6, 0, 0, 0, 0, 0, 0, 1}, base6[40:]...)...), func(p []byte) {
			p[6] = 44
			binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
		}), 0, true, cli4, 8, 0, Malformed},
		{"ipv6_n_exceeds_len", base6, len(base6) + 1, true, cli6, 20, 0, Malformed},
		{"empty", []byte{}, 0, false, cli4, 8, 0, Malformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n
			if n == 0 {
				n = len(tc.pkt)
			}
			pkt := withRoom(tc.pkt, tc.room)
			before := append([]byte(nil), pkt[:cap(pkt)]...)
			newLen, r := Insert(pkt, n, tc.v6, tc.cl, 80, tc.mtu)
			if r != tc.want {
				t.Fatalf("Insert = %v, want %v", r, tc.want)
			}
			if r != OK {
				if newLen != n || !bytes.Equal(pkt[:cap(pkt)], before) {
					t.Fatalf("refused Insert changed the packet or its length (%d, want %d)", newLen, n)
				}
			} else {
				verifyChecksums(t, pkt[:newLen], tc.v6)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name  string
		opts  string
		addr  string
		port  uint16
		found bool
	}{
		{"v4", "0101 fe08 1f90 c6120007", "198.18.0.7", 8080, true},
		{"v6", "fe14 0050 20010002000000000000000000000007", "2001:2::7", 80, true},
		{"after_ts", "0101 080a 0000000100000002 fe08 0001 c6120007 0000", "198.18.0.7", 1, true},
		{"none", "0101 080a 0000000100000002", "", 0, false},
		{"bad_len_6", "fe06 0001 c612 0000", "", 0, false},
		{"truncated", "fe08 0001 c612", "", 0, false},
		{"after_eol", "00 000000 fe08 0001 c6120007", "", 0, false},
		{"empty", "", "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, p, ok := Decode(unhex(t, tc.opts))
			if ok != tc.found {
				t.Fatalf("ok %v, want %v", ok, tc.found)
			}
			if ok && (a.String() != tc.addr || p != tc.port) {
				t.Fatalf("got %v:%d, want %s:%d", a, p, tc.addr, tc.port)
			}
		})
	}
}

func TestResultStrings(t *testing.T) {
	want := []string{"ok", "no_tailroom", "options_full", "exceeds_mtu", "malformed", "already_present"}
	for r := Result(0); r < NumResults; r++ {
		if r.String() != want[r] {
			t.Errorf("%d: %q", r, r.String())
		}
	}
	if Result(17).String() != "result(17)" {
		t.Error(Result(17).String())
	}
}

// TestInsertRandom compares Insert against gopacket building the same packet with the option, over
// random option lists, payloads and addresses (TEST_SEED replays a run).
func TestInsertRandom(t *testing.T) {
	rng := newRand(t)
	pool := []layers.TCPOption{nop, mss1460, ws7, ts, sackOK}
	for i := 0; i < 300; i++ {
		v6 := rng.IntN(2) == 0
		var opts []layers.TCPOption
		olen := 0
		for k := rng.IntN(6); k > 0; k-- {
			o := pool[rng.IntN(len(pool))]
			l := 1
			if o.OptionType != layers.TCPOptionKindNop {
				l = int(o.OptionLength)
			}
			if olen+l > 40 {
				break
			}
			opts, olen = append(opts, o), olen+l
		}
		payload := make([]byte, rng.IntN(200))
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		var client header.Addr
		if rng.IntN(2) == 0 {
			client = header.AddrFrom4([]byte{198, 18, byte(rng.Uint32()), byte(rng.Uint32())})
		} else {
			client = cli6
			client[15], client[14] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		port := uint16(rng.Uint32())
		in := build(t, v6, opts, payload)
		pkt := withRoom(in, MaxLen)
		n, r := Insert(pkt, len(in), v6, client, port, 0)
		padded := (olen + 3) &^ 3
		if padded+OptionSize(client) > 40 {
			if r != OptionsFull {
				t.Fatalf("case %d: %v, want options_full", i, r)
			}
			continue
		}
		if r != OK {
			t.Fatalf("case %d: %v", i, r)
		}
		want := append([]layers.TCPOption(nil), opts...)
		for k := olen; k < padded; k++ {
			want = append(want, nop)
		}
		want = append(want, toaOpt(client, port))
		if exp := build(t, v6, want, payload); !bytes.Equal(pkt[:n], exp) {
			t.Fatalf("case %d:\ngot  %x\nwant %x", i, pkt[:n], exp)
		}
	}
}

func TestInsertAllocs(t *testing.T) {
	in := build(t, false, []layers.TCPOption{nop, nop, ts}, []byte("payload"))
	in6 := build(t, true, []layers.TCPOption{nop, nop, ts}, []byte("payload"))
	pkt := withRoom(in, 8)
	pkt6 := withRoom(in6, 20)
	opts := header.TCP(in[20:]).Options()
	allocs := testing.AllocsPerRun(100, func() {
		copy(pkt[:cap(pkt)], in)
		if _, r := Insert(pkt, len(in), false, cli4, 1, 1500); r != OK {
			panic(r)
		}
		copy(pkt6[:cap(pkt6)], in6)
		if _, r := Insert(pkt6, len(in6), true, cli6, 1, 1500); r != OK {
			panic(r)
		}
		Decode(opts)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}

func BenchmarkInsert(b *testing.B) {
	in := build(b, false, []layers.TCPOption{nop, nop, ts}, make([]byte, 512))
	pkt := withRoom(in, 8)
	b.ReportAllocs()
	for b.Loop() {
		copy(pkt[:cap(pkt)], in)
		Insert(pkt, len(in), false, cli4, 1, 1500)
	}
}
