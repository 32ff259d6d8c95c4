package bench

import (
	"strings"
	"testing"
)

// TestTputRatio is the ratio rows' verdicts on made-up rows: a capacity ratio, the bounds of a
// generator-limited side, and the overload note (the figures of the November make bench: the
// prog-run engine offered xdpvs NAT 6.2 Mpps and nftables 2.4).
func TestTputRatio(t *testing.T) {
	for _, tc := range []struct {
		name        string
		s, t        ppsSize
		value, note string
	}{
		{"capacities", ppsSize{Throughput: 0.689e6, GenRate: 0.737e6}, ppsSize{Throughput: 0.611e6, GenRate: 0.698e6}, "1.13", ""},
		{"first limited", ppsSize{Throughput: 0.571e6, GenRate: 0.571e6}, ppsSize{Throughput: 0.611e6, GenRate: 0.698e6}, "≥ 0.93",
			" the first generator-limited (0.571 Mpps offered, all delivered);"},
		{"second limited", ppsSize{Throughput: 0.689e6, GenRate: 0.737e6}, ppsSize{Throughput: 0.5e6, GenRate: 0.5e6}, "≤ 1.38",
			" the second generator-limited (0.500 Mpps offered, all delivered);"},
		{"both limited", ppsSize{Throughput: 2.0e6, GenRate: 2.0e6}, ppsSize{Throughput: 2.4e6, GenRate: 2.4e6}, "–",
			" both generator-limited (2.000 and 2.400 Mpps offered, all delivered): no capacity ratio;"},
		{"overload", ppsSize{Throughput: 1.562e6, GenRate: 6.165e6}, ppsSize{Throughput: 1.048e6, GenRate: 2.394e6}, "1.49",
			" overload, not capacity: offered 6.165 and 2.394 Mpps (3.9× and 2.3× what each delivered);"},
		{"unmeasured", ppsSize{}, ppsSize{Throughput: 1, GenRate: 1}, "–", ""},
	} {
		v, n := tputRatio(&tc.s, &tc.t)
		if v != tc.value || n != tc.note {
			t.Errorf("%s: got %q, %q; want %q, %q", tc.name, v, n, tc.value, tc.note)
		}
	}
}

// TestRatioRows renders a report of two rows and checks the ratio row the README quotes.
func TestRatioRows(t *testing.T) {
	r := lbReport{Engine: "af-xdp", PPS: []ppsRow{
		{Kind: "nat", Workers: 1, Engine: "af-xdp", Quiet: true, Sizes: []ppsSize{{Size: 64, Throughput: 0.689e6, GenRate: 0.737e6, NDR: 0.5e6, PDR: 0.6e6}}},
		{Kind: "nft", Workers: 1, Engine: "af-xdp", Quiet: true, Sizes: []ppsSize{{Size: 64, Throughput: 0.611e6, GenRate: 0.698e6, NDR: 0.4e6, PDR: 0.5e6}}},
	}}
	md := r.markdown()
	for _, want := range []string{
		"| xdpvs NAT (1 worker) / nftables DNAT, throughput, 64 B | 1.13 | ≥ 1.3 | |\n",
		"| xdpvs NAT (1 worker) / nftables DNAT, NDR, 64 B | 1.25 | | |\n",
		"| xdpvs NAT (1 worker) / nftables DNAT, PDR, 64 B | 1.20 | | |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in\n%s", want, md)
		}
	}
}
