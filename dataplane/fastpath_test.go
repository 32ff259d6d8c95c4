package dataplane

import (
	"testing"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
)

// withFastPath gives e's pipeline a fast path over plain memory (no program): what the worker's
// pipeline computes and logs, without a kernel.
func withFastPath(e *testEnv, capacity int) {
	e.p.fast = newFastPath(capacity, make([]fastStat, 2*capacity), 0, nsClock)
}

// TestFastPathRecords: an established NAT connection gets a record per direction as the worker
// forwards its packets (not before), the second packet of a direction makes none, and a
// configuration change asks for all of them to go.
func TestFastPathRecords(t *testing.T) {
	e := newTestEnv(t, 1024)
	withFastPath(e, 1024)
	f := e.p.fast
	mustTX(t, e.p, syn(c2v4).frame(t), 0, t0)
	mustTX(t, e.p, synack(r2l4).frame(t), 1, t0)
	if f.log.n != 0 {
		t.Fatalf("%d records before the connection is established", f.log.n)
	}
	mustTX(t, e.p, ack(c2v4).frame(t), 0, t0)
	if f.log.n != 1 || !f.log.ops[0].add || f.log.ops[0].key != tuple(tcp, cip4, c2v4.sport, vip4, 80) {
		t.Fatalf("after the handshake's ACK: %d ops, %+v", f.log.n, f.log.ops[0])
	}
	mustTX(t, e.p, dataC(c2v4).frame(t), 0, t0)
	mustTX(t, e.p, dataS(r2l4).frame(t), 1, t0)
	if f.log.n != 2 || f.log.ops[1].rec.kind != fastNAT {
		t.Fatalf("after data both ways: %d ops", f.log.n)
	}
	if len(f.list) != 1 || e.p.c.fastInstalled != 2 {
		t.Fatalf("list %d, installed %d", len(f.list), e.p.c.fastInstalled)
	}
	f.log.n = 0
	e.p.setConfig(e.p.conf)
	if !f.flushAll || !e.p.flushFast() || f.log.n != 2 || f.log.ops[0].add || len(f.list) != 0 {
		t.Fatalf("flush: %v, %d ops, list %d", f.flushAll, f.log.n, len(f.list))
	}
	id, _, _ := e.p.table.Lookup(&[]header.Tuple{tuple(tcp, cip4, c2v4.sport, vip4, 80)}[0])
	if offloaded(e.p.table.Entry(id)) {
		t.Fatal("still marked offloaded after the flush")
	}
}

// TestFastPathZeroAllocs: making, folding and removing records allocates nothing.
func TestFastPathZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	e := newTestEnv(t, 1024)
	withFastPath(e, 1024)
	for _, s := range handshake4() {
		mustTX(t, e.p, s.f(t), s.port, t0)
	}
	data := dataC(c2v4).frame(t)
	var scratch [2048]byte
	n := testing.AllocsPerRun(1000, func() {
		e.p.fast.flushAll = true
		e.p.flushFast() // the record goes (folded) ...
		if v, _ := e.p.Process(scratch[:copy(scratch[:], data)], 0, t0+second); v != VerdictTX {
			t.Fatal(vname(v))
		}
		e.p.foldFast(t0+2*second, 0) // ... comes back with the next packet, and is folded
		e.p.fast.log.n = 0
	})
	if n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
	if e.p.c.fastInstalled < 1000 || e.p.c.fastRemoved < 1000 {
		t.Fatalf("installed %d, removed %d: the rounds did not exercise the records", e.p.c.fastInstalled, e.p.c.fastRemoved)
	}
}

// TestFastPathPolicy: a service with --policy no-fast-path gets no records; the others do.
func TestFastPathPolicy(t *testing.T) {
	s := testSnapshot()
	s.Services[svcTCP4].Policy |= NoFastPath
	e := &testEnv{neigh: newTestNeighbours(), conf: mustCompile(t, s)}
	e.p = e.worker(0, 1, 1024)
	withFastPath(e, 1024)
	for _, st := range append(handshake4(), at(0, dataC(c2v4).frame), at(1, dataS(r2l4).frame)) {
		mustTX(t, e.p, st.f(t), st.port, t0)
	}
	if e.p.fast.log.n != 0 || e.p.c.fastInstalled != 0 {
		t.Fatalf("%d records for a no-fast-path service", e.p.fast.log.n)
	}
	for _, st := range handshake6() {
		mustTX(t, e.p, st.f(t), st.port, t0)
	}
	if e.p.fast.log.n != 1 {
		t.Fatalf("%d records for the IPv6 service (policy default) after its handshake, want 1", e.p.fast.log.n)
	}
}

// TestFastPathKeepsSyncFresh: a connection whose packets the program forwards is exported to the
// sync peers again when its refresh is due, as if the worker had forwarded them, so that the
// peers' copies do not expire under a live flow.
func TestFastPathKeepsSyncFresh(t *testing.T) {
	p, ring := newSyncPipeline(t, testSnapshot())
	p.fast = newFastPath(1024, make([]fastStat, 2048), 0, nsClock)
	for _, s := range append(handshake4(), at(0, dataC(c2v4).frame)) {
		mustTX(t, p, s.f(t), s.port, t0)
	}
	exported(t, ring) // the export at ESTABLISHED
	id, _, _ := p.table.Lookup(&[]header.Tuple{tuple(tcp, cip4, c2v4.sport, vip4, 80)}[0])
	if !offloaded(p.table.Entry(id)) {
		t.Fatal("no record made")
	}
	later := t0 + 3600*second // past any refresh
	s := &p.fast.stats[id*2]
	s.count, s.last = fastCount(10, 1000), uint64(later-second)
	p.foldFast(later, p.neigh.changes.Load())
	if recs := exported(t, ring); len(recs) != 1 {
		t.Fatalf("%d records exported after the program forwarded the connection's packets, want 1", len(recs))
	}
	p.foldFast(later+second, p.neigh.changes.Load()) // nothing forwarded since: nothing to refresh
	if recs := exported(t, ring); len(recs) != 0 {
		t.Fatalf("%d records exported with no packet since", len(recs))
	}
}

// TestFastPathNotForProxyProtocol: a FULLNAT connection whose client stream starts with a PROXY
// protocol header gets no record, established and past the header: every segment's numbers are
// shifted by the header, which only the worker does.
func TestFastPathNotForProxyProtocol(t *testing.T) {
	c := ppCases[3] // v2, IPv4
	e := newTestEnv(t, 1024)
	withFastPath(e, 1024)
	p := e.p
	applyServices(t, p, newIDs(), c.service(tcp))
	cl := pk{src: cliMAC, dst: port0MAC, sip: c.cip, dip: c.vip, proto: tcp, sport: 40000, dport: 80}
	_, d := ppSend(t, p, syn(cl).frame(t), 0)
	rs := pk{src: rs1MAC, dst: port1MAC, sip: c.rip, dip: c.lip, proto: tcp, sport: 8080, dport: uint16(tcpOfPacket(t, d).SrcPort)}
	ppSend(t, p, synack(rs).frame(t), 1)
	ppSend(t, p, ack(cl).frame(t), 0)
	ppSend(t, p, dataC(cl).frame(t), 0)
	ppSend(t, p, rs.seg("A", 5001, 1101+uint32(len(c.want)), 0).frame(t), 1)
	// Even were TOA to have gone out too (the other condition of a FULLNAT record).
	id, _, ok := p.table.Lookup(&[]header.Tuple{tuple(tcp, c.cip, 40000, c.vip, 80)}[0])
	if !ok {
		t.Fatal("no connection")
	}
	p.table.Entry(id).Value.flags.set(connTOADone, true)
	ppSend(t, p, cl.seg("PA", 1101, 5001, 100).frame(t), 0)
	ppSend(t, p, rs.seg("PA", 5001, 1201+uint32(len(c.want)), 100).frame(t), 1)
	if p.c.fastInstalled != 0 || p.fast.log.n != 0 {
		t.Fatalf("%d records made for a PROXY protocol connection", p.c.fastInstalled)
	}
	if p.c.pp[proxyproto.OK] == 0 {
		t.Fatal("no header inserted: the test shows nothing")
	}
}
