package kroute

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

// TestExporterAndGuard: the exporter's table and the guard's blackholes hold exactly what they
// are given, alongside routes of others that they leave alone; an exporter removes a previous
// run's routes; Local finds an interface's address.
func TestExporterAndGuard(t *testing.T) {
	ns := testutil.NewNetNS(t, "kroute")
	ns.Run(t, "ip", "link", "set", "lo", "up")
	ns.Run(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "lo")
	ns.Run(t, "ip", "route", "add", "blackhole", "198.18.9.9/32", "table", "100") // someone else's
	ns.Run(t, "ip", "route", "add", "blackhole", "198.18.8.8/32")                 // someone else's
	ns.Run(t, "ip", "route", "add", "blackhole", "198.18.7.7/32", "table", "100", "proto", "250")
	v4, v6, lip := netip.MustParsePrefix("198.18.0.10/32"), netip.MustParsePrefix("2001:2::10/128"), netip.MustParsePrefix("198.18.5.1/32")
	show := func(args ...string) string {
		return ns.Run(t, append([]string{"ip"}, args...)...)
	}
	ns.MustDo(t, func() error {
		if _, err := NewExporter(254); err == nil {
			t.Error("exporting to the main table")
		}
		e, err := NewExporter(100)
		if err != nil {
			return err
		}
		if out := show("route", "show", "table", "100"); strings.Contains(out, "198.18.7.7") || !strings.Contains(out, "198.18.9.9") {
			t.Errorf("after NewExporter, table 100:\n%s", out)
		}
		if err := e.Set([]netip.Prefix{v4, v6, lip}); err != nil {
			return err
		}
		out4, out6 := show("route", "show", "table", "100", "proto", "250"), show("-6", "route", "show", "table", "100", "proto", "250")
		if !strings.Contains(out4, "blackhole 198.18.0.10") || !strings.Contains(out4, "blackhole 198.18.5.1") || !strings.Contains(out6, "blackhole 2001:2::10") {
			t.Errorf("exported:\n%s%s", out4, out6)
		}
		if err := e.Set([]netip.Prefix{v6}); err != nil {
			return err
		}
		if out := show("route", "show", "table", "100"); strings.Contains(out, "198.18.0.10") || !strings.Contains(out, "198.18.9.9") {
			t.Errorf("after withdrawing, table 100:\n%s", out)
		}
		if err := e.Close(); err != nil {
			return err
		}
		if out := show("-6", "route", "show", "table", "100"); strings.Contains(out, "2001:2::10") {
			t.Errorf("after Close:\n%s", out)
		}
		g := NewGuard()
		if err := g.Set([]netip.Prefix{v4, v6}); err != nil {
			return err
		}
		if out := show("route", "show", "proto", "250"); !strings.Contains(out, "blackhole 198.18.0.10") {
			t.Errorf("main table: %s", out)
		}
		if err := g.Set([]netip.Prefix{v6}); err != nil {
			return err
		}
		if out := show("route", "show"); strings.Contains(out, "198.18.0.10") || !strings.Contains(out, "198.18.8.8") {
			t.Errorf("main table after the guard dropped the VIP:\n%s", out)
		}
		if got := Local([]netip.Prefix{v4, netip.MustParsePrefix("198.18.0.1/32")}); len(got) != 1 || got[0].Addr().String() != "198.18.0.1" {
			t.Errorf("Local = %v", got)
		}
		return nil
	})
}
