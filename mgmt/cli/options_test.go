package cli

import (
	"maps"
	"slices"
	"testing"
)

// TestOptionTable: names are unique on each kind of line, the options of one group are accepted
// by the same commands, every option has a setter, and ipvsadm's options come in the order of its
// optnames (the order in which its checks report).
func TestOptionTable(t *testing.T) {
	for _, health := range []bool{false, true} {
		longs, shorts := map[string]bool{}, map[byte]bool{}
		for _, o := range options {
			if o.health() != health {
				continue
			}
			if o.long != "" && longs[o.long] || o.short != 0 && shorts[o.short] {
				t.Errorf("--%s (-%c): a name given twice (health line %v)", o.long, o.short, health)
			}
			longs[o.long], shorts[o.short] = true, true
			if o.name() != "" && o.set == nil && o.long != "health" && o.long != "sorry" {
				t.Errorf("--%s has no setter", o.long)
			}
			for _, g := range options {
				if g.health() == health && g.name() != "" && g.name() == o.name() && !maps.Equal(g.in, o.in) {
					t.Errorf("--%s and --%s are one option taken by different commands", o.long, g.long)
				}
			}
		}
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.name)
	}
	ipvsadm := []string{"numeric", "connection", "service-address", "scheduler", "persistent", "netmask",
		"real-server", "forwarding-method", "weight", "u-threshold", "l-threshold", "timeout", "stats",
		"rate", "thresholds", "persistent-conn", "nosort", "exact", "ops", "sched-flags", "synproxy",
		"laddr", "ifname", "output", "policy", "tun-type", "bgp-min-servers", "proxy-protocol",
		"ipv6", "proto", "dst", "dport"}
	if !slices.Equal(names, ipvsadm) {
		t.Errorf("option order %v, want ipvsadm's %v", names, ipvsadm)
	}
}
