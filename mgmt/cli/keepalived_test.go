package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
)

// The keepalived configurations of testdata/keepalived are real ones, copied as they are (their
// origin and licence in testdata/keepalived/README.md); each has its translation beside it in
// NAME.golden (go test -run TestImportKeepalived -update rewrites them).

func importKeepalived(t *testing.T, args ...string) (stdout, stderr string, rc int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc = Admin(Env{Stdout: &out, Stderr: &errb}, append([]string{"import-keepalived"}, args...))
	return out.String(), errb.String(), rc
}

// TestImportKeepalived: every real configuration translates (exit 0) to lines that -R takes back
// as they are, with what was not translated named by file and line; the golden file holds both.
func TestImportKeepalived(t *testing.T) {
	files, err := filepath.Glob("testdata/keepalived/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") || strings.HasSuffix(f, ".md") || strings.Contains(f, "include") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, errOut, rc := importKeepalived(t, f)
			if rc != ExitOK {
				t.Fatalf("rc %d: %s", rc, errOut)
			}
			cmds, _, err := ParseNumberedRules(strings.NewReader(out), "out")
			if err != nil {
				t.Fatalf("the translation does not parse as -R input: %v\n%s", err, out)
			}
			if !strings.Contains(f, "docker") && len(cmds) == 0 {
				t.Error("nothing translated")
			}
			for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if !strings.HasPrefix(l, f+":") {
					t.Errorf("a note without FILE:LINE or FILE: %q", l)
				}
			}
			mgmttest.Golden(t, "keepalived/"+filepath.Base(f), fmt.Sprintf("--- stdout\n%s--- stderr\n%s", out, errOut))
		})
	}
	if n < 5 {
		t.Errorf("%d real configurations, want at least 5", n)
	}
}

// TestImportKeepalivedIncludes: include directives are followed (globs, relative to the including
// file, in name order); the included files' lines are named as theirs.
func TestImportKeepalivedIncludes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("keepalived.conf", "global_defs {\n router_id x\n}\ninclude conf.d/*.conf\ninclude missing/*.conf\n")
	write("conf.d/b.conf", "virtual_server 198.18.0.10 81 {\n lb_algo wrr\n real_server 198.18.1.2 8080 {\n  weight 2\n  notify_up /bin/true\n }\n}\n")
	write("conf.d/a.conf", "virtual_server 198.18.0.10 80 {\n lb_kind DR\n real_server 198.18.1.2 80 {\n }\n}\n")
	out, errOut, rc := importKeepalived(t, filepath.Join(dir, "keepalived.conf"))
	want := "# xdpvsadm import-keepalived " + filepath.Join(dir, "keepalived.conf") + "\n" +
		"-A -t 198.18.0.10:80 -s wlc\n-a -t 198.18.0.10:80 -r 198.18.1.2:80 -g -w 1\n" +
		"-A -t 198.18.0.10:81 -s wrr\n-a -t 198.18.0.10:81 -r 198.18.1.2:8080 -m -w 2\n"
	if rc != 0 || out != want {
		t.Errorf("rc %d\n%s\nwant\n%s\n%s", rc, out, want, errOut)
	}
	for _, note := range []string{
		filepath.Join(dir, "keepalived.conf") + ":1: global_defs not translated",
		filepath.Join(dir, "keepalived.conf") + ":5: include missing/*.conf: no file matches",
		filepath.Join(dir, "conf.d/b.conf") + ":5: notify_up not translated",
	} {
		if !strings.Contains(errOut, note) {
			t.Errorf("no note %q in:\n%s", note, errOut)
		}
	}
}

// TestImportKeepalivedErrors: what cannot be read is an error (exit 1) naming the place; a bad
// command line exits 2.
func TestImportKeepalivedErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, conf, want string }{
		{"unclosed", "virtual_server 198.18.0.10 80 {\n real_server 198.18.1.2 80 {\n", "F:2: a block is not closed"},
		{"extra_brace", "virtual_server 198.18.0.10 80 {\n}\n}\n", "F:3: '}' without its '{'"},
		{"brace_alone", "{\n}\n", "F:1: '{' without a keyword before it"},
		{"self_include", "include keepalived.conf\n", "includes nested deeper than 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "keepalived.conf")
			os.WriteFile(p, []byte(tc.conf), 0o644)
			_, errOut, rc := importKeepalived(t, p)
			if want := strings.Replace(tc.want, "F:", p+":", 1); rc != ExitError || !strings.Contains(errOut, want) {
				t.Errorf("rc %d %q, want 1 and %q", rc, errOut, want)
			}
		})
	}
	if _, errOut, rc := importKeepalived(t); rc != ExitUsage || !strings.Contains(errOut, "usage: xdpvsadm import-keepalived FILE [--apply]") {
		t.Errorf("no file: rc %d %q", rc, errOut)
	}
	if _, _, rc := importKeepalived(t, filepath.Join(dir, "nope.conf")); rc != ExitError {
		t.Errorf("missing file: rc %d", rc)
	}
}

// TestImportKeepalivedRefused: a line the model refuses is named and left out, and a refused -A
// takes its service's lines with it; the rest is translated.
func TestImportKeepalivedRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(p, []byte("virtual_server 198.18.0.10 80 {\n real_server 198.18.1.2 80 {\n  weight 9999999\n }\n"+
		" real_server 198.18.1.3 80 {\n }\n}\nvirtual_server 0.0.0.0 80 {\n real_server 198.18.1.2 80 {\n }\n}\n"), 0o644)
	out, errOut, rc := importKeepalived(t, p)
	if rc != 0 || out != "# xdpvsadm import-keepalived "+p+"\n-A -t 198.18.0.10:80 -s wlc\n-a -t 198.18.0.10:80 -r 198.18.1.3:80 -m -w 1\n" {
		t.Errorf("rc %d:\n%s", rc, out)
	}
	for _, want := range []string{p + ":2: not translated: `-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 9999999'",
		p + ":8: not translated: `-A -t 0.0.0.0:80'"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("no %q in:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, ":9:") {
		t.Errorf("the real server of a refused service is named too:\n%s", errOut)
	}
}

// TestImportKeepalivedFwmark: fwmark services (a virtual_server fwmark, a group's fwmark entry,
// IPv6 by its real servers) translate to -f lines the parser and the model take as they are,
// after the commented --add-mark examples of the rules keepalived.conf does not hold.
func TestImportKeepalivedFwmark(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(p, []byte("virtual_server fwmark 1 {\n lb_algo sh\n lb_kind DR\n persistence_timeout 60\n"+
		" real_server 2001:2:0:1::2 {\n  TCP_CHECK {\n   connect_port 443\n  }\n }\n}\n"+
		"virtual_server_group G {\n 198.18.0.10 80\n fwmark 2\n}\n"+
		"virtual_server group G {\n lb_kind FNAT\n real_server 198.18.1.2 8080 {\n  weight 2\n  HTTP_GET {\n  }\n }\n}\n"), 0o644)
	out, errOut, rc := importKeepalived(t, p)
	want := "# xdpvsadm import-keepalived " + p + "\n" +
		"# fwmark 1 (" + p + ":1): write the rules that give the mark (iptables/nftables -j MARK in keepalived's site), e.g.:\n" +
		"# --add-mark -f 1 --proto tcp --dst VIP[/LEN] --dport PORT[-PORT]\n" +
		"# fwmark 2 (" + p + ":13): write the rules that give the mark (iptables/nftables -j MARK in keepalived's site), e.g.:\n" +
		"# --add-mark -f 2 --proto tcp --dst VIP[/LEN] --dport PORT[-PORT]\n"
	if rc != 0 || !strings.HasPrefix(out, want) {
		t.Errorf("rc %d\n%s\nwant it to begin with\n%s", rc, out, want)
	}
	for _, line := range []string{
		"-A -f 1 -6 -s sh -p 60\n-a -f 1 -6 -r [2001:2:0:1::2]:0 -g -w 1\n",
		"-A -f 2 -s wlc\n-a -f 2 -r 198.18.1.2:8080 -b -w 2\n",
		"--health -f 1 -6 --check tcp --check-port 443 ",
		"--health -f 2 --check http --check-port 8080 --path / --expect 200 ",
		"--health -t 198.18.0.10:80 --check http --path / --expect 200 ",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("no %q in\n%s", line, out)
		}
	}
	if strings.Contains(errOut, "not translated: `") || !strings.Contains(errOut, "3 services, 3 real servers, 3 health checks translated") {
		t.Errorf("a line refused, or not all translated:\n%s", errOut)
	}
}
