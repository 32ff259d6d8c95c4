package dataplane

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/dataplane/syncrec"
	"github.com/xdpvs/xdpvs/header"
)

var lip4b = netip.MustParseAddr("198.18.9.2") // the second director's local address

// newSyncPipeline is worker 0 of 1 over its own neighbours, with snap applied and sync on.
func newSyncPipeline(t *testing.T, snap *Snapshot) (*Pipeline, *syncRing) {
	t.Helper()
	p := newPipeline(0, 1, testPorts, newTestNeighbours(), 1024, t0)
	c, _, err := compile(snap, nil, newIDs(), 1)
	if err != nil {
		t.Fatal(err)
	}
	p.setConfig(c)
	ring := new(syncRing)
	p.enableSync(0, ring, make(chan syncrec.Record, 16))
	return p, ring
}

// exported decodes what the pipeline's ring holds.
func exported(t *testing.T, r *syncRing) []syncrec.Record {
	t.Helper()
	buf := make([]byte, 64*syncrec.Size)
	n := r.pop(buf)
	var out []syncrec.Record
	for off := 0; off < n; off += syncrec.Size {
		var rec syncrec.Record
		if res := syncrec.Decode(buf[off:], &rec); res != syncrec.OK {
			t.Fatalf("exported record %d: %v", off/syncrec.Size, res)
		}
		out = append(out, rec)
	}
	return out
}

// TestSyncFullNATTakeover: a FULLNAT connection established on director A is exported once, at
// ESTABLISHED, with its local address and port and TOA sent; director B, which has A's local
// address as a standby one, imports it and forwards both ways as A did: the real server's
// segments to A's LIP:lport go to the client from the VIP, the client's to the real server from
// A's LIP:lport. Closing it on B gives the port to no pool.
func TestSyncFullNATTakeover(t *testing.T) {
	if control.SyncRecordSize != syncrec.Size {
		t.Fatalf("control.SyncRecordSize %d, syncrec.Size %d", control.SyncRecordSize, syncrec.Size)
	}
	a, ringA := newSyncPipeline(t, &Snapshot{Services: []Service{fullnatService(lip4)}})
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	f := syn(c).frame(t)
	mustTX(t, a, f, 0, t0)
	lport := parsed(t, f).SrcPort
	r := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: lport}
	mustTX(t, a, synack(r).frame(t), 1, t0)
	if got := exported(t, ringA); len(got) != 0 {
		t.Fatalf("exported before ESTABLISHED: %+v", got)
	}
	withRoom := func(p *Pipeline, seg pk, in int) []byte {
		t.Helper()
		frame := seg.frame(t)
		buf := make([]byte, 256+len(frame)+128)
		copy(buf[256:], frame)
		v, _, off, n := p.ProcessAt(buf, 256, len(frame), in, t0+second)
		if v != VerdictTX {
			t.Fatalf("%s", vname(v))
		}
		return buf[off : off+n]
	}
	withRoom(a, ack(c), 0)
	withRoom(a, dataC(c), 0) // carries the TOA option
	recs := exported(t, ringA)
	if len(recs) != 1 {
		t.Fatalf("%d records exported, want 1 (at ESTABLISHED)", len(recs))
	}
	rec := recs[0]
	if rec.Kind != syncrec.KindConn || conntrack.State(rec.State) != conntrack.StateEstablished || rec.Method != uint8(ForwardFullNAT) ||
		rec.Reply.DstAddr.Netip() != lip4 || rec.Reply.DstPort != lport || rec.Reply.SrcAddr.Netip() != rs4a || rec.TimeoutMs < 899_000 {
		t.Fatalf("record %+v", rec)
	}
	// The second segment set TOA done after the export; a refresh or state change carries it.
	a.syncExport(syncrec.KindConn, mustLookup(t, a, c), a.table.Entry(mustLookup(t, a, c)), t0+second)
	if recs = exported(t, ringA); len(recs) != 1 || recs[0].Flags&syncrec.FlagTOADone == 0 {
		t.Fatalf("refresh: %+v", recs)
	}

	b, _ := newSyncPipeline(t, &Snapshot{Services: []Service{fullnatService(lip4b)}, StandbyLocalAddrs: []netip.Addr{lip4}})
	b.importRecord(&recs[0], t0+2*second)
	if b.c.sync.imported != 1 || b.table.Len() != 1 {
		t.Fatalf("B imported %d (%d entries); drops %v", b.c.sync.imported, b.table.Len(), b.c.sync.importDrops)
	}
	out := parsed(t, withRoom(b, dataS(r), 1))
	if out.SrcAddr.Netip() != vip4 || out.SrcPort != 80 || out.DstAddr.Netip() != cip4 || out.DstPort != 40000 {
		t.Fatalf("B sent the server's segment as %v:%d → %v:%d", out.SrcAddr, out.SrcPort, out.DstAddr, out.DstPort)
	}
	seg := withRoom(b, bigC(c), 0)
	out = parsed(t, seg)
	if out.SrcAddr.Netip() != lip4 || out.SrcPort != lport || out.DstAddr.Netip() != rs4a || out.DstPort != 8080 {
		t.Fatalf("B sent the client's segment as %v:%d → %v:%d", out.SrcAddr, out.SrcPort, out.DstAddr, out.DstPort)
	}
	checkFrameChecksums(t, seg)
	if b.c.toa[0] != 0 && recs[0].Flags&syncrec.FlagTOADone != 0 {
		t.Fatalf("B inserted TOA again: %v", b.c.toa)
	}
	id := mustLookup(t, b, c)
	b.remove(id, b.table.Entry(id))
	if _, ok := b.lpools[header.AddrFromNetip(lip4)]; ok {
		t.Fatal("B made a port pool of A's local address")
	}
}

func mustLookup(t *testing.T, p *Pipeline, c pk) uint32 {
	t.Helper()
	tu := tuple(c.proto, c.sip, c.sport, c.dip, c.dport)
	id, _, ok := p.table.Lookup(&tu)
	if !ok {
		t.Fatalf("no connection of %v", tu)
	}
	return id
}

// TestSyncOwnPortBack: a director that gets back a connection of its own local address (its bulk
// copy after a restart) holds that port: no new connection is given it while it lives, and it
// returns to the pool when it ends.
func TestSyncOwnPortBack(t *testing.T) {
	a, ringA := newSyncPipeline(t, &Snapshot{Services: []Service{fullnatService(lip4)}})
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40001, dport: 80}
	f := syn(c).frame(t)
	mustTX(t, a, f, 0, t0)
	lport := parsed(t, f).SrcPort
	r := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: lport}
	mustTX(t, a, synack(r).frame(t), 1, t0)
	mustTX(t, a, ack(c).frame(t), 0, t0)
	recs := exported(t, ringA)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	a2, _ := newSyncPipeline(t, &Snapshot{Services: []Service{fullnatService(lip4)}})
	a2.importRecord(&recs[0], t0)
	if a2.c.sync.imported != 1 {
		t.Fatalf("not imported: %v", a2.c.sync.importDrops)
	}
	pool := a2.lpools[header.AddrFromNetip(lip4)]
	var got []uint16
	for port, ok := pool.get(); ok; port, ok = pool.get() {
		got = append(got, port)
	}
	if slices.Contains(got, lport) || len(got) != 1<<16-firstLocalPort-1 {
		t.Fatalf("the pool handed out %d ports (the imported %d among them: %v)", len(got), lport, slices.Contains(got, lport))
	}
	for _, port := range got {
		pool.put(port)
	}
	id := mustLookup(t, a2, c)
	a2.remove(id, a2.table.Entry(id))
	if pool.size != 1<<16-firstLocalPort {
		t.Fatalf("pool of %d ports after the connection ended, want all", pool.size)
	}
	// Another import of a port in use is refused.
	a2.importRecord(&recs[0], t0)
	recs[0].Orig.SrcPort++
	a2.importRecord(&recs[0], t0)
	if a2.c.sync.importDrops[importPortTaken] != 1 {
		t.Fatalf("drops %v", a2.c.sync.importDrops)
	}
}

// TestSyncImportRefused: records this director cannot honour are counted and change nothing;
// a closed record removes the connection; an update moves its state and timeout.
func TestSyncImportRefused(t *testing.T) {
	b, _ := newSyncPipeline(t, testSnapshot())
	base := syncrec.Record{Kind: syncrec.KindConn, Orig: tuple(tcp, cip4, 40000, vip4, 80), Reply: tuple(tcp, rs4a, 8080, cip4, 40000),
		Method: uint8(ForwardMasq), State: uint8(conntrack.StateEstablished), TimeoutMs: 60_000}
	cases := []struct {
		name string
		mut  func(r *syncrec.Record)
		want importDrop
	}{
		{"no_service", func(r *syncrec.Record) { r.Orig.DstPort = 99 }, importNoService},
		{"no_dest", func(r *syncrec.Record) { r.Reply.SrcAddr = header.AddrFromNetip(rs4Unres) }, importNoDest},
		{"wrong_method", func(r *syncrec.Record) { r.Method = uint8(ForwardRoute) }, importNoDest},
		{"client_unresolved", func(r *syncrec.Record) {
			r.Orig.SrcAddr, r.Reply.DstAddr = header.AddrFromNetip(cip4Unres), header.AddrFromNetip(cip4Unres)
		}, importNeighMiss},
		{"client_no_route", func(r *syncrec.Record) {
			r.Orig.SrcAddr, r.Reply.DstAddr = header.AddrFromNetip(cip4NoRt), header.AddrFromNetip(cip4NoRt)
		}, importNoRoute},
		{"synproxy_not_here", func(r *syncrec.Record) { r.Flags |= syncrec.FlagSynProxy }, importNoSynProxy},
	}
	for _, c := range cases {
		r := base
		c.mut(&r)
		before := b.c.sync.importDrops[c.want]
		b.importAt(&r, t0-4*second, t0) // came long ago: a neighbour miss is not waited for

		if b.c.sync.importDrops[c.want] != before+1 || b.table.Len() != 0 {
			t.Errorf("%s: drops %v, %d entries", c.name, b.c.sync.importDrops, b.table.Len())
		}
	}
	b.importRecord(&base, t0)
	if b.table.Len() != 1 || stateOf(t, b, base.Orig) != conntrack.StateEstablished {
		t.Fatalf("not imported: %v", b.c.sync.importDrops)
	}
	conflict := base
	conflict.Reply.SrcAddr = header.AddrFromNetip(rs4b)
	b.importRecord(&conflict, t0)
	if b.c.sync.importDrops[importConflict] != 1 {
		t.Fatalf("conflict not counted: %v", b.c.sync.importDrops)
	}
	upd := base
	upd.State, upd.TimeoutMs = uint8(conntrack.StateFinWait), 5_000
	b.importRecord(&upd, t0)
	id, _, _ := b.table.Lookup(&base.Orig)
	if e := b.table.Entry(id); e.State != conntrack.StateFinWait || e.Expires() > t0+6*second || b.c.sync.updated != 1 {
		t.Fatalf("update: state %v, expires in %v", e.State, e.Expires()-t0)
	}
	if b.c.active[dTCP4a] != 0 || b.c.inactive[dTCP4a] != 1 {
		t.Fatalf("real server counts %d/%d, want 0 active, 1 inactive", b.c.active[dTCP4a], b.c.inactive[dTCP4a])
	}
	closed := base
	closed.Kind = syncrec.KindClosed
	b.importRecord(&closed, t0)
	if b.table.Len() != 0 || b.c.sync.closed != 1 || b.c.inactive[dTCP4a] != 0 {
		t.Fatalf("closed: %d entries", b.table.Len())
	}
}

// TestSyncExportZeroAllocs: forwarding a segment that exports its connection allocates nothing.
func TestSyncExportZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	a, ringA := newSyncPipeline(t, testSnapshot())
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	mustTX(t, a, syn(c).frame(t), 0, t0)
	r := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: cip4, proto: tcp, sport: 8080, dport: 40000}
	mustTX(t, a, synack(r).frame(t), 1, t0)
	mustTX(t, a, ack(c).frame(t), 0, t0)
	id := mustLookup(t, a, c)
	frame := dataC(c).frame(t)
	buf := make([]byte, len(frame))
	sink := make([]byte, 64*syncrec.Size)
	n := testing.AllocsPerRun(200, func() {
		copy(buf, frame)
		a.sync.due[id] = 0 // due: exported by this segment
		if v, _ := a.Process(buf, 0, t0); v != VerdictTX {
			t.Fatal(vname(v))
		}
		ringA.pop(sink)
	})
	if n != 0 {
		t.Fatalf("%v allocations per exporting segment", n)
	}
	if a.c.sync.exported < 200 {
		t.Fatalf("exported %d", a.c.sync.exported)
	}
}

// TestSyncImportWaitsForNeighbour: a record whose client's next hop is being resolved waits, and is
// applied once the neighbour is known; one that waits too long is counted neigh_miss.
func TestSyncImportWaitsForNeighbour(t *testing.T) {
	b, _ := newSyncPipeline(t, testSnapshot())
	r := syncrec.Record{Kind: syncrec.KindConn, Orig: tuple(tcp, cip4Unres, 40000, vip4, 80), Reply: tuple(tcp, rs4a, 8080, cip4Unres, 40000),
		Method: uint8(ForwardMasq), State: uint8(conntrack.StateEstablished), TimeoutMs: 60_000}
	b.sync.in <- r
	b.drainImports(t0)
	if len(b.sync.retry) != 1 || b.table.Len() != 0 {
		t.Fatalf("%d waiting, %d entries", len(b.sync.retry), b.table.Len())
	}
	b.drainImports(t0 + syncRetryEvery) // still unresolved
	b.neigh.Set(0, cip4Unres, otherMAC, true)
	b.drainImports(t0 + 2*syncRetryEvery)
	if len(b.sync.retry) != 0 || b.table.Len() != 1 || b.c.sync.imported != 1 {
		t.Fatalf("after resolution: %d waiting, %d entries, drops %v", len(b.sync.retry), b.table.Len(), b.c.sync.importDrops)
	}
	late := r
	late.Orig.SrcAddr, late.Reply.DstAddr = header.AddrFromNetip(netip.MustParseAddr("198.18.0.4")), header.AddrFromNetip(netip.MustParseAddr("198.18.0.4"))
	b.sync.in <- late
	b.drainImports(t0)
	b.drainImports(t0 + syncRetryFor + syncRetryEvery)
	if len(b.sync.retry) != 0 || b.c.sync.importDrops[importNeighMiss] != 1 {
		t.Fatalf("gave up: %d waiting, drops %v", len(b.sync.retry), b.c.sync.importDrops)
	}
}

// TestSyncPersistence: a persistent (-p) DR connection exports the remaining time of its template;
// the director that imports it sends the client's next connection to the same real server, where
// its scheduler alone would have picked the other.
func TestSyncPersistence(t *testing.T) {
	s := svc2(tcp, 80, 80, 0, 1, 1)
	for i := range s.RealServers {
		s.RealServers[i].Forward = ForwardRoute
	}
	s.Flags |= ServicePersistent
	s.Persistence = 300 * time.Second
	s.Netmask = netip.MustParsePrefix("255.255.255.255/32")
	a, ringA := newSyncPipeline(t, &Snapshot{Services: []Service{s}})
	other := pk{src: cliMAC, dst: port0MAC, sip: netip.MustParseAddr("198.18.0.7"), dip: vip4, proto: tcp, sport: 40000, dport: 80}
	mustTX(t, a, syn(other).frame(t), 0, t0) // takes rs4a, the scheduler's first
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40001, dport: 80}
	f := syn(c).frame(t)
	mustTX(t, a, f, 0, t0)
	if dst := header.Ethernet(f).DestinationAddress(); dst != rs2MAC {
		t.Fatalf("the client's SYN went to %v, want rs4b", dst)
	}
	mustTX(t, a, ack(c).frame(t), 0, t0)
	recs := exported(t, ringA)
	if len(recs) != 1 || recs[0].Flags&syncrec.FlagTemplate == 0 || recs[0].TemplateMs < 299_000 || recs[0].Method != uint8(ForwardRoute) {
		t.Fatalf("records %+v", recs)
	}
	b, _ := newSyncPipeline(t, &Snapshot{Services: []Service{s}})
	b.importRecord(&recs[0], t0)
	c2 := c
	c2.sport = 40002
	f = syn(c2).frame(t)
	mustTX(t, b, f, 0, t0+second)
	if dst := header.Ethernet(f).DestinationAddress(); dst != rs2MAC {
		t.Fatalf("on the other director the client's next connection went to %v, want rs4b (its template)", dst)
	}
}

// TestSyncUDP: a UDP flow is exported once assured (its second datagram), not at its first, and
// the importing director forwards its replies (NAT).
func TestSyncUDP(t *testing.T) {
	a, ringA := newSyncPipeline(t, testSnapshot())
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: udp, sport: 5000, dport: 53}
	mustTX(t, a, c.dgram(20).frame(t), 0, t0)
	if got := exported(t, ringA); len(got) != 0 {
		t.Fatalf("exported at the first datagram: %+v", got)
	}
	mustTX(t, a, c.dgram(20).frame(t), 0, t0)
	recs := exported(t, ringA)
	if len(recs) != 1 || recs[0].Flags&syncrec.FlagAssured == 0 || conntrack.State(recs[0].State) != conntrack.StateUDP {
		t.Fatalf("records %+v", recs)
	}
	b, _ := newSyncPipeline(t, testSnapshot())
	b.importRecord(&recs[0], t0)
	rs := recs[0].Reply.SrcAddr.Netip()
	r := pk{src: rs1MAC, dst: port1MAC, sip: rs, dip: cip4, proto: udp, sport: recs[0].Reply.SrcPort, dport: 5000}
	f := r.dgram(30).frame(t)
	if port := mustTX(t, b, f, 1, t0); port != 0 {
		t.Fatalf("reply egress %d", port)
	}
	if out := parsed(t, f); out.SrcAddr.Netip() != vip4 || out.SrcPort != 53 {
		t.Fatalf("reply left from %v:%d", out.SrcAddr, out.SrcPort)
	}
}
