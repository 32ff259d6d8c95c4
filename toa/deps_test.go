package toa

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps keeps toa on the standard library and header, without unsafe (DESIGN.md "toa → header").
func TestDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/xdpvs/xdpvs/toa" && p != "github.com/xdpvs/xdpvs/header" {
			t.Errorf("toa depends on %s: only the standard library and header are allowed", p)
		}
	}
	out, err = exec.Command(gobin, "list", "-f", "{{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if slices.Contains(strings.Fields(string(out)), "unsafe") {
		t.Error("toa imports unsafe")
	}
}
