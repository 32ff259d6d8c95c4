package dataplane

// Golden-packet tests of the pipeline, as Katran's fixtures: each case is an input frame, the
// verdict and egress port, the exact output frame and the exact change of every counter. Frames are
// built with gopacket from the descriptions in helpers_test.go (see the regeneration recipe there).

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

var writePcap = flag.Bool("write-pcap", false, "write the golden frames to testdata/pipeline_golden.pcap")

const (
	tcp = header.ProtocolTCP
	udp = header.ProtocolUDP
)

// The flows of the fixtures, each in its four forms: client → VIP as received, → real server after
// DNAT, real server → client as received, → client after SNAT. rr gives a fresh pipeline's first
// connection to the first real server.
var (
	c2v4 = pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	l2r4 = pk{src: port1MAC, dst: rs1MAC, sip: cip4, dip: rs4a, proto: tcp, sport: 40000, dport: 8080}
	r2l4 = pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: cip4, proto: tcp, sport: 8080, dport: 40000}
	v2c4 = pk{src: port0MAC, dst: cliMAC, sip: vip4, dip: cip4, proto: tcp, sport: 80, dport: 40000}

	c2v6 = pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: tcp, sport: 40000, dport: 80}
	l2r6 = pk{src: port1MAC, dst: rs1MAC, sip: cip6, dip: rs6a, proto: tcp, sport: 40000, dport: 8080}
	r2l6 = pk{src: rs1MAC, dst: port1MAC, sip: rs6a, dip: cip6, proto: tcp, sport: 8080, dport: 40000}
	v2c6 = pk{src: port0MAC, dst: cliMAC, sip: vip6, dip: cip6, proto: tcp, sport: 80, dport: 40000}

	c2vU4 = pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: udp, sport: 40001, dport: 53, payload: 32}
	l2rU4 = pk{src: port1MAC, dst: rs1MAC, sip: cip4, dip: rs4a, proto: udp, sport: 40001, dport: 5353, payload: 32}
	r2lU4 = pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: cip4, proto: udp, sport: 5353, dport: 40001, payload: 200}
	v2cU4 = pk{src: port0MAC, dst: cliMAC, sip: vip4, dip: cip4, proto: udp, sport: 53, dport: 40001, payload: 200}

	c2vU6 = pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: udp, sport: 40001, dport: 53, payload: 32}
	l2rU6 = pk{src: port1MAC, dst: rs1MAC, sip: cip6, dip: rs6a, proto: udp, sport: 40001, dport: 5353, payload: 32}
	r2lU6 = pk{src: rs1MAC, dst: port1MAC, sip: rs6a, dip: cip6, proto: udp, sport: 5353, dport: 40001, payload: 200}
	v2cU6 = pk{src: port0MAC, dst: cliMAC, sip: vip6, dip: cip6, proto: udp, sport: 53, dport: 40001, payload: 200}

	// The all-ports service keeps the client's destination port (443).
	c2vA4 = pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4All, proto: tcp, sport: 40002, dport: 443}
	l2rA4 = pk{src: port1MAC, dst: rs1MAC, sip: cip4, dip: rs4a, proto: tcp, sport: 40002, dport: 443}
	r2lA4 = pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: cip4, proto: tcp, sport: 443, dport: 40002}
	v2cA4 = pk{src: port0MAC, dst: cliMAC, sip: vip4All, dip: cip4, proto: tcp, sport: 443, dport: 40002}
)

// The segments of a handshake and of data, per flow form.
func syn(p pk) pk    { return p.seg("S", 1000, 0, 0) }
func synack(p pk) pk { return p.seg("SA", 5000, 1001, 0) }
func ack(p pk) pk    { return p.seg("A", 1001, 5001, 0) }
func dataC(p pk) pk  { return p.seg("PA", 1001, 5001, 100) }  // client → server
func dataS(p pk) pk  { return p.seg("PA", 5001, 1101, 1400) } // server → client, large enough for an MTU problem
func bigC(p pk) pk   { return p.seg("PA", 1101, 6401, 1400) } // client → server, large
func fin(p pk) pk    { return p.seg("FA", 1101, 5001, 0) }

func withOpts(p pk) pk {
	p.opts = true
	return p
}

// ipLen is the IP length of p: what the byte counters count.
func (p pk) ipLen() uint64 {
	n := 20
	if p.sip.Is6() {
		n = 40
	}
	if p.opts {
		n += 4
		if p.sip.Is6() {
			n += 4
		}
	}
	switch {
	case p.proto == udp:
		n += 8
	case p.flags == "S" || p.flags == "SA":
		n += 28 // with MSS, NOP, WS
	default:
		n += 20
	}
	return uint64(n + p.payload)
}

type frameFn = func(testing.TB) []byte

type step struct {
	f    frameFn
	port int
}

func at(port int, f frameFn) step { return step{f, port} }

// Ports of a handshake's prefix, for prep lists.
func handshake4() []step {
	return []step{at(0, syn(c2v4).frame), at(1, synack(r2l4).frame), at(0, ack(c2v4).frame)}
}

func handshake6() []step {
	return []step{at(0, syn(c2v6).frame), at(1, synack(r2l6).frame), at(0, ack(c2v6).frame)}
}

type goldenCase struct {
	name     string
	capacity int            // 0: 1024
	prep     []step         // processed first, in order; each must be transmitted
	setup    func(*testEnv) // run after prep
	in       frameFn
	inPort   int
	verdict  Verdict
	port     int
	out      frameFn // nil: the frame must be left as it came (drops)
	counters []delta // besides rx, which every frame moves by one
	resolve  []neighKey
}

func nk(port int, a netip.Addr) neighKey { return neighKey{port: port, addr: header.AddrFromNetip(a)} }

// mapIPv4 returns a's IPv4-mapped IPv6 form, ::ffff:a.
func mapIPv4(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

func goldenCases() []goldenCase {
	// Frame mutations for the hostile cases.
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }
	setIPv4 := func(f func(ip header.IPv4)) func([]byte) []byte {
		return func(b []byte) []byte {
			ip := header.IPv4(b[header.EthernetMinimumSize:])
			f(ip)
			ip.FillChecksum()
			return b
		}
	}
	const l4v4 = header.EthernetMinimumSize + 20
	raw4 := func(proto layers.IPProtocol, ls ...gopacket.SerializableLayer) frameFn {
		return func(tb testing.TB) []byte {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: ipOf(cip4), DstIP: ipOf(vip4)}
			return serialize(tb, append([]gopacket.SerializableLayer{
				&layers.Ethernet{SrcMAC: hw(cliMAC), DstMAC: hw(port0MAC), EthernetType: layers.EthernetTypeIPv4}, ip}, ls...)...)
		}
	}
	echo4 := raw4(layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}, payloadOf(56))
	echo6 := func(tb testing.TB) []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: ipOf(cip6), DstIP: ipOf(vip6)}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		_ = icmp.SetNetworkLayerForChecksum(ip)
		return serialize(tb, &layers.Ethernet{SrcMAC: hw(cliMAC), DstMAC: hw(port0MAC), EthernetType: layers.EthernetTypeIPv6},
			ip, icmp, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, payloadOf(56))
	}
	arp := func(tb testing.TB) []byte {
		return serialize(tb, &layers.Ethernet{SrcMAC: hw(cliMAC), DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: cliMAC[:], SourceProtAddress: cip4.AsSlice(),
				DstHwAddress: make([]byte, 6), DstProtAddress: vip4.AsSlice()})
	}
	// An echo request quoted in an ICMP error (only TCP and UDP quotes are translated).
	echoQuote := func(tb testing.TB) []byte {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: ipOf(vip4), DstIP: ipOf(cip4)}
		return serialize(tb, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 7, Seq: 1})
	}

	tcp4Syn := []delta{dTX(), dNew(svcTCP4, dTCP4a), dIn(svcTCP4, dTCP4a, syn(c2v4).ipLen()), dConns(dTCP4a, 0, 1)}
	return []goldenCase{
		// IPv4 TCP through a connection's life.
		{name: "tcp4_syn_dnat", in: syn(c2v4).frame, verdict: VerdictTX, port: 1, out: syn(l2r4).frame, counters: tcp4Syn},
		{name: "tcp4_syn_retransmit_same_rs", prep: []step{at(0, syn(c2v4).frame)},
			in: syn(c2v4).frame, verdict: VerdictTX, port: 1, out: syn(l2r4).frame,
			counters: []delta{dTX(), dIn(svcTCP4, dTCP4a, syn(c2v4).ipLen())}},
		{name: "tcp4_synack_snat", prep: []step{at(0, syn(c2v4).frame)},
			in: synack(r2l4).frame, inPort: 1, verdict: VerdictTX, port: 0, out: synack(v2c4).frame,
			counters: []delta{dTX(), dOut(svcTCP4, dTCP4a, synack(r2l4).ipLen())}},
		{name: "tcp4_ack_establishes", prep: handshake4()[:2],
			in: ack(c2v4).frame, verdict: VerdictTX, port: 1, out: ack(l2r4).frame,
			counters: []delta{dTX(), dIn(svcTCP4, dTCP4a, ack(c2v4).ipLen()), dConns(dTCP4a, 1, -1)}},
		{name: "tcp4_data_client_to_server", prep: handshake4(),
			in: dataC(c2v4).frame, verdict: VerdictTX, port: 1, out: dataC(l2r4).frame,
			counters: []delta{dTX(), dIn(svcTCP4, dTCP4a, dataC(c2v4).ipLen())}},
		{name: "tcp4_data_server_to_client", prep: handshake4(),
			in: dataS(r2l4).frame, inPort: 1, verdict: VerdictTX, port: 0, out: dataS(v2c4).frame,
			counters: []delta{dTX(), dOut(svcTCP4, dTCP4a, dataS(r2l4).ipLen())}},
		{name: "tcp4_fin_from_client_goes_inactive", prep: handshake4(),
			in: fin(c2v4).frame, verdict: VerdictTX, port: 1, out: fin(l2r4).frame,
			counters: []delta{dTX(), dIn(svcTCP4, dTCP4a, fin(c2v4).ipLen()), dConns(dTCP4a, -1, 1)}},

		// IPv6 TCP.
		{name: "tcp6_syn_dnat", in: syn(c2v6).frame, verdict: VerdictTX, port: 1, out: syn(l2r6).frame,
			counters: []delta{dTX(), dNew(svcTCP6, dTCP6a), dIn(svcTCP6, dTCP6a, syn(c2v6).ipLen()), dConns(dTCP6a, 0, 1)}},
		{name: "tcp6_synack_snat", prep: handshake6()[:1],
			in: synack(r2l6).frame, inPort: 1, verdict: VerdictTX, port: 0, out: synack(v2c6).frame,
			counters: []delta{dTX(), dOut(svcTCP6, dTCP6a, synack(r2l6).ipLen())}},
		{name: "tcp6_ack_establishes", prep: handshake6()[:2],
			in: ack(c2v6).frame, verdict: VerdictTX, port: 1, out: ack(l2r6).frame,
			counters: []delta{dTX(), dIn(svcTCP6, dTCP6a, ack(c2v6).ipLen()), dConns(dTCP6a, 1, -1)}},
		{name: "tcp6_data_client_to_server", prep: handshake6(),
			in: dataC(c2v6).frame, verdict: VerdictTX, port: 1, out: dataC(l2r6).frame,
			counters: []delta{dTX(), dIn(svcTCP6, dTCP6a, dataC(c2v6).ipLen())}},
		{name: "tcp6_data_server_to_client", prep: handshake6(),
			in: dataS(r2l6).frame, inPort: 1, verdict: VerdictTX, port: 0, out: dataS(v2c6).frame,
			counters: []delta{dTX(), dOut(svcTCP6, dTCP6a, dataS(r2l6).ipLen())}},

		// Headers of unusual length: the rewrite finds the L4 header after them.
		{name: "tcp4_ip_options_syn_dnat", in: withOpts(syn(c2v4)).frame, verdict: VerdictTX, port: 1, out: withOpts(syn(l2r4)).frame,
			counters: []delta{dTX(), dNew(svcTCP4, dTCP4a), dIn(svcTCP4, dTCP4a, withOpts(syn(c2v4)).ipLen()), dConns(dTCP4a, 0, 1)}},
		{name: "tcp6_dest_options_syn_dnat", in: withOpts(syn(c2v6)).frame, verdict: VerdictTX, port: 1, out: withOpts(syn(l2r6)).frame,
			counters: []delta{dTX(), dNew(svcTCP6, dTCP6a), dIn(svcTCP6, dTCP6a, withOpts(syn(c2v6)).ipLen()), dConns(dTCP6a, 0, 1)}},
		{name: "udp6_dest_options_reply_snat", prep: []step{at(0, c2vU6.frame)},
			in: withOpts(r2lU6).frame, inPort: 1, verdict: VerdictTX, port: 0, out: withOpts(v2cU6).frame,
			counters: []delta{dTX(), dOut(svcUDP6, dUDP6a, withOpts(r2lU6).ipLen())}},
		// A frame padded to the Ethernet minimum: the padding is neither counted nor checksummed.
		{name: "udp4_padded_frame_dnat", in: c2vU4.dgram(2).frame, verdict: VerdictTX, port: 1, out: l2rU4.dgram(2).frame,
			counters: []delta{dTX(), dNew(svcUDP4, dUDP4a), dIn(svcUDP4, dUDP4a, 30), dConns(dUDP4a, 1, 0)}},

		// UDP. A connection is active from its first datagram.
		{name: "udp4_request_dnat", in: c2vU4.frame, verdict: VerdictTX, port: 1, out: l2rU4.frame,
			counters: []delta{dTX(), dNew(svcUDP4, dUDP4a), dIn(svcUDP4, dUDP4a, c2vU4.ipLen()), dConns(dUDP4a, 1, 0)}},
		{name: "udp4_reply_snat", prep: []step{at(0, c2vU4.frame)},
			in: r2lU4.frame, inPort: 1, verdict: VerdictTX, port: 0, out: v2cU4.frame,
			counters: []delta{dTX(), dOut(svcUDP4, dUDP4a, r2lU4.ipLen())}},
		{name: "udp4_zero_checksum_request_stays_zero", in: c2vU4.noCsum().frame, verdict: VerdictTX, port: 1, out: l2rU4.noCsum().frame,
			counters: []delta{dTX(), dNew(svcUDP4, dUDP4a), dIn(svcUDP4, dUDP4a, c2vU4.ipLen()), dConns(dUDP4a, 1, 0)}},
		{name: "udp4_zero_checksum_reply_stays_zero", prep: []step{at(0, c2vU4.frame)},
			in: r2lU4.noCsum().frame, inPort: 1, verdict: VerdictTX, port: 0, out: v2cU4.noCsum().frame,
			counters: []delta{dTX(), dOut(svcUDP4, dUDP4a, r2lU4.ipLen())}},
		{name: "udp6_request_dnat", in: c2vU6.frame, verdict: VerdictTX, port: 1, out: l2rU6.frame,
			counters: []delta{dTX(), dNew(svcUDP6, dUDP6a), dIn(svcUDP6, dUDP6a, c2vU6.ipLen()), dConns(dUDP6a, 1, 0)}},
		{name: "udp6_reply_snat", prep: []step{at(0, c2vU6.frame)},
			in: r2lU6.frame, inPort: 1, verdict: VerdictTX, port: 0, out: v2cU6.frame,
			counters: []delta{dTX(), dOut(svcUDP6, dUDP6a, r2lU6.ipLen())}},

		// An all-ports service with real-server port 0 keeps the client's destination port.
		{name: "tcp4_allports_syn_keeps_dport", in: syn(c2vA4).frame, verdict: VerdictTX, port: 1, out: syn(l2rA4).frame,
			counters: []delta{dTX(), dNew(svcAll4, dAll4), dIn(svcAll4, dAll4, syn(c2vA4).ipLen()), dConns(dAll4, 0, 1)}},
		{name: "tcp4_allports_synack_snat", prep: []step{at(0, syn(c2vA4).frame)},
			in: synack(r2lA4).frame, inPort: 1, verdict: VerdictTX, port: 0, out: synack(v2cA4).frame,
			counters: []delta{dTX(), dOut(svcAll4, dAll4, synack(r2lA4).ipLen())}},

		// ICMP errors. From the client side, quoting our reply (VIP:80 → CIP): to the real server,
		// quoting what it sent (RIP:8080 → CIP). From the real-server side, quoting the DNATed request
		// (CIP → RIP:8080): to the client, from the VIP, quoting what the client sent (CIP → VIP:80).
		// The MTU is kept, the ICMP checksum recomputed; the quoted L4 checksum is left alone.
		{name: "icmp4_fragneeded_client_side", prep: handshake4(),
			in:      icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: vip4, mtu: 1300, quoteBuild: quoteOf(dataS(v2c4), 48)}.frame,
			verdict: VerdictTX, port: 1,
			out: icmpErr{src: port1MAC, dst: rs1MAC, sip: rtr4, dip: rs4a, mtu: 1300,
				quoteBuild: translatedQuoteOf(dataS(r2l4), dataS(v2c4), 48)}.frame,
			counters: []delta{dTX()}},
		{name: "icmp4_fragneeded_rs_side", prep: handshake4(),
			in:     icmpErr{src: rtr1MAC, dst: port1MAC, sip: rtr4RS, dip: cip4, mtu: 1280, quoteBuild: quoteOf(bigC(l2r4), 48)}.frame,
			inPort: 1, verdict: VerdictTX, port: 0,
			out: icmpErr{src: port0MAC, dst: cliMAC, sip: vip4, dip: cip4, mtu: 1280,
				quoteBuild: translatedQuoteOf(bigC(c2v4), bigC(l2r4), 48)}.frame,
			counters: []delta{dTX()}},
		{name: "icmp4_port_unreachable_udp_from_rs", prep: []step{at(0, c2vU4.frame)},
			in:     icmpErr{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: cip4, typ: 3, code: 3, quoteBuild: quoteOf(l2rU4, 60)}.frame,
			inPort: 1, verdict: VerdictTX, port: 0,
			out: icmpErr{src: port0MAC, dst: cliMAC, sip: vip4, dip: cip4, typ: 3, code: 3,
				quoteBuild: translatedQuoteOf(c2vU4, l2rU4, 60)}.frame,
			counters: []delta{dTX()}},
		{name: "icmp6_packet_too_big_client_side", prep: handshake6(),
			in:      icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr6, dip: vip6, mtu: 1280, quoteBuild: quoteOf(dataS(v2c6), 68)}.frame,
			verdict: VerdictTX, port: 1,
			out: icmpErr{src: port1MAC, dst: rs1MAC, sip: rtr6, dip: rs6a, mtu: 1280,
				quoteBuild: translatedQuoteOf(dataS(r2l6), dataS(v2c6), 68)}.frame,
			counters: []delta{dTX()}},
		{name: "icmp6_packet_too_big_rs_side", prep: handshake6(),
			in:     icmpErr{src: rtr1MAC, dst: port1MAC, sip: rtr6RS, dip: cip6, mtu: 1400, quoteBuild: quoteOf(bigC(l2r6), 68)}.frame,
			inPort: 1, verdict: VerdictTX, port: 0,
			out: icmpErr{src: port0MAC, dst: cliMAC, sip: vip6, dip: cip6, mtu: 1400,
				quoteBuild: translatedQuoteOf(bigC(c2v6), bigC(l2r6), 68)}.frame,
			counters: []delta{dTX()}},

		// Malformed frames: one parse counter each.
		{name: "eth_too_short", in: mutate(syn(c2v4).frame, cut(13)), counters: []delta{dParse(header.ParseTooShort)}},
		{name: "ipv4_header_truncated", in: mutate(syn(c2v4).frame, cut(header.EthernetMinimumSize+12)),
			counters: []delta{dParse(header.ParseBadIPv4Header)}},
		{name: "ipv4_ihl_too_small", in: mutate(syn(c2v4).frame, func(b []byte) []byte { b[14] = 0x44; return b }),
			counters: []delta{dParse(header.ParseBadIPv4Header)}},
		{name: "ipv4_total_length_past_frame", in: mutate(syn(c2v4).frame, cut(l4v4+16)),
			counters: []delta{dParse(header.ParseBadLength)}},
		{name: "ipv4_tcp_header_truncated", in: mutate(syn(c2v4).frame, setIPv4(func(ip header.IPv4) { ip.SetTotalLength(30) })),
			counters: []delta{dParse(header.ParseBadTCPHeader)}},
		{name: "ipv4_tcp_data_offset_4", in: mutate(syn(c2v4).frame, func(b []byte) []byte { b[l4v4+12] = 0x40; return b }),
			counters: []delta{dParse(header.ParseBadTCPHeader)}},
		{name: "ipv4_udp_length_4", in: mutate(c2vU4.frame, func(b []byte) []byte { b[l4v4+4], b[l4v4+5] = 0, 4; return b }),
			counters: []delta{dParse(header.ParseBadUDPHeader)}},
		{name: "ipv6_header_truncated", in: mutate(syn(c2v6).frame, cut(header.EthernetMinimumSize+30)),
			counters: []delta{dParse(header.ParseBadIPv6Header)}},
		{name: "udp6_zero_checksum", in: c2vU6.noCsum().frame, counters: []delta{dParse(header.ParseUDPv6ZeroChecksum)}},
		{name: "arp_request", in: arp, counters: []delta{dParse(header.ParseNotIP)}},

		// Well-formed but not load balanced: one drop counter each.
		{name: "vlan_tagged_syn", in: func() pk { p := syn(c2v4); p.vlan = 100; return p }().frame,
			counters: []delta{dDrop(DropVLAN)}},
		// Fragments of TCP and UDP are load balanced (frag_test.go); these are the hostile ones.
		{name: "ipv4_first_fragment_odd_length", in: func() pk { p := syn(c2v4); p.frag = true; return p }().frame,
			counters: []delta{dDrop(DropFragBadLength)}}, // 20 bytes, not the last: not a multiple of 8
		{name: "ipv4_later_fragment_oversize", in: mutate(c2vU4.dgram(64).frame, setIPv4(func(ip header.IPv4) { ip[6], ip[7] = 0x1f, 0xff })),
			counters: []delta{dDrop(DropFragOversize)}}, // offset 65528 + 72 bytes
		{name: "gre_fragment", in: mutate(raw4(layers.IPProtocolGRE, payloadOf(24)), setIPv4(func(ip header.IPv4) { ip[6] = 0x20 })),
			counters: []delta{dDrop(DropFragment)}},
		{name: "icmp4_echo_to_vip", in: echo4, counters: []delta{dDrop(DropProto)}},
		{name: "icmp6_echo_to_vip", in: echo6, counters: []delta{dDrop(DropProto)}},
		{name: "gre_to_vip", in: raw4(layers.IPProtocolGRE, payloadOf(24)), counters: []delta{dDrop(DropProto)}},
		{name: "tcp4_ack_without_conn", in: ack(c2v4).frame, counters: []delta{dDrop(DropNoConn)}},
		{name: "tcp4_synack_to_vip_without_conn", in: c2v4.seg("SA", 1, 2, 0).frame, counters: []delta{dDrop(DropNoConn)}},
		{name: "tcp4_rst_without_conn", in: c2v4.seg("R", 1, 0, 0).frame, counters: []delta{dDrop(DropNoConn)}},
		{name: "tcp4_syn_rst_without_conn", in: c2v4.seg("SR", 1, 0, 0).frame, counters: []delta{dDrop(DropNoConn)}},
		{name: "tcp4_reply_without_conn", in: synack(r2l4).frame, inPort: 1, counters: []delta{dDrop(DropNoConn)}},
		{name: "udp4_reply_without_conn", in: r2lU4.frame, inPort: 1, counters: []delta{dDrop(DropNoConn)}},
		{name: "tcp4_unknown_vip", in: func() pk { p := syn(c2v4); p.dip = vip4None; return p }().frame,
			counters: []delta{dDrop(DropNoService)}},
		{name: "tcp4_unknown_port", in: func() pk { p := syn(c2v4); p.dport = 8080; return p }().frame,
			counters: []delta{dDrop(DropNoService)}},
		{name: "udp4_to_tcp_only_port", in: func() pk { p := c2vU4; p.dport = 80; return p }().frame,
			counters: []delta{dDrop(DropNoService)}},
		{name: "tcp4_client_neigh_miss", in: func() pk { p := syn(c2v4); p.sip = cip4Unres; return p }().frame,
			counters: []delta{dDrop(DropNeighMiss)}, resolve: []neighKey{nk(0, cip4Unres)}},
		{name: "tcp4_rs_neigh_miss", in: func() pk { p := syn(c2v4); p.dport = 82; return p }().frame,
			counters: []delta{dDrop(DropNeighMiss)}, resolve: []neighKey{nk(1, rs4Unres)}},
		{name: "tcp4_neigh_invalidated_after_open", prep: handshake4()[:2],
			setup: func(e *testEnv) { e.neigh.Set(1, rs4a, rs1MAC, false) },
			in:    ack(c2v4).frame, counters: []delta{dDrop(DropNeighMiss)}, resolve: []neighKey{nk(1, rs4a)}},
		{name: "tcp4_client_no_route", in: func() pk { p := syn(c2v4); p.sip = cip4NoRt; return p }().frame,
			counters: []delta{dDrop(DropNoRoute)}},
		// A full table of established (assured) connections refuses a new one; one of unassured
		// connections evicts the oldest (defense.go; TestDefense has the cases).
		{name: "tcp4_table_full", capacity: 1, prep: handshake4(),
			in: func() pk { p := syn(c2v4); p.sport++; return p }().frame, counters: []delta{dDrop(DropTableFull)}},
		{name: "tcp4_all_weights_zero", in: func() pk { p := syn(c2v4); p.dport = 81; return p }().frame,
			counters: []delta{dDrop(DropNoDest)}},
		{name: "icmp4_quoting_unknown_flow", prep: handshake4(),
			in: icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: vip4, mtu: 1300,
				quoteBuild: quoteOf(func() pk { p := dataS(v2c4); p.dport = 40009; return p }(), 48)}.frame,
			counters: []delta{dDrop(DropICMPNoConn)}},
		{name: "icmp6_quoting_unknown_flow", prep: handshake6(),
			in: icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr6, dip: vip6, mtu: 1280,
				quoteBuild: quoteOf(func() pk { p := dataS(v2c6); p.sport = 81; return p }(), 68)}.frame,
			counters: []delta{dDrop(DropICMPNoConn)}},
		{name: "icmp4_quote_truncated_before_ports", prep: handshake4(),
			in:       icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: vip4, mtu: 1300, quoteBuild: quoteOf(dataS(v2c4), 24)}.frame,
			counters: []delta{dDrop(DropICMPNoConn)}},
		{name: "ipv6_mapped_source", in: func() pk { p := syn(c2v6); p.sip = mapIPv4(cip4); return p }().frame,
			counters: []delta{dDrop(DropMappedAddr)}},
		{name: "ipv6_mapped_destination", in: func() pk { p := syn(c2v6); p.dip = mapIPv4(vip4); return p }().frame,
			counters: []delta{dDrop(DropMappedAddr)}},
		{name: "icmp6_quoting_mapped_addresses", prep: handshake4(),
			in: icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr6, dip: vip6, mtu: 1280,
				quoteBuild: quoteOf(func() pk { p := dataS(v2c6); p.sip, p.dip, p.dport = mapIPv4(vip4), mapIPv4(cip4), 40000; return p }(), 68)}.frame,
			counters: []delta{dDrop(DropMappedAddr)}},
		{name: "icmp4_quoting_echo", in: icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: vip4, mtu: 1300, quoteBuild: echoQuote}.frame,
			counters: []delta{dDrop(DropICMPNoConn)}},
	}
}

// TestPipelineGolden runs every case twice: the packet through Process, and through ReadAhead and
// ProcessAheadAt as the worker's batches take it (readahead.go), which must make no difference.
func TestPipelineGolden(t *testing.T) {
	var dump [][]byte
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) { testGolden(t, tc, false, &dump) })
		t.Run(tc.name+"/read_ahead", func(t *testing.T) { testGolden(t, tc, true, nil) })
	}
	if *writePcap {
		writeGoldenPcap(t, dump)
	}
}

// testGolden runs case tc, its packet through ReadAhead if ahead, and adds its frames to dump.
func testGolden(t *testing.T, tc goldenCase, ahead bool, dump *[][]byte) {
	capacity := tc.capacity
	if capacity == 0 {
		capacity = 1024
	}
	e := newTestEnv(t, capacity)
	p := e.p
	now := t0
	for i, s := range tc.prep {
		now += second
		if v, port := p.Process(s.f(t), s.port, now); v != VerdictTX {
			t.Fatalf("prep[%d]: Process = %s, %d; want VerdictTX (%s)", i, vname(v), port, nonZero(p.c))
		}
	}
	if tc.setup != nil {
		tc.setup(e)
	}
	drainResolve(e.neigh)

	in := tc.in(t)
	frame := append([]byte(nil), in...)
	want := *p.c
	want.rx++
	for _, d := range tc.counters {
		d(&want)
	}
	var v Verdict
	var port int
	if ahead {
		p.ReadAhead([][]byte{frame})
		v, port, _, _ = p.ProcessAheadAt(0, frame, 0, len(frame), tc.inPort, now+second)
	} else {
		v, port = p.Process(frame, tc.inPort, now+second)
	}

	if v != tc.verdict || port != tc.port {
		t.Errorf("Process = %s, %d; want %s, %d", vname(v), port, vname(tc.verdict), tc.port)
	}
	for _, d := range counterDiff(p.c, &want) {
		t.Errorf("counter %s", d)
	}
	if got := drainResolve(e.neigh); !slices.Equal(got, tc.resolve) {
		t.Errorf("resolution requests %v, want %v", got, tc.resolve)
	}
	if tc.out == nil {
		if !bytes.Equal(frame, in) {
			t.Errorf("dropped frame was modified:\n got %x\nwant %x", frame, in)
		}
		if dump != nil {
			*dump = append(*dump, in)
		}
		return
	}
	out := tc.out(t)
	if !bytes.Equal(frame, out) {
		t.Errorf("output frame differs:\n%s", frameDiff(frame, out))
	}
	checkFrameChecksums(t, frame)
	if dump != nil {
		*dump = append(*dump, in, frame)
	}
}

// frameDiff shows two frames as hex with the differing bytes marked, then both decoded by gopacket.
func frameDiff(got, want []byte) string {
	var b bytes.Buffer
	b.WriteString(" got " + hex.EncodeToString(got) + "\nwant " + hex.EncodeToString(want) + "\n     ")
	for i := range max(len(got), len(want)) {
		if i < len(got) && i < len(want) && got[i] == want[i] {
			b.WriteString("  ")
		} else {
			b.WriteString("^^")
		}
	}
	b.WriteString("\n--- got:\n" + gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default).Dump())
	b.WriteString("--- want:\n" + gopacket.NewPacket(want, layers.LayerTypeEthernet, gopacket.Default).Dump())
	return b.String()
}

// writeGoldenPcap writes frames as a classic pcap file (written by hand: pcapgo would need
// golang.org/x/net in go.mod).
func writeGoldenPcap(t *testing.T, frames [][]byte) {
	t.Helper()
	path := filepath.Join("testdata", "pipeline_golden.pcap")
	var b []byte
	le := binary.LittleEndian
	b = le.AppendUint32(b, 0xa1b2c3d4) // magic, microsecond timestamps
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0) // thiszone
	b = le.AppendUint32(b, 0) // sigfigs
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, uint32(layers.LinkTypeEthernet))
	for i, fr := range frames {
		b = le.AppendUint32(b, 1_700_000_000)
		b = le.AppendUint32(b, uint32(i*1000))
		b = le.AppendUint32(b, uint32(len(fr)))
		b = le.AppendUint32(b, uint32(len(fr)))
		b = append(b, fr...)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d frames to %s", len(frames), path)
}

// TestPipelineRoundRobin: rr gives successive new connections to the real servers in turn, and a
// connection's later packets to the real server it was given.
func TestPipelineRoundRobin(t *testing.T) {
	for _, fam := range []struct {
		name string
		c2v  pk
		rs   [2]header.Addr
	}{
		{"ipv4", c2v4, [2]header.Addr{header.AddrFromNetip(rs4a), header.AddrFromNetip(rs4b)}},
		{"ipv6", c2v6, [2]header.Addr{header.AddrFromNetip(rs6a), header.AddrFromNetip(rs6b)}},
	} {
		t.Run(fam.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			var pp header.Packet
			for i := range 6 {
				c := syn(fam.c2v)
				c.sport = uint16(41000 + i)
				f := c.frame(t)
				mustTX(t, e.p, f, 0, t0)
				if pp.Parse(f); pp.Tuple.DstAddr != fam.rs[i%2] {
					t.Errorf("connection %d went to %v, want %v", i, pp.Tuple.DstAddr, fam.rs[i%2])
				}
			}
			// The first connection's next packet still goes to the first real server.
			c := ack(fam.c2v)
			c.sport = 41000
			f := c.frame(t)
			mustTX(t, e.p, f, 0, t0)
			if pp.Parse(f); pp.Tuple.DstAddr != fam.rs[0] {
				t.Errorf("established packet went to %v, want %v", pp.Tuple.DstAddr, fam.rs[0])
			}
		})
	}
}

// realServerConns returns ActiveConns and InactiveConns of real server j of service i, as
// Control.Stats reports them.
func realServerConns(e *testEnv, i, j int) (uint64, uint64) {
	rs := statsOf(e.conf, []*counters{e.p.c}, nil, nil).Services[i].RealServers[j]
	return rs.ActiveConns, rs.InactiveConns
}

// TestPipelineConnCounts follows a real server's ActiveConn and InActConn through a TCP
// connection's states as IPVS counts them (ESTABLISHED active, every other state inactive), and
// through expiry with a fake clock.
func TestPipelineConnCounts(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	orig := tuple(tcp, cip4, 40000, vip4, 80)
	now := t0
	steps := []struct {
		name             string
		f                pk
		port             int
		state            conntrack.State
		active, inactive uint64
	}{
		{"syn", syn(c2v4), 0, conntrack.StateSynRecv, 0, 1},
		{"synack", synack(r2l4), 1, conntrack.StateSynAck, 0, 1},
		{"ack", ack(c2v4), 0, conntrack.StateEstablished, 1, 0},
		{"data", dataC(c2v4), 0, conntrack.StateEstablished, 1, 0},
		{"fin_client", fin(c2v4), 0, conntrack.StateCloseWait, 0, 1},
		{"syn_reopens", syn(c2v4), 0, conntrack.StateSynRecv, 0, 1},
		{"ack_again", ack(c2v4), 0, conntrack.StateEstablished, 1, 0},
		{"rst_server", r2l4.seg("R", 5001, 0, 0), 1, conntrack.StateClose, 0, 1},
	}
	for _, s := range steps {
		now += second
		mustTX(t, p, s.f.frame(t), s.port, now)
		if got := stateOf(t, p, orig); got != s.state {
			t.Errorf("%s: state %v, want %v", s.name, got, s.state)
		}
		if a, i := realServerConns(e, svcTCP4, 0); a != s.active || i != s.inactive {
			t.Errorf("%s: ActiveConns, InactiveConns = %d, %d; want %d, %d", s.name, a, i, s.active, s.inactive)
		}
	}

	// A second connection, established, and a UDP one.
	c2 := c2v4
	c2.sport = 40100
	r2 := r2l4
	r2.sport, r2.dport = 8080, 40100
	r2.sip, r2.src = rs4b, rs2MAC // rr: the second connection goes to the second real server
	mustTX(t, p, syn(c2).frame(t), 0, now)
	mustTX(t, p, synack(r2).frame(t), 1, now)
	mustTX(t, p, ack(c2).frame(t), 0, now)
	mustTX(t, p, c2vU4.frame(t), 0, now)
	if a, i := realServerConns(e, svcTCP4, 1); a != 1 || i != 0 {
		t.Fatalf("second real server: %d active, %d inactive; want 1, 0", a, i)
	}
	if a, i := realServerConns(e, svcUDP4, 0); a != 1 || i != 0 {
		t.Fatalf("UDP real server: %d active, %d inactive; want 1, 0", a, i)
	}

	// The CLOSE connection times out after 10 s, the UDP one after 5 min, the ESTABLISHED one
	// after 15 min; each expiry decrements the count it was in.
	expire := func(at int64) int { return p.table.Expire(at, 0) }
	if n := expire(now + 9*second); n != 0 {
		t.Errorf("expired %d connections after 9 s, want 0", n)
	}
	if n := expire(now + 11*second); n != 1 {
		t.Errorf("expired %d connections after 11 s, want 1 (CLOSE)", n)
	}
	if a, i := realServerConns(e, svcTCP4, 0); a != 0 || i != 0 {
		t.Errorf("after CLOSE expiry: %d active, %d inactive; want 0, 0", a, i)
	}
	if n := expire(now + int64(5*time.Minute) + second); n != 1 {
		t.Errorf("expired %d connections after 5 min, want 1 (UDP)", n)
	}
	if a, i := realServerConns(e, svcUDP4, 0); a != 0 || i != 0 {
		t.Errorf("after UDP expiry: %d active, %d inactive; want 0, 0", a, i)
	}
	if n := expire(now + int64(14*time.Minute)); n != 0 {
		t.Errorf("expired %d connections after 14 min, want 0", n)
	}
	if n := expire(now + int64(15*time.Minute) + second); n != 1 {
		t.Errorf("expired %d connections after 15 min, want 1 (ESTABLISHED)", n)
	}
	if a, i := realServerConns(e, svcTCP4, 1); a != 0 || i != 0 {
		t.Errorf("after ESTABLISHED expiry: %d active, %d inactive; want 0, 0", a, i)
	}
	if n := p.table.Len(); n != 0 {
		t.Errorf("%d connections left", n)
	}
	// Traffic keeps a connection alive: an established connection refreshed every 10 min survives.
	mustTX(t, p, syn(c2v4).frame(t), 0, now)
	mustTX(t, p, synack(r2l4).frame(t), 1, now)
	for i := range 4 {
		at := now + int64(i)*int64(10*time.Minute)
		mustTX(t, p, ack(c2v4).frame(t), 0, at)
		if n := expire(at); n != 0 {
			t.Fatalf("refresh %d: expired %d connections, want 0", i, n)
		}
	}
}

// ownedClientPort returns a client port of cip whose connections worker w of workers owns.
func ownedClientPort(t *testing.T, cip header.Addr, w, workers int) uint16 {
	t.Helper()
	for port := uint16(42000); port < 43000; port++ {
		if owner(&cip, port, workers) == w {
			return port
		}
	}
	t.Fatalf("no port of %v owned by worker %d", cip, w)
	return 0
}

// TestPipelineHandoff: with two workers, a packet of a flow the other worker owns is handed to it
// unchanged (counted in handoffOut), in both directions and for ICMP errors; the owner processes it.
func TestPipelineHandoff(t *testing.T) {
	e := newTestEnv(t, 1024)
	w0, w1 := e.worker(0, 2, 1024), e.worker(1, 2, 1024)
	cport := ownedClientPort(t, header.AddrFromNetip(cip4), 1, 2)
	c2v, r2l := c2v4, r2l4
	c2v.sport, r2l.dport = cport, cport
	v2c, l2r := v2c4, l2r4
	v2c.dport, l2r.sport = cport, cport

	check := func(name string, f frameFn, port int) {
		t.Helper()
		frame := f(t)
		in := append([]byte(nil), frame...)
		before := *w0.c
		v, o := w0.Process(frame, port, t0)
		if v != VerdictHandoff || o != 1 {
			t.Fatalf("%s on worker 0: Process = %s, %d; want VerdictHandoff, 1", name, vname(v), o)
		}
		before.rx++
		before.handoffOut++
		for _, d := range counterDiff(w0.c, &before) {
			t.Errorf("%s on worker 0: counter %s", name, d)
		}
		if !bytes.Equal(frame, in) {
			t.Errorf("%s: handed-off frame was modified", name)
		}
		mustTX(t, w1, frame, port, t0)
	}
	check("syn", syn(c2v).frame, 0)
	check("synack", synack(r2l).frame, 1)
	check("ack", ack(c2v).frame, 0)
	check("icmp_client_side", icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: vip4, mtu: 1300, quoteBuild: quoteOf(dataS(v2c), 48)}.frame, 0)
	check("icmp_rs_side", icmpErr{src: rtr1MAC, dst: port1MAC, sip: rtr4RS, dip: cip4, mtu: 1300, quoteBuild: quoteOf(bigC(l2r), 48)}.frame, 1)
	if n := w0.table.Len(); n != 0 {
		t.Errorf("worker 0 holds %d connections, want 0", n)
	}
	if n := w1.table.Len(); n != 1 {
		t.Errorf("worker 1 holds %d connections, want 1", n)
	}

	// A flow worker 0 owns stays there; a packet matching no service or real server is dropped
	// rather than handed off.
	own := c2v4
	own.sport = ownedClientPort(t, header.AddrFromNetip(cip4), 0, 2)
	mustTX(t, w0, syn(own).frame(t), 0, t0)
	stranger := syn(c2v4)
	stranger.dip = vip4None
	if v, _ := w0.Process(stranger.frame(t), 0, t0); v != VerdictDrop || w0.c.drops[DropNoService] != 1 {
		t.Errorf("unknown destination on worker 0: %s, no_service %d; want a no_service drop", vname(v), w0.c.drops[DropNoService])
	}
}

// TestPipelineAllPortsReplyHandoff: a reply from the real server of an all-ports service
// (real-server port 0) is recognized as a reply, so that with two workers it reaches the owner of
// its connection, and with one it counts as no_conn, like any other real server's.
func TestPipelineAllPortsReplyHandoff(t *testing.T) {
	e := newTestEnv(t, 1024)
	w0, w1 := e.worker(0, 2, 1024), e.worker(1, 2, 1024)
	cport := ownedClientPort(t, header.AddrFromNetip(cip4), 1, 2)
	c2v, r2l := c2vA4, r2lA4
	c2v.sport, r2l.dport = cport, cport
	mustTX(t, w1, syn(c2v).frame(t), 0, t0)

	if v, o := w0.Process(synack(r2l).frame(t), 1, t0); v != VerdictHandoff || o != 1 {
		t.Errorf("all-ports reply on worker 0: Process = %s, %d (%s); want VerdictHandoff, 1", vname(v), o, nonZero(w0.c))
	}
	// So does an ICMP error from that real server's side quoting the DNATed request.
	l2r := l2rA4
	l2r.sport = cport
	icmp := icmpErr{src: rtr1MAC, dst: port1MAC, sip: rtr4RS, dip: cip4, mtu: 1300, quoteBuild: quoteOf(bigC(l2r), 48)}.frame(t)
	if v, o := w0.Process(icmp, 1, t0); v != VerdictHandoff || o != 1 {
		t.Errorf("ICMP error quoting an all-ports request on worker 0: Process = %s, %d (%s); want VerdictHandoff, 1", vname(v), o, nonZero(w0.c))
	}
	mustTX(t, w1, icmp, 1, t0)
	// One worker: a reply without a connection is no_conn, as for a real server with a port.
	if v, _ := e.p.Process(synack(r2l).frame(t), 1, t0); v != VerdictDrop || e.p.c.drops[DropNoConn] != 1 {
		t.Errorf("all-ports reply without connection: %s (%s); want a no_conn drop", vname(v), nonZero(e.p.c))
	}
}

// TestPipelineIPv4MappedIPv6: an IPv6 packet whose addresses are IPv4-mapped (::ffff:a.b.c.d,
// never valid on the wire, RFC 4291 §2.5.5.2) must not be taken for an IPv4 flow: header.Addr
// stores IPv4 in exactly that form, so without a check it matches IPv4 services and connections,
// and is forwarded as IPv6 with mapped addresses.
func TestPipelineIPv4MappedIPv6(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	toVIP := syn(c2v6)
	toVIP.sip = mapIPv4(cip4)
	toVIP.dip = mapIPv4(vip4)
	frame := toVIP.frame(t)
	if v, port := p.Process(frame, 0, t0); v != VerdictDrop || p.c.drops[DropMappedAddr] != 1 || counterTotal(p.c) != 1 {
		t.Errorf("IPv6 SYN to ::ffff:%v:80: Process = %s, %d (%s); want a mapped_address drop", vip4, vname(v), port, nonZero(p.c))
	}

	// With the IPv4 connection open, an IPv6 RST spoofed with the mapped tuple must not reach it.
	mustTX(t, p, syn(c2v4).frame(t), 0, t0)
	rst := c2v6.seg("R", 1001, 0, 0)
	rst.sip, rst.dip = mapIPv4(cip4), mapIPv4(vip4)
	if v, _ := p.Process(rst.frame(t), 0, t0); v != VerdictDrop || p.c.drops[DropMappedAddr] != 2 {
		t.Errorf("IPv6 RST with the IPv4 connection's mapped tuple: %s (%s); want a mapped_address drop", vname(v), nonZero(p.c))
	}
	if s := stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 80)); s != conntrack.StateSynRecv {
		t.Errorf("IPv4 connection state %v after the IPv6 RST, want SYN_RECV", s)
	}
}

// TestPipelineConfigChange: a connection whose service and real server were removed is expired by
// its next packet (the default policy), and counts for no one: an id given to another service or
// real server meanwhile starts from zero and stays there.
func TestPipelineConfigChange(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	svcA := Service{Key: ServiceKey{Proto: tcp, Addr: vip4, Port: 80}, Scheduler: "rr",
		RealServers: []RealServer{{Addr: rs4a, Port: 8080, Forward: ForwardMasq, Weight: 1}}}
	svcB := Service{Key: ServiceKey{Proto: udp, Addr: vip4, Port: 53}, Scheduler: "rr",
		RealServers: []RealServer{{Addr: rs4b, Port: 5353, Forward: ForwardMasq, Weight: 1}}}
	svcC := Service{Key: ServiceKey{Proto: tcp, Addr: vip4All, Port: 0}, Scheduler: "rr",
		RealServers: []RealServer{{Addr: rs4b, Port: 0, Forward: ForwardMasq, Weight: 1}}}
	apply := func(in *ids, gen uint64, svcs ...Service) (*compiled, *ids) {
		t.Helper()
		c, out, err := compile(&Snapshot{Services: svcs}, p.conf, in, gen)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		p.setConfig(c)
		return c, out
	}
	c1, ids1 := apply(newIDs(), 1, svcA)
	for _, s := range handshake4() {
		mustTX(t, p, s.f(t), s.port, t0)
	}
	_, ids2 := apply(ids1, 2, svcB) // A removed: its ids are freed
	c3, _ := apply(ids2, 3, svcB, svcC)
	if c3.svcs[1].id != c1.svcs[0].id || c3.svcs[1].dests[0].id != c1.svcs[0].dests[0].id {
		t.Fatalf("C did not reuse A's ids (svc %d, dest %d); the test needs it", c3.svcs[1].id, c3.svcs[1].dests[0].id)
	}

	// A's connection: the server's reply is dropped and the connection expired; the client's next
	// packet finds no service any more.
	if v, _ := p.Process(dataS(r2l4).frame(t), 1, t0); v != VerdictDrop || p.c.drops[DropDestGone] != 1 || p.c.reopened != 0 {
		t.Fatalf("reply of a removed server: %s, dest_gone=%d", vname(v), p.c.drops[DropDestGone])
	}
	if v, _ := p.Process(dataC(c2v4).frame(t), 0, t0); v != VerdictDrop || p.c.drops[DropNoService] != 1 {
		t.Fatalf("client packet after its service went: %s, no_service=%d", vname(v), p.c.drops[DropNoService])
	}
	// C, which has seen no packet, must show none.
	st := statsOf(c3, []*counters{p.c}, nil, nil)
	if got := st.Services[1].Counters; got != (Counters{}) {
		t.Errorf("service C counts %+v: traffic of removed service A's connection", got)
	}
	if got := st.Services[1].RealServers[0]; got.Counters != (Counters{}) || got.ActiveConns != 0 || got.InactiveConns != 0 {
		t.Errorf("C's real server counts %+v: traffic of removed service A's connection", got)
	}
	// And its removal moved no one's connection counts.
	if n := p.table.Len(); n != 0 {
		t.Fatalf("%d connections left, want 0", n)
	}
	if rs := statsOf(c3, []*counters{p.c}, nil, nil).Services[1].RealServers[0]; rs.ActiveConns != 0 || rs.InactiveConns != 0 {
		t.Errorf("C's real server: %d active, %d inactive after A's connection expired", rs.ActiveConns, rs.InactiveConns)
	}
}

// TestPipelineTimeouts: Snapshot.Timeouts (ipvsadm --set tcp tcpfin udp) set how long idle
// connections live.
func TestPipelineTimeouts(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	snap := testSnapshot()
	snap.Timeouts = Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 3 * time.Second}
	p.setConfig(mustCompile(t, snap))
	for _, s := range handshake4() {
		mustTX(t, p, s.f(t), s.port, t0)
	}
	mustTX(t, p, c2vU4.frame(t), 0, t0)
	for _, c := range []struct {
		after time.Duration
		want  int
	}{{2 * time.Second, 0}, {4 * time.Second, 1}, {29 * time.Second, 0}, {31 * time.Second, 1}} {
		if n := p.table.Expire(t0+int64(c.after), 0); n != c.want {
			t.Errorf("after %v: expired %d connections, want %d", c.after, n, c.want)
		}
	}
}

// TestPipelineGatewayRoute: a client behind a router (a route with a gateway) gets its replies at
// the router's MAC, and the longest prefix wins over a shorter one to the same port.
func TestPipelineGatewayRoute(t *testing.T) {
	e := newTestEnv(t, 1024)
	remote := netip.MustParseAddr("198.19.7.9")
	e.neigh.SetRoutes([]Route{
		{Prefix: netip.MustParsePrefix("198.18.0.0/15"), Port: 1}, // shorter: would send the client to the RS side
		{Prefix: netip.MustParsePrefix("198.19.0.0/16"), Port: 0, Gateway: rtr4},
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 1},
	})
	e.neigh.Set(0, rtr4, rtr0MAC, true)
	c2v, r2l := syn(c2v4), synack(r2l4)
	c2v.sip, r2l.dip = remote, remote
	mustTX(t, e.p, c2v.frame(t), 0, t0)
	f := r2l.frame(t)
	if port := mustTX(t, e.p, f, 1, t0); port != 0 {
		t.Errorf("reply left on port %d, want 0", port)
	}
	want := synack(v2c4)
	want.dip, want.dst = remote, rtr0MAC
	if w := want.frame(t); !bytes.Equal(f, w) {
		t.Errorf("reply to a client behind a router:\n%s", frameDiff(f, w))
	}
}
