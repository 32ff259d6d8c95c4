package synproxy

import (
	"testing"
)

// TestZeroAllocs: nothing on the per-packet path allocates.
func TestZeroAllocs(t *testing.T) {
	c := newTestCookies(t, 30)
	for _, v6 := range []bool{false, true} {
		syn := mustSYN(t, v6, 1, synOpts(1460, true, true, 5, 7))
		_, ack, h := handshake(t, c, v6, 1, synOpts(1460, true, true, 5, 7), t0)
		vip, cli := vip4, cli4
		if v6 {
			vip, cli = vip6, cli6
		}
		sa := mustBuild(t, seg{v6: v6, src: vip, dst: cli, sport: 80, dport: 40000, seq: 5, ack: h.ClientISN + 1, syn: true, ack_: true, win: 100, opts: tsOpt(1, 2)})
		d, r := h.Delta(tcpOf(t, sa))
		if r != OK {
			t.Fatal(r)
		}
		buf := make([]byte, cap(ack)+64)
		cases := []struct {
			name string
			fn   func()
		}{
			{"Answer", func() { copy(buf, syn); c.Answer(buf[:len(syn)], t0, 0) }},
			{"Validate", func() { c.Validate(ack, t0) }},
			{"Validate_bad", func() { c.Validate(ack, t0+10*int64(DefaultSlot)) }},
			{"BuildSYN", func() { copy(buf, ack); BuildSYN(buf[:len(ack)], &h) }},
			{"Delta", func() { h.Delta(tcpOf(t, sa)) }},
			{"BuildRST", func() { copy(buf, ack); BuildRST(buf[:len(ack)]) }},
			{"BuildACK", func() { copy(buf, sa); BuildACK(buf[:len(sa)], 512) }},
			{"Translate_c2s", func() { Translate(tcpOf(t, ack), ClientToServer, &d) }},
			{"Translate_s2c", func() { Translate(tcpOf(t, ack), ServerToClient, &d) }},
		}
		for _, tc := range cases {
			if a := testing.AllocsPerRun(1000, tc.fn); a != 0 {
				t.Errorf("v6=%v %s: %v allocs/op", v6, tc.name, a)
			}
		}
	}
}
