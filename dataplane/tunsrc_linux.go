package dataplane

import (
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/header"
)

// sourcer computes the tunnel sources (tunsrc.go) from the kernel and publishes them: for every
// tunnel real server of the configuration, the source of a route lookup toward it (kernelSource),
// and for every port its own addresses. Apply calls setConfig before it publishes a configuration,
// which looks up only the real servers it has not seen; the resolver calls refresh when the
// kernel's addresses or routes change, which looks them all up again. Changes are logged, a real
// server without a source as a warning, once until it has one again.
//
// A VIP is never a tunnel source: the real servers hold it themselves (and xdpvs-rs accepts tunnels
// only from its --director addresses). The kernel picks one when it is on the interface toward the
// real servers and matches them better than the interface's own address, as an IPv6 VIP /128
// always does on their subnet (RFC 6724's longest matching prefix); the director's own traffic
// then leaves from it too. Tunnels then leave from the address source address selection would
// pick if the VIPs were not there (bestOwn), and the choice is logged, with the fix: the VIP added
// with preferred_lft 0 (deprecated: never chosen as a source) or a route with a src.
type sourcer struct {
	ports []Port
	out   *tunnelSources
	log   *zap.Logger

	mu     sync.Mutex
	conf   *compiled
	vips   map[header.Addr]bool      // the configuration's VIPs
	addrs  []netlink.Addr            // the kernel's addresses at the last refresh
	own    [][2]header.Addr          // the ports' own addresses
	found  map[header.Addr]kernelSrc // by real server, since the last refresh
	logged map[header.Addr]kernelSrc // what was last logged of each real server
}

// kernelSrc is one real server's tunnel source: addr (zero: none, and err says why), and the VIP
// the kernel chose instead, if it did.
type kernelSrc struct {
	addr, vip header.Addr
	err       error
}

func newSourcer(ports []Port, out *tunnelSources, log *zap.Logger) *sourcer {
	return &sourcer{ports: ports, out: out, log: log, found: map[header.Addr]kernelSrc{}, logged: map[header.Addr]kernelSrc{}}
}

// setConfig publishes the sources of configuration c's tunnel real servers.
func (s *sourcer) setConfig(c *compiled) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conf = c
	vips := map[header.Addr]bool{}
	if c != nil {
		for k := range c.services {
			vips[k.addr] = true
		}
	}
	if !maps.Equal(vips, s.vips) || s.addrs == nil { // what may be a source changed
		s.vips = vips
		s.listAddrs()
	}
	s.publish()
}

// refresh looks every source up again (the kernel's addresses or routes changed) and publishes
// them.
func (s *sourcer) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listAddrs()
	s.publish()
}

// listAddrs reads the kernel's addresses and the ports' own, and forgets the sources found. Called
// with mu held.
func (s *sourcer) listAddrs() {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		s.log.Warn("listing the interfaces' addresses failed", zap.Error(err))
	}
	s.addrs = slices.DeleteFunc(addrs, func(a netlink.Addr) bool {
		ip, ok := netip.AddrFromSlice(a.IP)
		return !ok || !ip.Unmap().IsGlobalUnicast() || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 ||
			s.vips[header.AddrFromNetip(ip.Unmap())]
	})
	s.own = s.portAddrs()
	clear(s.found)
}

// publish looks up the sources of the configuration's real servers not yet found, publishes the
// table, forgets the real servers no longer configured and logs what changed. Called with mu held.
func (s *sourcer) publish() {
	live := map[header.Addr]bool{}
	forTunnels(s.conf, func(d *destInfo) {
		live[d.addr] = true
		if _, ok := s.found[d.addr]; !ok {
			s.found[d.addr] = s.lookup(d.addr)
		}
	})
	s.out.publish(newSrcTable(s.conf, func(rs header.Addr) header.Addr { return s.found[rs].addr }, s.own))
	for rs := range s.found {
		if !live[rs] {
			delete(s.found, rs)
		}
	}
	for rs := range s.logged {
		if !live[rs] {
			delete(s.logged, rs)
		}
	}
	for rs := range live {
		old, seen := s.logged[rs]
		if k := s.found[rs]; !seen || k.addr != old.addr || k.vip != old.vip {
			s.note(rs, k, old, seen)
		}
	}
}

// lookup returns the tunnel source toward rs: the kernel's choice, unless that is a VIP.
func (s *sourcer) lookup(rs header.Addr) kernelSrc {
	src, oif, err := kernelSource(rs)
	if err != nil || !s.vips[src] {
		return kernelSrc{addr: src, err: err}
	}
	k := kernelSrc{vip: src, addr: s.bestOwn(rs, oif)}
	if k.addr == (header.Addr{}) {
		k.err = fmt.Errorf("the kernel would send from the VIP %v, and the director has no other address of the family", src)
	}
	return k
}

// bestOwn returns the address of the director that RFC 6724's source address selection prefers
// toward rs among those that are not VIPs (listAddrs): of rs's family, not deprecated (rule 3),
// on the interface the route leaves by, oif (rule 5), with the longest prefix in common with rs,
// at most its own prefix length as Linux counts it (rule 8), the first listed of equals. Zero if
// there is none.
func (s *sourcer) bestOwn(rs header.Addr, oif int) header.Addr {
	dst := rs.Netip()
	var best header.Addr
	bestScore := -1
	for _, a := range s.addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
		if ip.Is4() != dst.Is4() {
			continue
		}
		ones, _ := a.Mask.Size()
		score := min(commonPrefix(ip, dst), ones) // rule 8, at most 128
		if a.LinkIndex == oif {
			score += 1 << 8 // rule 5
		}
		if a.Flags&unix.IFA_F_DEPRECATED == 0 && a.PreferedLft != 0 {
			score += 1 << 9 // rule 3
		}
		if score > bestScore {
			best, bestScore = header.AddrFromNetip(ip), score
		}
	}
	return best
}

// commonPrefix is the number of leading bits a and b (of one family) have in common.
func commonPrefix(a, b netip.Addr) int {
	x, y := a.AsSlice(), b.AsSlice()
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			return i*8 + bits.LeadingZeros8(d)
		}
	}
	return len(x) * 8
}

// note logs real server rs's tunnel source k, which was old (seen: logged before), and records it.
func (s *sourcer) note(rs header.Addr, k, old kernelSrc, seen bool) {
	s.logged[rs] = k
	none := k.addr == header.Addr{}
	switch {
	case none:
		s.log.Warn("no tunnel source toward a real server: its tunnel packets are dropped (no_tunnel_source) until the director has an address that reaches it",
			zap.Stringer("real_server", rs), zap.Error(k.err))
	case k.vip != header.Addr{}:
		s.log.Warn("the kernel would send to a real server from a VIP, which is never a tunnel source: tunnels leave from another address of the director (add the VIP with preferred_lft 0, or give the route a src, to make that the kernel's choice too)",
			zap.Stringer("real_server", rs), zap.Stringer("vip", k.vip), zap.Stringer("source", k.addr))
	case seen && old.addr == header.Addr{}:
		s.log.Info("tunnel source found", zap.Stringer("real_server", rs), zap.Stringer("source", k.addr))
	case seen && old.addr == k.addr:
		s.log.Info("tunnel source is the kernel's choice again", zap.Stringer("real_server", rs), zap.Stringer("source", k.addr))
	case seen:
		s.log.Info("tunnel source changed", zap.Stringer("real_server", rs), zap.Stringer("from", old.addr), zap.Stringer("to", k.addr))
	default:
		s.log.Debug("tunnel source", zap.Stringer("real_server", rs), zap.Stringer("source", k.addr))
	}
}

// errNoSource says that the kernel has no usable source toward a real server.
var errNoSource = errors.New("no global address of the family to send from")

// kernelSource asks the kernel which source address it would use toward rs (RTM_GETROUTE, as `ip
// route get RS`): the route's preferred source, or the address that source address selection
// picks (RFC 6724 for IPv6); and the interface the route leaves by. Only a global unicast address
// of rs's family will do.
func kernelSource(rs header.Addr) (src header.Addr, oif int, err error) {
	dst := rs.Netip()
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return header.Addr{}, 0, fmt.Errorf("route to %v: %w", dst, err)
	}
	for _, r := range routes {
		if a, ok := netip.AddrFromSlice(r.Src); ok {
			if a = a.Unmap(); a.IsGlobalUnicast() && a.Is4() == dst.Is4() {
				return header.AddrFromNetip(a), r.LinkIndex, nil
			}
		}
	}
	return header.Addr{}, 0, fmt.Errorf("route to %v: %w", dst, errNoSource)
}

// portAddrs returns each port's own addresses, IPv4 and IPv6 (listAddrs: not VIPs): the first of
// each family, a subnet's rather than a single address where there is one. These are the sources
// of the tunnels of connections whose real server has left the configuration. Called with mu
// held.
func (s *sourcer) portAddrs() [][2]header.Addr {
	own := make([][2]header.Addr, len(s.ports))
	for port, p := range s.ports {
		for _, hostRoutes := range []bool{false, true} {
			for _, a := range s.addrs {
				ip, _ := netip.AddrFromSlice(a.IP)
				ip = ip.Unmap()
				if bits, _ := a.Mask.Size(); a.LinkIndex != p.Ifindex || (bits == ip.BitLen()) != hostRoutes {
					continue
				}
				i := 1
				if ip.Is4() {
					i = 0
				}
				if own[port][i] == (header.Addr{}) {
					own[port][i] = header.AddrFromNetip(ip)
				}
			}
		}
	}
	return own
}
