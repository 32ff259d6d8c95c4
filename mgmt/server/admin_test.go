package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/cli"
)

// TestEndToEnd drives the admin tool against a real server over a unix socket.
func TestEndToEnd(t *testing.T) {
	ts := newTestServer(t, Config{ConfigPath: filepath.Join(t.TempDir(), "xdpvs.conf")})
	// --socket beats XDPVS_SOCKET.
	var out, errb bytes.Buffer
	rc := cli.Admin(cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "/nonexistent" }},
		[]string{"--socket", ts.sock, "-A", "-t", "198.18.0.10:80", "-s", "rr"})
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	rc = cli.Admin(cli.Env{Stdout: &out, Stderr: &errb}, []string{"--socket=" + ts.sock, "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.2:8080", "-m", "-w", "5"})
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  198.18.0.10:80 rr\n" +
		"  -> 198.18.1.2:8080              Masq    5      0          0         \n"
	if got := ts.mustAdm(t, "-Ln"); got != want {
		t.Errorf("-Ln:\n%q\nwant\n%q", got, want)
	}
	if got := ts.mustAdm(t, "-v"); got != cli.Version+"\n" {
		t.Errorf("-v: %q", got)
	}
}

// TestSaveRestoreRoundTrip: -S output fed to -R on an empty daemon gives the same -S.
func TestSaveRestoreRoundTrip(t *testing.T) {
	src := newGoldenServer(t)
	saved := src.mustAdm(t, "-S")
	dst := newTestServer(t, Config{})
	if _, errs, rc := dst.adm(t, saved, "-R"); rc != 0 {
		t.Fatalf("-R: rc %d %s", rc, errs)
	}
	if got := dst.mustAdm(t, "-S"); got != saved {
		t.Errorf("round trip:\n%s\nwant\n%s", got, saved)
	}
	if dst.fake.applied() != 2 { // the empty start, then the whole restore at once
		t.Errorf("restore applied %d snapshots, want one after the start", dst.fake.applied()-1)
	}
}

// TestRestoreAllOrNothing: a bad line (parse or model error) restores nothing.
func TestRestoreAllOrNothing(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, tc := range []struct{ in, want string }{
		{"-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -w x\n", "stdin:2: illegal weight specified\n"},
		{"-A -t 198.18.0.10:80 -s rr\n\n# c\n-a -t 198.18.0.11:80 -r 198.18.1.2\n", "stdin:4: Service not defined\nnothing restored\n"},
		{"-A -t 198.18.0.10:80 -s rr\n-L\n", "stdin:2: list: only commands that change the configuration may appear here\n"},
	} {
		_, errs, rc := ts.adm(t, tc.in, "-R")
		if rc == 0 || errs != tc.want {
			t.Errorf("rc %d stderr %q, want %q", rc, errs, tc.want)
		}
		if got := ts.mustAdm(t, "-S"); got != "" {
			t.Errorf("partly restored: %q", got)
		}
	}
	if _, _, rc := ts.adm(t, "", "-R"); rc != 0 {
		t.Errorf("empty restore: rc %d", rc)
	}
}

// TestShellNotTerminal: without a terminal the shell reads command lines from stdin.
func TestShellNotTerminal(t *testing.T) {
	ts := newTestServer(t, Config{})
	in := `# a comment
-A -t 198.18.0.10:80 -s rr
xdpvsadm -a -t 198.18.0.10:80 -r 198.18.1.2 -m

-L -n
-A -t 198.18.0.10:80 -s rr
-R
help
quit
-C
`
	out, errs, rc := ts.adm(t, in)
	if rc != 1 {
		t.Errorf("rc %d, want 1 (a command failed)", rc)
	}
	if !strings.Contains(out, "TCP  198.18.0.10:80 rr\n  -> 198.18.1.2:80") || !strings.Contains(out, "Usage:") {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errs, "Service already exists\n") || !strings.Contains(errs, "-R reads rules from standard input") {
		t.Errorf("stderr:\n%s", errs)
	}
	if got := ts.mustAdm(t, "-S"); !strings.Contains(got, "-A -t 198.18.0.10:80") {
		t.Errorf("quit did not stop the shell before -C: %q", got)
	}
	if _, _, rc := ts.adm(t, "-Ln\n"); rc != 0 {
		t.Errorf("rc %d", rc)
	}
}

type fakeTerminal struct {
	lines []string
	out   bytes.Buffer
	shut  bool
}

func (f *fakeTerminal) ReadLine() (string, error) {
	if len(f.lines) == 0 {
		return "", io.EOF
	}
	l := f.lines[0]
	f.lines = f.lines[1:]
	return l, nil
}
func (f *fakeTerminal) Write(b []byte) (int, error) { return f.out.Write(b) }
func (f *fakeTerminal) Close() error                { f.shut = true; return nil }

func TestShellTerminal(t *testing.T) {
	ts := newTestServer(t, Config{})
	term := &fakeTerminal{lines: []string{"-A -t 198.18.0.10:80 -s rr", "-Ln", "-D -t 198.18.0.99:80"}}
	rc := cli.Admin(cli.Env{
		Getenv:   func(string) string { return ts.sock },
		Terminal: func(prompt string, _ cli.CompleteFunc) (cli.Terminal, error) { return term, nil },
	}, nil)
	if rc != 1 || !term.shut {
		t.Errorf("rc %d closed %v", rc, term.shut)
	}
	o := term.out.String()
	if !strings.Contains(o, "shell on "+ts.sock) || !strings.Contains(o, "TCP  198.18.0.10:80 rr") || !strings.Contains(o, "No such service") {
		t.Errorf("terminal output:\n%s", o)
	}
	// A Terminal that refuses (stdin is no terminal) falls back to plain lines.
	var out bytes.Buffer
	rc = cli.Admin(cli.Env{Stdin: strings.NewReader("-Ln\n"), Stdout: &out, Getenv: func(string) string { return ts.sock },
		Dial:     func(p string) (net.Conn, error) { return net.Dial("unix", p) },
		Terminal: func(string, cli.CompleteFunc) (cli.Terminal, error) { return nil, errors.New("not a terminal") }}, nil)
	if rc != 0 || !strings.Contains(out.String(), "TCP  198.18.0.10:80 rr") {
		t.Errorf("rc %d: %s", rc, out.String())
	}
}
