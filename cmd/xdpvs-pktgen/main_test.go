//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

func TestFlagErrors(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, tc := range []struct {
		name string
		args string
		want string
	}{
		{"no_iface", "--dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2", "--iface is required"},
		{"no_dst_mac", "--iface c0 --src 198.18.0.1 --dst 198.18.0.2", "--dst-mac is required"},
		{"no_dst", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1", "--src and --dst are required"},
		{"zero_count", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --count 0", "--count"},
		{"zero_duration", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --duration 0s", "--duration"},
		{"big_port", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --dport 70000", "1..65535"},
		{"stray_arg", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 extra", "unexpected arguments"},
		{"outside_ranges", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 10.0.0.1 --dst 198.18.0.2", "not in the benchmarking ranges"},
		{"outside_ranges_v6", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 2001:2::1 --dst 2001:db8::2", "not in the benchmarking ranges"},
		{"bad_mac", "--iface c0 --src 198.18.0.1 --dst 198.18.0.2 --dst-mac zz", "--dst-mac"},
		{"small", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --size 60", "frame size 60"},
		{"mixed", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 2001:2::2", "not of one family"},
		{"bad_output", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --output yaml", "--output"},
		{"bad_engine", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --engine dpdk", "--engine"},
		{"negative_queue", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --engine af-xdp --queue -1", "--queue"},
		{"ok_af_xdp", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --engine af-xdp --queue 1 --batch 32", ""},
		{"ok", "--iface c0 --src 198.18.0.1 --dst 198.18.1.2 --dst-mac 02:00:00:00:00:02 --size 1518 --flows 10", ""},
		{"ok_v6", "--iface c0 --dst-mac 02:00:00:00:00:02 --src 2001:2::1 --dst 2001:2:0:1::2 --size 66", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(strings.Fields(tc.args), io.Discard)
			if err == nil {
				_, err = o.config(mac)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestDeprecatedFlags: --cpu and --json still work, as --cpus and --output json, with a notice.
func TestDeprecatedFlags(t *testing.T) {
	var stderr strings.Builder
	o, err := parse(strings.Fields("--iface c0 --dst-mac 02:00:00:00:00:02 --src 198.18.0.1 --dst 198.18.0.2 --cpu 1 --json"), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.cpu != 1 || !o.json {
		t.Errorf("--cpu 1 --json: cpu %d, json %v", o.cpu, o.json)
	}
	want := "xdpvs-pktgen: --cpu is deprecated; use --cpus\nxdpvs-pktgen: --json is deprecated; use --output json\n"
	if stderr.String() != want {
		t.Errorf("printed %q, want %q", stderr.String(), want)
	}
}

// TestRun sends a small bounded burst through the command into a veth whose peer has GRO on (so it
// takes XDP frames) and checks the report.
func TestRun(t *testing.T) {
	testutil.RequireRoot(t)
	a, b := testutil.NewNetNS(t, "pkga"), testutil.NewNetNS(t, "pkgb")
	testutil.NewVethPair(t, a, "a0", b, "b0", 1)
	// GRO set again with both ends up, so that a0 learns b0 takes XDP frames.
	b.Run(t, "ethtool", "-K", "b0", "gro", "off")
	b.Run(t, "ethtool", "-K", "b0", "gro", "on")
	var bMAC string
	b.MustDo(t, func() error {
		ifi, err := net.InterfaceByName("b0")
		if err == nil {
			bMAC = ifi.HardwareAddr.String()
		}
		return err
	})
	before := 0
	engines := []string{"prog-run", "af-xdp"}
	if err := pktgen.LiveFrames(); err != nil {
		t.Logf("prog-run engine left out: %v", err)
		engines = engines[1:]
	}
	for _, engine := range engines {
		var out strings.Builder
		err := run(strings.Fields("--netns "+a.Name+" --iface a0 --dst-mac "+bMAC+" --src 198.18.0.1 --dst 198.18.0.2 --dport 9 --flows 8 --count 1000 --duration 5s --cpus 0 --engine "+engine), &out, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(out.String())
		if !strings.HasPrefix(out.String(), "sent 1000 frames of 64 B (60 B without FCS)") || !strings.Contains(out.String(), "8 flows, CPU 0, engine "+engine) {
			t.Fatalf("report %q", out.String())
		}
		// b0 counts what it received (the kernel then drops it: nothing listens on port 9).
		var rx int
		if _, err := fmt.Sscan(b.Run(t, "cat", "/sys/class/net/b0/statistics/rx_packets"), &rx); err != nil || rx-before < 1000 {
			t.Fatalf("%s: b0 received %d packets (%v), want at least 1000", engine, rx-before, err)
		}
		before = rx
	}
	// Without --engine: prog-run, or af-xdp with a notice where the kernel refuses live frames.
	var out0, notice strings.Builder
	if err := run(strings.Fields("--netns "+a.Name+" --iface a0 --dst-mac "+bMAC+" --src 198.18.0.1 --dst 198.18.0.2 --count 100 --duration 5s --quiet"), &out0, &notice); err != nil {
		t.Fatal(err)
	}
	want, wantNotice := "engine prog-run", ""
	if len(engines) == 1 {
		want, wantNotice = "engine af-xdp", "sending with --engine af-xdp instead"
	}
	if !strings.Contains(out0.String(), want) || !strings.Contains(notice.String(), wantNotice) || (wantNotice == "" && notice.Len() > 0) {
		t.Errorf("no --engine: report %q, notice %q; want %q, %q", out0.String(), notice.String(), want, wantNotice)
	}
	// With a sink, as JSON: everything arrives, and the AF_XDP engine's stamps give a latency.
	var out strings.Builder
	err := run(strings.Fields("--netns "+a.Name+" --iface a0 --dst-mac "+bMAC+" --src 198.18.0.1 --dst 198.18.0.2 --count 5000 --rate 100000 --duration 5s --engine af-xdp --output json --quiet --sink-netns "+b.Name+" --sink-iface b0"), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if rep.Engine != "af-xdp" || rep.Sent != 5000 || rep.Received != 5000 || rep.Latency == nil || rep.Latency.Count != 5000 || rep.MaxBurst > 64 {
		t.Fatalf("report %+v", rep)
	}
}
