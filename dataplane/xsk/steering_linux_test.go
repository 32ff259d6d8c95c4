package xsk

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

const (
	tcp = 6
	udp = 17
)

// testRules is the configuration every steering fixture runs against.
var testRules = Rules{
	Services: []Endpoint{
		{tcp, netip.MustParseAddr("198.18.1.1"), 80},
		{udp, netip.MustParseAddr("198.18.1.1"), 53},
		{tcp, netip.MustParseAddr("198.18.1.2"), 0}, // all ports
		{tcp, netip.MustParseAddr("2001:2::1"), 443},
		{udp, netip.MustParseAddr("2001:2::1"), 53},
	},
	LocalAddrs:   []netip.Addr{netip.MustParseAddr("198.18.3.1"), netip.MustParseAddr("2001:2:0:3::1")},
	FragmentTo:   []netip.Addr{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("2001:2::1")},
	FragmentFrom: []netip.Addr{netip.MustParseAddr("198.18.2.10"), netip.MustParseAddr("2001:2:0:2::10")},
}

// testFlows are the NAT connections the workers made: their reply tuples (real server to client).
var testFlows = []FlowKey{
	mustFlow("tcp", "198.18.2.10", 8080, "198.18.0.100", 12345),
	mustFlow("udp", "198.18.2.10", 5353, "198.18.0.100", 12345),
	mustFlow("udp", "198.18.2.10", 5353, "198.18.0.100", 5555), // natFwd4's connection
	mustFlow("tcp", "2001:2:0:2::10", 8080, "2001:2::100", 12345),
	mustFlow("tcp", "2001:2:0:2::10", 8080, "2001:2::100", 1),
	mustFlow("tcp", "198.18.2.20", 6543, "198.18.0.100", 12345), // of an all-ports service
}

func mustFlow(proto, src string, sport uint16, dst string, dport uint16) FlowKey {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	p := uint8(tcp)
	if proto == "udp" {
		p = udp
	}
	s16, d16 := s.As16(), d.As16()
	return Flow(p, &s16, sport, &d16, dport, s.Is4())
}

// newTestSteering returns a Steering holding testRules and a detached
// program instance with its XSKMAP.
func newTestSteering(tb testing.TB) (*Steering, *ebpf.Program, *ebpf.Map) {
	tb.Helper()
	testutil.RequireRoot(tb)
	st, err := NewSteering(1 << 16)
	if err != nil {
		tb.Fatalf("NewSteering: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Update(testRules); err != nil {
		tb.Fatalf("Update: %v", err)
	}
	if n, err := st.AddFlows(testFlows); err != nil || n != len(testFlows) {
		tb.Fatalf("AddFlows: %d, %v", n, err)
	}
	prog, xsks, err := st.Program()
	if err != nil {
		tb.Fatalf("Program: %v", err)
	}
	tb.Cleanup(func() { prog.Close(); xsks.Close() })
	return st, prog, xsks
}

func mustStats(tb testing.TB, st *Steering) map[string]uint64 {
	tb.Helper()
	s, err := st.Stats()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// runFrame runs the program once over frame and returns its return code
// and the counters that moved.
func runFrame(tb testing.TB, st *Steering, prog *ebpf.Program, frame []byte) (uint32, map[string]uint64) {
	tb.Helper()
	before := mustStats(tb, st)
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		tb.Fatalf("prog.Run: %v", err)
	}
	after := mustStats(tb, st)
	delta := map[string]uint64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			delta[k] = d
		}
	}
	return ret, delta
}

type steerCase struct {
	name  string
	frame []byte
	// match is the match_* counter for a frame that must be redirected
	// ("" = must be passed).
	match string
	// reason is the passed_* / parse_error counter of a passed frame ("" =
	// passed because nothing matched).
	reason string
}

func steerCases(tb testing.TB) []steerCase {
	tb.Helper()
	rsTCP4 := ip4Packet(tb, "tcp", "198.18.3.1", 1025, "198.18.2.10", 8080)       // LIP -> RS
	svcReply4 := ip4Packet(tb, "tcp", "198.18.1.1", 80, "198.18.0.100", 12345)    // VIP -> client
	lipOut4 := ip4Packet(tb, "udp", "198.18.3.1", 1026, "198.18.2.20", 53)        // LIP -> some RS not in NAT table
	other4 := ip4Packet(tb, "tcp", "198.18.0.100", 5555, "198.18.0.200", 22)      // unrelated
	natFwd4 := ip4Packet(tb, "udp", "198.18.0.100", 5555, "198.18.2.10", 5353)    // client -> RS, NATed by us
	hcheck4 := ip4Packet(tb, "udp", "198.18.2.1", 40000, "198.18.2.10", 5353)     // the director's own health check -> RS
	rsTCP6 := ip6Packet(tb, "tcp", "2001:2:0:3::1", 1025, "2001:2:0:2::10", 8080) // LIP -> RS
	svcReply6 := ip6Packet(tb, "udp", "2001:2::1", 53, "2001:2::100", 3333)
	other6 := ip6Packet(tb, "tcp", "2001:2::100", 5555, "2001:2::200", 22)
	svc4 := ip4Packet(tb, "tcp", "198.18.0.100", 12345, "198.18.1.1", 80)

	return []steerCase{
		// Services.
		{"v4_tcp_service", v4(tb, "tcp", "198.18.0.100", 12345, "198.18.1.1", 80), "match_service", ""},
		{"v4_udp_service", v4(tb, "udp", "198.18.0.100", 12345, "198.18.1.1", 53), "match_service", ""},
		{"v4_tcp_other_port", v4(tb, "tcp", "198.18.0.100", 12345, "198.18.1.1", 81), "", ""},
		{"v4_udp_to_tcp_service", v4(tb, "udp", "198.18.0.100", 12345, "198.18.1.1", 80), "", ""},
		{"v4_all_ports_service", v4(tb, "tcp", "198.18.0.100", 12345, "198.18.1.2", 9999), "match_service", ""},
		{"v4_all_ports_service_wrong_proto", v4(tb, "udp", "198.18.0.100", 12345, "198.18.1.2", 9999), "", ""},
		{"v6_tcp_service", v6(tb, "tcp", "2001:2::100", 12345, "2001:2::1", 443), "match_service", ""},
		{"v6_udp_service", v6(tb, "udp", "2001:2::100", 12345, "2001:2::1", 53), "match_service", ""},
		{"v6_tcp_other_port", v6(tb, "tcp", "2001:2::100", 12345, "2001:2::1", 80), "", ""},
		{"v4_ssh_to_box", v4(tb, "tcp", "198.18.0.100", 40000, "198.18.2.1", 22), "", ""},

		// NAT replies of the workers' connections vs everything else from a real server's port.
		{"v4_nat_reply", v4(tb, "tcp", "198.18.2.10", 8080, "198.18.0.100", 12345), "match_real_server", ""},
		{"v4_udp_nat_reply", v4(tb, "udp", "198.18.2.10", 5353, "198.18.0.100", 12345), "match_real_server", ""},
		{"v4_rs_to_director_healthcheck", v4(tb, "tcp", "198.18.2.10", 8080, "198.18.2.1", 40000), "", ""},
		{"v4_rs_other_port", v4(tb, "tcp", "198.18.2.10", 8081, "198.18.0.100", 12345), "", ""},
		{"v4_rs_reply_to_a_direct_client", v4(tb, "tcp", "198.18.2.10", 8080, "198.18.0.100", 23456), "", ""},
		{"v4_all_ports_rs_reply", v4(tb, "tcp", "198.18.2.20", 6543, "198.18.0.100", 12345), "match_real_server", ""},
		{"v4_all_ports_rs_other_proto", v4(tb, "udp", "198.18.2.20", 6543, "198.18.0.100", 12345), "", ""},
		{"v6_nat_reply", v6(tb, "tcp", "2001:2:0:2::10", 8080, "2001:2::100", 12345), "match_real_server", ""},
		{"v6_rs_to_director_healthcheck", v6(tb, "tcp", "2001:2:0:2::10", 8080, "2001:2:0:2::1", 40000), "", ""},
		{"v6_rs_reply_to_a_direct_client", v6(tb, "tcp", "2001:2:0:2::10", 8080, "2001:2::100", 23456), "", ""},

		// Local (FULLNAT) addresses.
		{"v4_to_lip", v4(tb, "tcp", "198.18.2.20", 80, "198.18.3.1", 1025), "match_local_addr", ""},
		{"v6_to_lip", v6(tb, "udp", "2001:2:0:2::20", 53, "2001:2:0:3::1", 1025), "match_local_addr", ""},

		// Kernel traffic.
		{"arp_for_vip", arpRequest(tb, "198.18.1.1"), "", "passed_not_ip"},
		{"icmp_echo_to_vip", icmp4Echo(tb, "198.18.1.1"), "", ""},
		{"icmp6_neighbor_solicitation", icmp6NS(tb, "2001:2::1"), "", ""},

		// ICMP errors.
		{"icmp_frag_needed_quoting_rs", icmp4Error(tb, 3, 4, "198.18.2.254", "198.18.3.1", rsTCP4), "match_icmp_error", ""},
		{"icmp_port_unreach_quoting_service", icmp4Error(tb, 3, 3, "198.18.0.254", "198.18.0.100", svcReply4), "match_icmp_error", ""},
		{"icmp_time_exceeded_quoting_lip", icmp4Error(tb, 11, 0, "198.18.2.254", "198.18.3.1", lipOut4), "match_icmp_error", ""},
		{"icmp_param_problem_quoting_service", icmp4Error(tb, 12, 0, "198.18.0.254", "198.18.0.100", svcReply4), "match_icmp_error", ""},
		{"icmp_port_unreach_quoting_nat_forward", icmp4Error(tb, 3, 3, "198.18.2.10", "198.18.0.100", natFwd4), "match_icmp_error", ""},
		{"icmp_port_unreach_quoting_director_health_check", icmp4Error(tb, 3, 3, "198.18.2.10", "198.18.2.1", hcheck4), "", ""},
		{"icmp_error_quoting_unrelated", icmp4Error(tb, 3, 1, "198.18.0.254", "198.18.0.100", other4), "", ""},
		{"icmp_error_quoting_client_to_service", icmp4Error(tb, 3, 1, "198.18.0.254", "198.18.0.100", svc4), "", ""},
		{"icmp_error_truncated_quote", icmp4Error(tb, 3, 4, "198.18.2.254", "198.18.3.1", rsTCP4[:24]), "", "parse_error"},
		{"icmp6_packet_too_big_quoting_rs", icmp6Error(tb, 2, 0, "2001:2:0:2::fe", "2001:2:0:3::1", rsTCP6[:48]), "match_icmp_error", ""},
		{"icmp6_dest_unreach_quoting_service", icmp6Error(tb, 1, 4, "2001:2::fe", "2001:2::100", svcReply6[:48]), "match_icmp_error", ""},
		{"icmp6_time_exceeded_quoting_unrelated", icmp6Error(tb, 3, 0, "2001:2::fe", "2001:2::100", other6[:48]), "", ""},

		// VLAN.
		// VLAN: the workers do not handle tags yet, so tagged frames to a VIP go to the kernel
		// (redirected, they were dropped: a blackhole).
		{"vlan_v4_service_passed", vlan(tb, []layers.EthernetType{layers.EthernetTypeDot1Q}, layers.EthernetTypeIPv4, svc4), "", "passed_vlan"},
		{"qinq_v4_service_passed", vlan(tb, []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q}, layers.EthernetTypeIPv4, svc4), "", "passed_vlan"},
		{"three_tags_passed", vlan(tb, []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q}, layers.EthernetTypeIPv4, svc4), "", "passed_vlan"},
		{"vlan_v6_nat_reply_passed", vlan(tb, []layers.EthernetType{layers.EthernetTypeDot1Q}, layers.EthernetTypeIPv6, ip6Packet(tb, "tcp", "2001:2:0:2::10", 8080, "2001:2::100", 1)), "", "passed_vlan"},

		// IPv4 options, IPv6 extension headers.
		{"v4_options_service", v4Options(tb, "198.18.1.1", 80), "match_service", ""},
		{"v4_options_other", v4Options(tb, "198.18.1.1", 81), "", ""},
		{"v6_hbh_dst_rt_service", v6Ext(tb, "2001:2::1", 443, ext{proto: 0}, ext{proto: 60}, ext{proto: 43}), "match_service", ""},
		{"v6_ah_service", v6Ext(tb, "2001:2::1", 443, ext{proto: 51}), "match_service", ""},
		{"v6_six_ext_service", v6Ext(tb, "2001:2::1", 443, ext{proto: 0}, ext{proto: 60}, ext{proto: 43}, ext{proto: 60}, ext{proto: 43}, ext{proto: 60}), "match_service", ""},
		{"v6_seven_ext_passed", v6Ext(tb, "2001:2::1", 443, ext{proto: 0}, ext{proto: 60}, ext{proto: 43}, ext{proto: 60}, ext{proto: 43}, ext{proto: 60}, ext{proto: 60}), "", "parse_error"},
		{"v6_atomic_fragment_service", v6Ext(tb, "2001:2::1", 443, ext{proto: 44}), "match_service", ""},

		// Fragments: by address alone (later ones carry no ports), to a VIP or a LIP, or from a
		// NAT real server; any other passed.
		{"v4_first_fragment_mf", v4Frag(tb, "198.18.1.1", 53, 0, true), "match_fragment", ""},
		{"v4_last_fragment", v4Frag(tb, "198.18.1.1", 53, 185, false), "match_fragment", ""},
		{"v4_middle_fragment", v4Frag(tb, "198.18.1.1", 53, 185, true), "match_fragment", ""},
		{"v4_fragment_other_port_of_vip", v4Frag(tb, "198.18.1.2", 9, 185, true), "match_fragment", ""},
		{"v4_fragment_to_lip", v4Frag(tb, "198.18.3.1", 1025, 185, false), "match_fragment", ""},
		{"v4_fragment_from_nat_rs", v4FragFrom(tb, "198.18.2.10", "198.18.0.100", 12345, 185, false), "match_fragment", ""},
		{"v4_fragment_to_box", v4Frag(tb, "198.18.2.1", 53, 185, true), "", "passed_fragment"},
		{"v4_fragment_from_other", v4FragFrom(tb, "198.18.2.11", "198.18.0.100", 12345, 185, false), "", "passed_fragment"},
		{"v6_first_fragment_m", v6Ext(tb, "2001:2::1", 443, ext{proto: 44, more: true}), "match_fragment", ""},
		{"v6_later_fragment", v6Ext(tb, "2001:2::1", 443, ext{proto: 0}, ext{proto: 44, offset: 100}), "match_fragment", ""},
		{"v6_later_fragment_to_box", v6Ext(tb, "2001:2::9", 443, ext{proto: 44, offset: 100}), "", "passed_fragment"},

		// Hostile frames.
		{"eth_only", withEth(tb, layers.EthernetTypeIPv4, nil)[:14], "", "parse_error"},
		{"v4_truncated_header", v4(tb, "tcp", "198.18.0.100", 1, "198.18.1.1", 80)[:14+19], "", "parse_error"},
		{"v4_truncated_tcp", v4(tb, "tcp", "198.18.0.100", 1, "198.18.1.1", 80)[:14+20+19], "", "parse_error"},
		{"v4_udp_ports_only", v4(tb, "udp", "198.18.0.100", 1, "198.18.1.1", 53)[:14+20+4], "", "parse_error"},
		{"v4_ihl_too_small", mutate(v4(tb, "tcp", "198.18.0.100", 1, "198.18.1.1", 80), 14, 0x44), "", "parse_error"},
		{"v4_ihl_past_end", mutate(v4(tb, "tcp", "198.18.0.100", 1, "198.18.1.1", 80)[:14+40], 14, 0x4f), "", "parse_error"},
		{"v4_bad_version", mutate(v4(tb, "tcp", "198.18.0.100", 1, "198.18.1.1", 80), 14, 0x65), "", "parse_error"},
		{"v6_truncated_header", v6(tb, "tcp", "2001:2::100", 1, "2001:2::1", 443)[:14+39], "", "parse_error"},
		{"v6_bad_version", mutate(v6(tb, "tcp", "2001:2::100", 1, "2001:2::1", 443), 14, 0x40), "", "parse_error"},
		{"v6_ext_past_end", v6Ext(tb, "2001:2::1", 443, ext{proto: 0}, ext{proto: 60})[:14+40+20], "", "parse_error"},
		{"vlan_truncated", vlan(tb, []layers.EthernetType{layers.EthernetTypeDot1Q}, layers.EthernetTypeIPv4, svc4)[:16], "", "passed_vlan"},
	}
}

func mutate(b []byte, off int, v byte) []byte {
	b = append([]byte(nil), b...)
	b[off] = v
	return b
}

// TestSteeringProgram runs every fixture through BPF_PROG_TEST_RUN with no
// socket in the XSKMAP: a frame the program would redirect returns
// XDP_PASS and moves its match_* counter and redirect_no_socket; a passed
// frame moves only packets, passed and its reason.
func TestSteeringProgram(t *testing.T) {
	st, prog, _ := newTestSteering(t)
	for _, c := range steerCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ret, delta := runFrame(t, st, prog, c.frame)
			if ret != uint32(xdpPass) {
				t.Fatalf("return %d, want XDP_PASS (no socket registered)", ret)
			}
			want := map[string]uint64{"packets": 1, "passed": 1}
			if c.match != "" {
				want[c.match] = 1
				want["redirect_no_socket"] = 1
			}
			if c.reason != "" {
				want[c.reason] = 1
			}
			if !maps.Equal(delta, want) {
				t.Fatalf("counters moved %v, want %v\nframe % x", delta, want, c.frame)
			}
		})
	}
}

const (
	xdpPass     = 2
	xdpRedirect = 4
)

// TestSteeringProgramTruncations feeds every prefix (>= 14 bytes) of every
// fixture and random garbage frames: the program must always return
// XDP_PASS without a socket and count the frame once.
func TestSteeringProgramTruncations(t *testing.T) {
	st, prog, _ := newTestSteering(t)
	var frames [][]byte
	for _, c := range steerCases(t) {
		for n := 14; n <= len(c.frame); n++ {
			frames = append(frames, c.frame[:n])
		}
	}
	r := testutil.Rand(t)
	for range 2000 {
		f := make([]byte, 15+r.IntN(200))
		for i := range f {
			f[i] = byte(r.Uint32())
		}
		switch r.IntN(4) { // make the EtherType interesting
		case 0:
			f[12], f[13] = 0x08, 0x00
			f[14] = 0x40 | f[14]&0x0f
		case 1:
			f[12], f[13] = 0x86, 0xdd
			f[14] = 0x60 | f[14]&0x0f
		case 2:
			f[12], f[13] = 0x81, 0x00
		}
		frames = append(frames, f)
	}
	before := mustStats(t, st)
	for _, f := range frames {
		ret, err := prog.Run(&ebpf.RunOptions{Data: f})
		if err != nil {
			t.Fatalf("prog.Run(% x): %v", f, err)
		}
		if ret != xdpPass {
			t.Fatalf("return %d for % x", ret, f)
		}
	}
	after := mustStats(t, st)
	if n := after["packets"] - before["packets"]; n != uint64(len(frames)) {
		t.Fatalf("packets moved by %d, want %d", n, len(frames))
	}
	if n := after["passed"] - before["passed"]; n != uint64(len(frames)) {
		t.Fatalf("passed moved by %d, want %d", n, len(frames))
	}
	t.Logf("%d frames, counters %v", len(frames), after)
}

// TestSteeringUpdate checks that Update adds and removes entries and keeps
// unchanged ones.
func TestSteeringUpdate(t *testing.T) {
	st, prog, _ := newTestSteering(t)
	svcFrame := v4(t, "tcp", "198.18.0.100", 12345, "198.18.1.1", 80)
	newFrame := v4(t, "udp", "198.18.0.100", 12345, "198.18.9.9", 99)
	if _, d := runFrame(t, st, prog, newFrame); d["match_service"] != 0 {
		t.Fatal("service matched before being added")
	}
	r := testRules
	r.Services = append(slices.Clone(r.Services), Endpoint{udp, netip.MustParseAddr("198.18.9.9"), 99})
	if err := st.Update(r); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteFlows(append([]FlowKey{mustFlow("tcp", "198.18.9.9", 1, "198.18.9.9", 2)}, testFlows...)); err != nil {
		t.Fatalf("DeleteFlows (one of them absent): %v", err)
	}
	if _, d := runFrame(t, st, prog, newFrame); d["match_service"] != 1 {
		t.Fatalf("new service not matched: %v", d)
	}
	if _, d := runFrame(t, st, prog, svcFrame); d["match_service"] != 1 {
		t.Fatalf("unchanged service not matched: %v", d)
	}
	if _, d := runFrame(t, st, prog, v4(t, "tcp", "198.18.2.10", 8080, "198.18.0.100", 12345)); d["match_real_server"] != 0 {
		t.Fatalf("removed NAT flow still matched: %v", d)
	}
	n := 0
	var k FlowKey
	var v uint32
	for it := st.shared.NATFlows.Iterate(); it.Next(&k, &v); {
		n++
	}
	if n != 0 {
		t.Fatalf("%d NAT flows left in the map", n)
	}
	if err := st.Update(Rules{Services: []Endpoint{{1, netip.MustParseAddr("198.18.1.1"), 0}}}); err == nil {
		t.Fatal("ICMP service accepted")
	}
	if err := st.Update(Rules{LocalAddrs: []netip.Addr{{}}}); err == nil {
		t.Fatal("invalid address accepted")
	}
	// A failed update leaves the maps alone.
	if _, d := runFrame(t, st, prog, newFrame); d["match_service"] != 1 {
		t.Fatalf("failed update changed the maps: %v", d)
	}
}

func BenchmarkSteeringProgram(b *testing.B) {
	st, prog, _ := newTestSteering(b)
	_ = st
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"v4_service", v4(b, "tcp", "198.18.0.100", 12345, "198.18.1.1", 80)},
		{"v4_nat_reply", v4(b, "tcp", "198.18.2.10", 8080, "198.18.0.100", 12345)},
		{"v4_other", v4(b, "tcp", "198.18.0.100", 12345, "198.18.0.200", 22)},
		{"v6_ext_service", v6Ext(b, "2001:2::1", 443, ext{proto: 0}, ext{proto: 60}, ext{proto: 43})},
	} {
		b.Run(c.name, func(b *testing.B) {
			const repeat = 10000
			var total float64
			for b.Loop() {
				_, d, err := prog.Benchmark(c.frame, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += float64(d.Nanoseconds())
			}
			b.ReportMetric(total/float64(b.N), "ns/pkt")
		})
	}
}

// TestFlowsZeroAllocs: the workers add and delete NAT flows once per batch; neither allocates.
func TestFlowsZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	st, _, _ := newTestSteering(t)
	keys := slices.Clone(testFlows)
	allocs := testing.AllocsPerRun(100, func() {
		if err := st.DeleteFlows(keys); err != nil {
			t.Fatal(err)
		}
		if n, err := st.AddFlows(keys); err != nil || n != len(keys) {
			t.Fatal(n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per DeleteFlows+AddFlows", allocs)
	}
}
