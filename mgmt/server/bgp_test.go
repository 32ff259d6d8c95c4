package server

import (
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
)

// fakeAnnouncer records drains and pokes and lists a fixed state.
type fakeAnnouncer struct {
	mu     sync.Mutex
	drains []bool
	pokes  int
	st     api.BGPState
}

func (f *fakeAnnouncer) BGP() *api.BGPState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	return &st
}
func (f *fakeAnnouncer) Drain(on bool) { f.mu.Lock(); f.drains = append(f.drains, on); f.mu.Unlock() }
func (f *fakeAnnouncer) Poke()         { f.mu.Lock(); f.pokes++; f.mu.Unlock() }

// TestBGPCommands: show bgp lists the announcer's state (text and JSON), drain and undrain reach
// it, every change pokes it; without one they say BGP is not configured.
func TestBGPCommands(t *testing.T) {
	fa := &fakeAnnouncer{st: api.BGPState{AS: 65010, RouterID: netip.MustParseAddr("198.18.0.1"), HoldSeconds: 9, Announcing: true,
		Peers: []api.BGPPeer{{Address: netip.MustParseAddr("198.18.0.254"), AS: 65000, State: "established", Since: time.Now().Add(-time.Minute), Advertised: 1}},
		Prefixes: []api.BGPPrefix{
			{Prefix: netip.MustParsePrefix("198.18.0.10/32"), Kind: "vip", Announced: true, Announcements: 1, Since: time.Now()},
			{Prefix: netip.MustParsePrefix("2001:2::10/128"), Kind: "vip", Reason: "TCP [2001:2::10]:80: 0 of 1 real servers available", Since: time.Now()},
		}}}
	ts := newTestServer(t, Config{Announcer: fa})
	out := ts.mustAdm(t, "show", "bgp")
	for _, want := range []string{"BGP AS 65010, router-id 198.18.0.1, hold 9s", "State: announcing",
		"198.18.0.254", "established", "198.18.0.10/32", "announced", "2001:2::10/128", "withdrawn", "0 of 1 real servers available"} {
		if !strings.Contains(out, want) {
			t.Errorf("show bgp lacks %q:\n%s", want, out)
		}
	}
	var js struct{ BGP api.BGPState }
	if err := json.Unmarshal([]byte(ts.mustAdm(t, "show", "bgp", "-o", "json")), &js); err != nil || js.BGP.AS != 65010 || len(js.BGP.Prefixes) != 2 || js.BGP.Peers[0].State != "established" {
		t.Fatalf("show bgp -o json: %+v %v", js, err)
	}
	ts.mustAdm(t, "drain")
	ts.mustAdm(t, "undrain")
	if _, errOut, rc := ts.adm(t, "", "drain", "now"); rc != 2 || !strings.Contains(errOut, "takes no argument") {
		t.Errorf("drain now: rc %d, %s", rc, errOut)
	}
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:80")
	fa.mu.Lock()
	if len(fa.drains) != 2 || !fa.drains[0] || fa.drains[1] || fa.pokes != 1 {
		t.Errorf("drains %v pokes %d, want [true false] and 1", fa.drains, fa.pokes)
	}
	fa.mu.Unlock()

	plain := newTestServer(t, Config{})
	if _, errOut, rc := plain.adm(t, "", "drain"); rc != 1 || !strings.Contains(errOut, "BGP is not configured") {
		t.Errorf("drain without BGP: rc %d, %s", rc, errOut)
	}
	if out := plain.mustAdm(t, "show", "bgp"); !strings.Contains(out, "not configured") {
		t.Errorf("show bgp without BGP: %s", out)
	}
}

// TestMinServers: --bgp-min-servers is saved by -S (when not the default) and restored by -R,
// reaches Listing (what the policy reads), and a bad value is refused.
func TestMinServers(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:80", "-s", "mh", "--bgp-min-servers", "2")
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:81", "-s", "mh", "--bgp-min-servers", "1")
	ts.mustAdm(t, "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.2")
	saved := ts.mustAdm(t, "-S", "-n")
	if !strings.Contains(saved, "-A -t 198.18.0.10:80 -s mh --bgp-min-servers 2\n") || !strings.Contains(saved, "-A -t 198.18.0.10:81 -s mh\n") {
		t.Fatalf("-S:\n%s", saved)
	}
	ts.mustAdm(t, "-C")
	if _, errOut, rc := ts.adm(t, saved, "-R"); rc != 0 {
		t.Fatalf("-R: %s", errOut)
	}
	if again := ts.mustAdm(t, "-S", "-n"); again != saved {
		t.Fatalf("-S after -R:\n%s\nwant\n%s", again, saved)
	}
	st := ts.Listing()
	if len(st.Services) != 2 || st.Services[0].MinServers != 2 || len(st.Services[0].RealServers) != 1 {
		t.Fatalf("Listing: %+v", st.Services)
	}
	for _, bad := range []string{"0", "-1", "x", "65537"} {
		if _, errOut, rc := ts.adm(t, "", "-E", "-t", "198.18.0.10:80", "--bgp-min-servers", bad); rc != 2 || !strings.Contains(errOut, "invalid --bgp-min-servers") {
			t.Errorf("--bgp-min-servers %s: rc %d, %s", bad, rc, errOut)
		}
	}
}
