package cli

import (
	"strings"
	"testing"
)

func TestParseHealth(t *testing.T) {
	for _, tc := range []struct {
		line, want string // want: the -S options, or the error
	}{
		{"--health -t 198.18.0.10:80 --check http --path /health --expect 200 --interval 2s --timeout 1s --rise 2 --fall 3",
			"--check http --path /health --expect 200 --interval 2s --timeout 1s --rise 2 --fall 3 --on-fail quiesce"},
		{"--health -t 198.18.0.10:80 --check tcp", "--check tcp --interval 2s --timeout 1s --rise 2 --fall 3 --on-fail quiesce"},
		{"--health -t 198.18.0.10:80 --check https --host www.example --interval 5 --timeout 0.5 --on-fail remove --sorry 198.18.3.2:8080 -m",
			"--check https --path / --host www.example --expect 200 --interval 5s --timeout 500ms --rise 2 --fall 3 --on-fail remove --sorry 198.18.3.2:8080 -m"},
		{"--health -u [2001:2::10]:53 --check udp --send ping --receive pong --check-port 5353 --sorry [2001:2:0:3::2]",
			"--check udp --check-port 5353 --send ping --receive pong --interval 2s --timeout 1s --rise 2 --fall 3 --on-fail quiesce --sorry [2001:2:0:3::2]:53 -g"},
		{"--health -t 198.18.0.10:80 --check script --script /usr/local/bin/check --interval=300ms --timeout=100ms --rise=1 --fall=1",
			"--check script --script /usr/local/bin/check --interval 300ms --timeout 100ms --rise 1 --fall 1 --on-fail quiesce"},
		{"--health -t 198.18.0.10:80 --check none", ""},
		{"--health --check tcp", "You need to supply the 'service-address' option for the 'health' command"},
		{"--health -t 198.18.0.10:80", "--health needs --check tcp|http|https|udp|script or none"},
		{"--health -t 198.18.0.10:80 --check ftp", "unknown health check `ftp' (tcp, http, https, udp, script or none)"},
		{"--health -t 198.18.0.10:80 --check tcp --rise 0", "--rise `0' must be in [1, 100]"},
		{"--health -t 198.18.0.10:80 --check tcp --interval soon", "--interval: invalid duration `soon' (like 2s or 500ms)"},
		{"--health -t 198.18.0.10:80 --check http --expect 42", "--expect `42' is not an HTTP status"},
		{"--health -t 198.18.0.10:80 --check tcp --on-fail panic", "unknown --on-fail `panic' (quiesce or remove)"},
		{"--health -t 198.18.0.10:80 --check tcp -m", "a forwarding method goes with --sorry"},
		{"--health -t 198.18.0.10:80 --check tcp --frobnicate 1", "--frobnicate: unknown option for --health"},
		{"--health -t 198.18.0.10:80 --check tcp --check tcp", "multiple 'check' options specified"},
		{"--health -t 198.18.0.10:80 --check none --rise 2", "--check none takes no other health option"},
		{"--health -t 198.18.0.10:80 --check tcp --interval", "--interval: missing argument"},
	} {
		c, err := ParseArgs(strings.Fields(tc.line))
		got := ""
		switch {
		case err != nil:
			got = err.Error()
		case c.Health.Enabled():
			got = healthArgs(c.Health)
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.line, got, tc.want)
		}
	}
}
