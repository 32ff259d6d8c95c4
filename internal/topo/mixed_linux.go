package topo

import "github.com/xdpvs/xdpvs/internal/netns"

// Mixed is the DR layout with one more leg: a real server behind the director's d1 (NAT's
// 198.18.1.0/24 and 2001:2:0:1::/64, default route through the director), so that NAT, FULLNAT,
// DR and TUN services can run side by side on one director. On the bridge, RS[0] serves DR and
// RS[1] serves TUN (both hold the VIPs on lo); Behind serves NAT and FULLNAT at RS4(0)/RS6(0).
type Mixed struct {
	*DR
	Behind *netns.NS
}

// NewMixed builds the layout; the director's interfaces are d0 (bridge) and d1 (Behind).
func NewMixed(prefix string, queues int) (m *Mixed, err error) {
	dr, err := NewDR(prefix, 2, queues)
	if err != nil {
		return nil, err
	}
	m = &Mixed{DR: dr}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.Behind, err = netns.Create(prefix + "-nat"); err != nil {
		return nil, err
	}
	dr.all = append(dr.all, m.Behind)
	for _, c := range [][]string{
		{"sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"},
		{"sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"},
	} {
		if _, err := m.Behind.Exec(c...); err != nil {
			return nil, err
		}
	}
	if err = netns.Veth(dr.Director, "d1", m.Behind, "r0", queues); err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", "198.18.1.1/24", "dev", "d1"},
		{"ip", "addr", "add", "2001:2:0:1::1/64", "dev", "d1", "nodad"},
	} {
		if _, err := dr.Director.Exec(c...); err != nil {
			return nil, err
		}
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", RS4(0) + "/24", "dev", "r0"},
		{"ip", "addr", "add", RS6(0) + "/64", "dev", "r0", "nodad"},
		{"ip", "route", "add", "default", "via", "198.18.1.1"},
		{"ip", "-6", "route", "add", "default", "via", "2001:2:0:1::1"},
	} {
		if _, err := m.Behind.Exec(c...); err != nil {
			return nil, err
		}
	}
	return m, nil
}
