package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// The operations tests: health checks and the sorry server, Prometheus metrics, rates under a
// known load, and a configuration that survives SIGKILL. They run on the NAT layout of
// internal/topo, each with its own daemon (and flags) and its own servers.

// newOpsEnv is newEnv with rsCount real servers, extra daemon flags and no servers started.
func newOpsEnv(t *testing.T, name string, rsCount int, extra ...string) *env {
	t.Helper()
	testutil.RequireRoot(t)
	b := binaries(t)
	nat, err := topo.NewNAT(topo.Prefix(name), rsCount, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nat.Close(); err != nil {
			t.Error(err)
		}
	})
	d, err := topo.StartDaemon(nat.Director, b.xdpvsd, t.TempDir(), nat.Ifaces(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, nat: nat, clientNS: nat.Client, d: d, adm: b.adm, client: topo.HTTPClient(nat.Client, false)}
	t.Cleanup(func() {
		if err := e.d.Stop(); err != nil && !strings.Contains(err.Error(), "signal: killed") {
			t.Errorf("xdpvsd: %v\n%s", err, e.d.Log)
		}
		if t.Failed() {
			t.Logf("xdpvsd log:\n%s", e.d.Log)
		}
	})
	e.client.Timeout = 2 * time.Second
	return e
}

// serveHTTP starts real server i's HTTP server on :8080, stopped at the end of the test.
func (e *env) serveHTTP(i int) *topo.HTTPServer {
	e.t.Helper()
	s, err := topo.ServeHTTP(e.nat.RS[i], netip.MustParseAddrPort(topo.RS4(i)+":8080"), fmt.Sprintf("rs%d", i))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// listJSON is `xdpvsadm -Ln -o json` (or of one service).
func (e *env) listJSON(args ...string) []api.ServiceState {
	e.t.Helper()
	var st struct{ Services []api.ServiceState }
	if err := json.Unmarshal([]byte(e.adm1(append([]string{"-Ln", "-o", "json"}, args...)...)), &st); err != nil {
		e.t.Fatal(err)
	}
	return st.Services
}

// serverUp reports the health of one real server of the first service, by address.
func (e *env) serverUp(addr string) (up, known bool) {
	e.t.Helper()
	for _, s := range e.listJSON() {
		for _, d := range s.RealServers {
			if d.Address.String() == addr && d.Health != nil {
				return d.Health.Up, true
			}
		}
	}
	return false, false
}

// waitUntil polls cond every 50 ms for at most limit and returns how long it took.
func (e *env) waitUntil(what string, limit time.Duration, cond func() bool) time.Duration {
	e.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			e.t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// requests makes n HTTP requests to VIP:80, each on a new connection, and counts the answers by
// server; failed requests are counted under "error".
func (e *env) requests(n int) map[string]int {
	e.t.Helper()
	got := map[string]int{}
	url := topo.URL(topo.VIP4, 80, "/")
	for range n {
		body, server, err := topo.Get(e.client, url)
		switch {
		case err != nil:
			got["error"]++
		case string(body) != server:
			e.t.Fatalf("body %q from %q", body, server)
		default:
			got[server]++
		}
	}
	return got
}

// scrape fetches the daemon's metrics from inside the director's namespace.
func (e *env) scrape(addr string) string {
	e.t.Helper()
	c := topo.HTTPClient(e.nat.Director, false)
	c.Timeout = 5 * time.Second
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("scrape: %s %v", resp.Status, err)
	}
	return string(b)
}

// metric finds one sample of a scrape by its name and labels ("name{a=\"b\",...}").
func metric(t *testing.T, scrape, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no %s in the scrape", series)
	return 0
}

// TestHealthCheck: an HTTP check (interval 500 ms, fall 2, rise 2) over two real servers with a
// sorry server. Stopping rs0's HTTP server takes it out within interval × fall (+ slack) and
// every new connection after that succeeds on rs1; starting it again brings it back; with both
// stopped the sorry server answers. The metrics follow, and every transition is logged.
func TestHealthCheck(t *testing.T) {
	t.Parallel()
	const metricsAddr = "198.18.0.1:9100" // the director's own address on the client side
	e := newOpsEnv(t, "hc", 3, "--metrics", metricsAddr)
	rs0 := e.serveHTTP(0)
	rs1 := e.serveHTTP(1)
	e.serveHTTP(2) // the sorry server
	vip := topo.VIP4 + ":80"
	e.adm1("-A", "-t", vip, "-s", "rr")
	e.adm1("-a", "-t", vip, "-r", topo.RS4(0)+":8080", "-m")
	e.adm1("-a", "-t", vip, "-r", topo.RS4(1)+":8080", "-m")
	const interval, fall, rise = 500 * time.Millisecond, 2, 2
	e.adm1("--health", "-t", vip, "--check", "http", "--path", "/", "--expect", "200", "--interval", "500ms",
		"--timeout", "300ms", "--rise", "2", "--fall", "2", "--sorry", topo.RS4(2)+":8080", "-m")
	if saved := e.adm1("-S"); !strings.Contains(saved, "--health -t "+vip+" --check http --path / --expect 200 --interval 500ms --timeout 300ms --rise 2 --fall 2 --on-fail quiesce --sorry "+topo.RS4(2)+":8080 -m\n") {
		t.Fatalf("-S:\n%s", saved)
	}
	// The checks pass from the director's own address.
	e.waitUntil("first checks", 5*time.Second, func() bool {
		for _, s := range e.listJSON() {
			for _, d := range s.RealServers {
				if d.Health == nil || d.Health.Successes < 1 {
					return false
				}
			}
		}
		return true
	})
	if got := e.requests(20); got["rs0"] != 10 || got["rs1"] != 10 {
		t.Fatalf("before: %v", got)
	}

	// rs0 stops answering HTTP.
	rs0.Close()
	took := e.waitUntil("rs0 marked down", interval*fall+time.Second, func() bool { up, _ := e.serverUp(topo.RS4(0)); return !up })
	t.Logf("rs0 marked down %v after its HTTP server stopped (interval %v × fall %d)", took.Round(time.Millisecond), interval, fall)
	if got := e.requests(30); got["rs1"] != 30 {
		t.Fatalf("after detection: %v, want every request on rs1", got)
	}
	list := e.adm1("-Ln")
	if !strings.Contains(list, "  -> "+topo.RS4(0)+":8080              Masq    0 ") {
		t.Errorf("-Ln does not show rs0 quiesced:\n%s", list)
	}
	m := e.scrape(metricsAddr)
	rsl := func(i int) string {
		return fmt.Sprintf(`{port="80",protocol="TCP",server="%s",server_port="8080",vip="%s"}`, topo.RS4(i), topo.VIP4)
	}
	if metric(t, m, "xdpvs_real_server_up"+rsl(0)) != 0 || metric(t, m, "xdpvs_real_server_up"+rsl(1)) != 1 ||
		metric(t, m, "xdpvs_real_server_weight"+rsl(0)) != 1 || metric(t, m, "xdpvs_real_server_effective_weight"+rsl(0)) != 0 {
		t.Errorf("metrics of rs0 down:\n%s", grepLines(m, "xdpvs_real_server_(up|weight|effective)"))
	}
	if c := metric(t, m, "xdpvs_real_server_connections_total"+rsl(1)); c < 25 {
		t.Errorf("rs1 connections %v", c)
	}
	for _, series := range []string{
		`xdpvs_service_connections_total{port="80",protocol="TCP",vip="198.18.0.10"}`,
		`xdpvs_service_packets_total{direction="in",port="80",protocol="TCP",vip="198.18.0.10"}`,
		`xdpvs_service_connections_per_second{port="80",protocol="TCP",vip="198.18.0.10"}`,
		`xdpvs_real_server_inactive_connections` + rsl(1),
		`xdpvs_real_server_health_checks_total{port="80",protocol="TCP",result="failure",server="198.18.1.2",server_port="8080",vip="198.18.0.10"}`,
		`xdpvs_worker_rx_packets_total{queue="0",worker="0"}`,
		`xdpvs_service_sorry_active{port="80",protocol="TCP",vip="198.18.0.10"}`,
	} {
		metric(t, m, series)
	}
	if !strings.Contains(m, "xdpvs_worker_drops_total{") || !strings.Contains(m, "xdpvs_worker_socket_statistics_total{") {
		t.Errorf("no drops or socket statistics in the scrape:\n%s", grepLines(m, "xdpvs_worker"))
	}

	// rs0 back.
	rs0 = e.serveHTTP(0)
	took = e.waitUntil("rs0 back", interval*rise+time.Second, func() bool { up, _ := e.serverUp(topo.RS4(0)); return up })
	t.Logf("rs0 back %v after its HTTP server started (interval %v × rise %d)", took.Round(time.Millisecond), interval, rise)
	if got := e.requests(20); got["rs0"] == 0 || got["rs1"] == 0 || got["error"] != 0 {
		t.Fatalf("after recovery: %v", got)
	}

	// Both down: the sorry server.
	rs0.Close()
	rs1.Close()
	e.waitUntil("sorry server", interval*fall+time.Second, func() bool { return e.listJSON()[0].SorryActive })
	if got := e.requests(10); got["rs2"] != 10 {
		t.Fatalf("with every real server down: %v, want the sorry server rs2", got)
	}
	if list := e.adm1("-Ln"); !strings.Contains(list, "  -> "+topo.RS4(2)+":8080              Masq    1 ") {
		t.Errorf("-Ln does not show the sorry server:\n%s", list)
	}
	t.Logf("\n%s", e.adm1("show", "health"))
	e.serveHTTP(1)
	e.waitUntil("sorry server released", interval*rise+time.Second, func() bool { return !e.listJSON()[0].SorryActive })
	if got := e.requests(10); got["rs1"] != 10 {
		t.Fatalf("after rs1 came back: %v", got)
	}
	log := e.d.Log.String()
	for _, want := range []string{"real server down", "real server up", "sorry server in use", "sorry server released"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	t.Logf("transitions logged:\n%s", grepLines(log, "real server|sorry server"))
}

func grepLines(s, pattern string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range strings.Split(pattern, "|") {
			if strings.Contains(l, strings.Trim(p, "()")) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestUDPHealthCheck: a UDP check that wants the echo's reply; rs0 has no listener and is
// removed (on-fail remove), and the datagrams all go to rs1.
func TestUDPHealthCheck(t *testing.T) {
	t.Parallel()
	e, vip := udpHealthEnv(t, "uhc", "--receive", "ping")
	e.waitUntil("rs0 down, rs1 up", 5*time.Second, func() bool {
		up0, _ := e.serverUp(topo.RS4(0))
		up1, known := e.serverUp(topo.RS4(1))
		return !up0 && up1 && known
	})
	if list := e.adm1("-Ln", "-u", vip); strings.Contains(list, topo.RS4(0)) {
		t.Errorf("a removed server is listed:\n%s", list)
	}
	if got := e.udp(false, 10); got["rs1"] != 10 {
		t.Fatalf("udp after detection: %v", got)
	}
}

// TestUDPHealthCheckICMP: a UDP check without an expected reply fails on the ICMP port
// unreachable that rs0's kernel sends to the director's own address.
func TestUDPHealthCheckICMP(t *testing.T) {
	t.Parallel()
	e, _ := udpHealthEnv(t, "uhi")
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond { // interval 300 ms × fall 1, and slack
		if up, _ := e.serverUp(topo.RS4(0)); !up {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("rs0 (no UDP listener) not marked down:\n%s\n%s", e.adm1("show", "health"), e.adm1("show", "drops"))
}

// udpHealthEnv: VIP:53 over rs0:5353 (nothing listens) and rs1:5353 (an echo), with a UDP check.
func udpHealthEnv(t *testing.T, name string, check ...string) (*env, string) {
	e := newOpsEnv(t, name, 2)
	u, err := topo.ServeUDPEcho(e.nat.RS[1], netip.MustParseAddrPort(topo.RS4(1)+":5353"), "rs1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	vip := topo.VIP4 + ":53"
	e.adm1("-A", "-u", vip, "-s", "rr")
	e.adm1("-a", "-u", vip, "-r", topo.RS4(0)+":5353", "-m")
	e.adm1("-a", "-u", vip, "-r", topo.RS4(1)+":5353", "-m")
	e.adm1(append([]string{"--health", "-u", vip, "--check", "udp", "--send", "ping", "--interval", "300ms", "--timeout", "200ms",
		"--rise", "1", "--fall", "1", "--on-fail", "remove"}, check...)...)
	return e, vip
}

// TestRates offers a UDP NAT service a known load, paced by the clock: 500 datagrams per second,
// each from a new socket on a source port not used before (a new connection), each echoed by the
// real server. After the estimator has converged (IPVS's EWMA of weight 1/4 over 2 s samples
// keeps (3/4)^n of the start, so it needs 14 samples to come within 2 %), cps, inpps and outpps
// must be within 5 % of the offered rate. It runs beside the other parallel tests: 30 s of load.
func TestRates(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t, "rate", 2)
	for i := range 2 {
		u, err := topo.ServeUDPEcho(e.nat.RS[i], netip.MustParseAddrPort(topo.RS4(i)+":5353"), fmt.Sprintf("rs%d", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
	}
	vip := topo.VIP4 + ":53"
	e.adm1("-A", "-u", vip, "-s", "rr")
	e.adm1("-a", "-u", vip, "-r", topo.RS4(0)+":5353", "-m")
	e.adm1("-a", "-u", vip, "-r", topo.RS4(1)+":5353", "-m")

	const (
		rate     = 500
		duration = 30 * time.Second
		basePort = 20000 // source ports basePort.. , one per datagram
		payload  = 100
	)
	var sent, replies, sendErrs atomic.Int64
	conns := make(chan *net.UDPConn, 4096)
	var readers sync.WaitGroup
	for range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 2048)
			for c := range conns {
				c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(buf); err == nil {
					replies.Add(1)
				}
				c.Close()
			}
		}()
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		defer close(conns)
		msg := bytes.Repeat([]byte("x"), payload)
		dst := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(vip))
		port := basePort
		// The sockets are made on a thread inside the client's namespace.
		done <- e.nat.Client.Do(func() error {
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for now := range tick.C {
				if now.Sub(start) >= duration {
					return nil
				}
				due := int64(now.Sub(start).Seconds() * rate)
				for sent.Load() < due {
					// A port of the kernel's own (a reply socket of the readers) is skipped.
					var c *net.UDPConn
					var err error
					for c == nil && port < 65000 {
						c, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(topo.Client4), uint16(port))), dst)
						port++
					}
					if c == nil {
						return err
					}
					if _, err := c.Write(msg); err != nil {
						sendErrs.Add(1)
					}
					sent.Add(1)
					conns <- c
				}
			}
			return nil
		})
	}()
	// Follow the estimator while the load runs.
	var last api.Rates
	var trace []string
	for time.Since(start) < duration-300*time.Millisecond {
		s := e.listJSON("-u", vip)
		if len(s) == 1 && s[0].Rate != last {
			last = s[0].Rate
			trace = append(trace, fmt.Sprintf("%5.1fs cps %d inpps %d outpps %d inbps %d outbps %d",
				time.Since(start).Seconds(), last.CPS, last.InPPS, last.OutPPS, last.InBPS, last.OutBPS))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	readers.Wait()
	offered := float64(sent.Load()) / duration.Seconds()
	t.Logf("offered %d datagrams in %v (%.1f/s), %d replies, %d send errors; estimator:\n%s",
		sent.Load(), duration, offered, replies.Load(), sendErrs.Load(), strings.Join(trace, "\n"))
	t.Logf("\n%s", e.adm1("-Ln", "--rate", "-u", vip))
	t.Logf("\n%s", e.adm1("-Ln", "--stats", "-u", vip))
	if replies.Load() < sent.Load()*99/100 {
		t.Errorf("only %d replies to %d datagrams", replies.Load(), sent.Load())
	}
	for _, r := range []struct {
		name string
		v    uint64
	}{{"cps", last.CPS}, {"inpps", last.InPPS}, {"outpps", last.OutPPS}} {
		dev := (float64(r.v) - rate) / rate
		t.Logf("%s %d: %+.1f %% of the offered %d/s", r.name, r.v, dev*100, rate)
		if math.Abs(dev) > 0.05 {
			t.Errorf("%s %d is not within 5 %% of %d/s", r.name, r.v, rate)
		}
	}
	// Bytes are counted as IP packets: 20 + 8 bytes of headers; the echo adds "rsN:".
	for _, r := range []struct {
		name      string
		v, expect uint64
	}{{"inbps", last.InBPS, rate * (payload + 28)}, {"outbps", last.OutBPS, rate * (payload + 4 + 28)}} {
		dev := (float64(r.v) - float64(r.expect)) / float64(r.expect)
		t.Logf("%s %d: %+.1f %% of the offered %d B/s", r.name, r.v, dev*100, r.expect)
		if math.Abs(dev) > 0.05 {
			t.Errorf("%s %d is not within 5 %% of %d B/s", r.name, r.v, r.expect)
		}
	}
}

// TestConfigSurvivesKill: while xdpvsadm adds and deletes real servers in a loop, the daemon is
// killed with SIGKILL. The configuration file parses and holds every change that was
// acknowledged (and at most the one in flight); the daemon starts from it and -S gives it back
// exactly. Three rounds. Then a bad file is refused with its line and reason, before any XDP
// program is attached.
func TestConfigSurvivesKill(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "xdpvs.conf")
	e := newOpsEnv(t, "kill", 1, "--config", conf)
	xdpvsd := binaries(t).xdpvsd
	vip := topo.VIP4 + ":80"
	e.adm1("-A", "-t", vip, "-s", "wrr")
	acked := map[uint16]bool{}
	next := uint16(10000)
	for round := range 3 {
		pid := daemonPID(t, e)
		// The writer: add a server, and delete the one added four steps before.
		type op struct {
			add  bool
			port uint16
		}
		var inflight *op
		stop := make(chan struct{})
		writerDone := make(chan struct{})
		var applied int
		go func() {
			defer close(writerDone)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := op{add: true, port: next}
				if i%2 == 1 && acked[next-4] {
					o = op{add: false, port: next - 4}
				}
				args := []string{"-a", "-t", vip, "-r", fmt.Sprintf("%s:%d", topo.RS4(0), o.port), "-m", "-w", "2"}
				if !o.add {
					args = []string{"-d", "-t", vip, "-r", fmt.Sprintf("%s:%d", topo.RS4(0), o.port)}
				}
				inflight = &o
				if _, err := e.d.Adm(e.adm, args...); err != nil {
					return // the daemon is gone: this one is in doubt
				}
				inflight = nil
				applied++
				acked[o.port] = o.add
				if o.add {
					next++
				}
			}
		}()
		time.Sleep(time.Duration(700+round*300) * time.Millisecond)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-writerDone
		close(stop)
		e.d.Stop()

		// The file: it parses, and it holds what was acknowledged, give or take the change in flight.
		f, err := os.Open(conf)
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := cli.ParseRules(f, conf)
		f.Close()
		if err != nil {
			t.Fatalf("round %d: the configuration does not parse: %v", round, err)
		}
		inFile := map[uint16]bool{}
		for _, c := range cmds {
			if c.Op == model.OpAddServer {
				inFile[c.Server.Port] = true
			}
		}
		want := map[uint16]bool{}
		for p, in := range acked {
			if in {
				want[p] = true
			}
		}
		alt := map[uint16]bool{}
		for p := range want {
			alt[p] = true
		}
		if inflight != nil {
			if inflight.add {
				alt[inflight.port] = true
			} else {
				delete(alt, inflight.port)
			}
		}
		if fmt.Sprint(inFile) != fmt.Sprint(want) && fmt.Sprint(inFile) != fmt.Sprint(alt) {
			t.Fatalf("round %d: the file has servers %v, acknowledged %v (in flight %+v)", round, keys(inFile), keys(want), inflight)
		}
		if inflight != nil && inFile[inflight.port] == inflight.add {
			acked[inflight.port] = inflight.add // it was applied before the kill
			if inflight.add {
				next++
			}
		}
		t.Logf("round %d: %d changes acknowledged, killed with %d servers in the file (in flight: %+v)", round, applied, len(inFile), inflight)

		// The daemon starts from it and gives it back.
		saved, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		d, err := topo.StartDaemon(e.nat.Director, xdpvsd, t.TempDir(), e.nat.Ifaces(), "--config", conf)
		if err != nil {
			t.Fatalf("round %d: restart from the file: %v", round, err)
		}
		e.d = d
		if got := e.adm1("-S"); got != string(saved) {
			t.Fatalf("round %d: -S after the restart differs from the file:\n%s\n---\n%s", round, got, saved)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(conf), ".*.tmp")); len(matches) > 0 {
		t.Logf("temporary files left by the kills (ignored on load): %v", matches)
	}

	// A bad file: refused with FILE:LINE: reason, nothing attached, no socket.
	if err := e.d.Stop(); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("-A -t 198.18.0.10:80 -s rr\n# a comment\n-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 70000\n"), 0o600)
	_, err := topo.StartDaemon(e.nat.Director, xdpvsd, t.TempDir(), e.nat.Ifaces(), "--config", bad)
	if err == nil || !strings.Contains(err.Error(), bad+":3: illegal weight specified") {
		t.Fatalf("a bad configuration: %v", err)
	}
	if with := xdpAttached(t, e); len(with) > 0 {
		t.Fatalf("XDP attached by a daemon refusing its configuration: %v", with)
	}
	// The good one still starts (cleanup stops it).
	if e.d, err = topo.StartDaemon(e.nat.Director, xdpvsd, t.TempDir(), e.nat.Ifaces(), "--config", conf); err != nil {
		t.Fatal(err)
	}
}

func keys(m map[uint16]bool) []uint16 {
	var out []uint16
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
