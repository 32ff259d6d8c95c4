package server

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/sched"
)

// shChoices is where sh sends each of n clients of the service on port 80 of a snapshot, as the
// dataplane builds it (the real servers in the snapshot's order).
func shChoices(t *testing.T, sn *control.Snapshot, n int) []string {
	t.Helper()
	f, _ := sched.Lookup("sh")
	for _, s := range sn.Services {
		if s.Key.Port != 80 {
			continue
		}
		dests := make([]sched.Dest, len(s.RealServers))
		for i, r := range s.RealServers {
			dests[i] = sched.Dest{Weight: int32(r.Weight), Addr: header.AddrFromNetip(r.Addr), Port: r.Port}
		}
		sh := f(sched.Config{Dests: dests}).Instance()
		out := make([]string, n)
		for i := range out {
			tu := header.Tuple{SrcAddr: header.AddrFromNetip(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})),
				DstAddr: header.AddrFromNetip(s.Key.Addr), SrcPort: uint16(1024 + i), DstPort: 80, Proto: 6}
			out[i] = s.RealServers[sh.Schedule(&tu, dests)].Addr.String()
		}
		return out
	}
	t.Fatal("no service on port 80")
	return nil
}

// TestSaveKeepsOrder: -S and the configuration file keep the real servers in the order they were
// added, as IPVS lists them, so that sh (whose buckets follow that order) sends every client to
// the same server after a restart or a -S | -R.
func TestSaveKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xdpvs.conf")
	ts := newTestServer(t, Config{ConfigPath: path})
	added := []string{"198.18.1.5", "198.18.1.2", "198.18.1.9", "198.18.1.3"}
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:80", "-s", "sh")
	for i, a := range added {
		ts.mustAdm(t, "-a", "-t", "198.18.0.10:80", "-r", a+":8080", "-m", "-w", fmt.Sprint(1+i%3))
	}
	const clients = 2000
	want := shChoices(t, ts.fake.last(), clients)
	saved := ts.mustAdm(t, "-S")
	var order []string
	for _, l := range strings.Split(saved, "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[0] == "-a" {
			order = append(order, strings.TrimSuffix(f[4], ":8080"))
		}
	}
	if fmt.Sprint(order) != fmt.Sprint(added) {
		t.Errorf("-S lists %v, added %v", order, added)
	}
	if file, _ := os.ReadFile(path); string(file) != saved {
		t.Errorf("file:\n%s\n-S:\n%s", file, saved)
	}
	if out := ts.mustAdm(t, "-Ln"); strings.Index(out, "198.18.1.2:8080") > strings.Index(out, "198.18.1.5:8080") {
		t.Errorf("-L is no longer sorted, as ipvsadm's:\n%s", out)
	}

	moved := func(what string, got []string) {
		t.Helper()
		n := 0
		for i := range got {
			if got[i] != want[i] {
				n++
			}
		}
		if n > 0 {
			t.Errorf("%s: %d of %d clients moved to another server", what, n, clients)
		}
	}
	// A restart: a new server loads the file.
	fake := &fakeControl{}
	s2, err := New(Config{Control: fake, ConfigPath: path, SocketPath: filepath.Join(t.TempDir(), "y.sock")})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	moved("after a restart", shChoices(t, fake.last(), clients))
	// -S | -C | -R.
	ts.mustAdm(t, "-C")
	if _, errs, rc := ts.adm(t, saved, "-R"); rc != 0 {
		t.Fatalf("-R: %s", errs)
	}
	moved("after -S, -C, -R", shChoices(t, ts.fake.last(), clients))
}
