package mgmt

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// fakeNet is an in-memory network for the checkers: a dial to an address runs that address's
// handler on the far end of a net.Pipe; an address without a handler refuses.
type fakeNet struct {
	mu       sync.Mutex
	handlers map[string]func(net.Conn)
	dials    map[string]int
}

func newFakeNet() *fakeNet {
	return &fakeNet{handlers: map[string]func(net.Conn){}, dials: map[string]int{}}
}

func (n *fakeNet) set(network, addr string, h func(net.Conn)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h == nil {
		delete(n.handlers, network+"/"+addr)
		return
	}
	n.handlers[network+"/"+addr] = h
}

func (n *fakeNet) dialCount(network, addr string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials[network+"/"+addr]
}

func (n *fakeNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	h := n.handlers[network+"/"+addr]
	n.dials[network+"/"+addr]++
	n.mu.Unlock()
	if h == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	c, s := net.Pipe()
	go func() {
		defer s.Close()
		h(s)
	}()
	return c, nil
}

// acceptAll is a TCP handler that accepts and closes.
func acceptAll(c net.Conn) {}

// httpHandler serves one HTTP exchange on the pipe with h.
func httpHandler(h http.Handler, tlsCfg *tls.Config) func(net.Conn) {
	return func(c net.Conn) {
		if tlsCfg != nil {
			tc := tls.Server(c, tlsCfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
		}
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		rw := &pipeResponse{hdr: http.Header{}, status: 200}
		h.ServeHTTP(rw, req)
		resp := &http.Response{StatusCode: rw.status, ProtoMajor: 1, ProtoMinor: 1, Header: rw.hdr,
			Body: http.NoBody, ContentLength: 0, Close: true}
		resp.Write(c)
	}
}

type pipeResponse struct {
	hdr    http.Header
	status int
}

func (p *pipeResponse) Header() http.Header         { return p.hdr }
func (p *pipeResponse) Write(b []byte) (int, error) { return len(b), nil }
func (p *pipeResponse) WriteHeader(s int)           { p.status = s }

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rs.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"rs.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func check(t *testing.T, c Checker, target string, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx, netip.MustParseAddrPort(target))
}

func TestCheckers(t *testing.T) {
	n := newFakeNet()
	rs := "198.18.1.2:8080"
	svc := ServiceKey{TCP, netip.MustParseAddr("198.18.0.10"), 80}

	// TCP connect.
	tcp := checkerFor(&HealthSpec{Check: CheckTCP}, svc, n.dial)
	if err := check(t, tcp, rs, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("tcp to nothing: %v", err)
	}
	n.set("tcp", rs, acceptAll)
	if err := check(t, tcp, rs, time.Second); err != nil {
		t.Errorf("tcp: %v", err)
	}

	// HTTP: the path, the Host header and the status; redirects are not followed.
	var gotHost, gotPath string
	var mu sync.Mutex
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotPath = r.Host, r.URL.Path
		mu.Unlock()
		switch r.URL.Path {
		case "/health":
			w.WriteHeader(200)
		case "/moved":
			w.Header().Set("Location", "/health")
			w.WriteHeader(301)
		default:
			w.WriteHeader(503)
		}
	})
	n.set("tcp", rs, httpHandler(mux, nil))
	for _, tc := range []struct {
		spec HealthSpec
		want string
	}{
		{HealthSpec{Check: CheckHTTP, Path: "/health", Expect: 200}, ""},
		{HealthSpec{Check: CheckHTTP, Path: "/", Expect: 200}, "status 503, want 200"},
		{HealthSpec{Check: CheckHTTP, Path: "/moved", Expect: 301}, ""},
		{HealthSpec{Check: CheckHTTP, Path: "/moved", Expect: 200}, "status 301, want 200"},
		{HealthSpec{Check: CheckHTTP, Path: "/health", Host: "www.example", Expect: 200}, ""},
	} {
		err := check(t, checkerFor(&tc.spec, svc, n.dial), rs, time.Second)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || err.Error() != tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
	mu.Lock()
	if gotHost != "www.example" || gotPath != "/health" {
		t.Errorf("last request Host %q path %q", gotHost, gotPath)
	}
	mu.Unlock()

	// HTTPS, certificate not verified.
	n.set("tcp", rs, httpHandler(mux, selfSigned(t)))
	https := checkerFor(&HealthSpec{Check: CheckHTTPS, Path: "/health", Expect: 200}, svc, n.dial)
	if err := check(t, https, rs, 2*time.Second); err != nil {
		t.Errorf("https: %v", err)
	}
	// An HTTP check against a silent server times out.
	n.set("tcp", rs, func(c net.Conn) { time.Sleep(time.Second) })
	if err := check(t, checkerFor(&HealthSpec{Check: CheckHTTP, Path: "/", Expect: 200}, svc, n.dial), rs, 50*time.Millisecond); err == nil {
		t.Error("http to a silent server passed")
	}

	// UDP: a reply that must contain the text, or just no error.
	udpSvc := ServiceKey{UDP, svc.Address, 53}
	echo := func(prefix string) func(net.Conn) {
		return func(c net.Conn) {
			b := make([]byte, 100)
			k, err := c.Read(b)
			if err == nil {
				c.Write(append([]byte(prefix), b[:k]...))
			}
		}
	}
	n.set("udp", rs, echo("pong:"))
	if err := check(t, checkerFor(&HealthSpec{Check: CheckUDP, Send: "ping", Receive: "pong:ping"}, udpSvc, n.dial), rs, time.Second); err != nil {
		t.Errorf("udp reply: %v", err)
	}
	if err := check(t, checkerFor(&HealthSpec{Check: CheckUDP, Send: "ping", Receive: "nope"}, udpSvc, n.dial), rs, 100*time.Millisecond); err == nil {
		t.Error("udp: a wrong reply passed")
	}
	n.set("udp", rs, func(c net.Conn) { c.Read(make([]byte, 100)); time.Sleep(time.Second) })
	if err := check(t, checkerFor(&HealthSpec{Check: CheckUDP}, udpSvc, n.dial), rs, 100*time.Millisecond); err != nil {
		t.Errorf("udp, silence is no error: %v", err)
	}
	n.set("udp", rs, func(c net.Conn) { c.Read(make([]byte, 100)) }) // closes: the read fails like an ICMP error
	if err := check(t, checkerFor(&HealthSpec{Check: CheckUDP}, udpSvc, n.dial), rs, time.Second); err == nil {
		t.Error("udp: an error passed")
	}
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScriptChecker(t *testing.T) {
	svc := ServiceKey{TCP, netip.MustParseAddr("198.18.0.10"), 80}
	out := filepath.Join(t.TempDir(), "args")
	ok := writeScript(t, `echo "$1 $2 $XDPVS_VIP $XDPVS_VPORT $XDPVS_PROTOCOL" > `+out+`; exit 0`)
	if err := check(t, checkerFor(&HealthSpec{Check: CheckScript, Script: ok}, svc, nil), "198.18.1.2:8080", 5*time.Second); err != nil {
		t.Fatalf("script: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "198.18.1.2 8080 198.18.0.10 80 TCP\n" {
		t.Errorf("script saw %q", b)
	}
	bad := writeScript(t, `echo "no backend"; exit 3`)
	err := check(t, checkerFor(&HealthSpec{Check: CheckScript, Script: bad}, svc, nil), "198.18.1.2:8080", 5*time.Second)
	if err == nil || err.Error() != "exit status 3: no backend" {
		t.Errorf("failing script: %v", err)
	}
	// A script that hangs, with a child holding its output, is killed with its group on timeout.
	slow := writeScript(t, `sleep 30 & sleep 30`)
	start := time.Now()
	err = check(t, checkerFor(&HealthSpec{Check: CheckScript, Script: slow}, svc, nil), "198.18.1.2:8080", 200*time.Millisecond)
	if err == nil || err.Error() != "script timed out" || time.Since(start) > 3*time.Second {
		t.Errorf("slow script: %v after %v", err, time.Since(start))
	}
}

func TestParseHealth(t *testing.T) {
	for _, tc := range []struct {
		line, want string // want: the -S options, or the error
	}{
		{"--health -t 198.18.0.10:80 --check http --path /health --expect 200 --interval 2s --timeout 1s --rise 2 --fall 3",
			"--check http --path /health --expect 200 --interval 2s --timeout 1s --rise 2 --fall 3 --on-fail quiesce"},
		{"--health -t 198.18.0.10:80 --check tcp", "--check tcp --interval 2s --timeout 1s --rise 2 --fall 3 --on-fail quiesce"},
		{"--health -t 198.18.0.10:80 --check https --host www.example --interval 5 --timeout 0.5 --on-fail remove --sorry 198.18.3.2:8080 -m",
			"--check https --path / --host www.example --expect 200 --interval 5s --timeout 500ms --rise 2 --fall 3 --on-fail remove --sorry 198.18.3.2:8080 -m"},
		{"--health -u [2001:2::10]:53 --check udp --send ping --receive pong --check-port 5353 --sorry [2001:2:0:3::2]",
			"--check udp --check-port 5353 --send ping --receive pong --interval 2s --timeout 1s --rise 2 --fall 3 --on-fail quiesce --sorry [2001:2:0:3::2]:53 -g"},
		{"--health -t 198.18.0.10:80 --check script --script /usr/local/bin/check --interval=300ms --timeout=100ms --rise=1 --fall=1",
			"--check script --script /usr/local/bin/check --interval 300ms --timeout 100ms --rise 1 --fall 1 --on-fail quiesce"},
		{"--health -t 198.18.0.10:80 --check none", ""},
		{"--health --check tcp", "You need to supply the 'service-address' option for the 'health' command"},
		{"--health -t 198.18.0.10:80", "--health needs --check tcp|http|https|udp|script or none"},
		{"--health -t 198.18.0.10:80 --check ftp", "unknown health check `ftp' (tcp, http, https, udp, script or none)"},
		{"--health -t 198.18.0.10:80 --check tcp --rise 0", "--rise `0' must be in [1, 100]"},
		{"--health -t 198.18.0.10:80 --check tcp --interval soon", "--interval: invalid duration `soon' (like 2s or 500ms)"},
		{"--health -t 198.18.0.10:80 --check http --expect 42", "--expect `42' is not an HTTP status"},
		{"--health -t 198.18.0.10:80 --check tcp --on-fail panic", "unknown --on-fail `panic' (quiesce or remove)"},
		{"--health -t 198.18.0.10:80 --check tcp -m", "a forwarding method goes with --sorry"},
		{"--health -t 198.18.0.10:80 --check tcp --frobnicate 1", "--frobnicate: unknown option for --health"},
		{"--health -t 198.18.0.10:80 --check tcp --check tcp", "multiple 'check' options specified"},
		{"--health -t 198.18.0.10:80 --check none --rise 2", "--check none takes no other health option"},
		{"--health -t 198.18.0.10:80 --check tcp --interval", "--interval: missing argument"},
	} {
		c, err := ParseArgs(strings.Fields(tc.line))
		got := ""
		switch {
		case err != nil:
			got = err.Error()
		case c.Health.Enabled():
			got = healthArgs(c.Health)
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.line, got, tc.want)
		}
	}
}

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
	n := newFakeNet()
	conf := filepath.Join(t.TempDir(), "xdpvs.conf")
	ts := newTestServer(t, Config{dial: n.dial, ConfigPath: conf})
	rs0, rs1 := "198.18.1.2:8080", "198.18.2.2:8080"
	n.set("tcp", rs0, acceptAll)
	n.set("tcp", rs1, acceptAll)
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s wrr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 3
-a -t 198.18.0.10:80 -r 198.18.2.2:8080 -m -w 5
--health -t 198.18.0.10:80 --check tcp --interval 100ms --timeout 50ms --rise 2 --fall 2 --sorry 198.18.3.2:8080 -m`)
	f := ts.fake
	all := map[string]uint32{rs0: 3, rs1: 5}
	waitFor(t, "checks", func() bool { return n.dialCount("tcp", rs0) >= 2 && n.dialCount("tcp", rs1) >= 2 })
	if w := f.weights(80); !sameWeights(w, all) {
		t.Fatalf("weights %v", w)
	}

	// rs0 fails: quiesced (weight 0), its configured weight kept.
	n.set("tcp", rs0, nil)
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
	var js struct{ Services []ServiceState }
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
	n.set("tcp", rs1, nil)
	sorry := map[string]uint32{rs0: 0, rs1: 0, "198.18.3.2:8080": 1}
	waitFor(t, "sorry server", func() bool { return sameWeights(f.weights(80), sorry) })
	if list := ts.mustAdm(t, "-Ln"); !strings.Contains(list, "  -> 198.18.3.2:8080              Masq    1 ") {
		t.Errorf("-Ln with the sorry server:\n%s", list)
	}
	if saved2 := ts.mustAdm(t, "-S"); saved2 != saved {
		t.Errorf("-S changed with the health:\n%s", saved2)
	}

	// rs1 comes back after rise successes: the sorry server leaves.
	n.set("tcp", rs1, acceptAll)
	waitFor(t, "rs1 up", func() bool { return sameWeights(f.weights(80), map[string]uint32{rs0: 0, rs1: 5}) })

	// on-fail remove: rs0 leaves the snapshot; it is not listed by -L but is in the JSON.
	ts.mustAdm(t, "--health", "-t", "198.18.0.10:80", "--check", "tcp", "--interval", "100ms", "--timeout", "50ms",
		"--rise", "2", "--fall", "2", "--on-fail", "remove")
	waitFor(t, "rs0 removed", func() bool { return sameWeights(f.weights(80), map[string]uint32{rs1: 5}) })
	if list := ts.mustAdm(t, "-Ln"); strings.Contains(list, "198.18.1.2") {
		t.Errorf("-Ln lists a removed server:\n%s", list)
	}
	n.set("tcp", rs0, acceptAll)
	waitFor(t, "rs0 back", func() bool { return sameWeights(f.weights(80), all) })

	// --check none: no more checks, every server in.
	ts.mustAdm(t, "--health", "-t", "198.18.0.10:80", "--check", "none")
	n.set("tcp", rs0, nil)
	before := n.dialCount("tcp", rs0)
	time.Sleep(300 * time.Millisecond)
	if after := n.dialCount("tcp", rs0); after > before+1 {
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
	n := newFakeNet()
	ts := newTestServer(t, Config{dial: n.dial})
	rs0 := "198.18.1.2:8080"
	ts.mustLines(t, `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m
--health -t 198.18.0.10:80 --check tcp --interval 300ms --timeout 50ms --rise 3 --fall 3`)
	n.set("tcp", rs0, nil) // failing, but not yet fall times
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
	n.set("tcp", rs0, acceptAll)
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
	n := newFakeNet()
	ts := newTestServer(t, Config{dial: n.dial, ConfigPath: conf})
	if got := ts.mustAdm(t, "-S"); got != rules {
		t.Errorf("-S after load:\n%s", got)
	}
	waitFor(t, "sorry server", func() bool { return ts.fake.weights(80)["198.18.3.2:8080"] == 1 })
	if out := ts.mustAdm(t, "-S", "-o", "json"); !strings.Contains(out, `"check": "http"`) {
		t.Errorf("-S -o json lacks the health check:\n%s", out)
	}
}
