package dataplane

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/xdpvs/xdpvs/header"
)

// maxNeighbours bounds the neighbour table; an entry is never freed while the daemon runs, only
// invalidated, so that a connection's neighbour index stays valid.
const maxNeighbours = 1 << 16

const macValid = uint64(1) << 63

// Neighbours is the next-hop table the workers read without locks: a MAC per (port, next hop) as an
// atomic 64-bit word, and immutable route and index snapshots swapped atomically. It is fed from the
// kernel's tables (netlink on Linux) or, in tests, by hand.
type Neighbours struct {
	macs    [maxNeighbours]atomic.Uint64
	keys    [maxNeighbours]neighKey // written before the index that publishes them
	index   atomic.Pointer[map[neighKey]uint32]
	routes  atomic.Pointer[[]Route]
	mu      sync.Mutex // writers only
	n       uint32
	resolve chan neighKey // requests for the resolver, dropped when full
}

type neighKey struct {
	port int
	addr header.Addr
}

// Route sends Prefix out of port Port, through Gateway if it is valid.
type Route struct {
	Prefix  netip.Prefix
	Port    int
	Gateway netip.Addr
}

// NewNeighbours returns an empty table.
func NewNeighbours() *Neighbours {
	n := &Neighbours{resolve: make(chan neighKey, 256)}
	empty := map[neighKey]uint32{}
	n.index.Store(&empty)
	n.routes.Store(&[]Route{})
	return n
}

// SetRoutes replaces the route table. Longest prefix wins.
func (n *Neighbours) SetRoutes(rs []Route) {
	rs = append([]Route(nil), rs...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Prefix.Bits() > rs[j].Prefix.Bits() })
	n.routes.Store(&rs)
}

// Set records the MAC of addr on port (valid false: not resolved, or failed).
func (n *Neighbours) Set(port int, addr netip.Addr, mac header.MAC, valid bool) {
	k := neighKey{port: port, addr: header.AddrFromNetip(addr)}
	n.mu.Lock()
	defer n.mu.Unlock()
	idx, ok := (*n.index.Load())[k]
	if !ok {
		if n.n >= maxNeighbours {
			return
		}
		idx = n.n
		n.n++
		n.keys[idx] = k
		old := *n.index.Load()
		m := make(map[neighKey]uint32, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[k] = idx
		n.macs[idx].Store(packMAC(mac, valid))
		n.index.Store(&m)
		return
	}
	n.macs[idx].Store(packMAC(mac, valid))
}

func packMAC(mac header.MAC, valid bool) uint64 {
	v := uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 | uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
	if valid {
		v |= macValid
	}
	return v
}

// mac returns the MAC of neighbour idx, if resolved. Per packet: one atomic load.
func (n *Neighbours) mac(idx uint32) (header.MAC, bool) {
	v := n.macs[idx].Load()
	return header.MAC{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}, v&macValid != 0
}

// nextHop finds the port and neighbour index for dst. It is called for new connections only.
// When the neighbour is unknown it asks the resolver (without blocking) and reports ok=false.
func (n *Neighbours) nextHop(dst *header.Addr) (port int, idx uint32, routed, ok bool) {
	rs := *n.routes.Load()
	ip := dst.Netip()
	for i := range rs {
		if !rs[i].Prefix.Contains(ip) {
			continue
		}
		hop := *dst
		if rs[i].Gateway.IsValid() {
			hop = header.AddrFromNetip(rs[i].Gateway)
		}
		k := neighKey{port: rs[i].Port, addr: hop}
		idx, known := (*n.index.Load())[k]
		if known {
			if _, valid := n.mac(idx); valid {
				return rs[i].Port, idx, true, true
			}
		}
		select {
		case n.resolve <- k:
		default:
		}
		return rs[i].Port, 0, true, false
	}
	return 0, 0, false, false
}

// request asks the resolver to refresh neighbour idx, without blocking.
func (n *Neighbours) request(idx uint32) {
	k := n.keys[idx]
	select {
	case n.resolve <- k:
	default:
	}
}

// anyOn returns a resolved neighbour on port, for the bare forwarder.
func (n *Neighbours) anyOn(port int) (uint32, bool) {
	for k, idx := range *n.index.Load() {
		if _, valid := n.mac(idx); valid && k.port == port {
			return idx, true
		}
	}
	return 0, false
}
