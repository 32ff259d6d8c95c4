package server

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// fwmarkRules are mark services and their rules as -S writes them.
const fwmarkRules = `--add-mark -f 1 --proto tcp --dst 198.18.0.10/32 --dport 80
--add-mark -f 1 --proto tcp --dst 198.18.0.10/32 --dport 443
--add-mark -f 2 --dst 198.18.0.16/30 --dport 30000-30099
--add-mark -f 3 --dst 2001:2::10/128
-A -t 198.18.0.10:8000 -s rr
-a -t 198.18.0.10:8000 -r 198.18.1.2:8000 -m -w 1
-A -f 1 -s rr -p 60
-a -f 1 -r 198.18.1.2:0 -g -w 1
-a -f 1 -r 198.18.1.3:0 -g -w 1
-A -f 2 -s wrr
-a -f 2 -r 198.18.1.2:0 -m -w 2
-A -f 3 -6 -s sh
-a -f 3 -6 -r [2001:2:0:1::2]:0 -g -w 1
`

// TestFWMarkServices: -f services and mark rules in ipvsadm's formats: -S | -R gives back the
// same; -L names them "FWM  1" and "FWM  3 IPv6" as ipvsadm, after the other services; the
// snapshot carries the rules in order and the services' keys; errors are ipvsadm's or clear.
func TestFWMarkServices(t *testing.T) {
	ts := newTestServer(t, Config{})
	if _, errs, rc := ts.adm(t, fwmarkRules, "-R"); rc != 0 {
		t.Fatalf("-R: %s", errs)
	}
	if got := ts.mustAdm(t, "-S"); got != fwmarkRules {
		t.Fatalf("-S:\n%s\nwant:\n%s", got, fwmarkRules)
	}
	list := ts.mustAdm(t, "-Ln")
	want := `Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.10:8000 rr
  -> 198.18.1.2:8000              Masq    1      0          0         
FWM  1 rr persistent 60
  -> 198.18.1.2:0                 Route   1      0          0         
  -> 198.18.1.3:0                 Route   1      0          0         
FWM  2 wrr
  -> 198.18.1.2:0                 Masq    2      0          0         
FWM  3 IPv6 sh
  -> [2001:2:0:1::2]:0            Route   1      0          0         
`
	if !strings.HasSuffix(list, want) {
		t.Fatalf("-Ln:\n%s\nwant:\n%s", list, want)
	}
	if got := ts.mustAdm(t, "-Ln", "-f", "3", "-6"); !strings.Contains(got, "FWM  3 IPv6 sh") || strings.Contains(got, "FWM  1") {
		t.Fatalf("-Ln -f 3 -6:\n%s", got)
	}
	marks := ts.mustAdm(t, "show", "marks")
	wantMarks := `Mark       Proto Destination                                 Ports       Service
1          tcp   198.18.0.10/32                              80          FWM  1
1          tcp   198.18.0.10/32                              443         FWM  1
2          any   198.18.0.16/30                              30000-30099 FWM  2
3          any   2001:2::10/128                              all         FWM  3 IPv6
`
	if marks != wantMarks {
		t.Fatalf("show marks:\n%s\nwant:\n%s", marks, wantMarks)
	}
	sn := ts.fake.last()
	if len(sn.MarkRules) != 4 || sn.MarkRules[2] != (control.MarkRule{Mark: 2, Dst: netip.MustParsePrefix("198.18.0.16/30"), PortLo: 30000, PortHi: 30099}) ||
		sn.MarkRules[3].PortLo != 0 || sn.MarkRules[3].PortHi != 65535 || sn.MarkRules[0].Proto != 6 {
		t.Fatalf("snapshot rules %+v", sn.MarkRules)
	}
	keys := map[control.ServiceKey]bool{}
	for _, s := range sn.Services {
		keys[s.Key] = true
	}
	if !keys[control.ServiceKey{Addr: netip.IPv4Unspecified(), FWMark: 1}] || !keys[control.ServiceKey{Addr: netip.IPv6Unspecified(), FWMark: 3}] {
		t.Fatalf("snapshot services %v", keys)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-A", "-f", "0", "-s", "rr"}, "illegal fwmark specified"},
		{[]string{"-A", "-f", "x"}, "illegal fwmark specified"},
		{[]string{"-A", "-f", "1", "-s", "rr"}, "Service already exists"},
		{[]string{"-A", "-t", "198.18.0.10:9", "-6"}, "-6 used without -f"},
		{[]string{"-A", "-f", "9", "-j"}, "SYN proxy"},
		{[]string{"--add-mark", "-f", "1", "--proto", "tcp", "--dst", "198.18.0.10/32", "--dport", "80"}, "Mark rule already exists"},
		{[]string{"--add-mark", "-f", "1", "--dst", "198.18.0.1/24"}, "host bits set"},
		{[]string{"--add-mark", "-f", "1", "--dst", "198.18.0.0/24", "--dport", "90-80"}, "illegal port range"},
		{[]string{"--add-mark", "-t", "198.18.0.10:80", "--dst", "198.18.0.0/24"}, "needs the mark"},
		{[]string{"--add-mark", "-f", "1"}, "You need to supply the 'dst' option"},
		{[]string{"--del-mark", "-f", "1", "--dst", "198.18.0.10/32"}, "No such mark rule"},
	} {
		if _, errs, rc := ts.adm(t, "", c.args...); rc == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: rc %d %q, want %q", c.args, rc, errs, c.want)
		}
	}
	ts.mustAdm(t, "--del-mark", "-f", "1", "--proto", "tcp", "--dst", "198.18.0.10/32", "--dport", "443")
	if got := ts.mustAdm(t, "-S"); strings.Contains(got, "443") {
		t.Fatalf("--del-mark left the rule:\n%s", got)
	}
	ts.mustAdm(t, "-D", "-f", "3", "-6")
	ts.mustAdm(t, "-C")
	if got := ts.mustAdm(t, "-S"); got != "" {
		t.Fatalf("-S after -C: %q", got)
	}
}

// TestFWMarkHealth: a fwmark service's health check names the port it probes (keepalived's
// connect_port), and -S saves it on the -f line.
func TestFWMarkHealth(t *testing.T) {
	ts := newTestServer(t, Config{})
	rules := `-A -f 1 -s rr
-a -f 1 -r 198.18.1.2:0 -g -w 1
--health -f 1 --check tcp --check-port 80 --interval 2s --timeout 1s --rise 2 --fall 3 --on-fail quiesce
`
	if _, errs, rc := ts.adm(t, rules, "-R"); rc != 0 {
		t.Fatalf("-R: %s", errs)
	}
	if got := ts.mustAdm(t, "-S"); got != rules {
		t.Fatalf("-S:\n%s\nwant:\n%s", got, rules)
	}
	if _, errs, rc := ts.adm(t, "", "--health", "-f", "1", "--check", "http"); rc == 0 || !strings.Contains(errs, "--check-port") {
		t.Fatalf("a check without its port: rc %d %q", rc, errs)
	}
}
