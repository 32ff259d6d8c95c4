package keepalived

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"  real_server 198.18.1.2 80 {", []string{"real_server", "198.18.1.2", "80", "{"}},
		{"weight 1 ! a comment", []string{"weight", "1"}},
		{"# all comment", nil},
		{"url{path /x}", []string{"url", "{", "path", "/x", "}"}},
		{`helo_name "foo bar.com" # quoted`, []string{"helo_name", "foo bar.com"}},
		{`misc_path "/bin/check -a 1`, []string{"misc_path", "/bin/check -a 1"}}, // unclosed quote: to the end
		{"\tinhibit_on_failure\r", []string{"inhibit_on_failure"}},
	} {
		if got := splitLine(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// mapFiles is a Files over a map.
type mapFiles map[string]string

func (m mapFiles) ReadFile(p string) ([]byte, error) {
	if s, ok := m[p]; ok {
		return []byte(s), nil
	}
	return nil, &notFound{p}
}

func (m mapFiles) Glob(p string) ([]string, error) {
	if _, ok := m[p]; ok {
		return []string{p}, nil
	}
	return nil, nil
}

type notFound struct{ p string }

func (e *notFound) Error() string { return e.p + ": no such file" }

// TestGroups: a virtual_server_group's ranges (the last byte of IPv4, the last group of IPv6, in
// hexadecimal) make one service each; a range too long or backwards is named, not expanded.
func TestGroups(t *testing.T) {
	conf := `virtual_server_group G {
	198.18.0.10-12 80
	2001:2::a-c 443
	198.18.0.20-10 80
	2001:2::1-200 80
	fwmark 7
}
virtual_server group G {
	protocol TCP
	real_server 198.18.1.2 8080 {
	}
}`
	res, err := Import("k.conf", mapFiles{"k.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	var svcs []string
	for _, l := range res.Lines {
		if strings.HasPrefix(l.Text, "-A ") {
			svcs = append(svcs, strings.TrimPrefix(strings.TrimPrefix(l.Text, "-A -t "), "-A "))
		}
	}
	want := []string{"198.18.0.10:80", "198.18.0.11:80", "198.18.0.12:80", "[2001:2::a]:443", "[2001:2::b]:443", "[2001:2::c]:443", "-f 7"}
	if !slices.Equal(svcs, want) {
		t.Errorf("services %v, want %v", svcs, want)
	}
	var notes []string
	for _, n := range res.Notes {
		notes = append(notes, n.String())
	}
	for _, w := range []string{"k.conf:4: virtual_server_group range 198.18.0.20-10", "k.conf:5: virtual_server_group range 2001:2::1-200",
		"k.conf:6: virtual_server_group entry fwmark 7: the iptables/nftables rules"} {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, w) }) {
			t.Errorf("no note %q in %q", w, notes)
		}
	}
}

// TestFwmark: a virtual_server fwmark and a group's fwmark entries become -f services with what
// the others get (scheduler, persistence, weights, methods, thresholds, the health check, which
// names its port: connect_port, else the real server's); the family is ip_family's, else the
// first real server's not by TUN (IPv4 when none says); DR drops a real server's port (named); the mark rules keepalived.conf
// lacks are named once per mark, with a commented --add-mark example.
func TestFwmark(t *testing.T) {
	conf := `virtual_server fwmark 1 {
	delay_loop 5
	lb_algo wrr
	lb_kind DR
	persistence_timeout 300
	real_server 2001:2:0:1::2 {
		weight 3
		uthreshold 100
		TCP_CHECK {
			connect_port 443
			connect_timeout 2
		}
	}
	real_server 2001:2:0:1::3 80 {
		weight 1
		TCP_CHECK {
			connect_port 443
			connect_timeout 2
		}
	}
}
virtual_server_group G {
	198.18.0.10 80
	fwmark 2
	fwmark 1
	fwmark 0
}
virtual_server group G {
	ip_family inet
	protocol UDP
	lb_algo sh
	real_server 198.18.1.2 53 {
		UDP_CHECK {
		}
	}
}
virtual_server fwmark 3 {
	real_server 2001:2:0:1::5 {
		lvs_method TUN
	}
	real_server 198.18.1.4 {
	}
}
virtual_server fwmark x {
}`
	res, err := Import("k.conf", mapFiles{"k.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range res.Lines {
		lines = append(lines, l.Text)
	}
	want := []string{
		"-A -f 1 -6 -s wrr -p 300",
		"-a -f 1 -6 -r [2001:2:0:1::2]:0 -g -w 3 -x 100",
		"-a -f 1 -6 -r [2001:2:0:1::3]:0 -g -w 1",
		"--health -f 1 -6 --check tcp --check-port 443 --interval 5s --timeout 2s --rise 1 --fall 2 --on-fail remove",
		"-A -u 198.18.0.10:80 -s sh",
		"-a -u 198.18.0.10:80 -r 198.18.1.2:53 -m -w 1",
		"--health -u 198.18.0.10:80 --check udp --interval 1m0s --timeout 5s --rise 1 --fall 2 --on-fail remove",
		"-A -f 2 -s sh",
		"-a -f 2 -r 198.18.1.2:53 -m -w 1",
		"--health -f 2 --check udp --check-port 53 --interval 1m0s --timeout 5s --rise 1 --fall 2 --on-fail remove",
		"-A -f 1 -s sh", // the IPv4 service of mark 1: a mark has one per family
		"-a -f 1 -r 198.18.1.2:53 -m -w 1",
		"--health -f 1 --check udp --check-port 53 --interval 1m0s --timeout 5s --rise 1 --fall 2 --on-fail remove",
		"-A -f 3",
		"-a -f 3 -r [2001:2:0:1::5]:0 -i -w 1",
		"-a -f 3 -r 198.18.1.4:0 -m -w 1",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("lines\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if want := []string{
		"fwmark 1 (k.conf:1): write the rules that give the mark (iptables/nftables -j MARK in keepalived's site), e.g.:",
		"--add-mark -f 1 --proto tcp --dst VIP[/LEN] --dport PORT[-PORT]",
		"fwmark 2 (k.conf:24): write the rules that give the mark (iptables/nftables -j MARK in keepalived's site), e.g.:",
		"--add-mark -f 2 --proto udp --dst VIP[/LEN] --dport PORT[-PORT]",
		"fwmark 3 (k.conf:37): write the rules that give the mark (iptables/nftables -j MARK in keepalived's site), e.g.:",
		"--add-mark -f 3 --proto tcp --dst VIP[/LEN] --dport PORT[-PORT]",
	}; !slices.Equal(res.Comments, want) {
		t.Errorf("comments\n%s\nwant\n%s", strings.Join(res.Comments, "\n"), strings.Join(want, "\n"))
	}
	var notes []string
	for _, n := range res.Notes {
		notes = append(notes, n.String())
	}
	for _, w := range []string{
		"k.conf:1: virtual_server fwmark 1: the iptables/nftables rules that give packets mark 1 are not in keepalived.conf",
		"k.conf:14: port 80 of real_server 2001:2:0:1::3 translated to 0 for the fwmark service: -g does not rewrite the port",
		"k.conf:24: virtual_server_group entry fwmark 2: the iptables/nftables rules that give packets mark 2",
		"k.conf:26: virtual_server_group entry fwmark 0 not translated: want a mark from 1 to 4294967295",
		"k.conf:37: virtual_server fwmark 3: the iptables/nftables rules",
		"k.conf:44: virtual_server fwmark x not translated: want fwmark and a mark from 1 to 4294967295",
	} {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, w) }) {
			t.Errorf("no note %q in\n%s", w, strings.Join(notes, "\n"))
		}
	}
	if n := len(slices.DeleteFunc(notes, func(n string) bool { return !strings.Contains(n, "mark 1 are not") })); n != 1 {
		t.Errorf("mark 1's rules named %d times, want once", n)
	}
}

// TestBounded: a group of 256 addresses used by many virtual servers stops at maxLines, named,
// and so do includes that include each other.
func TestBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("virtual_server_group G {\n 198.18.0.0-255 80\n}\n")
	for range 1000 {
		b.WriteString("virtual_server group G {\n real_server 198.18.1.2 80 {\n }\n}\n")
	}
	res, err := Import("k.conf", mapFiles{"k.conf": b.String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lines) > maxLines || !slices.ContainsFunc(res.Notes, func(n Note) bool { return strings.Contains(n.Text, "more than any director holds") }) {
		t.Errorf("%d lines, notes %v", len(res.Lines), len(res.Notes))
	}
	loop := strings.Repeat("include b.conf\n", 20)
	if _, err := Import("a.conf", mapFiles{"a.conf": loop, "b.conf": strings.Repeat("include a.conf\n", 20)}); err == nil ||
		!strings.Contains(err.Error(), "nested deeper") && !strings.Contains(err.Error(), "files included") {
		t.Errorf("includes that include each other: %v", err)
	}
}
