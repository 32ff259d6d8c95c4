package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// writeExec writes an executable shell script at path with mode perm.
func writeExec(t *testing.T, path, body string, perm os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// TestHealthScripts: --check script runs only programs that the daemon's configuration allows
// (HealthScripts, xdpvsd --health-scripts DIR), whatever the socket's users ask: checked when the
// command arrives, and again before every run.
func TestHealthScripts(t *testing.T) {
	dir, other, out := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "ran")
	ok := writeExec(t, filepath.Join(dir, "ok"), `echo "$1 $2" >> `+out, 0o755)
	evil := writeExec(t, filepath.Join(other, "evil"), "exit 0", 0o755)
	groupWritable := writeExec(t, filepath.Join(dir, "gw"), "exit 0", 0o775)
	if err := os.Symlink(evil, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.Chmod(sub, 0o777)
	inWritableDir := writeExec(t, filepath.Join(sub, "x"), "exit 0", 0o755)
	notExec := writeExec(t, filepath.Join(dir, "plain"), "exit 0", 0o644)
	const svc = `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m`
	check := func(script string) []string {
		return strings.Fields("--health -t 198.18.0.10:80 --check script --interval 200ms --timeout 150ms --rise 1 --fall 1 --script " + script)
	}
	refused := func(t *testing.T, ts *testServer, script, want string) {
		t.Helper()
		before, n := ts.mustAdm(t, "-S"), ts.fake.applied()
		_, errs, rc := ts.adm(t, "", check(script)...)
		if rc != 1 || !strings.Contains(errs, want) {
			t.Errorf("--script %s: rc %d %q, want %q", script, rc, errs, want)
		}
		if ts.fake.applied() != n || ts.mustAdm(t, "-S") != before {
			t.Errorf("--script %s: the refused check was applied", script)
		}
	}

	// Without the flag no script is allowed, and the message names the flag.
	ts := newTestServer(t, Config{})
	ts.mustLines(t, svc)
	refused(t, ts, ok, "--check script is refused: xdpvsd runs health-check scripts only from the directory it was started with (--health-scripts DIR)")

	ts = newTestServer(t, Config{HealthScripts: dir})
	ts.mustLines(t, svc)
	refused(t, ts, evil, "--script "+evil+" is not under the health-scripts directory "+dir)
	refused(t, ts, dir+"/../"+filepath.Base(other)+"/evil", "is not under the health-scripts directory")
	refused(t, ts, filepath.Join(dir, "link"), "--script "+dir+"/link leads to "+evil+", outside the health-scripts directory")
	refused(t, ts, groupWritable, groupWritable+" is writable by its group or others (mode 0775)")
	refused(t, ts, inWritableDir, sub+" is writable by its group or others (mode 0777)")
	refused(t, ts, notExec, notExec+" is not an executable file")
	refused(t, ts, filepath.Join(dir, "missing"), "no such file or directory")
	if os.Geteuid() == 0 {
		notRoot := writeExec(t, filepath.Join(dir, "notroot"), "exit 0", 0o755)
		if err := os.Chown(notRoot, 1, 1); err != nil {
			t.Fatal(err)
		}
		refused(t, ts, notRoot, notRoot+" is owned by uid 1, not by root")
	}

	// Inside the directory: accepted, and it runs.
	ts.mustAdm(t, check(ok)...)
	waitFor(t, "the script to run", func() bool {
		b, _ := os.ReadFile(out)
		return strings.HasPrefix(string(b), "198.18.1.2 8080\n")
	})
	if w := ts.fake.weights(80); w["198.18.1.2:8080"] != 1 {
		t.Errorf("weights %v", w)
	}
	// Made group-writable afterwards, it no longer runs: the check fails with the reason.
	if err := os.Chmod(ok, 0o775); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server down", func() bool { return ts.fake.weights(80)["198.18.1.2:8080"] == 0 })
	if h := ts.mustAdm(t, "show", "health"); !strings.Contains(h, "writable by its group or others") {
		t.Errorf("show health:\n%s", h)
	}
}

// TestHealthScriptsDir: the daemon refuses a directory of scripts that is not one, or that others
// may write to.
func TestHealthScriptsDir(t *testing.T) {
	wide := t.TempDir()
	os.Chmod(wide, 0o777)
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	for dir, want := range map[string]string{
		"relative/dir":                    `health-scripts directory "relative/dir": an absolute path is needed`,
		filepath.Join(t.TempDir(), "not"): "no such file or directory",
		file:                              file + " is not a directory",
		wide:                              wide + " is writable by its group or others (mode 0777)",
	} {
		_, err := New(Config{Control: &fakeControl{}, Logger: zaptest.NewLogger(t), HealthScripts: dir,
			SocketPath: filepath.Join(t.TempDir(), "x.sock")})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--health-scripts %s: %v, want %q", dir, err, want)
		}
	}
}
