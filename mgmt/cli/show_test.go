package cli

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// TestParseShowPick: show pick takes a service and clients (IPv4, [IPv6]:port, no port), in any
// order with -o json; without either, or with a bad address, it is refused.
func TestParseShowPick(t *testing.T) {
	c, err := ParseArgs(strings.Fields("show pick 198.18.5.1:1000 -u 198.18.0.10:53 198.18.5.2 -o json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("198.18.5.1:1000"), netip.MustParseAddrPort("198.18.5.2:0")}
	if c.Show != model.ShowPick || !c.HasService || c.Service.Protocol != model.UDP || c.Service.Port != 53 ||
		!slices.Equal(c.Clients, want) || !c.List.JSON {
		t.Fatalf("%+v", c)
	}
	if c, err = ParseArgs(strings.Fields("show pick -t [2001:2::10]:80 [2001:2::5]:4000")); err != nil ||
		c.Clients[0] != netip.MustParseAddrPort("[2001:2::5]:4000") || c.Service.Protocol != model.TCP {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{
		"show pick -t 198.18.0.10:80",
		"show pick 198.18.5.1",
		"show pick -t 198.18.0.10:80 -t 198.18.0.11:80 198.18.5.1",
		"show pick -t 198.18.0.10:80 nonsense",
		"show pick -t",
		"show digest 198.18.5.1",
	} {
		if _, err := ParseArgs(strings.Fields(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
