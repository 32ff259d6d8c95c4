package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReload: Reload makes the file's configuration the running one in one Apply, leaves the file
// as it was (comments and all), and a file with a bad line, a missing file, or a dataplane that
// refuses, changes nothing.
func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xdpvs.conf")
	first := "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 1\n"
	if err := os.WriteFile(path, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, Config{ConfigPath: path})
	before := ts.mustAdm(t, "-S")

	edited := "# edited by hand\n-A -t 198.18.0.10:80 -s wrr\n-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 3\n" +
		"-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m -w 1\n-A -u 198.18.0.10:53 -s rr\n"
	os.WriteFile(path, []byte(edited), 0o600)
	n := ts.fake.applied()
	if _, err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := ts.fake.applied() - n; got != 1 {
		t.Errorf("reload applied %d snapshots, want 1", got)
	}
	want := "-A -t 198.18.0.10:80 -s wrr\n-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 3\n" +
		"-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m -w 1\n-A -u 198.18.0.10:53 -s rr\n"
	if after := ts.mustAdm(t, "-S"); after != want || after == before {
		t.Errorf("after reload -S:\n%s\nwant:\n%s", after, want)
	}
	if f, _ := os.ReadFile(path); string(f) != edited {
		t.Errorf("reload rewrote the file:\n%s", f)
	}

	running := ts.mustAdm(t, "-S")
	for _, tc := range []struct{ name, file, want string }{
		{"bad_line", "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 99999\n", path + ":2: illegal weight specified"},
		{"model_error", "-A -t 198.18.0.11:80\n-A -t 198.18.0.11:80\n", path + ":2: Service already exists"},
	} {
		os.WriteFile(path, []byte(tc.file), 0o600)
		n := ts.fake.applied()
		_, err := ts.Reload()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
		if ts.fake.applied() != n || ts.mustAdm(t, "-S") != running {
			t.Errorf("%s: a bad file changed the running configuration", tc.name)
		}
	}
	// A missing file is refused: at start it is the first, empty configuration, here it would
	// take every service away.
	os.Remove(path)
	n = ts.fake.applied()
	if _, err := ts.Reload(); err == nil || !errors.Is(err, os.ErrNotExist) || ts.fake.applied() != n || ts.mustAdm(t, "-S") != running {
		t.Errorf("reload of a missing file: %v; the configuration must stay", err)
	}
	os.WriteFile(path, []byte("-A -t 198.18.0.12:80\n"), 0o600)
	ts.fake.failApply(errors.New("refused"))
	if _, err := ts.Reload(); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("refused apply: %v", err)
	}
	if ts.mustAdm(t, "-S") != running {
		t.Error("a refused reload changed the running configuration")
	}
	if f, _ := os.ReadFile(path); string(f) != "-A -t 198.18.0.12:80\n" {
		t.Errorf("a refused reload rewrote the file:\n%s", f)
	}
}

// TestReloadWithoutFile: without --config there is nothing to reload.
func TestReloadWithoutFile(t *testing.T) {
	ts := newTestServer(t, Config{})
	if _, err := ts.Reload(); !errors.Is(err, ErrNoConfigFile) {
		t.Errorf("err %v", err)
	}
}
