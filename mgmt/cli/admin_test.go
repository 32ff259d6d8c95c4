package cli

import (
	"bytes"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// TestUsage: -h is stable. The list of schedulers comes from the registry and is masked.
func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if rc := Admin(Env{Stdout: &out}, []string{"-h"}); rc != 0 {
		t.Fatalf("rc %d", rc)
	}
	got := strings.Replace(out.String(), strings.Join(model.SchedulerNames(), "|"), "SCHEDULERS", 1)
	got = strings.Replace(got, "the default scheduler is "+model.DefaultScheduler()+".", "the default scheduler is DEFAULT.", 1)
	mgmttest.Golden(t, "usage", got)
	var out2 bytes.Buffer
	Admin(Env{Stdout: &out2}, []string{"--help"})
	if out2.String() != out.String() {
		t.Error("--help differs from -h")
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		line    string
		pos     int
		want    string
		wantPos int
		ok      bool
	}{
		{"--add-s", 7, "--add-serv", 10, true}, // --add-server, --add-service
		{"--add-serv", 10, "--add-serv", 0, false},
		{"ha ro", 5, "ha role ", 8, true},
		{"ha role b", 9, "ha role backup ", 15, true},
		{"--add-servi", 11, "--add-service ", 14, true},
		{"-A --sched", 10, "-A --sched", 0, false}, // --scheduler, --sched-flags
		{"-A --schedu", 11, "-A --scheduler ", 15, true},
		{"qu", 2, "quit ", 5, true},
		{"-L qu", 5, "", 0, false},
		{"", 0, "", 0, false},
	} {
		got, pos, ok := Complete(tc.line, tc.pos, '\t')
		if ok != tc.ok || (ok && (got != tc.want || pos != tc.wantPos)) {
			t.Errorf("Complete(%q, %d) = %q, %d, %v; want %q, %d, %v", tc.line, tc.pos, got, pos, ok, tc.want, tc.wantPos, tc.ok)
		}
	}
	if _, _, ok := Complete("--add", 5, 'x'); ok {
		t.Error("completed on a key other than tab")
	}
}

func TestSocketFromEnvironment(t *testing.T) {
	var errb bytes.Buffer
	Admin(Env{Stderr: &errb, Getenv: func(k string) string {
		if k == "XDPVS_SOCKET" {
			return "/nonexistent/xdpvs.sock"
		}
		return ""
	}}, []string{"-Ln"})
	if !strings.Contains(errb.String(), "/nonexistent/xdpvs.sock") {
		t.Errorf("XDPVS_SOCKET not used: %s", errb.String())
	}
	errb.Reset()
	Admin(Env{Stderr: &errb, Dial: func(p string) (net.Conn, error) { return nil, os.ErrNotExist }}, []string{"-Ln"})
	if !strings.Contains(errb.String(), api.DefaultSocketPath) {
		t.Errorf("default socket not used: %s", errb.String())
	}
}
