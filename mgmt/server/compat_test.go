package server

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xdpvs/xdpvs/mgmt/api"
)

// Tests of what DPVS's and ipvsadm's recipes need of the daemon (issue 13): their steps in any
// order, DPVS's -j on UDP services.

// newObservedServer is newTestServer with the daemon's log kept for the test to read.
func newObservedServer(t *testing.T, cfg Config) (*testServer, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	cfg.Logger = zap.New(core)
	return newTestServer(t, cfg), logs
}

// logged reports whether the log has an entry at level with msg.
func logged(logs *observer.ObservedLogs, level zapcore.Level, msg string) bool {
	for _, e := range logs.All() {
		if e.Level == level && e.Message == msg {
			return true
		}
	}
	return false
}

// TestSynProxyOnUDP: DPVS's scripts give -j enable to UDP services too (DPVS ignores it); xdpvs
// accepts the line with a warning on the admin's error output and in the daemon's log, leaves
// the flag out of the service (and of -S), and the script's next lines find the service.
func TestSynProxyOnUDP(t *testing.T) {
	ts, logs := newObservedServer(t, Config{})
	const warn = "-j ignored: UDP 198.18.0.11:53: the SYN proxy is only for TCP virtual services"
	for _, args := range [][]string{
		{"-A", "-u", "198.18.0.11:53", "-j", "enable"},
		{"-E", "-u", "198.18.0.11:53", "-s", "wrr", "--synproxy=enable"},
		{"-E", "-u", "198.18.0.11:53", "-s", "rr", "-j"},
	} {
		out, errs, rc := ts.adm(t, "", args...)
		if rc != 0 || out != "" || errs != "warning: "+warn+"\n" {
			t.Errorf("xdpvsadm %s: rc %d, stdout %q, stderr %q; want 0 and the warning", strings.Join(args, " "), rc, out, errs)
		}
	}
	if !logged(logs, zapcore.WarnLevel, warn) {
		t.Errorf("the daemon did not log %q", warn)
	}
	ts.mustAdm(t, "-a", "-u", "198.18.0.11:53", "-r", "198.18.1.2:53", "-m")
	if _, errs, rc := ts.adm(t, "", "-E", "-u", "198.18.0.11:53", "-s", "rr", "-j", "disable"); rc != 0 || errs != "" {
		t.Errorf("-j disable on UDP: rc %d %q, want 0 and no warning", rc, errs)
	}
	if got, want := ts.mustAdm(t, "-S"), "-A -u 198.18.0.11:53 -s rr\n-a -u 198.18.0.11:53 -r 198.18.1.2:53 -m -w 1\n"; got != want {
		t.Errorf("-S:\n%s\nwant\n%s", got, want)
	}
	if sn := ts.fake.last(); len(sn.Services) != 1 || sn.Services[0].Flags&0x8000 != 0 {
		t.Errorf("the dataplane got %+v, want the UDP service without the SYN proxy", sn.Services)
	}
}

// TestSynProxySpellings: DPVS's `-j enable|disable` wherever -j is taken (-A, -E, a line of the
// configuration file), beside xdpvs's own -j alone, 1/0 and on/off.
func TestSynProxySpellings(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, tc := range []struct {
		args string
		on   bool
	}{
		{"-A -t 198.18.0.10:80 -s rr -j enable", true},
		{"-E -t 198.18.0.10:80 -s rr -j disable", false},
		{"-E -t 198.18.0.10:80 -j enable -s rr", true},
		{"-E -t 198.18.0.10:80 --synproxy disable", false},
		{"-E -t 198.18.0.10:80 -jenable", true},
		{"-E -t 198.18.0.10:80 --synproxy=disable", false},
		{"-E -t 198.18.0.10:80 -j", true},
		{"-E -t 198.18.0.10:80 -j 0", false},
		{"-E -t 198.18.0.10:80 -j on", true},
	} {
		ts.mustAdm(t, strings.Fields(tc.args)...)
		if got := strings.Contains(ts.mustAdm(t, "-Ln"), " synproxy"); got != tc.on {
			t.Errorf("%s: synproxy %v, want %v", tc.args, got, tc.on)
		}
	}
	ts.mustAdm(t, "-C")
	if _, errs, rc := ts.adm(t, "-A -t 198.18.0.10:80 -s rr -j enable\n-A -u 198.18.0.10:80 -s rr -j enable\n", "-R"); rc != 0 ||
		errs != "warning: -j ignored: UDP 198.18.0.10:80: the SYN proxy is only for TCP virtual services\n" {
		t.Errorf("-R: rc %d, %q", rc, errs)
	}
	if got := ts.mustAdm(t, "-S"); got != "-A -t 198.18.0.10:80 -s rr -j\n-A -u 198.18.0.10:80 -s rr\n" {
		t.Errorf("-S after -R:\n%s", got)
	}
}

// TestNotForwarding: DPVS's FULLNAT recipes add the real servers before the local addresses. Each
// step is accepted; while the service cannot forward, the change warns (after the admin's
// command, on its error output, and in the daemon's log), `show services` and -o json say why,
// and -L stays ipvsadm's format.
func TestNotForwarding(t *testing.T) {
	ts, logs := newObservedServer(t, Config{})
	step := func(args, warning string) {
		t.Helper()
		out, errs, rc := ts.adm(t, "", strings.Fields(args)...)
		want := ""
		if warning != "" {
			want = "warning: " + warning + "\n"
		}
		if rc != 0 || out != "" || errs != want {
			t.Errorf("xdpvsadm %s: rc %d, stdout %q, stderr %q; want 0 and %q", args, rc, out, errs, want)
		}
	}
	const (
		noLIP   = "TCP 198.18.0.10:80 cannot forward yet: its FULLNAT real servers have no local address (add one with --add-laddr -z LIP)"
		noRS    = "TCP 198.18.0.10:80 cannot forward yet: no real server (add one with -a)"
		noLIP64 = "TCP [2001:2::10]:80 cannot forward yet: its IPv4 real servers (NAT64) have no IPv4 local address (add one with --add-laddr -z LIP)"
	)
	step("-A -t 198.18.0.10:80 -s rr", "") // every recipe's first step: no warning
	step("-a -t 198.18.0.10:80 -r 198.18.1.2 -b", noLIP)
	step("-a -t 198.18.0.10:80 -r 198.18.1.3 -b", noLIP)
	if !logged(logs, zapcore.InfoLevel, noLIP) {
		t.Errorf("the daemon did not log %q", noLIP)
	}
	show := ts.mustAdm(t, "show", "services")
	if !strings.Contains(show, "TCP  198.18.0.10:80 rr\n  -> 198.18.1.2:80                FullNat 1      0          0         \n"+
		"  -> 198.18.1.3:80                FullNat 1      0          0         \n"+
		"  !! not forwarding: its FULLNAT real servers have no local address (add one with --add-laddr -z LIP)\n") {
		t.Errorf("show services:\n%s", show)
	}
	if l := ts.mustAdm(t, "-Ln"); strings.Contains(l, "forward") {
		t.Errorf("-L is not ipvsadm's:\n%s", l)
	}
	var st struct{ Services []api.ServiceState }
	if err := json.Unmarshal([]byte(ts.mustAdm(t, "-Ln", "-o", "json")), &st); err != nil || len(st.Services) != 1 ||
		len(st.Services[0].NotForwarding) != 1 || !strings.HasPrefix(st.Services[0].NotForwarding[0], "its FULLNAT real servers have no local address") {
		t.Errorf("-o json: %+v %v", st, err)
	}
	step("--add-laddr -z 198.18.1.200 -t 198.18.0.10:80", "")
	if show := ts.mustAdm(t, "show", "services"); strings.Contains(show, "!!") {
		t.Errorf("show services of a service that forwards:\n%s", show)
	}
	step("--del-laddr -z 198.18.1.200 -t 198.18.0.10:80", noLIP)
	step("--add-laddr -z 198.18.1.200 -t 198.18.0.10:80", "")
	step("-d -t 198.18.0.10:80 -r 198.18.1.2", "")
	step("-d -t 198.18.0.10:80 -r 198.18.1.3", noRS)
	// NAT64: an IPv6 local address does not serve IPv4 real servers.
	step("-A -t [2001:2::10]:80 -s rr", "")
	step("-a -t [2001:2::10]:80 -r 198.18.1.2 -b", noLIP64)
	step("--add-laddr -z 2001:2:0:1::200 -t [2001:2::10]:80", noLIP64)
	step("--add-laddr -z 198.18.1.201 -t [2001:2::10]:80", "")
	// One warning per service a batch leaves unable to forward, for its final state.
	ts.mustAdm(t, "-C")
	_, errs, rc := ts.adm(t, "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -b\n-a -t 198.18.0.10:80 -r 198.18.1.3 -b\n"+
		"-A -u 198.18.0.10:53 -s rr\n-a -u 198.18.0.10:53 -r 198.18.1.2 -b\n--add-laddr -z 198.18.1.200 -u 198.18.0.10:53\n", "-R")
	if rc != 0 || errs != "warning: "+noLIP+"\n" {
		t.Errorf("-R: rc %d, stderr %q; want the one warning", rc, errs)
	}
}

// TestLocalAddrInterface: `--add-laddr -F IFNAME` (DPVS's, compulsory there) puts the local
// address on that interface of the director when it is missing, refuses an interface the daemon
// does not forward on, saves -F, and takes off again only what it added, once no service needs
// it: on --del-laddr, -D, -C, a refused change and when the daemon stops; a restart puts it back.
func TestLocalAddrInterface(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xdpvs.conf")
	fake := &fakeControl{ifaces: map[string][]netip.Addr{"d0": nil, "d1": {netip.MustParseAddr("198.18.1.1")}}}
	ts := newTestServer(t, Config{ConfigPath: path, Control: fake})
	lip, own := netip.MustParseAddr("198.18.1.200"), netip.MustParseAddr("198.18.1.1")
	on := func(want ...netip.Addr) {
		t.Helper()
		if got := fake.addresses("d1"); !slices.Equal(got, want) {
			t.Errorf("d1 has %v, want %v", got, want)
		}
	}
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2 -b
-A -u 198.18.0.10:53 -s rr
-a -u 198.18.0.10:53 -r 198.18.1.2 -b`)
	ts.mustAdm(t, "--add-laddr", "-z", "198.18.1.200", "-t", "198.18.0.10:80", "-F", "d1")
	on(own, lip)
	ts.mustAdm(t, "-Pu", "198.18.0.10:53", "-z", "198.18.1.200", "-F", "d1") // DPVS's spelling; the same address: added once
	ts.mustAdm(t, "--add-laddr", "-z", "198.18.1.1", "-u", "198.18.0.10:53", "-F", "d1")
	on(own, lip)
	saved := "--add-laddr -z 198.18.1.200 -t 198.18.0.10:80 -F d1\n"
	if got := ts.mustAdm(t, "-S"); !strings.Contains(got, saved) || !strings.Contains(got, "--add-laddr -z 198.18.1.1 -u 198.18.0.10:53 -F d1\n") {
		t.Errorf("-S:\n%s", got)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), saved) {
		t.Errorf("configuration file:\n%s", b)
	}

	// Not an interface of the daemon: refused, nothing changed.
	before, n := ts.mustAdm(t, "-S"), fake.applied()
	_, errs, rc := ts.adm(t, "", "--add-laddr", "-z", "198.18.1.201", "-t", "198.18.0.10:80", "-F", "eth9")
	if rc != 1 || errs != "local address 198.18.1.201 on eth9: eth9 is not an interface of xdpvsd\n" {
		t.Errorf("-F eth9: rc %d, %q", rc, errs)
	}
	_, errs, rc = ts.adm(t, "-A -t 198.18.0.11:80 -s rr\n-a -t 198.18.0.11:80 -r 198.18.1.3 -b\n"+
		"--add-laddr -z 198.18.1.202 -t 198.18.0.11:80 -F d1\n--add-laddr -z 198.18.1.203 -t 198.18.0.11:80 -F eth9\n", "-R")
	if rc != 1 || errs != "stdin:4: local address 198.18.1.203 on eth9: eth9 is not an interface of xdpvsd\nnothing restored\n" {
		t.Errorf("-R with -F eth9: rc %d, %q", rc, errs)
	}
	if ts.mustAdm(t, "-S") != before || fake.applied() != n {
		t.Error("a refused -F changed the configuration")
	}
	on(own, lip) // 198.18.1.202 of the refused batch was taken off again

	// A change the dataplane refuses takes off what it added.
	fake.failApply(errors.New("no"))
	if _, _, rc := ts.adm(t, "", "--add-laddr", "-z", "198.18.1.204", "-t", "198.18.0.10:80", "-F", "d1"); rc != 1 {
		t.Fatalf("refused apply: rc %d", rc)
	}
	on(own, lip)

	// Taken off once no service needs it, and never the interface's own address.
	ts.mustAdm(t, "--del-laddr", "-z", "198.18.1.200", "-t", "198.18.0.10:80", "-F", "d1")
	on(own, lip) // the UDP service still has it
	ts.mustAdm(t, "--del-laddr", "-z", "198.18.1.1", "-u", "198.18.0.10:53")
	on(own, lip)
	ts.mustAdm(t, "-D", "-u", "198.18.0.10:53")
	on(own)

	// Saved with -F, put back by a restart, taken off when the daemon stops.
	ts.mustAdm(t, "--add-laddr", "-z", "198.18.1.200", "-t", "198.18.0.10:80", "-F", "d1")
	on(own, lip)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	on(own)
	ts = newTestServer(t, Config{ConfigPath: path, Control: fake})
	on(own, lip)
	ts.mustAdm(t, "-C")
	on(own)

	for _, tc := range []struct{ args, want string }{
		{"--add-laddr -z 198.18.1.200 -t 198.18.0.10:80 -F a/b", "illegal interface name specified"},
		{"--add-laddr -z 198.18.1.200 -t 198.18.0.10:80 -F 0123456789abcdef", "illegal interface name specified"},
		{"--add-laddr -z 198.18.1.200 -t 198.18.0.10:80 -F", "-F: missing argument"},
		{"-A -t 198.18.0.12:80 -F d1", "Illegal 'ifname' option with the 'add-service' command"},
	} {
		if _, errs, rc := ts.adm(t, "", strings.Fields(tc.args)...); rc != 2 || errs != tc.want+"\n" {
			t.Errorf("%s: rc %d %q, want 2 %q", tc.args, rc, errs, tc.want)
		}
	}
}

// TestMissingFeaturesRefused: the ipvsadm(8) examples that use what xdpvs lacks (GUE and GRE
// tunnels) are refused with a message that names it and exit status 2, as ipvsadm refuses a bad
// line, and change nothing; --tun-type ipip is -i's own and is taken. EXAMPLE 2's fwmark service
// is taken (its marks come from xdpvs's rules: --add-mark).
func TestMissingFeaturesRefused(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m`)
	const gue = "--tun-type gue: GUE tunnels are not supported by xdpvs: -i tunnels are IPIP (IPv6-in-IPv6)"
	// EXAMPLE 2 - Firewall-Mark Virtual Service
	ts.mustLines(t, `
-A -f 1  -s rr
-a -f 1 -r 198.18.1.2:0 -m
-a -f 1 -r 198.18.1.3:0 -m
-A -f 1 -6 -s rr
-A --fwmark-service 2 -s rr`)
	for _, tc := range []struct{ line, want string }{
		// EXAMPLE 3 - Virtual Service with GUE Tunneling
		{"-a -t 198.18.0.10:80 -r 198.18.1.3:80 -i --tun-type gue --tun-port 6080 --tun-csum", gue},
		{"-a -t 198.18.0.10:80 -r 198.18.1.3:80 -i --tun-type gre", "--tun-type gre: GRE tunnels are not supported by xdpvs: -i tunnels are IPIP (IPv6-in-IPv6)"},
		{"-a -t 198.18.0.10:80 -r 198.18.1.3:80 -i --tun-port 6080 --tun-type gue", "--tun-port: " + unsupTunnelMsg},
		{"-e -t 198.18.0.10:80 -r 198.18.1.2:80 -i --tun-type ipip --tun-nocsum", "--tun-nocsum: " + unsupTunnelMsg},
		{"-a -t 198.18.0.10:80 -r 198.18.1.3:80 -i --tun-type vxlan", "illegal tunnel type specified"},
		{"-a -t 198.18.0.10:80 -r 198.18.1.3:80 -m --tun-type ipip", "--tun-type is only for tunnelled (-i) real servers"},
	} {
		before, n := ts.mustAdm(t, "-S"), ts.fake.applied()
		out, errs, rc := ts.adm(t, "", strings.Fields(tc.line)...)
		if rc != 2 || out != "" || errs != tc.want+"\n" {
			t.Errorf("xdpvsadm %s: rc %d, stderr %q; want 2, %q", tc.line, rc, errs, tc.want)
		}
		if ts.fake.applied() != n || ts.mustAdm(t, "-S") != before {
			t.Errorf("xdpvsadm %s changed the configuration", tc.line)
		}
	}
	// EXAMPLE 3's -R form: the whole input refused at its first such line, nothing restored.
	before := ts.mustAdm(t, "-S")
	_, errs, rc := ts.adm(t, "-A -t 198.18.0.11:80 -s rr\n-a -t 198.18.0.11:80 -r 198.18.1.2:80 -i --tun-type gue --tun-port 6080 --tun-csum\n", "-R")
	if rc != 2 || errs != "stdin:2: "+gue+"\n" || ts.mustAdm(t, "-S") != before {
		t.Errorf("-R: rc %d, %q", rc, errs)
	}
	ts.mustAdm(t, "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.3:80", "-i", "--tun-type", "ipip")
	if !strings.Contains(ts.mustAdm(t, "-Ln"), "198.18.1.3:80                Tunnel") {
		t.Errorf("--tun-type ipip:\n%s", ts.mustAdm(t, "-Ln"))
	}
}

const unsupTunnelMsg = "only for GUE and GRE tunnels (--tun-type), which xdpvs does not support: -i tunnels are IPIP (IPv6-in-IPv6)"
