package main

import (
	"os"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/cli"
)

// The shell falls back to plain lines when stdin is not a terminal, as under go test.
func TestOpenTerminalNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	if tm, err := openTerminal("> ", cli.Complete); err == nil {
		tm.Close()
		t.Fatal("a pipe was taken for a terminal")
	}
}
