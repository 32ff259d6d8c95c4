// Package archtest keeps the package arrows of DESIGN.md honest with `go list -deps`.
package archtest

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/xdpvs/xdpvs/"

// allowed lists, for each package, the project packages it may depend on (transitively), and
// whether it may reach the kernel interfaces (unsafe, x/sys/unix, cilium/ebpf).
// stdlibOnly are the packages that may use nothing outside the standard library but the project
// packages their arrows allow, and must not import unsafe themselves.
var stdlibOnly = map[string]bool{"header": true, "toa": true, "conntrack": true, "sched": true, "synproxy": true, "dataplane/control": true}

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
	"dataplane":         {[]string{"dataplane/control", "dataplane/xsk", "conntrack", "sched", "synproxy", "toa", "header"}, true},
	"toa":               {[]string{"header"}, false},
	"synproxy":          {[]string{"header"}, false},
	// The real server's reader of the agent's BPF map: the one place outside the dataplane that
	// needs the kernel interfaces (documented in its package).
	"toa/rs": {[]string{"toa", "header"}, true},
}

type pkg struct {
	ImportPath string
	Deps       []string
	Imports    []string
	Standard   bool
}

func TestArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps,Imports,Standard", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	standard := map[string]bool{}
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		standard[p.ImportPath] = p.Standard
		pkgs = append(pkgs, p)
	}
	seen := 0
	for _, p := range pkgs {
		name := strings.TrimPrefix(p.ImportPath, mod)
		if stdlibOnly[name] {
			for _, d := range p.Deps {
				if !standard[d] && !strings.HasPrefix(d, mod) {
					t.Errorf("%s depends on %s: it may use only the standard library", p.ImportPath, d)
				}
			}
			if slices.Contains(p.Imports, "unsafe") {
				t.Errorf("%s imports unsafe", p.ImportPath)
			}
		}
		rule, ok := allowed[name]
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
