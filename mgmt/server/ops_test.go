package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// TestGoldenShow: the show verbs' listings, with workers, queues and health.
func TestGoldenShow(t *testing.T) {
	ts := newGoldenServer(t)
	st := ts.fake.Stats()
	st.Workers = []control.WorkerStats{
		{ID: 0, Queue: 0, CPU: 0, RXPackets: 1000, TXPackets: 990, HandoffsOut: 3, HandoffsIn: 4, Conns: 12,
			Drops: []control.NamedCount{{Name: "no_service", Count: 7}, {Name: "neigh_miss", Count: 0}, {Name: "synproxy_bad_cookie", Count: 90000}},
			Events: []control.NamedCount{{Name: "conn_reopened", Count: 2}, {Name: "synproxy_syn_answered", Count: 100000},
				{Name: "synproxy_cookie_valid", Count: 500}, {Name: "synproxy_cookie_bad_cookie", Count: 90000}, {Name: "synproxy_cookie_expired", Count: 0}},
			Sockets: []control.NamedCount{{Name: "d0/rx_dropped", Count: 0}, {Name: "d0/rx_ring_full", Count: 2}, {Name: "d1/rx_dropped", Count: 1}}},
		{ID: 1, Queue: 1, CPU: 1, RXPackets: 2000, TXPackets: 1990, HandoffsOut: 4, HandoffsIn: 3, Conns: 20,
			Drops: []control.NamedCount{{Name: "no_service", Count: 0}, {Name: "bad_header", Count: 1}},
			Events: []control.NamedCount{{Name: "synproxy_syn_answered", Count: 7}, {Name: "synproxy_cookie_expired", Count: 3},
				{Name: "synproxy_handshake_done", Count: 0}},
			Sockets: []control.NamedCount{{Name: "d0/rx_dropped", Count: 0}}},
	}
	ts.fake.setStats(st)
	ts.fake.conns = []control.ConnInfo{{Proto: 6, Client: ap("198.18.0.2:40000"), Virtual: ap("198.18.0.10:80"),
		Dest: ap("198.18.1.2:80"), State: "ESTABLISHED", Expires: 899 * time.Second}}
	for _, v := range []string{"workers", "queues", "drops", "events", "synproxy", "services", "servers", "connections"} {
		mgmttest.Golden(t, "show_"+v, ts.mustAdm(t, "show", v))
	}
	mgmttest.Golden(t, "show_health_none", ts.mustAdm(t, "show", "health"))

	// show health, with fixed times.
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hs := &model.HealthSpec{Check: model.CheckHTTP, Path: "/health", Expect: 200, Host: "www.example", Interval: model.Duration(2 * time.Second),
		Timeout: model.Duration(time.Second), Rise: 2, Fall: 3, OnFail: model.OnFailQuiesce, Sorry: ap("198.18.3.2:8080"), SorryForward: model.Masq}
	hst := &api.State{Services: []api.ServiceState{{
		ServiceSpec: model.ServiceSpec{ServiceKey: model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}, Scheduler: "rr"},
		Health:      hs, SorryActive: true,
		RealServers: []api.RealServerState{
			{RealServerSpec: model.RealServerSpec{Address: netip.MustParseAddr("198.18.1.2"), Port: 8080, Forward: model.Masq, Weight: 3},
				Health: &api.ServerHealth{Up: false, InService: true, Failures: 4, Checks: 40, Failed: 4, Since: since, LastError: "status 503, want 200"}},
			{RealServerSpec: model.RealServerSpec{Address: netip.MustParseAddr("198.18.2.2"), Port: 8080, Forward: model.Masq, Weight: 1},
				Health: &api.ServerHealth{Up: false, Passive: true, InService: true, Successes: 1, Checks: 40, Since: since.Add(time.Minute), LastError: ""}},
			{RealServerSpec: model.RealServerSpec{Address: netip.MustParseAddr("198.18.3.2"), Port: 8080, Forward: model.Masq, Weight: 1}, Sorry: true},
		},
	}}}
	var b bytes.Buffer
	cli.WriteHealth(&b, hst, since.Add(5*time.Minute))
	b.WriteString("\n")
	cli.WriteServers(&b, hst)
	b.WriteString("\n")
	cli.WriteList(&b, hst, model.ListOptions{}, false)
	mgmttest.Golden(t, "show_health", b.String())
}

// TestSocketOwnership: the socket is root's and 0600 unless a group is named; then it has that
// group and 0660. Another user cannot connect to a root-only socket.
func TestSocketOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the socket a group")
	}
	dir, err := os.MkdirTemp("", "xdpvs-sock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // traversable: only the socket's own mode may refuse
	ts := newTestServer(t, Config{SocketPath: filepath.Join(dir, "root.sock")})
	ts2 := newTestServer(t, Config{SocketPath: filepath.Join(dir, "group.sock"), SocketGroup: "daemon"})
	for _, tc := range []struct {
		sock string
		mode os.FileMode
		gid  uint32
	}{{ts.sock, 0o600, 0}, {ts2.sock, 0o660, 1}} {
		fi, err := os.Stat(tc.sock)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != tc.mode || st.Uid != 0 || st.Gid != tc.gid {
			t.Errorf("%s: mode %v uid %d gid %d, want %v 0 %d", tc.sock, fi.Mode().Perm(), st.Uid, st.Gid, tc.mode, tc.gid)
		}
	}
	// The test binary, copied where other users may run it, dials as them (TestMain).
	bin := filepath.Join(dir, "client.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	connect := func(user, sock string) string {
		uid := map[string]uint32{"nobody": 65534, "daemon": 1}[user]
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "XDPVS_TEST_DIAL="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := connect("nobody", ts.sock); got != "Permission denied" {
		t.Errorf("nobody on the root-only socket: %q", got)
	}
	if got := connect("daemon", ts2.sock); got != "connected" { // the daemon user's group is daemon
		t.Errorf("a member of the socket's group: %q", got)
	}
	if got := connect("nobody", ts2.sock); got != "Permission denied" {
		t.Errorf("nobody on the group socket: %q", got)
	}
}

// TestMain lets the test binary act as a client of a socket (XDPVS_TEST_DIAL), for
// TestSocketOwnership.
func TestMain(m *testing.M) {
	if sock := os.Getenv("XDPVS_TEST_DIAL"); sock != "" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				fmt.Println("Permission denied")
			} else {
				fmt.Println(err)
			}
			return
		}
		c.Close()
		fmt.Println("connected")
		return
	}
	os.Exit(m.Run())
}
