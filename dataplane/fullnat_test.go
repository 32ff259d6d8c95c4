package dataplane

import (
	"bytes"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/toa"
)

var lip4 = netip.MustParseAddr("198.18.9.1") // a local address, routed to the director by the real servers

func fullnatService(lips ...netip.Addr) Service {
	s := svc2(tcp, 80, 8080, 0, 1)
	s.RealServers[0].Forward = ForwardFullNAT
	s.LocalAddrs = lips
	return s
}

func parsed(t *testing.T, f []byte) header.Tuple {
	t.Helper()
	var pkt header.Packet
	if r := pkt.Parse(f); r != header.ParseOK {
		t.Fatalf("output does not parse: %v", r)
	}
	return pkt.Tuple
}

// TestFullNAT: the client's SYN leaves from LIP:lport to RIP:rport; the real server's answer to
// LIP:lport goes back from VIP:vport to CIP:cport; checksums hold both ways.
func TestFullNAT(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	applyServices(t, p, newIDs(), fullnatService(lip4))
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	f := syn(c).frame(t)
	if port := mustTX(t, p, f, 0, t0); port != 1 {
		t.Fatalf("egress %d", port)
	}
	checkFrameChecksums(t, f)
	out := parsed(t, f)
	if out.SrcAddr.Netip() != lip4 || out.DstAddr.Netip() != rs4a || out.DstPort != 8080 || out.SrcPort < firstLocalPort {
		t.Fatalf("SYN left as %v:%d → %v:%d", out.SrcAddr, out.SrcPort, out.DstAddr, out.DstPort)
	}
	lport := out.SrcPort
	r := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: lport}
	f = r.seg("SA", 5000, 1001, 0).frame(t)
	if port := mustTX(t, p, f, 1, t0); port != 0 {
		t.Fatalf("reply egress %d", port)
	}
	checkFrameChecksums(t, f)
	back := parsed(t, f)
	if back.SrcAddr.Netip() != vip4 || back.SrcPort != 80 || back.DstAddr.Netip() != cip4 || back.DstPort != 40000 {
		t.Fatalf("reply left as %v:%d → %v:%d", back.SrcAddr, back.SrcPort, back.DstAddr, back.DstPort)
	}
	if st := stateOf(t, p, tuple(tcp, cip4, 40000, vip4, 80)); st != conntrack.StateSynAck {
		t.Fatalf("state %v", st)
	}
	// Without a connection, a packet to the LIP is dropped (no_conn), not taken for a service.
	stray := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: 9999}
	if v, _ := p.Process(stray.seg("A", 1, 1, 0).frame(t), 1, t0); v != VerdictDrop || p.c.drops[DropNoConn] != 1 {
		t.Fatalf("stray packet to the LIP: %s", vname(v))
	}
}

// TestFullNATOwnership: with two workers, each uses only local ports it owns (lport mod 2), and the
// reply to a port is handed to its owner.
func TestFullNATOwnership(t *testing.T) {
	e := newTestEnv(t, 1024)
	for id := range 2 {
		p := e.worker(id, 2, 1024)
		applyServices(t, p, newIDs(), fullnatService(lip4))
		n := 0
		for cport := uint16(1000); n < 8; cport++ {
			ca := header.AddrFromNetip(cip4)
			if owner(&ca, cport, 2) != id {
				continue
			}
			n++
			c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: cport, dport: 80}
			f := syn(c).frame(t)
			mustTX(t, p, f, 0, t0)
			lport := parsed(t, f).SrcPort
			if localOwner(lport, 2) != id {
				t.Fatalf("worker %d used local port %d", id, lport)
			}
			// The same reply at the other worker is handed to this one.
			other := e.worker(1-id, 2, 1024)
			applyServices(t, other, newIDs(), fullnatService(lip4))
			r := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: lport}
			if v, x := other.Process(r.seg("SA", 5000, 1001, 0).frame(t), 1, t0); v != VerdictHandoff || x != id {
				t.Fatalf("reply to port %d at worker %d: %s %d, want hand-off to %d", lport, 1-id, vname(v), x, id)
			}
		}
	}
}

// TestFullNATPortExhaustion: once every local port of the worker is taken, new connections are
// dropped and counted; expired connections give their ports back.
func TestFullNATPortExhaustion(t *testing.T) {
	e := newTestEnv(t, 1<<17)
	p := e.p
	s := fullnatService(lip4)
	s.Key.Proto = udp
	s.RealServers[0].Port = 5353
	applyServices(t, p, newIDs(), s)
	ports := 1<<16 - firstLocalPort
	made := 0
	for i := 0; i < ports+10; i++ {
		f := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: udp, sport: uint16(i % 65000), dport: 80}.dgram(4)
		f.sip = netip.AddrFrom4([4]byte{198, 18, 0, byte(2 + i/65000)})
		e.neigh.Set(0, f.sip, otherMAC, true)
		if v, _ := p.Process(f.frame(t), 0, t0); v == VerdictTX {
			made++
		}
	}
	if made != ports || p.c.drops[DropNoLocalPort] != 10 {
		t.Fatalf("%d connections made, %d no_local_port drops; want %d and 10", made, p.c.drops[DropNoLocalPort], ports)
	}
	p.table.Expire(t0+int64(6*time.Minute), 0)
	f := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: udp, sport: 1, dport: 80}.dgram(4)
	if v, _ := p.Process(f.frame(t), 0, t0+int64(6*time.Minute)); v != VerdictTX {
		t.Fatalf("after expiry: %s, want a port again", vname(v))
	}
}

// TestNAT64: FULLNAT from an IPv6 VIP to an IPv4 real server: the client's IPv6 SYN leaves as IPv4
// from the IPv4 LIP; the server's IPv4 answer comes back as IPv6 from the VIP; payloads and
// checksums hold.
func TestNAT64(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	s := Service{Key: ServiceKey{Proto: tcp, Addr: vip6, Port: 80}, Scheduler: "rr", LocalAddrs: []netip.Addr{lip4},
		RealServers: []RealServer{{Addr: rs4a, Port: 8080, Forward: ForwardFullNAT, Weight: 1}}}
	applyServices(t, p, newIDs(), s)
	c := pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: tcp, sport: 40000, dport: 80}
	in := syn(c).frame(t)
	buf, off := withHeadroom(in)
	v, port, noff, n := p.ProcessAt(buf, off, len(in), 0, t0)
	if v != VerdictTX || port != 1 {
		t.Fatalf("SYN: %s port %d", vname(v), port)
	}
	out := buf[noff : noff+n]
	checkFrameChecksums(t, out)
	got := parsed(t, out)
	if !got.SrcAddr.Is4() || got.SrcAddr.Netip() != lip4 || got.DstAddr.Netip() != rs4a || got.DstPort != 8080 {
		t.Fatalf("SYN left as %v:%d → %v:%d", got.SrcAddr, got.SrcPort, got.DstAddr, got.DstPort)
	}
	if len(out) != len(in)-20 {
		t.Fatalf("IPv4 frame of %d bytes from an IPv6 one of %d", len(out), len(in))
	}
	lport := got.SrcPort
	r := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: lport}
	for _, seg := range []pk{r.seg("SA", 5000, 1001, 0), dataS(r)} {
		in := seg.frame(t)
		buf, off := withHeadroom(in)
		v, port, noff, n := p.ProcessAt(buf, off, len(in), 1, t0)
		if v != VerdictTX || port != 0 {
			t.Fatalf("reply: %s port %d", vname(v), port)
		}
		out := buf[noff : noff+n]
		checkFrameChecksums(t, out)
		back := parsed(t, out)
		if back.SrcAddr.Netip() != vip6 || back.SrcPort != 80 || back.DstAddr.Netip() != cip6 || back.DstPort != 40000 {
			t.Fatalf("reply left as %v:%d → %v:%d", back.SrcAddr, back.SrcPort, back.DstAddr, back.DstPort)
		}
		if len(out) != len(in)+20 || string(out[len(out)-seg.payload:]) != string(in[len(in)-seg.payload:]) {
			t.Fatalf("reply of %d bytes from %d, payload changed", len(out), len(in))
		}
	}
	// The IPv4 real server under an IPv6 VIP needs an IPv4 LIP: with an IPv6 one only, the
	// service is accepted (the IPv4 LIP may come next) and its new connections are dropped.
	s.LocalAddrs = []netip.Addr{netip.MustParseAddr("2001:2:0:9::1")}
	applyServices(t, p, newIDs(), s)
	before := p.c.drops[DropNoLocalPort]
	if v, _ := p.Process(syn(pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: tcp, sport: 40001, dport: 80}).frame(t), 0, t0); v != VerdictDrop ||
		p.c.drops[DropNoLocalPort] != before+1 {
		t.Fatalf("NAT64 without an IPv4 local address: %s, %s", vname(v), nonZero(p.c))
	}
}

// TestFullNATWithoutLocalAddress: a FULLNAT real server is accepted before the service has a local
// address (DPVS's recipes add the real servers first); until one comes, new connections are
// dropped as no_local_port, without asking for the real server's MAC and without any other
// counter; the first local address makes them go.
func TestFullNATWithoutLocalAddress(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	s := fullnatService()
	s.RealServers[0].Addr = rs4Unres // a MAC nobody asked for yet
	ids := applyServices(t, p, newIDs(), s)
	drainResolve(e.neigh)
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	for i := range 3 {
		if v, _ := p.Process(syn(c).frame(t), 0, t0); v != VerdictDrop {
			t.Fatalf("SYN %d without a local address: %s", i, vname(v))
		}
	}
	if got := nonZero(p.c); got != "rx=3 tx=0 handoff=0 drop/no_local_port=3" {
		t.Fatalf("counters %s, want 3 no_local_port drops only", got)
	}
	if r := drainResolve(e.neigh); len(r) != 0 {
		t.Fatalf("resolution asked for %v", r)
	}
	s.RealServers[0].Addr, s.LocalAddrs = rs4a, []netip.Addr{lip4}
	applyServices(t, p, ids, s)
	f := syn(c).frame(t)
	mustTX(t, p, f, 0, t0)
	if out := parsed(t, f); out.SrcAddr.Netip() != lip4 || out.DstAddr.Netip() != rs4a {
		t.Fatalf("SYN left as %v → %v", out.SrcAddr, out.DstAddr)
	}
}

// TestFullNATLowersMSS: the real server's SYN/ACK reaches the client with its MSS lowered by the
// TOA option's size (8 bytes for an IPv4 client), so that the client's segments, which carry the
// option, always have room for it; the checksum still holds.
func TestFullNATLowersMSS(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	applyServices(t, p, newIDs(), fullnatService(lip4))
	f := syn(pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}).frame(t)
	mustTX(t, p, f, 0, t0)
	lport := parsed(t, f).SrcPort
	c := pk{src: rs1MAC, dst: port1MAC, sip: rs4a, dip: lip4, proto: tcp, sport: 8080, dport: lport}.seg("SA", 5000, 1001, 0)
	ls := c.layers()
	for _, l := range ls {
		if tl, ok := l.(*layers.TCP); ok {
			tl.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}
		}
	}
	f = serialize(t, append(ethOf(c.src, c.dst, false, 0), ls...)...)
	mustTX(t, p, f, 1, t0)
	checkFrameChecksums(t, f)
	var pkt header.Packet
	pkt.Parse(f)
	if mss, ok := header.TCP(f[pkt.L4Offset:]).MSS(); !ok || mss != 1460-8 {
		t.Fatalf("MSS %d (%v), want %d", mss, ok, 1460-8)
	}
}

// TestFullNATTOA: the handshake's ACK and the first data segment carry the client's address and
// port in TCP option 254 (8 bytes: kind, length, port, IPv4 address), checked byte by byte; later
// segments carry nothing; checksums and lengths hold.
func TestFullNATTOA(t *testing.T) {
	e := newTestEnv(t, 1024)
	p := e.p
	applyServices(t, p, newIDs(), fullnatService(lip4))
	c := pk{src: cliMAC, dst: port0MAC, sip: cip4, dip: vip4, proto: tcp, sport: 40000, dport: 80}
	send := func(seg pk) []byte {
		t.Helper()
		in := seg.frame(t)
		buf := make([]byte, 256+len(in)+128)
		copy(buf[256:], in)
		v, _, off, n := p.ProcessAt(buf, 256, len(in), 0, t0)
		if v != VerdictTX {
			t.Fatalf("%s", vname(v))
		}
		out := buf[off : off+n]
		checkFrameChecksums(t, out)
		return out
	}
	toaOf := func(out []byte) []byte {
		var pkt header.Packet
		if r := pkt.Parse(out); r != header.ParseOK {
			t.Fatalf("parse: %v", r)
		}
		it := header.NewTCPOptionIterator(header.TCP(out[pkt.L4Offset:]).Options())
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if o.Kind == 254 {
				return out[pkt.L4Offset+20+o.Offset : pkt.L4Offset+20+o.Offset+o.Length()]
			}
		}
		return nil
	}
	want := []byte{254, 8, 0x9c, 0x40, 198, 18, 0, 2} // port 40000, 198.18.0.2
	if opt := toaOf(send(syn(c))); opt != nil {
		t.Fatalf("TOA on the SYN: %x", opt)
	}
	ack := send(c.seg("A", 1001, 5001, 0))
	if opt := toaOf(ack); !bytes.Equal(opt, want) {
		t.Fatalf("TOA on the handshake's ACK: %x, want %x", opt, want)
	}
	data := send(dataC(c))
	if opt := toaOf(data); !bytes.Equal(opt, want) {
		t.Fatalf("TOA on the first data segment: %x, want %x", opt, want)
	}
	if payload := data[len(data)-100:]; !bytes.Equal(payload, dataC(c).frame(t)[len(dataC(c).frame(t))-100:]) {
		t.Fatal("payload changed")
	}
	if opt := toaOf(send(c.seg("PA", 1101, 5001, 100))); opt != nil {
		t.Fatalf("TOA on a later segment: %x", opt)
	}
	if p.c.toa[toa.OK] != 2 {
		t.Fatalf("toa ok = %d, want 2", p.c.toa[toa.OK])
	}
}

// TestFullNATSharedConfig: workers switching to one configuration at the same time (each worker's
// setConfig, as its loop does between batches) and opening connections from it leave it as it was:
// the compiled configuration is shared and never written once published. An IPv6 service with
// three IPv6 local addresses (a slice with room to spare) and an IPv4 one for NAT64: appending the
// one to the other once wrote into the shared backing array, which -race reports, and the check
// of the spare capacity below sees without it.
func TestFullNATSharedConfig(t *testing.T) {
	const workers = 4
	lips := []netip.Addr{netip.MustParseAddr("2001:2:0:9::1"), netip.MustParseAddr("2001:2:0:9::2"),
		netip.MustParseAddr("2001:2:0:9::3"), lip4}
	s := Service{Key: ServiceKey{Proto: tcp, Addr: vip6, Port: 80}, Scheduler: "rr", LocalAddrs: lips,
		RealServers: []RealServer{{Addr: rs6a, Port: 8080, Forward: ForwardFullNAT, Weight: 1},
			{Addr: rs4a, Port: 8080, Forward: ForwardFullNAT, Weight: 1}}}
	e := newTestEnv(t, 1024)
	e.conf = mustCompile(t, &Snapshot{Services: []Service{s}})
	si := &e.conf.svcs[0]
	if len(si.lips) != 3 || len(si.lips4) != 1 {
		t.Fatalf("compiled local addresses %v and %v, want three IPv6 and one IPv4", si.lips, si.lips4)
	}
	spare := func() []header.Addr { return append([]header.Addr(nil), si.lips[:cap(si.lips)]...) }
	before := spare()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for id := range workers {
		p := newPipeline(id, workers, testPorts, e.neigh, 1024, t0)
		wg.Go(func() {
			<-start
			p.setConfig(e.conf)
			for cport := uint16(40000); cport < 40016; cport++ {
				c := pk{src: cliMAC, dst: port0MAC, sip: cip6, dip: vip6, proto: tcp, sport: cport, dport: 80}
				in := syn(c).frame(t)
				buf, off := withHeadroom(in)
				if v, _, _, _ := p.ProcessAt(buf, off, len(in), 0, t0); v == VerdictDrop {
					t.Errorf("worker %d: SYN from port %d dropped (%s)", id, cport, nonZero(p.c))
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if after := spare(); !slices.Equal(after, before) {
		t.Fatalf("the shared configuration's local addresses changed: %v, were %v", after, before)
	}
}

// TestPortPoolStartsAtRandom: two pools of the same worker start at different ports (a restarted
// director does not reuse the ports its previous run began with), and each hands out every port it
// owns exactly once before any repeats.
func TestPortPoolStartsAtRandom(t *testing.T) {
	firsts := map[uint16]bool{}
	for range 8 {
		p := newPortPool(1, 2)
		port, _ := p.get()
		firsts[port] = true
		seen := map[uint16]bool{port: true}
		for {
			port, ok := p.get()
			if !ok {
				break
			}
			if port%2 != 1 || port < firstLocalPort || seen[port] {
				t.Fatalf("port %d: not this worker's, below %d, or handed out twice", port, firstLocalPort)
			}
			seen[port] = true
		}
		if want := (1<<16 - firstLocalPort) / 2; len(seen) != want {
			t.Fatalf("%d ports handed out, want %d", len(seen), want)
		}
	}
	if len(firsts) < 2 {
		t.Fatalf("8 pools all started at port %v", firsts)
	}
}
