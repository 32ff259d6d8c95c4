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
	if m.Behind, err = dr.add("nat"); err != nil {
		return nil, err
	}
	if err = netns.Veth(dr.Director, "d1", m.Behind, "r0", queues); err != nil {
		return nil, err
	}
	if err = run(dr.Director,
		[]string{"ip", "addr", "add", "198.18.1.1/24", "dev", "d1"},
		[]string{"ip", "addr", "add", "2001:2:0:1::1/64", "dev", "d1", "nodad"},
	); err != nil {
		return nil, err
	}
	if err = run(m.Behind,
		[]string{"ip", "addr", "add", RS4(0) + "/24", "dev", "r0"},
		[]string{"ip", "addr", "add", RS6(0) + "/64", "dev", "r0", "nodad"},
		[]string{"ip", "route", "add", "default", "via", "198.18.1.1"},
		[]string{"ip", "-6", "route", "add", "default", "via", "2001:2:0:1::1"},
	); err != nil {
		return nil, err
	}
	return m, nil
}
