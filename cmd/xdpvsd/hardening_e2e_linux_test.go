package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// The hardening tests: what an attacker or a tired operator would meet (issue: hardening). Each
// failed on the daemon before its fix, as its comment says.

// TestClosedConnectionsFreeTheirSlots: with a table of 128 connections per worker, 80 connections
// that lived past their first wheel slot and then closed (reset: CLOSE, 10 s) are gone 11 s later,
// and 100 new connections after them all succeed. Before the fix the closed ones kept their slots
// until their old ESTABLISHED expiry (15 min) and new connections were refused (table_full).
func TestClosedConnectionsFreeTheirSlots(t *testing.T) {
	e := newEnv(t, "closed", 1, "--conns", "128")
	e.natService("-t", false)
	dial := topo.DialContext(e.clientNS)
	var conns []net.Conn
	for i := range 80 {
		c, err := dial(context.Background(), "tcp", topo.VIP4+":80")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Three seconds of life: past the first wheel slot (NONE's 2 s), so that each entry was re-filed
	// at ESTABLISHED's 15 minutes.
	time.Sleep(3 * time.Second)
	for _, c := range conns {
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0) // close with a RST: CLOSE, 10 s
		c.Close()
	}
	time.Sleep(12 * time.Second)
	if out := e.adm1("-Lnc"); strings.Count(out, "TCP ") > 0 {
		t.Errorf("connections still listed 12 s after their reset:\n%s", out)
	}
	e.shortConnections(100, false)
	if d := e.drops()["table_full"]; d != 0 {
		t.Errorf("table_full drops: %d", d)
	}
}

// TestQueuesBeyondWorkers: one worker on interfaces of two queues serves both: flows the client's
// kernel sends on its second queue reach the director's second queue and are load balanced. Before
// the fix nothing listened there, the packets reached the kernel, and it reset the connections
// (18 of 40 failed).
func TestQueuesBeyondWorkers(t *testing.T) {
	testutil.RequireRoot(t)
	nat, err := topo.NewNAT(topo.Prefix("queues"), 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, nat)
	e := runDaemon(t, nat.Client, nat.Director, nat.Ifaces(), 1)
	e.nat = nat
	e.client.Timeout = 5 * time.Second
	serve(t, nat.RS, func(i int) []string { return []string{topo.RS4(i), topo.RS6(i)} }, 8080, 5353)
	if !strings.Contains(e.d.Log.String(), `"queues": [0, 1]`) {
		t.Fatalf("the worker does not own both queues:\n%s", e.d.Log)
	}
	e.natService("-t", false)
	e.natService("-u", false)
	got := e.shortConnections(200, false)
	if got["rs0"] != 100 || got["rs1"] != 100 {
		t.Errorf("connections per real server: %v", got)
	}
	e.udp(false, 50)
	// The test means something only if the second queue carried some of it.
	out, err := nat.Director.Exec("ethtool", "-S", "d0")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"rx_queue_0_xdp_redirect", "rx_queue_1_xdp_redirect"} {
		var n int
		for _, line := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && k == q {
				fmt.Sscan(v, &n)
			}
		}
		if n < 20 {
			t.Errorf("%s: %d packets: the client's flows did not use both queues\n%s", q, n, out)
		}
	}
}

// TestRealServerReachableDirectly: with a NAT service whose real server is 198.18.1.2:8080, a
// client that connects to 198.18.1.2:8080 itself, routed by the director's kernel, gets its
// answer; so does the director's own connection to it. Before the fix the steering program
// redirected every packet from the real server's port and the workers dropped the replies
// (no_conn): the client timed out.
func TestRealServerReachableDirectly(t *testing.T) {
	e := newEnv(t, "direct", 1)
	if out, err := e.nat.Director.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatalf("sysctl: %v %s", err, out)
	}
	e.natService("-t", false)
	e.natService("-t", true)
	e.shortConnections(20, false)
	for _, a := range []string{topo.RS4(0), topo.RS6(0)} {
		url := topo.URL(a, 8080, "/")
		for i := range 10 {
			body, server, err := topo.Get(e.client, url)
			if err != nil || server != "rs0" || string(body) != server {
				t.Fatalf("request %d straight to %s: %q from %q, %v", i, a, body, server, err)
			}
		}
		own := topo.HTTPClient(e.nat.Director, false)
		own.Timeout = 3 * time.Second
		if body, server, err := topo.Get(own, url); err != nil || server != "rs0" || string(body) != server {
			t.Fatalf("the director's own request to %s: %q from %q, %v", a, body, server, err)
		}
	}
	if d := e.drops()["no_conn"]; d != 0 {
		t.Errorf("no_conn drops: %d", d)
	}
	e.shortConnections(20, true) // the service still works
}

// drops sums the drop counters of every worker by reason.
func (e *env) drops() map[string]uint64 {
	e.t.Helper()
	out := map[string]uint64{}
	for _, w := range e.workerStats() {
		for _, d := range w.Drops {
			out[d.Name] += d.Count
		}
	}
	return out
}

// TestWorkersAuto: without --workers the daemon runs one worker per queue of its interfaces (here
// two), at most one per CPU, the first pinned away from CPU 0, and serves traffic on all of them.
func TestWorkersAuto(t *testing.T) {
	testutil.RequireRoot(t)
	nat, err := topo.NewNAT(topo.Prefix("auto"), 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, nat)
	d, err := topo.StartDaemon(nat.Director, binaries(t).xdpvsd, t.TempDir(), nat.Ifaces())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, nat: nat, clientNS: nat.Client, d: d, adm: binaries(t).adm, client: topo.HTTPClient(nat.Client, false)}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("xdpvsd: %v\n%s", err, d.Log)
		}
	})
	cpus := dataplane.WorkerCPUs()
	want := min(2, len(cpus))
	if ws := e.workerStats(); len(ws) != want || ws[0].CPU != cpus[0] {
		t.Fatalf("%d workers, the first on CPU %d; want %d, on CPU %d\n%s", len(ws), ws[0].CPU, want, cpus[0], d.Log)
	}
	if !strings.Contains(d.Log.String(), fmt.Sprintf(`"workers": %d`, want)) {
		t.Errorf("the log does not say how many workers run:\n%s", d.Log)
	}
	serve(t, nat.RS, func(i int) []string { return []string{topo.RS4(i), topo.RS6(i)} }, 8080, 5353)
	e.client.Timeout = 5 * time.Second
	e.natService("-t", false)
	e.shortConnections(100, false)
}

// TestListingManyConnections: -Lnc and show connections -o json of 3,000 open connections list
// every one, well formed, streamed in parts by the daemon, while the service keeps answering.
func TestListingManyConnections(t *testing.T) {
	e := newEnv(t, "listing", 1)
	e.natService("-t", false)
	dial := topo.DialContext(e.clientNS)
	const n = 3000
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := dial(context.Background(), "tcp", topo.VIP4+":80")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	out := e.adm1("-Lnc")
	est := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "TCP" {
			continue
		}
		if len(f) != 6 || !strings.HasPrefix(f[3], topo.Client4+":") || f[4] != topo.VIP4+":80" {
			t.Fatalf("malformed line %q", l)
		}
		if f[2] == "ESTABLISHED" {
			est++
		}
	}
	if est < n {
		t.Fatalf("-Lnc lists %d established connections, want %d\n%s", est, n, out[:min(len(out), 2000)])
	}
	var st struct{ Connections []json.RawMessage }
	if err := json.Unmarshal([]byte(e.adm1("show", "connections", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Connections) < n {
		t.Fatalf("show connections -o json lists %d, want at least %d", len(st.Connections), n)
	}
	e.shortConnections(20, false)
}
