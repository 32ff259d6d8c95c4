// Package archtest keeps the package arrows of DESIGN.md honest with `go list -deps`.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/xdpvs/xdpvs/"

// allowed lists, for each package, the project packages it may depend on (transitively), and
// whether it may reach the kernel interfaces (unsafe, x/sys/unix, cilium/ebpf).
var allowed = map[string]struct {
	deps   []string
	kernel bool
}{
	"header":            {nil, false},
	"conntrack":         {[]string{"header"}, false},
	"sched":             {[]string{"header"}, false},
	"dataplane/control": {nil, false},
	"mgmt":              {[]string{"dataplane/control", "sched", "header"}, false},
	"dataplane/xsk":     {nil, true},
	"dataplane":         {[]string{"dataplane/control", "dataplane/xsk", "conntrack", "sched", "toa", "header"}, true},
	"toa":               {[]string{"header"}, false},
	// The real server's reader of the agent's BPF map: the one place outside the dataplane that
	// needs the kernel interfaces (documented in its package).
	"toa/rs": {[]string{"toa", "header"}, true},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rule, ok := allowed[strings.TrimPrefix(p.ImportPath, mod)]
		if !ok {
			continue
		}
		seen++
		ok2 := map[string]bool{}
		for _, d := range rule.deps {
			ok2[mod+d] = true
		}
		for _, d := range p.Deps {
			switch {
			case strings.HasPrefix(d, mod) && !ok2[d]:
				t.Errorf("%s depends on %s: not an arrow of DESIGN.md", p.ImportPath, d)
			case !rule.kernel && (d == "unsafe" || d == "golang.org/x/sys/unix" || strings.HasPrefix(d, "github.com/cilium/ebpf")):
				// The standard library uses unsafe internally; only direct kernel access counts.
				if d != "unsafe" {
					t.Errorf("%s reaches %s: only dataplane and dataplane/xsk may", p.ImportPath, d)
				}
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("found %d of the %d packages the arrows name", seen, len(allowed))
	}
}
