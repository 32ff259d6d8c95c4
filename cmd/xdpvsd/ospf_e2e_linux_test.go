package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// newOSPFEnv builds the layout of newHAEnv for an OSPF site: BIRD runs OSPF (v2 and v3) in the
// router namespace and beside each director, each director's daemon writes its announced
// prefixes into kernel table topo.HAExportTable (--export-table, no BGP) and its BIRD
// redistributes them into OSPF, as docs/several-directors.md says. It waits until the router
// has both directors' routes to both VIPs.
func newOSPFEnv(t *testing.T, name string) *haEnv {
	t.Helper()
	testutil.RequireRoot(t)
	b := binaries(t)
	ha, err := topo.NewHA(topo.Prefix(name), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, ha)
	e := &haEnv{t: t, ha: ha, adm: b.adm, bin: b.xdpvsd,
		announce: func(int) []string { return []string{"--export-table", fmt.Sprint(topo.HAExportTable)} }}
	startBIRD := func(ns *netns.NS, what, conf string) {
		bd, err := topo.StartBIRD(ns, t.TempDir(), conf)
		if err != nil {
			t.Skip(err) // BIRD 2 is installed by make deps
		}
		t.Cleanup(func() {
			if t.Failed() {
				out, _ := bd.Ctl(ns, "show ospf lsadb o4")
				routes, _ := bd.Ctl(ns, "show route all")
				t.Logf("%s's bird:\n%s\n%s\n%s", what, bd.Log(), out, routes)
			}
			bd.Stop()
		})
	}
	startBIRD(ha.Router, "router", topo.HARouterOSPF())
	for i := range ha.Dirs {
		startBIRD(ha.Dirs[i], fmt.Sprintf("director %d", i), topo.HADirectorOSPF(i))
		e.via6 = append(e.via6, linkLocal(t, ha.Dirs[i], "d0"))
	}
	for i := range ha.RS {
		s, err := topo.ServeHTTP(ha.RS[i], netip.AddrPortFrom(netip.MustParseAddr(topo.VIP4), 80), fmt.Sprintf("rs%d", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	for i := range ha.Dirs {
		e.ds = append(e.ds, e.start(i))
	}
	e.waitRoutes(2, 2)
	return e
}

// linkLocal is the link-local address of ns's interface ifname: its OSPFv3 next hop.
func linkLocal(t *testing.T, ns *netns.NS, ifname string) string {
	t.Helper()
	out, err := ns.Exec("ip", "-6", "addr", "show", "dev", ifname, "scope", "link")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`inet6 (fe80::[0-9a-f:]+)/64`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no link-local address on %s: %s", ifname, out)
	}
	return m[1]
}

// exported lists director i's routes in the export table.
func (e *haEnv) exported(i int) string {
	out4, _ := e.ha.Dirs[i].Exec("ip", "route", "show", "table", fmt.Sprint(topo.HAExportTable), "proto", "250")
	out6, _ := e.ha.Dirs[i].Exec("ip", "-6", "route", "show", "table", fmt.Sprint(topo.HAExportTable), "proto", "250")
	return out4 + out6
}

// TestHAOSPF: an OSPF site. Both directors' VIP routes reach the router through BIRD beside each
// (ECMP: one route, both next hops, IPv4 and IPv6) and the VIP answers through them; the
// announcement policy takes a director's routes away and OSPF follows: on drain (and back on
// undrain), on SIGTERM, and when the dataplane fails under a living daemon (the watchdog
// withdraws): its worker stalled (stopped alone, by ptrace; back when it goes on), its steering
// program detached. What a speaker beside the daemon loses is shown too: after a
// SIGKILL the routes stay in the export table and BIRD goes on announcing them, until the
// watchdog of docs/several-directors.md, run beside BIRD, flushes the table; the same watchdog
// withdraws a hung daemon (SIGSTOP), whose routes come back when it resumes.
func TestHAOSPF(t *testing.T) {
	e := newOSPFEnv(t, "haospf")
	c := topo.HTTPClient(e.ha.Client, false)
	c.Timeout = 5 * time.Second
	served := map[string]int{}
	for i := range 30 {
		_, server, err := topo.Get(c, topo.URL(topo.VIP4, 80, "/"))
		if err != nil {
			t.Fatalf("request %d through the OSPF routes: %v", i, err)
		}
		served[server]++
	}
	t.Logf("30 requests through both directors' OSPF routes, served by %v", served)

	mustAdm(t, e.ds[1], e.adm, "drain")
	e.waitRoutes(1, 1)
	if out := e.exported(1); out != "" {
		t.Fatalf("a draining director's export table holds %q", out)
	}
	mustAdm(t, e.ds[1], e.adm, "undrain")
	e.waitRoutes(2, 2)

	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.waitRoutes(1, 1)
	e.ds[1] = e.start(1)
	e.waitRoutes(2, 2)

	// A worker stuck (in the kernel) while the rest of the daemon runs: the policy's watchdog
	// withdraws; the worker going on announces again.
	resume := stallWorker(t, e.ds[1].PID())
	e.waitRoutes(1, 1)
	out := mustAdm(t, e.ds[1], e.adm, "show", "bgp")
	resume()
	if !strings.Contains(out, "worker 0 stalled") {
		t.Errorf("show bgp while the worker was stopped:\n%s", out)
	}
	e.waitRoutes(2, 2)

	detachSteering(t, e.ha.Dirs[1], "d0")
	e.waitRoutes(1, 1)
	if out := mustAdm(t, e.ds[1], e.adm, "show", "bgp"); !strings.Contains(out, "steering program not attached to d0") {
		t.Errorf("show bgp after the program was detached:\n%s", out)
	}
	_ = e.ds[1].Stop()
	e.ds[1] = e.start(1)
	e.waitRoutes(2, 2)

	// A dead daemon's routes stay: BIRD announces them still.
	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if e.nextHops(false) != 2 || !strings.Contains(e.exported(1), topo.VIP4) {
		t.Fatalf("after SIGKILL: %d next hops, export table %q: want both still there", e.nextHops(false), e.exported(1))
	}
	stopWatchdog := startWatchdog(t, e, 1)
	e.waitRoutes(1, 1)
	e.ds[1] = e.start(1)
	e.waitRoutes(2, 2)
	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e.waitRoutes(1, 1)
	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	e.waitRoutes(2, 2) // the policy gives the exporter its routes again (announce.Config.Resync, or its watchdog seeing the worker beat again)
	stopWatchdog()
}

// stallWorker stops the worker thread of the daemon pid inside a system call, with ptrace, as a
// worker stuck in the kernel would be, while the rest of the daemon runs on; the function returned
// lets it go on. The worker is the process's one thread pinned to one CPU. A thread stopped
// outside a system call is let go and tried again: stopped there, it would hold up the daemon's
// garbage collector, and with it the whole daemon. It locks the calling goroutine to its thread
// until resumed: ptrace's requests must come from the tracer's thread.
func stallWorker(t *testing.T, pid int) (resume func()) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	tid := 0
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		m := regexp.MustCompile(`(?m)^Cpus_allowed_list:\s*(\d+)$`).FindSubmatch(b)
		if err != nil || m == nil {
			continue
		}
		if tid != 0 {
			t.Fatalf("more than one thread of %d pinned to one CPU", pid)
		}
		fmt.Sscan(filepath.Base(filepath.Dir(f)), &tid)
	}
	if tid == 0 {
		t.Fatalf("no thread of %d pinned to one CPU (the worker)", pid)
	}
	runtime.LockOSThread()
	for range 100 {
		if err := unix.PtraceSeize(tid); err != nil {
			runtime.UnlockOSThread()
			t.Fatalf("ptrace seize %d: %v", tid, err)
		}
		var ws unix.WaitStatus
		if err := unix.PtraceInterrupt(tid); err == nil {
			_, _ = unix.Wait4(tid, &ws, unix.WALL, nil) // ws stays zero (not stopped) if it fails
		}
		sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
		if f := strings.Fields(string(sc)); ws.Stopped() && len(f) > 0 && f[0] != "-1" && f[0] != "running" {
			return func() {
				defer runtime.UnlockOSThread()
				if err := unix.PtraceDetach(tid); err != nil {
					t.Errorf("ptrace detach %d: %v", tid, err)
				}
			}
		}
		_ = unix.PtraceDetach(tid)
		time.Sleep(20 * time.Millisecond)
	}
	runtime.UnlockOSThread()
	t.Fatalf("worker thread %d never stopped inside a system call", tid)
	return nil
}

// detachSteering detaches, from outside the daemon, the XDP link of the steering program on
// ifname in ns (BPF_LINK_DETACH), as the kernel does when the link's interface goes away.
func detachSteering(t *testing.T, ns *netns.NS, ifname string) {
	t.Helper()
	out, err := ns.Exec("ip", "link", "show", "dev", ifname)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`prog/xdp id (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no XDP program on %s: %s", ifname, out)
	}
	var prog uint32
	fmt.Sscan(m[1], &prog)
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err == nil && info.Type == link.XDPType && uint32(info.Program) == prog {
			if err := it.Link.Detach(); err != nil {
				t.Fatalf("detach link %d: %v", it.ID, err)
			}
			return
		}
	}
	t.Fatalf("no XDP link of program %d: %v", prog, it.Err())
}

// watchdogScript is docs/several-directors.md's watchdog beside BIRD: while the daemon does not
// answer on its socket within two seconds (dead, or hung), its exported routes go.
const watchdogScript = `while sleep 1; do
	timeout 2 "$ADM" --socket "$SOCK" show bgp >/dev/null 2>&1 || ip route flush table "$TABLE" proto 250
	timeout 2 "$ADM" --socket "$SOCK" show bgp >/dev/null 2>&1 || ip -6 route flush table "$TABLE" proto 250
done
`

// startWatchdog runs the watchdog in director i's namespace for its daemon's socket; the
// function returned stops it (it is stopped at cleanup too).
func startWatchdog(t *testing.T, e *haEnv, i int) func() {
	t.Helper()
	script := filepath.Join(t.TempDir(), "watchdog.sh")
	if err := os.WriteFile(script, []byte(watchdogScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := e.ha.Dirs[i].Command("sh", script)
	cmd.Env = append(os.Environ(), "ADM="+e.adm, "SOCK="+e.ds[i].Socket, fmt.Sprintf("TABLE=%d", topo.HAExportTable))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the script and its sleep, by its group
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}
