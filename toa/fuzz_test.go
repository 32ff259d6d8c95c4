package toa

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
)

// FuzzInsert: no panic; a refusal leaves the buffer alone; a success leaves checksums that verify
// (when they verified before), the option decodable, and the payload intact.
func FuzzInsert(f *testing.F) {
	f.Add(build(f, false, nil, nil), false, false, uint16(1), 1500)
	f.Add(build(f, false, []layers.TCPOption{mss1460, ws7}, []byte("abc")), false, true, uint16(2), 0)
	f.Add(build(f, true, []layers.TCPOption{nop, nop, ts}, []byte("abcd")), true, true, uint16(3), 1500)
	f.Add(build(f, true, nil, []byte("x")), true, false, uint16(4), 61)
	f.Fuzz(func(t *testing.T, in []byte, v6, client6 bool, port uint16, mtu int) {
		client := cli4
		if client6 {
			client = cli6
		}
		pkt := withRoom(in, MaxLen)
		before := append([]byte(nil), pkt[:cap(pkt)]...)
		validBefore := checksumsOK(in, v6)
		n, r := Insert(pkt, len(in), v6, client, port, mtu)
		if r != OK {
			if n != len(in) || !bytes.Equal(pkt[:cap(pkt)], before) {
				t.Fatalf("%v changed the buffer", r)
			}
			return
		}
		if n != ipLength(in, v6)+OptionSize(client) {
			t.Fatalf("newLen %d", n)
		}
		if validBefore && !checksumsOK(pkt[:n], v6) {
			t.Fatalf("checksums no longer verify:\nin  %x\nout %x", in, pkt[:n])
		}
		tcp := tcpOf(t, pkt[:n], v6)
		if a, p, ok := Decode(tcp.Options()); !ok || a != client || p != port {
			t.Fatalf("Decode after Insert: %v %d %v", a, p, ok)
		}
		if !header.TCPOptionsValid(tcp.Options()) && header.TCPOptionsValid(tcpOf(t, in, v6).Options()) {
			t.Fatal("insert broke a valid option list")
		}
		if !bytes.Equal(tcp.Payload(), tcpOf(t, in[:ipLength(in, v6)], v6).Payload()) {
			t.Fatal("payload changed")
		}
	})
}

// FuzzDecode: no panic, and a decoded option re-encodes to bytes present in the input.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{1, 1, 254, 8, 0, 80, 198, 18, 0, 7})
	f.Add([]byte{254, 20, 0, 80, 0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, opts []byte) {
		a, p, ok := Decode(opts)
		if !ok {
			return
		}
		var b [MaxLen]byte
		n := Encode(b[:], a, p)
		if !bytes.Contains(opts, b[:n]) {
			t.Fatalf("decoded %v:%d not in %x", a, p, opts)
		}
	})
}

func ipLength(pkt []byte, v6 bool) int {
	if v6 {
		return header.IPv6MinimumSize + int(header.IPv6(pkt).PayloadLength())
	}
	return int(header.IPv4(pkt).TotalLength())
}

func checksumsOK(pkt []byte, v6 bool) bool {
	var src, dst, seg []byte
	if v6 {
		ip := header.IPv6(pkt)
		if !ip.IsValid(len(pkt)) {
			return false
		}
		_, l4, _, ok := ip.TransportProtocol(maxIPv6Ext)
		if !ok || l4 > ipLength(pkt, v6) {
			return false
		}
		src, dst, seg = ip.SourceAddress(), ip.DestinationAddress(), pkt[l4:ipLength(pkt, v6)]
	} else {
		ip := header.IPv4(pkt)
		if !ip.IsValid(len(pkt)) || !ip.IsChecksumValid() {
			return false
		}
		src, dst, seg = ip.SourceAddress(), ip.DestinationAddress(), pkt[ip.HeaderLength():ip.TotalLength()]
	}
	pseudo := header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint16(len(seg)))
	return header.TCP(seg).IsChecksumValid(pseudo)
}
