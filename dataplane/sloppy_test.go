package dataplane

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
)

// Tests of sloppy TCP (sloppy.go): a mid-flow segment that reaches a director without its
// connection, as after an ECMP change, on the golden-test topology of helpers_test.go.

// sloppyService is TCP vip4:80 with scheduler sched and policy over rs4a and rs4b, forwarded by m.
func sloppyService(sched string, m ForwardMethod, policy BackendPolicy) Service {
	return sloppyServiceOf(false, sched, m, policy)
}

// sloppyServiceOf is sloppyService, or the same on vip6 over rs6a and rs6b.
func sloppyServiceOf(v6 bool, sched string, m ForwardMethod, policy BackendPolicy) Service {
	vip, rss := vip4, []netip.Addr{rs4a, rs4b}
	if v6 {
		vip, rss = vip6, []netip.Addr{rs6a, rs6b}
	}
	s := Service{Key: ServiceKey{Proto: tcp, Addr: vip, Port: 80}, Scheduler: sched, Policy: policy}
	for _, a := range rss {
		s.RealServers = append(s.RealServers, RealServer{Addr: a, Port: 80, Forward: m, Weight: 1})
	}
	return s
}

// director is one director's pipeline with s applied.
func director(t *testing.T, s Service) *Pipeline {
	t.Helper()
	p := newTestEnv(t, 1024).p
	applyServices(t, p, newIDs(), s)
	return p
}

// moved is a client flow of port cport whose handshake another director saw.
func moved(cport uint16) pk { return movedOf(false, cport) }

// movedOf is moved, or the same from cip6 to vip6.
func movedOf(v6 bool, cport uint16) pk {
	if v6 {
		return pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: tcp, sport: cport, dport: 80}
	}
	return pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: cport, dport: 80}
}

// TestSloppyGolden: a mid-flow ACK of an mh/DR service without a connection is forwarded to the
// real server the director that saw the SYN chose, with only the MACs changed, and opens an
// ESTABLISHED connection (active, counted as sloppy_created); the flow's state follows its segments
// from there: a FIN puts it in FIN_WAIT. Over 64 flows both real servers are chosen, so the test
// would see a director that picked differently. IPv4 and IPv6.
func TestSloppyGolden(t *testing.T) {
	for _, tc := range []struct {
		sched string
		v6    bool
	}{{"mh", false}, {"sh", false}, {"mh", true}, {"sh", true}} {
		t.Run(fmt.Sprintf("%s_v6=%v", tc.sched, tc.v6), func(t *testing.T) {
			s := sloppyServiceOf(tc.v6, tc.sched, ForwardRoute, 0)
			s.Flags = ServiceSchedFlag2 // sh-port, mh-port: the flows of one client spread
			first, second := director(t, s), director(t, s)
			seen := map[header.MAC]int{}
			for cport := uint16(40000); cport < 40064; cport++ {
				c := movedOf(tc.v6, cport)
				f := syn(c).frame(t)
				mustTX(t, first, f, 0, t0)
				want := header.Ethernet(f).DestinationAddress()
				seen[want]++

				in := dataC(c).frame(t)
				out := append([]byte(nil), in...)
				before := *second.c
				if port := mustTX(t, second, out, 0, t0); port != 1 {
					t.Fatalf("port %d", port)
				}
				golden := append([]byte(nil), in...)
				copy(golden[0:6], want[:])
				copy(golden[6:12], port1MAC[:])
				if string(out) != string(golden) {
					t.Fatalf("flow %d: the moved segment left as\n%x\nwant (to %v)\n%x", cport, out, want, golden)
				}
				d := uint32(dTCP4a) // the ids compile gives the service's two real servers
				if want == rs2MAC {
					d = dTCP4b
				}
				exp := before
				for _, dl := range []delta{dTX(), dNew(svcTCP4, d), dIn(svcTCP4, d, dataC(c).ipLen()), dConns(d, 1, 0)} {
					dl(&exp)
				}
				exp.rx++
				exp.sloppy++
				if diff := counterDiff(second.c, &exp); len(diff) > 0 {
					t.Fatalf("flow %d counters: %v", cport, diff)
				}
				tp := tuple(tcp, c.sip, cport, c.dip, 80)
				if st := stateOf(t, second, tp); st != conntrack.StateEstablished {
					t.Fatalf("sloppy connection in %v, want ESTABLISHED", st)
				}
				mustTX(t, second, fin(c).frame(t), 0, t0)
				if st := stateOf(t, second, tp); st != conntrack.StateFinWait {
					t.Fatalf("after FIN: %v, want FIN_WAIT", st)
				}
			}
			if len(seen) != 2 {
				t.Fatalf("64 flows all went to one real server: %v", seen)
			}
			if n := workerStats(0, 0, 0, second.c, 0).Events; !hasEvent(n, "sloppy_created", 64) {
				t.Fatalf("events %v: want sloppy_created 64", n)
			}
		})
	}
}

func hasEvent(ev []control.NamedCount, name string, n uint64) bool {
	for _, e := range ev {
		if e.Name == name {
			return e.Count == n
		}
	}
	return false
}

// TestSloppyTunnel: a TUN service's moved segment is tunnelled to the chosen real server too.
func TestSloppyTunnel(t *testing.T) {
	p := tunEnv(t)
	s := tunService(vip4, rs4a, rs4b)
	s.Scheduler = "dh"
	applyServices(t, p, newIDs(), s)
	setTunnelSources(p, sourceOnSubnet)
	v, out := tunnelTo(t, p, vip4, 40000, "A")
	if v != VerdictTX || p.c.sloppy != 1 || p.c.tunnelled != 1 {
		t.Fatalf("%s, sloppy_created %d, tunnelled %d (%s)", vname(v), p.c.sloppy, p.c.tunnelled, nonZero(p.c))
	}
	if src := outerSource(t, out); src != tunSrc4 {
		t.Fatalf("outer source %v", src)
	}
}

// TestSloppyNot: the segments and services sloppy TCP leaves alone are dropped as no_conn and open
// nothing: NAT and FULLNAT real servers (their replies and ports belong to the director that opened
// the connection), a scheduler that is not consistent (rr, wlc), the policy no-sloppy, an RST, a
// segment without ACK, a SYN/ACK.
func TestSloppyNot(t *testing.T) {
	cases := []struct {
		name  string
		svc   Service
		flags string
	}{
		{"nat_mh", sloppyService("mh", ForwardMasq, 0), "A"},
		{"fullnat_mh", sloppyService("mh", ForwardFullNAT, 0), "A"},
		{"dr_rr", sloppyService("rr", ForwardRoute, 0), "A"},
		{"dr_wlc", sloppyService("wlc", ForwardRoute, 0), "PA"},
		{"dr_mh_no_sloppy", sloppyService("mh", ForwardRoute, NoSloppy), "A"},
		{"dr_sh_no_sloppy", sloppyService("sh", ForwardRoute, NoSloppy|NoConnReuse), "PA"},
		{"dr_mh_rst", sloppyService("mh", ForwardRoute, 0), "R"},
		{"dr_mh_rst_ack", sloppyService("mh", ForwardRoute, 0), "RA"},
		{"dr_mh_fin_without_ack", sloppyService("mh", ForwardRoute, 0), "F"},
		{"dr_mh_no_flags", sloppyService("mh", ForwardRoute, 0), ""},
		{"dr_mh_synack", sloppyService("mh", ForwardRoute, 0), "SA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.svc
			if s.RealServers[0].Forward == ForwardFullNAT {
				s.LocalAddrs = []netip.Addr{netip.MustParseAddr("198.18.1.100")}
			}
			p := director(t, s)
			f := moved(40000).seg(tc.flags, 1001, 5001, 0).frame(t)
			before := *p.c
			if v, _ := p.Process(f, 0, t0); v != VerdictDrop {
				t.Fatalf("%s, want a drop", vname(v))
			}
			exp := before
			exp.rx++
			dDrop(DropNoConn)(&exp)
			if diff := counterDiff(p.c, &exp); len(diff) > 0 {
				t.Fatalf("counters: %v", diff)
			}
			if p.table.Len() != 0 {
				t.Fatalf("%d connections opened", p.table.Len())
			}
		})
	}
	// A SYN still opens a connection where the policy is no-sloppy.
	p := director(t, sloppyService("mh", ForwardRoute, NoSloppy))
	mustTX(t, p, syn(moved(40000)).frame(t), 0, t0)
}

// TestSloppyMixed: in a service with a DR and a NAT real server, the moved segments the scheduler
// gives the DR one are forwarded to it, those it gives the NAT one dropped as no_conn.
func TestSloppyMixed(t *testing.T) {
	s := sloppyService("mh", ForwardRoute, 0)
	s.Flags = ServiceSchedFlag2
	s.RealServers[1].Forward = ForwardMasq
	p := director(t, s)
	sent, forwarded := 0, 0
	for cport := uint16(40000); cport < 40064; cport++ {
		f := dataC(moved(cport)).frame(t)
		sent++
		if v, _ := p.Process(f, 0, t0); v == VerdictTX {
			forwarded++
			if dst := header.Ethernet(f).DestinationAddress(); dst != rs1MAC {
				t.Fatalf("a moved segment went to %v, not the DR server", dst)
			}
		}
	}
	if forwarded == 0 || forwarded == sent || p.c.drops[DropNoConn] != uint64(sent-forwarded) || p.c.sloppy != uint64(forwarded) {
		t.Fatalf("%d of %d forwarded, no_conn %d, sloppy_created %d", forwarded, sent, p.c.drops[DropNoConn], p.c.sloppy)
	}
}

// TestSloppyFloodEvictable: a sloppy connection is unassured until the client's second segment, so
// a flood of ACKs from spoofed sources is evictable and, under pressure, short-lived; a real flow's
// second segment assures it.
func TestSloppyFloodEvictable(t *testing.T) {
	p := director(t, sloppyService("mh", ForwardRoute, 0))
	c := moved(40000)
	mustTX(t, p, ack(c).frame(t), 0, t0)
	tp := tuple(tcp, cip4, 40000, vip4, 80)
	id, _, _ := p.table.Lookup(&tp)
	if !p.unassured(p.table.Entry(id)) {
		t.Fatal("a connection opened by one ACK is assured")
	}
	mustTX(t, p, dataC(c).frame(t), 0, t0)
	if p.unassured(p.table.Entry(id)) {
		t.Fatal("a sloppy connection with two segments is still unassured")
	}
	// A table full of one-ACK connections makes room for the next one.
	p = newTestEnv(t, 64).p
	applyServices(t, p, newIDs(), sloppyService("mh", ForwardRoute, 0))
	for i := range 200 {
		c := moved(uint16(41000 + i))
		if v, _ := p.Process(ack(c).frame(t), 0, t0+int64(i)); v != VerdictTX {
			t.Fatalf("ACK %d: %s (%s)", i, vname(v), nonZero(p.c))
		}
	}
	if p.c.evicted == 0 || p.c.drops[DropTableFull] != 0 {
		t.Fatalf("evicted %d, table_full %d", p.c.evicted, p.c.drops[DropTableFull])
	}
}

// TestSloppyZeroAllocs: a moved segment that opens a sloppy connection allocates nothing, nor does
// one refused.
func TestSloppyZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	const runs = 1000
	p := newTestEnv(t, 4096).p
	applyServices(t, p, newIDs(), sloppyService("mh", ForwardRoute, 0))
	frames := make([][]byte, runs+1)
	for i := range frames {
		frames[i] = dataC(moved(uint16(20000 + i))).frame(t)
	}
	var scratch [2048]byte
	i := 0
	n := testing.AllocsPerRun(runs, func() {
		if v, _ := p.Process(scratch[:copy(scratch[:], frames[i])], 0, t0); v != VerdictTX {
			t.Fatalf("Process = %s", vname(v))
		}
		i++
	})
	if n != 0 || p.c.sloppy != runs+1 {
		t.Errorf("%v allocations per sloppy connection (%d opened)", n, p.c.sloppy)
	}
	p = director(t, sloppyService("mh", ForwardMasq, 0))
	rst := moved(40000).seg("R", 1001, 0, 0).frame(t)
	if n := testing.AllocsPerRun(runs, func() {
		if v, _ := p.Process(scratch[:copy(scratch[:], rst)], 0, t0); v != VerdictDrop {
			t.Fatal(vname(v))
		}
	}); n != 0 {
		t.Errorf("%v allocations per refused segment", n)
	}
}
