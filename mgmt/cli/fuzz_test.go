package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// FuzzParseArgs: the parser never panics; an error is a *ParseError with a non-empty, one-line
// message; a parsed command survives the trip over the wire.
func FuzzParseArgs(f *testing.F) {
	for _, l := range strings.Split(mgmttest.GoldenConfig, "\n") {
		f.Add(l)
	}
	for _, s := range []string{
		"-Ln", "-L -n --stats --exact", "-Lnc", "-S -n", "-R", "--set 1 2 3", "-Z -t 198.18.0.10:80",
		"-At198.18.0.10:80 -srr -p", "-A -t [2001:2::1]:80 -b sh-port,sh-fallback -s sh -p -M 64",
		"-a -t 198.18.0.1:80 -r 198.18.0.2 -b -w 3", "-L -o json", "-Lo json", "-Lojson", "--get-laddr",
		"-p", "-b", "-o", "--persistent=", "-- -A", "-A -t [", "-A -t []:80", "-A -t [::]", "-j",
		"--health -t 198.18.0.10:80 --check http --path / --expect 200 --interval 2s --timeout 1s --rise 2 --fall 3",
		"--health -u [2001:2::10]:53 --check udp --send ping --receive pong --sorry [2001:2::3]:53 -m --on-fail remove",
		"--health -t 198.18.0.10:80 --check script --script /bin/true --interval=1 --timeout=0.5",
		"--health -t 198.18.0.10:80 --check none", "--health", "--health -t", "show health", "show servers -o json",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, " ")
		c, err := ParseArgs(args)
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok || pe.Msg == "" || (!strings.Contains(line, "\n") && strings.Contains(pe.Msg, "\n")) {
				t.Fatalf("ParseArgs(%q): bad error %#v", line, err)
			}
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal %+v: %v", c, err)
		}
		var back model.Command
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if c.Op == model.OpHealth && c.Health.Enabled() {
			// -S writes what was parsed, and it parses back to the same.
			svc := "-t"
			if c.Service.Protocol == model.UDP {
				svc = "-u"
			}
			line := "--health " + svc + " " + addrPort(c.Service.Address, c.Service.Port) + " " + healthArgs(c.Health)
			again, err := ParseArgs(strings.Split(line, " "))
			if err != nil || *again.Health != *c.Health {
				t.Fatalf("%q -> %q: %v %+v, want %+v", line, healthArgs(c.Health), err, again, c.Health)
			}
		}
		if c.Op.Changes() {
			// The model never panics on what the parser accepts.
			m := model.New()
			_, _ = m.Exec(&back)
			_ = m.Snapshot(nil)
		}
	})
}
