package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// End-to-end tests of scheduling semantics through real kernels: persistence, a removed real
// server's UDP flows, and a quiescent server draining.

// TestPersistenceE2E: with -p every new connection of the client goes to the same real server;
// without it, rr alternates.
func TestPersistenceE2E(t *testing.T) {
	e := newEnv(t, "pers", 2)
	e.adm1("-A", "-t", topo.VIP4+":80", "-s", "rr", "-p", "60")
	e.adm1("-A", "-t", topo.VIP4+":81", "-s", "rr")
	for _, port := range []string{"80", "81"} {
		for i := range 2 {
			e.adm1("-a", "-t", topo.VIP4+":"+port, "-r", topo.RS4(i)+":8080", "-m")
		}
	}
	count := func(port uint16) map[string]int {
		got := map[string]int{}
		for i := range 20 {
			_, server, err := topo.Get(e.client, topo.URL(topo.VIP4, port, "/"))
			if err != nil {
				t.Fatalf("request %d to :%d: %v", i, port, err)
			}
			got[server]++
		}
		return got
	}
	if got := count(80); len(got) != 1 {
		t.Fatalf("persistent service: connections went to %v, want one server", got)
	}
	if got := count(81); got["rs0"] != 10 || got["rs1"] != 10 {
		t.Fatalf("non-persistent service: %v, want 10/10", got)
	}
	// One template (one client): ipvsadm's PersistConn column sums to 1 once the janitor has
	// counted (every second).
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := e.adm1("-Ln", "--persistent-conn", "-t", topo.VIP4+":80")
		total := 0
		for _, line := range strings.Split(out, "\n") {
			// ->  RemoteAddress:Port  Weight  PersistConn  ActiveConn  InActConn
			if f := strings.Fields(line); len(f) == 6 && f[0] == "->" {
				n, _ := strconv.Atoi(f[3])
				total += n
			}
		}
		if total == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PersistConn sums to %d, want 1:\n%s", total, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// udpFlow is a connected UDP socket of the client: one flow through the VIP.
type udpFlow struct{ c *net.UDPConn }

func (e *env) udpFlow(vip netip.AddrPort) *udpFlow {
	e.t.Helper()
	var c *net.UDPConn
	local := &net.UDPAddr{Port: int(udpPort.Add(1))}
	if err := e.clientNS.Do(func() (err error) { c, err = net.DialUDP("udp", local, net.UDPAddrFromAddrPort(vip)); return }); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &udpFlow{c}
}

// ask sends a datagram and returns the name of the real server that answered, trying three times
// a second apart ("" if none answered). A retry is the same flow, so it meets the same connection.
func (f *udpFlow) ask(msg string) string {
	buf := make([]byte, 1500)
	for range 3 {
		f.c.Write([]byte(msg))
		f.c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := f.c.Read(buf); err == nil {
			name, _, _ := bytes.Cut(buf[:n], []byte(":"))
			return string(name)
		}
	}
	return ""
}

// TestRemovedServerMovesUDPFlows: after `xdpvsadm -d` of a real server, the very next datagram of
// each of its flows is answered by another server (IPVS by default black-holes them until they
// expire).
func TestRemovedServerMovesUDPFlows(t *testing.T) {
	e := newEnv(t, "rmud", 1)
	vip := netip.AddrPortFrom(netip.MustParseAddr(topo.VIP4), 53)
	e.natService("-u", false)
	flows := make([]*udpFlow, 10)
	before := map[string]int{}
	for i := range flows {
		flows[i] = e.udpFlow(vip)
		before[flows[i].ask("hello")]++
	}
	if before["rs0"] != 5 || before["rs1"] != 5 {
		t.Fatalf("flows before: %v, want 5/5", before)
	}
	e.adm1("-d", "-u", vip.String(), "-r", topo.RS4(1)+":5353")
	for i, f := range flows {
		if got := f.ask("again"); got != "rs0" {
			t.Fatalf("flow %d: first datagram after rs1's removal answered by %q, want rs0", i, got)
		}
	}
}

// TestQuiescentServerDrains: weight 0 keeps an established connection going and sends every new
// connection elsewhere.
func TestQuiescentServerDrains(t *testing.T) {
	e := newEnv(t, "drain", 1)
	e.natService("-t", false)
	// A keep-alive connection: every request on it goes to one server.
	long := topo.HTTPClient(e.nat.Client, true)
	_, first, err := topo.Get(long, topo.URL(topo.VIP4, 80, "/"))
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]int{"rs0": 0, "rs1": 1}[first]
	e.adm1("-e", "-t", topo.VIP4+":80", "-r", topo.RS4(idx)+":8080", "-m", "-w", "0")
	for i := range 10 {
		if _, got, err := topo.Get(long, topo.URL(topo.VIP4, 80, "/")); err != nil || got != first {
			t.Fatalf("request %d on the established connection: %q, %v; want %s", i, got, err, first)
		}
		if _, got, err := topo.Get(e.client, topo.URL(topo.VIP4, 80, "/")); err != nil || got == first {
			t.Fatalf("new connection %d went to %q (%v); %s is quiescent", i, got, err, first)
		}
	}
	resp, err := long.Get(topo.URL(topo.VIP4, 80, "/data?n=100000&seed=3"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 100000 || resp.Header.Get("X-Server") != first {
		t.Fatalf("transfer on the draining connection: %d bytes from %q", n, resp.Header.Get("X-Server"))
	}
	t.Log(fmt.Sprint(e.adm1("-Ln")))
}
