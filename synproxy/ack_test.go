package synproxy

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestBuildACK: a real server's SYN/ACK becomes the ACK that completes its handshake: addresses and
// ports swapped, seq = its ack, ack = its seq+1, ACK only, the given window, and with timestamps
// when it has them (our TSval its TSecr, our TSecr its TSval); anything but a SYN/ACK is refused.
func TestBuildACK(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, ts := range []bool{false, true} {
			srv, cli := vip4, cli4 // the server's SYN/ACK: from the real server to the client (or LIP)
			if v6 {
				srv, cli = vip6, cli6
			}
			var opts []layers.TCPOption
			if ts {
				opts = tsOpt(0x11111111, 0x22222222)
			}
			synack := mustBuild(t, seg{v6: v6, src: srv, dst: cli, sport: 8080, dport: 40000, seq: 0xfffffffe, ack: 1001,
				syn: true, ack_: true, win: 1234, opts: opts})
			n, r := BuildACK(synack, 512)
			if r != OK {
				t.Fatalf("v6 %v ts %v: %v", v6, ts, r)
			}
			d := mustDecode(t, synack[:n])
			switch {
			case d.src != cli || d.dst != srv || d.tcp.SrcPort != 40000 || d.tcp.DstPort != 8080:
				t.Errorf("v6 %v ts %v: %v:%d -> %v:%d", v6, ts, d.src, d.tcp.SrcPort, d.dst, d.tcp.DstPort)
			case d.tcp.Seq != 1001 || d.tcp.Ack != 0xffffffff || !d.tcp.ACK || d.tcp.SYN || d.tcp.RST || d.tcp.FIN || d.tcp.PSH:
				t.Errorf("v6 %v ts %v: %+v", v6, ts, d.tcp)
			case d.tcp.Window != 512 || len(d.tcp.Payload) != 0 || d.ttl != DefaultTTL:
				t.Errorf("v6 %v ts %v: window %d, payload %d, ttl %d", v6, ts, d.tcp.Window, len(d.tcp.Payload), d.ttl)
			}
			var gotTS []byte
			for _, o := range d.tcp.Options {
				if o.OptionType == layers.TCPOptionKindTimestamps {
					gotTS = o.OptionData
				}
			}
			if ts != (gotTS != nil) {
				t.Errorf("v6 %v ts %v: timestamps %x", v6, ts, gotTS)
			} else if ts && (binary.BigEndian.Uint32(gotTS) != 0x22222222 || binary.BigEndian.Uint32(gotTS[4:]) != 0x11111111) {
				t.Errorf("timestamps %x, want TSval 22222222 TSecr 11111111", gotTS)
			}
		}
	}
	for _, s := range []seg{
		{src: vip4, dst: cli4, sport: 1, dport: 2, ack_: true},                       // an ACK
		{src: vip4, dst: cli4, sport: 1, dport: 2, syn: true},                        // a SYN
		{src: vip4, dst: cli4, sport: 1, dport: 2, syn: true, ack_: true, rst: true}, // a SYN/ACK/RST
	} {
		if _, r := BuildACK(mustBuild(t, s), 512); r != NotSYNACK {
			t.Errorf("%+v: %v, want NotSYNACK", s, r)
		}
	}
}
