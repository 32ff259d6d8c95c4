package dataplane

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

func addr4(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}) }

// TestRoutesLongestPrefix: the route table picks the longest matching prefix, the first of equal
// ones, in both families, and reports no route where none matches.
func TestRoutesLongestPrefix(t *testing.T) {
	n := NewNeighbours()
	gw := netip.MustParseAddr("198.18.0.1")
	n.SetRoutes([]Route{
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Port: 0, Gateway: gw},
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 1},
		{Prefix: netip.MustParsePrefix("198.18.1.128/25"), Port: 2},
		{Prefix: netip.MustParsePrefix("198.18.1.128/25"), Port: 3}, // a duplicate: the first wins
		{Prefix: netip.MustParsePrefix("2001:2::/48"), Port: 1},
	})
	for _, c := range []struct {
		dst    string
		port   int
		routed bool
		hop    string
	}{
		{"198.18.1.5", 1, true, "198.18.1.5"},
		{"198.18.1.200", 2, true, "198.18.1.200"},
		{"198.19.7.7", 0, true, "198.18.0.1"},
		{"2001:2::9", 1, true, "2001:2::9"},
		{"2001:3::9", 0, false, ""},
	} {
		dst := header.AddrFromNetip(netip.MustParseAddr(c.dst))
		port, _, routed, _ := n.nextHop(&dst, nil)
		if routed != c.routed || (routed && port != c.port) {
			t.Errorf("%s: port %d routed %v, want %d %v", c.dst, port, routed, c.port, c.routed)
			continue
		}
		if !routed {
			continue
		}
		if ks := drainResolve(n); len(ks) != 1 || ks[0].addr.Netip() != netip.MustParseAddr(c.hop) {
			t.Errorf("%s: resolution asked for %v, want next hop %s", c.dst, ks, c.hop)
		}
	}
}

// TestNeighbourRecycling: a neighbour the kernel forgot is recycled once no connection holds it;
// one a connection holds keeps its slot (and its index stays valid for the connection) until the
// connection lets go.
func TestNeighbourRecycling(t *testing.T) {
	n := NewNeighbours()
	n.SetRoutes([]Route{{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Port: 0}})
	refs := n.register()
	var mac header.MAC
	for i := 1; i <= 3; i++ {
		n.Set(0, addr4(i), mac, true)
	}
	held := header.AddrFromNetip(addr4(2))
	_, h, _, ok := n.nextHop(&held, nil)
	if !ok || !n.hold(refs, h) {
		t.Fatal("no next hop to hold")
	}
	for i := 1; i <= 3; i++ {
		n.Forget(0, addr4(i))
	}
	if got := n.Recycle(); got != 2 {
		t.Fatalf("recycled %d slots, want 2 (one is held)", got)
	}
	if _, valid := n.mac(h.idx); valid {
		t.Error("a forgotten neighbour's MAC is still valid")
	}
	// The kernel learns it again: the held slot is the one updated.
	n.Set(0, addr4(2), header.MAC{2, 0, 0, 0, 0, 2}, true)
	if m, valid := n.mac(h.idx); !valid || m[5] != 2 {
		t.Fatalf("held slot not updated: %v %v", m, valid)
	}
	n.Forget(0, addr4(2))
	n.drop(refs, h.idx)
	if got := n.Recycle(); got != 1 {
		t.Fatalf("recycled %d slots after the connection let go, want 1", got)
	}
	if l := n.index.Load().len(); l != 0 {
		t.Fatalf("index still holds %d neighbours", l)
	}
	// A reference found before the slot was recycled fails to hold.
	if n.hold(refs, h) {
		t.Fatal("held a recycled slot")
	}
}

// TestHopCache: a worker's next-hop cache answers what the index answers (gateways under their own
// address): no longer the cached slot once the neighbour is forgotten, and the new one once its
// slot is recycled and the key given another.
func TestHopCache(t *testing.T) {
	n := NewNeighbours()
	gw := netip.MustParseAddr("198.18.0.1")
	n.SetRoutes([]Route{{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 1},
		{Prefix: netip.MustParsePrefix("198.19.0.0/16"), Port: 0, Gateway: gw}})
	c := newHopCache()
	refs := n.register()
	rs := header.AddrFromNetip(netip.MustParseAddr("198.18.1.7"))
	client := header.AddrFromNetip(netip.MustParseAddr("198.19.3.4"))
	n.Set(1, rs.Netip(), header.MAC{2, 0, 0, 0, 0, 7}, true)
	n.Set(0, gw, header.MAC{2, 0, 0, 0, 0, 1}, true)
	cached := func(port int, a header.Addr) (slotRef, bool) {
		k := neighKey{port: port, addr: a}
		return c.slot(&k).get(&k)
	}
	lookup := func(dst header.Addr) (int, slotRef, bool) {
		t.Helper()
		want, wh, _, wok := n.nextHop(&dst, nil)
		port, h, _, ok := n.nextHop(&dst, c)
		if port != want || h != wh || ok != wok {
			t.Fatalf("%v: cached %d %v %v, index %d %v %v", dst.Netip(), port, h, ok, want, wh, wok)
		}
		return port, h, ok
	}
	_, hrs, ok := lookup(rs)
	if !ok {
		t.Fatal("real server not resolved")
	}
	if h, hit := cached(1, rs); !hit || h != hrs {
		t.Fatalf("real server not cached: %v %v", h, hit)
	}
	if _, _, ok := lookup(client); !ok {
		t.Fatal("client's gateway not resolved")
	}
	if _, hit := cached(0, header.AddrFromNetip(gw)); !hit {
		t.Fatal("the gateway is not cached under its own address")
	}
	lookup(rs) // a hit
	drainResolve(n)

	// Forgotten: the cached slot is no longer usable, and resolution is asked for.
	n.Forget(1, rs.Netip())
	if _, _, ok := lookup(rs); ok {
		t.Fatal("a forgotten neighbour is still a next hop")
	}
	if ks := drainResolve(n); len(ks) == 0 {
		t.Fatal("no resolution asked for a forgotten neighbour")
	}
	// Recycled and learnt again in another slot: the cache follows.
	if n.Recycle() != 1 {
		t.Fatal("the forgotten slot was not recycled")
	}
	n.Set(0, netip.MustParseAddr("198.18.0.9"), header.MAC{}, true) // takes the recycled slot
	n.Set(1, rs.Netip(), header.MAC{2, 0, 0, 0, 0, 8}, true)
	_, h2, ok := lookup(rs)
	if !ok || h2 == hrs || !n.hold(refs, h2) {
		t.Fatalf("relearnt real server: %v (was %v) ok %v", h2, hrs, ok)
	}
	if m, _ := n.mac(h2.idx); m[5] != 8 {
		t.Fatalf("relearnt real server's MAC %v", m)
	}
}

// TestNeighbourTableFull: when every slot is taken, a new neighbour takes one that no connection
// holds; when every slot is held, it is refused and counted.
func TestNeighbourTableFull(t *testing.T) {
	n := NewNeighbours()
	refs := n.register()
	var mac header.MAC
	for i := 1; i < maxNeighbours; i++ {
		n.Set(0, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), mac, true)
	}
	has := func(port, i int) bool {
		_, ok := n.index.Load().get(neighKey{port, header.AddrFromNetip(addr4(i))})
		return ok
	}
	n.Set(1, addr4(1), mac, true) // port 1: a new key
	if !has(1, 1) || n.full.Load() != 0 {
		t.Fatal("a new neighbour in a full table of unheld slots was refused")
	}
	for idx := uint32(1); idx < maxNeighbours; idx++ {
		refs[idx].Store(1)
	}
	for i := 2; len(n.free) > 0; i++ { // the slots freed with the first one
		n.Set(1, addr4(i), mac, true)
	}
	n.Set(1, addr4(999), mac, true)
	if has(1, 999) || n.full.Load() != 1 {
		t.Fatalf("a new neighbour in a table of held slots: added %v, full %d", has(1, 999), n.full.Load())
	}
}

// TestNeighbourHoldRace: workers look up and hold next hops while the resolver forgets, recycles
// and re-adds them. A hold that succeeds always has the slot of the neighbour it looked up, and
// under -race no access is unsynchronized.
func TestNeighbourHoldRace(t *testing.T) {
	n := NewNeighbours()
	n.SetRoutes([]Route{{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Port: 0}})
	const hosts = 64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var holds, misses atomic.Int64
	for w := range 2 {
		refs, hops := n.register(), newHopCache()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []uint32
			for i := 0; !stop.Load(); i++ {
				dst := header.AddrFromNetip(addr4(1 + (i*7+w)%hosts))
				_, h, _, ok := n.nextHop(&dst, hops)
				if !ok || !n.hold(refs, h) {
					misses.Add(1)
					continue
				}
				if k := n.keys[h.idx]; k.addr != dst {
					t.Errorf("held slot %d of %v for %v", h.idx, k.addr, dst)
					return
				}
				holds.Add(1)
				if held = append(held, h.idx); len(held) > 8 {
					n.drop(refs, held[0])
					held = held[1:]
				}
			}
			for _, idx := range held {
				n.drop(refs, idx)
			}
		}()
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		a := addr4(1 + i%hosts)
		n.Set(0, a, header.MAC{0, 0, 0, 0, 0, byte(i)}, true)
		if i%3 == 0 {
			n.Forget(0, addr4(1+(i/3)%hosts))
			n.Recycle()
		}
		drainResolve(n)
	}
	stop.Store(true)
	wg.Wait()
	for i := 1; i <= hosts; i++ {
		n.Forget(0, addr4(i))
	}
	n.Recycle()
	if left := n.index.Load().len(); left != 0 {
		t.Errorf("%d neighbours left after every connection let go and the kernel forgot them all", left)
	}
	t.Logf("%d holds, %d misses, %d slots recycled", holds.Load(), misses.Load(), n.recycled.Load())
	if holds.Load() == 0 || n.recycled.Load() == 0 {
		t.Fatal("the race was not exercised")
	}
}

// TestSpoofedClientsDoNotFillNeighbours: more on-link clients than the table has slots open NAT
// connections, a thousand at a time; the kernel forgets each client (its neighbour cache is
// bounded) and the connections expire, so every client is served. Before slots were recycled the
// table filled for good at 65,535 neighbours, and every later on-link client was dropped
// (neigh_miss).
func TestSpoofedClientsDoNotFillNeighbours(t *testing.T) {
	if testing.Short() {
		t.Skip("70,000 connections")
	}
	e := newTestEnv(t, 2048)
	p := e.p
	e.neigh.SetRoutes([]Route{
		{Prefix: netip.MustParsePrefix("198.19.0.0/16"), Port: 0}, // on link: a neighbour per client
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 1},
	})
	now := t0
	const clients, chunk = maxNeighbours + 5000, 1000
	for i := 0; i < clients; i += chunk {
		for j := i; j < i+chunk; j++ {
			c := syn(c2v4)
			c.sip = netip.AddrFrom4([4]byte{198, 19, byte(j >> 8), byte(j)})
			e.neigh.Set(0, c.sip, cliMAC, true) // resolved by the kernel
			if v, _ := p.Process(c.frame(t), 0, now); v != VerdictTX {
				t.Fatalf("client %d of %d: %s; %s", j, clients, vname(v), nonZero(p.c))
			}
			drainResolve(e.neigh)
		}
		now += int64(61 * time.Second) // SYN_RECV's timeout: the connections expire
		p.table.Expire(now, 0)
		for j := i; j < i+chunk; j++ {
			e.neigh.Forget(0, netip.AddrFrom4([4]byte{198, 19, byte(j >> 8), byte(j)}))
		}
		e.neigh.Recycle()
	}
	if n := e.neigh.index.Load().len(); n > 2*chunk+8 {
		t.Errorf("%d neighbours held after every client went", n)
	}
}

// BenchmarkNextHop: the two next-hop lookups of a new NAT connection (a client through a gateway,
// an on-link real server), with the neighbour index alone and with a worker's hopCache.
func BenchmarkNextHop(b *testing.B) {
	n := NewNeighbours()
	gw := netip.MustParseAddr("198.18.0.1")
	n.SetRoutes([]Route{{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 1},
		{Prefix: netip.MustParsePrefix("198.19.0.0/16"), Port: 0, Gateway: gw}})
	n.Set(0, gw, header.MAC{2, 0, 0, 0, 0, 1}, true)
	for i := range 64 { // a neighbour table of some size: the real servers
		n.Set(1, netip.AddrFrom4([4]byte{198, 18, 1, byte(2 + i)}), header.MAC{2, 0, 0, 0, 1, byte(i)}, true)
	}
	for _, c := range []struct {
		name string
		hops *hopCache
	}{{"index", nil}, {"cached", newHopCache()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				client := header.AddrFrom4([]byte{198, 19, byte(i >> 8), byte(i)})
				rs := header.AddrFrom4([]byte{198, 18, 1, byte(2 + i&63)})
				_, _, _, ok0 := n.nextHop(&client, c.hops)
				_, _, _, ok1 := n.nextHop(&rs, c.hops)
				if !ok0 || !ok1 {
					b.Fatal("not resolved")
				}
				i++
			}
			reportPerPacket(b, i)
		})
	}
}
