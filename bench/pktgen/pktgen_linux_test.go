package pktgen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

func mustGenerator(tb testing.TB, c Config) *Generator {
	tb.Helper()
	testutil.RequireRoot(tb)
	g, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.Close() })
	return g
}

// TestProgramFrames runs the program once per frame without live frames (the output comes back in
// DataOut), on input of random bytes: every frame must be the template with the flow's source port
// and, for IPv6, a checksum that verifies, whatever the buffer held before.
func TestProgramFrames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v6    bool
		size  int
		sport uint16
		flows int
	}{
		{"ipv4_64", false, 64, 1024, 37},
		{"ipv4_1518", false, 1518, 1, 5},
		{"ipv6_66", true, MinSizeIPv6, 1024, 300},
		{"ipv6_1518_top_ports", true, 1518, 65535 - 99, 100},
		{"ipv6_127_low_ports", true, 127, 1, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(tc.v6, tc.size)
			c.SrcPort, c.Flows = tc.sport, tc.flows
			g := mustGenerator(t, c)
			const limit = 500
			if err := g.arm(limit); err != nil {
				t.Fatal(err)
			}
			want, _ := c.Frame()
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 1))
			in, out := make([]byte, len(want)), make([]byte, len(want))
			for i := range limit + 2 {
				for j := range in {
					in[j] = byte(r.Uint32())
				}
				ret, err := g.objs.XdpvsPktgen.Run(&ebpf.RunOptions{Data: in, DataOut: out})
				if err != nil {
					t.Fatal(err)
				}
				if i >= limit {
					if ret != 1 { // XDP_DROP past the limit
						t.Fatalf("frame %d past the limit: verdict %d, want XDP_DROP", i, ret)
					}
					continue
				}
				if ret != 3 {
					t.Fatalf("frame %d: verdict %d, want XDP_TX", i, ret)
				}
				sport := c.SrcPort + uint16(i%c.Flows)
				checkFrame(t, c, out, sport)
				off := c.udpOffset()
				if !bytes.Equal(out[:off], want[:off]) || !bytes.Equal(out[off+8:], want[off+8:]) {
					t.Fatalf("frame %d differs from the template outside the UDP ports and checksum", i)
				}
			}
			var st genGenState
			if err := g.objs.State.Lookup(uint32(0), &st); err != nil {
				t.Fatal(err)
			}
			if st.Sent != limit || st.Dropped != 2 || st.Errors != 0 {
				t.Fatalf("state %+v, want %d sent, 2 dropped", st, limit)
			}
		})
	}
}

// pair is two namespaces joined by a veth: a0 (generator side) ─ b0 (receiver side).
type pair struct {
	a, b         *testutil.NetNS
	aIdx         int
	aMAC, bMAC   net.HardwareAddr
	aAddr, bAddr [2]netip.Addr // IPv4, IPv6
}

func newPair(t *testing.T) *pair {
	t.Helper()
	testutil.RequireRoot(t)
	p := &pair{a: testutil.NewNetNS(t, "pga"), b: testutil.NewNetNS(t, "pgb")}
	v := testutil.NewVethPair(t, p.a, "a0", p.b, "b0", 1)
	p.aIdx = v.AIndex
	p.aAddr = [2]netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:2::1")}
	p.bAddr = [2]netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:2::2")}
	p.a.Run(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "a0")
	p.a.Run(t, "ip", "addr", "add", "2001:2::1/64", "dev", "a0", "nodad")
	p.b.Run(t, "ip", "addr", "add", "198.18.0.2/24", "dev", "b0")
	p.b.Run(t, "ip", "addr", "add", "2001:2::2/64", "dev", "b0", "nodad")
	p.aMAC, p.bMAC = mac(t, p.a.NS, "a0"), mac(t, p.b.NS, "b0")
	// netns.Veth turns GRO on before the link is up, when veth does not yet tell the peer that it
	// can take XDP frames (NDO_XMIT): a0 would drop every XDP_TX frame until b0 gets an XDP
	// program. Turning GRO off and on again with both ends up sets it.
	p.b.Run(t, "ethtool", "-K", "b0", "gro", "off")
	p.b.Run(t, "ethtool", "-K", "b0", "gro", "on")
	return p
}

func mac(t *testing.T, ns *netns.NS, name string) net.HardwareAddr {
	t.Helper()
	var m net.HardwareAddr
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err == nil {
			m = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func (p *pair) config(v6 bool, size int) Config {
	c := DefaultConfig()
	fam := 0
	if v6 {
		fam = 1
	}
	c.SrcMAC, c.DstMAC = p.aMAC, p.bMAC
	c.Src, c.Dst = p.aAddr[fam], p.bAddr[fam]
	c.DstPort, c.Size = 5353, size
	return c
}

// TestSinkCounts sends a fixed number of frames of several sizes and families at a sink: it must
// count exactly that many, of exactly that size.
func TestSinkCounts(t *testing.T) {
	p := newPair(t)
	sink, err := AttachSink(p.b.NS, "b0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	var total Count
	for _, tc := range []struct {
		v6    bool
		size  int
		count uint64
	}{
		{false, 64, 200_000},
		{false, 1518, 50_000},
		{true, 78, 100_000},
		{true, 1518, 10_000},
	} {
		name := fmt.Sprintf("v6=%v/size=%d", tc.v6, tc.size)
		g, err := New(p.config(tc.v6, tc.size))
		if err != nil {
			t.Fatal(err)
		}
		res, err := g.Run(p.a.NS, p.aIdx, tc.count, RunOptions{Duration: 10 * time.Second, Pin: true, CPU: 0})
		g.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Sent != tc.count {
			t.Fatalf("%s: sent %d, want %d", name, res.Sent, tc.count)
		}
		t.Logf("%s: %d frames in %v: %.2f Mpps on CPU %d", name, res.Sent, res.Elapsed, res.PPS()/1e6, res.CPU)
		total.Packets += tc.count
		total.Bytes += tc.count * uint64(tc.size-FCSSize)
		var st SinkStats
		deadline := time.Now().Add(2 * time.Second)
		for {
			if st, err = sink.Read(); err != nil {
				t.Fatal(err)
			}
			if st.UDP() == total || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st.UDP() != total {
			t.Fatalf("%s: sink counted %+v, want %+v", name, st.UDP(), total)
		}
	}
}

// TestKernelReceives sends a small burst to a kernel UDP socket, which drops frames with a bad IP
// header checksum or a bad UDP checksum: every datagram must arrive, with the right size, and the
// source ports must cover the flows evenly.
func TestKernelReceives(t *testing.T) {
	p := newPair(t)
	for _, tc := range []struct {
		v6   bool
		size int
	}{{false, 64}, {false, 1518}, {true, MinSizeIPv6}, {true, 555}, {true, 1518}} {
		t.Run(fmt.Sprintf("v6=%v/size=%d", tc.v6, tc.size), func(t *testing.T) {
			const flows, per = 16, 4
			c := p.config(tc.v6, tc.size)
			c.Flows = flows
			g := mustGenerator(t, c)
			var conn *net.UDPConn
			p.b.MustDo(t, func() (err error) {
				conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.Dst, c.DstPort)))
				return err
			})
			defer conn.Close()
			// Each datagram built from an XDP frame holds a page: 64 of them need more than the
			// default receive buffer.
			rc, err := conn.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
			}); err != nil || serr != nil {
				t.Fatalf("SO_RCVBUFFORCE: %v %v", err, serr)
			}
			before := csumErrors(t, p.b, tc.v6)
			res, err := g.Run(p.a.NS, p.aIdx, flows*per, RunOptions{Duration: 5 * time.Second})
			if err != nil || res.Sent != flows*per {
				t.Fatalf("sent %d, %v", res.Sent, err)
			}
			want, _ := c.Frame()
			payload := want[c.udpOffset()+8:]
			ports := map[uint16]int{}
			buf := make([]byte, 2048)
			for i := range flows * per {
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, from, err := conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("datagram %d of %d: %v (UDP checksum errors: %d)", i, flows*per, err, csumErrors(t, p.b, tc.v6)-before)
				}
				if from.Addr().Unmap() != c.Src {
					t.Fatalf("datagram from %v", from)
				}
				if !bytes.Equal(buf[:n], payload) {
					t.Fatalf("datagram %d: %d bytes, payload differs from the template's %d", i, n, len(payload))
				}
				ports[from.Port()]++
			}
			for f := range flows {
				if got := ports[c.SrcPort+uint16(f)]; got != per {
					t.Errorf("source port %d: %d datagrams, want %d (all: %v)", c.SrcPort+uint16(f), got, per, ports)
				}
			}
			if d := csumErrors(t, p.b, tc.v6) - before; d != 0 {
				t.Errorf("%d UDP checksum errors", d)
			}
		})
	}
}

// csumErrors reads UDP InCsumErrors (Udp or Udp6) in ns.
func csumErrors(t *testing.T, ns *testutil.NetNS, v6 bool) int {
	t.Helper()
	if v6 {
		for _, l := range strings.Split(ns.Run(t, "cat", "/proc/net/snmp6"), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "Udp6InCsumErrors" {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
		t.Fatal("no Udp6InCsumErrors in /proc/net/snmp6")
	}
	var names []string
	for _, l := range strings.Split(ns.Run(t, "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "InCsumErrors" && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	t.Fatal("no Udp InCsumErrors in /proc/net/snmp")
	return 0
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
