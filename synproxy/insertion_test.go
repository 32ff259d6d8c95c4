package synproxy

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestTranslateInsertion: client → server, numbers after At move up by N and the segment at At
// keeps its number; server → client, the ack and every SACK edge (at even and odd offsets) come
// back down, those inside the inserted bytes to At; across the wrap-around; checksums verify.
func TestTranslateInsertion(t *testing.T) {
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
	for _, at := range []uint32{1000, 0xFFFFFFF0} {
		in := Insertion{At: Value(at), N: 52}
		for _, c := range []struct {
			seq, want uint32
		}{{at, at}, {at - 1, at - 1}, {at + 1, at + 53}, {at + 100000, at + 100052}} {
			p := mustBuild(t, seg{src: cli4, dst: vip4, sport: 1, dport: 2, seq: c.seq, ack: 7, ack_: true, win: 9, opts: tsOpt(1, 2)})
			if r := TranslateInsertion(tcpOf(t, p), ClientToServer, &in); r != OK {
				t.Fatal(r)
			}
			if got := mustDecode(t, p).tcp; got.Seq != c.want || got.Ack != 7 {
				t.Errorf("at %#x: c2s seq %#x → %#x ack %d, want %#x", at, c.seq, got.Seq, got.Ack, c.want)
			}
		}
		for _, opts := range [][]layers.TCPOption{
			{nop, nop, sackOpt(at+60, at+70, at+10, at+52)},
			{nop, sackOpt(at+60, at+70), nop, nop, nop},
			append(tsOpt(1, 2), nop, nop, sackOpt(at+100, at+200)),
		} {
			for _, c := range []struct {
				ack, want uint32
			}{{at, at}, {at + 1, at}, {at + 51, at}, {at + 52, at}, {at + 53, at + 1}, {at - 5, at - 5}} {
				p := mustBuild(t, seg{src: vip4, dst: cli4, sport: 2, dport: 1, seq: 5, ack: c.ack, ack_: true, win: 9, opts: opts})
				before := sackEdges(mustDecode(t, p).tcp)
				if r := TranslateInsertion(tcpOf(t, p), ServerToClient, &in); r != OK {
					t.Fatal(r)
				}
				got := mustDecode(t, p).tcp
				if got.Ack != c.want || got.Seq != 5 {
					t.Errorf("at %#x: s2c ack %#x → %#x, want %#x", at, c.ack, got.Ack, c.want)
				}
				for i, e := range sackEdges(got) {
					want := before[i] - 52
					if before[i]-at < 52 {
						want = at
					}
					if e != want {
						t.Errorf("SACK edge %#x → %#x, want %#x", before[i], e, want)
					}
				}
			}
		}
	}
}
