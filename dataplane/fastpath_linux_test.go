package dataplane

// The fast path against its reference, the worker: every mode and family of fuzzSnapshot has a
// connection opened through a pipeline (with a fast path whose stats are the program's), the
// records the pipeline made go into the steering program's map as the worker hands them over, and
// then each data packet runs through BPF_PROG_RUN and through the pipeline: the program's frame
// must be byte-equal to the worker's, its action XDP_TX or XDP_REDIRECT to the worker's egress
// port, and the packet counted in the connection's stats slot; every packet the worker must see
// (SYN, FIN, RST, IPv6 extension headers, bad lengths, too big for a tunnel, misses, NAT64 and SYN
// proxy connections) leaves the program untouched, for the worker (XDP_PASS here: no socket).

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/xsk"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

const (
	xdpPass     = 2
	xdpRedirect = 4
)

// xdpMD is struct xdp_md, the context BPF_PROG_RUN passes in.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// fastEnv is a pipeline with a fast path whose records go into a detached steering program.
type fastEnv struct {
	ns    *testutil.NetNS
	st    *xsk.Steering
	prog  *ebpf.Program
	p     *Pipeline
	ports []Port
	batch fastBatch // small, so that a test's log takes several
}

const fastCapacity = 256

func newFastEnv(tb testing.TB) *fastEnv {
	tb.Helper()
	testutil.RequireRoot(tb)
	e := &fastEnv{ns: testutil.NewNetNS(tb, "fastpath")}
	testutil.NewVethPair(tb, e.ns, "d0", e.ns, "d1", 1)
	e.ports = fuzzPorts()
	e.ports[0].Ifindex, e.ports[1].Ifindex = e.ns.Ifindex(tb, "d0"), e.ns.Ifindex(tb, "d1")
	e.ns.MustDo(tb, func() error {
		st, err := xsk.NewSteering(1024)
		if err != nil {
			return err
		}
		tb.Cleanup(func() { st.Close() })
		if err := st.EnableFastPath(fastCapacity*2, []int{e.ports[0].Ifindex, e.ports[1].Ifindex}); err != nil {
			return err
		}
		prog, xsks, err := st.Program()
		if err != nil {
			return err
		}
		tb.Cleanup(func() { prog.Close(); xsks.Close() })
		e.st, e.prog = st, prog
		return nil
	})
	ownerKey = fuzzOwnerKey(tb)
	e.p = newPipeline(0, 1, e.ports, newTestNeighbours(), fastCapacity, t0)
	e.p.setConfig(mustCompile(tb, fuzzSnapshot()))
	setTunnelSources(e.p, fuzzTunSource, [2]netip.Addr{}, fuzzTunSrc)
	stats := e.st.FastStats()
	slots := unsafe.Slice((*fastStat)(unsafe.Pointer(&stats[0])), len(stats))
	e.p.fast = newFastPath(fastCapacity, slots, 0, e.clockNow(t0+second))
	e.batch = newFastBatch(64)
	return e
}

// clockNow maps the program's jiffies to the pipeline's (fake) clock so that this moment is at.
func (e *fastEnv) clockNow(at int64) fastClock {
	c := workersFastClock(e.st.FastClock())
	c.t0 += at - monotonic()
	return c
}

// run processes frame through the pipeline as a worker does (with headroom), hands the fast log
// to the program, and returns the verdict, the egress port and what was sent.
func (e *fastEnv) run(tb testing.TB, frame []byte, in int) (Verdict, int, []byte) {
	tb.Helper()
	var buf [2048]byte
	n := copy(buf[rxHeadroom:], frame)
	v, port, off, m := e.p.ProcessAt(buf[:], rxHeadroom, n, in, t0+second)
	if err := sendFastLog(e.st, e.p, &e.batch); err != nil && !errors.Is(err, unix.E2BIG) { // E2BIG: the map is full
		tb.Fatalf("sendFastLog: %v", err)
	}
	return v, port, append([]byte(nil), buf[off:off+m]...)
}

// mustRun is run that fails unless the frame is sent.
func (e *fastEnv) mustRun(tb testing.TB, frame []byte, in int) []byte {
	tb.Helper()
	v, _, out := e.run(tb, frame, in)
	if v != VerdictTX {
		tb.Fatalf("pipeline: %s (%s)", vname(v), nonZero(e.p.c))
	}
	return out
}

// xdp runs frame through the program as received on port in.
func (e *fastEnv) xdp(tb testing.TB, frame []byte, in int) (uint32, []byte) {
	tb.Helper()
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out,
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(e.ports[in].Ifindex)}}
	var ret uint32
	e.ns.MustDo(tb, func() error {
		var err error
		ret, err = e.prog.Run(opts)
		return err
	})
	return ret, opts.DataOut
}

func (e *fastEnv) stat(tb testing.TB, name string) uint64 {
	tb.Helper()
	s, err := e.st.Stats()
	if err != nil {
		tb.Fatal(err)
	}
	return s[name]
}

// fastFlow is one connection of the golden test: a client of a service, and whether the server's
// packets come back through the director.
type fastFlow struct {
	name      string
	proto     uint8
	cip, vip  netip.Addr
	vport     uint16
	replies   bool // NAT, FULLNAT
	offloaded bool // false: NAT64 and the SYN proxy stay with the worker
	tunnel    bool
}

var fastFlows = []fastFlow{
	{"nat4_tcp", tcp, cip4, vip4, 80, true, true, false},
	{"nat6_tcp", tcp, cip6, vip6, 80, true, true, false},
	{"nat4_udp", udp, cip4, vip4, 53, true, true, false},
	{"nat6_udp", udp, cip6, vip6, 53, true, true, false},
	{"dr4_tcp", tcp, cip4, vip4, 83, false, true, false},
	{"dr6_tcp", tcp, cip6, vip6, 83, false, true, false},
	{"dr4_udp", udp, cip4, vip4All, 5000, false, true, false},
	{"tun4_tcp", tcp, cip4, vip4, 84, false, true, true},
	{"tun4_udp", udp, cip4, vip4, 84, false, true, true},
	{"tun6_tcp", tcp, cip6, vip6, 84, false, true, true},
	{"fullnat4_tcp", tcp, cip4, vip4, 85, true, true, false},
	{"fullnat4_udp", udp, cip4, vip4, 85, true, true, false},
	{"fullnat6_tcp", tcp, cip6, vip6, 85, true, true, false},
	{"nat64_tcp", tcp, cip6, vip6, 86, true, false, false},
	{"synproxy4_nat", tcp, cip4, vip4, 87, true, false, false},
}

// open runs flow f's handshake (and first data both ways) through the pipeline; it returns the
// client's and the server's packet templates.
func (e *fastEnv) open(tb testing.TB, f fastFlow, cport uint16) (client, server pk) {
	tb.Helper()
	client = pk{src: cliMAC, dst: port0MAC, sip: f.cip, dip: f.vip, proto: f.proto, sport: cport, dport: f.vport}
	if f.proto == udp {
		out := e.mustRun(tb, client.dgram(32).frame(tb), 0)
		server = e.serverOf(tb, out, f.tunnel)
		if f.replies {
			e.mustRun(tb, server.dgram(48).frame(tb), 1)
		}
		e.mustRun(tb, client.dgram(32).frame(tb), 0)
		return client, server
	}
	if f.vport == 87 { // the SYN proxy answers the SYN itself, with a cookie
		synack := e.mustRun(tb, client.seg("S", 1000, 0, 0).frame(tb), 0)
		var pp header.Packet
		pp.Parse(synack)
		cookie := header.TCP(synack[pp.L4Offset:]).SequenceNumber()
		out := e.mustRun(tb, client.seg("A", 1001, cookie+1, 0).frame(tb), 0)
		server = e.serverOf(tb, out, false)
		e.run(tb, server.seg("SA", 5000, 1001, 0).frame(tb), 1)
		e.run(tb, client.seg("PA", 1001, cookie+1, 100).frame(tb), 0)
		return client, server
	}
	out := e.mustRun(tb, client.seg("S", 1000, 0, 0).frame(tb), 0)
	server = e.serverOf(tb, out, f.tunnel)
	if f.replies {
		e.mustRun(tb, server.seg("SA", 5000, 1001, 0).frame(tb), 1)
	}
	e.mustRun(tb, client.seg("A", 1001, 5001, 0).frame(tb), 0)
	e.mustRun(tb, client.seg("PA", 1001, 5001, 100).frame(tb), 0)
	if f.replies {
		e.mustRun(tb, server.seg("PA", 5001, 1101, 100).frame(tb), 1)
	}
	return client, server
}

// serverOf returns the server side of the connection whose first packet the pipeline sent as out.
func (e *fastEnv) serverOf(tb testing.TB, out []byte, tunnel bool) pk {
	tb.Helper()
	var pp header.Packet
	if r := pp.Parse(out); r != header.ParseOK {
		tb.Fatalf("output does not parse: %v", r)
	}
	t := pp.Tuple
	if tunnel { // the inner packet
		var in header.Packet
		l3 := pp.L3Offset + 20
		if pp.IsIPv6 {
			l3 = pp.L3Offset + 40
		}
		inner := append(append([]byte(nil), out[:header.EthernetMinimumSize]...), out[l3:]...)
		if pp.IsIPv6 {
			inner[12], inner[13] = 0x86, 0xdd
		}
		in.Parse(inner)
		t = in.Tuple
	}
	rs := t.DstAddr.Netip()
	return pk{src: rsMAC(rs), dst: port1MAC, sip: rs, dip: t.SrcAddr.Netip(), proto: t.Proto, sport: t.DstPort, dport: t.SrcPort}
}

func TestFastPathGolden(t *testing.T) {
	e := newFastEnv(t)
	for i, f := range fastFlows {
		t.Run(f.name, func(t *testing.T) {
			client, server := e.open(t, f, uint16(40100+i))
			if got := e.p.fast.log.n; got != 0 {
				t.Fatalf("log not handed over: %d", got)
			}
			var data []sent
			if f.proto == tcp {
				data = append(data, sent{"client data", client.seg("PA", 1101, 5101, 200).frame(t), 0},
					sent{"client ack, padded to 60 bytes", pad60(client.seg("A", 1301, 5101, 0).frame(t)), 0})
				if f.replies {
					data = append(data, sent{"server data", server.seg("PA", 5101, 1301, 300).frame(t), 1})
				}
			} else {
				data = append(data, sent{"client datagram", client.dgram(200).frame(t), 0})
				if f.replies {
					data = append(data, sent{"server datagram", server.dgram(300).frame(t), 1})
				}
			}
			for _, d := range data {
				e.golden(t, f, d)
			}
			e.mustSee(t, f, client, server)
		})
	}
	// Every packet the program forwarded was counted in its connection's slot; folded, the counts
	// reach the worker's counters.
	if e.p.c.fastRefused != 0 {
		t.Fatalf("the program refused %d records", e.p.c.fastRefused)
	}
	forwarded := e.stat(t, "fast_tx") + e.stat(t, "fast_redirect")
	if forwarded == 0 {
		t.Fatal("nothing went through the fast path")
	}
	before := e.p.c.fastPackets
	e.p.foldFast(t0+2*second, e.p.neigh.changes.Load())
	if got := e.p.c.fastPackets - before; got != forwarded {
		t.Errorf("folded %d packets, the program forwarded %d", got, forwarded)
	}
}

type sent struct {
	name  string
	frame []byte
	in    int
}

func pad60(f []byte) []byte {
	if len(f) >= 60 {
		return f
	}
	return append(f, make([]byte, 60-len(f))...)
}

// golden runs d through the program and the pipeline and compares them.
func (e *fastEnv) golden(t *testing.T, f fastFlow, d sent) {
	t.Helper()
	fwd0, tx0 := e.stat(t, "fast_tx")+e.stat(t, "fast_redirect"), e.stat(t, "fast_tx")
	ret, got := e.xdp(t, d.frame, d.in)
	v, port, want := e.run(t, d.frame, d.in)
	if v != VerdictTX {
		t.Fatalf("%s: the pipeline did not send it: %s", d.name, vname(v))
	}
	if !f.offloaded {
		if ret != xdpPass || !bytes.Equal(got, d.frame) {
			t.Errorf("%s: the program took a packet of a connection the worker keeps: %d, %x", d.name, ret, got)
		}
		return
	}
	// Redirected, to the ingress interface too (never XDP_TX: see fastpath.h).
	if ret != xdpRedirect {
		t.Errorf("%s: program returned %d, want XDP_REDIRECT (the worker sends it out of port %d)", d.name, ret, port)
	}
	if n := e.stat(t, "fast_tx") - tx0; (n == 1) != (port == d.in) {
		t.Errorf("%s: fast_tx moved by %d; the worker sends it out of port %d, received on %d", d.name, n, port, d.in)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: the program's frame differs from the worker's:\nprogram %s\nworker  %s\n%s", d.name,
			hex.EncodeToString(got), hex.EncodeToString(want), frameDiff(got, want))
	}
	if n := e.stat(t, "fast_tx") + e.stat(t, "fast_redirect"); n != fwd0+1 {
		t.Errorf("%s: fast-path forwards moved by %d, want 1", d.name, n-fwd0)
	}
}

// mustSee checks that the packets the worker must see leave the program untouched.
func (e *fastEnv) mustSee(t *testing.T, f fastFlow, client, server pk) {
	t.Helper()
	var cases []sent
	if f.proto == tcp {
		cases = append(cases, sent{"client FIN", client.seg("FA", 1501, 5101, 0).frame(t), 0},
			sent{"client RST", client.seg("R", 1501, 0, 0).frame(t), 0},
			sent{"client SYN", client.seg("S", 9000, 0, 0).frame(t), 0},
			sent{"client data on another port (a miss)", func() []byte { c := client; c.sport++; return c.seg("PA", 1, 1, 10).frame(t) }(), 0})
		if f.replies {
			cases = append(cases, sent{"server FIN", server.seg("FA", 5101, 1501, 0).frame(t), 1})
		}
	} else {
		cases = append(cases, sent{"client datagram, UDP length past the packet", func() []byte {
			b := client.dgram(20).frame(t)
			var pp header.Packet
			pp.Parse(b)
			b[pp.L4Offset+4], b[pp.L4Offset+5] = 0x7f, 0xff
			return b
		}(), 0})
	}
	cases = append(cases, sent{"IP length past the frame", func() []byte {
		b := client.seg("PA", 1101, 5101, 10).frame(t)
		if f.proto == udp {
			b = client.dgram(10).frame(t)
		}
		if f.cip.Is4() {
			b[16], b[17] = 0x7f, 0xff
		} else {
			b[18], b[19] = 0x7f, 0xff
		}
		return b
	}(), 0})
	if f.cip.Is4() {
		cases = append(cases, sent{"IPv4 first fragment (MF set)", func() []byte {
			b := client.seg("PA", 1101, 5101, 10).frame(t)
			if f.proto == udp {
				b = client.dgram(10).frame(t)
			}
			b[20] |= 0x20
			b[24], b[25] = 0, 0
			binary.BigEndian.PutUint16(b[24:], ^header.Checksum(b[14:34], 0))
			return b
		}(), 0})
	}
	if f.proto == tcp {
		cases = append(cases, sent{"TCP header cut short", client.seg("PA", 1101, 5101, 0).frame(t)[:header.EthernetMinimumSize+len4or6(f)+12], 0})
	}
	{
		c := client
		c.opts = true
		name := "IPv4 with an option"
		if f.cip.Is6() {
			name = "IPv6 with a destination-options header"
		}
		cases = append(cases, sent{name, c.seg("PA", 1101, 5101, 10).frame(t), 0})
		if f.proto == udp {
			cases[len(cases)-1].frame = c.dgram(10).frame(t)
		}
	}
	if f.tunnel {
		n := 1500 - 20 - 20 + 1 // one byte more than fits port 1's MTU in the tunnel
		if f.cip.Is6() {
			n = 1500 - 40 - 40 - 20 + 1
		}
		if f.proto == udp {
			n += 12
			cases = append(cases, sent{"too big for the tunnel", client.dgram(n).frame(t), 0})
		} else {
			cases = append(cases, sent{"too big for the tunnel", client.seg("PA", 1101, 5101, n).frame(t), 0})
		}
	}
	for _, c := range cases {
		fwd0 := e.stat(t, "fast_tx") + e.stat(t, "fast_redirect")
		ret, got := e.xdp(t, c.frame, c.in)
		if ret != xdpPass || !bytes.Equal(got, c.frame) {
			t.Errorf("%s: program returned %d (frame changed: %v), want it untouched for the worker", c.name, ret, !bytes.Equal(got, c.frame))
		}
		if n := e.stat(t, "fast_tx") + e.stat(t, "fast_redirect"); n != fwd0 {
			t.Errorf("%s: counted as forwarded by the fast path", c.name)
		}
	}
}

// TestFastPathRemoval: a connection's records leave the program's map when the worker removes it
// (a FIN, then its expiry), and its packets go to the worker again; a configuration change takes
// every record out, and the next packets make them afresh.
func TestFastPathRemoval(t *testing.T) {
	e := newFastEnv(t)
	f := fastFlows[0]
	client, server := e.open(t, f, 40300)
	if n, _ := e.st.FastRecords(); n != 2 {
		t.Fatalf("%d records after the handshake, want 2 (both directions)", n)
	}
	data := client.seg("PA", 1101, 5101, 100).frame(t)
	if ret, _ := e.xdp(t, data, 0); ret != xdpRedirect {
		t.Fatalf("data: %d, want the fast path's redirect", ret)
	}
	// The slot counted it; at its expiry the connection lives on from that packet.
	e.p.fast.now = t0 + 100*second
	e.p.setConfig(e.p.conf) // the same configuration, applied again
	if !e.p.fast.flushAll {
		t.Fatal("a new configuration does not ask for the records to go")
	}
	e.p.flushFast()
	if err := sendFastLog(e.st, e.p, &e.batch); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.st.FastRecords(); n != 0 {
		t.Fatalf("%d records after the flush, want 0", n)
	}
	if ret, _ := e.xdp(t, data, 0); ret != xdpPass {
		t.Fatalf("data after the flush: %d, want it for the worker", ret)
	}
	e.mustRun(t, data, 0)
	e.mustRun(t, server.seg("PA", 5101, 1201, 100).frame(t), 1)
	if n, _ := e.st.FastRecords(); n != 2 {
		t.Fatalf("%d records after the next packets, want 2 again", n)
	}
	e.mustRun(t, client.seg("FA", 1201, 5201, 0).frame(t), 0)
	id, _, ok := e.p.table.Lookup(&[]header.Tuple{tuple(tcp, f.cip, 40300, f.vip, 80)}[0])
	if !ok {
		t.Fatal("connection gone after the FIN")
	}
	if st := e.p.table.Entry(id).State; st == conntrack.StateEstablished {
		t.Fatalf("state %v after the client's FIN", st)
	}
	// Closing: the ACKs that end it move its state on, so its records went with the FIN.
	if n, _ := e.st.FastRecords(); n != 0 {
		t.Fatalf("%d records after the client's FIN, want 0", n)
	}
	if ret, _ := e.xdp(t, server.seg("A", 5201, 1202, 0).frame(t), 1); ret != xdpPass {
		t.Fatalf("the server's ACK of the FIN: %d, want it for the worker", ret)
	}
	e.mustRun(t, server.seg("FA", 5201, 1202, 0).frame(t), 1)
	e.mustRun(t, client.seg("A", 1202, 5202, 0).frame(t), 0)
	if n, _ := e.st.FastRecords(); n != 0 || e.p.c.fastRemoved != 4 || len(e.p.fast.list) != 0 {
		t.Fatalf("%d records, removed %d, list %d after the close", n, e.p.c.fastRemoved, len(e.p.fast.list))
	}
	e.p.remove(id, e.p.table.Entry(id))
	if e.p.c.fastRemoved != 4 {
		t.Fatalf("removed %d records after the connection went, want 4 (none left)", e.p.c.fastRemoved)
	}
}

// TestFastPathExpiry: a connection whose packets the program forwards does not expire while they
// come; the last one's time, in the program's jiffies mapped to the workers' clock, moves its
// expiry on.
func TestFastPathExpiry(t *testing.T) {
	e := newFastEnv(t)
	client, _ := e.open(t, fastFlows[2], 40400) // UDP NAT: a 300 s timeout
	id, _, _ := e.p.table.Lookup(&[]header.Tuple{tuple(udp, cip4, 40400, vip4, 53)}[0])
	c := e.p.table.Entry(id)
	exp := c.Expires()
	// The program forwards a datagram 10 s before the expiry (the pipeline's clock made to say so).
	last := exp - 10*second
	e.p.fast.clock = e.clockNow(last)
	frame := client.dgram(100).frame(t)
	if ret, _ := e.xdp(t, frame, 0); ret != xdpRedirect {
		t.Fatalf("the program did not forward the datagram: %d", ret)
	}
	e.p.expire(exp+second, 1024)
	if !e.p.table.InUse(id) {
		t.Fatal("the connection expired although the program forwarded a packet of it")
	}
	// The stamp is the jiffy's start (at most a tick early, and the clock's measurement a
	// millisecond off at worst), and the wheel rounds expiries up to its tick (268 ms).
	tick := e.st.FastClock().Tick
	if got, want := c.Expires(), last+e.p.conf.timeouts[conntrack.StateUDP]; got < want-tick-1e6 || got > want+300e6 {
		t.Fatalf("expires at %d, want %d (the program's last packet + the UDP timeout): %+d ms",
			got, want, (got-want)/1e6)
	}
	if ipLen := uint64(len(frame) - 14); e.p.c.svc[svcUDP4].InPkts == 0 || e.p.c.fastBytes != ipLen {
		t.Fatalf("the fold did not count the datagram: %+v, %d bytes, want %d", e.p.c.svc[svcUDP4], e.p.c.fastBytes, ipLen)
	}
	e.p.expire(c.Expires()+second, 1024)
	if e.p.table.InUse(id) {
		t.Fatal("an idle connection did not expire")
	}
}

// TestFastPathMapFull: a record the program's map refuses is undone: the connection stays with the
// worker (its packets reach it, it forwards them), counted, and no record is tried again until
// one is removed.
func TestFastPathMapFull(t *testing.T) {
	e := newFastEnv(t)
	// Fill the map (its least size, 1024 entries) with records of nobody's.
	f := fastFlows[0]
	if !f.cip.Is4() {
		t.Fatal("fastFlows[0] is not IPv4: fill the IPv6 map")
	}
	keys, recs := make([]xsk.FastKey4, 0, 1024), make([]xsk.FastRecord, 1024)
	for i := range 1024 {
		a := header.AddrFromNetip(netip.MustParseAddr("198.18.200.1"))
		keys = append(keys, fastKey4(&header.Tuple{SrcAddr: a, DstAddr: a, SrcPort: uint16(i), DstPort: 1, Proto: udp}))
	}
	if n, err := e.st.AddFast4(keys, recs); err != nil || n != 1024 {
		t.Fatalf("fill: %d, %v", n, err)
	}
	client, _ := e.open(t, f, 40500)
	if e.p.c.fastRefused == 0 || !e.p.fast.full || len(e.p.fast.list) != 0 || e.p.c.fastInstalled != 0 {
		t.Fatalf("refused %d, full %v, list %d, installed %d", e.p.c.fastRefused, e.p.fast.full, len(e.p.fast.list), e.p.c.fastInstalled)
	}
	data := client.seg("PA", 1101, 5101, 100).frame(t)
	if ret, got := e.xdp(t, data, 0); ret != xdpPass || !bytes.Equal(got, data) {
		t.Fatalf("a refused connection's packet: %d, want it for the worker", ret)
	}
	e.mustRun(t, data, 0)
	if e.p.fast.log.n != 0 {
		t.Fatal("a record was tried again while the map is full")
	}
	// A log of both families, interleaved, the IPv4 map full: the IPv6 additions go in, only the
	// IPv4 ones are refused.
	refused0 := e.p.c.fastRefused
	before, _ := e.st.FastRecords()
	l := &e.p.fast.log
	for i := range 8 {
		a := netip.MustParseAddr("198.18.201.1")
		if i%2 == 1 {
			a = netip.MustParseAddr("2001:2::201:1")
		}
		l.ops[l.n] = fastOp{add: true, key: header.Tuple{SrcAddr: header.AddrFromNetip(a), DstAddr: header.AddrFromNetip(a),
			SrcPort: uint16(i), DstPort: 2, Proto: udp}}
		l.n++
	}
	if err := sendFastLog(e.st, e.p, &e.batch); !errors.Is(err, unix.E2BIG) {
		t.Fatalf("sendFastLog: %v, want E2BIG (the IPv4 map is full)", err)
	}
	after, _ := e.st.FastRecords()
	if got := e.p.c.fastRefused - refused0; got != 4 || after != before+4 {
		t.Fatalf("%d refused, %d records went in; want the 4 IPv4 refused, the 4 IPv6 in", got, after-before)
	}
}

// TestFastPathNATDifferential: the program's NAT rewrite against the worker's (rewriteL3L4) over
// random packets: IPv4 and IPv6, TCP and UDP, random addresses, ports, payloads and checksum fields
// (0x0000 and 0xffff often), and random new addresses and ports, some unchanged; the record is
// natDeltas'. Every frame must come out byte-equal but for the MACs (the worker sets them later).
func TestFastPathNATDifferential(t *testing.T) {
	e := newFastEnv(t)
	r := testutil.Rand(t)
	addr := func(v4 bool) netip.Addr {
		if v4 {
			return netip.AddrFrom4([4]byte{198, 18 + byte(r.IntN(2)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		b := [16]byte{0x20, 0x01, 0, 2}
		for i := 6; i < 16; i++ {
			b[i] = byte(r.IntN(256))
		}
		return netip.AddrFrom16(b)
	}
	pick := func(old netip.Addr, v4 bool) netip.Addr {
		if r.IntN(3) == 0 {
			return old
		}
		return addr(v4)
	}
	pickPort := func(old uint16) uint16 {
		if r.IntN(3) == 0 {
			return old
		}
		return uint16(r.IntN(65536))
	}
	lp := &Pipeline{fast: &fastPath{}, c: new(counters)} // its log, through sendFastLog
	const n = 1500
	for i := range n {
		v4, proto := r.IntN(2) == 0, uint8(tcp)
		if r.IntN(2) == 0 {
			proto = udp
		}
		p := pk{src: cliMAC, dst: port0MAC, sip: addr(v4), dip: addr(v4), proto: proto,
			sport: uint16(r.IntN(65536)), dport: uint16(r.IntN(65536)), flags: "A", payload: r.IntN(200)}
		frame := p.frame(t)
		var pp header.Packet
		if pp.Parse(frame) != header.ParseOK {
			t.Fatalf("case %d does not parse", i)
		}
		csum := pp.L4Offset + 16
		if proto == udp {
			csum = pp.L4Offset + 6
		}
		switch r.IntN(4) {
		case 0:
			binary.BigEndian.PutUint16(frame[csum:], 0xffff)
		case 1:
			if proto == tcp || v4 {
				binary.BigEndian.PutUint16(frame[csum:], 0) // UDP/IPv4: no checksum
			}
		case 2:
			binary.BigEndian.PutUint16(frame[csum:], uint16(r.IntN(65536)))
		}
		if v4 && r.IntN(4) == 0 {
			binary.BigEndian.PutUint16(frame[header.EthernetMinimumSize+10:], []uint16{0, 0xffff}[r.IntN(2)])
		}
		pp.Parse(frame)
		// The other direction's tuple: new source = its destination, new destination = its source.
		newSrc, newDst := pick(p.sip, v4), pick(p.dip, v4)
		other := header.Tuple{SrcAddr: header.AddrFromNetip(newDst), DstAddr: header.AddrFromNetip(newSrc),
			SrcPort: pickPort(p.dport), DstPort: pickPort(p.sport), Proto: proto}
		want := append([]byte(nil), frame...)
		var wp header.Packet
		wp.Parse(want)
		rewriteL3L4(want, &wp, &other)

		rec := fastRec{kind: fastNAT, port: 1, ifindex: uint32(e.ports[1].Ifindex), slot: 0, dstMAC: p.dst, srcMAC: p.src,
			saddr: other.DstAddr, daddr: other.SrcAddr, sport: other.DstPort, dport: other.SrcPort}
		rec.l4Delta, rec.ipDelta = natDeltas(&pp.Tuple, &rec.saddr, &rec.daddr, rec.sport, rec.dport)
		lp.fast.log.ops[0], lp.fast.log.n = fastOp{add: true, key: pp.Tuple, rec: rec}, 1
		if err := sendFastLog(e.st, lp, &e.batch); err != nil {
			t.Fatal(err)
		}
		ret, got := e.xdp(t, frame, 0)
		lp.fast.log.ops[0].add, lp.fast.log.n = false, 1
		if err := sendFastLog(e.st, lp, &e.batch); err != nil || lp.c.fastErrors != 0 {
			t.Fatal(err, lp.c.fastErrors)
		}
		if ret != xdpRedirect {
			t.Fatalf("case %d: program returned %d", i, ret)
		}
		if !bytes.Equal(got[12:], want[12:]) {
			t.Fatalf("case %d (%s → %s, proto %d): the program's rewrite differs from the worker's:\nprogram %x\nworker  %x\n%s",
				i, p.sip, p.dip, proto, got, want, frameDiff(got, want))
		}
	}
}

// len4or6 is the IP header's length of f's client packets.
func len4or6(f fastFlow) int {
	if f.cip.Is4() {
		return 20
	}
	return 40
}
