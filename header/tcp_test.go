package header

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// synTCP is a TCP SYN header as Linux sends it (hand-written):
var synTCP = []byte{
	0x9c, 0x40, // source port 40000
	0x00, 0x50, // destination port 80
	0x00, 0x00, 0x03, 0xe8, // seq 1000
	0x00, 0x00, 0x00, 0x00, // ack 0
	0xa0,       // data offset 10 (40 bytes)
	0x02,       // SYN
	0xfa, 0xf0, // window 64240
	0x00, 0x00, // checksum (filled by the test)
	0x00, 0x00, // urgent pointer
	0x02, 0x04, 0x05, 0xb4, // MSS 1460
	0x04, 0x02, // SACK permitted
	0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // timestamps 1, 0
	0x01,             // NOP
	0x03, 0x03, 0x07, // window scale 7
}

func TestTCPAccessors(t *testing.T) {
	b := TCP(append([]byte(nil), synTCP...))
	pseudo := PseudoHeaderChecksum(ProtocolTCP, testSrc4, testDst4, uint16(len(b)))
	b.FillChecksum(pseudo)
	if !b.IsValid(len(b)) || !b.IsChecksumValid(pseudo) || b.CalculateChecksum(pseudo) != 0xffff {
		t.Fatal("valid SYN rejected")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"SourcePort", b.SourcePort(), uint16(40000)},
		{"DestinationPort", b.DestinationPort(), uint16(80)},
		{"SequenceNumber", b.SequenceNumber(), uint32(1000)},
		{"AckNumber", b.AckNumber(), uint32(0)},
		{"DataOffset", b.DataOffset(), 40},
		{"Flags", b.Flags(), TCPFlagSyn},
		{"WindowSize", b.WindowSize(), uint16(64240)},
		{"UrgentPointer", b.UrgentPointer(), uint16(0)},
		{"Options", len(b.Options()), 20},
		{"Payload", len(b.Payload()), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if mss, ok := b.MSS(); !ok || mss != 1460 {
		t.Errorf("MSS = %d, %v", mss, ok)
	}
	o, ok := ParseTCPSynOptions(b.Options())
	want := TCPSynOptions{MSS: 1460, WS: 7, SACKPermitted: true, TSVal: 1, HasMSS: true, HasWS: true, HasTS: true}
	if !ok || o != want {
		t.Errorf("ParseTCPSynOptions = %+v, %v; want %+v", o, ok, want)
	}
	if TCPFlagFin|TCPFlagSyn|TCPFlagRst|TCPFlagPsh|TCPFlagAck|TCPFlagUrg|TCPFlagEce|TCPFlagCwr != 0xff || TCPFlagAck != 0x10 || TCPFlagCwr != 0x80 {
		t.Error("flag values")
	}
}

func TestTCPIsValid(t *testing.T) {
	tests := []struct {
		name   string
		b      []byte
		segLen int
		want   bool
	}{
		{"ok", synTCP, 40, true},
		{"ok_payload", append(append([]byte(nil), synTCP...), 1, 2, 3), 43, true},
		{"tcp_too_short", synTCP[:19], 19, false},
		{"tcp_doff_too_small", append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40}, make([]byte, 7)...), 20, false},
		{"tcp_doff_overrun", synTCP[:36], 36, false},
		{"tcp_seglen_past_slice", synTCP[:36], 40, false},
	}
	for _, tt := range tests {
		if got := TCP(tt.b).IsValid(tt.segLen); got != tt.want {
			t.Errorf("%s: IsValid(%d) = %v, want %v", tt.name, tt.segLen, got, tt.want)
		}
	}
}

// TestTCPRewriteDifferential applies every incremental rewrite to random segments over IPv4 and IPv6
// and checks the stored checksum against a full recompute (RFC 1071 reference, pseudo header built
// byte by byte).
func TestTCPRewriteDifferential(t *testing.T) {
	r := testRand(t)
	for i := range 10000 {
		alen := 4
		if i%2 == 1 {
			alen = 16
		}
		src, dst := randBytes(r, alen), randBytes(r, alen)
		b := TCP(randBytes(r, 20+r.IntN(100)))
		b[12] = 0x50
		b.FillChecksum(PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(b))))
		switch i % 7 {
		case 0:
			b.SetSourcePortWithChecksumUpdate(uint16(r.Uint32()))
		case 1:
			b.SetDestinationPortWithChecksumUpdate(uint16(r.Uint32()))
		case 2:
			b.SetSequenceNumberWithChecksumUpdate(r.Uint32())
		case 3:
			b.SetAckNumberWithChecksumUpdate(r.Uint32())
		case 4, 5: // NAT of an address (4 or 16 bytes) in the pseudo header
			na := randBytes(r, alen)
			if i%7 == 4 {
				b.UpdateChecksumPseudoHeaderAddress(src, na)
				src = na
			} else {
				b.UpdateChecksumPseudoHeaderAddress(dst, na)
				dst = na
			}
		case 6: // everything at once, as FULLNAT does
			na, nb := randBytes(r, alen), randBytes(r, alen)
			b.UpdateChecksumPseudoHeaderAddress(src, na)
			b.UpdateChecksumPseudoHeaderAddress(dst, nb)
			src, dst = na, nb
			b.SetSourcePortWithChecksumUpdate(uint16(r.Uint32()))
			b.SetDestinationPortWithChecksumUpdate(uint16(r.Uint32()))
			b.SetSequenceNumberWithChecksumUpdate(r.Uint32())
		}
		if naiveChecksum(b, naivePseudo(ProtocolTCP, src, dst, len(b))) != 0xffff {
			got := b.Checksum()
			b.FillChecksum(PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(b))))
			t.Fatalf("case %d: incremental %#04x, recompute %#04x", i, got, b.Checksum())
		}
	}
}

// TestTCPRewriteGopacket NATs a gopacket-built frame with our helpers and compares it byte for byte with
// the frame gopacket builds for the rewritten fields.
func TestTCPRewriteGopacket(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		newSrc, newDst := net.IP{192, 0, 2, 10}, net.IP{198, 51, 100, 20}
		build := func(src, dst net.IP, sport, dport uint16, mss byte) []byte {
			s := tcpSyn(sport, dport)
			s.Options[0].OptionData = []byte{0x05, mss}
			s.Options = append([]layers.TCPOption{{OptionType: layers.TCPOptionKindNop}}, s.Options...) // MSS value at an odd offset
			pl := gopacket.Payload("payload!")
			if v6 {
				l := ip6(layers.IPProtocolTCP)
				l.SrcIP, l.DstIP = src, dst
				return mustSerialize(t, eth(layers.EthernetTypeIPv6), l, s, pl)
			}
			l := ip4(layers.IPProtocolTCP)
			l.SrcIP, l.DstIP = src, dst
			return mustSerialize(t, eth(layers.EthernetTypeIPv4), l, s, pl)
		}
		src, dst := testSrc4, testDst4
		if v6 {
			src, dst = testSrc6, testDst6
			newSrc, newDst = net.ParseIP("2001:db8:1::10"), net.ParseIP("2001:db8:2::20")
		} else {
			src, dst = src.To4(), dst.To4()
			newSrc, newDst = newSrc.To4(), newDst.To4()
		}
		frame := build(src, dst, 40000, 80, 0xb4)
		var p Packet
		if res := p.Parse(frame); res != ParseOK {
			t.Fatal(res)
		}
		tcp := TCP(frame[p.L4Offset : p.L3Offset+p.L3Length])
		if p.IsIPv6 {
			ip := IPv6(frame[p.L3Offset:])
			tcp.UpdateChecksumPseudoHeaderAddress(ip.SourceAddress(), newSrc)
			tcp.UpdateChecksumPseudoHeaderAddress(ip.DestinationAddress(), newDst)
			ip.SetSourceAddress(newSrc)
			ip.SetDestinationAddress(newDst)
		} else {
			ip := IPv4(frame[p.L3Offset:])
			tcp.UpdateChecksumPseudoHeaderAddress(ip.SourceAddress(), newSrc)
			tcp.UpdateChecksumPseudoHeaderAddress(ip.DestinationAddress(), newDst)
			ip.SetSourceAddressWithChecksumUpdate(newSrc)
			ip.SetDestinationAddressWithChecksumUpdate(newDst)
		}
		tcp.SetSourcePortWithChecksumUpdate(1025)
		tcp.SetDestinationPortWithChecksumUpdate(8080)
		if !tcp.ClampMSSWithChecksumUpdate(1400) || tcp.ClampMSSWithChecksumUpdate(1400) {
			t.Error("ClampMSS changed nothing, or changed it twice")
		}
		want := build(newSrc, newDst, 1025, 8080, 0x78) // 0x0578 = 1400
		if !bytes.Equal(frame, want) {
			t.Errorf("v6=%v: rewritten frame\n% x\nwant\n% x", v6, frame, want)
		}
	}
}

func TestTCPSetMSS(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []byte
		ok   bool
	}{
		{"mss_even", []byte{2, 4, 5, 0xb4}, true},
		{"mss_odd", []byte{1, 2, 4, 5, 0xb4, 1, 1, 1}, true},
		{"mss_after_ts", []byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 5, 0xb4}, true},
		{"mss_absent", []byte{1, 1, 4, 2}, false},
		{"mss_bad_length", []byte{2, 3, 5, 0, 0, 0, 0, 0}, false},
		{"mss_after_malformed", []byte{3, 0, 2, 4, 5, 0xb4, 0, 0}, false},
	} {
		b := TCP(append(append(append([]byte(nil), synTCP[:20]...), tt.opts...), make([]byte, (4-len(tt.opts)%4)%4)...))
		b[12] = byte(len(b)/4) << 4
		pseudo := PseudoHeaderChecksum(ProtocolTCP, testSrc4, testDst4, uint16(len(b)))
		b.FillChecksum(pseudo)
		before := append([]byte(nil), b...)
		old, ok := b.SetMSSWithChecksumUpdate(536)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v", tt.name, ok)
			continue
		}
		if !ok {
			if !bytes.Equal(b, before) {
				t.Errorf("%s: modified without an MSS option", tt.name)
			}
			continue
		}
		if mss, _ := b.MSS(); old != 1460 || mss != 536 || !b.IsChecksumValid(pseudo) {
			t.Errorf("%s: old %d new %d checksum valid %v", tt.name, old, mss, b.IsChecksumValid(pseudo))
		}
	}
}

func TestTCPOptionIterator(t *testing.T) {
	type opt struct {
		kind uint8
		off  int
		data string
	}
	tests := []struct {
		name      string
		opts      []byte
		want      []opt
		malformed bool
		valid     bool // TCPOptionsValid
	}{
		{"empty", nil, nil, false, true},
		{"linux_syn", synTCP[20:], []opt{{2, 0, "\x05\xb4"}, {4, 4, ""}, {8, 6, "\x00\x00\x00\x01\x00\x00\x00\x00"}, {3, 17, "\x07"}}, false, true},
		{"nops_only", []byte{1, 1, 1, 1}, nil, false, true},
		{"eol_stops", []byte{1, 0, 2, 4, 5, 0xb4}, nil, false, true},
		{"sack_two_blocks", cat([]byte{1, 1, 5, 18}, make([]byte, 16)), []opt{{5, 2, string(make([]byte, 16))}}, false, true},
		{"toa_unknown_kind", []byte{254, 8, 0x1f, 0x90, 198, 18, 0, 1}, []opt{{254, 0, "\x1f\x90\xc6\x12\x00\x01"}}, false, true},
		{"unknown_kind_any_length", []byte{99, 3, 0, 1}, []opt{{99, 0, "\x00"}}, false, true},
		{"tcpopt_len_zero", []byte{2, 0, 5, 0xb4}, nil, true, false},
		{"tcpopt_len_one", []byte{1, 8, 1}, nil, true, false},
		{"tcpopt_overrun", []byte{2, 4, 5, 0xb4, 8, 10, 0, 0}, []opt{{2, 0, "\x05\xb4"}}, true, false},
		{"tcpopt_missing_length", []byte{1, 1, 1, 3}, nil, true, false},
		{"tcpopt_mss_bad_length", []byte{2, 3, 5, 1}, []opt{{2, 0, "\x05"}}, false, false},
		{"tcpopt_ws_bad_length", []byte{3, 4, 7, 0}, []opt{{3, 0, "\x07\x00"}}, false, false},
		{"tcpopt_sackperm_bad_length", []byte{4, 3, 0, 0}, []opt{{4, 0, "\x00"}}, false, false},
		{"tcpopt_ts_bad_length", []byte{8, 6, 0, 0, 0, 0}, []opt{{8, 0, "\x00\x00\x00\x00"}}, false, false},
		{"tcpopt_sack_partial_block", []byte{5, 6, 0, 0, 0, 0}, []opt{{5, 0, "\x00\x00\x00\x00"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := NewTCPOptionIterator(tt.opts)
			var got []opt
			for o, ok := it.Next(); ok; o, ok = it.Next() {
				got = append(got, opt{o.Kind, o.Offset, string(o.Data)})
				if o.Length() != len(o.Data)+2 || tt.opts[o.Offset] != o.Kind || int(tt.opts[o.Offset+1]) != o.Length() {
					t.Errorf("option %+v inconsistent with buffer", o)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("options = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("option %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if it.Malformed() != tt.malformed {
				t.Errorf("Malformed = %v", it.Malformed())
			}
			if TCPOptionsValid(tt.opts) != tt.valid {
				t.Errorf("TCPOptionsValid = %v", !tt.valid)
			}
			if _, ok := ParseTCPSynOptions(tt.opts); ok == tt.malformed {
				t.Errorf("ParseTCPSynOptions ok = %v", ok)
			}
		})
	}
}

// TestTCPOptionsGopacket compares our walk of random well-formed option lists with gopacket's decoding.
func TestTCPOptionsGopacket(t *testing.T) {
	r := testRand(t)
	for range 500 {
		var opts []byte
		for len(opts) < 36 {
			switch r.IntN(7) {
			case 0:
				opts = append(opts, 1)
			case 1:
				var m [TCPOptionMSSLength]byte
				EncodeMSSOption(uint16(r.Uint32()), m[:])
				opts = append(opts, m[:]...)
			case 2:
				opts = append(opts, 3, 3, byte(r.IntN(15)))
			case 3:
				opts = append(opts, 4, 2)
			case 4:
				opts = append(opts, cat([]byte{8, 10}, randBytes(r, 8))...)
			case 5:
				opts = append(opts, cat([]byte{254, 8}, randBytes(r, 6))...)
			case 6:
				opts = append(opts, cat([]byte{5, 10}, randBytes(r, 8))...)
			}
		}
		if len(opts) > 40 {
			continue
		}
		for len(opts)%4 != 0 {
			opts = append(opts, 0)
		}
		seg := TCP(append(append([]byte(nil), synTCP[:20]...), opts...))
		seg[12] = byte(len(seg)/4) << 4
		var g layers.TCP
		if err := g.DecodeFromBytes(seg, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket: %v", err)
		}
		var want []layers.TCPOption
		for _, o := range g.Options {
			if o.OptionType != layers.TCPOptionKindNop && o.OptionType != layers.TCPOptionKindEndList {
				want = append(want, o)
			}
		}
		it := NewTCPOptionIterator(seg.Options())
		n := 0
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if n >= len(want) || uint8(want[n].OptionType) != o.Kind || int(want[n].OptionLength) != o.Length() || !bytes.Equal(want[n].OptionData, o.Data) {
				t.Fatalf("option %d: ours %+v, gopacket %+v", n, o, want)
			}
			n++
		}
		if n != len(want) || it.Malformed() || !TCPOptionsValid(seg.Options()) {
			t.Fatalf("walked %d of %d options, malformed %v", n, len(want), it.Malformed())
		}
	}
}

func TestEncodeTCPSynOptions(t *testing.T) {
	for _, o := range []TCPSynOptions{
		{},
		{MSS: 1460, HasMSS: true},
		{MSS: 1460, HasMSS: true, SACKPermitted: true},
		{MSS: 1460, HasMSS: true, WS: 7, HasWS: true},
		{MSS: 1460, HasMSS: true, TSVal: 7, TSEcr: 9, HasTS: true},
		{MSS: 536, HasMSS: true, SACKPermitted: true, TSVal: 0xdeadbeef, TSEcr: 1, HasTS: true, WS: 14, HasWS: true},
		{SACKPermitted: true, WS: 2, HasWS: true},
	} {
		var buf [TCPSynOptionsMaxSize]byte
		n := EncodeTCPSynOptions(o, buf[:])
		if n%4 != 0 || n > TCPSynOptionsMaxSize || !TCPOptionsValid(buf[:n]) {
			t.Errorf("%+v: encoded % x", o, buf[:n])
		}
		if got, ok := ParseTCPSynOptions(buf[:n]); !ok || got != o {
			t.Errorf("round trip %+v -> % x -> %+v", o, buf[:n], got)
		}
	}
	// Linux's full SYN layout, byte for byte (the SYN above minus its NOP-WS ordering).
	var buf [TCPSynOptionsMaxSize]byte
	n := EncodeTCPSynOptions(TCPSynOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, TSVal: 1, HasTS: true, WS: 7, HasWS: true}, buf[:])
	if want := synTCP[20:]; !bytes.Equal(buf[:n], want) {
		t.Errorf("encoded % x, want % x", buf[:n], want)
	}
	var ws [3]byte
	if EncodeWSOption(3, ws[:]) != 3 || ws != [3]byte{3, 3, 3} {
		t.Error("EncodeWSOption")
	}
	var ts [10]byte
	EncodeTimestampsOption(0x01020304, 0x05060708, ts[:])
	if binary.BigEndian.Uint32(ts[6:]) != 0x05060708 {
		t.Error("EncodeTimestampsOption")
	}
}
