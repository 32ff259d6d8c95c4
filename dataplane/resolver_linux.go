package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/header"
)

// resolver feeds Neighbours from the kernel: routes and neighbours of the forwarded interfaces,
// kept current by netlink notifications and a periodic full refresh, and resolution of unknown
// next hops on request (RTM_NEWNEIGH with NTF_USE makes the kernel send ARP or ND). It also has
// the tunnels' sources looked up again (sourcer.refresh) when the kernel's addresses or routes
// change, once they have settled, and every sourcesEvery in case a notification was lost.
type resolver struct {
	ports     []Port
	byIfindex map[int]int
	neigh     *Neighbours
	sources   *sourcer
	log       *zap.Logger
	stop      chan struct{}
	done      chan struct{}
	probed    map[neighKey]time.Time
	lost      chan struct{} // a notification may have been lost: refresh the sources
}

const (
	refreshEvery  = time.Second
	sourcesSettle = 20 * time.Millisecond // after an address or route change, before the sources are looked up
	sourcesEvery  = 10 * time.Second
	probeEvery    = 200 * time.Millisecond // per next hop
	nudValid      = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE |
		netlink.NUD_PERMANENT | netlink.NUD_NOARP
)

func startResolver(ports []Port, n *Neighbours, sources *sourcer, log *zap.Logger) (*resolver, error) {
	r := &resolver{ports: ports, byIfindex: map[int]int{}, neigh: n, sources: sources, log: log,
		stop: make(chan struct{}), done: make(chan struct{}), probed: map[neighKey]time.Time{}, lost: make(chan struct{}, 1)}
	for i, p := range ports {
		r.byIfindex[p.Ifindex] = i
	}
	if err := r.refresh(); err != nil {
		return nil, err
	}
	neighs := make(chan netlink.NeighUpdate, 1024)
	if err := netlink.NeighSubscribeWithOptions(neighs, r.stop, netlink.NeighSubscribeOptions{
		ErrorCallback: r.notificationError("neighbour notifications"),
	}); err != nil {
		return nil, fmt.Errorf("dataplane: subscribe to neighbours: %w", err)
	}
	routes := make(chan netlink.RouteUpdate, 256)
	if err := netlink.RouteSubscribeWithOptions(routes, r.stop, netlink.RouteSubscribeOptions{
		ErrorCallback: r.notificationError("route notifications"),
	}); err != nil {
		return nil, fmt.Errorf("dataplane: subscribe to routes: %w", err)
	}
	addrs := make(chan netlink.AddrUpdate, 256)
	if err := netlink.AddrSubscribeWithOptions(addrs, r.stop, netlink.AddrSubscribeOptions{
		ErrorCallback: r.notificationError("address notifications"),
	}); err != nil {
		return nil, fmt.Errorf("dataplane: subscribe to addresses: %w", err)
	}
	go r.loop(neighs, routes, addrs)
	return r, nil
}

// notificationError returns the error callback of a subscription to what: a notification may
// have been lost (or the subscription ended: the periodic refreshes stand in for it), so the
// sources are looked up again. Errors after close (the subscription's socket closing) are not.
func (r *resolver) notificationError(what string) func(error) {
	return func(err error) {
		select {
		case <-r.stop:
			return
		default:
		}
		r.log.Warn(what, zap.Error(err))
		select {
		case r.lost <- struct{}{}:
		default:
		}
	}
}

func (r *resolver) close() {
	close(r.stop)
	<-r.done
}

func (r *resolver) loop(neighs <-chan netlink.NeighUpdate, routes <-chan netlink.RouteUpdate, addrs <-chan netlink.AddrUpdate) {
	defer close(r.done)
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	// settle fires sourcesSettle after the first address or route change since the last refresh
	// of the sources: a burst of changes (an address and its routes) costs one.
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	pending, sourced := false, time.Now()
	changed := func() {
		if !pending {
			pending = true
			settle.Reset(sourcesSettle)
		}
	}
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			if err := r.refresh(); err != nil {
				r.log.Warn("refresh of routes and neighbours failed", zap.Error(err))
			}
			if time.Since(sourced) >= sourcesEvery {
				changed()
			}
		case <-settle.C:
			pending, sourced = false, time.Now()
			r.sources.refresh()
		case <-r.lost:
			changed()
		case _, ok := <-addrs:
			if !ok {
				addrs = nil
				continue
			}
			changed()
		case u, ok := <-neighs:
			if !ok {
				neighs = nil
				continue
			}
			r.setNeigh(&u.Neigh, u.Type == unix.RTM_NEWNEIGH)
		case _, ok := <-routes:
			if !ok {
				routes = nil
				continue
			}
			if err := r.refreshRoutes(); err != nil {
				r.log.Warn("refresh of routes failed", zap.Error(err))
			}
			changed()
		case k := <-r.neigh.resolve:
			r.probe(k)
		}
	}
}

func (r *resolver) refresh() error {
	if err := r.refreshRoutes(); err != nil {
		return err
	}
	seen := map[neighKey]bool{}
	for port, p := range r.ports {
		ns, err := netlink.NeighList(p.Ifindex, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("dataplane: list neighbours of %s: %w", p.Name, err)
		}
		for i := range ns {
			r.setNeigh(&ns[i], true)
			if ip, ok := netip.AddrFromSlice(ns[i].IP); ok {
				seen[neighKey{port: port, addr: header.AddrFromNetip(ip.Unmap())}] = true
			}
		}
	}
	// Neighbours the kernel dropped without our seeing it (a lost notification) go too, and the
	// slots of those no connection holds are recycled.
	r.neigh.index.Load().all(func(k neighKey, _ slotRef) {
		if !seen[k] {
			r.neigh.Forget(k.port, k.addr.Netip())
		}
	})
	r.neigh.Recycle()
	return nil
}

func (r *resolver) setNeigh(n *netlink.Neigh, present bool) {
	port, ok := r.byIfindex[n.LinkIndex]
	if !ok {
		return
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return
	}
	if !present {
		r.neigh.Forget(port, ip.Unmap())
		return
	}
	valid := n.State&nudValid != 0
	if valid && len(n.HardwareAddr) != 6 {
		return // a state change that does not restate the address: keep the one we have
	}
	var mac header.MAC
	copy(mac[:], n.HardwareAddr)
	r.neigh.Set(port, ip.Unmap(), mac, valid)
}

func (r *resolver) refreshRoutes() error {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("dataplane: list routes: %w", err)
	}
	var out []Route
	for _, rt := range rs {
		port, ok := r.byIfindex[rt.LinkIndex]
		if !ok {
			continue
		}
		var pfx netip.Prefix
		if rt.Dst != nil {
			a, _ := netip.AddrFromSlice(rt.Dst.IP)
			bits, _ := rt.Dst.Mask.Size()
			pfx = netip.PrefixFrom(a.Unmap(), bits)
		} else if rt.Family == unix.AF_INET6 {
			pfx = netip.MustParsePrefix("::/0")
		} else {
			pfx = netip.MustParsePrefix("0.0.0.0/0")
		}
		var gw netip.Addr
		if rt.Gw != nil {
			gw, _ = netip.AddrFromSlice(rt.Gw)
			gw = gw.Unmap()
		}
		out = append(out, Route{Prefix: pfx.Masked(), Port: port, Gateway: gw})
	}
	r.neigh.SetRoutes(out)
	return nil
}

// probe asks the kernel to resolve a next hop, at most every probeEvery per next hop.
func (r *resolver) probe(k neighKey) {
	now := time.Now()
	if t, ok := r.probed[k]; ok && now.Sub(t) < probeEvery {
		return
	}
	r.probed[k] = now
	if len(r.probed) > 4096 {
		clear(r.probed)
	}
	ip := k.addr.Netip()
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	err := netlink.NeighSet(&netlink.Neigh{LinkIndex: r.ports[k.port].Ifindex, Family: fam,
		IP: net.IP(ip.AsSlice()), State: netlink.NUD_NONE, Flags: netlink.NTF_USE})
	if err != nil {
		r.log.Debug("neighbour resolution request failed", zap.Stringer("addr", ip), zap.Error(err))
	}
}
