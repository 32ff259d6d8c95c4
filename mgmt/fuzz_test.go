package mgmt

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseArgs: the parser never panics; an error is a *ParseError with a non-empty, one-line
// message; a parsed command survives the trip over the wire.
func FuzzParseArgs(f *testing.F) {
	for _, l := range strings.Split(goldenConfig, "\n") {
		f.Add(l)
	}
	for _, s := range []string{
		"-Ln", "-L -n --stats --exact", "-Lnc", "-S -n", "-R", "--set 1 2 3", "-Z -t 198.18.0.10:80",
		"-At198.18.0.10:80 -srr -p", "-A -t [2001:2::1]:80 -b sh-port,sh-fallback -s sh -p -M 64",
		"-a -t 198.18.0.1:80 -r 198.18.0.2 -b -w 3", "-L -o json", "-Lo json", "-Lojson", "--get-laddr",
		"-p", "-b", "-o", "--persistent=", "-- -A", "-A -t [", "-A -t []:80", "-A -t [::]", "-j",
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
		var back Command
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if c.Op.changes() {
			// The model never panics on what the parser accepts.
			m := newModel()
			_ = m.exec(&back)
			_ = m.snapshot()
		}
	})
}
