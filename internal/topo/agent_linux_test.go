package topo

import (
	"slices"
	"testing"
)

func TestWithDirectors(t *testing.T) {
	dirs := []string{"--director", tunDirector4, "--director", tunDirector6, "--director", director4, "--director", director6}
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"--iface", "r0", "--vip", TUNVIP4}, append([]string{"--iface", "r0", "--vip", TUNVIP4}, dirs...)},
		{[]string{"--iface", "r0", "-vip=" + VIP4}, append([]string{"--iface", "r0", "-vip=" + VIP4}, dirs...)},
		{[]string{"--iface", "r0", "--vip", TUNVIP4, "--director=198.18.1.9"}, []string{"--iface", "r0", "--vip", TUNVIP4, "--director=198.18.1.9"}},
		{[]string{"--iface", "r0", "--toa"}, []string{"--iface", "r0", "--toa"}},
		{[]string{"--iface", "vip"}, []string{"--iface", "vip"}}, // an interface named vip is no --vip
	} {
		if got := withDirectors(tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("withDirectors(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
