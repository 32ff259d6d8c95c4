package topo

import (
	"fmt"
	"strconv"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// DR is the one-arm layout of direct routing: client, director and real servers on one L2 segment
// (a bridge in a switch namespace). Each real server holds the VIPs on lo and neither answers nor
// announces ARP for them (arp_ignore=1, arp_announce=2), so that only the director, which has them
// on d0, draws the clients' packets; the servers answer the clients directly.
type DR struct {
	Client, Director, Switch *netns.NS
	RS                       []*netns.NS
	hosts
}

// DRRS4 and DRRS6 are real server i's addresses on the shared segment.
func DRRS4(i int) string { return fmt.Sprintf("198.18.0.%d", 20+i) }
func DRRS6(i int) string { return fmt.Sprintf("2001:2::%d", 20+i) }

// NewDR builds the layout with namespaces prefix-client, -dir, -sw, -rs<i>; the director's d0 has
// the given number of queues.
func NewDR(prefix string, realServers, queues int) (t *DR, err error) {
	t = &DR{hosts: hosts{prefix: prefix}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	mk := t.add
	if t.Switch, err = mk("sw"); err != nil {
		return nil, err
	}
	if err = run(t.Switch, []string{"ip", "link", "add", "br0", "type", "bridge"}, []string{"ip", "link", "set", "br0", "up"}); err != nil {
		return nil, err
	}
	// port connects host's interface name to the bridge through veth peer swName.
	port := func(host *netns.NS, name, swName string, q int) error {
		if err := netns.Veth(host, name, t.Switch, swName, q); err != nil {
			return err
		}
		return run(t.Switch, []string{"ip", "link", "set", swName, "master", "br0"})
	}
	if t.Client, err = mk("client"); err != nil {
		return nil, err
	}
	if t.Director, err = mk("dir"); err != nil {
		return nil, err
	}
	if err = port(t.Client, "c0", "sc", 1); err != nil {
		return nil, err
	}
	if err = port(t.Director, "d0", "sd", queues); err != nil {
		return nil, err
	}
	if err = run(t.Client,
		[]string{"ip", "addr", "add", Client4 + "/24", "dev", "c0"},
		[]string{"ip", "addr", "add", Client6 + "/64", "dev", "c0", "nodad"},
	); err != nil {
		return nil, err
	}
	if err = run(t.Director,
		[]string{"ip", "addr", "add", director4 + "/24", "dev", "d0"},
		[]string{"ip", "addr", "add", director6 + "/64", "dev", "d0", "nodad"},
		[]string{"ip", "addr", "add", VIP4 + "/32", "dev", "d0"},
		[]string{"ip", "addr", "add", VIP6 + "/128", "dev", "d0", "nodad"},
	); err != nil {
		return nil, err
	}
	for i := range realServers {
		rs, err := mk("rs" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		t.RS = append(t.RS, rs)
		if err = port(rs, "r0", "sr"+strconv.Itoa(i), 1); err != nil {
			return nil, err
		}
		if err = run(rs,
			[]string{"sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"},
			[]string{"sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2"},
			[]string{"sysctl", "-qw", "net.ipv4.conf.r0.arp_ignore=1"},
			[]string{"sysctl", "-qw", "net.ipv4.conf.r0.arp_announce=2"},
			[]string{"ip", "addr", "add", VIP4 + "/32", "dev", "lo"},
			[]string{"ip", "addr", "add", VIP6 + "/128", "dev", "lo", "nodad"},
			[]string{"ip", "addr", "add", DRRS4(i) + "/24", "dev", "r0"},
			[]string{"ip", "addr", "add", DRRS6(i) + "/64", "dev", "r0", "nodad"},
		); err != nil {
			return nil, err
		}
	}
	return t, nil
}
