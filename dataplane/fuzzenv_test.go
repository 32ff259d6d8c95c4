package dataplane

// The world of FuzzPipeline (fuzz_test.go): a configuration with services of every forwarding mode,
// the connections a fresh pipeline holds before each input, and the seed frames.
//
// Nothing is stored by hand: the connections are opened by a script (fuzzScript) run once per
// process on a pipeline of its own, which records every frame it processes (the prep) and builds
// the seeds from what that pipeline sent (a FULLNAT connection's local port, a SYN cookie). Each
// input then gets a fresh pipeline that replays the prep and must send exactly what the script's
// pipeline sent, so that a crasher replays: the SYN cookies have a fixed secret (fuzzCookies) and the
// owner of a client (with two workers) a fixed key, found so that worker 0 owns every flow.
//
// Services (helpers_test.go has the topology; testSnapshot's NAT services come first, with their ids):
//
//	NAT       testSnapshot: tcp 198.18.2.1:80, 81, 82, udp :53, 2001:2:0:2::1 tcp 80, udp 53, 198.18.2.2 tcp all ports
//	DR        tcp 198.18.2.1:83 → 198.18.1.10 (persistent), 2001:2:0:2::1:83 → 2001:2:0:1::10, udp 198.18.2.2 all ports → 198.18.1.11
//	TUN       tcp and udp 198.18.2.1:84 → 198.18.1.11, tcp 2001:2:0:2::1:84 → 2001:2:0:1::11 (port 1 has the director's addresses, MTU 1500)
//	FULLNAT   tcp 198.18.2.1:85 → 198.18.1.10:8085, udp :85 → 198.18.1.11:8085 (LIP 198.18.9.1), tcp 2001:2:0:2::1:85 → 2001:2:0:1::10:8085 (LIP 2001:2:0:9::1), TOA
//	NAT64     tcp 2001:2:0:2::1:86 → 198.18.1.11:8086, udp :86 → 198.18.1.10:8086 (LIP 198.18.9.1)
//	-j        tcp 198.18.2.1:87 NAT → 198.18.1.10:8087, 2001:2:0:2::1:87 FULLNAT → 2001:2:0:1::11:8087, :88 NAT64 → 198.18.1.11:8088,
//	          198.18.2.1:89 NAT → 198.18.1.13:8089 (a real server whose MAC goes stale)
//	PROXY     FULLNAT tcp 198.18.2.1:90 → 198.18.1.10:8090 v1, 2001:2:0:2::1:90 → 2001:2:0:1::10:8090 v2, :91 NAT64 → 198.18.1.11:8091 v1,
//	          udp 198.18.2.1:90 → 198.18.1.11:8090 v2
//	-f        mark 7: tcp and udp 198.18.2.1:92-93, DR → 198.18.1.10, .11 (persistent); mark 8: tcp 2001:2:0:2::1:92, NAT →
//	          2001:2:0:1::10:8093; mark 9 (198.18.2.1:94) has no service
//
// Neighbours marked stale (198.18.0.6 and 2001:2::6, clients, and 198.18.1.13) are resolved while
// the prep runs and unresolved while the input is processed: their connections exist, and a packet
// of them meets a neighbour miss on the way out.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
)

var (
	fuzzLIP6   = netip.MustParseAddr("2001:2:0:9::1")
	cip4Stale  = netip.MustParseAddr("198.18.0.6")
	cip6Stale  = netip.MustParseAddr("2001:2::6")
	rs4Stale   = netip.MustParseAddr("198.18.1.13")
	rs3MAC     = header.MAC{0x02, 0x00, 0x00, 0x00, 0x01, 0x0d}
	staleMAC   = header.MAC{0x02, 0x00, 0x00, 0x00, 0x0c, 0x06}
	fuzzTunSrc = [2]netip.Addr{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("2001:2:0:1::1")} // port 1's own
)

// fuzzCapacity is the table of a fuzzed pipeline: room for the prep's connections and more, far
// from the flood defence's threshold.
const fuzzCapacity = 256

// fuzzPorts are testPorts with an MTU of 1500 on port 1, toward the tunnels' real servers.
func fuzzPorts() []Port {
	ps := append([]Port(nil), testPorts...)
	ps[1].MTU = 1500
	return ps
}

// fuzzTunSource is the tunnel source of every real server, as the resolver would publish it: port
// 1's own address of the real server's family.
func fuzzTunSource(rs header.Addr) header.Addr {
	if rs.Is4() {
		return header.AddrFromNetip(fuzzTunSrc[0])
	}
	return header.AddrFromNetip(fuzzTunSrc[1])
}

func fuzzSnapshot() *Snapshot {
	s := testSnapshot()
	one := func(proto uint8, vip netip.Addr, port uint16, rs netip.Addr, rport uint16, m ForwardMethod, lips ...netip.Addr) Service {
		return Service{Key: ServiceKey{Proto: proto, Addr: vip, Port: port}, Scheduler: "rr", LocalAddrs: lips,
			RealServers: []RealServer{{Addr: rs, Port: rport, Forward: m, Weight: 1}}}
	}
	sp := func(svc Service) Service { svc.Flags |= ServiceSynProxy; return svc }
	mh := func(svc Service) Service { svc.Scheduler = "mh"; return svc } // sloppy TCP for DR and TUN
	persistent := func(svc Service) Service {
		svc.Flags |= ServicePersistent
		svc.Persistence = 300 * time.Second
		return svc
	}
	s.Services = append(s.Services,
		persistent(one(tcp, vip4, 83, rs4a, 83, ForwardRoute)),
		mh(one(tcp, vip6, 83, rs6a, 83, ForwardRoute)),
		one(udp, vip4All, 0, rs4b, 0, ForwardRoute),
		mh(one(tcp, vip4, 84, rs4b, 84, ForwardTunnel)),
		one(udp, vip4, 84, rs4b, 84, ForwardTunnel),
		one(tcp, vip6, 84, rs6b, 84, ForwardTunnel),
		one(tcp, vip4, 85, rs4a, 8085, ForwardFullNAT, lip4),
		one(udp, vip4, 85, rs4b, 8085, ForwardFullNAT, lip4),
		one(tcp, vip6, 85, rs6a, 8085, ForwardFullNAT, fuzzLIP6),
		one(tcp, vip6, 86, rs4b, 8086, ForwardFullNAT, lip4),
		one(udp, vip6, 86, rs4a, 8086, ForwardFullNAT, lip4),
		sp(one(tcp, vip4, 87, rs4a, 8087, ForwardMasq)),
		sp(one(tcp, vip6, 87, rs6b, 8087, ForwardFullNAT, fuzzLIP6)),
		sp(one(tcp, vip6, 88, rs4b, 8088, ForwardFullNAT, lip4)),
		sp(one(tcp, vip4, 89, rs4Stale, 8089, ForwardMasq)),
		pp(ProxyProtocolV1, one(tcp, vip4, 90, rs4a, 8090, ForwardFullNAT, lip4)),
		pp(ProxyProtocolV2, one(tcp, vip6, 90, rs6a, 8090, ForwardFullNAT, fuzzLIP6)),
		pp(ProxyProtocolV1, one(tcp, vip6, 91, rs4b, 8091, ForwardFullNAT, lip4)),
		pp(ProxyProtocolV2, one(udp, vip4, 90, rs4b, 8090, ForwardFullNAT, lip4)),
		persistent(Service{Key: ServiceKey{Addr: netip.IPv4Unspecified(), FWMark: 7}, Scheduler: "rr",
			RealServers: []RealServer{{Addr: rs4a, Forward: ForwardRoute, Weight: 1}, {Addr: rs4b, Forward: ForwardRoute, Weight: 1}}}),
		Service{Key: ServiceKey{Addr: netip.IPv6Unspecified(), FWMark: 8}, Scheduler: "rr",
			RealServers: []RealServer{{Addr: rs6a, Port: 8093, Forward: ForwardMasq, Weight: 1}}},
	)
	s.MarkRules = []control.MarkRule{
		{Mark: 7, Dst: netip.PrefixFrom(vip4, 32), PortLo: 92, PortHi: 93},
		{Mark: 8, Proto: tcp, Dst: netip.PrefixFrom(vip6, 128), PortLo: 92, PortHi: 92},
		{Mark: 9, Dst: netip.PrefixFrom(vip4, 32), PortLo: 94, PortHi: 94}, // no service: the packet goes on
	}
	return s
}

// pp gives svc the PROXY protocol of version v.
func pp(v ProxyProtocol, svc Service) Service {
	svc.ProxyProtocol = v
	return svc
}

// fuzzStep is one frame of the prep and what the script's pipeline made of it.
type fuzzStep struct {
	frame []byte
	port  int
	v     Verdict
	out   []byte
}

// fuzzSeed is a seed frame, the port it arrives on, and the worker count whose world it was made
// for (0: either; FULLNAT local ports differ between them: worker 0 of 2 has only the even ones).
type fuzzSeed struct {
	frame   []byte
	port    int
	workers int
}

// fuzzWorld is built once per process.
type fuzzWorld struct {
	owner header.HashKey // ownerKey while the world's pipelines run (fuzzOwnerKey)
	neigh *Neighbours
	ports []Port
	conf  *compiled                    // shared by the fuzzed pipelines, its rr positions reset for each
	pools [2]map[header.Addr]*portPool // fresh local port pools, per worker count - 1, copied for each pipeline
	prep  [2][]fuzzStep                // per worker count - 1
	seeds []fuzzSeed
}

var fuzzWorldOnce struct {
	once sync.Once
	w    *fuzzWorld
}

// theFuzzWorld returns the process's fuzzWorld, building it on first use, and sets ownerKey to the
// world's (the caller restores it when done).
func theFuzzWorld(tb testing.TB) *fuzzWorld {
	fuzzWorldOnce.once.Do(func() {
		ownerKey, fragKey = fuzzOwnerKey(tb), fuzzFragKey
		w := &fuzzWorld{owner: ownerKey, neigh: newTestNeighbours(), ports: fuzzPorts(), conf: mustCompile(tb, fuzzSnapshot())}
		for i := range w.pools {
			w.pools[i] = map[header.Addr]*portPool{}
			for lip := range w.conf.lips {
				w.pools[i][lip] = newPortPool(0, i+1)
			}
		}
		w.neigh.Set(0, cip4Stale, staleMAC, true)
		w.neigh.Set(0, cip6Stale, staleMAC, true)
		w.neigh.Set(1, rs4Stale, rs3MAC, true)
		var seeds [2][]fuzzSeed
		for workers := 1; workers <= 2; workers++ {
			r := &fuzzRecorder{tb: tb, p: w.newPipeline(tb, workers), ports: map[netip.Addr]uint16{}}
			w.setStale(false)
			fuzzScript(r)
			w.setStale(true)
			w.prep[workers-1] = r.steps
			seeds[workers-1] = r.seeds
		}
		w.seeds = mergeSeeds(seeds)
		fuzzWorldOnce.w = w
	})
	if fuzzWorldOnce.w == nil {
		tb.Fatal("the fuzz world could not be built (see the first failure)")
	}
	ownerKey, fragKey = fuzzWorldOnce.w.owner, fuzzFragKey
	return fuzzWorldOnce.w
}

// fuzzFragKey is fragKey while the fuzz world's pipelines run: fixed, so that an input's
// fragments meet the same gatherer in every process.
var fuzzFragKey = header.HashKeyOf(1, 0x78647076735f6672) // "xdpvs_fr"

// fuzzFragID returns the first identification from id on of a datagram of flow c that worker 0
// of 2 gathers.
func fuzzFragID(c pk, id uint32) uint32 {
	for ; ; id++ {
		k := header.Tuple{SrcAddr: header.AddrFromNetip(c.sip), DstAddr: header.AddrFromNetip(c.dip), Proto: c.proto,
			SrcPort: uint16(id >> 16), DstPort: uint16(id)}
		if fragOwner(&k, 2) == 0 {
			return id
		}
	}
}

// mergeSeeds returns the seeds made for one worker and for two, each once: those the same in both
// worlds for either, the others for theirs.
func mergeSeeds(seeds [2][]fuzzSeed) []fuzzSeed {
	var in [2]map[string]bool
	for i := range seeds {
		in[i] = map[string]bool{}
		for _, s := range seeds[i] {
			in[i][string(s.frame)+string(rune(s.port))] = true
		}
	}
	var out []fuzzSeed
	for i := range seeds {
		for _, s := range seeds[i] {
			switch k := string(s.frame) + string(rune(s.port)); {
			case !in[1-i][k]:
				s.workers = i + 1
			case i == 1:
				continue // listed with the first
			}
			out = append(out, s)
		}
	}
	return out
}

// setStale marks the stale neighbours unresolved (or resolved again).
func (w *fuzzWorld) setStale(stale bool) {
	w.neigh.Set(0, cip4Stale, staleMAC, !stale)
	w.neigh.Set(0, cip6Stale, staleMAC, !stale)
	w.neigh.Set(1, rs4Stale, rs3MAC, !stale)
}

// newPipeline returns a fresh pipeline, worker 0 of workers, with the fuzz configuration and fixed
// SYN cookies. Two shortcuts keep it fast, each giving what a pipeline made from scratch has: the
// local port pools are copies of fresh ones (making one walks 64 K ports); and the pipeline's
// neighbour references are not kept registered with the shared table,
// which never recycles a slot here (nothing is forgotten) and would otherwise hold every input's
// 256 KiB of references for the life of the process.
func (w *fuzzWorld) newPipeline(tb testing.TB, workers int) *Pipeline {
	refs := w.neigh.refs.Load()
	p := newPipeline(0, workers, w.ports, w.neigh, fuzzCapacity, t0)
	w.neigh.refs.Store(refs)
	p.cookies = fuzzCookies(tb)
	for lip, pool := range w.pools[workers-1] {
		p.lpools[lip] = &portPool{ring: slices.Clone(pool.ring), head: pool.head, size: pool.size}
	}
	p.setConfig(mustCompile(tb, fuzzSnapshot())) // fresh: the rr positions live in its schedulers' tables
	setTunnelSources(p, fuzzTunSource, [2]netip.Addr{}, fuzzTunSrc)
	// The fast path's bookkeeping too (over plain memory: its records are logged, not handed to a
	// program), so that the fuzzed packets make, fold and remove records.
	p.fast = newFastPath(fuzzCapacity, make([]fastStat, 2*fuzzCapacity), 0, nsClock)
	return p
}

// env returns a fresh pipeline holding the prep's connections, the stale neighbours unresolved.
func (w *fuzzWorld) env(tb testing.TB, workers int) *Pipeline {
	p := w.newPipeline(tb, workers)
	w.setStale(false)
	var buf [2048]byte
	for i, s := range w.prep[workers-1] {
		n := copy(buf[rxHeadroom:], s.frame)
		v, _, off, m := p.ProcessAt(buf[:], rxHeadroom, n, s.port, t0)
		if v != s.v || (v == VerdictTX && !bytes.Equal(buf[off:off+m], s.out)) {
			tb.Fatalf("prep[%d] (%d workers) is not deterministic: %s, sent %x; the script's pipeline: %s, sent %x",
				i, workers, vname(v), buf[off:off+m], vname(s.v), s.out)
		}
	}
	w.setStale(true)
	return p
}

// fuzzOwnerKey sets ownerKey to a fixed key under which worker 0 of 2 owns the golden flows'
// clients (cip4 and cip6, ports 40000-40002), so that their connections are the pipeline's with
// two workers too, and returns it; the script's other flows pick client ports worker 0 owns
// (fuzzRecorder.cport).
func fuzzOwnerKey(tb testing.TB) header.HashKey {
	c4, c6 := header.AddrFromNetip(cip4), header.AddrFromNetip(cip6)
	for k := uint64(1); k < 1<<12; k++ {
		ownerKey = header.HashKeyOf(k, 0x78647076735f667a) // "xdpvs_fz"
		if owner(&c4, 40000, 2) == 0 && owner(&c6, 40000, 2) == 0 && owner(&c4, 40001, 2) == 0 &&
			owner(&c6, 40001, 2) == 0 && owner(&c4, 40002, 2) == 0 {
			return ownerKey
		}
	}
	tb.Fatal("no owner key gives worker 0 the golden flows")
	return header.HashKey{}
}

// fuzzRecorder runs the script on its pipeline, recording the prep and collecting seeds.
type fuzzRecorder struct {
	tb    testing.TB
	p     *Pipeline
	steps []fuzzStep
	seeds []fuzzSeed
	ports map[netip.Addr]uint16 // the last client port handed out per address
}

// run processes frame (received on port) as a worker does, records it, and returns what was sent;
// it fails unless the frame was sent.
func (r *fuzzRecorder) run(frame []byte, port int) []byte {
	r.tb.Helper()
	var buf [2048]byte
	n := copy(buf[rxHeadroom:], frame)
	v, _, off, m := r.p.ProcessAt(buf[:], rxHeadroom, n, port, t0)
	if v != VerdictTX {
		r.tb.Fatalf("fuzz prep step %d: %s (%s)", len(r.steps), vname(v), nonZero(r.p.c))
	}
	out := append([]byte(nil), buf[off:off+m]...)
	r.steps = append(r.steps, fuzzStep{frame: append([]byte(nil), frame...), port: port, v: v, out: out})
	return out
}

// seed adds frames received on port to the seeds.
func (r *fuzzRecorder) seed(port int, frames ...[]byte) {
	for _, f := range frames {
		r.seeds = append(r.seeds, fuzzSeed{frame: f, port: port})
	}
}

// cport returns a new client port of a that worker 0 of 2 owns.
func (r *fuzzRecorder) cport(a netip.Addr) uint16 {
	ha := header.AddrFromNetip(a)
	p := r.ports[a]
	if p == 0 {
		p = 41000
	}
	for p++; owner(&ha, p, 2) != 0; p++ {
	}
	r.ports[a] = p
	return p
}

// outTuple parses a frame the script's pipeline sent.
func (r *fuzzRecorder) outTuple(out []byte) header.Tuple {
	r.tb.Helper()
	var pp header.Packet
	if res := pp.Parse(out); res != header.ParseOK {
		r.tb.Fatalf("fuzz prep: output does not parse (%v): %x", res, out)
	}
	return pp.Tuple
}

// rsMAC is the MAC of real server a.
func rsMAC(a netip.Addr) header.MAC {
	switch a {
	case rs4a, rs6a:
		return rs1MAC
	case rs4b, rs6b:
		return rs2MAC
	}
	return rs3MAC
}

// fuzzClient returns the client side of a flow from cip:cport to vip:vport.
func fuzzClient(proto uint8, cip netip.Addr, cport uint16, vip netip.Addr, vport uint16) pk {
	mac := cliMAC
	if cip == cip4Stale || cip == cip6Stale {
		mac = staleMAC
	}
	p := pk{src: mac, dst: port0MAC, sip: cip, dip: vip, proto: proto, sport: cport, dport: vport}
	if proto == udp {
		p.payload = 32
	}
	return p
}

// fuzzServer returns the packets of real server rs:rport to dst:dport (arriving on port 1).
func fuzzServer(c pk, rs netip.Addr, rport uint16, dst netip.Addr, dport uint16) pk {
	p := pk{src: rsMAC(rs), dst: port1MAC, sip: rs, dip: dst, proto: c.proto, sport: rport, dport: dport}
	if c.proto == udp {
		p.payload = 200
	}
	return p
}

// fuzzDirect returns the packets a DR or TUN real server sends the client itself (from the VIP): what
// an ICMP error from the client's side quotes.
func fuzzDirect(c pk) pk {
	return pk{src: port1MAC, dst: cliMAC, sip: c.dip, dip: c.sip, proto: c.proto, sport: c.dport, dport: c.sport, payload: c.payload}
}

// fuzzScript opens the fuzz world's connections and builds the seeds.
func fuzzScript(r *fuzzRecorder) {
	tb := r.tb
	f := func(p pk) []byte { return p.frame(tb) }

	// NAT, as the golden cases leave it: TCP established both families, UDP both families, an
	// all-ports connection in SYN_ACK.
	for _, s := range append(append(handshake4(), handshake6()...),
		at(0, c2vU4.frame), at(0, c2vU6.frame), at(0, syn(c2vA4).frame), at(1, synack(r2lA4).frame)) {
		r.run(s.f(tb), s.port)
	}
	for _, tc := range goldenCases() {
		for _, s := range tc.prep {
			r.seed(s.port, s.f(tb))
		}
		r.seed(tc.inPort, tc.in(tb))
	}
	// A NAT connection from a client whose MAC goes stale.
	stale := fuzzClient(tcp, cip4Stale, r.cport(cip4Stale), vip4, 80)
	out := r.run(f(syn(stale)), 0)
	staleS := fuzzServer(stale, r.outTuple(out).DstAddr.Netip(), 8080, cip4Stale, stale.sport)
	r.flowSeeds(stale, staleS, out)
	// A NAT connection the client reset (CLOSE): a SYN on its tuple opens a new one.
	closed := fuzzClient(tcp, cip4, r.cport(cip4), vip4, 80)
	out = r.run(f(syn(closed)), 0)
	closedS := fuzzServer(closed, r.outTuple(out).DstAddr.Netip(), 8080, cip4, closed.sport)
	r.run(f(synack(closedS)), 1)
	r.run(f(ack(closed)), 0)
	r.run(f(closed.seg("R", 1001, 0, 0)), 0)
	r.seed(0, f(syn(closed)), f(dataC(closed)))
	r.seed(1, f(dataS(closedS)))

	// DR: the client's side only; the server answers the client directly. One connection the
	// client has closed (FIN_WAIT, over for a DR connection: a SYN opens a new one).
	for _, c := range []pk{fuzzClient(tcp, cip4, r.cport(cip4), vip4, 83), fuzzClient(tcp, cip6, r.cport(cip6), vip6, 83)} {
		r.run(f(syn(c)), 0)
		r.run(f(ack(c)), 0)
		r.flowSeeds(c, pk{}, nil)
	}
	drFin := fuzzClient(tcp, cip4, r.cport(cip4), vip4, 83)
	r.run(f(syn(drFin)), 0)
	r.run(f(ack(drFin)), 0)
	r.run(f(fin(drFin)), 0)
	r.seed(0, f(syn(drFin)), f(drFin.seg("A", 1102, 5002, 0)))
	dru := fuzzClient(udp, cip4, r.cport(cip4), vip4All, 5000)
	r.run(f(dru), 0)
	r.seed(0, f(dru.dgram(1400)), f(dru.dgram(0)))
	r.icmpSeeds(rtrOf(dru), f(fuzzDirect(dru))[14:], 0)

	// TUN: as DR, in a tunnel; big packets meet the tunnel's MTU (1480 for IPIP, 1460 for IPv6).
	for _, c := range []pk{fuzzClient(tcp, cip4, r.cport(cip4), vip4, 84), fuzzClient(tcp, cip6, r.cport(cip6), vip6, 84)} {
		r.run(f(syn(c)), 0)
		r.run(f(ack(c)), 0)
		r.flowSeeds(c, pk{}, nil)
		big := c.seg("PA", 1101, 5001, 1500-c.ipHeaderLen()-20)
		r.seed(0, f(big), f(big.seg("PA", 1101, 5001, big.payload-20)), f(withOpts(big)))
		noDF := f(big)
		if c.sip.Is4() {
			noDF[14+6] &^= 0x40 // may be fragmented: dropped (too_big_no_df)
			header.IPv4(noDF[14:]).FillChecksum()
			r.seed(0, noDF)
		}
		// An ICMP error about the server's reply, itself too big for the tunnel (a router quoting
		// far more than RFC 1812 and RFC 4443 allow), with DF.
		e := rtrOf(c)
		e.mtu, e.quote = 1280, f(fuzzDirect(c.seg("PA", 5001, 1101, 1460-c.ipHeaderLen())))[14:]
		tooBig := e.frame(tb)
		if c.sip.Is4() {
			tooBig[14+6] |= 0x40
			header.IPv4(tooBig[14:]).FillChecksum()
		}
		r.seed(0, tooBig)
	}
	tunu := fuzzClient(udp, cip4, r.cport(cip4), vip4, 84)
	r.run(f(tunu), 0)
	r.seed(0, f(tunu.dgram(1500-28)), f(tunu.dgram(1480-28)), f(tunu.dgram(1481-28)))
	r.icmpSeeds(rtrOf(tunu), f(fuzzDirect(tunu))[14:], 0)

	// FULLNAT with TOA: the client's ACK completes the handshake with the option, and its first data
	// segment (a seed) carries it again.
	for _, c := range []pk{fuzzClient(tcp, cip4, r.cport(cip4), vip4, 85), fuzzClient(tcp, cip6, r.cport(cip6), vip6, 85)} {
		rs, lip := rs4a, lip4
		if c.sip.Is6() {
			rs, lip = rs6a, fuzzLIP6
		}
		out := r.run(f(syn(c)), 0)
		s := fuzzServer(c, rs, 8085, lip, r.outTuple(out).SrcPort)
		r.run(f(synack(s)), 1)
		r.run(f(ack(c)), 0)
		r.flowSeeds(c, s, r.steps[len(r.steps)-1].out)
		// Segments near the MTU: the option does not fit (exceeds_mtu), or just does.
		toa := 8
		if c.sip.Is6() {
			toa = 20
		}
		r.seed(0, f(c.seg("PA", 1001, 5001, 1500-c.ipHeaderLen()-20-toa+1)), f(c.seg("PA", 1001, 5001, 1500-c.ipHeaderLen()-20-toa)))
	}
	fnu := fuzzClient(udp, cip4, r.cport(cip4), vip4, 85)
	out = r.run(f(fnu), 0)
	fnuS := fuzzServer(fnu, rs4b, 8085, lip4, r.outTuple(out).SrcPort)
	r.seed(1, f(fnuS), f(fnuS.noCsum()), trailing(f(fnuS)))
	r.seed(0, f(fnu.dgram(3)))
	r.icmpSeeds(rtrOf(fnu), f(fuzzDirect(fnu))[14:], 0)
	r.icmpSeeds(rtrOfRS(fnuS), out[14:], 1)

	// NAT64: an IPv6 client, IPv4 real servers; one client's MAC goes stale.
	for _, c := range []pk{fuzzClient(tcp, cip6, r.cport(cip6), vip6, 86), fuzzClient(tcp, cip6Stale, r.cport(cip6Stale), vip6, 86)} {
		out := r.run(f(syn(c)), 0)
		s := fuzzServer(c, rs4b, 8086, lip4, r.outTuple(out).SrcPort)
		r.run(f(synack(s)), 1)
		r.run(f(ack(c)), 0)
		r.flowSeeds(c, s, r.steps[len(r.steps)-1].out)
	}
	n64u := fuzzClient(udp, cip6, r.cport(cip6), vip6, 86)
	out = r.run(f(n64u), 0)
	n64uS := fuzzServer(n64u, rs4a, 8086, lip4, r.outTuple(out).SrcPort)
	r.seed(1, f(n64uS), f(n64uS.noCsum()), f(withOpts(n64uS)), trailing(f(n64uS)))
	r.seed(0, f(withOpts(n64u)), trailing(f(n64u)))
	r.icmpSeeds(rtrOf(n64u), f(fuzzDirect(n64u))[14:], 0)
	r.icmpSeeds(rtrOfRS(n64uS), out[14:], 1)

	r.fragments()
	r.synProxy()
	r.proxyProtocol()
	r.fwmark()
}

// proxyProtocol opens the PROXY protocol connections: handshake, the first data segment with the
// header; the seeds send it again, send more, acknowledge both ways, and come near the MTU.
func (r *fuzzRecorder) proxyProtocol() {
	tb := r.tb
	f := func(p pk) []byte { return p.frame(tb) }
	for _, c := range []struct {
		c        pk
		rs, lip  netip.Addr
		rport    uint16
		overhead int // the header's length, about
	}{
		{fuzzClient(tcp, cip4, r.cport(cip4), vip4, 90), rs4a, lip4, 8090, 43},
		{fuzzClient(tcp, cip6, r.cport(cip6), vip6, 90), rs6a, fuzzLIP6, 8090, 52},
		{fuzzClient(tcp, cip6, r.cport(cip6), vip6, 91), rs4b, lip4, 8091, 46},
	} {
		out := r.run(f(syn(c.c)), 0)
		s := fuzzServer(c.c, c.rs, c.rport, c.lip, r.outTuple(out).SrcPort)
		r.run(f(synack(s)), 1)
		r.run(f(ack(c.c)), 0)
		r.run(f(dataC(c.c)), 0)
		r.flowSeeds(c.c, s, r.steps[len(r.steps)-1].out)
		later := r.run(f(c.c.seg("PA", 1101, 5001, 10)), 0) // its number shifted: an error about it is unshifted
		r.icmpSeeds(rtrOfRS(s), later[14:], 1)
		r.seed(0, f(dataC(c.c)), f(bigC(c.c)), f(c.c.seg("PA", 1001, 5001, 1500-c.c.ipHeaderLen()-20-c.overhead+8)), f(syn(c.c)))
		r.seed(1, f(s.seg("A", 5001, 1101+uint32(c.overhead), 0)), f(s.seg("A", 5001, 1010, 0)), f(synack(s)), f(dataS(s)))
	}
	u := fuzzClient(udp, cip4, r.cport(cip4), vip4, 90)
	r.seed(0, f(u.dgram(10)), f(u.dgram(1500-28-20)), f(u.dgram(1500-28)))
	out := r.run(f(u.dgram(10)), 0)
	us := fuzzServer(u, rs4b, 8090, lip4, r.outTuple(out).SrcPort)
	r.seed(0, f(u.dgram(20)))
	r.seed(1, f(us.dgram(20)))
}

// fwmark opens connections of the mark services and seeds their other ports and protocols.
func (r *fuzzRecorder) fwmark() {
	tb := r.tb
	f := func(p pk) []byte { return p.frame(tb) }
	c := fuzzClient(tcp, cip4, r.cport(cip4), vip4, 92)
	r.run(f(syn(c)), 0)
	r.run(f(ack(c)), 0)
	c2 := fuzzClient(tcp, cip4, r.cport(cip4), vip4, 93)
	u := fuzzClient(udp, cip4, r.cport(cip4), vip4, 93)
	other := fuzzClient(tcp, cip4, r.cport(cip4), vip4, 94)
	r.seed(0, f(dataC(c)), f(syn(c2)), f(u.dgram(30)), f(syn(other)))
	c6 := fuzzClient(tcp, cip6, r.cport(cip6), vip6, 92)
	out := r.run(f(syn(c6)), 0)
	s6 := fuzzServer(c6, rs6a, 8093, cip6, c6.sport)
	_ = out
	r.seed(1, f(synack(s6)))
	r.seed(0, f(ack(c6)), f(fuzzClient(udp, cip6, r.cport(cip6), vip6, 92).dgram(10)))
}

// fragments opens, for a UDP flow of NAT (both families), DR, TUN (whose tunnel fragments the
// client's 1500-byte fragments again), FULLNAT and NAT64 (translated one by one), a 4 KB datagram by
// its first fragment, whose later ones are seeds (they follow it); and seeds the fragments of
// another datagram of the flow, whose later ones come before their first.
func (r *fuzzRecorder) fragments() {
	tb := r.tb
	f := func(p pk) []byte { return p.frame(tb) }
	for i, c := range []pk{fuzzClient(udp, cip4, r.cport(cip4), vip4, 53), fuzzClient(udp, cip6, r.cport(cip6), vip6, 53),
		fuzzClient(udp, cip4, r.cport(cip4), vip4All, 5000), fuzzClient(udp, cip4, r.cport(cip4), vip4, 84),
		fuzzClient(udp, cip4, r.cport(cip4), vip4, 85), fuzzClient(udp, cip6, r.cport(cip6), vip6, 86)} {
		frags := fragmentFrame(tb, f(c.dgram(4<<10)), 1500, fuzzFragID(c, uint32(0x4000+16*i)))
		out := r.run(frags[0], 0)
		r.seed(0, frags[1:]...)
		if c.dport == 53 || c.dport == 85 || c.dport == 86 { // replies through the director: NAT, FULLNAT, NAT64
			o := r.outTuple(out)
			reply := pk{src: rs1MAC, dst: port1MAC, sip: o.DstAddr.Netip(), dip: o.SrcAddr.Netip(), proto: udp, sport: o.DstPort, dport: o.SrcPort}
			r.seed(1, fragmentFrame(tb, f(reply.dgram(4<<10)), 1500, fuzzFragID(reply, uint32(0x7800+16*i)))...)
		}
		r.seed(0, fragmentFrame(tb, f(c.dgram(4<<10)), 1500, fuzzFragID(c, uint32(0x7700+16*i)))...)
	}
}

// trailing returns a frame with a byte more in its IP payload than its UDP datagram holds.
func trailing(frame []byte) []byte {
	frame = append(frame, 0x5a)
	if ip := frame[header.EthernetMinimumSize:]; ip[0]>>4 == 6 {
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+1)
	} else {
		binary.BigEndian.PutUint16(ip[2:], binary.BigEndian.Uint16(ip[2:])+1)
		header.IPv4(ip).FillChecksum()
	}
	return frame
}

// ipHeaderLen is the IP header's size for p's family.
func (p pk) ipHeaderLen() int {
	if p.sip.Is4() {
		return 20
	}
	return 40
}

// rtrOf is a router on the client's side sending ICMP errors about packets to the client c talks
// from; rtrOfRS one on the real servers' side, about packets to the director's address s is sent to.
func rtrOf(c pk) icmpErr {
	e := icmpErr{src: rtr0MAC, dst: port0MAC, sip: rtr4, dip: c.dip}
	if c.sip.Is6() {
		e.sip = rtr6
	}
	return e
}

func rtrOfRS(s pk) icmpErr {
	e := icmpErr{src: rtr1MAC, dst: port1MAC, sip: rtr4RS, dip: s.dip}
	if s.sip.Is6() {
		e.sip = rtr6RS
	}
	return e
}

// flowSeeds adds the seeds of an open TCP flow: the client's segments to the VIP (c) and the real
// server's to the director (s: to the client for NAT, to LIP:lport for FULLNAT and NAT64): data,
// big, FIN, RST, a SYN again, with IP options or an IPv6 destination-options header, and ICMP
// errors about them from both sides. toServer is a frame the director sent the server, and s is
// used only with it (DR and TUN servers answer the client directly: nil).
func (r *fuzzRecorder) flowSeeds(c, s pk, toServer []byte) {
	f := func(p pk) []byte { return p.frame(r.tb) }
	r.seed(0, f(dataC(c)), f(withOpts(dataC(c))), f(bigC(c)), f(fin(c)), f(c.seg("R", 1101, 0, 0)), f(syn(c)), f(c.seg("A", 1101, 5001, 0)))
	if toServer != nil {
		// The server's side: only NAT, FULLNAT and NAT64 replies come back through the director.
		r.seed(1, f(dataS(s)), f(withOpts(dataS(s))), f(synack(s)), f(fin(s)), f(s.seg("RA", 5001, 1101, 0)))
		// A SYN/ACK with only an MSS option: FULLNAT lowers it by the TOA option's size.
		sa := s.seg("SA", 5000, 1001, 0)
		ls := sa.layers()
		for _, l := range ls {
			if t, ok := l.(*layers.TCP); ok {
				t.Options = []layers.TCPOption{optMSS(1460)}
			}
		}
		r.seed(1, serialize(r.tb, append(ethOf(s.src, s.dst, s.sip.Is6(), 0), ls...)...))
		r.icmpSeeds(rtrOfRS(s), toServer[14:], 1)
	}
	// What the client received from the VIP (through the director, or from a DR/TUN server).
	r.icmpSeeds(rtrOf(c), f(fuzzDirect(dataS(c)))[14:], 0)
}

// icmpSeeds adds ICMP errors from router e (its family's usual types: fragmentation needed or
// packet too big, port unreachable, time exceeded, parameter problem) quoting the IP packet q,
// received on port.
func (r *fuzzRecorder) icmpSeeds(e icmpErr, q []byte, port int) {
	v6 := e.sip.Is6()
	n := min(len(q), 68)
	if !v6 {
		n = min(len(q), 48)
	}
	types := [][2]uint8{{0, 0}, {header.ICMPv4DstUnreachable, 3}, {header.ICMPv4TimeExceeded, 0}, {12, 0}}
	if v6 {
		types = [][2]uint8{{0, 0}, {header.ICMPv6DstUnreachable, 4}, {header.ICMPv6TimeExceeded, 0}, {4, 0}}
	}
	for i, tc := range types {
		m := e
		m.typ, m.code, m.mtu, m.quote = tc[0], tc[1], 1280, q[:n]
		if i == 0 && !v6 {
			m.mtu = 1300
		}
		r.seed(port, m.frame(r.tb))
	}
	// The whole packet quoted, as a router may (up to the RFC's limits).
	m := e
	m.mtu, m.quote = 1280, q[:min(len(q), 500)]
	r.seed(port, m.frame(r.tb))
}

// synProxy opens the SYN-proxied connections: an established one of each kind (NAT, FULLNAT
// stopped after the replay, NAT64), one the client reset, and some still waiting for their server:
// one from a client whose MAC goes stale, one to a server whose MAC does.
func (r *fuzzRecorder) synProxy() {
	tb := r.tb
	var clientISN, serverISN uint32 = 0x10000000, 0xfffffff0 // the server's wraps
	synOpts := []layers.TCPOption{optMSS(1460), optSACKOK(), optTS(5000, 0), optNop(), optWS(7)}
	type spFlow struct {
		cip, vip netip.Addr
		vport    uint16
		rs       netip.Addr
		rport    uint16
		lip      netip.Addr // FULLNAT, NAT64
		upTo     int        // 0: waiting for the server, 1: replayed, 2: established, 3: reset by the client
	}
	flows := []spFlow{
		{cip: cip4, vip: vip4, vport: 87, rs: rs4a, rport: 8087, upTo: 2},
		{cip: cip6, vip: vip6, vport: 87, rs: rs6b, rport: 8087, lip: fuzzLIP6, upTo: 1},
		{cip: cip6, vip: vip6, vport: 88, rs: rs4b, rport: 8088, lip: lip4, upTo: 2},
		{cip: cip4, vip: vip4, vport: 87, rs: rs4a, rport: 8087, upTo: 3},
		{cip: cip4, vip: vip4, vport: 87, rs: rs4a, rport: 8087},
		{cip: cip4Stale, vip: vip4, vport: 87, rs: rs4a, rport: 8087},
		{cip: cip4, vip: vip4, vport: 89, rs: rs4Stale, rport: 8089},
	}
	for _, fl := range flows {
		cport := r.cport(fl.cip)
		mac := cliMAC
		if fl.cip == cip4Stale {
			mac = staleMAC
		}
		from := func(flags string, seq, ack uint32, opts []layers.TCPOption, payload []byte) []byte {
			return tcpSeg{src: mac, dst: port0MAC, sip: fl.cip, dip: fl.vip, sport: cport, dport: fl.vport, flags: flags,
				seq: seq, ack: ack, win: 502, opts: opts, payload: payload}.frame(tb)
		}
		synack := decodeSeg(tb, r.run(from("S", clientISN, 0, synOpts, nil), 0))
		cookie := synack.tcp.Seq
		tsv, _, _ := synack.ts()
		tsOpts := []layers.TCPOption{optNop(), optNop(), optTS(5001, tsv)}
		toServer := r.run(from("A", clientISN+1, cookie+1, tsOpts, nil), 0)
		dst, dport := fl.cip, cport
		if fl.lip.IsValid() {
			dst, dport = fl.lip, r.outTuple(toServer).SrcPort
		}
		fromServer := func(flags string, seq, ack uint32, opts []layers.TCPOption, payload []byte) []byte {
			return tcpSeg{src: rsMAC(fl.rs), dst: port1MAC, sip: fl.rs, dip: dst, sport: fl.rport, dport: dport, flags: flags,
				seq: seq, ack: ack, win: 65160, opts: opts, payload: payload}.frame(tb)
		}
		srvOpts := []layers.TCPOption{optMSS(1460), optSACKOK(), optTS(90000, 5001), optNop(), optWS(7)}
		r.icmpSeeds(rtrOfRS(pk{sip: fl.rs, dip: dst}), toServer[14:], 1) // about our SYN
		// Every phase's seeds: the client's SYN again, its data, a RST; the server's SYN/ACK (again),
		// its RST, its data.
		r.seed(0, from("S", clientISN, 0, synOpts, nil), from("PA", clientISN+1, cookie+1, tsOpts, []byte("GET / HTTP/1.0\r\n\r\n")),
			from("R", clientISN+1, 0, nil, nil), from("A", clientISN+1, cookie+1, []layers.TCPOption{optSACK(cookie+10, cookie+20)}, nil),
			from("FA", clientISN+1, cookie+1, tsOpts, nil))
		r.seed(1, fromServer("SA", serverISN, clientISN+1, srvOpts, nil), fromServer("RA", 0, clientISN+1, nil, nil),
			fromServer("SA", serverISN, clientISN+7, srvOpts, nil))
		if fl.upTo == 0 {
			continue
		}
		r.run(fromServer("SA", serverISN, clientISN+1, srvOpts, nil), 1)
		if fl.upTo == 1 {
			continue
		}
		toClient := r.run(fromServer("PA", serverISN+1, clientISN+1, []layers.TCPOption{optNop(), optNop(), optTS(90001, 5001)}, make([]byte, 600)), 1)
		r.seed(1, fromServer("PA", serverISN+601, clientISN+1, []layers.TCPOption{optNop(), optNop(), optTS(90002, 5001)}, []byte("more")),
			fromServer("A", serverISN+601, clientISN+1, []layers.TCPOption{optSACK(clientISN+5, clientISN+9)}, nil))
		r.icmpSeeds(rtrOf(pk{sip: fl.cip, dip: fl.vip}), toClient[14:], 0)
		if fl.upTo == 3 {
			r.run(from("R", clientISN+1, 0, nil, nil), 0)
		}
	}
}
