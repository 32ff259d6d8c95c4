// Command xdpvsadm administers xdpvsd with ipvsadm's syntax; see package mgmt/cli.
package main

import (
	"errors"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/xdpvs/xdpvs/mgmt/cli"
)

func main() {
	os.Exit(cli.Admin(cli.Env{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Getenv:   os.Getenv,
		Terminal: openTerminal,
	}, os.Args[1:]))
}

// terminal is the shell's line editor: golang.org/x/term in raw mode, with history and tab
// completion of verbs, options, VIPs and real servers.
type terminal struct {
	*term.Terminal
	fd    int
	state *term.State
}

func openTerminal(prompt string, complete cli.CompleteFunc) (cli.Terminal, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) || !term.IsTerminal(int(os.Stdout.Fd())) {
		return nil, errors.New("not a terminal")
	}
	st, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{os.Stdin, os.Stdout}, prompt)
	t.AutoCompleteCallback = complete
	if w, h, err := term.GetSize(fd); err == nil {
		_ = t.SetSize(w, h)
	}
	return &terminal{Terminal: t, fd: fd, state: st}, nil
}

func (t *terminal) Close() error { return term.Restore(t.fd, t.state) }
