package synproxy

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestFlow drives the whole handshake and a few established segments, for both families, with the
// real server agreeing or not to window scaling and timestamps, across the sequence wrap-around.
func TestFlow(t *testing.T) {
	c := newTestCookies(t, 12)
	type srv struct {
		ws int // -1: no window scaling
		ts bool
	}
	for _, v6 := range []bool{false, true} {
		for _, cws := range []int{-1, 7, 9} {
			for _, s := range []srv{{7, true}, {10, true}, {2, true}, {-1, true}, {7, false}} {
				t.Run(fmt.Sprintf("v6=%v/cws=%d/sws=%d/sts=%v", v6, cws, s.ws, s.ts), func(t *testing.T) {
					testFlow(t, c, v6, cws, s.ws, s.ts)
				})
			}
		}
	}
}

func testFlow(t *testing.T, c *Cookies, v6 bool, cws, sws int, sts bool) {
	var (
		clientISN uint32 = 0xFFFFFFF0 // the client's side wraps too
		clientTS  uint32 = 0xFFFFFF00
		serverISN uint32 = 0xFFFFFFFA // S+1+100 wraps
		serverTS  uint32 = 0x00000010
	)
	syn := mustSYN(t, v6, clientISN, synOpts(1460, true, true, clientTS-3, cws))
	n, r := c.Answer(syn, t0, 0)
	if r != OK {
		t.Fatalf("Answer: %v", r)
	}
	synack := syn[:n]
	K := mustDecode(t, synack).tcp.Seq
	V := tsOf(t, synack)

	// Step 2: the client's ACK, with data; the dataplane keeps a copy.
	ack := ackFor(t, synack, clientTS, []byte("GET / HTTP/1.0\r\n\r\n"))
	h, r := c.Validate(ack, t0+int64(DefaultSlot))
	if r != OK {
		t.Fatalf("Validate: %v", r)
	}
	if h.ClientISN != clientISN || h.CookieISN != K || h.Opts.TSEcr != V || h.Opts.TSVal != clientTS {
		t.Fatalf("handshake %+v (K %#x V %#x)", h, K, V)
	}
	stash := append(make([]byte, 0, cap(ack)), ack...)

	// Step 3: the SYN toward the real server.
	n, r = BuildSYN(ack, &h)
	if r != OK {
		t.Fatalf("BuildSYN: %v", r)
	}
	d := mustDecode(t, ack[:n])
	cli, vip := cli4, vip4
	if v6 {
		cli, vip = cli6, vip6
	}
	if d.src != cli || d.dst != vip || d.tcp.SrcPort != 40000 || d.tcp.DstPort != 80 {
		t.Errorf("SYN addresses %v:%d → %v:%d", d.src, d.tcp.SrcPort, d.dst, d.tcp.DstPort)
	}
	if !d.tcp.SYN || d.tcp.ACK || d.tcp.Seq != clientISN || d.tcp.Ack != 0 || len(d.tcp.Payload) != 0 {
		t.Errorf("SYN %+v", d.tcp)
	}
	wantWin := uint32(502)
	if cws >= 0 {
		wantWin <<= cws
	}
	if uint32(d.tcp.Window) != min(wantWin, 65535) {
		t.Errorf("SYN window %d", d.tcp.Window)
	}
	var gotWS = -1
	var gotTS, gotSACK bool
	for _, o := range d.tcp.Options {
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			if want := MSSTable(v6)[6]; binary.BigEndian.Uint16(o.OptionData) != want { // 1460 rounded down
				t.Errorf("SYN MSS %x", o.OptionData)
			}
		case layers.TCPOptionKindWindowScale:
			gotWS = int(o.OptionData[0])
		case layers.TCPOptionKindSACKPermitted:
			gotSACK = true
		case layers.TCPOptionKindTimestamps:
			gotTS = true
			if binary.BigEndian.Uint32(o.OptionData) != clientTS || binary.BigEndian.Uint32(o.OptionData[4:]) != 0 {
				t.Errorf("SYN TS %x", o.OptionData)
			}
		}
	}
	if gotWS != cws || !gotTS || !gotSACK {
		t.Errorf("SYN options ws=%d ts=%v sack=%v", gotWS, gotTS, gotSACK)
	}

	// Step 4: the real server's SYN/ACK (after the dataplane's reverse NAT: VIP → client).
	var sopts []layers.TCPOption
	sopts = append(sopts, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: be16(1400)})
	if sts {
		sopts = append(sopts, tsOpt(serverTS, clientTS)...)
	}
	if sws >= 0 && cws >= 0 {
		sopts = append(sopts, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
			layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(sws)}})
	}
	sa := mustBuild(t, seg{v6: v6, src: vip, dst: cli, sport: 80, dport: 40000, seq: serverISN, ack: clientISN + 1,
		syn: true, ack_: true, win: 65535, opts: sopts})
	if _, r := h.Delta(tcpOf(t, mustBuild(t, seg{v6: v6, src: vip, dst: cli, sport: 80, dport: 40000, seq: serverISN,
		ack: clientISN + 2, syn: true, ack_: true, win: 65535}))); r != BadAck {
		t.Errorf("Delta of a wrong ack: %v", r)
	}
	delta, r := h.Delta(tcpOf(t, sa))
	if r != OK {
		t.Fatalf("Delta: %v", r)
	}
	if uint32(delta.Seq) != serverISN-K {
		t.Errorf("Delta.Seq %#x, want %#x", delta.Seq, serverISN-K)
	}
	if sts != (delta.Flags&DeltaTS != 0) || sts && uint32(delta.TS) != serverTS-V {
		t.Errorf("Delta TS %+v", delta)
	}
	// Client-side window in bytes for a server field f: what the client computes from the
	// translated field.
	clientBytes := func(field uint16) uint32 {
		if cws >= 0 {
			return uint32(field) << DefaultWindowScale
		}
		return uint32(field)
	}
	serverBytes := func(field uint16) uint32 {
		if cws >= 0 && sws >= 0 {
			return uint32(field) << sws
		}
		return uint32(field)
	}

	// Replay of the stored ACK toward the server.
	if r := Translate(tcpOf(t, stash), ClientToServer, &delta); r != OK {
		t.Fatalf("Translate: %v", r)
	}
	d = mustDecode(t, stash)
	if d.tcp.Seq != clientISN+1 || d.tcp.Ack != serverISN+1 || string(d.tcp.Payload) != "GET / HTTP/1.0\r\n\r\n" {
		t.Errorf("replay %+v", d.tcp)
	}
	if ts, _ := tsOpts(d.tcp); sts && (ts[0] != clientTS || ts[1] != serverTS) {
		t.Errorf("replay TS %v", ts)
	}
	if want := min(uint32(502)<<max(cws, 0), 65535); cws >= 0 && sws < 0 && uint32(d.tcp.Window) != want {
		t.Errorf("replay window %d, want %d", d.tcp.Window, want)
	}

	// Established: server data 100 bytes in (wrapping), client SACKs server data.
	sd := mustBuild(t, seg{v6: v6, src: vip, dst: cli, sport: 80, dport: 40000, seq: serverISN + 1 + 100, ack: clientISN + 1 + 18,
		ack_: true, win: 1000, opts: tsOpt(serverTS+5, clientTS+1), payload: []byte("hello")})
	if r := Translate(tcpOf(t, sd), ServerToClient, &delta); r != OK {
		t.Fatal(r)
	}
	d = mustDecode(t, sd)
	if d.tcp.Seq != K+1+100 || d.tcp.Ack != clientISN+1+18 {
		t.Errorf("server data seq %#x ack %#x", d.tcp.Seq, d.tcp.Ack)
	}
	if ts, _ := tsOpts(d.tcp); sts && (ts[0] != V+5 || ts[1] != clientTS+1) {
		t.Errorf("server data TS %v", ts)
	}
	if got, want := clientBytes(d.tcp.Window), serverBytes(1000); got > want || want-got >= 1<<DefaultWindowScale {
		t.Errorf("server window %d bytes → client %d bytes", want, got)
	}

	// The client resets the connection when the server never answers: from the stored ACK.
	rst := append(make([]byte, 0, cap(stash)), ackFor(t, synack, clientTS, []byte("x"))...)
	n, r = BuildRST(rst)
	if r != OK {
		t.Fatalf("BuildRST: %v", r)
	}
	d = mustDecode(t, rst[:n])
	if !d.tcp.RST || d.tcp.ACK || d.tcp.Seq != K+1 || d.src != vip || d.dst != cli || d.tcp.SrcPort != 80 || d.ttl != DefaultTTL {
		t.Errorf("RST %+v from %v", d.tcp, d.src)
	}
}

// tsOpts returns TSval and TSecr of a decoded segment.
func tsOpts(tcp *layers.TCP) ([2]uint32, bool) {
	for _, o := range tcp.Options {
		if o.OptionType == layers.TCPOptionKindTimestamps {
			return [2]uint32{binary.BigEndian.Uint32(o.OptionData), binary.BigEndian.Uint32(o.OptionData[4:])}, true
		}
	}
	return [2]uint32{}, false
}

// TestBuildRSTNoAck: a reset answering a segment without ACK acknowledges it (RFC 9293 §3.10.7.1).
func TestBuildRSTNoAck(t *testing.T) {
	syn := mustSYN(t, true, 0xFFFFFFFF, nil)
	n, r := BuildRST(syn)
	if r != OK {
		t.Fatal(r)
	}
	d := mustDecode(t, syn[:n])
	if !d.tcp.RST || !d.tcp.ACK || d.tcp.Seq != 0 || d.tcp.Ack != 0 || d.src != vip6 {
		t.Errorf("%+v", d.tcp)
	}
	rst := mustBuild(t, seg{src: cli4, dst: vip4, sport: 1, dport: 2, rst: true})
	if _, r := BuildRST(rst); r != Malformed {
		t.Errorf("RST answered: %v", r)
	}
}
