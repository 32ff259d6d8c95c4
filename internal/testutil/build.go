package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// The commands of the module, built by Binaries once per test process into one directory that Main
// removes when the tests end.
var build struct {
	sync.Mutex
	main bool              // Main is running the tests
	dir  string            // the binaries, made on the first build
	errs map[string]error  // per command: nil once built, the build's error if it failed
	out  map[string]string // per command: its path
}

// Main runs the tests of a package whose tests call Binaries, then removes the binaries, and exits
// with the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M) {
	build.Lock()
	build.main = true
	build.Unlock()
	code := m.Run()
	build.Lock()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	build.Unlock()
	os.Exit(code)
}

// Binaries returns the paths of the named commands of ./cmd (xdpvsd, xdpvsadm, xdpvs-rs,
// xdpvs-pktgen, ...), in the order given. The first call that asks for a command builds it, together
// with the other new ones of that call in one `go build`; later calls in the same test process reuse
// it (a failed build fails them too). The package's TestMain must call Main.
func Binaries(tb testing.TB, names ...string) []string {
	tb.Helper()
	build.Lock()
	defer build.Unlock()
	if !build.main {
		tb.Fatal("testutil.Binaries: the package's TestMain must call testutil.Main (it removes the binaries)")
	}
	if build.errs == nil {
		build.errs, build.out = map[string]error{}, map[string]string{}
	}
	var todo []string
	for _, n := range names {
		if _, done := build.errs[n]; !done && !slices.Contains(todo, n) {
			todo = append(todo, n)
		}
	}
	if len(todo) > 0 {
		err := buildCommands(todo)
		for _, n := range todo {
			build.errs[n], build.out[n] = err, filepath.Join(build.dir, n)
		}
	}
	paths := make([]string, len(names))
	for i, n := range names {
		if err := build.errs[n]; err != nil {
			tb.Fatal(err)
		}
		paths[i] = build.out[n]
	}
	return paths
}

// Binary is Binaries for one command.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	return Binaries(tb, name)[0]
}

// buildCommands builds ./cmd/<name> for each name into build.dir (made on first use). The caller
// holds the lock.
func buildCommands(names []string) error {
	if build.dir == "" {
		dir, err := os.MkdirTemp("", "xdpvs-test-bin")
		if err != nil {
			return fmt.Errorf("testutil: binaries: %w", err)
		}
		build.dir = dir
	}
	args := []string{"build", "-o", build.dir + "/"}
	for _, n := range names {
		args = append(args, "github.com/xdpvs/xdpvs/cmd/"+n)
	}
	// go test puts its own go first on the PATH of the test process.
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("testutil: go build %v: %v\n%s", names, err, out)
	}
	return nil
}
