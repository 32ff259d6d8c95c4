package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/cli"
)

// fakeControl is a dataplane that records snapshots and can be told to refuse the next Apply
// (Seesaw's ncc/client dummy).
type fakeControl struct {
	mu       sync.Mutex
	snaps    []*control.Snapshot
	failNext error
	stats    *control.Stats
	conns    []control.ConnInfo
	batch    int   // connections per batch of a listing (default 2)
	connErr  error // a listing ends with it after its batches
	// ifaces are the interfaces it forwards on (nil: d0 and d1) with their addresses.
	ifaces map[string][]netip.Addr
}

func (f *fakeControl) AddAddress(ifname string, a netip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ifaces == nil {
		f.ifaces = map[string][]netip.Addr{"d0": nil, "d1": nil}
	}
	have, ok := f.ifaces[ifname]
	switch {
	case !ok:
		return false, fmt.Errorf("%s is not an interface of xdpvsd", ifname)
	case slices.Contains(have, a):
		return false, nil
	}
	f.ifaces[ifname] = append(have, a)
	return true, nil
}

func (f *fakeControl) RemoveAddress(ifname string, a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.ifaces[ifname], a)
	if i < 0 {
		return fmt.Errorf("%s has no address %s", ifname, a)
	}
	f.ifaces[ifname] = slices.Delete(f.ifaces[ifname], i, i+1)
	return nil
}

// addresses lists the addresses of interface ifname.
func (f *fakeControl) addresses(ifname string) []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ifaces[ifname])
}

func (f *fakeControl) Apply(s *control.Snapshot) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	f.snaps = append(f.snaps, s)
	return nil
}

func (f *fakeControl) Stats() *control.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stats == nil {
		return &control.Stats{}
	}
	return f.stats
}

func (f *fakeControl) Connections(yield func([]control.ConnInfo) bool) error {
	f.mu.Lock()
	c, n, err := f.conns, f.batch, f.connErr
	f.mu.Unlock()
	if n <= 0 {
		n = 2
	}
	for len(c) > 0 {
		k := min(n, len(c))
		if !yield(c[:k:k]) {
			return nil
		}
		c = c[k:]
	}
	return err
}

func (f *fakeControl) setStats(s *control.Stats) {
	f.mu.Lock()
	f.stats = s
	f.mu.Unlock()
}

func (f *fakeControl) failApply(err error) {
	f.mu.Lock()
	f.failNext = err
	f.mu.Unlock()
}

func (f *fakeControl) last() *control.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.snaps) == 0 {
		return nil
	}
	return f.snaps[len(f.snaps)-1]
}

func (f *fakeControl) applied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.snaps)
}

type testServer struct {
	*Server
	fake *fakeControl
	sock string
	dir  string
}

// newTestServer starts a Server on a socket in a temporary directory; cfg may set ConfigPath.
func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	dir := t.TempDir()
	fake := &fakeControl{}
	switch c := cfg.Control.(type) {
	case nil:
		cfg.Control = fake
	case *fakeControl:
		fake = c
	case *panicControl:
		fake = &c.fakeControl
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = filepath.Join(dir, "x.sock")
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(cfg.SocketPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind (%v)", cfg.SocketPath, err)
		}
	})
	return &testServer{Server: s, fake: fake, sock: cfg.SocketPath, dir: dir}
}

// adm runs xdpvsadm against the test server.
func (ts *testServer) adm(t *testing.T, stdin string, args ...string) (stdout, stderr string, rc int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc = cli.Admin(cli.Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string {
			if k == "XDPVS_SOCKET" {
				return ts.sock
			}
			return ""
		},
		Dial: func(p string) (net.Conn, error) { return net.Dial("unix", p) },
	}, args)
	return out.String(), errb.String(), rc
}

// mustAdm runs a command that must succeed.
func (ts *testServer) mustAdm(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, rc := ts.adm(t, "", args...)
	if rc != 0 {
		t.Fatalf("xdpvsadm %s: rc %d: %s", strings.Join(args, " "), rc, errs)
	}
	return out
}

// mustLines runs each line as a command.
func (ts *testServer) mustLines(t *testing.T, lines string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ts.mustAdm(t, strings.Fields(l)...)
		}
	}
}
