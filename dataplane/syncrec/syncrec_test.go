package syncrec

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

func addr(s string) header.Addr { return header.AddrFromNetip(netip.MustParseAddr(s)) }

// fullnat is a FULLNAT connection with TOA sent, SYN-proxied, under a persistence template.
var fullnat = Record{
	Kind:       KindConn,
	Orig:       header.Tuple{SrcAddr: addr("198.18.0.10"), DstAddr: addr("198.18.1.1"), SrcPort: 40000, DstPort: 80, Proto: header.ProtocolTCP},
	Reply:      header.Tuple{SrcAddr: addr("198.19.0.2"), DstAddr: addr("198.19.0.100"), SrcPort: 8080, DstPort: 1025, Proto: header.ProtocolTCP},
	Method:     3,
	State:      1,
	Flags:      FlagTOADone | FlagSynProxy | FlagTemplate,
	TimeoutMs:  900_000,
	TemplateMs: 300_000,
	SP:         SP{Seq: 0xdeadbeef, TS: 0x01020304, Flags: 7, ClientWS: 7, ProxyWS: 7, ServerWS: 9},
	Exported:   0x1122334455667788,
}

// fullnatBytes is fullnat encoded, field by field.
var fullnatBytes = strings.Join([]string{
	"01",                               // kind: conn
	"06",                               // proto: TCP
	"03",                               // method: FULLNAT
	"01",                               // state: ESTABLISHED
	"0d",                               // flags: TOA sent, SYN-proxied, template
	"07",                               // sp flags
	"070709",                           // window scales: client 7, proxy 7, server 9
	"000000",                           // reserved
	"000dbba0",                         // timeout 900,000 ms
	"000493e0",                         // template 300,000 ms
	"deadbeef",                         // sp seq
	"01020304",                         // sp ts
	"00000000000000000000ffffc612000a", // 198.18.0.10
	"00000000000000000000ffffc6120101", // 198.18.1.1
	"00000000000000000000ffffc6130002", // 198.19.0.2
	"00000000000000000000ffffc6130064", // 198.19.0.100
	"9c40" + "0050",                    // 40000, 80
	"1f90" + "0401",                    // 8080, 1025
	"1122334455667788",                 // exported
	"00000000",                         // reserved
}, "")

func TestEncodeGolden(t *testing.T) {
	want, _ := hex.DecodeString(fullnatBytes)
	if len(want) != Size {
		t.Fatalf("golden record is %d bytes, want %d", len(want), Size)
	}
	got := make([]byte, Size)
	fullnat.Encode(got)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	var r Record
	if res := Decode(want, &r); res != OK {
		t.Fatalf("Decode: %v", res)
	}
	if r != fullnat {
		t.Fatalf("decoded %+v\nwant %+v", r, fullnat)
	}
}

// TestDecodeHostile: each mutation of a good record is refused with its reason.
func TestDecodeHostile(t *testing.T) {
	udp6 := Record{Kind: KindConn, Orig: header.Tuple{SrcAddr: addr("2001:2::10"), DstAddr: addr("2001:2:1::1"), SrcPort: 5353, DstPort: 53, Proto: header.ProtocolUDP},
		Reply: header.Tuple{SrcAddr: addr("2001:2:2::2"), DstAddr: addr("2001:2::10"), SrcPort: 53, DstPort: 5353, Proto: header.ProtocolUDP}, Method: 0, State: 11, Flags: FlagAssured}
	nat64 := fullnat
	nat64.Orig.SrcAddr, nat64.Orig.DstAddr = addr("2001:2::10"), addr("2001:2:1::1")
	cases := []struct {
		name string
		base Record
		mut  func(b []byte)
		want Result
	}{
		{"fullnat", fullnat, func([]byte) {}, OK},
		{"udp6", udp6, func([]byte) {}, OK},
		{"nat64", nat64, func([]byte) {}, OK},
		{"nat64_not_fullnat", nat64, func(b []byte) { b[2] = 0 }, BadMethod},
		{"kind_zero", fullnat, func(b []byte) { b[0] = 0 }, BadKind},
		{"kind_three", fullnat, func(b []byte) { b[0] = 3 }, BadKind},
		{"proto_icmp", fullnat, func(b []byte) { b[1] = 1 }, BadProto},
		{"orig_mixed_family", fullnat, func(b []byte) { b[44+10] = 0 }, BadFamily},
		{"v4_client_v6_server", fullnat, func(b []byte) { b[60+10], b[76+10] = 0, 0 }, BadFamily},
		{"method_four", fullnat, func(b []byte) { b[2] = 4 }, BadMethod},
		{"state_beyond", fullnat, func(b []byte) { b[3] = 12 }, BadState},
		{"tcp_state_udp", fullnat, func(b []byte) { b[3] = 11 }, BadState},
		{"udp_state_tcp", udp6, func(b []byte) { b[3] = 1 }, BadState},
		{"reserved_set", fullnat, func(b []byte) { b[10] = 1 }, BadField},
		{"reserved_tail_set", fullnat, func(b []byte) { b[111] = 1 }, BadField},
		{"unknown_flag", fullnat, func(b []byte) { b[4] |= 0x80 }, BadField},
		{"ws_15", fullnat, func(b []byte) { b[8] = 15 }, BadField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := make([]byte, Size)
			c.base.Encode(b)
			c.mut(b)
			var r Record
			if got := Decode(b, &r); got != c.want {
				t.Fatalf("Decode = %v, want %v", got, c.want)
			}
		})
	}
	var r Record
	if got := Decode(make([]byte, Size-1), &r); got != Short {
		t.Fatalf("short: %v", got)
	}
}

func TestEncodeAllocs(t *testing.T) {
	b := make([]byte, Size)
	if n := testing.AllocsPerRun(100, func() { fullnat.Encode(b) }); n != 0 {
		t.Fatalf("Encode allocates %v times", n)
	}
}

// FuzzDecode: no panic; a record that decodes encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	b := make([]byte, Size)
	fullnat.Encode(b)
	f.Add(b)
	f.Add(make([]byte, Size))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Record
		if Decode(in, &r) != OK {
			return
		}
		out := make([]byte, Size)
		r.Encode(out)
		if !bytes.Equal(out, in[:Size]) {
			t.Fatalf("round trip\n%x\n%x", in[:Size], out)
		}
	})
}
