package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

// The end-to-end tests run xdpvsd and xdpvsadm, built once per test process, on the layouts of
// internal/topo, with the kernel's TCP and UDP stacks at the client and the real servers.

// bins are the paths of the commands the tests run.
type bins struct{ xdpvsd, adm, agent string }

// binaries builds xdpvsd, xdpvsadm and the real-server agent xdpvs-rs in one go build, the first
// time a test asks (testutil.Binaries).
func binaries(t *testing.T) bins {
	t.Helper()
	b := testutil.Binaries(t, "xdpvsd", "xdpvsadm", "xdpvs-rs")
	return bins{xdpvsd: b[0], adm: b[1], agent: b[2]}
}

func TestMain(m *testing.M) { testutil.Main(m) }

// env is one test's layout with a running daemon.
type env struct {
	t        *testing.T
	nat      *topo.NAT // the NAT layout, or nil
	clientNS *netns.NS // the client host, whatever the layout
	d        *topo.Daemon
	adm      string
	client   *http.Client
	vips     [2]string // IPv4 and IPv6 VIP; zero: topo.VIP4, topo.VIP6
}

// runDaemon starts xdpvsd in the director's namespace on ifaces (with extra flags) and returns the env around it,
// whose client is in the client's namespace. Cleanup stops the daemon and, if the test failed,
// logs its output, the director's neighbours and the drops.
func runDaemon(t *testing.T, client, director *netns.NS, ifaces []string, workers int, extra ...string) *env {
	t.Helper()
	b := binaries(t)
	d, err := topo.StartDaemon(director, b.xdpvsd, t.TempDir(), ifaces, append([]string{"--workers", fmt.Sprint(max(workers, 1))}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	adm := b.adm
	e := &env{t: t, clientNS: client, d: d, adm: adm, client: topo.HTTPClient(client, false)}
	t.Cleanup(func() {
		var drops string
		if t.Failed() {
			drops, _ = e.d.Adm(adm, "show", "drops") // while the daemon still runs
		}
		if err := e.d.Stop(); err != nil {
			t.Errorf("xdpvsd: %v\n%s", err, e.d.Log)
		}
		if t.Failed() {
			neigh, _ := director.Exec("ip", "neigh")
			t.Logf("xdpvsd log:\n%s\ndirector neighbours:\n%s\ndrops:\n%s", e.d.Log, neigh, drops)
		}
	})
	return e
}

// vip is the layout's VIP of a family.
func (e *env) vip(v6 bool) string {
	i := map[bool]int{false: 0, true: 1}[v6]
	if e.vips[i] != "" {
		return e.vips[i]
	}
	return vipAddr(v6)
}

// newEnv runs xdpvsd (with extra flags) on the two-arm NAT layout with two real servers, each
// serving HTTP on :8080 and UDP echo on :5353 of both its addresses.
func newEnv(t *testing.T, name string, workers int, extra ...string) *env {
	t.Helper()
	testutil.RequireRoot(t)
	nat, err := topo.NewNAT(topo.Prefix(name), 2, max(workers, 1))
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, nat)
	e := runDaemon(t, nat.Client, nat.Director, nat.Ifaces(), workers, extra...)
	e.nat = nat
	e.client.Timeout = 5 * time.Second
	serve(t, nat.RS, func(i int) []string { return []string{topo.RS4(i), topo.RS6(i)} }, 8080, 5353)
	return e
}

func (e *env) adm1(args ...string) string {
	e.t.Helper()
	out, err := e.d.Adm(e.adm, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// natService configures proto VIP:80 (UDP: :53) → both real servers' :8080 (:5353), NAT, rr.
func (e *env) natService(proto string, v6 bool) string {
	vip, rs := topo.VIP4, []string{topo.RS4(0), topo.RS4(1)}
	if v6 {
		vip, rs = "["+topo.VIP6+"]", []string{"[" + topo.RS6(0) + "]", "[" + topo.RS6(1) + "]"}
	}
	vport, rport := "80", "8080"
	if proto == "-u" {
		vport, rport = "53", "5353"
	}
	svc := vip + ":" + vport
	e.adm1("-A", proto, svc, "-s", "rr")
	for _, r := range rs {
		e.adm1("-a", proto, svc, "-r", r+":"+rport, "-m", "-w", "1")
	}
	e.resolved(strings.Trim(rs[0], "[]"), strings.Trim(rs[1], "[]"))
	return svc
}

// resolved waits until the director's kernel knows the MACs of addrs: xdpvsd asks for them when a
// real server is added, and a packet scheduled to a server whose MAC is still unknown is dropped
// (counted), which would skew the exact splits the tests check.
func (e *env) resolved(addrs ...string) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range addrs {
		for {
			out, _ := e.nat.Director.Exec("ip", "neigh", "show", a)
			if strings.Contains(out, "lladdr") {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("the director did not resolve %s: %q", a, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func vipAddr(v6 bool) string {
	if v6 {
		return topo.VIP6
	}
	return topo.VIP4
}

// shortConnections makes n HTTP requests, each on a new connection, and counts the real servers
// that answered.
func (e *env) shortConnections(n int, v6 bool) map[string]int {
	e.t.Helper()
	got := map[string]int{}
	url := topo.URL(e.vip(v6), 80, "/")
	for i := range n {
		body, server, err := topo.Get(e.client, url)
		if err != nil {
			e.t.Fatalf("request %d: %v", i, err)
		}
		if string(body) != server {
			e.t.Fatalf("request %d: body %q from %q", i, body, server)
		}
		got[server]++
	}
	return got
}

func (e *env) transfers(v6 bool, size int64) {
	e.t.Helper()
	c := topo.HTTPClient(e.clientNS, false)
	// Download: the real server sends, the client checks the digest.
	resp, err := c.Get(topo.URL(e.vip(v6), 80, fmt.Sprintf("/data?n=%d&seed=7", size)))
	if err != nil {
		e.t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		e.t.Fatalf("download: %d bytes, %v", n, err)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), topo.DataSHA256(7, size); got != want {
		e.t.Fatalf("download sha256 %s, want %s", got, want)
	}
	// Upload: the client sends, the real server returns the digest.
	resp, err = c.Post(topo.URL(e.vip(v6), 80, "/sha256"), "application/octet-stream", topo.Data(9, size))
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := string(body), topo.DataSHA256(9, size); got != want {
		e.t.Fatalf("upload sha256 %s, want %s", got, want)
	}
}

// udpPort hands out the client's UDP source ports: every flow a distinct one, so that no flow
// meets the connection of an earlier one (ephemeral ports may repeat).
var udpPort atomic.Uint32

func init() { udpPort.Store(20000) }

func (e *env) udp(v6 bool, n int) map[string]int {
	e.t.Helper()
	got := map[string]int{}
	vip := netip.AddrPortFrom(netip.MustParseAddr(e.vip(v6)), 53)
	for i := range n {
		var c *net.UDPConn
		local := &net.UDPAddr{Port: int(udpPort.Add(1))}
		if err := e.clientNS.Do(func() (err error) { c, err = net.DialUDP("udp", local, net.UDPAddrFromAddrPort(vip)); return }); err != nil {
			e.t.Fatal(err)
		}
		msg := []byte(fmt.Sprintf("query %d", i))
		buf := make([]byte, 1500)
		var reply []byte
		for try := 0; try < 5 && reply == nil; try++ {
			c.Write(msg)
			c.SetReadDeadline(time.Now().Add(time.Second))
			if k, err := c.Read(buf); err == nil {
				reply = buf[:k]
			}
		}
		c.Close()
		name, payload, ok := bytes.Cut(reply, []byte(":"))
		if !ok || !bytes.Equal(payload, msg) {
			e.t.Fatalf("datagram %d: reply %q", i, reply)
		}
		got[string(name)]++
	}
	return got
}

// workerStats reads `xdpvsadm show workers -o json`.
func (e *env) workerStats() []api.WorkerStats {
	e.t.Helper()
	var st struct{ Workers []api.WorkerStats }
	if err := json.Unmarshal([]byte(e.adm1("show", "workers", "-o", "json")), &st); err != nil {
		e.t.Fatal(err)
	}
	return st.Workers
}

// events sums the named worker events over the workers.
func (e *env) events(names ...string) map[string]uint64 {
	e.t.Helper()
	if len(names) == 0 {
		return nil
	}
	sum := map[string]uint64{}
	for _, w := range e.workerStats() {
		for _, ev := range w.Events {
			if slices.Contains(names, ev.Name) {
				sum[ev.Name] += ev.Count
			}
		}
	}
	return sum
}

// checkWorkers reads `xdpvsadm show workers`: with two workers, packets that reached the queue of
// the worker not owning their connection were handed over and none was lost on the way.
func (e *env) checkWorkers(workers int) {
	e.t.Helper()
	ws := e.workerStats()
	if len(ws) != workers {
		e.t.Fatalf("%d workers listed, want %d", len(ws), workers)
	}
	var out, in, full, loop uint64
	for _, w := range ws {
		out, in = out+w.HandoffsOut, in+w.HandoffsIn
		for _, d := range w.Drops {
			switch d.Name {
			case "handoff_full":
				full += d.Count
			case "handoff_loop":
				loop += d.Count
			}
		}
	}
	// A full ring is overload (this 2-vCPU machine runs the client, the servers and both
	// workers); it must be counted, and every hand-off accounted for. A loop is a bug.
	e.t.Logf("hand-offs: %d out, %d in, %d dropped on a full ring\n%s", out, in, full, e.adm1("show", "workers"))
	if out != in+full+loop || loop != 0 || (workers > 1 && out == 0) {
		e.t.Fatalf("hand-offs: %d out, %d in, %d full, %d loops", out, in, full, loop)
	}
}

// refused sends datagrams to vip from a connected socket until the kernel reports the port
// unreachable (nil) or five seconds pass. The refusal must come from real server rs through the
// director, not from the director's own kernel: rs must show the connection.
func (e *env) refused(vip netip.AddrPort, rs string) error {
	var c *net.UDPConn
	local := &net.UDPAddr{Port: int(udpPort.Add(1))}
	if err := e.clientNS.Do(func() (err error) { c, err = net.DialUDP("udp", local, net.UDPAddrFromAddrPort(vip)); return }); err != nil {
		return err
	}
	defer c.Close()
	var err error
	for try := 0; try < 5; try++ {
		c.Write([]byte("anyone?"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err = c.Read(make([]byte, 64)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: read error %v, want connection refused from the translated ICMP error", vip, err)
	}
	list := e.adm1("-Ln", "--stats", "-u", vip.String())
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "->" && f[1] == rs && f[2] == "1" {
			return nil
		}
	}
	return fmt.Errorf("%s: real server %s does not show the one connection:\n%s", vip, rs, list)
}

// xdpAttached lists the director's interfaces that still carry an XDP program.
func xdpAttached(t *testing.T, e *env) []string {
	t.Helper()
	out, err := e.nat.Director.Exec("ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	var with []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " xdp") || strings.Contains(line, "prog/xdp") {
			with = append(with, strings.Fields(line)[1])
		}
	}
	return with
}

// TestLifecycle: SIGKILL leaves nothing that stops a new daemon from attaching and serving (the
// programs are BPF links, released with the process); SIGTERM detaches everything; an idle daemon
// sleeps rather than spinning.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, "life", 1)
	e.natService("-t", false)
	if got := e.shortConnections(10, false); got["rs0"] != 5 {
		t.Fatalf("split %v", got)
	}

	// Idle: at most a few percent of a core over two seconds (a spinning worker takes 100 %).
	pid := daemonPID(t, e)
	before := cpuTicks(t, pid)
	time.Sleep(2 * time.Second)
	if used := float64(cpuTicks(t, pid)-before) / 100 / 2; used > 0.10 {
		t.Errorf("idle daemon used %.0f %% of a core", used*100)
	} else {
		t.Logf("idle daemon: %.1f %% of a core", used*100)
	}

	// Crash, then start again on the same interfaces.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.d.Stop()
	d, err := topo.StartDaemon(e.nat.Director, binaries(t).xdpvsd, t.TempDir(), e.nat.Ifaces())
	if err != nil {
		t.Fatalf("restart after SIGKILL: %v", err)
	}
	e.d = d
	e.natService("-t", false)
	if got := e.shortConnections(10, false); got["rs0"] != 5 {
		t.Fatalf("after restart: split %v", got)
	}

	// SIGTERM: no program left attached.
	if err := d.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, d.Log)
	}
	if with := xdpAttached(t, e); len(with) > 0 {
		t.Fatalf("XDP programs still attached after SIGTERM: %v", with)
	}
}

// daemonPID finds the xdpvsd process under `ip netns exec` (its only child).
func daemonPID(t *testing.T, e *env) int {
	t.Helper()
	out, err := exec.Command("pgrep", "-x", "-P", fmt.Sprint(e.d.PID()), "xdpvsd").Output()
	if err == nil {
		var pid int
		if _, err := fmt.Sscan(string(out), &pid); err == nil {
			return pid
		}
	}
	return e.d.PID() // ip netns exec execs the command in place
}

// cpuTicks is the user+system time of a process, in clock ticks (1/100 s).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	var u, s int64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &s)
	return u + s
}

// TestICMPUnreachable: a UDP service whose real servers have no listener. Each real server's
// kernel answers with port unreachable quoting CIP:cport → RIP:rport; the director translates the
// quote back to CIP:cport → VIP:vport, and only then does the client's connected socket report
// ECONNREFUSED, the kernel's own check that the translation is right.
func TestICMPUnreachable(t *testing.T) {
	e := newEnv(t, "icmp", 1)
	for _, v6 := range []bool{false, true} {
		vip, rs := topo.VIP4+":54", topo.RS4(0)+":5454"
		if v6 {
			vip, rs = "["+topo.VIP6+"]:54", "["+topo.RS6(0)+"]:5454"
		}
		e.adm1("-A", "-u", vip, "-s", "rr")
		e.adm1("-a", "-u", vip, "-r", rs, "-m")
		if err := e.refused(netip.MustParseAddrPort(vip), rs); err != nil {
			t.Fatal(err)
		}
	}
}
