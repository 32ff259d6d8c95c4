// Package topo builds the test hosts of xdpvs as network namespaces: a two-arm NAT layout with a
// client, a director and real servers, the daemon's lifecycle, and the servers and clients the
// demo, the end-to-end tests and the benchmarks run in them. Addresses come only from
// 198.18.0.0/15 and 2001:2::/48.
package topo

import (
	"fmt"
	"os"
	"strconv"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Addresses of the NAT layout. Real server i (from 0) sits on its own link 198.18.<i+1>.0/24,
// 2001:2:0:<i+1>::/64 behind director interface d<i+1>; the client on 198.18.0.0/24, 2001:2::/64
// behind d0, where the VIPs live.
const (
	VIP4      = "198.18.0.10"
	VIP6      = "2001:2::10"
	Client4   = "198.18.0.2"
	Client6   = "2001:2::2"
	director4 = "198.18.0.1"
	director6 = "2001:2::1"
)

// RS4 and RS6 are real server i's addresses.
func RS4(i int) string { return fmt.Sprintf("198.18.%d.2", i+1) }
func RS6(i int) string { return fmt.Sprintf("2001:2:0:%d::2", i+1) }

// NAT is the two-arm layout: client ─ d0 [director] d1..dN ─ real servers, every real server's
// default route through the director.
type NAT struct {
	Client, Director *netns.NS
	RS               []*netns.NS
	Queues           int
	hosts
}

// Ifaces are the director's interfaces, client side first.
func (t *NAT) Ifaces() []string {
	out := []string{"d0"}
	for i := range t.RS {
		out = append(out, "d"+strconv.Itoa(i+1))
	}
	return out
}

// NewNAT builds the layout with namespaces named prefix-client, prefix-dir, prefix-rs<i>, and veths
// of the given number of queues. On error everything made so far is removed.
func NewNAT(prefix string, realServers, queues int) (t *NAT, err error) {
	t = &NAT{Queues: queues, hosts: hosts{prefix: prefix}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	mk := t.add
	if t.Client, err = mk("client"); err != nil {
		return nil, err
	}
	if t.Director, err = mk("dir"); err != nil {
		return nil, err
	}
	if err = netns.Veth(t.Director, "d0", t.Client, "c0", queues); err != nil {
		return nil, err
	}
	if err = run(t.Director,
		[]string{"ip", "addr", "add", director4 + "/24", "dev", "d0"},
		[]string{"ip", "addr", "add", director6 + "/64", "dev", "d0", "nodad"},
		// The VIPs are on the director's client-side interface, as in LVS: the kernel answers
		// ARP and ND for them.
		[]string{"ip", "addr", "add", VIP4 + "/32", "dev", "d0"},
		[]string{"ip", "addr", "add", VIP6 + "/128", "dev", "d0", "nodad"},
	); err != nil {
		return nil, err
	}
	if err = run(t.Client,
		[]string{"ip", "addr", "add", Client4 + "/24", "dev", "c0"},
		[]string{"ip", "addr", "add", Client6 + "/64", "dev", "c0", "nodad"},
		[]string{"ip", "route", "add", "default", "via", director4},
		[]string{"ip", "-6", "route", "add", "default", "via", director6},
	); err != nil {
		return nil, err
	}
	for i := range realServers {
		rs, err := mk("rs" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		t.RS = append(t.RS, rs)
		d := "d" + strconv.Itoa(i+1)
		if err = netns.Veth(t.Director, d, rs, "r0", queues); err != nil {
			return nil, err
		}
		if err = run(t.Director,
			[]string{"ip", "addr", "add", fmt.Sprintf("198.18.%d.1/24", i+1), "dev", d},
			[]string{"ip", "addr", "add", fmt.Sprintf("2001:2:0:%d::1/64", i+1), "dev", d, "nodad"},
		); err != nil {
			return nil, err
		}
		if err = run(rs,
			[]string{"ip", "addr", "add", RS4(i) + "/24", "dev", "r0"},
			[]string{"ip", "addr", "add", RS6(i) + "/64", "dev", "r0", "nodad"},
			[]string{"ip", "route", "add", "default", "via", fmt.Sprintf("198.18.%d.1", i+1)},
			[]string{"ip", "-6", "route", "add", "default", "via", fmt.Sprintf("2001:2:0:%d::1", i+1)},
		); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Prefix returns a namespace prefix unique to this process, short enough for interface names.
func Prefix(name string) string {
	return fmt.Sprintf("xv%d%s", os.Getpid()%100000, name)
}
