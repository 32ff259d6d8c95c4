package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
)

func TestConfigLoadErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"bad_option", "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2 -m -w 99999\n", "F:2: illegal weight specified"},
		{"model_error", "# comment\n\n-A -t 198.18.0.10:80 -s rr\n-A -t 198.18.0.10:80 -s rr\n", "F:4: Service already exists"},
		{"missing_service", "-a -t 198.18.0.10:80 -r 198.18.1.2 -m\n", "F:1: Service not defined"},
		{"listing_in_file", "-A -t 198.18.0.10:80 -s rr\n-L -n\n", "F:2: list: only commands that change the configuration may appear here"},
		{"unknown_scheduler", "-A -t 198.18.0.10:80 -s nosuch\n", "F:1: Scheduler not found"},
		{"garbage", "\x00\x01 hello\n", "F:1: no command specified"},
		{"garbage_option", "-A -t 198.18.0.10:80 -\x00\n", `F:1: -\x00: unknown option`},
		{"long_line", strings.Repeat("x", cli.MaxRuleLine+1), "F:1: line longer than 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "xdpvs.conf")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			fake := &fakeControl{}
			_, err := New(Config{Control: fake, Logger: zaptest.NewLogger(t), ConfigPath: path,
				SocketPath: filepath.Join(t.TempDir(), "x.sock")})
			want := strings.Replace(tc.want, "F:", path+":", 1)
			if err == nil || err.Error() != want {
				t.Errorf("error %v\nwant  %s", err, want)
			}
			if fake.applied() != 0 {
				t.Error("a bad file reached the dataplane")
			}
		})
	}
}

func TestConfigLoadApplyRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xdpvs.conf")
	os.WriteFile(path, []byte("-A -t 198.18.0.10:80 -s rr\n"), 0o600)
	fake := &fakeControl{}
	fake.failApply(errors.New("no"))
	_, err := New(Config{Control: fake, ConfigPath: path, SocketPath: filepath.Join(t.TempDir(), "x.sock")})
	if err == nil || !strings.Contains(err.Error(), "no") {
		t.Errorf("err %v", err)
	}
}

// TestPersist: every change rewrites the file with -S content; a restart loads it back.
func TestPersist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "xdpvs.conf")
	ts := newTestServer(t, Config{ConfigPath: path})
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("config written before any change: %v", err)
	}
	ts.mustLines(t, mgmttest.GoldenConfig)
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := ts.mustAdm(t, "-S"); string(saved) != want {
		t.Errorf("file:\n%s\nwant -S:\n%s", saved, want)
	}
	mgmttest.Golden(t, "save", string(saved))
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v", fi.Mode())
	}
	// A refused change does not touch the file.
	ts.fake.failApply(errors.New("no"))
	ts.adm(t, "", "-D", "-t", "198.18.0.10:80")
	if again, _ := os.ReadFile(path); string(again) != string(saved) {
		t.Error("file changed by a refused Apply")
	}
	ts.mustAdm(t, "-D", "-t", "198.18.0.10:80")
	after, _ := os.ReadFile(path)
	if strings.Contains(string(after), "198.18.0.10:80 ") {
		t.Errorf("deleted service still saved:\n%s", after)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// A second server (after a restart) loads the same configuration and applies it.
	fake := &fakeControl{}
	s2, err := New(Config{Control: fake, ConfigPath: path, SocketPath: filepath.Join(dir, "y.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if fake.applied() != 1 || len(fake.last().Services) != 2 {
		t.Errorf("restart applied %d snapshots, %+v", fake.applied(), fake.last())
	}
	if got := render(s2.m); string(got) != string(after) {
		t.Errorf("reloaded:\n%s\nwant\n%s", got, after)
	}
}
