package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "198.18.1.1"}, ""},
		{[]string{"--iface", "eth0", "--iface", "eth1", "--vip", "2001:2::1", "--director", "2001:2:0:1::/64", "--toa", "--pin", "/sys/fs/bpf/x", "--attach", "tc"}, ""},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "0.0.0.0/0", "--director", "::/0"}, ""},
		// Tunnels only from directors: --vip alone is refused with the fix in the message.
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1"}, "add --director ADDR"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--toa"}, "--vip needs --director"},
		{[]string{"--iface", "eth0", "--toa", "--director", "198.18.1.1"}, "--director without --vip"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "198.18.1.1/24"}, "host bits set: the prefix is 198.18.1.0/24"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "198.18.1.0/33"}, "--director"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "::ffff:198.18.1.1"}, "not a unicast"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "::ffff:198.18.1.0/120"}, "IPv4-mapped"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "0.0.0.0"}, "not a unicast"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "fe80::1%eth0"}, "not a unicast"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "director.example"}, "--director"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "198.18.1.1", "--gue-port", "6080"}, ""},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "198.18.1.1", "--gue-port", "65536"}, "--gue-port 65536"},
		{[]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "198.18.1.1", "--gue-port", "-1"}, "gue-port"},
		{[]string{"--iface", "eth0", "--toa", "--gue-port", "6080"}, "--gue-port without --vip"},
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
	var many []string
	for i := range maxDirectors + 1 {
		many = append(many, "--director", fmt.Sprintf("198.18.%d.%d", i/256, i%256))
	}
	cases = append(cases, struct {
		args []string
		err  string
	}{append([]string{"--iface", "eth0", "--vip", "198.18.100.1"}, many...), "more than 256"})
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

// TestParseDirectors: what the tries receive.
func TestParseDirectors(t *testing.T) {
	c, err := parse([]string{"--iface", "eth0", "--vip", "198.18.100.1", "--director", "198.18.1.1", "--director", "2001:2:0:1::1",
		"--director", "198.18.4.0/22", "--director", "2001:2:0:8::/61", "--director", "::/0"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"198.18.1.1/32", "2001:2:0:1::1/128", "198.18.4.0/22", "2001:2:0:8::/61", "::/0"}
	if len(c.directors) != len(want) {
		t.Fatalf("directors %v, want %v", c.directors, want)
	}
	for i, d := range c.directors {
		if d.String() != want[i] {
			t.Errorf("director %d: %v, want %s", i, d, want[i])
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
