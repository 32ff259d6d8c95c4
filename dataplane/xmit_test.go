package dataplane

import (
	"net/netip"
	"testing"
)

// TestXmitBinding: a connection's transmit function is bound when it opens, from its real
// server's forwarding method and family, and every kind has a function in xmitFuncs.
func TestXmitBinding(t *testing.T) {
	for k := range numXmit {
		if xmitFuncs[k] == nil {
			t.Errorf("xmitFuncs[%d] is nil", k)
		}
	}
	for _, tc := range []struct {
		name  string
		vip   netip.Addr
		rs    netip.Addr
		m     ForwardMethod
		lips  []netip.Addr
		want  xmitKind
		input bool // replies bypass the director
		full  bool // holds a local port
	}{
		{"dr", vip4, rs4a, ForwardRoute, nil, xmitDR, true, false},
		{"tun", vip4, rs4a, ForwardTunnel, nil, xmitTunnel, true, false},
		{"nat", vip4, rs4a, ForwardMasq, nil, xmitNAT, false, false},
		{"fullnat", vip4, rs4a, ForwardFullNAT, []netip.Addr{lip4}, xmitFullNAT, false, true},
		{"fullnat6", vip6, rs6a, ForwardFullNAT, []netip.Addr{netip.MustParseAddr("2001:2:0:9::1")}, xmitFullNAT, false, true},
		{"nat64", vip6, rs4a, ForwardFullNAT, []netip.Addr{lip4}, xmitNAT64, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, 1024)
			applyServices(t, e.p, newIDs(), Service{Key: ServiceKey{Proto: tcp, Addr: tc.vip, Port: 80}, Scheduler: "rr", LocalAddrs: tc.lips,
				RealServers: []RealServer{{Addr: tc.rs, Port: 80, Forward: tc.m, Weight: 1}}})
			setTunnelSources(e.p, sourceOnSubnet)
			cip := cip4
			if tc.vip.Is6() {
				cip = cip6
			}
			in := syn(pk{src: cliMAC, dst: port0MAC, sip: cip, dip: tc.vip, proto: tcp, sport: 40000, dport: 80}).frame(t)
			buf, off := withHeadroom(in)
			if v, _, _, _ := e.p.ProcessAt(buf, off, len(in), 0, t0); v != VerdictTX {
				t.Fatalf("SYN: %s (%s)", vname(v), nonZero(e.p.c))
			}
			k := tuple(tcp, cip, 40000, tc.vip, 80)
			id, _, ok := e.p.table.Lookup(&k)
			if !ok {
				t.Fatal("no connection")
			}
			v := &e.p.table.Entry(id).Value
			if v.xmit != tc.want || v.xmit.inputOnly() != tc.input || v.xmit.fullNAT() != tc.full {
				t.Fatalf("bound xmit %d (input only %v, FULLNAT %v), want %d", v.xmit, v.xmit.inputOnly(), v.xmit.fullNAT(), tc.want)
			}
		})
	}
}
