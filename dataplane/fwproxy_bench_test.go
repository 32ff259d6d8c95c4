package dataplane

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
)

// BenchmarkProxyProtocol: a hot hit of an established FULLNAT connection, the client's data
// segment, with and without a PROXY protocol header behind it (whose sequence shift every segment
// pays), and the first data segment, which takes the header.
//
//	go test -run '^$' -bench 'ProxyProtocol|FWMark' -benchtime 2s ./dataplane/
func BenchmarkProxyProtocol(b *testing.B) {
	for _, v := range []ProxyProtocol{ProxyProtocolOff, ProxyProtocolV1, ProxyProtocolV2} {
		c := ppCases[0]
		c.v = v
		setup := func(b *testing.B) (*Pipeline, pk) {
			e := newTestEnv(b, 1024)
			p := e.p
			c, _, err := compile(&Snapshot{Services: []Service{c.service(tcp)}}, nil, newIDs(), 1)
			if err != nil {
				b.Fatal(err)
			}
			p.setConfig(c)
			cl := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
			f := syn(cl).frame(b)
			mustTX(b, p, f, 0, t0)
			rs := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: parsed(&testing.T{}, f).SrcPort}
			mustTX(b, p, synack(rs).frame(b), 1, t0)
			mustTX(b, p, ack(cl).frame(b), 0, t0)
			return p, cl
		}
		run := func(b *testing.B, p *Pipeline, f []byte) {
			var scratch [2048]byte
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				copy(scratch[256:], f)
				if v, _, _, _ := p.ProcessAt(scratch[:], 256, len(f), 0, t0+second); v != VerdictTX {
					b.Fatalf("Process = %s", vname(v))
				}
				n++
			}
			reportPerPacket(b, n)
		}
		name := [...]string{"off", "v1", "v2"}[v]
		b.Run("hot_hit_v4/"+name, func(b *testing.B) {
			p, cl := setup(b)
			first := dataC(cl).frame(b)
			var buf [2048]byte
			copy(buf[256:], first)
			if v, _, _, _ := p.ProcessAt(buf[:], 256, len(first), 0, t0); v != VerdictTX {
				b.Fatalf("first data segment: %s", vname(v))
			}
			run(b, p, cl.seg("PA", 1101, 5001, 100).frame(b))
		})
		if v != ProxyProtocolOff {
			b.Run("first_segment_v4/"+name, func(b *testing.B) {
				p, cl := setup(b)
				run(b, p, dataC(cl).frame(b)) // the first data segment again and again: a header each time
			})
		}
	}
}

// BenchmarkFWMark: the service lookup of a packet without a connection: by its (protocol, address,
// port) without mark rules, and through the mark rules when the matching one is the first or the
// 256th (the rules are matched in order).
func BenchmarkFWMark(b *testing.B) {
	for _, rules := range []int{0, 1, 256} {
		b.Run(fmt.Sprintf("lookup/rules=%d", rules), func(b *testing.B) {
			s := &Snapshot{Services: []Service{svc2(udp, 53, 5353, 0, 1)}}
			if rules > 0 {
				s.Services[0].Key = ServiceKey{Addr: netip.IPv4Unspecified(), FWMark: 1}
				s.Services[0].RealServers[0].Port = 0
				for i := range rules - 1 {
					s.MarkRules = append(s.MarkRules, control.MarkRule{Mark: 2, Proto: udp, Dst: netip.PrefixFrom(vip4, 32), PortLo: uint16(1000 + i), PortHi: uint16(1000 + i)})
				}
				s.MarkRules = append(s.MarkRules, control.MarkRule{Mark: 1, Proto: udp, Dst: netip.PrefixFrom(vip4, 32), PortLo: 53, PortHi: 53})
			}
			c, _, err := compile(s, nil, newIDs(), 1)
			if err != nil {
				b.Fatal(err)
			}
			a := header.AddrFromNetip(vip4)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.lookupService(udp, &a, 53); !ok {
					b.Fatal("no service")
				}
			}
		})
	}
}
