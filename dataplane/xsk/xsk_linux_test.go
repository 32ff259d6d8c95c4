package xsk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

// Real AF_XDP on veth pairs in throw-away namespaces. Topology of most
// tests ("two-arm"):
//
//	cli (c0 198.18.0.1/24) <-> (d0 198.18.0.2/24) dir (d1 198.18.4.2/24) <-> (s0 198.18.4.1/24) srv
//
// The service VIP 198.18.1.1 is routed by cli via dir.

const (
	cliAddr = "198.18.0.1"
	dirAddr = "198.18.0.2"
	vip     = "198.18.1.1"
	vport   = 9000
)

type topo struct {
	cli, dir, srv *testutil.NetNS
	cd, ds        *testutil.VethPair
}

// newTopo builds cli <-> dir (and dir <-> srv when withSrv) with queues
// per veth.
func newTopo(t *testing.T, queues int, withSrv bool) *topo {
	t.Helper()
	testutil.RequireRoot(t)
	tp := &topo{cli: testutil.NewNetNS(t, "cli"), dir: testutil.NewNetNS(t, "dir")}
	tp.cd = testutil.NewVethPair(t, tp.cli, "c0", tp.dir, "d0", queues)
	tp.cli.Run(t, "ip", "addr", "add", cliAddr+"/24", "dev", "c0")
	tp.dir.Run(t, "ip", "addr", "add", dirAddr+"/24", "dev", "d0")
	tp.cli.Run(t, "ip", "route", "add", "198.18.1.0/24", "via", dirAddr)
	// Static neighbours: bursts sent before ARP resolves would overflow
	// the kernel's unresolved queue and be lost.
	tp.cli.Run(t, "ip", "neigh", "replace", dirAddr, "lladdr", testutil.Iface(t, tp.dir.NS, "d0").HardwareAddr.String(), "dev", "c0", "nud", "permanent")
	if withSrv {
		tp.srv = testutil.NewNetNS(t, "srv")
		tp.ds = testutil.NewVethPair(t, tp.dir, "d1", tp.srv, "s0", queues)
		tp.dir.Run(t, "ip", "addr", "add", "198.18.4.2/24", "dev", "d1")
		tp.srv.Run(t, "ip", "addr", "add", "198.18.4.1/24", "dev", "s0")
		tp.srv.Run(t, "ip", "addr", "add", vip+"/32", "dev", "lo")
		tp.srv.Run(t, "ip", "route", "add", "198.18.0.0/24", "via", "198.18.4.2")
		tp.srv.Run(t, "ip", "neigh", "replace", "198.18.4.2", "lladdr", testutil.Iface(t, tp.dir.NS, "d1").HardwareAddr.String(), "dev", "s0", "nud", "permanent")
		tp.srv.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.s0.rp_filter=0")
	}
	return tp
}

// newDirSteering attaches a Steering in dir to the given interfaces, with
// the VIP as a UDP service on vport.
func newDirSteering(t *testing.T, dir *testutil.NetNS, ifindexes ...int) *Steering {
	t.Helper()
	st, err := NewSteering(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Steering.Close: %v", err)
		}
	})
	dir.MustDo(t, func() error {
		for _, i := range ifindexes {
			m, err := st.Attach(i, AttachAuto)
			if err != nil {
				return err
			}
			t.Logf("steering attached to ifindex %d in %s mode", i, m)
		}
		return nil
	})
	if err := st.Update(Rules{
		Services: []Endpoint{{udp, netip.MustParseAddr(vip), vport}},
	}); err != nil {
		t.Fatal(err)
	}
	return st
}

func newTestUMEM(t *testing.T, o Options) *UMEM {
	t.Helper()
	u, err := NewUMEM(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Errorf("UMEM.Close: %v", err)
		}
	})
	return u
}

func mustBind(t *testing.T, ns *testutil.NetNS, u *UMEM, ifindex, queue int) *Socket {
	t.Helper()
	var s *Socket
	ns.MustDo(t, func() error {
		var err error
		s, err = u.Bind(ifindex, queue)
		return err
	})
	t.Logf("bound ifindex %d queue %d: zerocopy=%v txbudget=%d", ifindex, queue, s.ZeroCopy(), s.TXBudget())
	return s
}

func listenUDP(t *testing.T, ns *testutil.NetNS, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	ns.MustDo(t, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	})
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	return c
}

// checksum is the Internet checksum of b with an initial partial sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// fixUDP4 recomputes the IPv4 header and UDP checksums of an untagged
// Ethernet/IPv4(no options)/UDP frame.
func fixUDP4(f []byte) {
	iph := f[14:34]
	iph[10], iph[11] = 0, 0
	binary.BigEndian.PutUint16(iph[10:], checksum(iph, 0))
	udpSeg := f[34 : 14+int(binary.BigEndian.Uint16(iph[2:]))]
	udpSeg[6], udpSeg[7] = 0, 0
	var pseudo uint32
	for i := 12; i < 20; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(iph[i:]))
	}
	pseudo += unix.IPPROTO_UDP + uint32(len(udpSeg))
	c := checksum(udpSeg, pseudo)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udpSeg[6:], c)
}

// verifyUDP4 reports whether both checksums of the frame verify.
func verifyUDP4(f []byte) bool {
	g := append([]byte(nil), f...)
	fixUDP4(g)
	return bytes.Equal(f, g)
}

// reflect swaps MACs, IPv4 addresses and UDP ports and fixes checksums.
func reflect(f []byte) {
	var tmp [6]byte
	copy(tmp[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], tmp[:])
	var a [4]byte
	copy(a[:], f[26:30])
	copy(f[26:30], f[30:34])
	copy(f[30:34], a[:])
	sp := binary.BigEndian.Uint16(f[34:])
	binary.BigEndian.PutUint16(f[34:], binary.BigEndian.Uint16(f[36:]))
	binary.BigEndian.PutUint16(f[36:], sp)
	fixUDP4(f)
}

func payload(seq int) []byte {
	p := make([]byte, 64)
	binary.BigEndian.PutUint64(p, uint64(seq))
	for i := 8; i < len(p); i++ {
		p[i] = byte(seq*7 + i)
	}
	return p
}

// worker runs fn in a loop on its own goroutine until stop is closed or
// the deadline passes; the UMEM is used from that goroutine only.
func worker(t *testing.T, limit time.Duration, fn func() int) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			select {
			case <-done:
				return
			default:
			}
			if fn() == 0 {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// TestReflectUDP: the kernel in cli sends UDP to the VIP; the steering
// program redirects it to our socket on d0, which reflects it; a kernel
// UDP socket in cli reads it back. (a) and (e) of the test plan.
func TestReflectUDP(t *testing.T) {
	tp := newTopo(t, 1, false)
	st := newDirSteering(t, tp.dir, tp.cd.BIndex)
	u := newTestUMEM(t, DefaultOptions())
	s := mustBind(t, tp.dir, u, tp.cd.BIndex, 0)
	if s.ZeroCopy() {
		t.Log("note: zero-copy on veth")
	}
	if err := st.Register(s); err != nil {
		t.Fatal(err)
	}
	client := listenUDP(t, tp.cli, cliAddr+":0")

	var reflected, badsum atomic.Int64
	descs := make([]Desc, 64)
	stop := worker(t, 20*time.Second, func() int {
		n := s.Receive(descs)
		for i := range n {
			f := u.Frame(descs[i].Addr)[:descs[i].Len]
			if !verifyUDP4(f) {
				badsum.Add(1)
			}
			reflect(f)
		}
		sent := s.Transmit(descs[:n])
		for _, d := range descs[sent:n] {
			u.Free(d.Addr)
		}
		reflected.Add(int64(sent))
		s.Complete()
		return n
	})
	defer stop()

	const total, burst = 1000, 50
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(fmt.Sprintf("%s:%d", vip, vport)))
	got := map[uint64]bool{}
	buf := make([]byte, 2048)
	start := time.Now()
	for sent := 0; sent < total; sent += burst {
		for i := sent; i < sent+burst; i++ {
			if _, err := client.WriteToUDP(payload(i), to); err != nil {
				t.Fatal(err)
			}
		}
		for len(got) < sent+burst {
			_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, from, err := client.ReadFromUDPAddrPort(buf)
			if err != nil {
				stats, _ := st.Stats()
				xs, _ := s.Statistics()
				t.Fatalf("after %d replies: %v (steering %v, socket %+v, reflected %d)", len(got), err, stats, xs, reflected.Load())
			}
			seq := binary.BigEndian.Uint64(buf)
			if n != 64 || !bytes.Equal(buf[:n], payload(int(seq))) {
				t.Fatalf("corrupted reply % x", buf[:n])
			}
			if from.Addr().String() != vip || from.Port() != vport {
				t.Fatalf("reply from %v", from)
			}
			got[seq] = true
		}
	}
	elapsed := time.Since(start)
	stop()
	// The per-packet verbs do not allocate (idle rings here).
	if n := testing.AllocsPerRun(100, func() {
		n := s.Receive(descs)
		s.Transmit(descs[:n])
		s.Complete()
		s.Refill()
		s.Wakeup()
	}); n != 0 {
		t.Errorf("per-packet verbs allocate: %v", n)
	}
	if badsum.Load() != 0 {
		t.Errorf("%d received frames had bad checksums", badsum.Load())
	}
	stats, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	xs, err := s.Statistics()
	if err != nil {
		t.Fatalf("XDP_STATISTICS: %v", err)
	}
	t.Logf("%d packets reflected in %v; steering %v; XDP_STATISTICS %+v; free frames %d", total, elapsed, stats, xs, u.FreeCount())
	if stats["match_service"] < total || stats["redirected"] < total || stats["redirect_no_socket"] != 0 {
		t.Errorf("steering counters %v", stats)
	}
	if xs.RxDropped != 0 || xs.RxInvalidDescs != 0 || xs.TxInvalidDescs != 0 {
		t.Errorf("socket drops: %+v", xs)
	}
	if u.FreeCount()+u.Options().FillSize != u.Options().NumFrames {
		t.Errorf("frame accounting: %d free + %d in fill ring != %d", u.FreeCount(), u.Options().FillSize, u.Options().NumFrames)
	}
}

// TestForwardSharedUMEM: a worker with one UMEM and sockets on d0 and d1
// forwards frames for the VIP from cli to srv (a DR-style MAC rewrite)
// without copying: every frame leaves d1 from the UMEM address it arrived
// at on d0. (b)
func TestForwardSharedUMEM(t *testing.T) {
	tp := newTopo(t, 1, true)
	d1 := tp.ds.AIndex
	st := newDirSteering(t, tp.dir, tp.cd.BIndex, d1)
	u := newTestUMEM(t, DefaultOptions())
	in := mustBind(t, tp.dir, u, tp.cd.BIndex, 0)
	out := mustBind(t, tp.dir, u, d1, 0)
	if in.ZeroCopy() != out.ZeroCopy() {
		t.Fatal("sharer has a different mode")
	}
	for _, s := range []*Socket{in, out} {
		if err := st.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	srcMAC, dstMAC := testutil.Iface(t, tp.dir.NS, "d1").HardwareAddr, testutil.Iface(t, tp.srv.NS, "s0").HardwareAddr
	server := listenUDP(t, tp.srv, fmt.Sprintf("%s:%d", vip, vport))
	client := listenUDP(t, tp.cli, cliAddr+":0")

	var forwarded, mismatched atomic.Int64
	descs := make([]Desc, 64)
	rxAddrs := make([]uint64, 64)
	stop := worker(t, 20*time.Second, func() int {
		n := in.Receive(descs)
		for i := range n {
			f := u.Frame(descs[i].Addr)
			copy(f[0:6], dstMAC)
			copy(f[6:12], srcMAC)
			rxAddrs[i] = descs[i].Addr
		}
		sent := out.Transmit(descs[:n])
		for i, d := range descs[:n] {
			if d.Addr != rxAddrs[i] {
				mismatched.Add(1)
			}
		}
		for _, d := range descs[sent:n] {
			u.Free(d.Addr)
		}
		forwarded.Add(int64(sent))
		out.Complete()
		in.Complete()
		return n
	})
	defer stop()

	const total, burst = 1000, 50
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(fmt.Sprintf("%s:%d", vip, vport)))
	got := 0
	buf := make([]byte, 2048)
	for sent := 0; sent < total; sent += burst {
		for i := sent; i < sent+burst; i++ {
			if _, err := client.WriteToUDP(payload(i), to); err != nil {
				t.Fatal(err)
			}
		}
		for got < sent+burst {
			_ = server.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, from, err := server.ReadFromUDPAddrPort(buf)
			if err != nil {
				stats, _ := st.Stats()
				xi, _ := in.Statistics()
				xo, _ := out.Statistics()
				t.Fatalf("after %d: %v (steering %v, in %+v, out %+v, forwarded %d)", got, err, stats, xi, xo, forwarded.Load())
			}
			if !bytes.Equal(buf[:n], payload(got)) || from.Addr().String() != cliAddr {
				t.Fatalf("datagram %d from %v: % x", got, from, buf[:n])
			}
			got++
		}
	}
	stop()
	if mismatched.Load() != 0 {
		t.Fatalf("%d descriptors changed address between RX and TX", mismatched.Load())
	}
	xo, err := out.Statistics()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forwarded %d without copy; out socket %+v; free %d", forwarded.Load(), xo, u.FreeCount())
}

// TestTwoQueues binds queue 0 and queue 1 of a 2-queue veth, with one
// UMEM per queue (two workers) and with one UMEM shared by both queues, and
// checks that flows spread over both sockets and all arrive. (c)
func TestTwoQueues(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "umem_per_queue", true: "shared_umem"}[shared], func(t *testing.T) {
			tp := newTopo(t, 2, false)
			d0 := tp.cd.BIndex
			st := newDirSteering(t, tp.dir, d0)
			o := DefaultOptions()
			o.NumFrames = 2048
			o.FillSize, o.CompletionSize, o.RXSize, o.TXSize = 512, 512, 512, 512
			u0 := newTestUMEM(t, o)
			u1 := u0
			if !shared {
				u1 = newTestUMEM(t, o)
			}
			socks := []*Socket{mustBind(t, tp.dir, u0, d0, 0), mustBind(t, tp.dir, u1, d0, 1)}
			for _, s := range socks {
				if err := st.Register(s); err != nil {
					t.Fatal(err)
				}
			}
			// Many client sockets: the veth TX queue follows each
			// socket's random flow hash.
			const flows, perFlow = 32, 20
			clients := make([]*net.UDPConn, flows)
			for i := range clients {
				clients[i] = listenUDP(t, tp.cli, cliAddr+":0")
			}
			to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(fmt.Sprintf("%s:%d", vip, vport)))
			// Both sockets belong to this goroutine: send one datagram per
			// flow, then poll until they are in, so that no more than
			// `flows` frames are in flight (the fill rings hold 512).
			var perQueue [2]int
			descs := make([]Desc, 64)
			deadline := time.Now().Add(10 * time.Second)
			for i := range perFlow {
				for _, c := range clients {
					if _, err := c.WriteToUDP(payload(i), to); err != nil {
						t.Fatal(err)
					}
				}
				for perQueue[0]+perQueue[1] < (i+1)*flows && time.Now().Before(deadline) {
					idle := true
					for q, s := range socks {
						u := u0
						if q == 1 {
							u = u1
						}
						n := s.Receive(descs)
						for _, d := range descs[:n] {
							f := u.Frame(d.Addr)
							if !bytes.Equal(f[42:d.Len], payload(int(binary.BigEndian.Uint64(f[42:])))) {
								t.Fatalf("queue %d: corrupted frame", q)
							}
							u.Free(d.Addr)
						}
						perQueue[q] += n
						idle = idle && n == 0
					}
					if idle {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			stats, _ := st.Stats()
			t.Logf("queue 0: %d, queue 1: %d packets; steering %v", perQueue[0], perQueue[1], stats)
			if perQueue[0]+perQueue[1] != flows*perFlow {
				for q, s := range socks {
					xs, _ := s.Statistics()
					t.Logf("queue %d: %+v fill prod %d cons %d", q, xs, *s.fill.producer, *s.fill.consumer)
				}
				t.Logf("free %d %d", u0.FreeCount(), u1.FreeCount())
				t.Fatalf("received %d of %d", perQueue[0]+perQueue[1], flows*perFlow)
			}
			if perQueue[0] == 0 || perQueue[1] == 0 {
				t.Fatalf("one queue got nothing: %v", perQueue)
			}
			for q, s := range socks {
				xs, err := s.Statistics()
				if err != nil {
					t.Fatal(err)
				}
				if xs.RxDropped != 0 || xs.RxRingFull != 0 {
					t.Errorf("queue %d drops: %+v", q, xs)
				}
			}
		})
	}
}

// TestRedirectVerdict: with a bound socket in the XSKMAP, the program
// returns XDP_REDIRECT for a service frame under BPF_PROG_TEST_RUN.
func TestRedirectVerdict(t *testing.T) {
	tp := newTopo(t, 1, false)
	st, prog, xsks := newTestSteering(t)
	u := newTestUMEM(t, DefaultOptions())
	s := mustBind(t, tp.dir, u, tp.cd.BIndex, 0)
	if err := xsks.Update(uint32(0), uint32(s.FD()), ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	ret, d := runFrame(t, st, prog, v4(t, "tcp", "198.18.0.100", 12345, "198.18.1.1", 80))
	if ret != xdpRedirect || d["redirected"] != 1 || d["match_service"] != 1 {
		t.Fatalf("service frame: return %d, counters %v", ret, d)
	}
	ret, d = runFrame(t, st, prog, v4(t, "tcp", "198.18.2.10", 8080, "198.18.2.1", 1))
	if ret != xdpPass || d["redirected"] != 0 {
		t.Fatalf("director's own connection: return %d, counters %v", ret, d)
	}
}

func xdpAttached(t *testing.T, ns *testutil.NetNS, ifindex int) (uint32, bool) {
	t.Helper()
	var x *netlink.LinkXdp
	ns.MustDo(t, func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		x = l.Attrs().Xdp
		return nil
	})
	if x == nil {
		return 0, false
	}
	return x.ProgId, x.Attached
}

// TestTeardown: after Close nothing stays attached, a new Steering can
// attach at once, a UMEM can rebind the same queue right after Close, a
// stale program of ours attached without a link is replaced, and somebody
// else's program is refused. (d)
func TestTeardown(t *testing.T) {
	tp := newTopo(t, 1, false)
	d0 := tp.cd.BIndex
	for i := range 3 {
		st, err := NewSteering(1 << 16)
		if err != nil {
			t.Fatal(err)
		}
		u := newTestUMEM(t, DefaultOptions())
		s := mustBind(t, tp.dir, u, d0, 0)
		tp.dir.MustDo(t, func() error { _, err := st.Attach(d0, AttachAuto); return err })
		if err := st.Register(s); err != nil {
			t.Fatal(err)
		}
		if _, ok := xdpAttached(t, tp.dir, d0); !ok {
			t.Fatalf("round %d: nothing attached", i)
		}
		// A second Steering must not steal the interface.
		other, err := NewSteering(1 << 16)
		if err != nil {
			t.Fatal(err)
		}
		var aerr error
		tp.dir.MustDo(t, func() error { _, aerr = other.Attach(d0, AttachAuto); return nil })
		other.Close()
		if !errors.Is(aerr, ErrInterfaceBusy) {
			t.Fatalf("second Attach: %v, want ErrInterfaceBusy", aerr)
		}
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if id, ok := xdpAttached(t, tp.dir, d0); ok {
			t.Fatalf("round %d: program %d still attached after Close", i, id)
		}
	}

	// A stale xdpvs_steer attached the legacy way (as by a crashed run).
	st, err := NewSteering(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stale, staleMap, err := st.Program()
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	defer staleMap.Close()
	legacyAttach(t, tp.dir, d0, stale)
	var mode AttachMode
	tp.dir.MustDo(t, func() error { mode, err = st.Attach(d0, AttachAuto); return err })
	id, ok := xdpAttached(t, tp.dir, d0)
	info, _ := stale.Info()
	staleID, _ := info.ID()
	if !ok || id == uint32(staleID) {
		t.Fatalf("stale program not replaced (attached %v id %d, stale %d)", ok, id, staleID)
	}
	t.Logf("stale program %d replaced by %d (%s)", staleID, id, mode)
	if err := st.Detach(d0); err != nil {
		t.Fatal(err)
	}

	// Somebody else's program stays.
	foreign, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "not_xdpvs", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	legacyAttach(t, tp.dir, d0, foreign)
	t.Cleanup(func() { tp.dir.Exec("ip", "link", "set", "dev", "d0", "xdp", "off") })
	tp.dir.MustDo(t, func() error { _, err = st.Attach(d0, AttachAuto); return nil })
	if !errors.Is(err, ErrInterfaceBusy) {
		t.Fatalf("Attach over a foreign program: %v, want ErrInterfaceBusy", err)
	}
	t.Logf("foreign program refused: %v", err)
	tp.dir.Run(t, "ip", "link", "set", "dev", "d0", "xdp", "off")
}

func legacyAttach(t *testing.T, ns *testutil.NetNS, ifindex int, p *ebpf.Program) {
	t.Helper()
	ns.MustDo(t, func() error {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, p.FD(), unix.XDP_FLAGS_DRV_MODE)
	})
}

// TestRebindAfterClose: a queue can be bound again right after the
// previous UMEM is closed (the kernel may answer EBUSY for ~30 ms).
func TestRebindAfterClose(t *testing.T) {
	tp := newTopo(t, 1, false)
	for range 5 {
		u, err := NewUMEM(DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		tp.dir.MustDo(t, func() error { _, err := u.Bind(tp.cd.BIndex, 0); return err })
		t.Logf("bind took %v", time.Since(start))
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUMEMFreeStack exercises the free stack without sockets.
func TestUMEMFreeStack(t *testing.T) {
	o := DefaultOptions()
	o.NumFrames, o.FrameSize = 8, 2048
	u, err := NewUMEM(o)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.MaxPacket() != 2048-256 {
		t.Fatalf("MaxPacket %d", u.MaxPacket())
	}
	seen := map[uint64]bool{}
	for range 8 {
		a, ok := u.Alloc()
		if !ok || seen[a] || a%2048 != 0 {
			t.Fatalf("Alloc %d %v", a, ok)
		}
		seen[a] = true
		if f := u.Frame(a + 256); len(f) != 2048-256 {
			t.Fatalf("Frame len %d", len(f))
		}
	}
	if _, ok := u.Alloc(); ok || u.FreeCount() != 0 {
		t.Fatal("Alloc beyond NumFrames")
	}
	u.Free(3*2048 + 300) // an RX address inside frame 3
	if a, _ := u.Alloc(); a != 3*2048 {
		t.Fatalf("Free did not round to the frame: %d", a)
	}
	if n := testing.AllocsPerRun(100, func() { a, _ := u.Alloc(); u.Free(a) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
