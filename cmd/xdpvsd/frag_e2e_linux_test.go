package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// fragSizes are the UDP payloads of the fragment tests: 4, 8 and 60 KB, in 3, 6 and 42 fragments
// of 1500 bytes.
var fragSizes = []int{4 << 10, 8 << 10, 60 << 10}

// TestFragments sends UDP datagrams of 4, 8 and 60 KB through NAT, FULLNAT, NAT64, TUN and DR,
// IPv4 and IPv6, with one worker and with two on two-queue veths: the client's kernel fragments each, the
// real server's kernel reassembles it and echoes it back (fragmented again: through the director
// for NAT and FULLNAT, directly for TUN and DR), and every echo carries the datagram intact (SHA-256).
// TUN's links have an MTU of 1500, so the director fragments the client's 1500-byte IPv4
// fragments again for the tunnel (frag_made), and answers IPv6 ones with packet too big, after
// which the client's kernel fragments to fit (the first datagram is sent again).
func TestFragments(t *testing.T) {
	for _, m := range modes {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/workers=%d", m.name, workers), func(t *testing.T) {
				shared := m.env(t, fmt.Sprintf("fr%s%d", strings.ToLower(m.name[:2]), workers), workers)
				for _, f := range m.families {
					t.Run(string(f), func(t *testing.T) {
						e := *shared
						e.t = t
						m.services(&e, f)
						// Small datagrams first, so that the client's neighbour is resolved: a
						// first fragment dropped for it (neigh_miss) would drop the others.
						e.udp(f.client6(), 4)
						before := e.events("frag_made", "frag_held")
						for _, size := range fragSizes {
							e.bigUDP(f.client6(), size, 5)
						}
						after := e.events("frag_made", "frag_held")
						t.Logf("frag_made %d, frag_held %d", after["frag_made"]-before["frag_made"], after["frag_held"]-before["frag_held"])
						if m.name == "TUN" && !f.client6() {
							if after["frag_made"] == before["frag_made"] {
								t.Error("no fragments made for the tunnel")
							}
							e.tcpWithoutDF()
						}
						e.noFragDrops()
					})
				}
				e := *shared
				e.t = t
				e.checkWorkers(workers)
			})
		}
	}
}

// tcpWithoutDF turns path MTU discovery off on the client, so that its TCP segments go without DF
// (as some hosts' do), and moves 8 MiB each way through the TUN service: the director fragments
// each full-size segment for the tunnel, the real server's kernel reassembles it, and both digests
// match.
func (e *env) tcpWithoutDF() {
	e.t.Helper()
	if out, err := e.clientNS.Exec("sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1"); err != nil {
		e.t.Fatalf("sysctl: %v: %s", err, out)
	}
	before := e.events("frag_made")["frag_made"]
	e.transfers(false, 8<<20)
	made := e.events("frag_made")["frag_made"] - before
	e.t.Logf("TCP without DF: %d fragments made for the tunnel", made)
	if made < 2*(8<<20)/1460 {
		e.t.Errorf("%d fragments made for 8 MiB of TCP segments without DF", made)
	}
}

// bigUDP sends n datagrams of size bytes (distinct contents, each from a new source port) to
// VIP:53 and checks that each echo carries it intact, "rs<i>:" before it. A datagram is sent
// again after a second without its echo, three times at most.
func (e *env) bigUDP(v6 bool, size, n int) {
	e.t.Helper()
	vip := netip.AddrPortFrom(netip.MustParseAddr(e.vip(v6)), 53)
	buf := make([]byte, 65536)
	for i := range n {
		var c *net.UDPConn
		local := &net.UDPAddr{Port: int(udpPort.Add(1))}
		if err := e.clientNS.Do(func() (err error) { c, err = net.DialUDP("udp", local, net.UDPAddrFromAddrPort(vip)); return }); err != nil {
			e.t.Fatal(err)
		}
		msg, _ := io.ReadAll(topo.Data(uint64(size+i), int64(size)))
		var reply []byte
		for try := 0; try < 3 && reply == nil; try++ {
			if _, err := c.Write(msg); err != nil {
				e.t.Fatalf("%d-byte datagram %d: %v", size, i, err)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			if k, err := c.Read(buf); err == nil {
				reply = buf[:k]
			}
		}
		c.Close()
		name, payload, ok := bytes.Cut(reply, []byte(":"))
		if !ok || !strings.HasPrefix(string(name), "rs") || sha256.Sum256(payload) != sha256.Sum256(msg) {
			e.t.Fatalf("%d-byte datagram %d: echo of %d bytes from %q does not match (SHA-256)\n%s", size, i, len(reply), name,
				e.adm1("show", "drops"))
		}
	}
}

// noFragDrops fails the test if a worker dropped a fragment for anything but load (a full ring).
func (e *env) noFragDrops() {
	e.t.Helper()
	for _, w := range e.workerStats() {
		for _, d := range w.Drops {
			if strings.HasPrefix(d.Name, "frag") && d.Count != 0 {
				e.t.Errorf("worker %d dropped %d fragments as %s", w.ID, d.Count, d.Name)
			}
		}
	}
}

// rawSender sends Ethernet frames on an interface of a namespace through an AF_PACKET socket that
// bypasses the qdisc, from a thread pinned to a CPU: the kernel then puts each frame on the
// veth's transmit queue of that CPU's number (modulo the queues), which is the receive queue the
// director's peer interface sees, so that a test chooses each frame's worker.
type rawSender struct {
	fd       int
	src, dst net.HardwareAddr // the interface's MAC, and its peer's
}

// newRawSender opens a raw socket on ifname in namespace ns, the veth facing the director's
// interface peer in namespace dir.
func newRawSender(t *testing.T, ns *netns.NS, ifname string, dir *netns.NS, peer string) *rawSender {
	t.Helper()
	s := &rawSender{}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		s.src = ifi.HardwareAddr
		if s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err != nil {
			return err
		}
		if err := unix.Bind(s.fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			return err
		}
		return unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	})
	if err == nil {
		err = dir.Do(func() error {
			ifi, err := net.InterfaceByName(peer)
			if err == nil {
				s.dst = ifi.HardwareAddr
			}
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// sendOn sends each frame from CPU cpus[i % len(cpus)], in order.
func (s *rawSender) sendOn(t *testing.T, frames [][]byte, cpus []int) {
	t.Helper()
	type job struct {
		frame []byte
		done  chan error
	}
	var workers []chan job
	for _, cpu := range cpus {
		c := make(chan job)
		workers = append(workers, c)
		go func() {
			// The thread stays locked to the end: the goroutine's exit then ends the thread with
			// its changed affinity. Unlocked, it went back to the runtime's pool pinned to one CPU,
			// and later tests of the process started daemons from it (which inherited the
			// affinity: TestWorkersAuto saw one CPU, TestHAOSPF a daemon pinned to one CPU).
			runtime.LockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			err := unix.SchedSetaffinity(0, &set)
			for j := range c {
				if err == nil {
					_, err = unix.Write(s.fd, j.frame)
				}
				j.done <- err
			}
		}()
	}
	defer func() {
		for _, c := range workers {
			close(c)
		}
	}()
	for i, f := range frames {
		done := make(chan error)
		workers[i%len(workers)] <- job{frame: f, done: done}
		if err := <-done; err != nil {
			t.Fatalf("raw send: %v", err)
		}
	}
}

// udpFragments builds a UDP datagram from src to dst with payload, and returns its fragments of
// at most mtu bytes of IP packet, as Ethernet frames from s, with identification id.
func (s *rawSender) udpFragments(t *testing.T, src, dst netip.AddrPort, payload []byte, id uint32, mtu int) [][]byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: s.src, DstMAC: s.dst, EthernetType: layers.EthernetTypeIPv4}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	var ip gopacket.SerializableLayer
	if src.Addr().Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: uint16(id), Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	whole := buf.Bytes()
	l2, l3 := whole[:14], whole[14:]
	hl := 20
	if src.Addr().Is6() {
		hl = 40
	}
	data := l3[hl:]
	step := (mtu - hl) &^ 7
	if src.Addr().Is6() {
		step = (mtu - hl - 8) &^ 7
	}
	var out [][]byte
	for off := 0; off < len(data); off += step {
		chunk := data[off:min(off+step, len(data))]
		more := off+step < len(data)
		f := append([]byte(nil), l2...)
		hdr := append([]byte(nil), l3[:hl]...)
		if src.Addr().Is6() {
			hdr[6] = 44 // a fragment header
			binary.BigEndian.PutUint16(hdr[4:], uint16(8+len(chunk)))
			fh := make([]byte, 8)
			fh[0] = 17
			binary.BigEndian.PutUint16(fh[2:], uint16(off)|map[bool]uint16{true: 1}[more])
			binary.BigEndian.PutUint32(fh[4:], id)
			f = append(append(append(f, hdr...), fh...), chunk...)
		} else {
			binary.BigEndian.PutUint16(hdr[2:], uint16(hl+len(chunk)))
			binary.BigEndian.PutUint16(hdr[6:], uint16(off>>3)|map[bool]uint16{true: 0x2000}[more])
			hdr[10], hdr[11] = 0, 0
			var sum uint32
			for i := 0; i < hl; i += 2 {
				sum += uint32(binary.BigEndian.Uint16(hdr[i:]))
			}
			for sum > 0xffff {
				sum = sum>>16 + sum&0xffff
			}
			binary.BigEndian.PutUint16(hdr[10:], ^uint16(sum))
			f = append(append(f, hdr...), chunk...)
		}
		out = append(out, f)
	}
	return out
}

// workerRx returns the packets each worker received from its own queues (not handed over).
func (e *env) workerRx() []uint64 {
	e.t.Helper()
	var rx []uint64
	for _, w := range e.workerStats() {
		rx = append(rx, w.RXPackets-w.HandoffsIn)
	}
	return rx
}

// checkSpread checks that sendOn puts frames on the queue of the CPU it sends from: 40 TCP ACKs
// without a connection to VIP:80 (dropped as no_conn, no answer) from CPU 0 reach one worker's
// queue only, 40 from CPU 1 the other's.
func (e *env) checkSpread(raw *rawSender, v6 bool) {
	e.t.Helper()
	client := netip.MustParseAddr(map[bool]string{false: topo.Client4, true: topo.Client6}[v6])
	vip := netip.AddrPortFrom(netip.MustParseAddr(e.vip(v6)), 80)
	var got [2][]uint64
	for cpu := range 2 {
		var acks [][]byte
		for i := range 40 {
			acks = append(acks, raw.tcpACK(e.t, netip.AddrPortFrom(client, uint16(30000+i)), vip))
		}
		rx0 := e.workerRx()
		raw.sendOn(e.t, acks, []int{cpu})
		time.Sleep(100 * time.Millisecond)
		rx1 := e.workerRx()
		got[cpu] = []uint64{rx1[0] - rx0[0], rx1[1] - rx0[1]}
	}
	if !(got[0][0] == 40 && got[0][1] == 0 && got[1][0] == 0 && got[1][1] == 40) && !(got[0][0] == 0 && got[0][1] == 40 && got[1][0] == 40 && got[1][1] == 0) {
		e.t.Fatalf("ACKs from CPU 0 reached the workers' queues %v, from CPU 1 %v: want 40 on one each", got[0], got[1])
	}
}

// tcpACK builds a TCP ACK from src to dst, as an Ethernet frame from s.
func (s *rawSender) tcpACK(t *testing.T, src, dst netip.AddrPort) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: s.src, DstMAC: s.dst, EthernetType: layers.EthernetTypeIPv4}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), ACK: true, Seq: 1, Ack: 1, Window: 1024}
	var ip gopacket.SerializableLayer
	if src.Addr().Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestFragmentsOutOfOrder sends UDP datagrams of 4, 8 and 60 KB through NAT, FULLNAT, NAT64, DR
// and TUN with two workers as raw fragments the test crafts, spread over both workers' queues
// (alternately) and out of order (reversed; the first in the middle), IPv4 and IPv6 (checkSpread
// shows the spreading works): the fragments meet on their datagram's gatherer, those before the
// first are held and released after it, and every echo comes back intact (SHA-256). The frames
// leave from the veth facing the director's d0, so that the test chooses their queue: the
// client's (two-arm layout), the switch's port (DR) or the router's (TUN).
func TestFragmentsOutOfOrder(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("spreading frames over two queues takes two CPUs to send from")
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { fragmentsOutOfOrder(t, m) })
	}
}

// fragmentsOutOfOrder is TestFragmentsOutOfOrder for one mode.
func fragmentsOutOfOrder(t *testing.T, m mode) {
	name := "froo" + strings.ToLower(m.name[:2]) + strings.ToLower(m.name[len(m.name)-1:])
	e := m.env(t, name, 2)
	prefix := topo.Prefix(name)
	dir := &netns.NS{Name: prefix + "-dir"}
	sender, ifname := e.clientNS, "c0"
	switch m.name {
	case "DR":
		sender, ifname = &netns.NS{Name: prefix + "-sw"}, "sd"
	case "TUN":
		sender, ifname = &netns.NS{Name: prefix + "-rt"}, "rd"
	}
	raw := newRawSender(t, sender, ifname, dir, "d0")
	for _, f := range m.families {
		v6 := f.client6()
		t.Run(string(f), func(t *testing.T) {
			e := *e
			e.t = t
			m.services(&e, f) // TCP VIP:80 (for checkSpread) and UDP VIP:53
			e.udp(v6, 4)      // the client's neighbour resolved
			e.checkSpread(raw, v6)
			client := netip.MustParseAddr(map[bool]string{false: topo.Client4, true: topo.Client6}[v6])
			vip := netip.AddrPortFrom(netip.MustParseAddr(e.vip(v6)), 53)
			rx0, held0 := e.workerRx(), e.events("frag_held")["frag_held"]
			for i, size := range []int{4 << 10, 8 << 10, 60 << 10, 60 << 10} {
				port := uint16(udpPort.Add(1))
				var c *net.UDPConn
				if err := e.clientNS.Do(func() (err error) {
					c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, port)))
					return
				}); err != nil {
					t.Fatal(err)
				}
				msg, _ := io.ReadAll(topo.Data(uint64(100+i), int64(size)))
				frags := raw.udpFragments(t, netip.AddrPortFrom(client, port), vip, msg, uint32(0x5000+i), 1400) // within TUN's MTU
				if i%2 == 0 {
					slices.Reverse(frags)
				} else {
					mid := len(frags) / 2
					frags[0], frags[mid] = frags[mid], frags[0]
				}
				raw.sendOn(t, frags, []int{0, 1})
				buf := make([]byte, 65536)
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				k, err := c.Read(buf)
				c.Close()
				name, payload, ok := bytes.Cut(buf[:max(k, 0)], []byte(":"))
				if err != nil || !ok || sha256.Sum256(payload) != sha256.Sum256(msg) {
					t.Fatalf("%d-byte datagram in %d fragments out of order: echo of %d bytes from %q (%v) does not match\n%s", size, len(frags), k, name, err,
						e.adm1("show", "drops"))
				}
			}
			rx1, held1 := e.workerRx(), e.events("frag_held")["frag_held"]
			t.Logf("received per worker's queues %d, %d; fragments held %d", rx1[0]-rx0[0], rx1[1]-rx0[1], held1-held0)
			if rx1[0]-rx0[0] < 40 || rx1[1]-rx0[1] < 40 || held1 == held0 {
				t.Fatal("the fragments were not spread over both workers' queues, or none came before its first")
			}
			e.noFragDrops()
		})
	}
	e.t = t
	e.checkWorkers(2)
}

// TestFragmentFlood sends 20,000 full-size later fragments, each of its own datagram (none has a
// first), to the VIP over both queues, after a first flood of 5,000: each is held or dropped and counted
// (frag_held, frag_buffer_full), the daemon's memory does not grow in the second flood, whole
// datagrams still pass during it, and the held fragments are dropped when their time is up
// (frag_timeout).
func TestFragmentFlood(t *testing.T) {
	e := newEnv(t, "frflood", 2)
	raw := newRawSender(t, e.clientNS, "c0", e.nat.Director, "d0")
	e.natService("-u", false)
	e.udp(false, 4)
	vip := netip.AddrPortFrom(netip.MustParseAddr(topo.VIP4), 53)
	// From another (spoofed) source: the client's own datagrams would meet flood fragments of their
	// identification (the kernel's IDs are anyone's guess), as in any reassembly.
	client := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.77"), 9999)
	// Full-size fragments (1,480 bytes of data): were the daemon to keep a copy of each, the
	// second flood would cost it 30 MB.
	const n, warmN = 20000, 5000
	cpus := []int{0, min(1, runtime.NumCPU()-1)}
	var flood, warm [][]byte
	for i := range n {
		fr := raw.udpFragments(t, client, vip, make([]byte, 4000), uint32(i), 1500)
		flood = append(flood, fr[1]) // the second of three: no first will come
		if i < warmN {
			fr = raw.udpFragments(t, client, vip, make([]byte, 4000), uint32(n+i), 1500)
			warm = append(warm, fr[1])
		}
	}
	// A first flood touches the pools and every slot of the hand-off rings; the second must cost
	// no memory.
	raw.sendOn(t, warm, cpus)
	time.Sleep(200 * time.Millisecond)
	rss0 := daemonRSS(t, e)
	before := e.fragCounts()
	for i := 0; i < n; i += 500 {
		raw.sendOn(t, flood[i:i+500], cpus)
		if i%2000 == 0 {
			e.bigUDP(false, 8<<10, 1) // whole datagrams in the flood
		}
		time.Sleep(5 * time.Millisecond)
	}
	mid := e.fragCounts()
	got := mid["frag_held"] + mid["frag_buffer_full"] + mid["handoff_full"] - before["frag_held"] - before["frag_buffer_full"] - before["handoff_full"]
	rss1 := daemonRSS(t, e)
	t.Logf("%d fragments: held %d, frag_buffer_full %d, frag_table_full %d, evicted %d, handoff_full %d; RSS %d → %d KiB", n,
		mid["frag_held"]-before["frag_held"], mid["frag_buffer_full"]-before["frag_buffer_full"], mid["frag_table_full"]-before["frag_table_full"],
		mid["frag_evicted"]-before["frag_evicted"], mid["handoff_full"]-before["handoff_full"], rss0, rss1)
	// Frames the kernel dropped before a worker saw them (a full receive ring) are not ours to count.
	if got > n || got < n*9/10 {
		t.Fatalf("%d of %d flood fragments counted as held or dropped", got, n)
	}
	if rss1 > rss0+8<<10 {
		t.Fatalf("the daemon grew from %d to %d KiB in a second flood", rss0, rss1)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c := e.fragCounts() // both floods': every fragment ever held is dropped by now
		if left := int64(c["frag_held"]) - int64(c["frag_table_full"]) - int64(c["frag_timeout"]); left == 0 && c["frag_timeout"] > before["frag_timeout"] {
			t.Logf("after the timeout: frag_timeout %d", c["frag_timeout"]-before["frag_timeout"])
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d held fragments neither timed out nor evicted after 15 s", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.bigUDP(false, 60<<10, 2)
}

// fragCounts sums the workers' fragment counters and hand-off drops, by name.
func (e *env) fragCounts() map[string]uint64 {
	e.t.Helper()
	sum := map[string]uint64{}
	for _, w := range e.workerStats() {
		for _, c := range append(w.Drops, w.Events...) {
			if strings.HasPrefix(c.Name, "frag_") || c.Name == "handoff_full" {
				sum[c.Name] += c.Count
			}
		}
	}
	return sum
}

// daemonRSS is xdpvsd's resident memory in KiB.
func daemonRSS(t *testing.T, e *env) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.d.PID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
