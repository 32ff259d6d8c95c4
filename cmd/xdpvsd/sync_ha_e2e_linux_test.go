package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"net/netip"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// newSyncHAEnv is two directors behind BIRD (ECMP, routed mode) that sync connections: a FULLNAT
// service with TOA and the SYN proxy on the IPv4 VIP, NAT64 (FULLNAT from the IPv6 VIP) to the same
// IPv4 real server, each director with its own local address, announced over BGP.
func newSyncHAEnv(t *testing.T, name string) (*haEnv, func(i int) *topo.Daemon) {
	t.Helper()
	testutil.RequireRoot(t)
	b := binaries(t)
	ha, err := topo.NewHA(topo.Prefix(name), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, ha)
	e := &haEnv{t: t, ha: ha, adm: b.adm, bin: b.xdpvsd}
	if e.bird, err = topo.StartBIRD(ha.Router, t.TempDir(), topo.HARouterBIRD(2, 240)); err != nil {
		t.Skip(err) // BIRD 2 is installed by make deps
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := e.bird.Ctl(ha.Router, "show route all")
			t.Logf("bird:\n%s", out)
		}
		e.bird.Stop()
	})
	key := filepath.Join(t.TempDir(), "sync.key")
	if err := os.WriteFile(key, []byte("sync-ha-e2e-secret-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := topo.ServeHTTP(ha.RS[0], netip.MustParseAddrPort(topo.DRRS4(0)+":80"), "rs0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	start := func(i int) *topo.Daemon {
		t.Helper()
		// The services come from the configuration file, in force before the bulk copy is asked
		// for (records of services not configured yet would be refused).
		v4, v6, rs, lip := topo.VIP4+":80", "["+topo.VIP6+"]:80", topo.DRRS4(0)+":80", syncLIP4(i)
		conf := filepath.Join(t.TempDir(), "xdpvs.conf")
		rules := fmt.Sprintf("-A -t %[1]s -s rr -j\n-a -t %[1]s -r %[3]s -b -w 1\n--add-laddr -z %[4]s -t %[1]s\n"+
			"-A -t %[2]s -s rr\n-a -t %[2]s -r %[3]s -b -w 1\n--add-laddr -z %[4]s -t %[2]s\n", v4, v6, rs, lip)
		if err := os.WriteFile(conf, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := topo.StartDaemon(ha.Dirs[i], e.bin, t.TempDir(), []string{"d0"}, "--workers", "1", "--routed", "--config", conf,
			"--bgp-as", fmt.Sprint(topo.HADirAS), "--bgp-router-id", topo.HADir4(i), "--bgp-hold", "3s",
			"--bgp-peer", fmt.Sprintf("%s,%d", topo.HARouter4, topo.HARouterAS), "--bgp-peer", fmt.Sprintf("%s,%d", topo.HARouter6, topo.HARouterAS),
			"--sync-peer", topo.HADir4(1-i), "--sync-key", key, "--sync-listen", topo.HADir4(i), "--sync-join-timeout", "3s")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("director %d log:\n%s", i, d.Log)
			}
			_ = d.Stop()
		})
		if out := mustAdm(t, d, e.adm, "-S", "-n"); strings.Count(out, "--add-laddr") != 2 {
			t.Fatalf("director %d's configuration:\n%s", i, out)
		}
		return d
	}
	for i := range ha.Dirs {
		e.ds = append(e.ds, start(i))
	}
	e.waitRoutes(2, 2)
	return e, start
}

// syncCounter is director d's dataplane sync counter name.
func syncCounter(e *haEnv, d *topo.Daemon, name string) uint64 {
	s := &syncEnv{t: e.t, b: bins{adm: e.adm}}
	return s.export(d, name)
}

// downloads starts n slow downloads, alternately from the IPv4 VIP (FULLNAT, TOA, SYN proxy) and
// the IPv6 VIP (NAT64), and returns a wait for their errors and counts of those done and begun.
func downloads(e *haEnv, n int, size int64, seed uint64) (wait func() []error, done, begun *atomic.Int32) {
	c := topo.HTTPClient(e.ha.Client, false)
	c.Timeout = 120 * time.Second
	errs := make([]error, n)
	done, begun = new(atomic.Int32), new(atomic.Int32)
	var wg sync.WaitGroup
	for i := range n {
		vip := topo.VIP4
		if i%2 == 1 {
			vip = topo.VIP6
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = slowDownload(c, vip, seed+uint64(i), size, func() { begun.Add(1) }); errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", vip, errs[i])
			}
			done.Add(1)
		}()
	}
	return func() []error { wg.Wait(); return errs }, done, begun
}

// TestSyncHAFailover: two directors behind BIRD (ECMP) with FULLNAT + TOA + the SYN proxy and
// NAT64. 16 slow downloads spread over both are synced to the other; director 1 is SIGKILLed:
// BIRD withdraws its VIPs and its local address, director 0's standby route for that address (a
// longer AS path) takes over, and every download completes with the right SHA-256. Director 1
// comes back while 16 more run through director 0: it copies director 0's table before it
// announces anything, ECMP moves some of them to it, and every one completes again.
func TestSyncHAFailover(t *testing.T) {
	e, start := newSyncHAEnv(t, "synha")
	const n, size = 16, 6 << 20
	t0 := time.Now()
	wait, done, _ := downloads(e, n, size, 0)
	deadline := time.Now().Add(20 * time.Second)
	for syncCounter(e, e.ds[0], "sync_imported")+syncCounter(e, e.ds[1], "sync_imported") < n {
		if time.Now().After(deadline) {
			t.Fatalf("synced %d + %d of %d connections", syncCounter(e, e.ds[0], "sync_imported"), syncCounter(e, e.ds[1], "sync_imported"), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took1 := syncCounter(e, e.ds[0], "sync_imported")
	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if k := done.Load(); k != 0 {
		t.Fatalf("%d downloads were over before the failure", k)
	}
	failed := false
	for i, err := range wait() {
		if err != nil {
			t.Errorf("download %d through the failure: %v", i, err)
			failed = true
		}
	}
	if failed {
		r4, _ := e.ha.Router.Exec("ip", "route")
		rs, _ := e.ha.RS[0].Exec("ip", "route", "get", syncLIP4(1))
		t.Logf("router:\n%s\nreal server's route to director 1's local address: %s\ndirector 0:\n%s\n%s\n%s\n%s", r4, rs,
			mustAdm(t, e.ds[0], e.adm, "show", "sync"), mustAdm(t, e.ds[0], e.adm, "-Lnc"), mustAdm(t, e.ds[0], e.adm, "show", "drops"),
			mustAdm(t, e.ds[0], e.adm, "show", "events"))
	}
	t.Logf("failure: director 1 had %d of the %d connections; all completed on director 0 (%v)", took1, n, time.Since(t0).Round(time.Millisecond))
	if took1 == 0 || took1 == n {
		t.Errorf("ECMP gave director 1 %d of %d connections: the failure tested nothing", took1, n)
	}
	e.waitRoutes(1, 1)
	t.Logf("director 1's routes withdrawn (%v)", time.Since(t0).Round(time.Millisecond))

	// Come back: 16 longer downloads through director 0 alone, then director 1 starts.
	wait, done, _ = downloads(e, n, 4*size, 100)
	time.Sleep(500 * time.Millisecond)
	t1 := time.Now()
	e.ds[1] = start(1)
	e.waitRoutes(2, 2)
	t.Logf("director 1 back and announced after %v", time.Since(t1).Round(time.Millisecond))
	bulk := syncCounter(e, e.ds[1], "sync_imported")
	if k := done.Load(); k != 0 {
		t.Fatalf("%d downloads were over before director 1 came back", k)
	}
	for i, err := range wait() {
		if err != nil {
			t.Errorf("download %d through the return: %v", i, err)
		}
	}
	out := mustAdm(t, e.ds[1], e.adm, "show", "sync")
	moved := syncCounter(e, e.ds[1], "sync_exported") // the ends of the downloads ECMP moved to it
	t.Logf("return: director 1 copied %d connections before it announced, then carried the end of %d records' worth\n%s", bulk, moved, out)
	if bulk < n || !strings.Contains(out, "join: done") {
		t.Errorf("director 1's bulk copy: %d connections, want %d", bulk, n)
	}
	if moved == 0 {
		t.Errorf("ECMP moved none of the downloads to director 1: the return tested nothing")
	}
	if bgp := mustAdm(t, e.ds[0], e.adm, "show", "bgp"); !strings.Contains(bgp, "standby-laddr") {
		t.Errorf("director 0 announces no standby local address:\n%s", bgp)
	}
}
