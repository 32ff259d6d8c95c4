package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// syncLIP4 is director i's FULLNAT local address: on no link, routed to the director by the router.
func syncLIP4(i int) string { return fmt.Sprintf("198.18.60.%d", 1+i) }

// syncEnv is two directors syncing connections, a FULLNAT service to one real server, and the
// router's routes to the VIP and the local addresses set by hand (what BGP would converge to).
type syncEnv struct {
	t   *testing.T
	ha  *topo.HA
	ds  []*topo.Daemon
	b   bins
	key string
}

func newSyncEnv(t *testing.T, name string) *syncEnv {
	t.Helper()
	testutil.RequireRoot(t)
	e := &syncEnv{t: t, b: binaries(t)}
	var err error
	if e.ha, err = topo.NewHA(topo.Prefix(name), 2, 1); err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, e.ha)
	e.key = filepath.Join(t.TempDir(), "sync.key")
	if err := os.WriteFile(e.key, []byte("# the cluster's sync secret\nsync-e2e-secret-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := topo.ServeHTTP(e.ha.RS[0], netip.MustParseAddrPort(topo.DRRS4(0)+":80"), "rs0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range e.ha.Dirs {
		e.ds = append(e.ds, e.start(i))
	}
	e.route(topo.VIP4, 0)
	e.route(syncLIP4(0), 0)
	e.route(syncLIP4(1), 1)
	return e
}

// start runs director i: one worker, syncing with the other, the FULLNAT service with its own
// local address.
func (e *syncEnv) start(i int) *topo.Daemon {
	e.t.Helper()
	d, err := topo.StartDaemon(e.ha.Dirs[i], e.b.xdpvsd, e.t.TempDir(), []string{"d0"}, "--workers", "1",
		"--sync-peer", topo.HADir4(1-i), "--sync-key", e.key, "--sync-listen", topo.HADir4(i), "--sync-join-timeout", "2s")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("director %d log:\n%s", i, d.Log)
		}
		_ = d.Stop()
	})
	vip := topo.VIP4 + ":80"
	mustAdm(e.t, d, e.b.adm, "-A", "-t", vip, "-s", "rr")
	mustAdm(e.t, d, e.b.adm, "-a", "-t", vip, "-r", topo.DRRS4(0)+":80", "-b")
	mustAdm(e.t, d, e.b.adm, "--add-laddr", "-z", syncLIP4(i), "-t", vip)
	return d
}

// route makes the router send prefix a (a host) to director i.
func (e *syncEnv) route(a string, i int) {
	e.t.Helper()
	if out, err := e.ha.Router.Exec("ip", "route", "replace", a+"/32", "via", topo.HADir4(i)); err != nil {
		e.t.Fatalf("route %s via director %d: %v %s", a, i, err, out)
	}
}

// syncState is director d's show sync.
func (e *syncEnv) syncState(d *topo.Daemon) (st struct {
	Ready bool
	Peers []struct {
		Recv  struct{ Records uint64 }
		Drops []struct {
			Name  string
			Count uint64
		}
	}
	Exports []struct {
		Name  string
		Count uint64
	}
}) {
	e.t.Helper()
	var out struct{ Sync json.RawMessage }
	raw := mustAdm(e.t, d, e.b.adm, "show", "sync", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		e.t.Fatalf("%v: %s", err, raw)
	}
	if err := json.Unmarshal(out.Sync, &st); err != nil {
		e.t.Fatalf("%v: %s", err, raw)
	}
	return st
}

func (e *syncEnv) export(d *topo.Daemon, name string) uint64 {
	for _, c := range e.syncState(d).Exports {
		if c.Name == name {
			return c.Count
		}
	}
	return 0
}

// slowDownload fetches n bytes of topo.Data(seed) from vip:80 at about 4 MB/s and checks them;
// started, if set, is called once the response has begun.
func slowDownload(c *http.Client, vip string, seed uint64, n int64, started ...func()) error {
	resp, err := c.Get(topo.URL(vip, 80, fmt.Sprintf("/data?n=%d&seed=%d", n, seed)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for _, f := range started {
		f()
	}
	h := sha256.New()
	buf := make([]byte, 16<<10)
	var got int64
	for {
		k, err := resp.Body.Read(buf)
		h.Write(buf[:k])
		got += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", got, err)
		}
		time.Sleep(4 * time.Millisecond)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); got != n || sum != topo.DataSHA256(seed, n) {
		return fmt.Errorf("%d bytes, SHA-256 %s: not the data sent", got, sum)
	}
	return nil
}

// TestSyncFullNATFailover: downloads through director 0 (FULLNAT, TOA) are synced to director 1;
// director 0 is SIGKILLed and the router sends the VIP and director 0's local address to director
// 1 (what BGP does once the dead director's routes are withdrawn and the survivor's standby local
// address remains): every download completes with the right SHA-256, none is reset; director 1
// learned director 0's local address as a standby one, and takes new connections too.
func TestSyncFullNATFailover(t *testing.T) {
	e := newSyncEnv(t, "syncfo")
	deadline := time.Now().Add(10 * time.Second)
	for !e.syncState(e.ds[0]).Ready || !e.syncState(e.ds[1]).Ready {
		if time.Now().After(deadline) {
			t.Fatal("the directors are not ready (bulk copies)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	const n, size = 8, 6 << 20
	c := topo.HTTPClient(e.ha.Client, false)
	c.Timeout = 45 * time.Second
	errs := make([]error, n)
	var wg sync.WaitGroup
	var done atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = slowDownload(c, topo.VIP4, uint64(i), size); done.Add(1) }()
	}
	for e.export(e.ds[1], "sync_imported") < n {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("director 1 imported %d of %d connections: %+v", e.export(e.ds[1], "sync_imported"), n, e.syncState(e.ds[1]))
		}
		time.Sleep(50 * time.Millisecond)
	}
	exported := e.export(e.ds[1], "sync_exported")
	if err := syscall.Kill(e.ds[0].PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if k := done.Load(); k != 0 {
		t.Fatalf("%d downloads were over before the failure", k)
	}
	e.route(topo.VIP4, 1)
	e.route(syncLIP4(0), 1)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("download %d: %v", i, err)
		}
	}
	if body, _, err := topo.Get(c, topo.URL(topo.VIP4, 80, "/")); err != nil || string(body) != "rs0" {
		t.Errorf("a new connection through director 1: %q, %v", body, err)
	}
	// Director 1 forwarded the downloads' ends: each one's FIN moved its state, which it exported.
	if got := e.export(e.ds[1], "sync_exported") - exported; got < n {
		t.Errorf("director 1 exported %d state changes after the failure, want at least one per download", got)
	}
	if got := e.export(e.ds[1], "sync_standby_laddrs"); got != 1 {
		t.Errorf("director 1 has %d standby local addresses, want director 0's", got)
	}
	st := e.syncState(e.ds[1])
	t.Logf("director 1: %+v", st)
	for _, p := range st.Peers {
		for _, d := range p.Drops {
			if d.Name == "bad_auth" || d.Name == "replay" || d.Name == "malformed" {
				t.Errorf("director 1 dropped %d messages of director 0 as %s", d.Count, d.Name)
			}
		}
	}
}

// TestSyncBulkCopy: 3,000 idle connections through director 0 are synced to director 1; director 1
// is SIGKILLed and started again: before it is ready it has copied all of them from director 0, none
// refused (the bulk copy is paced for the joiner's workers).
func TestSyncBulkCopy(t *testing.T) {
	e := newSyncEnv(t, "syncbulk")
	const n = 3000
	dial := topo.DialContext(e.ha.Client)
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Int32
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dial(ctx, "tcp", topo.VIP4+":80")
			if err != nil {
				failed.Add(1)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d connections failed", f, n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.export(e.ds[1], "sync_imported") < n {
		if time.Now().After(deadline) {
			t.Fatalf("director 1 imported %d of %d", e.export(e.ds[1], "sync_imported"), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	e.ds[1] = e.start(1)
	for !e.syncState(e.ds[1]).Ready {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatal("director 1 is not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := e.syncState(e.ds[1])
	imported := e.export(e.ds[1], "sync_imported")
	t.Logf("director 1 copied %d connections before it was ready: %+v", imported, st)
	if imported < n {
		t.Errorf("director 1 copied %d of %d connections", imported, n)
	}
	for _, p := range st.Peers {
		for _, d := range p.Drops {
			if d.Count > 0 {
				t.Errorf("director 1 dropped %d as %s", d.Count, d.Name)
			}
		}
	}
}
