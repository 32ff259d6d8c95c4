package dataplane

import (
	"slices"
	"sync/atomic"

	"github.com/xdpvs/xdpvs/header"
)

// Tunnel sources: the outer source address of TUN's IPIP and IPv6-in-IPv6 packets.
//
// A tunnel to a real server leaves from the address the kernel itself would use toward it: a route
// lookup with the real server as destination gives the route's preferred source, or the address
// that source address selection picks (RFC 6724 for IPv6: the one on the real server's subnet
// rather than the first of the interface, which may be a NAT VIP's /64), except that a VIP is
// never one (resolver side: sourcer in tunsrc_linux.go). It is computed per real server off the
// packet path, when a configuration is applied and again when the kernel's
// addresses or routes change (resolver_linux.go), and published here as an immutable table indexed
// by real-server id: per packet, one atomic load and an index. A connection whose real server has
// left the configuration (kept by KeepRemovedConns) finds no current entry and uses its egress
// port's own address, also kept current. A tunnel packet without a source is dropped
// (no_tunnel_source): it is never sent from 0.0.0.0 or ::, which routers and real servers drop.

// tunnelSources is the published table, shared by every worker; the resolver replaces it.
type tunnelSources struct {
	table atomic.Pointer[srcTable]
}

func (t *tunnelSources) load() *srcTable     { return t.table.Load() }
func (t *tunnelSources) publish(s *srcTable) { t.table.Store(s) }

// srcTable is one set of tunnel sources, never modified once published.
type srcTable struct {
	dests []destSource     // by real-server id: the real servers forwarded by tunnel, others zero
	ports [][2]header.Addr // by port: its own IPv4 and IPv6 address (zero: none)
}

// sameAs reports whether t and o hold the same sources (either may be nil).
func (t *srcTable) sameAs(o *srcTable) bool {
	if t == nil || o == nil {
		return t == o
	}
	return slices.Equal(t.dests, o.dests) && slices.Equal(t.ports, o.ports)
}

// destSource is the tunnel source of the real server with id (its index) and generation gen; addr
// zero: none (no address can reach it).
type destSource struct {
	addr header.Addr
	gen  uint16
}

// source returns the outer source of a tunnel to the real server (id, gen) out of port out, IPv6
// or IPv4, and whether there is one. Per packet: no lock, no allocation.
func (t *srcTable) source(id, gen uint16, out int, v6 bool) (*header.Addr, bool) {
	if t == nil {
		return nil, false
	}
	if int(id) < len(t.dests) && t.dests[id].gen == gen {
		d := &t.dests[id]
		return &d.addr, d.addr != header.Addr{}
	}
	if out >= len(t.ports) {
		return nil, false
	}
	i := 0
	if v6 {
		i = 1
	}
	a := &t.ports[out][i]
	return a, *a != header.Addr{}
}

// newSrcTable returns the tunnel sources of configuration c's tunnel real servers, each given by
// of (a zero Addr: none), beside the ports' own addresses.
func newSrcTable(c *compiled, of func(rs header.Addr) header.Addr, ports [][2]header.Addr) *srcTable {
	t := &srcTable{ports: ports}
	n := 0
	forTunnels(c, func(d *destInfo) { n = max(n, int(d.id)+1) })
	t.dests = make([]destSource, n)
	forTunnels(c, func(d *destInfo) { t.dests[d.id] = destSource{addr: of(d.addr), gen: d.gen} })
	return t
}

// forTunnels calls fn for every real server of c forwarded by tunnel.
func forTunnels(c *compiled, fn func(d *destInfo)) {
	if c == nil {
		return
	}
	for i := range c.svcs {
		for j := range c.svcs[i].dests {
			if d := &c.svcs[i].dests[j]; d.method == ForwardTunnel {
				fn(d)
			}
		}
	}
}
