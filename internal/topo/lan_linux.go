package topo

import (
	"fmt"
	"strconv"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// LANRS4 and LANRS6 are real server i's addresses on the LAN layout's shared segment.
func LANRS4(i int) string { return fmt.Sprintf("198.18.1.%d", 2+i) }
func LANRS6(i int) string { return fmt.Sprintf("2001:2:0:1::%d", 2+i) }

// LAN is DPVS's two-arm FULLNAT layout (its tutorial's fnat-two-arm picture): the client behind
// the director's d0 (WAN: 198.18.0.0/24, 2001:2::/64, where the VIPs live, as in the NAT layout),
// the real servers together on one segment behind d1 (LAN: a bridge, 198.18.1.0/24,
// 2001:2:0:1::/64, the director .1). The real servers have no route off their segment: the
// replies of FULLNAT go to the director's local addresses on it, which they must resolve by ARP
// and ND, so a local address works only once it is an address of d1.
type LAN struct {
	Client, Director, Switch *netns.NS
	RS                       []*netns.NS
	hosts
}

// NewLAN builds the layout with namespaces prefix-client, -dir, -sw, -rs<i>; the director's
// interfaces have the given number of queues.
func NewLAN(prefix string, realServers, queues int) (t *LAN, err error) {
	t = &LAN{hosts: hosts{prefix: prefix}}
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
	if t.Switch, err = mk("sw"); err != nil {
		return nil, err
	}
	if err = run(t.Switch, []string{"ip", "link", "add", "br0", "type", "bridge"}, []string{"ip", "link", "set", "br0", "up"}); err != nil {
		return nil, err
	}
	if err = netns.Veth(t.Director, "d0", t.Client, "c0", queues); err != nil {
		return nil, err
	}
	if err = netns.Veth(t.Director, "d1", t.Switch, "sd", queues); err != nil {
		return nil, err
	}
	if err = run(t.Switch, []string{"ip", "link", "set", "sd", "master", "br0"}); err != nil {
		return nil, err
	}
	if err = run(t.Director,
		[]string{"ip", "addr", "add", director4 + "/24", "dev", "d0"},
		[]string{"ip", "addr", "add", director6 + "/64", "dev", "d0", "nodad"},
		[]string{"ip", "addr", "add", VIP4 + "/32", "dev", "d0"},
		[]string{"ip", "addr", "add", VIP6 + "/128", "dev", "d0", "nodad"},
		[]string{"ip", "addr", "add", "198.18.1.1/24", "dev", "d1"},
		[]string{"ip", "addr", "add", "2001:2:0:1::1/64", "dev", "d1", "nodad"},
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
		sw := "sr" + strconv.Itoa(i)
		if err = netns.Veth(rs, "r0", t.Switch, sw, 1); err != nil {
			return nil, err
		}
		if err = run(t.Switch, []string{"ip", "link", "set", sw, "master", "br0"}); err != nil {
			return nil, err
		}
		if err = run(rs,
			[]string{"ip", "addr", "add", LANRS4(i) + "/24", "dev", "r0"},
			[]string{"ip", "addr", "add", LANRS6(i) + "/64", "dev", "r0", "nodad"},
		); err != nil {
			return nil, err
		}
	}
	return t, nil
}
