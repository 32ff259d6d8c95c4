package mgmt

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the import arrows honest (DESIGN.md): mgmt reaches the dataplane only through
// control.Control, and never packet code or the kernel interfaces.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{
			"github.com/xdpvs/xdpvs/dataplane/", "github.com/xdpvs/xdpvs/conntrack",
			"github.com/xdpvs/xdpvs/synproxy", "github.com/xdpvs/xdpvs/toa", "golang.org/x/sys/unix",
			"github.com/cilium/ebpf", "golang.org/x/term",
		} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("mgmt depends on %s", dep)
			}
		}
	}
}
