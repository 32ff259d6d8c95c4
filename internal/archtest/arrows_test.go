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
var stdlibOnly = map[string]bool{"header": true, "toa": true, "proxyproto": true, "conntrack": true, "sched": true, "synproxy": true, "dataplane/control": true, "dataplane/syncrec": true}

var allowed = map[string]struct {
	deps   []string
	kernel bool
}{
	// The management plane, one concern per package (mgmt/doc.go): the model at the bottom, the
	// wire API and the admin tool's command line above it, the health checkers beside them, the
	// daemon's server on top; metrics reads the server.
	"mgmt":                   {nil, false},
	"mgmt/model":             {[]string{"dataplane/control", "sched", "header"}, false},
	"mgmt/api":               {[]string{"mgmt/model", "dataplane/control", "sched", "header"}, false},
	"mgmt/keepalived":        {[]string{"mgmt/model", "dataplane/control", "sched", "header"}, false},
	"mgmt/cli":               {[]string{"mgmt/api", "mgmt/keepalived", "mgmt/model", "dataplane/control", "sched", "header"}, false},
	"mgmt/health":            {[]string{"mgmt/model", "dataplane/control", "sched", "header"}, false},
	"mgmt/server":            {[]string{"mgmt/cli", "mgmt/keepalived", "mgmt/health", "mgmt/api", "mgmt/model", "dataplane/control", "sched", "header"}, false},
	"mgmt/internal/mgmttest": {nil, false},
	"mgmt/announce":          {[]string{"mgmt/api", "mgmt/model", "dataplane/control", "sched", "header"}, false},
	// The connection-sync channel moves the dataplane's records as opaque bytes (control.Syncer).
	"mgmt/connsync": {[]string{"mgmt/api", "mgmt/model", "dataplane/control", "sched", "header"}, false},
	// The Prometheus client reads procfs through x/sys/unix: the one mgmt package that may.
	"mgmt/metrics": {[]string{"mgmt/server", "mgmt/cli", "mgmt/keepalived", "mgmt/health", "mgmt/api", "mgmt/model", "dataplane/control", "sched", "header"}, true},
	// The BGP speaker wraps GoBGP, which sets its sockets' options (TCP MD5, TTL) through
	// x/sys/unix; it knows nothing of the project (mgmt/bgp/doc.go).
	"mgmt/bgp": {nil, true},
	// The kernel routes (export table, routed mode's guards) are written over netlink.
	"mgmt/kroute":       {nil, true},
	"header":            {nil, false},
	"conntrack":         {[]string{"header"}, false},
	"sched":             {[]string{"header"}, false},
	"dataplane/control": {nil, false},
	"dataplane/xsk":     {nil, true},
	// The connection-sync record (dataplane/syncrec/doc.go): bytes and tuples only.
	"dataplane/syncrec": {[]string{"header"}, false},
	"dataplane":         {[]string{"dataplane/control", "dataplane/xsk", "dataplane/syncrec", "conntrack", "sched", "synproxy", "toa", "proxyproto", "header"}, true},
	"toa":               {[]string{"header"}, false},
	"proxyproto":        {[]string{"header"}, false},
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

// listPackages is `go list -deps` of patterns: the packages and everything they depend on.
func listPackages(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	args := append([]string{"list", "-deps", "-json=ImportPath,Deps,Imports,Standard"}, patterns...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestArrows(t *testing.T) {
	pkgs := listPackages(t, mod+"...")
	standard := map[string]bool{}
	for _, p := range pkgs {
		standard[p.ImportPath] = p.Standard
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

// heavy are what the admin tool must not link: the health checkers' HTTP client, TLS and process
// spawning, and the daemon's logger.
var heavy = []string{"net/http", "crypto/tls", "os/exec", "go.uber.org/zap"}

// TestAdminDeps: xdpvsadm, and the mgmt packages it is made of, link none of the heavy packages
// (nor their subpackages); the test helpers of mgmt are linked by no binary.
func TestAdminDeps(t *testing.T) {
	light := []string{"cmd/xdpvsadm", "mgmt/cli", "mgmt/api", "mgmt/model"}
	var patterns []string
	for _, l := range light {
		patterns = append(patterns, mod+l)
	}
	checked := 0
	for _, p := range listPackages(t, patterns...) {
		if !slices.Contains(light, strings.TrimPrefix(p.ImportPath, mod)) {
			continue
		}
		checked++
		for _, d := range p.Deps {
			for _, h := range heavy {
				if d == h || strings.HasPrefix(d, h+"/") {
					t.Errorf("%s depends on %s", p.ImportPath, d)
				}
			}
		}
	}
	if checked != len(light) {
		t.Errorf("checked %d of the %d packages", checked, len(light))
	}
	for _, p := range listPackages(t, mod+"...") {
		if slices.Contains(p.Deps, mod+"mgmt/internal/mgmttest") {
			t.Errorf("%s depends on mgmt/internal/mgmttest, which only tests may import", p.ImportPath)
		}
	}
}
