package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// fragSizes are the UDP payloads of the fragment tests: 4, 8 and 60 KB, in 3, 6 and 42 fragments
// of 1500 bytes.
var fragSizes = []int{4 << 10, 8 << 10, 60 << 10}

// TestFragments sends UDP datagrams of 4, 8 and 60 KB through NAT, FULLNAT and TUN, IPv4 and
// IPv6, with one worker and with two on two-queue veths: the client's kernel fragments each, the
// real server's kernel reassembles it and echoes it back (fragmented again: through the director
// for NAT and FULLNAT, directly for TUN), and every echo carries the datagram intact (SHA-256).
// TUN's links have an MTU of 1500, so the director fragments the client's 1500-byte IPv4
// fragments again for the tunnel (frag_made), and answers IPv6 ones with packet too big, after
// which the client's kernel fragments to fit (the first datagram is sent again).
func TestFragments(t *testing.T) {
	for _, m := range modes {
		if m.name != "NAT" && m.name != "FULLNAT" && m.name != "TUN" {
			continue
		}
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
						if m.name == "TUN" && !f.client6() && after["frag_made"] == before["frag_made"] {
							t.Error("no fragments made for the tunnel")
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
