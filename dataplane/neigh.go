package dataplane

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gaissmai/bart"

	"github.com/xdpvs/xdpvs/header"
)

// maxNeighbours bounds the neighbour table. Slot 0 is never a neighbour: a connection's neighbour
// index 0 means "none" (the reply direction of a DR or TUN connection).
const maxNeighbours = 1 << 16

const macValid = uint64(1) << 63

// Neighbours is the next-hop table the workers read without locks: a MAC per (port, next hop) as an
// atomic 64-bit word, an immutable index snapshot and a longest-prefix-match route table, both
// swapped atomically. It is fed from the kernel's tables (netlink on Linux) or, in tests, by hand.
//
// # Slots are recycled
//
// A connection holds the slot of each of its next hops from open to expiry, counted in its
// worker's own reference array (one writer each, so no contended atomics). A slot that no
// connection holds and whose neighbour the kernel has dropped (or that is taken when the table is
// full) is recycled, so that spoofed on-link clients cannot fill the table for good. Each slot has
// a state word, generation << 2 | status: a worker that found a slot in an older index snapshot
// takes its reference and then re-reads the state; the recycler marks the slot retiring and then
// sums the references. One of the two always sees the other (sequentially consistent atomics):
// either the worker sees the slot change and lets go (a neighbour miss, resolved again), or the
// recycler sees the reference and keeps the slot.
type Neighbours struct {
	macs    [maxNeighbours]atomic.Uint64
	state   [maxNeighbours]atomic.Uint64
	keys    [maxNeighbours]neighKey // written before the state that publishes them
	index   atomic.Pointer[neighIndex]
	routes  atomic.Pointer[routeTable]
	refs    atomic.Pointer[[]*neighRefs] // one array per worker, appended under mu
	resolve chan neighKey                // requests for the resolver, dropped when full

	mu       sync.Mutex // writers only
	hwm      uint32     // slots handed out at least once (slot 0 excepted)
	free     []uint32
	gone     map[uint32]bool // slots whose neighbour the kernel no longer has
	recycled atomic.Uint64
	full     atomic.Uint64 // neighbours not added: every slot held by a connection
	changes  atomic.Uint64 // MACs changed or forgotten: the fast path's records made afresh
}

// neighIndex maps next hops to their slots: an immutable snapshot, a large base and a small delta
// of the changes since it was last merged (a deleted key has a zero slotRef in the delta), so that
// publishing a change copies the delta and, once every deltaMax changes, the base: amortized,
// a change costs O(deltaMax + n/deltaMax), not O(n).
type neighIndex struct {
	base, delta map[neighKey]slotRef
}

// slotRef is a slot and its state word when the index was published: a reader holding it knows
// the slot still serves that key exactly while the state word is unchanged.
type slotRef struct {
	idx   uint32
	state uint64
}

const deltaMax = 256

func (x *neighIndex) get(k neighKey) (slotRef, bool) {
	if r, ok := x.delta[k]; ok {
		return r, r.idx != 0
	}
	r, ok := x.base[k]
	return r, ok
}

// all calls fn for every key in the index.
func (x *neighIndex) all(fn func(neighKey, slotRef)) {
	for k, r := range x.base {
		if _, changed := x.delta[k]; !changed {
			fn(k, r)
		}
	}
	for k, r := range x.delta {
		if r.idx != 0 {
			fn(k, r)
		}
	}
}

// with returns the index with changes applied.
func (x *neighIndex) with(changes map[neighKey]slotRef) *neighIndex {
	if len(x.delta)+len(changes) > deltaMax {
		base := make(map[neighKey]slotRef, len(x.base)+len(x.delta)+len(changes))
		x.all(func(k neighKey, r slotRef) { base[k] = r })
		for k, r := range changes {
			if r.idx == 0 {
				delete(base, k)
			} else {
				base[k] = r
			}
		}
		return &neighIndex{base: base}
	}
	delta := make(map[neighKey]slotRef, len(x.delta)+len(changes))
	for k, r := range x.delta {
		delta[k] = r
	}
	for k, r := range changes {
		delta[k] = r
	}
	return &neighIndex{base: x.base, delta: delta}
}

// len is the number of keys in the index.
func (x *neighIndex) len() int {
	n := 0
	x.all(func(neighKey, slotRef) { n++ })
	return n
}

// neighRefs counts one worker's connections on each slot. Only that worker writes it.
type neighRefs [maxNeighbours]atomic.Int32

const (
	slotFree     = 0
	slotLive     = 1
	slotRetiring = 2
)

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

type route struct {
	port int
	gw   header.Addr
	hasG bool
}

// routeTable is the route table the workers read: a longest-prefix match (bart) to the index of
// a route, so that a lookup copies four bytes out of the trie rather than a 32-byte route (that
// copy, across the trie's small stores, cost a store-forwarding stall per lookup).
type routeTable struct {
	lpm    bart.Table[uint32]
	routes []route
}

// lookup returns the route to dst, if any.
func (t *routeTable) lookup(dst *header.Addr) (*route, bool) {
	i, ok := t.lpm.Lookup(dst.Netip())
	if !ok {
		return nil, false
	}
	return &t.routes[i], true
}

// NewNeighbours returns an empty table.
func NewNeighbours() *Neighbours {
	n := &Neighbours{resolve: make(chan neighKey, 256), hwm: 1, gone: map[uint32]bool{}}
	n.index.Store(&neighIndex{})
	n.routes.Store(new(routeTable))
	n.refs.Store(&[]*neighRefs{})
	return n
}

// register returns the reference array of a new worker.
func (n *Neighbours) register() *neighRefs {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := new(neighRefs)
	all := append(append([]*neighRefs(nil), *n.refs.Load()...), r)
	n.refs.Store(&all)
	return r
}

// SetRoutes replaces the route table. Longest prefix wins; of equal prefixes, the first.
func (n *Neighbours) SetRoutes(rs []Route) {
	t := new(routeTable)
	for _, r := range rs {
		pfx := r.Prefix.Masked()
		if _, dup := t.lpm.Get(pfx); dup || !pfx.IsValid() {
			continue
		}
		t.lpm.Insert(pfx, uint32(len(t.routes)))
		t.routes = append(t.routes, route{port: r.Port, gw: header.AddrFromNetip(r.Gateway), hasG: r.Gateway.IsValid()})
	}
	n.routes.Store(t)
}

// Set records the MAC of addr on port (valid false: not resolved, or failed).
func (n *Neighbours) Set(port int, addr netip.Addr, mac header.MAC, valid bool) {
	k := neighKey{port: port, addr: header.AddrFromNetip(addr)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.index.Load().get(k); ok {
		if old := n.macs[r.idx].Swap(packMAC(mac, valid)); old != packMAC(mac, valid) {
			n.changes.Add(1)
		}
		delete(n.gone, r.idx)
		return
	}
	idx, ok := n.takeSlot()
	if !ok {
		n.full.Add(1)
		return
	}
	n.keys[idx] = k
	n.macs[idx].Store(packMAC(mac, valid))
	st := n.state[idx].Load()&^3 | slotLive
	n.state[idx].Store(st)
	n.index.Store(n.index.Load().with(map[neighKey]slotRef{k: {idx, st}}))
}

// Forget says that the kernel no longer has addr on port: its slot is recycled once no connection
// holds it. Until then it keeps its last MAC, marked unresolved.
func (n *Neighbours) Forget(port int, addr netip.Addr) {
	k := neighKey{port: port, addr: header.AddrFromNetip(addr)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.index.Load().get(k); ok {
		n.macs[r.idx].Store(n.macs[r.idx].Load() &^ macValid)
		n.gone[r.idx] = true
		n.changes.Add(1)
	}
}

// Recycle frees the slots of forgotten neighbours that no connection holds, and returns how many.
func (n *Neighbours) Recycle() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.recycle(false)
}

// takeSlot returns a free slot: a recycled one, a new one, or (the table full) one that no
// connection holds, forgotten ones first. Called with mu held.
func (n *Neighbours) takeSlot() (uint32, bool) {
	switch {
	case len(n.free) > 0:
	case n.hwm < maxNeighbours:
		n.hwm++
		return n.hwm - 1, true
	case n.recycle(true) == 0:
		return 0, false
	}
	idx := n.free[len(n.free)-1]
	n.free = n.free[:len(n.free)-1]
	return idx, true
}

// recycle frees forgotten slots that no connection holds; with any, when there are none, also up
// to 256 live ones that no connection holds (the table is full). Called with mu held.
func (n *Neighbours) recycle(any bool) int {
	var freed []uint32
	for idx := range n.gone {
		if n.retire(idx) {
			freed = append(freed, idx)
		}
	}
	if any && len(freed) == 0 {
		for idx := uint32(1); idx < n.hwm && len(freed) < 256; idx++ {
			if n.state[idx].Load()&3 == slotLive && n.retire(idx) {
				freed = append(freed, idx)
			}
		}
	}
	n.unpublish(freed)
	return len(freed)
}

// retire frees slot idx if no worker holds it. Called with mu held.
func (n *Neighbours) retire(idx uint32) bool {
	st := n.state[idx].Load()
	n.state[idx].Store(st&^3 | slotRetiring)
	for _, r := range *n.refs.Load() {
		if r[idx].Load() != 0 {
			n.state[idx].Store(st) // held: keep it
			return false
		}
	}
	n.state[idx].Store((st>>2+1)<<2 | slotFree) // a new generation: older references fail
	n.macs[idx].Store(0)
	delete(n.gone, idx)
	return true
}

// unpublish drops freed slots from the index and makes them available. Called with mu held.
func (n *Neighbours) unpublish(freed []uint32) {
	if len(freed) == 0 {
		return
	}
	changes := make(map[neighKey]slotRef, len(freed))
	for _, idx := range freed {
		changes[n.keys[idx]] = slotRef{}
	}
	n.index.Store(n.index.Load().with(changes))
	n.free = append(n.free, freed...)
	n.recycled.Add(uint64(len(freed)))
}

// packMAC packs mac in the low 48 bits of a word, the valid flag in the top bit.
func packMAC(mac header.MAC, valid bool) uint64 {
	v := uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 | uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
	if valid {
		v |= macValid
	}
	return v
}

// unpackMAC is the MAC packMAC packed.
func unpackMAC(v uint64) header.MAC {
	return header.MAC{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// mac returns the MAC of neighbour idx, if resolved.
func (n *Neighbours) mac(idx uint32) (header.MAC, bool) {
	v, ok := n.packedMAC(idx)
	return unpackMAC(v), ok
}

// packedMAC returns the MAC of neighbour idx as packMAC packed it, if resolved. Per packet: one
// atomic load.
func (n *Neighbours) packedMAC(idx uint32) (uint64, bool) {
	v := n.macs[idx].Load()
	return v, v&macValid != 0
}

// nextHop finds the port and neighbour for dst. It is called for new connections only. When the
// neighbour is unknown it asks the resolver (without blocking) and reports ok=false. A worker
// passes its hopCache (the control side nil), which answers for the index when it can.
func (n *Neighbours) nextHop(dst *header.Addr, c *hopCache) (port int, h slotRef, routed, ok bool) {
	r, found := n.routes.Load().lookup(dst)
	if !found {
		return 0, slotRef{}, false, false
	}
	hop := dst
	if r.hasG {
		hop = &r.gw
	}
	var k neighKey // field by field: a composite literal is built aside and copied, a stall
	k.port = r.port
	k.addr = *hop
	var e *hopEntry
	if c != nil {
		e = c.slot(&k)
		if h, hit := e.get(&k); hit && n.usable(h) {
			return r.port, h, true, true
		}
	}
	if h, known := n.index.Load().get(k); known && n.usable(h) {
		if e != nil {
			*e = hopEntry{k: k, h: h}
		}
		return r.port, h, true, true
	}
	select {
	case n.resolve <- k:
	default:
	}
	return r.port, slotRef{}, true, false
}

// usable reports whether slot h still serves the key it was found under, its MAC resolved.
func (n *Neighbours) usable(h slotRef) bool {
	_, valid := n.packedMAC(h.idx)
	return valid && n.state[h.idx].Load() == h.state
}

// hold takes worker refs' reference on a next hop's slot found by nextHop, for a new connection. It fails
// if the slot was recycled meanwhile; the caller treats that as a neighbour miss.
func (n *Neighbours) hold(refs *neighRefs, h slotRef) bool {
	r := &refs[h.idx]
	r.Store(r.Load() + 1)
	if h.idx == 0 || n.state[h.idx].Load() != h.state {
		r.Store(r.Load() - 1)
		return false
	}
	return true
}

// drop gives back a reference taken with hold (idx 0: none).
func (n *Neighbours) drop(refs *neighRefs, idx uint32) {
	if idx != 0 {
		r := &refs[idx]
		r.Store(r.Load() - 1)
	}
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
	var idx uint32
	n.index.Load().all(func(k neighKey, r slotRef) {
		if _, valid := n.mac(r.idx); valid && k.port == port && idx == 0 {
			idx = r.idx
		}
	})
	return idx, idx != 0
}
