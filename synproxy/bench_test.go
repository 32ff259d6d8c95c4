package synproxy

import (
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

func benchFamilies(b *testing.B, f func(b *testing.B, v6 bool)) {
	b.Run("v4", func(b *testing.B) { f(b, false) })
	b.Run("v6", func(b *testing.B) { f(b, true) })
}

func BenchmarkAnswer(b *testing.B) {
	benchFamilies(b, func(b *testing.B, v6 bool) {
		c := newTestCookies(b, 40)
		syn := mustSYN(b, v6, 1, synOpts(1460, true, true, 5, 7))
		buf := make([]byte, cap(syn))
		b.ReportAllocs()
		for b.Loop() {
			copy(buf, syn)
			if _, r := c.Answer(buf[:len(syn)], t0, 0); r != OK {
				b.Fatal(r)
			}
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	benchFamilies(b, func(b *testing.B, v6 bool) {
		c := newTestCookies(b, 41)
		_, ack, _ := handshake(b, c, v6, 1, synOpts(1460, true, true, 5, 7), t0)
		b.ReportAllocs()
		for b.Loop() {
			if _, r := c.Validate(ack, t0); r != OK {
				b.Fatal(r)
			}
		}
	})
}

// BenchmarkValidateFlood: the cost of dropping a forged ACK.
func BenchmarkValidateFlood(b *testing.B) {
	benchFamilies(b, func(b *testing.B, v6 bool) {
		c := newTestCookies(b, 42)
		_, ack, _ := handshake(b, c, v6, 1, synOpts(1460, true, true, 5, 7), t0)
		s, _ := parse(ack)
		tcp := header.TCP(ack[s.l4:s.end])
		b.ReportAllocs()
		i := uint32(0)
		for b.Loop() {
			i++
			tcp.SetAckNumber(i * 2654435761)
			if _, r := c.Validate(ack, t0); r != BadCookie {
				b.Fatal(r)
			}
		}
	})
}

func BenchmarkTranslate(b *testing.B) {
	d := Delta{Seq: 0x12345678, TS: 0x1000, Flags: DeltaTS | DeltaClientWS | DeltaServerWS, ClientWS: 7, ProxyWS: 7, ServerWS: 7}
	for _, dir := range []Dir{ClientToServer, ServerToClient} {
		b.Run(dir.String(), func(b *testing.B) {
			p := mustBuild(b, seg{src: cli4, dst: vip4, sport: 1, dport: 2, seq: 9, ack: 10, ack_: true, win: 9, opts: tsOpt(1, 2), payload: make([]byte, 1400)})
			tcp := tcpOf(b, p)
			b.ReportAllocs()
			for b.Loop() {
				Translate(tcp, dir, &d)
			}
		})
	}
}

func BenchmarkBuildSYN(b *testing.B) {
	c := newTestCookies(b, 43)
	_, ack, h := handshake(b, c, false, 1, synOpts(1460, true, true, 5, 7), t0)
	buf := make([]byte, cap(ack))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, ack)
		BuildSYN(buf[:len(ack)], &h)
	}
}
