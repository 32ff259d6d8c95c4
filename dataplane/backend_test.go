package dataplane

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// Tests of how connections follow real-server changes (issue: backend changes done right) and of
// persistence, on the golden-test topology of helpers_test.go.

func svc2(proto uint8, port, rport uint16, policy BackendPolicy, weights ...uint32) Service {
	s := Service{Key: ServiceKey{Proto: proto, Addr: vip4, Port: port}, Scheduler: "rr", Policy: policy}
	for i, w := range weights {
		s.RealServers = append(s.RealServers, RealServer{Addr: []netip.Addr{rs4a, rs4b}[i], Port: rport, Forward: ForwardMasq, Weight: w})
	}
	return s
}

func applyServices(t *testing.T, p *Pipeline, in *ids, svcs ...Service) *ids {
	t.Helper()
	c, out, err := compile(&Snapshot{Services: svcs}, p.conf, in, 1)
	if err != nil {
		t.Fatal(err)
	}
	p.setConfig(c)
	return out
}

// udpTo sends a datagram from client port cport and returns the real server it went to.
func udpTo(t *testing.T, p *Pipeline, cport uint16, now int64) netip.Addr {
	t.Helper()
	f := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: udp, sport: cport, dport: 53}.dgram(20).frame(t)
	mustTX(t, p, f, 0, now)
	var pkt header.Packet
	if pkt.Parse(f) != header.ParseOK {
		t.Fatal("output does not parse")
	}
	return pkt.Tuple.DstAddr.Netip()
}

// TestRemovedServerUDPFlowsMoveAtOnce: removing a real server moves its UDP flows with their next
// datagram; with KeepRemovedConns they stay (black-holed, as IPVS by default).
func TestRemovedServerUDPFlowsMoveAtOnce(t *testing.T) {
	for _, keep := range []bool{false, true} {
		e := newTestEnv(t, 1024)
		p := e.p
		var policy BackendPolicy
		if keep {
			policy = KeepRemovedConns
		}
		ids := applyServices(t, p, newIDs(), svc2(udp, 53, 5353, policy, 1, 1))
		first := map[uint16]netip.Addr{}
		for port := uint16(1000); port < 1010; port++ {
			first[port] = udpTo(t, p, port, t0)
		}
		applyServices(t, p, ids, svc2(udp, 53, 5353, policy, 1)) // rs4b removed
		moved := 0
		for port := uint16(1000); port < 1010; port++ {
			got := udpTo(t, p, port, t0+second)
			if got != first[port] {
				moved++
			}
			if !keep && got != rs4a {
				t.Fatalf("flow %d still goes to %v after its server was removed", port, got)
			}
		}
		switch {
		case !keep && (moved != 5 || p.c.reopened != 5):
			t.Fatalf("default policy: %d flows moved, %d reopened; want 5 and 5", moved, p.c.reopened)
		case keep && moved != 0:
			t.Fatalf("KeepRemovedConns: %d flows moved, want 0", moved)
		}
	}
}

// TestSynReusesFinishedConnection: a SYN on the tuple of a TIME_WAIT connection is scheduled
// afresh (rr moves on) unless NoConnReuse, where it goes back to the old server.
func TestSynReusesFinishedConnection(t *testing.T) {
	for _, reuse := range []bool{true, false} {
		e := newTestEnv(t, 1024)
		p := e.p
		var policy BackendPolicy
		if !reuse {
			policy = NoConnReuse
		}
		applyServices(t, p, newIDs(), svc2(tcp, 80, 8080, policy, 1, 1))
		c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
		s := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: cip4, proto: tcp, sport: 8080, dport: 40000}
		mustTX(t, p, syn(c).frame(t), 0, t0)
		mustTX(t, p, s.seg("SA", 5000, 1001, 0).frame(t), 1, t0)
		mustTX(t, p, c.seg("A", 1001, 5001, 0).frame(t), 0, t0)
		mustTX(t, p, c.seg("FA", 1001, 5001, 0).frame(t), 0, t0)
		mustTX(t, p, s.seg("FA", 5001, 1002, 0).frame(t), 1, t0)
		mustTX(t, p, c.seg("A", 1002, 5002, 0).frame(t), 0, t0)
		if st := stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 80)); st != conntrack.StateTimeWait {
			t.Fatalf("state %v, want TIME_WAIT", st)
		}
		f := syn(c).frame(t)
		mustTX(t, p, f, 0, t0+second)
		var pkt header.Packet
		pkt.Parse(f)
		want := rs4b // rr's next
		if !reuse {
			want = rs4a
		}
		if got := pkt.Tuple.DstAddr.Netip(); got != want {
			t.Fatalf("reuse=%v: SYN went to %v, want %v", reuse, got, want)
		}
		if st := stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 80)); reuse && st != conntrack.StateSynRecv {
			t.Fatalf("new connection in state %v, want SYN_RECV", st)
		}
	}
}

// TestSynTakesFinishedReplyTuple: a client port reused towards another service of the same real
// server (VIP:80 and VIP:81 both to rs4a:8080, NAT) makes the reply tuple of the earlier
// connection again. While that one is in TIME_WAIT the new SYN takes the tuple (IPVS lets it);
// while it is ESTABLISHED, or with NoConnReuse, the SYN is dropped as tuple_taken.
func TestSynTakesFinishedReplyTuple(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy BackendPolicy
		finish bool
		want   bool // the SYN to :81 is forwarded
	}{
		{"time_wait", 0, true, true},
		{"established", 0, false, false},
		{"no_conn_reuse", NoConnReuse, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			p := e.p
			applyServices(t, p, newIDs(), svc2(tcp, 80, 8080, tc.policy, 1), svc2(tcp, 81, 8080, tc.policy, 1))
			c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
			s := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: cip4, proto: tcp, sport: 8080, dport: 40000}
			mustTX(t, p, syn(c).frame(t), 0, t0)
			mustTX(t, p, s.seg("SA", 5000, 1001, 0).frame(t), 1, t0)
			mustTX(t, p, c.seg("A", 1001, 5001, 0).frame(t), 0, t0)
			if tc.finish {
				mustTX(t, p, c.seg("FA", 1001, 5001, 0).frame(t), 0, t0)
				mustTX(t, p, s.seg("FA", 5001, 1002, 0).frame(t), 1, t0)
				mustTX(t, p, c.seg("A", 1002, 5002, 0).frame(t), 0, t0)
			}
			c81 := c
			c81.dport = 81
			v, _ := p.Process(syn(c81).frame(t), 0, t0+second)
			if got := v == VerdictTX; got != tc.want {
				t.Fatalf("SYN to :81: %s, want forwarded %v (counters: %s)", vname(v), tc.want, nonZero(p.c))
			}
			oldTuple := tuple(tcp, cip4, 40000, vip4, 80)
			_, _, oldThere := p.table.Lookup(&oldTuple)
			switch {
			case tc.want && (oldThere || p.c.reopened != 1 || stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 81)) != conntrack.StateSynRecv):
				t.Fatalf("old connection still there %v, reopened %d; want it gone, 1, and the new one in SYN_RECV", oldThere, p.c.reopened)
			case !tc.want && (!oldThere || p.c.drops[DropTupleTaken] != 1):
				t.Fatalf("old connection there %v, tuple_taken %d; want it kept and 1 drop", oldThere, p.c.drops[DropTupleTaken])
			}
			if tc.want {
				// The server's answer goes to the new connection's client, from :81.
				f := s.seg("SA", 9000, 2001, 0).frame(t)
				mustTX(t, p, f, 1, t0+second)
				var pkt header.Packet
				pkt.Parse(f)
				if pkt.Tuple.SrcPort != 81 {
					t.Fatalf("reply from port %d, want 81", pkt.Tuple.SrcPort)
				}
			}
		})
	}
}

// TestPersistence: -p keeps a client (its /24 with -M 255.255.255.0) on one server across
// connections, while other clients rotate; a weight-0 server drains (its template is not used)
// unless PersistToQuiescent; the template outlives its timeout while it controls a connection.
func TestPersistence(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	mk := func(policy BackendPolicy, w0, w1 uint32) Service {
		s := svc2(udp, 53, 5353, policy, w0, w1)
		s.Flags |= ServicePersistent
		s.Persistence = 300 * time.Second
		s.Netmask = netip.PrefixFrom(netip.IPv4Unspecified(), 24)
		return s
	}
	ids := applyServices(t, p, newIDs(), mk(0, 1, 1))
	from := func(client netip.Addr, cport uint16, now int64) netip.Addr {
		f := pk{src: cliMAC, dst: port0MAC, sip: client, dip: vip4, proto: udp, sport: cport, dport: 53}.dgram(8).frame(t)
		mustTX(t, p, f, 0, now)
		var pkt header.Packet
		pkt.Parse(f)
		return pkt.Tuple.DstAddr.Netip()
	}
	first := from(cip4, 1000, t0)
	for port := uint16(1001); port < 1020; port++ {
		if got := from(cip4, port, t0); got != first {
			t.Fatalf("connection from port %d went to %v, the client's template says %v", port, got, first)
		}
	}
	// Same /24, another host: same server. The template's service counts once.
	neighbour := netip.MustParseAddr("198.18.0.5") // another host of the client's /24
	e.neigh.Set(0, neighbour, otherMAC, true)
	if got := from(neighbour, 2000, t0); got != first {
		t.Fatalf("a host of the same /24 went to %v, want %v", got, first)
	}
	elsewhere := netip.MustParseAddr("198.18.1.77") // another /24: a template of its own
	e.neigh.Set(1, elsewhere, otherMAC, true)
	if got := from(elsewhere, 2000, t0); got == first {
		t.Fatalf("a client of another /24 went to %v too: rr should have moved on", got)
	}

	// The server goes quiescent: the template no longer applies, new connections drain away.
	other := rs4a
	if first == rs4a {
		other = rs4b
	}
	w := [2]uint32{1, 1}
	if first == rs4a {
		w[0] = 0
	} else {
		w[1] = 0
	}
	ids = applyServices(t, p, ids, mk(0, w[0], w[1]))
	if got := from(cip4, 3000, t0+second); got != other {
		t.Fatalf("after the server went quiescent, a new connection went to %v, want %v", got, other)
	}
	// PersistToQuiescent: the template (now pointing to other) is kept even when other goes to 0.
	w[0], w[1] = w[1], w[0]
	applyServices(t, p, ids, mk(PersistToQuiescent, w[0], w[1]))
	if got := from(cip4, 3001, t0+2*second); got != other {
		t.Fatalf("PersistToQuiescent: went to %v, want %v", got, other)
	}

	// Expiry: while a connection lives, its template outlives the 300 s timeout; once the last
	// connection is gone, the janitor frees it.
	templatesAt := func(now int64) int {
		n := 0
		for _, c := range countTemplates(p.tmpls, p.conf, now).n {
			n += int(c)
		}
		return n
	}
	keepAlive := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: udp, sport: 3001, dport: 53}.dgram(8)
	for m := int64(1); m <= 6; m++ { // the last connection sends a datagram every minute
		mustTX(t, p, keepAlive.frame(t), 0, t0+m*int64(time.Minute))
		p.table.Expire(t0+m*int64(time.Minute), 0)
	}
	if n := templatesAt(t0 + int64(6*time.Minute)); n != 1 {
		t.Fatalf("%d templates alive while a connection uses it, want 1", n)
	}
	if got := from(cip4, 3002, t0+int64(6*time.Minute)); got != other {
		t.Fatalf("after 6 min with a live connection, a new connection went to %v, want %v", got, other)
	}
	p.table.Expire(t0+int64(12*time.Minute), 0) // every connection expires (UDP: 5 min)
	if p.table.Len() != 0 {
		t.Fatalf("%d connections left", p.table.Len())
	}
	if n := templatesAt(t0 + int64(12*time.Minute)); n != 0 {
		t.Fatalf("%d templates alive after the last connection and the timeout, want 0", n)
	}
}

// TestThresholds: with -x 3 a real server takes no new connection once it has 3, and takes them
// again below -y 1 (IPVS's hysteresis).
func TestThresholds(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	s := svc2(udp, 53, 5353, 0, 1, 1)
	s.RealServers[0].UpperThreshold, s.RealServers[0].LowerThreshold = 3, 1
	applyServices(t, p, newIDs(), s)
	got := map[netip.Addr]int{}
	for port := uint16(1000); port < 1010; port++ {
		got[udpTo(t, p, port, t0)]++
	}
	if got[rs4a] != 3 || got[rs4b] != 7 {
		t.Fatalf("with -x 3: %v, want 3 for %v and the rest for %v", got, rs4a, rs4b)
	}
	// All connections expire: rs4a is below -y again and rotates back in.
	p.table.Expire(t0+int64(6*time.Minute), 0)
	got = map[netip.Addr]int{}
	for port := uint16(2000); port < 2004; port++ {
		got[udpTo(t, p, port, t0+int64(6*time.Minute))]++
	}
	if got[rs4a] != 2 {
		t.Fatalf("after expiry: %v, want rs4a back in rotation", got)
	}
}

// TestDirectRouting: a DR connection's packets keep their IP and TCP headers (and checksums) and
// get the real server's MAC; the client's next hop is never needed, and the TCP state follows
// IPVS's input-only table.
func TestDirectRouting(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	s := svc2(tcp, 80, 80, 0, 1)
	s.RealServers[0].Forward = ForwardRoute
	applyServices(t, p, newIDs(), s)
	// A client whose MAC the director does not know: DR never sends to it.
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4Unres, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	for _, seg := range []pk{syn(c), c.seg("A", 1001, 5001, 0), dataC(c)} {
		in := seg.frame(t)
		out := append([]byte(nil), in...)
		if port := mustTX(t, p, out, 0, t0); port != 1 {
			t.Fatalf("DR egress port %d, want 1", port)
		}
		want := append([]byte(nil), in...)
		copy(want[0:6], rs1MAC[:])
		copy(want[6:12], port1MAC[:])
		if string(out) != string(want) {
			t.Fatalf("DR rewrote more than the MACs:\n got %x\nwant %x", out, want)
		}
	}
	if st := stateOf(t, p, tuple(tcp, cip4Unres, 40000, vip4, 80)); st != conntrack.StateEstablished {
		t.Fatalf("state %v after SYN, ACK; want ESTABLISHED (input-only table)", st)
	}
	// A real server on another port is refused: DR cannot change ports.
	bad := svc2(tcp, 80, 8080, 0, 1)
	bad.RealServers[0].Forward = ForwardRoute
	if _, _, err := compile(&Snapshot{Services: []Service{bad}}, nil, newIDs(), 1); err == nil {
		t.Fatal("DR real server with another port accepted")
	}
}

// TestSynReusesFinishedDRConnection: a DR connection ends in FIN_WAIT (the director sees only the
// client's side); a SYN on its tuple is a new connection, scheduled afresh.
func TestSynReusesFinishedDRConnection(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	s := svc2(tcp, 80, 80, 0, 1, 1)
	s.RealServers[0].Forward, s.RealServers[1].Forward = ForwardRoute, ForwardRoute
	applyServices(t, p, newIDs(), s)
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	mustTX(t, p, syn(c).frame(t), 0, t0)
	for _, seg := range []pk{c.seg("A", 1001, 5001, 0), c.seg("FA", 1001, 5001, 0), c.seg("A", 1002, 5002, 0)} {
		mustTX(t, p, seg.frame(t), 0, t0)
	}
	if st := stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 80)); st != conntrack.StateFinWait {
		t.Fatalf("finished DR connection in %v, want FIN_WAIT", st)
	}
	f := syn(c).frame(t)
	if port := mustTX(t, p, f, 0, t0+second); port != 1 {
		t.Fatal(port)
	}
	if dst := header.Ethernet(f).DestinationAddress(); dst != rs2MAC {
		t.Fatalf("the new SYN went to %v, want the next server %v", dst, rs2MAC)
	}
}

// TestBytesPerConnection: the dataplane's entry and its share of the index fit in 128 bytes at 1M
// and 10M connections.
func TestBytesPerConnection(t *testing.T) {
	entry := int(unsafe.Sizeof(conntrack.Entry[connVal]{}))
	for _, n := range []int{1 << 20, 10_000_000} {
		per := float64(entry) + float64(conntrack.IndexSize(n)*4)/float64(n)
		t.Logf("%d connections: %.1f bytes each (entry %d)", n, per, entry)
		if per > 128 {
			t.Errorf("%d connections: %.1f bytes per connection, want <= 128", n, per)
		}
	}
}
