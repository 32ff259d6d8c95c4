package pktgen

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

var (
	testSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	testDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func testConfig(v6 bool, size int) Config {
	c := DefaultConfig()
	c.SrcMAC, c.DstMAC = testSrcMAC, testDstMAC
	c.Src, c.Dst = netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	if v6 {
		c.Src, c.Dst = netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
	}
	c.DstPort = 5353
	c.Size = size
	return c
}

// checkFrame verifies f as a frame of c from source src: lengths, addresses, ports, the stamp's
// magic and flow, and every checksum.
func checkFrame(t *testing.T, c Config, f []byte, src netip.AddrPort, flow int) {
	t.Helper()
	if len(f) != c.Size-FCSSize {
		t.Fatalf("frame is %d bytes, want %d", len(f), c.Size-FCSSize)
	}
	var pkt header.Packet
	if r := pkt.Parse(f); r != header.ParseOK {
		t.Fatalf("parse: %v", r)
	}
	tu := pkt.Tuple
	if tu.SrcPort != src.Port() || tu.DstPort != c.DstPort {
		t.Fatalf("ports %d → %d, want %d → %d", tu.SrcPort, tu.DstPort, src.Port(), c.DstPort)
	}
	off := c.l4Offset()
	l4 := f[off:]
	var ipSrc, ipDst []byte
	proto := header.ProtocolUDP
	if c.Proto == TCP {
		proto = header.ProtocolTCP
	}
	if !c.IPv6() {
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		if !ip.IsChecksumValid() {
			t.Fatalf("bad IPv4 header checksum %#04x", ip.Checksum())
		}
		if int(ip.TotalLength()) != len(f)-header.EthernetMinimumSize {
			t.Fatalf("IPv4 total length %d", ip.TotalLength())
		}
		ipSrc, ipDst = ip[12:16], ip[16:20]
	} else {
		ip := f[header.EthernetMinimumSize:]
		ipSrc, ipDst = ip[8:24], ip[24:40]
	}
	if got, _ := netip.AddrFromSlice(ipSrc); got.Unmap() != src.Addr().Unmap() {
		t.Fatalf("source address %v, want %v", got, src.Addr())
	}
	pseudo := header.PseudoHeaderChecksum(proto, ipSrc, ipDst, uint16(len(l4)))
	if c.Proto == TCP {
		tcp := header.TCP(l4)
		if tcp.Flags() != c.TCPFlags || tcp.DataOffset() != 20 {
			t.Fatalf("TCP flags %#x offset %d", tcp.Flags(), tcp.DataOffset())
		}
		if !tcp.IsChecksumValid(pseudo) {
			t.Fatalf("bad TCP checksum %#04x", tcp.Checksum())
		}
	} else {
		udp := header.UDP(l4)
		if got := int(binary.BigEndian.Uint16(udp[4:])); got != len(udp) {
			t.Fatalf("UDP length %d, want %d", got, len(udp))
		}
		if !c.IPv6() && udp.Checksum() != 0 {
			t.Fatalf("IPv4 UDP checksum %#04x, want 0", udp.Checksum())
		}
		if c.IPv6() && (udp.Checksum() == 0 || !udp.IsChecksumValid(pseudo)) {
			t.Fatalf("bad IPv6 UDP checksum %#04x", udp.Checksum())
		}
	}
	if c.Stamped() {
		p := f[c.PayloadOffset():]
		if binary.BigEndian.Uint32(p) != StampMagic || int(binary.BigEndian.Uint32(p[4:])) != flow {
			t.Fatalf("stamp % x, want magic and flow %d", p[:StampSize], flow)
		}
	}
}

func TestFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		size int
		tcp  bool
	}{
		{"ipv4_64", false, 64, false},
		{"ipv4_65_odd", false, 65, false},
		{"ipv4_1518", false, 1518, false},
		{"ipv6_66_min", true, MinSizeIPv6, false},
		{"ipv6_67_odd", true, 67, false},
		{"ipv6_1518", true, 1518, false},
		{"tcp_ipv4_64", false, 64, true},
		{"tcp_ipv4_71_odd", false, 71, true},
		{"tcp_ipv6_78_min", true, 78, true},
		{"tcp_ipv6_1518", true, 1518, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(tc.v6, tc.size)
			if tc.tcp {
				c.Proto, c.TCPFlags = TCP, FlagSYN
			}
			f, err := c.Frame()
			if err != nil {
				t.Fatal(err)
			}
			checkFrame(t, c, f, c.FlowSource(0), 0)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(c *Config) {}, ""},
		{"size_63", func(c *Config) { c.Size = 63 }, "frame size 63"},
		{"size_1519", func(c *Config) { c.Size = 1519 }, "frame size 1519"},
		{"ipv6_size_64", func(c *Config) { c.Src, c.Dst = netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2") }, "frame size 64"},
		{"mixed_family", func(c *Config) { c.Dst = netip.MustParseAddr("2001:2::2") }, "not of one family"},
		{"no_mac", func(c *Config) { c.DstMAC = nil }, "MACs"},
		{"no_addr", func(c *Config) { c.Src = netip.Addr{} }, "addresses are required"},
		{"flows_0", func(c *Config) { c.Flows = 0 }, "flows"},
		{"flows_overflow", func(c *Config) { c.SrcPort, c.Flows = 65000, 1000 }, "flows"},
		{"flows_to_65535", func(c *Config) { c.SrcPort, c.Flows = 65000, 536 }, ""},
		{"dport_0", func(c *Config) { c.DstPort = 0 }, "destination port 0"},
		{"tcp_ipv6_77", func(c *Config) {
			c.Src, c.Dst = netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
			c.Proto, c.Size = TCP, 77
		}, "frame size 77"},
		{"addrs_overflow", func(c *Config) { c.Src, c.Addrs = netip.MustParseAddr("255.255.255.250"), 10 }, "source addresses"},
		{"addrs_negative", func(c *Config) { c.Addrs = -1 }, "source addresses"},
		{"addrs_to_end", func(c *Config) { c.Src, c.Addrs = netip.MustParseAddr("255.255.255.250"), 6 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(false, 64)
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFlowSource(t *testing.T) {
	c := testConfig(false, 64)
	c.SrcPort, c.Flows, c.Addrs = 1000, 3, 4
	c.Src = netip.MustParseAddr("198.18.0.254")
	want := []string{"198.18.0.254:1000", "198.18.0.254:1001", "198.18.0.254:1002", "198.18.0.255:1000"}
	for f, w := range want {
		if got := c.FlowSource(f).String(); got != w {
			t.Errorf("flow %d: %s, want %s", f, got, w)
		}
	}
	if got := c.FlowSource(11).String(); got != "198.18.1.1:1002" {
		t.Errorf("flow 11: %s", got)
	}
	if c.NumFlows() != 12 {
		t.Errorf("NumFlows %d", c.NumFlows())
	}
	c.Src = netip.MustParseAddr("2001:2::fffe:ffff")
	if got := c.FlowSource(3).Addr().String(); got != "2001:2::ffff:0" {
		t.Errorf("IPv6 flow 3: %s", got)
	}
}
