package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1"}, ""},
		{[]string{"--iface", "eth0", "--iface", "eth1", "--vip", "2001:2::1", "--toa", "--pin", "/sys/fs/bpf/x", "--attach", "tc"}, ""},
		{[]string{"--iface", "eth0", "--toa"}, ""},
		{[]string{"--vip", "198.18.100.1"}, "at least one --iface"},
		{[]string{"--iface", "eth0"}, "nothing to do"},
		{[]string{"--iface", "eth0", "--iface", "eth0", "--toa"}, "given twice"},
		{[]string{"--iface", "eth0", "--vip", "nope"}, "--vip"},
		{[]string{"--iface", "eth0", "--vip", "::ffff:198.18.0.1"}, "not a unicast"},
		{[]string{"--iface", "eth0", "--vip", "0.0.0.0"}, "not a unicast"},
		{[]string{"--iface", "eth0", "--toa", "--attach", "xdp"}, "--attach"},
		{[]string{"--iface", "eth0", "--toa", "--toa-entries", "0"}, "--toa-entries"},
		{[]string{"--iface", "eth0", "--toa", "extra"}, "unexpected"},
	}
	for _, tc := range cases {
		_, err := parse(tc.args, &bytes.Buffer{})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
		}
	}
}

func TestSubcommandErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"toa"}, &out, &errb); err == nil {
		t.Error("`toa` alone accepted")
	}
	if err := run([]string{"stats", "extra"}, &out, &errb); err == nil {
		t.Error("`stats extra` accepted")
	}
	out.Reset()
	if err := run([]string{"help"}, &out, &errb); err != nil || !strings.Contains(out.String(), "xdpvs-rs toa list") {
		t.Errorf("help: %v %q", err, out.String())
	}
}
