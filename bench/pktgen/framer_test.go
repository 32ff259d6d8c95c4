package pktgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

// framerCases are the configurations both engines are checked with: families, protocols, sizes
// (odd ones, the smallest, the largest), flows over ports and addresses, ports at both ends of
// the range.
var framerCases = []framerCase{
	{"ipv4_64", false, 64, 1024, 37, 1, 0},
	{"ipv4_1518", false, 1518, 1, 5, 1, 0},
	{"ipv4_65_odd_addrs", false, 65, 1024, 7, 13, 0},
	{"ipv4_64_addrs", false, 64, 1024, 7, 13, 0},
	{"ipv6_66", true, MinSizeIPv6, 1024, 300, 1, 0},
	{"ipv6_1518_top_ports", true, 1518, 65535 - 99, 100, 1, 0},
	{"ipv6_127_low_ports", true, 127, 1, 300, 3, 0},
	{"tcp_syn_ipv4_64", false, 64, 1024, 11, 5, FlagSYN},
	{"tcp_ack_ipv4_512", false, 512, 2000, 50, 2, FlagACK | FlagPSH},
	{"tcp_syn_ipv6_78", true, 78, 1024, 9, 4, FlagSYN},
	{"tcp_ack_ipv6_1518", true, 1518, 40000, 10, 10, FlagACK},
}

type framerCase struct {
	name  string
	v6    bool
	size  int
	sport uint16
	flows int
	addrs int
	flags uint8 // TCP with these flags; 0: UDP
}

func (tc *framerCase) config() Config {
	c := testConfig(tc.v6, tc.size)
	c.SrcPort, c.Flows, c.Addrs = tc.sport, tc.flows, tc.addrs
	if tc.flags != 0 {
		c.Proto, c.TCPFlags = TCP, tc.flags
	}
	return c
}

// TestFramer writes frames one after the other into buffers that held other flows' frames (as
// UMEM frames do): each must be the template with exactly the flow, sequence number, stamp and
// checksums of its frame counter, and every checksum must verify by a full recomputation.
func TestFramer(t *testing.T) {
	for i := range framerCases {
		tc := &framerCases[i]
		t.Run(tc.name, func(t *testing.T) {
			c := tc.config()
			tmpl, err := c.Frame()
			if err != nil {
				t.Fatal(err)
			}
			f := newFramer(c, tmpl)
			// A few buffers, reused round robin, as the UMEM's frames are.
			bufs := make([][]byte, 3)
			for i := range bufs {
				bufs[i] = bytes.Clone(tmpl)
			}
			r := rand.New(rand.NewPCG(1, 2))
			n := 3*c.NumFlows() + 5
			for i := range n {
				b := bufs[i%len(bufs)]
				now := r.Uint64()
				seq := uint32(i) + 0xfffffff0 // wraps
				f.write(b, seq, now)
				flow := i % c.NumFlows()
				checkFrame(t, c, b, c.FlowSource(flow), flow)
				if d := diff(c, b, tmpl); d >= 0 {
					t.Fatalf("frame %d differs from the template at byte %d, outside the fields that vary", i, d)
				}
				if c.Proto == TCP {
					if got := header.TCP(b[c.l4Offset():]).SequenceNumber(); got != seq {
						t.Fatalf("frame %d: sequence number %#x, want %#x", i, got, seq)
					}
				}
				if c.Stamped() {
					if got := binary.BigEndian.Uint64(b[c.PayloadOffset()+8:]); got != now {
						t.Fatalf("frame %d: stamp time %#x, want %#x", i, got, now)
					}
				}
			}
			// Flow 0 with sequence number 0 at time 0 is the template itself.
			f.reset()
			b := bufs[0]
			f.write(b, 0, 0)
			if !bytes.Equal(b, tmpl) {
				t.Fatalf("flow 0 at counter 0 and time 0 differs from the template")
			}
		})
	}
}

// TestFramerChecksumEdges sweeps the stamp time over every value of its low word, so that the L4
// checksum takes every value, 0 and 0xffff included: UDP must never carry 0, and every checksum
// must verify.
func TestFramerChecksumEdges(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			t.Run(fmt.Sprintf("v6=%v/tcp=%v", v6, tcp), func(t *testing.T) {
				c := testConfig(v6, 128)
				c.Flows, c.Addrs = 3, 2
				if tcp {
					c.Proto, c.TCPFlags = TCP, FlagACK
				}
				tmpl, _ := c.Frame()
				f := newFramer(c, tmpl)
				b := bytes.Clone(tmpl)
				for i := range 1 << 16 {
					f.write(b, 7, uint64(i))
					flow := i % c.NumFlows()
					checkFrame(t, c, b, c.FlowSource(flow), flow)
				}
			})
		}
	}
}

func TestFramerAllocs(t *testing.T) {
	c := testConfig(true, 256)
	c.Proto, c.TCPFlags, c.Addrs = TCP, FlagACK, 4
	tmpl, _ := c.Frame()
	f := newFramer(c, tmpl)
	b := bytes.Clone(tmpl)
	if n := testing.AllocsPerRun(1000, func() { f.write(b, 1, 2) }); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

func BenchmarkFramer(b *testing.B) {
	c := testConfig(false, 64)
	c.Addrs = 16
	tmpl, _ := c.Frame()
	f := newFramer(c, tmpl)
	buf := bytes.Clone(tmpl)
	for i := 0; b.Loop(); i++ {
		f.write(buf, uint32(i), uint64(i))
	}
}

// diff returns the first offset where f differs from the template outside the fields the program
// writes (source address and port, checksums, sequence number, stamp flow and time), or -1.
func diff(c Config, f, tmpl []byte) int {
	varies := make([]bool, len(f))
	mark := func(off, n int) {
		for i := off; i < off+n && i < len(f); i++ {
			varies[i] = true
		}
	}
	l4 := c.l4Offset()
	mark(l4, 2) // source port
	if c.IPv6() {
		mark(header.EthernetMinimumSize+8, 16)
	} else {
		mark(header.EthernetMinimumSize+10, 2) // header checksum
		mark(header.EthernetMinimumSize+12, 4)
	}
	if c.Proto == TCP {
		mark(l4+4, 4)
		mark(l4+16, 2)
	} else {
		mark(l4+6, 2)
	}
	if c.Stamped() {
		mark(c.PayloadOffset()+4, StampSize-4)
	}
	for i := range f {
		if !varies[i] && f[i] != tmpl[i] {
			return i
		}
	}
	return -1
}
