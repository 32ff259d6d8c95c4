package kroute

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Proto is the routing protocol number of xdpvs's routes (`ip route show proto 250`), so that
// they are told from everyone else's: `ip route flush table N proto 250` removes them.
const Proto = 250

// MainTable is the kernel's main routing table, where Guard's routes go.
const MainTable = unix.RT_TABLE_MAIN

// table is the set of xdpvs's blackhole routes in one kernel table.
type table struct {
	id int
	mu sync.Mutex
}

func (t *table) route(p netip.Prefix) *netlink.Route {
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	return &netlink.Route{Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Table: t.id, Type: unix.RTN_BLACKHOLE, Protocol: Proto, Family: fam}
}

// ours lists the table's routes of protocol Proto.
func (t *table) ours() (map[netip.Prefix]bool, error) {
	out := map[netip.Prefix]bool{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := netlink.RouteListFiltered(fam, &netlink.Route{Table: t.id, Protocol: Proto},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			return nil, fmt.Errorf("kroute: list table %d: %w", t.id, err)
		}
		for _, r := range rs {
			if r.Dst == nil {
				continue
			}
			a, ok := netip.AddrFromSlice(r.Dst.IP)
			if !ok {
				continue
			}
			bits, _ := r.Dst.Mask.Size()
			out[netip.PrefixFrom(a.Unmap(), bits)] = true
		}
	}
	return out, nil
}

// set makes the table's routes of protocol Proto exactly want.
func (t *table) set(want []netip.Prefix) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	have, err := t.ours()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range want {
		if !have[p] {
			if err := netlink.RouteReplace(t.route(p)); err != nil {
				errs = append(errs, fmt.Errorf("kroute: add %v to table %d: %w", p, t.id, err))
			}
		}
	}
	for p := range have {
		if !slices.Contains(want, p) {
			if err := netlink.RouteDel(t.route(p)); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("kroute: delete %v from table %d: %w", p, t.id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Exporter writes the announced prefixes into a routing table of their own.
type Exporter struct{ t table }

// NewExporter owns xdpvs's routes in table id (1 to 2^32-1, not main or local), removing those a
// previous run left.
func NewExporter(id int) (*Exporter, error) {
	if id <= 0 || id == unix.RT_TABLE_MAIN || id == unix.RT_TABLE_LOCAL || id == unix.RT_TABLE_DEFAULT {
		return nil, fmt.Errorf("kroute: export table %d: want a table of its own (not 0, main 254, local 255 or default 253)", id)
	}
	e := &Exporter{t: table{id: id}}
	if err := e.t.set(nil); err != nil {
		return nil, err
	}
	return e, nil
}

// Set makes the table hold exactly prefixes (host routes).
func (e *Exporter) Set(prefixes []netip.Prefix) error { return e.t.set(prefixes) }

// Table is the table written to.
func (e *Exporter) Table() int { return e.t.id }

// Close removes the exported routes.
func (e *Exporter) Close() error { return e.t.set(nil) }

// Guard keeps a blackhole route in the main table for every address it is given, and leaves
// them behind when the daemon goes.
type Guard struct{ t table }

// NewGuard makes a guard of the main table.
func NewGuard() *Guard { return &Guard{t: table{id: MainTable}} }

// Set makes the guarded addresses exactly prefixes: new ones get their blackhole, those of
// removed services lose it.
func (g *Guard) Set(prefixes []netip.Prefix) error { return g.t.set(prefixes) }

// Local tells which of prefixes are addresses of this host's interfaces: in routed mode they
// must not be, or the kernel answers for them (a RST) while the daemon is down.
func Local(prefixes []netip.Prefix) []netip.Prefix {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		for _, p := range prefixes {
			if p.Addr() == ip.Unmap() && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
