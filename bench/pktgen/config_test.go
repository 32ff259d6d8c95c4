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

// checkFrame verifies f as a frame of c from source port sport: lengths, addresses, ports and
// both checksums.
func checkFrame(t *testing.T, c Config, f []byte, sport uint16) {
	t.Helper()
	if len(f) != c.Size-FCSSize {
		t.Fatalf("frame is %d bytes, want %d", len(f), c.Size-FCSSize)
	}
	var pkt header.Packet
	if r := pkt.Parse(f); r != header.ParseOK {
		t.Fatalf("parse: %v", r)
	}
	tu := pkt.Tuple
	if tu.SrcPort != sport || tu.DstPort != c.DstPort {
		t.Fatalf("ports %d → %d, want %d → %d", tu.SrcPort, tu.DstPort, sport, c.DstPort)
	}
	off := c.udpOffset()
	udp := header.UDP(f[off:])
	if got := int(binary.BigEndian.Uint16(udp[4:])); got != len(udp) {
		t.Fatalf("UDP length %d, want %d", got, len(udp))
	}
	if !c.IPv6() {
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		if !ip.IsChecksumValid() {
			t.Fatalf("bad IPv4 header checksum %#04x", ip.Checksum())
		}
		if int(ip.TotalLength()) != len(f)-header.EthernetMinimumSize {
			t.Fatalf("IPv4 total length %d", ip.TotalLength())
		}
		if udp.Checksum() != 0 {
			t.Fatalf("IPv4 UDP checksum %#04x, want 0", udp.Checksum())
		}
		return
	}
	ip := f[header.EthernetMinimumSize:]
	pseudo := header.PseudoHeaderChecksum(header.ProtocolUDP, ip[8:24], ip[24:40], uint16(len(udp)))
	if udp.Checksum() == 0 || !udp.IsChecksumValid(pseudo) {
		t.Fatalf("bad IPv6 UDP checksum %#04x", udp.Checksum())
	}
}

func TestFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		size int
	}{
		{"ipv4_64", false, 64},
		{"ipv4_65_odd", false, 65},
		{"ipv4_1518", false, 1518},
		{"ipv6_66_min", true, MinSizeIPv6},
		{"ipv6_67_odd", true, 67},
		{"ipv6_1518", true, 1518},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(tc.v6, tc.size)
			f, err := c.Frame()
			if err != nil {
				t.Fatal(err)
			}
			checkFrame(t, c, f, c.SrcPort)
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
