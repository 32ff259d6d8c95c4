package main

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

// TestFastPathSwitches (issue 16): the fast path's two switches, end to end. With --fast-path=off
// and with a service under --policy no-fast-path, a transfer through the VIP (5 MiB each way,
// SHA-256 checked) and UDP request/responses go through the workers only: no record is made and
// the program forwards nothing; the same service without the policy, on the same daemon, takes the
// fast path.
func TestFastPathSwitches(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e := newEnv(t, "fpoff", 1, "--fast-path=off")
		e.natService("-t", false)
		e.natService("-u", false)
		e.transfers(false, 5<<20)
		e.udp(false, 10)
		if ev := e.events("fast_path_installed", "fast_path_packets"); ev["fast_path_installed"] != 0 || ev["fast_path_packets"] != 0 {
			t.Fatalf("--fast-path=off: %v", ev)
		}
		if n := e.programCount("xdp/fast_redirect") + e.programCount("xdp/fast_tx"); n != 0 {
			t.Fatalf("--fast-path=off: the program forwarded %d packets", n)
		}
	})
	t.Run("policy", func(t *testing.T) {
		e := newEnv(t, "fppol", 1)
		svc := e.natService("-t", false)
		e.adm1("-E", "-t", svc, "-s", "rr", "--policy", "no-fast-path")
		e.transfers(false, 5<<20)
		if ev := e.events("fast_path_installed", "fast_path_packets"); ev["fast_path_installed"] != 0 || ev["fast_path_packets"] != 0 {
			t.Fatalf("--policy no-fast-path: %v", ev)
		}
		e.adm1("-E", "-t", svc, "-s", "rr", "--policy", "default")
		e.transfers(false, 5<<20)
		if n := e.programCount("xdp/fast_redirect"); n == 0 {
			t.Fatal("the fast path forwarded nothing once the policy was lifted")
		}
	})
}

// programCount is the steering program's counter name (listed with worker 0's sockets).
func (e *env) programCount(name string) uint64 {
	e.t.Helper()
	for _, w := range e.workerStats() {
		for _, s := range w.Sockets {
			if s.Name == name {
				return s.Count
			}
		}
	}
	return 0
}

// bytesCounted checks that the TCP service on the VIP counted at least the 50 MiB each way of
// the traffic's transfers (only the way in where replies bypass the director: DR, TUN), within a
// few seconds: the fast path's packets are folded into --stats like the workers' own.
func (e *env) bytesCounted(v6, replies bool) {
	e.t.Helper()
	vip := netip.MustParseAddr(e.vip(v6))
	const want = 50 << 20
	var in, out uint64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var st struct {
			Services []struct {
				Address netip.Addr
				Port    uint16
				Stats   struct{ InBytes, OutBytes uint64 }
			}
		}
		js := e.adm1("-L", "-n", "--stats", "-o", "json")
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			e.t.Fatalf("%v: %s", err, js)
		}
		for _, s := range st.Services {
			if s.Address == vip && s.Port == 80 {
				in, out = s.Stats.InBytes, s.Stats.OutBytes
			}
		}
		if in >= want && (!replies || out >= want) {
			return
		}
	}
	e.t.Fatalf("the VIP's TCP service counted %d bytes in and %d out, want at least %d each way (out only with replies: %v)", in, out, want, replies)
}
