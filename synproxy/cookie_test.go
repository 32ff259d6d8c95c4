package synproxy

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/header"
)

func TestConfig(t *testing.T) {
	c := newTestCookies(t, 1)
	if got, want := c.Config().Slot, DefaultSlot; got != want {
		t.Errorf("slot %v, want %v", got, want)
	}
	for _, cfg := range []Config{{Slot: 1}, {WindowScale: 15}, {MSS4: 40}} {
		cfg.Rand = seedReader{newRand(t)}
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

func TestResultString(t *testing.T) {
	for r := Result(0); r < NumResults; r++ {
		if s := r.String(); s == "" || s[0] == 'r' && r != 0 && s[:6] == "result" {
			t.Errorf("%d: %q", r, s)
		}
	}
	if s := Result(200).String(); s != "result(200)" {
		t.Errorf("%q", s)
	}
}

// TestAnswerGolden pins the SYN/ACK for a Linux-style SYN byte for byte (fixed secret, fixed clock).
func TestAnswerGolden(t *testing.T) {
	c := newTestCookies(t, 42)
	p := mustSYN(t, false, 0x01020304, synOpts(1460, true, true, 0x11223344, 7))
	n, r := c.Answer(p, t0, 0)
	if r != OK {
		t.Fatalf("Answer: %v", r)
	}
	got := hex.EncodeToString(p[:n])
	want := "" +
		"4500003c" + "00004000" + "4006" + "xxxx" + // IPv4, 60 bytes, DF, TTL 64, TCP, checksum
		"cb00710a" + "c6336407" + // 203.0.113.10 → 198.51.100.7
		"0050" + "9c40" + // 80 → 40000
		"cccccccc" + // cookie
		"01020305" + // client ISN + 1
		"a012" + "ffff" + "xxxx" + "0000" + // doff 10, SYN|ACK, window 65535, checksum, urgent
		"020405b4" + // MSS 1460
		"0402" + "080a" + "tttttttt" + "11223344" + // SACK-permitted, TS: our TSval, TSecr = client's TSval
		"01030307" // NOP, WS 7
	d := mustDecode(t, p[:n])
	cookie := d.tcp.Seq
	var tsval uint32
	for _, o := range d.tcp.Options {
		if o.OptionType == layers.TCPOptionKindTimestamps {
			tsval = binary.BigEndian.Uint32(o.OptionData)
		}
	}
	if cookie != 0x919ae666 || tsval != 0x52e65f57 {
		t.Errorf("cookie %#08x, TSval %#08x: the secret, the clock or the layout changed", cookie, tsval)
	}
	fill := func(s, pat string, v uint32) string {
		h := fmt.Sprintf("%08x", v)
		for i := 0; i+len(pat) <= len(s); i += 2 {
			if s[i:i+len(pat)] == pat {
				return s[:i] + h[8-len(pat):] + s[i+len(pat):]
			}
		}
		return s
	}
	want = fill(want, "cccccccc", cookie)
	want = fill(want, "tttttttt", tsval)
	want = fill(want, "xxxx", uint32(header.IPv4(p).Checksum()))
	want = fill(want, "xxxx", uint32(binary.BigEndian.Uint16(p[36:])))
	if got != want {
		t.Errorf("SYN/ACK\n got %s\nwant %s", got, want)
	}
	// TSval: the low 6 bits carry WS 7 and SACK; it is not ahead of our clock.
	if tsval&tsOptMask != 7|tsOptSACK {
		t.Errorf("TSval low bits %#x", tsval&tsOptMask)
	}
	if clock := c.tsClock(t0); !Value(tsval).LessThanEq(Value(clock)) || clock-tsval >= 64 {
		t.Errorf("TSval %d, clock %d", tsval, clock)
	}
}

// TestAnswerOptions checks, per option set and family, the SYN/ACK's options (parsed by gopacket)
// and what Validate recovers from the ACK.
func TestAnswerOptions(t *testing.T) {
	c := newTestCookies(t, 7)
	type want struct {
		mss        uint16 // recovered
		ws         int    // recovered, -1 none
		sack, ts   bool
		synackOpts []layers.TCPOptionKind
	}
	const (
		M = layers.TCPOptionKindMSS
		S = layers.TCPOptionKindSACKPermitted
		T = layers.TCPOptionKindTimestamps
		W = layers.TCPOptionKindWindowScale
		N = layers.TCPOptionKindNop
	)
	tests := []struct {
		name string
		v6   bool
		opts []layers.TCPOption
		want want
	}{
		{"v4_linux", false, synOpts(1460, true, true, 1, 7), want{1460, 7, true, true, []layers.TCPOptionKind{M, S, T, N, W}}},
		{"v4_windows_no_ts", false, synOpts(1460, true, false, 0, 8), want{1460, 8, true, false, []layers.TCPOptionKind{M, N, N, S, N, W}}},
		{"v4_no_options", false, nil, want{536, -1, false, false, []layers.TCPOptionKind{M}}},
		{"v4_mss_only", false, synOpts(1400, false, false, 0, -1), want{1400, -1, false, false, []layers.TCPOptionKind{M}}},
		{"v4_ts_only", false, synOpts(-1, false, true, 9, -1), want{536, -1, false, true, []layers.TCPOptionKind{M, N, N, T}}},
		{"v4_ws0", false, synOpts(1460, false, true, 9, 0), want{1460, 0, false, true, []layers.TCPOptionKind{M, N, N, T, N, W}}},
		{"v4_ws14", false, synOpts(1460, true, false, 0, 14), want{1460, 14, true, false, []layers.TCPOptionKind{M, N, N, S, N, W}}},
		{"v4_ws_over_14", false, synOpts(1460, false, true, 3, 15), want{1460, 14, false, true, []layers.TCPOptionKind{M, N, N, T, N, W}}},
		{"v4_jumbo", false, synOpts(8960, true, true, 3, 9), want{8960, 9, true, true, []layers.TCPOptionKind{M, S, T, N, W}}},
		{"v6_linux", true, synOpts(1440, true, true, 0xFFFFFFFF, 7), want{1440, 7, true, true, []layers.TCPOptionKind{M, S, T, N, W}}},
		{"v6_no_ts", true, synOpts(1440, true, false, 0, 2), want{1440, 2, true, false, []layers.TCPOptionKind{M, N, N, S, N, W}}},
		{"v6_no_options", true, nil, want{1220, -1, false, false, []layers.TCPOptionKind{M}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustSYN(t, tt.v6, 0xFFFFFFFF, tt.opts)
			n, r := c.Answer(p, t0, 1400)
			if r != OK {
				t.Fatalf("Answer: %v", r)
			}
			d := mustDecode(t, p[:n])
			cli, vip := cli4, vip4
			if tt.v6 {
				cli, vip = cli6, vip6
			}
			if d.src != vip || d.dst != cli || d.tcp.SrcPort != 80 || d.tcp.DstPort != 40000 {
				t.Errorf("addresses %v:%d → %v:%d", d.src, d.tcp.SrcPort, d.dst, d.tcp.DstPort)
			}
			if !d.tcp.SYN || !d.tcp.ACK || d.tcp.RST || d.tcp.FIN || d.tcp.ECE || d.tcp.Ack != 0 || d.tcp.Window != DefaultWindow {
				t.Errorf("flags/ack/window: %+v", d.tcp)
			}
			var kinds []layers.TCPOptionKind
			for _, o := range d.tcp.Options {
				if o.OptionType == layers.TCPOptionKindEndList {
					continue
				}
				kinds = append(kinds, o.OptionType)
				switch o.OptionType {
				case M:
					if v := binary.BigEndian.Uint16(o.OptionData); v != 1400 {
						t.Errorf("MSS %d, want the 1400 passed", v)
					}
				case W:
					if o.OptionData[0] != DefaultWindowScale {
						t.Errorf("WS %d", o.OptionData[0])
					}
				case T:
					if ecr := binary.BigEndian.Uint32(o.OptionData[4:]); ecr != synTSVal(tt.opts) {
						t.Errorf("TSecr %#x", ecr)
					}
				}
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tt.want.synackOpts) {
				t.Errorf("options %v, want %v", kinds, tt.want.synackOpts)
			}
			ack := ackFor(t, p[:n], 77, nil)
			h, r := c.Validate(ack, t0)
			if r != OK {
				t.Fatalf("Validate: %v", r)
			}
			o := h.Opts
			ws := -1
			if o.HasWS {
				ws = int(o.WS)
			}
			if o.MSS != tt.want.mss || !o.HasMSS || ws != tt.want.ws || o.SACKPermitted != tt.want.sack || o.HasTS != tt.want.ts {
				t.Errorf("recovered %+v, want %+v", o, tt.want)
			}
			if h.ClientISN != 0xFFFFFFFF || h.CookieISN != d.tcp.Seq || h.ProxyWS != DefaultWindowScale {
				t.Errorf("handshake %+v", h)
			}
			if tt.want.ts && (o.TSVal != 77 || o.TSEcr != tsOf(t, p[:n])) {
				t.Errorf("TS %d/%d", o.TSVal, o.TSEcr)
			}
		})
	}
}

// tsOf returns the TSval of a packet's timestamps option.
func tsOf(tb testing.TB, ip []byte) uint32 {
	tb.Helper()
	o, _ := header.ParseTCPSynOptions(tcpOf(tb, ip).Options())
	return o.TSVal
}

// TestMSSTable: every entry round-trips; odd values round down (or up to the first entry).
func TestMSSTable(t *testing.T) {
	c := newTestCookies(t, 3)
	for _, v6 := range []bool{false, true} {
		tab := MSSTable(v6)
		for i, m := range tab {
			if i > 0 && m <= tab[i-1] {
				t.Fatalf("table not increasing at %d", i)
			}
			for _, ts := range []bool{false, true} {
				_, _, h := handshake(t, c, v6, 5, synOpts(int(m), false, ts, 1, -1), t0)
				if h.Opts.MSS != m {
					t.Errorf("v6=%v ts=%v MSS %d → %d", v6, ts, m, h.Opts.MSS)
				}
			}
		}
		odd := map[int]uint16{0: tab[0], 1: tab[0], int(tab[0]) - 1: tab[0], int(tab[1]) - 1: tab[0], int(tab[1]) + 1: tab[1],
			1459: 1452 - 12*b2i(v6), 65535: tab[7], int(tab[7]) - 1: tab[6]}
		if v6 {
			odd[1459] = 1440
		}
		for in, want := range odd {
			_, _, h := handshake(t, c, v6, 5, synOpts(in, true, true, 1, 3), t0)
			if h.Opts.MSS != want {
				t.Errorf("v6=%v MSS %d → %d, want %d", v6, in, h.Opts.MSS, want)
			}
		}
	}
}

func b2i(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}

// TestOptionBits: every WS (0-14, none) × SACK × TS × family round-trips.
func TestOptionBits(t *testing.T) {
	c := newTestCookies(t, 4)
	for _, v6 := range []bool{false, true} {
		for ws := -1; ws <= 14; ws++ {
			for _, sack := range []bool{false, true} {
				for _, ts := range []bool{false, true} {
					_, _, h := handshake(t, c, v6, uint32(ws)*977, synOpts(1460, sack, ts, 0xFFFFFFC0, ws), t0)
					o := h.Opts
					if o.HasWS != (ws >= 0) || ws >= 0 && int(o.WS) != ws || o.SACKPermitted != sack || o.HasTS != ts {
						t.Errorf("v6=%v ws=%d sack=%v ts=%v: %+v", v6, ws, sack, ts, o)
					}
				}
			}
		}
	}
}

// TestTimeWindow: valid in the slot it was made and the next; Expired two and three slots later;
// BadCookie four slots later (the slot bits wrap, the MAC covers the full slot) and before it was made.
func TestTimeWindow(t *testing.T) {
	c := newTestCookies(t, 5)
	for _, v6 := range []bool{false, true} {
		for _, ts := range []bool{false, true} {
			_, ack, _ := handshake(t, c, v6, 100, synOpts(1460, true, ts, 5, 7), t0)
			slot := int64(DefaultSlot)
			start := t0 - slot/2 // the start of the slot
			for _, tc := range []struct {
				now  int64
				want Result
			}{
				{start, OK}, {start + slot - 1, OK}, {start + slot, OK}, {start + 2*slot - 1, OK},
				{start + 2*slot, Expired}, {start + 4*slot - 1, Expired},
				{start + 4*slot, BadCookie}, {start + 5*slot, BadCookie}, {start - 1, BadCookie}, {start - 2*slot, BadCookie},
			} {
				if _, r := c.Validate(ack, tc.now); r != tc.want {
					t.Errorf("v6=%v ts=%v: at %+.1f slots: %v, want %v", v6, ts, float64(tc.now-start)/float64(slot), r, tc.want)
				}
			}
		}
	}
}

// TestRotate: after one rotation a cookie still verifies (previous secret), after two it does not,
// and other Cookies never accept it.
func TestRotate(t *testing.T) {
	c := newTestCookies(t, 6)
	_, ack4, _ := handshake(t, c, false, 1, synOpts(1460, true, true, 5, 7), t0)
	_, ack6, _ := handshake(t, c, true, 1, synOpts(1440, true, false, 0, 7), t0)
	other := newTestCookies(t, 66)
	for _, ack := range [][]byte{ack4, ack6} {
		if _, r := other.Validate(ack, t0); r != BadCookie {
			t.Errorf("other secret: %v", r)
		}
	}
	testutil_must(t, c.Rotate())
	for _, ack := range [][]byte{ack4, ack6} {
		if _, r := c.Validate(ack, t0); r != OK {
			t.Errorf("after one rotation: %v", r)
		}
	}
	// New cookies use the new secret and verify too.
	_, ack, _ := handshake(t, c, false, 2, synOpts(1460, true, true, 5, 7), t0)
	testutil_must(t, c.Rotate())
	for _, a := range [][]byte{ack4, ack6} {
		if _, r := c.Validate(a, t0); r != BadCookie {
			t.Errorf("after two rotations: %v", r)
		}
	}
	if _, r := c.Validate(ack, t0); r != OK {
		t.Errorf("cookie of the previous secret: %v", r)
	}
}

func testutil_must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestRotateConcurrent runs Validate and Answer on several goroutines while Rotate runs (for -race).
func TestRotateConcurrent(t *testing.T) {
	c := newTestCookies(t, 8)
	_, ack, _ := handshake(t, c, false, 1, synOpts(1460, true, true, 5, 7), t0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, len(ack), cap(ack))
			syn := mustSYN(t, false, 9, synOpts(1460, true, true, 5, 7))
			sbuf := make([]byte, len(syn), cap(syn))
			for {
				select {
				case <-stop:
					return
				default:
				}
				copy(buf, ack)
				c.Validate(buf, t0)
				copy(sbuf, syn)
				c.Answer(sbuf, t0, 0)
			}
		}()
	}
	for range 100 {
		testutil_must(t, c.Rotate())
	}
	close(stop)
	wg.Wait()
}

// TestFlipInvalidates: changing any field the cookie covers makes it BadCookie (checksum fixed, so
// the cookie is what fails).
func TestFlipInvalidates(t *testing.T) {
	c := newTestCookies(t, 9)
	rng := newRand(t)
	for _, v6 := range []bool{false, true} {
		for _, ts := range []bool{false, true} {
			_, ack, _ := handshake(t, c, v6, rng.Uint32(), synOpts(1460, true, ts, 5, 7), t0)
			s, _ := parse(ack)
			alen := 4
			if v6 {
				alen = 16
			}
			src, dst := 12, 16
			if v6 {
				src, dst = 8, 24
			}
			fields := []struct {
				name     string
				off, len int
			}{
				{"saddr", src, alen}, {"daddr", dst, alen}, {"sport", s.l4, 2}, {"dport", s.l4 + 2, 2},
				{"seq", s.l4 + 4, 4}, {"ack", s.l4 + 8, 4},
			}
			if ts {
				fields = append(fields, struct {
					name     string
					off, len int
				}{"tsecr_low_bits", s.l4 + 20 + 8 + 3, 1})
			}
			for _, f := range fields {
				for bit := 0; bit < f.len*8; bit++ {
					if f.name == "tsecr_low_bits" && bit < 8-tsOptBits {
						continue // the time part of our TSval is not authenticated (nor in Linux)
					}
					p := append([]byte(nil), ack...)
					p[f.off+bit/8] ^= 0x80 >> (bit % 8)
					if !v6 {
						header.IPv4(p).FillChecksum()
					}
					fixChecksum(p)
					if _, r := c.Validate(p, t0); r != BadCookie {
						t.Errorf("v6=%v ts=%v %s bit %d: %v", v6, ts, f.name, bit, r)
					}
				}
			}
		}
	}
}

// TestValidateRejects: hostile and malformed ACKs.
func TestValidateRejects(t *testing.T) {
	c := newTestCookies(t, 10)
	_, ack, _ := handshake(t, c, false, 1, synOpts(1460, true, true, 5, 7), t0)
	s, _ := parse(ack)
	mut := func(f func(p []byte)) []byte {
		p := append([]byte(nil), ack...)
		f(p)
		return p
	}
	tests := []struct {
		name string
		p    []byte
		want Result
	}{
		{"ok", ack, OK},
		{"empty", nil, Malformed},
		{"version_5", mut(func(p []byte) { p[0] = 0x55 }), Malformed},
		{"truncated_tcp", ack[:s.l4+10], Malformed},
		{"udp", mut(func(p []byte) { p[9] = 17; header.IPv4(p).FillChecksum() }), Malformed},
		{"fragment", mut(func(p []byte) { p[6] = 0x20; header.IPv4(p).FillChecksum() }), Fragment},
		{"syn_ack", mut(func(p []byte) { p[s.l4+13] |= header.TCPFlagSyn }), NotACK},
		{"rst_ack", mut(func(p []byte) { p[s.l4+13] |= header.TCPFlagRst }), NotACK},
		{"no_ack", mut(func(p []byte) { p[s.l4+13] &^= header.TCPFlagAck }), NotACK},
		{"bad_options", mut(func(p []byte) { p[s.l4+20+2] = 8; p[s.l4+20+3] = 30 }), Malformed},
		{"bad_checksum", mut(func(p []byte) { p[s.l4+16] ^= 1 }), BadChecksum},
		{"tsecr_reserved_bit", mut(func(p []byte) { p[s.l4+20+11] |= tsOptResvd; fixChecksum(p) }), BadCookie},
		{"tsecr_ws_15", mut(func(p []byte) { p[s.l4+20+11] |= 0xF; fixChecksum(p) }), BadCookie},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, r := c.Validate(tt.p, t0); r != tt.want {
				t.Errorf("%v, want %v", r, tt.want)
			}
		})
	}
}

// TestAnswerRejects: only pure SYNs are answered, and nothing is written otherwise.
func TestAnswerRejects(t *testing.T) {
	c := newTestCookies(t, 11)
	syn := mustSYN(t, false, 1, synOpts(1460, true, true, 5, 7))
	s, _ := parse(syn)
	mut := func(f func(p []byte)) []byte {
		p := append(make([]byte, 0, cap(syn)), syn...)
		f(p)
		return p
	}
	tests := []struct {
		name string
		p    []byte
		want Result
	}{
		{"syn_ack", mut(func(p []byte) { p[s.l4+13] |= header.TCPFlagAck }), NotSYN},
		{"syn_rst", mut(func(p []byte) { p[s.l4+13] |= header.TCPFlagRst }), NotSYN},
		{"syn_fin", mut(func(p []byte) { p[s.l4+13] |= header.TCPFlagFin }), NotSYN},
		{"ack", mut(func(p []byte) { p[s.l4+13] = header.TCPFlagAck }), NotSYN},
		{"bad_checksum", mut(func(p []byte) { p[s.l4+16] ^= 1 }), BadChecksum},
		{"bad_options", mut(func(p []byte) { p[s.l4+20+4] = 4; p[s.l4+20+5] = 0 }), Malformed},
		{"fragment", mut(func(p []byte) { p[7] = 1; header.IPv4(p).FillChecksum() }), Fragment},
		{"truncated", syn[:s.l4+19], Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]byte(nil), tt.p...)
			if n, r := c.Answer(tt.p, t0, 0); r != tt.want || n != 0 {
				t.Errorf("%v (%d), want %v", r, n, tt.want)
			}
			if string(before) != string(tt.p) {
				t.Errorf("packet changed")
			}
		})
	}
	// A SYN without options grows by 4 bytes (our MSS option): exact capacity is NoRoom.
	bare := mustSYN(t, false, 1, nil)
	tight := bare[:len(bare):len(bare)]
	if _, r := c.Answer(tight, t0, 0); r != NoRoom {
		t.Errorf("tight: %v", r)
	}
}

// synTSVal returns the TSval of the timestamps option in opts.
func synTSVal(opts []layers.TCPOption) uint32 {
	for _, o := range opts {
		if o.OptionType == layers.TCPOptionKindTimestamps {
			return binary.BigEndian.Uint32(o.OptionData)
		}
	}
	return 0
}

// TestParseOptionsDifferential: the fast paths of parseOptions agree with header.ParseTCPSynOptions.
func TestParseOptionsDifferential(t *testing.T) {
	rng := newRand(t)
	linux := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 3, 3, 7}
	est := []byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8}
	for i := range 20000 {
		var opts []byte
		switch i % 3 {
		case 0:
			opts = append([]byte(nil), linux...)
		case 1:
			opts = append([]byte(nil), est...)
		default:
			ip := randomSegment(rng)
			opts = append([]byte(nil), tcpOf(t, ip).Options()...)
		}
		// Mutate a byte or two now and then, to fall off the fast paths at every position.
		for range rng.IntN(3) {
			if len(opts) > 0 {
				opts[rng.IntN(len(opts))] = byte(rng.Uint32())
			}
		}
		a, aok := parseOptions(opts)
		b, bok := header.ParseTCPSynOptions(opts)
		if a != b || aok != bok {
			t.Fatalf("%x: fast %+v %v, header %+v %v", opts, a, aok, b, bok)
		}
	}
}

// TestAnswerIPExtensions: IPv4 options and IPv6 extension headers in the SYN are not copied; the
// SYN/ACK has a plain header and the TCP header moves up.
func TestAnswerIPExtensions(t *testing.T) {
	c := newTestCookies(t, 13)
	for _, v6 := range []bool{false, true} {
		syn := mustSYN(t, v6, 1, synOpts(1460, true, true, 5, 7))
		var p []byte
		if v6 {
			// Destination options (next header TCP, length 8, PadN) between the header and TCP.
			p = append(append(append([]byte(nil), syn[:40]...), 6, 0, 1, 4, 0, 0, 0, 0), syn[40:]...)
			p[6] = 60
			binary.BigEndian.PutUint16(p[4:], binary.BigEndian.Uint16(p[4:])+8)
		} else {
			p = append(append(append([]byte(nil), syn[:20]...), 1, 1, 1, 0), syn[20:]...)
			p[0] = 0x46
			binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
			header.IPv4(p).FillChecksum()
		}
		p = append(p, make([]byte, 64)...)[:len(p)]
		n, r := c.Answer(p, t0, 0)
		if r != OK {
			t.Fatalf("v6=%v: %v", v6, r)
		}
		if want := 20 + 20 + 20; !v6 && n != want || v6 && n != want+20 {
			t.Errorf("v6=%v: length %d", v6, n)
		}
		d := mustDecode(t, p[:n])
		if !d.tcp.SYN || !d.tcp.ACK || d.tcp.Ack != 2 {
			t.Errorf("v6=%v: %+v", v6, d.tcp)
		}
		if _, r := c.Validate(ackFor(t, p[:n], 1, nil), t0); r != OK {
			t.Errorf("v6=%v: Validate %v", v6, r)
		}
	}
}

// TestClusterCookies: two directors with the same Secret, started at different times (their
// monotonic clocks differ, their Epochs make up for it), check each other's cookies, through a
// rotation to the next generation; a director with another secret refuses them, and Rotate is
// refused (a cluster rotates with RotateTo).
func TestClusterCookies(t *testing.T) {
	secret := []byte("a cluster secret of 32 bytes....")
	mk := func(s []byte, epoch int64) *Cookies {
		c, err := New(Config{Secret: s, Epoch: epoch})
		testutil_must(t, err)
		c.RotateTo(7)
		return c
	}
	const wall = t0 + 5e17 // the same instant on both, in Unix ns
	a, b := mk(secret, wall-t0), mk(secret, wall-3*t0)
	other := mk([]byte("another cluster secret of 32 b."), wall-t0)
	for _, v6 := range []bool{false, true} {
		for _, ts := range []bool{false, true} {
			_, ack, _ := handshake(t, a, v6, 1, synOpts(1400, true, ts, 5, 7), t0)
			if _, r := b.Validate(ack, 3*t0); r != OK {
				t.Errorf("v6 %v ts %v: the other director: %v", v6, ts, r)
			}
			if _, r := other.Validate(ack, t0); r != BadCookie {
				t.Errorf("v6 %v ts %v: another secret: %v", v6, ts, r)
			}
			b.RotateTo(8)
			if _, r := b.Validate(ack, 3*t0); r != OK {
				t.Errorf("v6 %v ts %v: after the next generation: %v", v6, ts, r)
			}
			b.RotateTo(9)
			if _, r := b.Validate(ack, 3*t0); r != BadCookie {
				t.Errorf("v6 %v ts %v: two generations later: %v", v6, ts, r)
			}
			b.RotateTo(7)
		}
	}
	if a.Rotate() == nil {
		t.Error("Rotate of a cluster's cookies: no error")
	}
}
