package server

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
)

// TestHealthValidation: what only the model can check (the service's protocol, the sorry
// server against the real servers).
func TestHealthValidation(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m
-A -u 198.18.0.10:53 -s rr`)
	for _, tc := range []struct{ line, want string }{
		{"--health -t 198.18.0.99:80 --check tcp", "No such service"},
		{"--health -u 198.18.0.10:53 --check http", "a http check is for TCP services"},
		{"--health -t 198.18.0.10:80 --check udp", "a udp check is for UDP services"},
		{"--health -t 198.18.0.10:80 --check tcp --interval 1s --timeout 2s", "health check timeout 2s out of range [10ms, interval 1s]"},
		{"--health -t 198.18.0.10:80 --check tcp --interval 10ms", "health check interval 10ms out of range [100ms, 1h0m0s]"},
		{"--health -t 198.18.0.10:80 --check script --script relative/path", `--script "relative/path": an absolute path is needed`},
		{"--health -t 198.18.0.10:80 --check tcp --script /bin/true", "--script PATH goes with --check script, and only with it"},
		{"--health -t 198.18.0.10:80 --check tcp --path /", "--path, --host and --expect are for http and https checks"},
		{"--health -t 198.18.0.10:80 --check tcp --sorry 198.18.1.2:8080 -m", "the sorry server is one of the real servers"},
		{"--health -t 198.18.0.10:80 --check tcp --sorry 198.18.3.2:8080", "sorry server: real server port 8080 differs from the service port 80: gatewaying (-g) forwarding cannot change the port (use -m or -b)"},
		{"--health -t 198.18.0.10:80 --check tcp --sorry [2001:2::3]:8080 -m", "sorry server: Different address family is allowed only for fullnat servers (an IPv4 real server under an IPv6 service)"},
	} {
		_, errs, rc := ts.adm(t, "", strings.Fields(tc.line)...)
		if rc == 0 || strings.TrimSpace(errs) != tc.want {
			t.Errorf("%s: rc %d %q, want %q", tc.line, rc, strings.TrimSpace(errs), tc.want)
		}
	}
	// Raw JSON that bypasses the parser is validated too.
	for payload, want := range map[string]string{
		`{"check":"tcp","path":"/x"}`:                                     "--path, --host and --expect are for http and https checks",
		`{"check":"http","path":"/x y"}`:                                  "--path \"/x y\": only printable ASCII without spaces",
		`{"check":"tcp","interval":"1s","rise":1000}`:                     "rise 1000 and fall 3 must be in [1, 100]",
		`{"check":"","rise":2}`:                                           "health check options without --check",
		`{"check":"tcp","on_fail":"explode"}`:                             "unknown --on-fail `explode' (quiesce or remove)",
		`{"check":"tcp","sorry":"198.18.3.2:80","sorry_forward":"Bogus"}`: "bad request",
	} {
		req := `{"v":1,"commands":[{"op":"health","service":{"protocol":"TCP","address":"198.18.0.10","port":80},"health":` + payload + `}]}`
		resp, err := rawCall(t, ts.sock, []byte(req), uint32(len(req)))
		if err != nil || !strings.HasPrefix(resp.Error, want) {
			t.Errorf("%s: %v %q, want %q", payload, err, resp.Error, want)
		}
	}
	ts.mustAdm(t, "--health", "-t", "198.18.0.10:80", "--check", "tcp", "--sorry", "198.18.3.2:8080", "-m")
	_, errs, _ := ts.adm(t, "", "-a", "-t", "198.18.0.10:80", "-r", "198.18.3.2:8080", "-m")
	if !strings.Contains(errs, "sorry server") {
		t.Errorf("a real server equal to the sorry server: %q", errs)
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// weights maps the last snapshot's real servers of a service to their weights.
func (f *fakeControl) weights(port uint16) map[string]uint32 {
	sn := f.last()
	out := map[string]uint32{}
	for _, s := range sn.Services {
		if s.Key.Port == port {
			for _, r := range s.RealServers {
				out[netip.AddrPortFrom(r.Addr, r.Port).String()] = r.Weight
			}
		}
	}
	return out
}

func sameWeights(a, b map[string]uint32) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestHealthTransitions drives a service's health through failures, recovery, the sorry server
// and removal, watching the snapshots handed to the dataplane, the listings and the saved rules.
func TestHealthTransitions(t *testing.T) {
	n := mgmttest.NewFakeNet()
	conf := filepath.Join(t.TempDir(), "xdpvs.conf")
	ts := newTestServer(t, Config{dial: n.Dial, ConfigPath: conf})
	rs0, rs1 := "198.18.1.2:8080", "198.18.2.2:8080"
	n.Set("tcp", rs0, mgmttest.AcceptAll)
	n.Set("tcp", rs1, mgmttest.AcceptAll)
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s wrr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 3
-a -t 198.18.0.10:80 -r 198.18.2.2:8080 -m -w 5
--health -t 198.18.0.10:80 --check tcp --interval 100ms --timeout 50ms --rise 2 --fall 2 --sorry 198.18.3.2:8080 -m`)
	f := ts.fake
	all := map[string]uint32{rs0: 3, rs1: 5}
	waitFor(t, "checks", func() bool { return n.DialCount("tcp", rs0) >= 2 && n.DialCount("tcp", rs1) >= 2 })
	if w := f.weights(80); !sameWeights(w, all) {
		t.Fatalf("weights %v", w)
	}

	// rs0 fails: quiesced (weight 0), its configured weight kept.
	n.Set("tcp", rs0, nil)
	waitFor(t, "rs0 down", func() bool { return sameWeights(f.weights(80), map[string]uint32{rs0: 0, rs1: 5}) })
	list := ts.mustAdm(t, "-Ln")
	if !strings.Contains(list, "  -> 198.18.1.2:8080              Masq    0 ") || !strings.Contains(list, "  -> 198.18.2.2:8080              Masq    5 ") {
		t.Errorf("-Ln with rs0 down:\n%s", list)
	}
	saved := ts.mustAdm(t, "-S")
	if !strings.Contains(saved, "-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 3\n") {
		t.Errorf("-S lost the configured weight:\n%s", saved)
	}
	if b, _ := os.ReadFile(conf); string(b) != saved {
		t.Errorf("configuration file differs from -S:\n%s", b)
	}
	var js struct{ Services []api.ServiceState }
	if err := json.Unmarshal([]byte(ts.mustAdm(t, "-Ln", "-o", "json")), &js); err != nil {
		t.Fatal(err)
	}
	d := js.Services[0].RealServers[0]
	if d.Health == nil || d.Health.Up || d.Health.Weight != 0 || !d.Health.InService || d.Weight != 3 || d.Health.Failures < 2 ||
		!strings.Contains(d.Health.LastError, "connection refused") || js.Services[0].Health.Check != "tcp" {
		t.Errorf("json health of rs0: %+v / %+v", d, d.Health)
	}
	health := ts.mustAdm(t, "show", "health")
	if !strings.Contains(health, "TCP  198.18.0.10:80 --check tcp --interval 100ms") ||
		!strings.Contains(health, "  -> 198.18.1.2:8080              down") || !strings.Contains(health, "  -> 198.18.2.2:8080              up") {
		t.Errorf("show health:\n%s", health)
	}
	servers := ts.mustAdm(t, "show", "servers")
	if !strings.Contains(servers, "198.18.1.2:8080              Masq         3      0 down") {
		t.Errorf("show servers:\n%s", servers)
	}

	// Both fail: the sorry server takes over, and -L lists it as IPVS would.
	n.Set("tcp", rs1, nil)
	sorry := map[string]uint32{rs0: 0, rs1: 0, "198.18.3.2:8080": 1}
	waitFor(t, "sorry server", func() bool { return sameWeights(f.weights(80), sorry) })
	if list := ts.mustAdm(t, "-Ln"); !strings.Contains(list, "  -> 198.18.3.2:8080              Masq    1 ") {
		t.Errorf("-Ln with the sorry server:\n%s", list)
	}
	if saved2 := ts.mustAdm(t, "-S"); saved2 != saved {
		t.Errorf("-S changed with the health:\n%s", saved2)
	}

	// rs1 comes back after rise successes: the sorry server leaves.
	n.Set("tcp", rs1, mgmttest.AcceptAll)
	waitFor(t, "rs1 up", func() bool { return sameWeights(f.weights(80), map[string]uint32{rs0: 0, rs1: 5}) })

	// on-fail remove: rs0 leaves the snapshot; it is not listed by -L but is in the JSON.
	ts.mustAdm(t, "--health", "-t", "198.18.0.10:80", "--check", "tcp", "--interval", "100ms", "--timeout", "50ms",
		"--rise", "2", "--fall", "2", "--on-fail", "remove")
	waitFor(t, "rs0 removed", func() bool { return sameWeights(f.weights(80), map[string]uint32{rs1: 5}) })
	if list := ts.mustAdm(t, "-Ln"); strings.Contains(list, "198.18.1.2") {
		t.Errorf("-Ln lists a removed server:\n%s", list)
	}
	n.Set("tcp", rs0, mgmttest.AcceptAll)
	waitFor(t, "rs0 back", func() bool { return sameWeights(f.weights(80), all) })

	// --check none: no more checks, every server in.
	ts.mustAdm(t, "--health", "-t", "198.18.0.10:80", "--check", "none")
	n.Set("tcp", rs0, nil)
	before := n.DialCount("tcp", rs0)
	time.Sleep(300 * time.Millisecond)
	if after := n.DialCount("tcp", rs0); after > before+1 {
		t.Errorf("checks go on after --check none: %d -> %d", before, after)
	}
	if w := f.weights(80); !sameWeights(w, all) {
		t.Errorf("weights after --check none: %v", w)
	}
	if strings.Contains(ts.mustAdm(t, "-S"), "--health") {
		t.Error("-S still has --health")
	}
}

// TestPassiveHealth: SYN timeouts reported by the dataplane take a server down until its active
// check passes rise times.
func TestPassiveHealth(t *testing.T) {
	n := mgmttest.NewFakeNet()
	ts := newTestServer(t, Config{dial: n.Dial})
	rs0 := "198.18.1.2:8080"
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m
--health -t 198.18.0.10:80 --check tcp --interval 300ms --timeout 50ms --rise 3 --fall 3`)
	n.Set("tcp", rs0, nil) // failing, but not yet fall times
	stats := func(syn uint64) *control.Stats {
		return &control.Stats{Services: []control.ServiceStats{{
			Key: control.ServiceKey{Proto: 6, Addr: netip.MustParseAddr("198.18.0.10"), Port: 80},
			RealServers: []control.RealServerStats{{Addr: netip.MustParseAddr("198.18.1.2"), Port: 8080,
				SynTimeouts: syn}},
		}}}
	}
	ts.fake.setStats(stats(5))
	ts.sampleRates(EstimatorInterval) // first look: a baseline, nothing grew
	if w := ts.fake.weights(80); w[rs0] != 1 {
		t.Fatalf("down on the first look: %v", w)
	}
	ts.fake.setStats(stats(7))
	ts.sampleRates(EstimatorInterval)
	if w := ts.fake.weights(80); w[rs0] != 0 {
		t.Fatalf("SYN timeouts grew, still up: %v", w)
	}
	if h := ts.mustAdm(t, "show", "health"); !strings.Contains(h, "down*") {
		t.Errorf("show health lacks the passive mark:\n%s", h)
	}
	n.Set("tcp", rs0, mgmttest.AcceptAll)
	waitFor(t, "active checks to pass", func() bool { return ts.fake.weights(80)[rs0] == 1 })
}

// TestHealthRestart: the health configuration persists and a restarted server checks again.
func TestHealthRestart(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "xdpvs.conf")
	rules := "-A -t 198.18.0.10:80 -s rr\n" +
		"-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 1\n" +
		"--health -t 198.18.0.10:80 --check http --path /health --expect 204 --interval 100ms --timeout 50ms --rise 1 --fall 1 --on-fail quiesce --sorry 198.18.3.2:8080 -m\n"
	if err := os.WriteFile(conf, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	n := mgmttest.NewFakeNet()
	ts := newTestServer(t, Config{dial: n.Dial, ConfigPath: conf})
	if got := ts.mustAdm(t, "-S"); got != rules {
		t.Errorf("-S after load:\n%s", got)
	}
	waitFor(t, "sorry server", func() bool { return ts.fake.weights(80)["198.18.3.2:8080"] == 1 })
	if out := ts.mustAdm(t, "-S", "-o", "json"); !strings.Contains(out, `"check": "http"`) {
		t.Errorf("-S -o json lacks the health check:\n%s", out)
	}
}
