package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/toa/rs"
)

// The end-to-end tests run the xdpvs-rs binary in a receiver namespace (nsenter --net, so its pins
// land in the host's /sys/fs/bpf) and craft the director's packets in a sender namespace on an
// AF_PACKET socket: IPIP / IPv6-in-IPv6 UDP to a VIP on the receiver's lo, and a TCP handshake
// from a FULLNAT local address whose last ACK carries TOA, to a kernel listener.

var pinSeq atomic.Uint32

// agentBinary is xdpvs-rs, built once per test process (testutil.Binary).
func agentBinary(t *testing.T) string {
	t.Helper()
	return testutil.Binary(t, "xdpvs-rs")
}

func TestMain(m *testing.M) { testutil.Main(m) }

// Layout: snd (s0: 198.18.1.1, 2001:2:0:1::1) <-> rcv (r0: 198.18.1.2, 2001:2:0:1::2; lo: the VIPs).
var (
	sndAddr4 = netip.MustParseAddr("198.18.1.1")
	rcvAddr4 = netip.MustParseAddr("198.18.1.2")
	sndAddr6 = netip.MustParseAddr("2001:2:0:1::1")
	rcvAddr6 = netip.MustParseAddr("2001:2:0:1::2")
	lip4     = netip.MustParseAddr("198.18.1.100") // a FULLNAT local address nobody owns
	lip6     = netip.MustParseAddr("2001:2:0:1::100")
)

type topology struct {
	snd, rcv         *testutil.NetNS
	sndMAC, rcvMAC   net.HardwareAddr
	sndIndex         int
	pin              string
	rcvIface, sndIfc string
}

func newTopology(t *testing.T) *topology {
	t.Helper()
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("skipping: nsenter (util-linux) not installed")
	}
	tp := &topology{snd: testutil.NewNetNS(t, "rs-snd"), rcv: testutil.NewNetNS(t, "rs-rcv"), rcvIface: "r0", sndIfc: "s0"}
	v := testutil.NewVethPair(t, tp.snd, "s0", tp.rcv, "r0", 1)
	tp.sndIndex = v.AIndex
	tp.snd.Run(t, "ip", "addr", "add", "198.18.1.1/24", "dev", "s0")
	tp.snd.Run(t, "ip", "addr", "add", "2001:2:0:1::1/64", "dev", "s0", "nodad")
	tp.rcv.Run(t, "ip", "addr", "add", "198.18.1.2/24", "dev", "r0")
	tp.rcv.Run(t, "ip", "addr", "add", "2001:2:0:1::2/64", "dev", "r0", "nodad")
	tp.rcv.Run(t, "ip", "addr", "add", vip4.String()+"/32", "dev", "lo")
	tp.rcv.Run(t, "ip", "addr", "add", vip6.String()+"/128", "dev", "lo")
	tp.rcv.Run(t, "ip", "route", "add", "default", "via", "198.18.1.1")
	tp.rcv.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:2:0:1::1")
	for _, k := range []string{"all", "default", "r0", "lo"} {
		tp.rcv.Run(t, "sysctl", "-qw", "net.ipv4.conf."+k+".rp_filter=0")
	}
	tp.sndMAC = testutil.Iface(t, tp.snd.NS, "s0").HardwareAddr
	tp.rcvMAC = testutil.Iface(t, tp.rcv.NS, "r0").HardwareAddr
	// The receiver answers the FULLNAT local addresses through the sender's MAC; the sender's
	// kernel does not own them, so it neither answers nor resets the crafted connections.
	tp.rcv.Run(t, "ip", "neigh", "replace", lip4.String(), "lladdr", tp.sndMAC.String(), "dev", "r0", "nud", "permanent")
	tp.rcv.Run(t, "ip", "-6", "neigh", "replace", lip6.String(), "lladdr", tp.sndMAC.String(), "dev", "r0", "nud", "permanent")
	tp.pin = filepath.Join(testutil.PrivateBPFFS(t), fmt.Sprintf("xdpvs-rs-%d", pinSeq.Add(1)))
	t.Cleanup(func() {
		if _, err := os.Stat(tp.pin); err == nil {
			t.Errorf("pin directory %s left behind; removing it", tp.pin)
			os.RemoveAll(tp.pin)
		}
	})
	return tp
}

// agentProc is a running xdpvs-rs.
type agentProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a bytes.Buffer that the process's stderr copier and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startAgent(t *testing.T, tp *topology, extra ...string) *agentProc {
	t.Helper()
	ap, err := tryStartAgent(t, tp, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func tryStartAgent(t *testing.T, tp *topology, extra ...string) (*agentProc, error) {
	t.Helper()
	args := append([]string{agentBinary(t), "--iface", tp.rcvIface, "--pin", tp.pin}, extra...)
	cmd := tp.rcv.NetCommand(args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	ap := &agentProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = ap.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ready") && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	go func() { ap.done <- cmd.Wait() }()
	t.Cleanup(func() { ap.stop(t) })
	select {
	case ok := <-ready:
		if !ok {
			<-ap.done
			return nil, fmt.Errorf("xdpvs-rs exited before ready: %s", ap.stderr)
		}
	case <-time.After(10 * time.Second):
		ap.kill()
		return nil, fmt.Errorf("xdpvs-rs not ready after 10 s: %s", ap.stderr)
	}
	return ap, nil
}

// stop sends SIGTERM and waits (5 s at most, then SIGKILL). It is safe to call twice.
func (ap *agentProc) stop(t *testing.T) error {
	t.Helper()
	if ap.cmd.ProcessState != nil {
		return nil
	}
	_ = ap.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-ap.done:
		ap.done <- err
		return err
	case <-time.After(5 * time.Second):
		ap.kill()
		t.Errorf("xdpvs-rs ignored SIGTERM for 5 s; killed\n%s", ap.stderr)
		return errors.New("killed")
	}
}

// kill ends the process with SIGKILL (a crash) and waits for it.
func (ap *agentProc) kill() {
	if ap.cmd.ProcessState != nil {
		return
	}
	_ = ap.cmd.Process.Kill()
	err := <-ap.done
	ap.done <- err
}

// rawSocket opens an AF_PACKET socket on the sender's s0, receiving every frame.
func rawSocket(t *testing.T, tp *topology) int {
	t.Helper()
	return packetSocket(t, tp.snd, tp.sndIndex)
}

// packetSocket opens an AF_PACKET socket on interface ifindex of ns, receiving every frame.
func packetSocket(t *testing.T, ns *testutil.NetNS, ifindex int) int {
	t.Helper()
	var fd int
	ns.MustDo(t, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (tp *topology) send(t *testing.T, fd int, frame []byte) {
	t.Helper()
	sendOn(t, fd, tp.sndIndex, frame)
}

// sendOn sends frame on the AF_PACKET socket fd bound to ifindex.
func sendOn(t *testing.T, fd, ifindex int, frame []byte) {
	t.Helper()
	if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// ethTo prefixes ipPkt with an Ethernet header from the sender to the receiver.
func (tp *topology) ethTo(t *testing.T, ipPkt []byte) []byte {
	typ := layers.EthernetTypeIPv4
	if ipPkt[0]>>4 == 6 {
		typ = layers.EthernetTypeIPv6
	}
	return ser(t, &layers.Ethernet{SrcMAC: tp.sndMAC, DstMAC: tp.rcvMAC, EthernetType: typ}, gopacket.Payload(ipPkt))
}

// tunnel encapsulates inner for the receiver (the director's TUN rewrite).
func (tp *topology) tunnel(t *testing.T, inner []byte) []byte {
	t.Helper()
	v6 := inner[0]>>4 == 6
	src, dst, proto := sndAddr4, rcvAddr4, layers.IPProtocolIPv4
	if v6 {
		src, dst, proto = sndAddr6, rcvAddr6, layers.IPProtocolIPv6
	}
	return tp.ethTo(t, ser(t, ipLayer(src, dst, proto).(gopacket.SerializableLayer), gopacket.Payload(inner)))
}

func listenUDP(t *testing.T, ns *testutil.NetNS, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	ns.MustDo(t, func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// udpDatagram is an IP packet with a UDP datagram from client:40000 to dst:port.
func udpDatagram(t *testing.T, client, dst netip.Addr, port uint16, payload string) []byte {
	ip := ipLayer(client, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
	_ = u.SetNetworkLayerForChecksum(ip)
	return ser(t, ip.(gopacket.SerializableLayer), u, gopacket.Payload(payload))
}

func recvUDP(c *net.UDPConn, wait time.Duration) (string, netip.AddrPort, error) {
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	return string(buf[:n]), from, err
}

func TestEndToEndTUN(t *testing.T) {
	for _, mode := range []string{"tcx", "tc"} {
		t.Run(mode, func(t *testing.T) {
			tp := newTopology(t)
			fd := rawSocket(t, tp)
			c4 := listenUDP(t, tp.rcv, netip.AddrPortFrom(vip4, 5353))
			c6 := listenUDP(t, tp.rcv, netip.AddrPortFrom(vip6, 5353))
			d4 := tp.tunnel(t, udpDatagram(t, client4, vip4, 5353, "over ipip"))
			d6 := tp.tunnel(t, udpDatagram(t, client6, vip6, 5353, "over ip6ip6"))

			// Without the agent the kernel (no ipip module) delivers nothing.
			tp.send(t, fd, d4)
			tp.send(t, fd, d6)
			if _, _, err := recvUDP(c4, 300*time.Millisecond); err == nil {
				t.Fatal("IPIP datagram delivered without xdpvs-rs: the test proves nothing")
			}
			if _, _, err := recvUDP(c6, 50*time.Millisecond); err == nil {
				t.Fatal("IPv6-in-IPv6 datagram delivered without xdpvs-rs")
			}

			ap := startAgent(t, tp, "--vip", vip4.String(), "--vip", vip6.String(), "--director", sndAddr4.String(), "--director", sndAddr6.String(), "--attach", mode)
			if mode == "tc" {
				if out := tp.rcv.Run(t, "tc", "filter", "show", "dev", "r0", "ingress"); !strings.Contains(out, progName) {
					t.Fatalf("no tc filter:\n%s", out)
				}
			}
			const n = 5
			for i := 0; i < n; i++ {
				tp.send(t, fd, tp.tunnel(t, udpDatagram(t, client4, vip4, 5353, fmt.Sprintf("ipip %d", i))))
				tp.send(t, fd, tp.tunnel(t, udpDatagram(t, client6, vip6, 5353, fmt.Sprintf("ip6ip6 %d", i))))
				// Not a VIP: stays encapsulated, and the kernel drops it.
				tp.send(t, fd, tp.tunnel(t, udpDatagram(t, client4, rcvAddr4, 5353, "not for a vip")))
			}
			for i := 0; i < n; i++ {
				for _, c := range []struct {
					conn   *net.UDPConn
					want   string
					client netip.Addr
				}{{c4, fmt.Sprintf("ipip %d", i), client4}, {c6, fmt.Sprintf("ip6ip6 %d", i), client6}} {
					got, from, err := recvUDP(c.conn, 2*time.Second)
					if err != nil {
						t.Fatalf("datagram %q not received: %v\nagent: %s", c.want, err, ap.stderr)
					}
					if got != c.want || from != netip.AddrPortFrom(c.client, 40000) {
						t.Fatalf("got %q from %v, want %q from %v:40000", got, from, c.want, c.client)
					}
				}
			}
			stats := runTool(t, tp, "stats", "--pin", tp.pin)
			for _, want := range []string{fmt.Sprintf("decap_ipip  %d", n), fmt.Sprintf("decap_ip6ip6  %d", n), fmt.Sprintf("passed_not_vip  %d", n)} {
				if !strings.Contains(squeeze(stats), squeeze(want)) {
					t.Errorf("stats lack %q:\n%s", want, stats)
				}
			}
			if err := ap.stop(t); err != nil {
				t.Fatalf("agent exit: %v\n%s", err, ap.stderr)
			}
			if _, err := os.Stat(tp.pin); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pin directory left after SIGTERM: %v", err)
			}
			if out := tp.rcv.Run(t, "tc", "filter", "show", "dev", "r0", "ingress"); strings.Contains(out, progName) {
				t.Errorf("tc filter left after SIGTERM:\n%s", out)
			}
			if out := tp.rcv.Run(t, "tc", "qdisc", "show", "dev", "r0"); strings.Contains(out, "clsact") {
				t.Errorf("clsact left after SIGTERM:\n%s", out)
			}
			// Detached: nothing is decapsulated any more.
			tp.send(t, fd, d4)
			if _, _, err := recvUDP(c4, 300*time.Millisecond); err == nil {
				t.Error("datagram decapsulated after the agent stopped")
			}
		})
	}
}

// Layout of TestEndToEndForgedTunnel: a third host, atk (a0: 198.18.3.1, 2001:2:0:3::1), reaches the
// receiver on its own link (r1: 198.18.3.2, 2001:2:0:3::2).
var (
	atkAddr4    = netip.MustParseAddr("198.18.3.1")
	atkRcvAddr4 = netip.MustParseAddr("198.18.3.2")
	atkAddr6    = netip.MustParseAddr("2001:2:0:3::1")
	atkRcvAddr6 = netip.MustParseAddr("2001:2:0:3::2")
)

// TestEndToEndForgedTunnel: a host that is not a director sends tunnel packets (IPIP and
// IPv6-in-IPv6, from its own address, crafted on a raw socket) whose inner UDP datagrams claim to
// come from a client and go to the VIPs. None reaches the real server's sockets, each is counted,
// and the director's datagrams, sent after them, all arrive. Then, as the control that the forged
// frames would otherwise arrive, the same frames are delivered once the forger is a --director.
func TestEndToEndForgedTunnel(t *testing.T) {
	tp := newTopology(t)
	atk := testutil.NewNetNS(t, "rs-atk")
	v := testutil.NewVethPair(t, atk, "a0", tp.rcv, "r1", 1)
	atk.Run(t, "ip", "addr", "add", atkAddr4.String()+"/24", "dev", "a0")
	atk.Run(t, "ip", "addr", "add", atkAddr6.String()+"/64", "dev", "a0", "nodad")
	tp.rcv.Run(t, "ip", "addr", "add", atkRcvAddr4.String()+"/24", "dev", "r1")
	tp.rcv.Run(t, "ip", "addr", "add", atkRcvAddr6.String()+"/64", "dev", "r1", "nodad")
	tp.rcv.Run(t, "sysctl", "-qw", "net.ipv4.conf.r1.rp_filter=0")
	atkMAC := testutil.Iface(t, atk.NS, "a0").HardwareAddr
	rcvMAC := testutil.Iface(t, tp.rcv.NS, "r1").HardwareAddr
	dirFD, atkFD := rawSocket(t, tp), packetSocket(t, atk, v.AIndex)
	c4 := listenUDP(t, tp.rcv, netip.AddrPortFrom(vip4, 5353))
	c6 := listenUDP(t, tp.rcv, netip.AddrPortFrom(vip6, 5353))

	// forged is the forger's tunnel packet to the receiver's r1 carrying a datagram from client.
	forged := func(client, vip netip.Addr, payload string) []byte {
		src, dst, typ, proto := atkAddr4, atkRcvAddr4, layers.EthernetTypeIPv4, layers.IPProtocolIPv4
		if vip.Is6() {
			src, dst, typ, proto = atkAddr6, atkRcvAddr6, layers.EthernetTypeIPv6, layers.IPProtocolIPv6
		}
		return ser(t, &layers.Ethernet{SrcMAC: atkMAC, DstMAC: rcvMAC, EthernetType: typ},
			ipLayer(src, dst, proto).(gopacket.SerializableLayer), gopacket.Payload(udpDatagram(t, client, vip, 5353, payload)))
	}
	const n = 5
	var forgedFrames [][]byte
	for i := range n {
		forgedFrames = append(forgedFrames, forged(client4, vip4, fmt.Sprintf("forged ipip %d", i)), forged(client6, vip6, fmt.Sprintf("forged ip6ip6 %d", i)))
	}
	// receive reads the datagrams of c until want of them have come from the director (the payloads
	// starting "director"), then for a further quiet period, and returns every payload read.
	receive := func(c *net.UDPConn, want int) []string {
		t.Helper()
		var got []string
		director := 0
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			wait := 2 * time.Second
			if director == want {
				wait = 300 * time.Millisecond
			}
			p, from, err := recvUDP(c, wait)
			if err != nil {
				break
			}
			if a := from.Addr().Unmap(); a != client4 && a != client6 {
				t.Errorf("datagram %q from %v, want a client", p, from)
			}
			got = append(got, p)
			if strings.HasPrefix(p, "director") {
				director++
			}
		}
		if director != want {
			t.Fatalf("%d datagrams from the director, want %d (got %q)", director, want, got)
		}
		return got
	}
	// startAgent gives --iface r0 (the director's link).
	agentArgs := []string{"--iface", "r1", "--vip", vip4.String(), "--vip", vip6.String(),
		"--director", sndAddr4.String(), "--director", sndAddr6.String()}

	ap := startAgent(t, tp, agentArgs...)
	for _, f := range forgedFrames {
		sendOn(t, atkFD, v.AIndex, f)
	}
	for i := range n {
		tp.send(t, dirFD, tp.tunnel(t, udpDatagram(t, client4, vip4, 5353, fmt.Sprintf("director ipip %d", i))))
		tp.send(t, dirFD, tp.tunnel(t, udpDatagram(t, client6, vip6, 5353, fmt.Sprintf("director ip6ip6 %d", i))))
	}
	for _, c := range []*net.UDPConn{c4, c6} {
		for _, p := range receive(c, n) {
			if strings.HasPrefix(p, "forged") {
				t.Errorf("forged datagram %q reached the real server", p)
			}
		}
	}
	stats := squeeze(runTool(t, tp, "stats", "--pin", tp.pin))
	for _, want := range []string{fmt.Sprintf("dropped_not_director %d", 2*n), fmt.Sprintf("decap_ipip %d", n), fmt.Sprintf("decap_ip6ip6 %d", n)} {
		if !strings.Contains(stats, want) {
			t.Errorf("stats lack %q:\n%s", want, stats)
		}
	}
	if err := ap.stop(t); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, ap.stderr)
	}

	// The control: with the forger a director, the same frames arrive.
	startAgent(t, tp, append(agentArgs, "--director", atkAddr4.String(), "--director", atkAddr6.String())...)
	for _, f := range forgedFrames {
		sendOn(t, atkFD, v.AIndex, f)
	}
	tp.send(t, dirFD, tp.tunnel(t, udpDatagram(t, client4, vip4, 5353, "director ipip last")))
	tp.send(t, dirFD, tp.tunnel(t, udpDatagram(t, client6, vip6, 5353, "director ip6ip6 last")))
	for _, c := range []*net.UDPConn{c4, c6} {
		if got := receive(c, 1); len(got) != n+1 {
			t.Errorf("with the forger as a director, %d datagrams arrived, want %d forged and the director's: %q", len(got), n, got)
		}
	}
}

// TestEndToEndGUE: with --gue-port, the director's GUE datagrams (variant 0 and 1, IPv4 and IPv6)
// and a TCP handshake through GUE reach the VIPs; plain UDP to the next port still reaches its
// socket untouched, and so does IPIP.
func TestEndToEndGUE(t *testing.T) {
	tp := newTopology(t)
	fd := rawSocket(t, tp)
	c4 := listenUDP(t, tp.rcv, netip.AddrPortFrom(vip4, 5353))
	c6 := listenUDP(t, tp.rcv, netip.AddrPortFrom(vip6, 5353))
	plain := listenUDP(t, tp.rcv, netip.AddrPortFrom(rcvAddr4, guePort+1))
	// gueTo is inner in GUE (gue, the GUE header) from the sender to the receiver on port.
	gueTo := func(port uint16, gue, inner []byte) []byte {
		src, dst := sndAddr4, rcvAddr4
		if inner[0]>>4 == 6 {
			src, dst = sndAddr6, rcvAddr6
		}
		f := gueFrame(t, src, dst, port, gue, inner)
		copy(f[0:], tp.rcvMAC)
		copy(f[6:], tp.sndMAC)
		return f
	}
	d4 := gueTo(guePort, gue0v4, udpDatagram(t, client4, vip4, 5353, "gue0"))
	d6 := gueTo(guePort, gue1, udpDatagram(t, client6, vip6, 5353, "gue1"))
	tp.send(t, fd, d4)
	if _, _, err := recvUDP(c4, 300*time.Millisecond); err == nil {
		t.Fatal("GUE datagram delivered without xdpvs-rs: the test proves nothing")
	}

	startAgent(t, tp, "--vip", vip4.String(), "--vip", vip6.String(), "--director", sndAddr4.String(), "--director", sndAddr6.String(),
		"--gue-port", strconv.Itoa(guePort))
	tp.send(t, fd, d4)
	tp.send(t, fd, d6)
	tp.send(t, fd, gueTo(guePort, gue1, udpDatagram(t, client4, vip4, 5353, "gue1")))
	tp.send(t, fd, gueTo(guePort, gue0v6, udpDatagram(t, client6, vip6, 5353, "gue0")))
	tp.send(t, fd, tp.tunnel(t, udpDatagram(t, client4, vip4, 5353, "ipip")))
	// Plain UDP to the port beside GUE's: a datagram of four bytes that would read as a GUE header.
	tp.send(t, fd, tp.ethTo(t, udpDatagram(t, sndAddr4, rcvAddr4, guePort+1, string(gue0v4))))
	for _, w := range []struct {
		c      *net.UDPConn
		want   []string
		client netip.Addr
	}{{c4, []string{"gue0", "gue1", "ipip"}, client4}, {c6, []string{"gue1", "gue0"}, client6}} {
		for _, want := range w.want {
			got, from, err := recvUDP(w.c, 2*time.Second)
			if err != nil || got != want || from != netip.AddrPortFrom(w.client, 40000) {
				t.Fatalf("got %q from %v (%v), want %q from %v:40000", got, from, err, want, w.client)
			}
		}
	}
	if got, from, err := recvUDP(plain, 2*time.Second); err != nil || got != string(gue0v4) || from.Addr().Unmap() != sndAddr4 {
		t.Fatalf("plain UDP beside the GUE port: %q from %v (%v)", got, from, err)
	}

	var ln *net.TCPListener
	tp.rcv.MustDo(t, func() error {
		var err error
		ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(vip4, 8080)))
		return err
	})
	defer ln.Close()
	tp.handshakeVia(t, fd, client4, vip4, 32000, 8080, nil, func(ip []byte) []byte { return gueTo(guePort, gue0v4, ip) })
	_ = ln.SetDeadline(time.Now().Add(5 * time.Second))
	conn, err := ln.AcceptTCP()
	if err != nil {
		t.Fatalf("accept over GUE: %v", err)
	}
	conn.Close()
	if got := conn.RemoteAddr().(*net.TCPAddr).AddrPort(); got != netip.AddrPortFrom(client4, 32000) {
		t.Fatalf("peer %v, want the client", got)
	}
	stats := squeeze(runTool(t, tp, "stats", "--pin", tp.pin))
	for _, want := range []string{"decap_gue 6", "decap_ipip 1", "dropped_not_director 0"} {
		if !strings.Contains(stats, want) {
			t.Errorf("stats lack %q:\n%s", want, stats)
		}
	}
}

func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

func runTool(t *testing.T, tp *topology, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, agentBinary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xdpvs-rs %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// handshake performs a TCP handshake from lip:lport to the receiver's dst:port with crafted
// segments on the sender's raw socket, the final ACK carrying opts (TOA), and returns once the ACK is
// sent.
func (tp *topology) handshake(t *testing.T, fd int, lip, dst netip.Addr, lport, port uint16, ackOpts []byte) {
	t.Helper()
	tp.handshakeVia(t, fd, lip, dst, lport, port, ackOpts, func(ip []byte) []byte { return tp.ethTo(t, ip) })
}

// handshakeVia is handshake with the frames made by wrap (plain Ethernet, or a tunnel).
func (tp *topology) handshakeVia(t *testing.T, fd int, lip, dst netip.Addr, lport, port uint16, ackOpts []byte, wrap func([]byte) []byte) {
	t.Helper()
	const isn = 1000
	syn := tcpPacket(t, lip, dst, lport, port, true, false, []byte{2, 4, 0x05, 0x78}, "")
	header4or6Seq(syn, lip.Is6(), isn, 0)
	tp.send(t, fd, wrap(syn))
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 2048)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // SO_RCVTIMEO: look again until the deadline
		}
		p := gopacket.NewPacket(buf[:n], layers.LayerTypeEthernet, gopacket.NoCopy)
		tcpL, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !tcpL.SYN || !tcpL.ACK || uint16(tcpL.DstPort) != lport || uint16(tcpL.SrcPort) != port {
			continue
		}
		ack := tcpPacket(t, lip, dst, lport, port, false, true, ackOpts, "")
		header4or6Seq(ack, lip.Is6(), isn+1, tcpL.Seq+1)
		tp.send(t, fd, wrap(ack))
		return
	}
	t.Fatalf("no SYN-ACK from %v:%d", dst, port)
}

// header4or6Seq sets the sequence and acknowledgment numbers of the TCP segment in the IP packet
// pkt and refreshes its checksum.
func header4or6Seq(pkt []byte, v6 bool, seq, ack uint32) {
	l4 := 20
	if v6 {
		l4 = 40
	}
	seg := pkt[l4:]
	seg[4], seg[5], seg[6], seg[7] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	seg[8], seg[9], seg[10], seg[11] = byte(ack>>24), byte(ack>>16), byte(ack>>8), byte(ack)
	var src, dst []byte
	if v6 {
		src, dst = pkt[8:24], pkt[24:40]
	} else {
		src, dst = pkt[12:16], pkt[16:20]
	}
	fillTCPChecksum(seg, src, dst)
}

// TestEndToEndTUNTCP: a TCP connection to the VIP through the tunnel, accepted by the kernel, whose
// SYN-ACK goes straight back to the client (not through the tunnel), as TUN mode wants.
func TestEndToEndTUNTCP(t *testing.T) {
	tp := newTopology(t)
	fd := rawSocket(t, tp)
	startAgent(t, tp, "--vip", vip4.String(), "--vip", vip6.String(), "--director", sndAddr4.String(), "--director", sndAddr6.String())
	for i, tc := range []struct {
		name   string
		client netip.Addr
		vip    netip.Addr
	}{{"ipv4", client4, vip4}, {"ipv6", client6, vip6}} {
		t.Run(tc.name, func(t *testing.T) {
			var ln *net.TCPListener
			tp.rcv.MustDo(t, func() error {
				var err error
				ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(tc.vip, 8080)))
				return err
			})
			defer ln.Close()
			cport := uint16(31000 + i)
			tp.handshakeVia(t, fd, tc.client, tc.vip, cport, 8080, nil, func(ip []byte) []byte { return tp.tunnel(t, ip) })
			_ = ln.SetDeadline(time.Now().Add(5 * time.Second))
			conn, err := ln.AcceptTCP()
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			defer conn.Close()
			if got := conn.RemoteAddr().(*net.TCPAddr).AddrPort(); got.Addr().Unmap() != tc.client || got.Port() != cport {
				t.Fatalf("peer %v, want the client %v:%d", got, tc.client, cport)
			}
			if got := conn.LocalAddr().(*net.TCPAddr).AddrPort(); got.Addr().Unmap() != tc.vip {
				t.Fatalf("local %v, want the VIP", got)
			}
		})
	}
}

func TestEndToEndTOA(t *testing.T) {
	tp := newTopology(t)
	fd := rawSocket(t, tp)
	ap := startAgent(t, tp, "--toa")

	cases := []struct {
		name   string
		lip    netip.Addr
		rip    netip.Addr
		client netip.AddrPort
	}{
		{"ipv4", lip4, rcvAddr4, netip.MustParseAddrPort("198.18.0.7:4660")},
		{"ipv6", lip6, rcvAddr6, netip.MustParseAddrPort("[2001:2::7]:65000")},
		{"nat64", lip4, rcvAddr4, netip.MustParseAddrPort("[2001:2::8]:1")},
	}
	t.Setenv(rs.PinDirEnv, tp.pin) // for the package-level rs.ClientAddr
	table, err := rs.Open(tp.pin)
	if err != nil {
		t.Fatal(err)
	}
	defer table.Close()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ln *net.TCPListener
			tp.rcv.MustDo(t, func() error {
				var err error
				ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(tc.rip, 8080)))
				return err
			})
			defer ln.Close()
			lport := uint16(30000 + i)
			tp.handshake(t, fd, tc.lip, tc.rip, lport, 8080, toaBytes(tc.client.Addr(), tc.client.Port()))
			_ = ln.SetDeadline(time.Now().Add(5 * time.Second))
			conn, err := ln.AcceptTCP()
			if err != nil {
				t.Fatalf("accept: %v\nagent: %s", err, ap.stderr)
			}
			defer conn.Close()
			if got := conn.RemoteAddr().(*net.TCPAddr).AddrPort(); got.Addr().Unmap() != tc.lip || got.Port() != lport {
				t.Fatalf("peer %v, want %v:%d", got, tc.lip, lport)
			}
			got, ok := table.ClientAddr(conn)
			if !ok || got != tc.client {
				t.Fatalf("Table.ClientAddr = %v, %v; want %v", got, ok, tc.client)
			}
			if got, ok := rs.ClientAddr(conn); !ok || got != tc.client {
				t.Fatalf("rs.ClientAddr = %v, %v; want %v", got, ok, tc.client)
			}
		})
	}
	out := runTool(t, tp, "toa", "list", "--pin", tp.pin)
	for _, tc := range cases {
		if !strings.Contains(out, tc.client.String()) {
			t.Errorf("toa list lacks %v:\n%s", tc.client, out)
		}
	}
	t.Logf("xdpvs-rs toa list:\n%s", out)
	if err := ap.stop(t); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, ap.stderr)
	}
}

// TestRestartAfterCrash: a SIGKILLed agent leaves its pins; the next one replaces them, a second
// agent on the same directory is refused, and SIGTERM removes everything.
func TestRestartAfterCrash(t *testing.T) {
	for _, mode := range []string{"tcx", "tc"} {
		t.Run(mode, func(t *testing.T) {
			tp := newTopology(t)
			first := startAgent(t, tp, "--toa", "--vip", vip4.String(), "--director", sndAddr4.String(), "--attach", mode)
			firstID := pinnedMapID(t, filepath.Join(tp.pin, rs.MapTOA))
			first.kill()
			if _, err := os.Stat(filepath.Join(tp.pin, rs.MapTOA)); err != nil {
				t.Fatalf("a crash should leave the pin behind: %v", err)
			}
			second := startAgent(t, tp, "--toa", "--vip", vip4.String(), "--director", sndAddr4.String(), "--attach", mode)
			if id := pinnedMapID(t, filepath.Join(tp.pin, rs.MapTOA)); id == firstID {
				t.Fatal("stale pin not replaced")
			}
			if !strings.Contains(second.stderr.String(), "replaced stale pin") {
				t.Errorf("no log of the replacement:\n%s", second.stderr)
			}
			if mode == "tc" {
				out := tp.rcv.Run(t, "tc", "filter", "show", "dev", "r0", "ingress")
				c := 0
				for _, line := range strings.Split(out, "\n") {
					if strings.Contains(line, progName) {
						c++
					}
				}
				if c != 1 {
					t.Fatalf("%d filters of ours after restart, want 1:\n%s", c, out)
				}
			}
			if _, err := tryStartAgent(t, tp, "--toa", "--vip", vip4.String(), "--director", sndAddr4.String(), "--attach", mode); err == nil ||
				!strings.Contains(err.Error(), "in use by another xdpvs-rs") {
				t.Fatalf("second agent on the same pin directory: %v", err)
			}
			if err := second.stop(t); err != nil {
				t.Fatalf("agent exit: %v\n%s", err, second.stderr)
			}
			if _, err := os.Stat(tp.pin); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pins left after SIGTERM: %v", err)
			}
			if mode == "tc" {
				if out := tp.rcv.Run(t, "tc", "filter", "show", "dev", "r0", "ingress"); strings.Contains(out, progName) {
					t.Errorf("tc filter left:\n%s", out)
				}
				// The crashed run's clsact held only its filter: the second agent adopted it.
				if out := tp.rcv.Run(t, "tc", "qdisc", "show", "dev", "r0"); strings.Contains(out, "clsact") {
					t.Errorf("clsact left:\n%s", out)
				}
			}
		})
	}
}

func pinnedMapID(t *testing.T, path string) ebpf.MapID {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}
