package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

const persistBase = `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m`

// configStatus is show config -o json.
func (ts *testServer) configStatus(t *testing.T) *api.ConfigStatus {
	t.Helper()
	var out struct {
		Config *api.ConfigStatus `json:"config"`
	}
	if err := json.Unmarshal([]byte(ts.mustAdm(t, "show", "config", "-o", "json")), &out); err != nil || out.Config == nil {
		t.Fatalf("show config -o json: %v", err)
	}
	return out.Config
}

// refusedUnsaved runs a change that cannot be saved: it must fail with want, reach neither the
// dataplane nor the listing, leave the file as it was, and be counted.
func (ts *testServer) refusedUnsaved(t *testing.T, path, want string, args ...string) {
	t.Helper()
	before, n, file := ts.mustAdm(t, "-S"), ts.fake.applied(), readOrNil(path)
	failures := ts.configStatus(t).SaveFailures
	_, errs, rc := ts.adm(t, "", args...)
	if rc != 1 || !strings.HasPrefix(errs, "configuration not saved, nothing changed: ") || !strings.Contains(errs, want) {
		t.Errorf("%s: rc %d %q, want %q", strings.Join(args, " "), rc, errs, want)
	}
	if ts.fake.applied() != n || ts.mustAdm(t, "-S") != before {
		t.Errorf("%s: an unsaved change took effect", strings.Join(args, " "))
	}
	if !bytes.Equal(readOrNil(path), file) {
		t.Errorf("%s: the file changed", strings.Join(args, " "))
	}
	cs := ts.configStatus(t)
	if cs.SaveFailures != failures+1 || !strings.Contains(cs.LastError, want) || cs.LastErrorAt.IsZero() {
		t.Errorf("show config after a failed save: %+v", cs)
	}
	if text := ts.mustAdm(t, "show", "config"); !strings.Contains(text, "Last failure:") || !strings.Contains(text, want) {
		t.Errorf("show config:\n%s", text)
	}
}

func readOrNil(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// TestPersistFailure: a change whose configuration file cannot be written is refused before it
// takes effect, on paths that fail for root too.
func TestPersistFailure(t *testing.T) {
	t.Run("missing_directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "conf.d", "xdpvs.conf")
		ts := newTestServer(t, Config{ConfigPath: path})
		ts.refusedUnsaved(t, path, "no such file or directory", "-A", "-t", "198.18.0.10:80", "-s", "rr")
		if cs := ts.configStatus(t); cs.Differs || !cs.Saved.IsZero() {
			t.Errorf("nothing saved, nothing running: %+v", cs)
		}
	})
	t.Run("proc", func(t *testing.T) {
		path := "/proc/xdpvs-test.conf" // no file can be made in /proc, not even by root
		ts := newTestServer(t, Config{ConfigPath: path})
		ts.refusedUnsaved(t, path, "/proc/", "-A", "-t", "198.18.0.10:80", "-s", "rr")
	})
	t.Run("directory_now_a_file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "conf")
		os.Mkdir(dir, 0o755)
		path := filepath.Join(dir, "xdpvs.conf")
		ts := newTestServer(t, Config{ConfigPath: path})
		ts.mustLines(t, persistBase)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(dir, []byte("not a directory"), 0o600)
		ts.refusedUnsaved(t, path, "not a directory", "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.3:8080", "-m")
		if cs := ts.configStatus(t); !cs.Differs || !strings.Contains(cs.Reason, "not a directory") {
			t.Errorf("the file is gone: %+v", cs)
		}
	})
	t.Run("file_now_a_directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "xdpvs.conf")
		ts := newTestServer(t, Config{ConfigPath: path})
		ts.mustLines(t, persistBase)
		os.Remove(path)
		os.Mkdir(path, 0o755)
		ts.refusedUnsaved(t, path, "is a directory", "-d", "-t", "198.18.0.10:80", "-r", "198.18.1.2:8080")
	})
}

// TestPersistPutBack: a change the dataplane refuses leaves the file as it was (a hand-written
// file too, byte for byte; no file where there was none); when the previous file cannot be put
// back, show config says that the file holds another configuration.
func TestPersistPutBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "xdpvs.conf")
	ts := newTestServer(t, Config{ConfigPath: path})
	ts.fake.failApply(errors.New("no"))
	if _, _, rc := ts.adm(t, "", "-A", "-t", "198.18.0.10:80", "-s", "rr"); rc != 1 {
		t.Fatal("a refused change succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused first change left a file: %v", err)
	}

	hand := "# written by hand\n-A -t 198.18.0.10:80 -s rr\n\n-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 1\n"
	os.WriteFile(path, []byte(hand), 0o600)
	var writes int
	var failWrite error
	ts = newTestServer(t, Config{ConfigPath: path, writeFile: func(p string, data []byte, perm os.FileMode) error {
		if writes++; writes == 2 && failWrite != nil {
			return failWrite
		}
		return writeFileAtomic(p, data, perm)
	}})
	if cs := ts.configStatus(t); cs.Differs || cs.Saved.IsZero() || cs.SaveFailures != 0 {
		t.Errorf("loaded: %+v", cs)
	}
	ts.fake.failApply(errors.New("no"))
	if _, _, rc := ts.adm(t, "", "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.3:8080", "-m"); rc != 1 {
		t.Fatal("a refused change succeeded")
	}
	if got := string(readOrNil(path)); got != hand {
		t.Errorf("the file after a refused change:\n%s\nwant\n%s", got, hand)
	}
	// The previous file cannot be put back: the refused change is in the file, and it is said.
	writes, failWrite = 0, errors.New("disk on fire")
	ts.fake.failApply(errors.New("no"))
	ts.adm(t, "", "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.3:8080", "-m")
	cs := ts.configStatus(t)
	if !cs.Differs || cs.SaveFailures != 1 || cs.LastError != "disk on fire" {
		t.Errorf("after a failed put-back: %+v", cs)
	}
	if text := ts.mustAdm(t, "show", "config"); !strings.Contains(text, "NOT SAVED: the file holds another configuration than the running one") {
		t.Errorf("show config:\n%s", text)
	}
	// The next change that succeeds saves the running configuration again.
	ts.mustAdm(t, "-e", "-t", "198.18.0.10:80", "-r", "198.18.1.2:8080", "-m", "-w", "2")
	if cs := ts.configStatus(t); cs.Differs {
		t.Errorf("after a good change: %+v", cs)
	}
	if out := ts.mustAdm(t, "show", "config"); !strings.Contains(out, "Running config:     saved (the file holds it)") {
		t.Errorf("show config:\n%s", out)
	}
}

// TestPersistMounts: on a full filesystem and a read-only one (a small tmpfs in a private mount
// namespace: the test runs itself again in one), changes are refused before they take effect.
func TestPersistMounts(t *testing.T) {
	const inNS = "XDPVS_TEST_MOUNT_NS"
	if os.Getenv(inNS) == "" {
		testutil.RequireRoot(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestPersistMounts$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), inNS+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // and / made private
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestPersistMounts")) {
			t.Fatalf("in a mount namespace: %v\n%s", err, out)
		}
		return
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0755"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	path := filepath.Join(mnt, "xdpvs.conf")
	ts := newTestServer(t, Config{ConfigPath: path})
	ts.mustLines(t, persistBase)

	// Full.
	fill, err := os.Create(filepath.Join(mnt, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 4096); ; {
		if _, err := fill.Write(buf); err != nil {
			break
		}
	}
	fill.Close()
	ts.refusedUnsaved(t, path, "no space left on device", "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.3:8080", "-m")
	if ents, _ := os.ReadDir(mnt); len(ents) != 2 {
		t.Errorf("left in the full filesystem: %v", ents)
	}
	os.Remove(filepath.Join(mnt, "fill"))
	ts.mustAdm(t, "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.3:8080", "-m")

	// Read-only.
	if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	ts.refusedUnsaved(t, path, "read-only file system", "-d", "-t", "198.18.0.10:80", "-r", "198.18.1.2:8080")
	cs := ts.configStatus(t)
	if cs.Differs || cs.SaveFailures != 2 {
		t.Errorf("show config: %+v", cs)
	}
	if !strings.Contains(string(readOrNil(path)), "198.18.1.3:8080") {
		t.Errorf("the file lost the last saved change:\n%s", readOrNil(path))
	}
}
