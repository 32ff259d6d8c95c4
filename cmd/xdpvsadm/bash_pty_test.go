//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.uber.org/zap/zaptest"

	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// TestBashCompletion: packaging/xdpvsadm.bash in an interactive bash on a pseudo-terminal (with
// bash-completion loaded when installed, as on a Debian system): tab completes an option, a
// scheduler, show's verbs, the daemon's VIP:PORT after -t (one word, colon and all) and the real
// servers of the service on the line after -r, and lists the choices on a second tab.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "x.sock")
	srv, err := server.New(server.Config{Control: nullControl{}, Logger: zaptest.NewLogger(t), SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	for _, l := range []string{
		"-A -t 198.18.0.10:80 -s rr", "-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m", "-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m",
		"-A -u 198.18.0.10:53 -s rr", "-a -u 198.18.0.10:53 -r 198.18.2.2:5353 -m",
	} {
		if rc := cli.Admin(cli.Env{}, append([]string{"--socket", sock}, strings.Fields(l)...)); rc != 0 {
			t.Fatalf("%s: rc %d", l, rc)
		}
	}
	// xdpvsadm on the PATH is this test binary running main.
	wrapper := fmt.Sprintf("#!/bin/sh\nXDPVSADM_RUN_MAIN=1 exec %s \"$@\"\n", os.Args[0])
	if err := os.WriteFile(filepath.Join(dir, "xdpvsadm"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	rc := "PS1='$ '\nbind 'set bell-style none'\n"
	if _, err := os.Stat("/usr/share/bash-completion/bash_completion"); err == nil {
		rc += ". /usr/share/bash-completion/bash_completion\n"
	}
	script, _ := filepath.Abs("../../packaging/xdpvsadm.bash")
	rc += ". " + script + "\n"
	os.WriteFile(filepath.Join(dir, "bashrc"), []byte(rc), 0o644)

	cmd := exec.Command(bash, "--noprofile", "--rcfile", filepath.Join(dir, "bashrc"), "-i")
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "XDPVS_SOCKET="+sock, "TERM=vt100", "HOME="+dir, "INPUTRC=/dev/null")
	p, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		p.Close()
	}()
	ss := newShellSession(t, p)
	ss.waitLine("$ ")
	for _, step := range []struct{ keys, line string }{
		{"xdpvsadm --schedu\t", "$ xdpvsadm --scheduler "},
		{"xdpvsadm --scheduler wr\t", "$ xdpvsadm --scheduler wrr "},
		{"xdpvsadm sh\t", "$ xdpvsadm show "},
		{"xdpvsadm show bg\t", "$ xdpvsadm show bgp "},
		{"xdpvsadm -L -t 198\t", "$ xdpvsadm -L -t 198.18.0.10:80 "},
		{"xdpvsadm -e -u 198.18.0.10:53 -r \t", "$ xdpvsadm -e -u 198.18.0.10:53 -r 198.18.2.2:5353 "},
		{"xdpvsadm --health -t 198.18.0.10:80 --check ht\t", "$ xdpvsadm --health -t 198.18.0.10:80 --check http"},
	} {
		ss.typeKeys(step.keys)
		ss.waitLine(step.line)
		ss.typeKeys("\x03") // readline drops the line: a new prompt
		ss.waitLine("$ ")
	}
	// Two real servers of the TCP service: a tab completes their common prefix, two more list both.
	ss.typeKeys("xdpvsadm -d -t 198.18.0.10:80 -r \t")
	ss.waitLine("$ xdpvsadm -d -t 198.18.0.10:80 -r 198.18.1.")
	ss.typeKeys("\t\t")
	ss.waitScreen("198.18.1.2:8080")
	ss.waitScreen("198.18.1.3:8080")
	ss.typeKeys("\x03")
	ss.waitLine("$ ")
	ss.typeKeys("exit\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("bash did not exit; the screen:\n%s", ss.scr)
	}
	t.Logf("the screen at the end:\n%s", ss.scr)
}
