package cli

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

const manualPath = "../../docs/man/xdpvsadm.8"

// TestManual: every entry of the option table and every show verb has its description (and
// there is none of anything else), docs/man/xdpvsadm.8 is what they make, and man renders it
// without a warning.
func TestManual(t *testing.T) {
	keys := map[string]bool{}
	for i := range options {
		o := &options[i]
		if o.long == "" || o.unsup != "" {
			continue
		}
		keys[o.docKey()] = true
		if _, ok := optionDocs[o.docKey()]; !ok {
			t.Errorf("--%s (%q) has no description in optionDocs (manual_docs.go)", o.long, o.docKey())
		}
	}
	for k := range optionDocs {
		if !keys[k] {
			t.Errorf("optionDocs describes %q, which the option table does not have", k)
		}
	}
	for _, v := range model.ShowVerbs {
		if showDocs[v] == "" {
			t.Errorf("show %s has no description in showDocs", v)
		}
	}
	var b bytes.Buffer
	WriteManual(&b)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(manualPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(manualPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("%s differs from the option table's manual: go test -run TestManual -update ./mgmt/cli/", manualPath)
	}
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed")
	}
	cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", manualPath)
	cmd.Env = append(os.Environ(), "MANWIDTH=100", "MANPAGER=cat", "PAGER=cat")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil || errOut.Len() > 0 {
		t.Fatalf("man -l: %v\n%s", err, errOut.String())
	}
	text := strings.NewReplacer("‐", "-", "−", "-").Replace(out.String())
	for _, want := range []string{"XDPVSADM(8)", "SYNOPSIS", "--add-service", "-r, --real-server server-address",
		"--check tcp|http|https|udp|script|none", "LISTING FORMATS", "EXAMPLES", "EXIT STATUS", "FILES", "import-keepalived",
		"--start-daemon", "show services"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
}
