package synproxy

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
)

func TestSeqnum(t *testing.T) {
	tests := []struct {
		v, w     Value
		lt, lteq bool
	}{
		{0, 1, true, true}, {1, 0, false, false}, {5, 5, false, true},
		{0xFFFFFFFF, 0, true, true}, {0, 0xFFFFFFFF, false, false},
		{0xFFFFFFF0, 0x10, true, true}, {0x7FFFFFFF, 0xFFFFFFFE, true, true},
	}
	for _, tt := range tests {
		if tt.v.LessThan(tt.w) != tt.lt || tt.v.LessThanEq(tt.w) != tt.lteq {
			t.Errorf("%#x vs %#x", tt.v, tt.w)
		}
	}
	if !Value(0xFFFFFFFF).InRange(0xFFFFFFF0, 0x10) || Value(0x10).InRange(0xFFFFFFF0, 0x10) || !Value(3).InRange(0xFFFFFFF0, 0x10) {
		t.Error("InRange across the wrap")
	}
	if v := Value(0xFFFFFFFE).Add(5); v != 3 {
		t.Errorf("Add: %#x", v)
	}
	if v := Value(3).Sub(5); v != 0xFFFFFFFE {
		t.Errorf("Sub: %#x", v)
	}
	if s := Value(0xFFFFFFFE).Size(3); s != 5 {
		t.Errorf("Size: %d", s)
	}
}

// TestTranslateWrap: sequence and acknowledgment numbers across 2^32, each direction, against a
// uint64 reference, the checksum verified by gopacket.
func TestTranslateWrap(t *testing.T) {
	vals := []uint32{0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF}
	for _, delta := range []uint32{0, 1, 0x10, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF} {
		for _, v := range vals {
			d := Delta{Seq: Size(delta)}
			// client → server: ack + Seq
			p := mustBuild(t, seg{src: cli4, dst: vip4, sport: 1, dport: 2, seq: v ^ 0x55, ack: v, ack_: true, win: 9})
			if r := Translate(tcpOf(t, p), ClientToServer, &d); r != OK {
				t.Fatal(r)
			}
			got := mustDecode(t, p).tcp
			if want := uint32((uint64(v) + uint64(delta)) % (1 << 32)); got.Ack != want || got.Seq != v^0x55 {
				t.Errorf("c2s ack %#x + %#x = %#x, want %#x (seq %#x)", v, delta, got.Ack, want, got.Seq)
			}
			// server → client: seq − Seq
			p = mustBuild(t, seg{v6: true, src: vip6, dst: cli6, sport: 2, dport: 1, seq: v, ack: v ^ 0x55, ack_: true, win: 9})
			if r := Translate(tcpOf(t, p), ServerToClient, &d); r != OK {
				t.Fatal(r)
			}
			got = mustDecode(t, p).tcp
			if want := uint32((uint64(v) + (1 << 32) - uint64(delta)) % (1 << 32)); got.Seq != want || got.Ack != v^0x55 {
				t.Errorf("s2c seq %#x − %#x = %#x, want %#x (ack %#x)", v, delta, got.Seq, want, got.Ack)
			}
		}
	}
	// A client segment without ACK (a bare RST) keeps its acknowledgment field.
	p := mustBuild(t, seg{src: cli4, dst: vip4, sport: 1, dport: 2, seq: 5, ack: 7, rst: true})
	Translate(tcpOf(t, p), ClientToServer, &Delta{Seq: 100})
	if got := mustDecode(t, p).tcp; got.Ack != 7 {
		t.Errorf("bare RST ack %d", got.Ack)
	}
}

func sackOpt(edges ...uint32) layers.TCPOption {
	var b []byte
	for _, e := range edges {
		b = binary.BigEndian.AppendUint32(b, e)
	}
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(b)), OptionData: b}
}

func sackEdges(tcp *layers.TCP) []uint32 {
	var e []uint32
	for _, o := range tcp.Options {
		if o.OptionType == layers.TCPOptionKindSACK {
			for i := 0; i < len(o.OptionData); i += 4 {
				e = append(e, binary.BigEndian.Uint32(o.OptionData[i:]))
			}
		}
	}
	return e
}

// TestTranslateSACK: every edge of every block moves by Seq client → server (wrapping, at even and
// odd offsets); server → client they stay.
func TestTranslateSACK(t *testing.T) {
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
	edges4 := []uint32{0xFFFFFF00, 0xFFFFFFF0, 0xFFFFFFF8, 0x00000010, 0x20, 0x30, 0x7FFFFFFF, 0x80000001}
	tests := []struct {
		name string
		opts []layers.TCPOption
		ts   bool
	}{
		{"four_blocks_even", []layers.TCPOption{nop, nop, sackOpt(edges4...)}, false},
		{"three_blocks_with_ts", append(tsOpt(100, 200), nop, nop, sackOpt(edges4[:6]...)), true},
		{"one_block_odd", []layers.TCPOption{nop, sackOpt(edges4[2:4]...), nop, nop, nop}, false},
		{"two_blocks_odd_after_ts", append(tsOpt(100, 200)[1:], sackOpt(edges4[:4]...), nop), true},
		{"dsack_then_ts", []layers.TCPOption{nop, nop, sackOpt(1, 2), tsOpt(5, 6)[2]}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, delta := range []uint32{0x100, 0xFFFFFFFF, 0x80000000} {
				d := Delta{Seq: Size(delta), TS: 1000, Flags: DeltaTS}
				p := mustBuild(t, seg{src: cli4, dst: vip4, sport: 1, dport: 2, seq: 9, ack: 0xFFFFFFFF, ack_: true, win: 9, opts: tt.opts})
				before := sackEdges(mustDecode(t, p).tcp)
				if len(before) == 0 {
					t.Fatal("no SACK in the fixture")
				}
				q := append([]byte(nil), p...)
				if r := Translate(tcpOf(t, p), ClientToServer, &d); r != OK {
					t.Fatal(r)
				}
				got := mustDecode(t, p).tcp
				after := sackEdges(got)
				for i := range before {
					if after[i] != before[i]+delta {
						t.Errorf("edge %d: %#x → %#x, want %#x", i, before[i], after[i], before[i]+delta)
					}
				}
				if ts, ok := tsOpts(got); ok != tt.ts || ok && (ts[0] != tsOpts0(t, q)[0] || ts[1] != tsOpts0(t, q)[1]+1000) {
					t.Errorf("TS %v", ts)
				}
				// Server → client: SACK edges count the client's bytes and stay.
				if r := Translate(tcpOf(t, q), ServerToClient, &d); r != OK {
					t.Fatal(r)
				}
				if got := sackEdges(mustDecode(t, q).tcp); len(got) != len(before) || got[0] != before[0] || got[len(got)-1] != before[len(before)-1] {
					t.Errorf("s2c SACK changed: %x → %x", before, got)
				}
			}
		})
	}
}

func tsOpts0(tb testing.TB, ip []byte) [2]uint32 {
	tb.Helper()
	ts, _ := tsOpts(mustDecode(tb, ip).tcp)
	return ts
}

// TestTranslateTS: TSecr moves client → server (only with ACK), TSval server → client, nothing
// without DeltaTS.
func TestTranslateTS(t *testing.T) {
	tests := []struct {
		name   string
		dir    Dir
		ack    bool
		flags  DeltaFlags
		val    uint32
		ecr    uint32
		wantTS [2]uint32
	}{
		{"c2s", ClientToServer, true, DeltaTS, 0xFFFFFFFF, 0xFFFFFFF0, [2]uint32{0xFFFFFFFF, 0x10}},
		{"c2s_no_ack", ClientToServer, false, DeltaTS, 7, 0, [2]uint32{7, 0}},
		{"s2c", ServerToClient, true, DeltaTS, 0x10, 0xABCDEF01, [2]uint32{0xFFFFFFF0, 0xABCDEF01}},
		{"c2s_off", ClientToServer, true, 0, 1, 2, [2]uint32{1, 2}},
		{"s2c_off", ServerToClient, true, 0, 1, 2, [2]uint32{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Delta{Seq: 1, TS: 0x20, Flags: tt.flags}
			p := mustBuild(t, seg{v6: true, src: cli6, dst: vip6, sport: 1, dport: 2, seq: 9, ack: 10, ack_: tt.ack, fin: !tt.ack, win: 9, opts: tsOpt(tt.val, tt.ecr)})
			if r := Translate(tcpOf(t, p), tt.dir, &d); r != OK {
				t.Fatal(r)
			}
			if got := tsOpts0(t, p); got != tt.wantTS {
				t.Errorf("TS %#x, want %#x", got, tt.wantTS)
			}
		})
	}
}

// TestTranslateWindow: the window field per direction and scaling agreement.
func TestTranslateWindow(t *testing.T) {
	tests := []struct {
		name string
		d    Delta
		dir  Dir
		syn  bool
		in   uint16
		want uint16
	}{
		{"same_scale", Delta{Flags: DeltaClientWS | DeltaServerWS, ClientWS: 7, ProxyWS: 7, ServerWS: 7}, ServerToClient, false, 1000, 1000},
		{"server_bigger", Delta{Flags: DeltaClientWS | DeltaServerWS, ClientWS: 7, ProxyWS: 7, ServerWS: 9}, ServerToClient, false, 1000, 4000},
		{"server_bigger_cap", Delta{Flags: DeltaClientWS | DeltaServerWS, ProxyWS: 0, ServerWS: 14}, ServerToClient, false, 1000, 65535},
		{"server_smaller", Delta{Flags: DeltaClientWS | DeltaServerWS, ClientWS: 7, ProxyWS: 7, ServerWS: 5}, ServerToClient, false, 1000, 250},
		{"server_unscaled", Delta{Flags: DeltaClientWS, ClientWS: 3, ProxyWS: 7}, ServerToClient, false, 65535, 511},
		{"client_scaled_server_not", Delta{Flags: DeltaClientWS, ClientWS: 3, ProxyWS: 7}, ClientToServer, false, 1000, 8000},
		{"client_scaled_server_not_cap", Delta{Flags: DeltaClientWS, ClientWS: 7, ProxyWS: 7}, ClientToServer, false, 1000, 65535},
		{"client_both_scaled", Delta{Flags: DeltaClientWS | DeltaServerWS, ClientWS: 3, ProxyWS: 7, ServerWS: 1}, ClientToServer, false, 1000, 1000},
		{"no_scaling", Delta{}, ServerToClient, false, 1000, 1000},
		{"syn_untouched", Delta{Flags: DeltaClientWS, ClientWS: 3, ProxyWS: 7}, ServerToClient, true, 65535, 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustBuild(t, seg{src: vip4, dst: cli4, sport: 1, dport: 2, seq: 9, ack: 10, ack_: true, syn: tt.syn, win: tt.in})
			Translate(tcpOf(t, p), tt.dir, &tt.d)
			if got := mustDecode(t, p).tcp.Window; got != tt.want {
				t.Errorf("window %d → %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestTranslateMalformed: a malformed option list is reported and the segment left as it was (the
// dataplane drops it, and a dropped frame must be unchanged; the ack number and the SACK edges
// before the fault were once translated).
func TestTranslateMalformed(t *testing.T) {
	p := mustBuild(t, seg{src: cli4, dst: vip4, sport: 1, dport: 2, seq: 9, ack: 10, ack_: true, win: 9,
		opts: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, sackOpt(1, 2), sackOpt(3, 4)}})
	tcp := tcpOf(t, p)
	tcp[20+1+10+1] = 40 // the second SACK option's length past the end
	fixChecksum(p)
	before := append([]byte(nil), p...)
	if r := Translate(tcp, ClientToServer, &Delta{Seq: 5}); r != Malformed {
		t.Errorf("%v", r)
	}
	if !bytes.Equal(p, before) || !checksumOK(p) {
		t.Errorf("the malformed segment was changed (ack %d, checksum ok %v)", tcp.AckNumber(), checksumOK(p))
	}
	if r := Translate(tcp[:10], ClientToServer, &Delta{}); r != Malformed {
		t.Errorf("short: %v", r)
	}
}

// randomSegment returns an IPv4 or IPv6 packet with a random TCP segment: random flags, numbers and
// window, a random option list of NOPs, timestamps, SACK, MSS, WS and unknown options (at even and odd
// offsets), random payload, and a correct checksum.
func randomSegment(rng *rand.Rand) []byte {
	v6 := rng.IntN(2) == 0
	var opts []byte
	for len(opts) < 40 {
		room := 40 - len(opts)
		switch k := rng.IntN(7); {
		case k == 0:
			opts = append(opts, header.TCPOptionNOP)
		case k == 1 && room >= 10:
			opts = append(opts, 8, 10)
			opts = binary.BigEndian.AppendUint32(opts, rng.Uint32())
			opts = binary.BigEndian.AppendUint32(opts, rng.Uint32())
		case k == 2 && room >= 10:
			n := 1 + rng.IntN(min(4, (room-2)/8))
			opts = append(opts, 5, byte(2+8*n))
			for range 2 * n {
				opts = binary.BigEndian.AppendUint32(opts, rng.Uint32())
			}
		case k == 3 && room >= 4:
			opts = append(opts, 2, 4, byte(rng.Uint32()), byte(rng.Uint32()))
		case k == 4 && room >= 3:
			opts = append(opts, 3, 3, byte(rng.IntN(15)))
		case k == 5 && room >= 3:
			opts = append(opts, 200, 3, byte(rng.Uint32()))
		default:
			room = 0
		}
		if room == 0 || rng.IntN(4) == 0 {
			break
		}
	}
	for len(opts)%4 != 0 {
		opts = append(opts, header.TCPOptionEOL)
	}
	payload := make([]byte, rng.IntN(64))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	hl := 20
	if v6 {
		hl = 40
	}
	n := hl + 20 + len(opts) + len(payload)
	ip := make([]byte, n)
	var a, b [16]byte
	for i := range a {
		a[i], b[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	writeIPHeader(ip, v6, &a, &b, n, 64)
	tcp := header.TCP(ip[hl:])
	flags := uint8(rng.Uint32()) &^ header.TCPFlagSyn
	writeTCPHeader(tcp, uint16(rng.Uint32()), uint16(rng.Uint32()), rng.Uint32(), rng.Uint32(), flags, uint16(rng.Uint32()), opts)
	copy(tcp[20+len(opts):], payload)
	tcp.FillChecksum(pseudo(ip, v6, len(tcp)))
	return ip
}

// TestTranslateDifferential: over random segments and deltas, the incremental checksum equals a
// full recompute (up to the ±0 form), and translating client → server by d and then by −d gives the
// original bytes back (windows aside).
func TestTranslateDifferential(t *testing.T) {
	rng := newRand(t)
	for i := range 20000 {
		ip := randomSegment(rng)
		orig := append([]byte(nil), ip...)
		d := Delta{Seq: Size(rng.Uint32()), TS: Size(rng.Uint32()), Flags: DeltaFlags(rng.IntN(8))}
		dir := Dir(rng.IntN(2))
		tcp := tcpOf(t, ip)
		if r := Translate(tcp, dir, &d); r != OK {
			t.Fatalf("%d: %v", i, r)
		}
		got := tcp.Checksum()
		tcp.FillChecksum(pseudo(ip, ip[0]>>4 == 6, len(tcp)))
		if want := tcp.Checksum(); got != want && !(got == 0xFFFF && want == 0) && !(got == 0 && want == 0xFFFF) {
			t.Fatalf("%d: incremental checksum %#04x, full %#04x", i, got, want)
		}
		if dir != ClientToServer {
			continue
		}
		inv := Delta{Seq: -d.Seq, TS: -d.TS, Flags: d.Flags &^ (DeltaClientWS | DeltaServerWS)}
		copy(ip, orig)
		fwd := d
		fwd.Flags = inv.Flags
		Translate(tcp, ClientToServer, &fwd)
		Translate(tcp, ClientToServer, &inv)
		if !checksumOK(ip) {
			t.Fatalf("%d: checksum after round trip", i)
		}
		binary.BigEndian.PutUint16(ip[len(ip)-len(tcp)+16:], binary.BigEndian.Uint16(orig[len(orig)-len(tcp)+16:]))
		if string(ip) != string(orig) {
			t.Fatalf("%d: round trip changed the segment\n%x\n%x", i, orig, ip)
		}
	}
}
