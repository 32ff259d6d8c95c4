package header

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps keeps header on the standard library, without unsafe (DESIGN.md "header → stdlib").
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
		if p != "github.com/xdpvs/xdpvs/header" {
			t.Errorf("header depends on non-standard package %s", p)
		}
	}
	out, err = exec.Command(gobin, "list", "-f", "{{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if slices.Contains(strings.Fields(string(out)), "unsafe") {
		t.Error("header imports unsafe")
	}
}
