package topo

import (
	"fmt"
	"strconv"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Addresses of the TUN layout, where a router joins four subnets: the client's 198.18.0.0/24, the
// director's 198.18.1.0/24 and real server i's 198.18.<20+i>.0/24 (IPv6 alike under 2001:2::/48).
// The VIPs lie outside every subnet and the router sends them to the director.
const (
	TUNVIP4 = "198.18.10.10"
	TUNVIP6 = "2001:2:0:10::10"
	// The director's d0, the source of its tunnels.
	tunDirector4 = "198.18.1.2"
	tunDirector6 = "2001:2:0:1::2"
)

// TUNRS4 and TUNRS6 are real server i's addresses.
func TUNRS4(i int) string { return fmt.Sprintf("198.18.%d.2", 20+i) }
func TUNRS6(i int) string { return fmt.Sprintf("2001:2:0:%d::2", 20+i) }

// TUN is the routed layout of tunnelling: client ─ router ─ director, and router ─ real servers.
// The director tunnels the clients' packets to the real servers, which hold the VIPs on lo,
// decapsulate (xdpvs-rs) and answer the clients directly through the router.
type TUN struct {
	Client, Director, Router *netns.NS
	RS                       []*netns.NS
	hosts
}

// NewTUN builds the layout with namespaces prefix-client, -dir, -rt, -rs<i>; the director's d0 has
// the given number of queues. Every link has the default MTU of 1500.
func NewTUN(prefix string, realServers, queues int) (t *TUN, err error) {
	t = &TUN{hosts: hosts{prefix: prefix}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	// Packets from the VIPs come back through the router from the real servers' links.
	mk := func(name string) (*netns.NS, error) {
		return t.add(name, "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	}
	// link joins host's name to the router's rtName on subnet n (198.18.n.0/24, 2001:2:0:n::/64):
	// the router is .1, the host .2 with its default route through the router.
	link := func(host *netns.NS, name, rtName string, n, q int) error {
		if err := netns.Veth(host, name, t.Router, rtName, q); err != nil {
			return err
		}
		if err := run(t.Router,
			[]string{"ip", "addr", "add", fmt.Sprintf("198.18.%d.1/24", n), "dev", rtName},
			[]string{"ip", "addr", "add", fmt.Sprintf("2001:2:0:%d::1/64", n), "dev", rtName, "nodad"},
		); err != nil {
			return err
		}
		return run(host,
			[]string{"ip", "addr", "add", fmt.Sprintf("198.18.%d.2/24", n), "dev", name},
			[]string{"ip", "addr", "add", fmt.Sprintf("2001:2:0:%d::2/64", n), "dev", name, "nodad"},
			[]string{"ip", "route", "add", "default", "via", fmt.Sprintf("198.18.%d.1", n)},
			[]string{"ip", "-6", "route", "add", "default", "via", fmt.Sprintf("2001:2:0:%d::1", n)},
		)
	}
	if t.Router, err = mk("rt"); err != nil {
		return nil, err
	}
	if err = run(t.Router,
		[]string{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		[]string{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
	); err != nil {
		return nil, err
	}
	if t.Client, err = mk("client"); err != nil {
		return nil, err
	}
	if t.Director, err = mk("dir"); err != nil {
		return nil, err
	}
	if err = link(t.Client, "c0", "rc", 0, 1); err != nil {
		return nil, err
	}
	if err = link(t.Director, "d0", "rd", 1, queues); err != nil {
		return nil, err
	}
	if err = run(t.Director,
		[]string{"ip", "addr", "add", TUNVIP4 + "/32", "dev", "d0"},
		[]string{"ip", "addr", "add", TUNVIP6 + "/128", "dev", "d0", "nodad"},
	); err != nil {
		return nil, err
	}
	if err = run(t.Router,
		[]string{"ip", "route", "add", TUNVIP4 + "/32", "via", tunDirector4},
		[]string{"ip", "-6", "route", "add", TUNVIP6 + "/128", "via", tunDirector6},
	); err != nil {
		return nil, err
	}
	for i := range realServers {
		rs, err := mk("rs" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		t.RS = append(t.RS, rs)
		if err = link(rs, "r0", "rr"+strconv.Itoa(i), 20+i, 1); err != nil {
			return nil, err
		}
		if err = run(rs,
			[]string{"sysctl", "-qw", "net.ipv4.conf.r0.rp_filter=0"},
			[]string{"ip", "addr", "add", TUNVIP4 + "/32", "dev", "lo"},
			[]string{"ip", "addr", "add", TUNVIP6 + "/128", "dev", "lo", "nodad"},
		); err != nil {
			return nil, err
		}
	}
	return t, nil
}
