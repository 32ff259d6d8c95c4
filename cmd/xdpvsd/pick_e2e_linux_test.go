package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// TestHASamePick: two independently started directors with the same configuration pick the same
// real server for every flow: for each of mh (the kernel's 4093 entries, and 65521 with mh-port),
// sh with sh-port and dh, IPv4 and IPv6, their table digests agree (show digest) and show pick
// gives the same real server on both for 100,000 random clients, spread over every real server (dh,
// which hashes the destination, puts all of one VIP's on one);
// the pick is the dataplane's (a client's connections through the VIP reach the real server show
// pick names). A service configured with its real servers in another order on one director gets
// another digest, and other picks: what directors comparing digests catch.
func TestHASamePick(t *testing.T) {
	e := newHAEnv(t, "hapick")
	type svc struct {
		proto, vip string
		port       uint16
		args       []string
	}
	svcs := []svc{
		{"-t", topo.VIP4, 80, nil}, // newHAEnv's mh
		{"-t", topo.VIP6, 80, nil},
		{"-t", topo.VIP4, 81, []string{"-s", "sh", "-b", "sh-port"}},
		{"-u", topo.VIP4, 82, []string{"-s", "dh"}},
		{"-t", topo.VIP4, 83, []string{"-s", "mh", "-b", "mh-port,mh-size=65521"}},
		{"-t", topo.VIP6, 84, []string{"-s", "sh", "-b", "sh-port,sh-fallback"}},
	}
	for _, d := range e.ds {
		for _, s := range svcs[2:] {
			vip := netip.AddrPortFrom(netip.MustParseAddr(s.vip), s.port).String()
			mustAdm(t, d, e.adm, append([]string{"-A", s.proto, vip}, s.args...)...)
			for r := range e.ha.RS {
				rip := topo.DRRS4(r)
				if strings.Contains(s.vip, ":") {
					rip = topo.DRRS6(r)
				}
				mustAdm(t, d, e.adm, "-a", s.proto, vip, "-r", netip.AddrPortFrom(netip.MustParseAddr(rip), s.port).String(), "-g", "-w", fmt.Sprint(r+1))
			}
		}
	}
	digests := [2]map[string]string{tableDigests(t, e, e.ds[0]), tableDigests(t, e, e.ds[1])}
	if len(digests[0]) != len(svcs) {
		t.Fatalf("director 0 lists %d digests, want %d: %v", len(digests[0]), len(svcs), digests[0])
	}
	for k, d := range digests[0] {
		if digests[1][k] != d {
			t.Errorf("%s: digest %s on director 0, %q on director 1", k, d, digests[1][k])
		}
	}
	rng := rand.New(rand.NewPCG(14, 4))
	for _, s := range svcs {
		proto := model.TCP
		if s.proto == "-u" {
			proto = model.UDP
		}
		key := model.ServiceKey{Protocol: proto, Address: netip.MustParseAddr(s.vip), Port: s.port}
		clients := randomClients(rng, key.Address.Is6(), 100_000)
		a, b := picks(t, e.ds[0], key, clients), picks(t, e.ds[1], key, clients)
		spread := map[netip.AddrPort]int{}
		for i := range clients {
			if a[i] != b[i] {
				t.Fatalf("%s: client %v: director 0 picks %v, director 1 %v", key, clients[i], a[i], b[i])
			}
			spread[a[i]]++
		}
		t.Logf("%s: 100,000 clients, the same pick on both directors: %v", key, spread)
		servers := len(e.ha.RS)
		if s.args != nil && s.args[1] == "dh" {
			servers = 1 // dh hashes the destination: one VIP, one real server
		}
		if len(spread) != servers || spread[netip.AddrPort{}] != 0 {
			t.Errorf("%s: picks spread over %v, want %d real servers", key, spread, servers)
		}
	}
	// The pick is the dataplane's: mh without mh-port puts every connection of a client on one
	// real server, the one show pick names (whichever director ECMP chose for each).
	want := picks(t, e.ds[0], model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr(topo.VIP4), Port: 80},
		[]netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr(topo.HAClient4), 1)})[0]
	c := topo.HTTPClient(e.ha.Client, false)
	c.Timeout = 5 * time.Second
	for i := range 10 {
		_, server, err := topo.Get(c, topo.URL(topo.VIP4, 80, "/"))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := netip.AddrPortFrom(netip.MustParseAddr(topo.DRRS4(rsIndex(t, server))), 80); got != want {
			t.Fatalf("request %d was served by %v; show pick says %v", i, got, want)
		}
	}
	// The same real servers in another order: another digest, other picks.
	vip := topo.VIP4 + ":85"
	for i, d := range e.ds {
		mustAdm(t, d, e.adm, "-A", "-t", vip, "-s", "sh")
		for r := range e.ha.RS {
			if i == 1 {
				r = len(e.ha.RS) - 1 - r
			}
			mustAdm(t, d, e.adm, "-a", "-t", vip, "-r", topo.DRRS4(r)+":85", "-g")
		}
	}
	if d0, d1 := tableDigests(t, e, e.ds[0])[vip], tableDigests(t, e, e.ds[1])[vip]; d0 == d1 {
		t.Errorf("%s: real servers in another order, the same digest %s", vip, d0)
	}
}

// rsIndex is the index of the real server whose X-Server is "rsN".
func rsIndex(t *testing.T, server string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(server, "rs%d", &i); err != nil {
		t.Fatalf("X-Server %q", server)
	}
	return i
}

// tableDigests reads show digest -o json: each service's table digest by VIP:PORT.
func tableDigests(t *testing.T, e *haEnv, d *topo.Daemon) map[string]string {
	t.Helper()
	var st struct{ Services []api.ServiceState }
	if err := json.Unmarshal([]byte(mustAdm(t, d, e.adm, "show", "digest", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range st.Services {
		if s.TableDigest != "" {
			out[netip.AddrPortFrom(s.Address, s.Port).String()] = s.TableDigest
		}
	}
	return out
}

// randomClients returns n client addresses and ports from the test ranges (198.18.0.0/15,
// 2001:2::/48).
func randomClients(rng *rand.Rand, v6 bool, n int) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range out {
		var a netip.Addr
		if v6 {
			b := [16]byte{0x20, 0x01, 0, 2}
			for j := 6; j < 16; j++ {
				b[j] = byte(rng.Uint32())
			}
			a = netip.AddrFrom16(b)
		} else {
			x := rng.Uint32()
			a = netip.AddrFrom4([4]byte{198, 18 + byte(x>>16)&1, byte(x >> 8), byte(x)})
		}
		out[i] = netip.AddrPortFrom(a, uint16(1024+rng.IntN(64512)))
	}
	return out
}

// picks asks director d which real server the service key picks for each client (show pick, over
// the API, 10,000 clients a request).
func picks(t *testing.T, d *topo.Daemon, key model.ServiceKey, clients []netip.AddrPort) []netip.AddrPort {
	t.Helper()
	cl := &api.Client{Socket: d.Socket}
	out := make([]netip.AddrPort, 0, len(clients))
	for len(clients) > 0 {
		n := min(len(clients), 10_000)
		resp, err := cl.Call(&api.Request{Commands: []model.Command{{Op: model.OpShow, Show: model.ShowPick, HasService: true,
			Service: model.ServiceSpec{ServiceKey: key}, Clients: clients[:n]}}})
		if err != nil || resp.Error != "" || resp.State == nil || len(resp.State.Picks) != n {
			t.Fatalf("show pick %s: %v %+v", key, err, resp)
		}
		for _, p := range resp.State.Picks {
			out = append(out, p.Server)
		}
		clients = clients[n:]
	}
	return out
}
