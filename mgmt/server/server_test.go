package server

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

func rawCall(t *testing.T, sock string, payload []byte, declared uint32) (*api.Response, error) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], declared)
	c.Write(hdr[:])
	c.Write(payload)
	var resp api.Response
	err = api.ReadFrame(c, &resp, api.MaxResponseSize)
	return &resp, err
}

// TestServerSurvivesGarbage sends hostile requests; each gets an error or a closed connection,
// and the server keeps serving with its configuration intact.
func TestServerSurvivesGarbage(t *testing.T) {
	ts := newGoldenServer(t)
	before := ts.mustAdm(t, "-S")
	for _, tc := range []struct {
		name     string
		payload  []byte
		declared int // -1: len(payload)
		wantErr  string
	}{
		{"not_json", []byte("hello"), -1, "bad request"},
		{"wrong_version", []byte(`{"v":7,"commands":[{"op":"list"}]}`), -1, "unsupported protocol version 7"},
		{"no_commands", []byte(`{"v":1}`), -1, "empty request"},
		{"unknown_op", []byte(`{"v":1,"commands":[{"op":"reboot"}]}`), -1, `command "reboot" cannot be combined with others`},
		{"bad_protocol", []byte(`{"v":1,"commands":[{"op":"list","service":{"protocol":"SCTP"}}]}`), -1, "bad request"},
		{"bad_address", []byte(`{"v":1,"commands":[{"op":"add-service","service":{"protocol":"TCP","address":"300.1.1.1","port":80}}]}`), -1, "bad request"},
		{"invalid_service", []byte(`{"v":1,"commands":[{"op":"add-service","service":{"protocol":"99","port":80}}]}`), -1, "unsupported protocol 99"},
		{"zero_address", []byte(`{"v":1,"commands":[{"op":"add-server","service":{"protocol":"TCP","address":"198.18.0.10","port":80},"server":{"forward":"Masq"}}]}`), -1, "illegal real server address[:port] specified"},
		{"huge_weight", []byte(`{"v":1,"commands":[{"op":"add-server","service":{"protocol":"TCP","address":"198.18.0.10","port":80},"server":{"address":"198.18.1.7","port":80,"forward":"Masq","weight":70000}}]}`), -1, "illegal weight specified"},
		{"list_with_change", []byte(`{"v":1,"commands":[{"op":"list"},{"op":"clear"}]}`), -1, "list must be the only command of a request"},
		{"oversized", nil, api.MaxRequestSize + 1, "bad request: message too large"},
		{"oversized_max", nil, 0xffffffff, "bad request: message too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.declared
			if n < 0 {
				n = len(tc.payload)
			}
			resp, err := rawCall(t, ts.sock, tc.payload, uint32(n))
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			if !strings.Contains(resp.Error, tc.wantErr) {
				t.Errorf("error %q, want %q", resp.Error, tc.wantErr)
			}
		})
	}
	// A truncated frame and a client that hangs up mid-request.
	c, _ := net.Dial("unix", ts.sock)
	c.Write([]byte{0, 0, 1})
	c.Close()
	c, _ = net.Dial("unix", ts.sock)
	c.Write([]byte{0, 0, 0, 100, '{'})
	c.Close()
	if after := ts.mustAdm(t, "-S"); after != before {
		t.Errorf("configuration changed:\n%s", after)
	}
}

// TestServerRecoversPanics: a dataplane that panics fails the request, not the daemon.
func TestServerRecoversPanics(t *testing.T) {
	ts := newTestServer(t, Config{Control: &panicControl{}})
	_, errs, rc := ts.adm(t, "", "-Ln", "--stats")
	if rc != 1 || !strings.Contains(errs, "internal error: stats exploded") {
		t.Errorf("rc %d stderr %q", rc, errs)
	}
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:80", "-s", "rr")
	ts.sampleRates(2) // recovers too
}

type panicControl struct{ fakeControl }

func (p *panicControl) Stats() *control.Stats { panic("stats exploded") }

func TestConcurrentClients(t *testing.T) {
	ts := newTestServer(t, Config{ConfigPath: filepath.Join(t.TempDir(), "xdpvs.conf")})
	var wg sync.WaitGroup
	const n = 16
	errs := make(chan string, 4*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vip := fmt.Sprintf("198.18.0.%d:80", 10+i)
			for _, args := range [][]string{
				{"-A", "-t", vip, "-s", "rr"},
				{"-a", "-t", vip, "-r", "198.18.1.2:8080", "-m"},
				{"-Ln"},
				{"-Ln", "--stats", "-t", vip},
			} {
				if _, e, rc := ts.adm(t, "", args...); rc != 0 {
					errs <- fmt.Sprintf("%v: %s", args, e)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	out := ts.mustAdm(t, "-S")
	if got := strings.Count(out, "-A "); got != n {
		t.Errorf("%d services, want %d", got, n)
	}
	saved, _ := os.ReadFile(ts.cfg.ConfigPath)
	if string(saved) != out {
		t.Errorf("saved configuration differs from -S:\n%s", saved)
	}
}

func TestSocketPermissions(t *testing.T) {
	ts := newTestServer(t, Config{})
	fi, err := os.Stat(ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600 socket", fi.Mode())
	}
	// A group: our own primary group (numeric) gives 0660.
	dir := t.TempDir()
	ts2 := newTestServer(t, Config{SocketPath: filepath.Join(dir, "sub", "g.sock"), SocketGroup: fmt.Sprint(os.Getgid())})
	fi, err = os.Stat(ts2.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("group socket mode %v, want 0660", fi.Mode())
	}
	if d, _ := os.Stat(filepath.Join(dir, "sub")); d.Mode().Perm() != 0o755 {
		t.Errorf("socket directory mode %v", d.Mode())
	}
	if _, err := New(Config{Control: &fakeControl{}, SocketPath: filepath.Join(dir, "x.sock"), SocketGroup: "no-such-group-xdpvs"}); err == nil {
		t.Error("unknown group accepted")
	}
}

func TestStaleSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.sock")
	// A stale socket: bound, then closed without unlinking, as after a crash.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ts := newTestServer(t, Config{SocketPath: path})
	ts.mustAdm(t, "-Ln")
	// A live socket is not taken over.
	if _, err := New(Config{Control: &fakeControl{}, SocketPath: path}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second daemon on a live socket: %v", err)
	}
	// A regular file is not removed.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := New(Config{Control: &fakeControl{}, SocketPath: file}); err == nil {
		t.Error("a regular file was taken for a socket")
	}
}

func TestCloseRemovesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	s, err := New(Config{Control: &fakeControl{}, SocketPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket still there: %v", err)
	}
	s.Close()
}
