package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var updateManual = flag.Bool("update", false, "rewrite docs/man/xdpvsd.8")

const manualPath = "../../docs/man/xdpvsd.8"

// TestManual: docs/man/xdpvsd.8 is what the flags make (no flag without its entry, none
// described that is gone), and man renders it without a warning.
func TestManual(t *testing.T) {
	var b bytes.Buffer
	writeManual(&b)
	if *updateManual {
		if err := os.WriteFile(manualPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(manualPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("%s differs from the flags' manual: go test -run TestManual -update ./cmd/xdpvsd/", manualPath)
	}
	_, fs := newFlagSet()
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(b.String(), `\-\-`+strings.ReplaceAll(f.Name, "-", `\-`)) {
			t.Errorf("--%s is not in the manual", f.Name)
		}
	})
	mustRender(t, manualPath, "XDPVSD(8)", "SIGNALS", "EXIT STATUS", "FILES", "EXAMPLES", "--check-config FILE")
}

// mustRender renders a page with man -l (groff's warnings on) and checks the text.
func mustRender(t *testing.T, path string, want ...string) {
	t.Helper()
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed")
	}
	cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=100", "MANPAGER=cat", "PAGER=cat")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil || errOut.Len() > 0 {
		t.Fatalf("man -l %s: %v\n%s", path, err, errOut.String())
	}
	text := strings.ReplaceAll(out.String(), "‐", "-") // man's hyphen
	text = strings.ReplaceAll(text, "−", "-")
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered page lacks %q", w)
		}
	}
}
