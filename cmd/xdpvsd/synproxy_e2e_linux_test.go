package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

// synProxyService makes the layout's TCP service SYN-proxied: NAT, or FULLNAT through lip.
func (e *env) synProxyService(v6, fullnat bool, lip string) string {
	e.t.Helper()
	svc := e.natService("-t", v6)
	e.adm1("-E", "-t", svc, "-s", "rr", "-j")
	if fullnat {
		e.adm1("--add-laddr", "-z", lip, "-t", svc)
		for i := range 2 {
			rs := topo.RS4(i)
			if v6 {
				rs = "[" + topo.RS6(i) + "]"
			}
			e.adm1("-e", "-t", svc, "-r", rs+":8080", "-b")
		}
	}
	if l := e.adm1("-Ln"); !strings.Contains(l, "synproxy") {
		e.t.Fatalf("listing lacks synproxy:\n%s", l)
	}
	return svc
}

// synProxyCounters sums `show synproxy` over the workers.
func (e *env) synProxyCounters() map[string]uint64 {
	e.t.Helper()
	var st struct{ Workers []api.WorkerStats }
	if err := json.Unmarshal([]byte(e.adm1("show", "synproxy", "-o", "json")), &st); err != nil {
		e.t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, w := range st.Workers {
		for _, c := range w.Events {
			m[c.Name] += c.Count
		}
		for _, c := range w.Drops {
			m["drop_"+c.Name] += c.Count
		}
		m["conns"] += w.Conns
	}
	return m
}

// TestSynProxy: a SYN-proxied service, NAT and FULLNAT, IPv4 and IPv6 (and NAT with two workers):
// 1,000 short connections split by rr, 50 MiB each way with matching SHA-256, every connection
// opened through a cookie; then the TCP options the client asked for, as both ends see them.
func TestSynProxy(t *testing.T) {
	for _, tc := range []struct {
		fullnat bool
		v6      bool
		workers int
	}{{false, false, 1}, {false, true, 1}, {true, false, 1}, {true, true, 1}, {false, false, 2}} {
		mode, fam, lip := "nat", "v4", lip4
		if tc.fullnat {
			mode = "fullnat"
		}
		if tc.v6 {
			fam, lip = "v6", lip6
		}
		t.Run(fmt.Sprintf("%s/%s/workers=%d", mode, fam, tc.workers), func(t *testing.T) {
			e := newEnv(t, fmt.Sprintf("sp%s%s%d", mode[:1], fam, tc.workers), tc.workers)
			e.synProxyService(tc.v6, tc.fullnat, lip)
			if got := e.shortConnections(1000, tc.v6); got["rs0"] != 500 || got["rs1"] != 500 {
				t.Fatalf("rr split %v, want 500/500", got)
			}
			e.transfers(tc.v6, 50<<20)
			c := e.synProxyCounters()
			t.Logf("\n%s", e.adm1("show", "synproxy"))
			if c["synproxy_handshake_done"] < 1002 || c["synproxy_conn_opened"] != c["synproxy_handshake_done"] ||
				c["synproxy_syn_answered"] < 1002 || c["synproxy_fail_server_rst"]+c["synproxy_fail_server_timeout"]+c["drop_synproxy_bad_cookie"] != 0 {
				t.Errorf("SYN proxy counters: %v", c)
			}
			if tc.fullnat {
				body, _, err := topo.Get(e.client, topo.URL(vipAddr(tc.v6), 80, "/whoami"))
				if peer, perr := netip.ParseAddrPort(string(body)); err != nil || perr != nil || peer.Addr() != netip.MustParseAddr(lip) {
					t.Fatalf("the real server saw %q (%v), want %s", body, err, lip)
				}
			}
			e.checkOptions(tc.v6, tc.fullnat)
			e.checkWorkers(tc.workers)
		})
	}
}

// tcpInfo is what TCP_INFO says of a socket's negotiated options.
type tcpInfo struct {
	opts           uint8 // TCPI_OPT_*
	sndWS, rcvWS   uint8
	sndMSS, advMSS uint32
}

const (
	optTS   = 1 // TCPI_OPT_TIMESTAMPS
	optSACK = 2
	optWS   = 4
)

func (i tcpInfo) String() string {
	return fmt.Sprintf("opts=%d snd_ws=%d rcv_ws=%d snd_mss=%d adv_mss=%d", i.opts, i.sndWS, i.rcvWS, i.sndMSS, i.advMSS)
}

// getTCPInfo reads struct tcp_info (its first bytes; x/sys's TCPInfo leaves out the window-scale
// bit fields).
func getTCPInfo(c *net.TCPConn) (tcpInfo, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return tcpInfo{}, err
	}
	var b [104]byte
	var serr error
	err = raw.Control(func(fd uintptr) {
		l := uint32(len(b))
		if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_TCP, unix.TCP_INFO,
			uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&l)), 0); errno != 0 {
			serr = errno
		}
	})
	if err == nil {
		err = serr
	}
	le := binary.LittleEndian
	return tcpInfo{opts: b[5], sndWS: b[6] & 0xf, rcvWS: b[6] >> 4, sndMSS: le.Uint32(b[16:]), advMSS: le.Uint32(b[84:])}, err
}

var tcpInfoLine = regexp.MustCompile(`^opts=(\d+) snd_ws=(\d+) rcv_ws=(\d+) snd_mss=(\d+) adv_mss=(\d+)$`)

// serveTCPInfo answers every connection to addr with its own tcp_info line and closes it.
func serveTCPInfo(t *testing.T, ns *netns.NS, addr netip.AddrPort) {
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			i, err := getTCPInfo(c.(*net.TCPConn))
			if err == nil {
				fmt.Fprintf(c, "%s\n", i)
			}
			c.Close()
		}
	}()
}

// checkOptions opens connections to VIP:81 (SYN-proxied, to a tcp_info server on each real
// server) with the client's options all on, without timestamps, and all off, and checks what
// each end negotiated: the client with the director (our SYN/ACK), the server with the client's
// options as the director passed them on.
func (e *env) checkOptions(v6, fullnat bool) {
	t := e.t
	t.Helper()
	vip, rs := topo.VIP4, []string{topo.RS4(0), topo.RS4(1)}
	if v6 {
		vip, rs = topo.VIP6, []string{topo.RS6(0), topo.RS6(1)}
	}
	svc := netip.AddrPortFrom(netip.MustParseAddr(vip), 81)
	e.adm1("-A", "-t", svc.String(), "-s", "rr", "-j")
	if fullnat {
		e.adm1("--add-laddr", "-z", map[bool]string{false: lip4, true: lip6}[v6], "-t", svc.String())
	}
	for i, a := range rs {
		ap := netip.AddrPortFrom(netip.MustParseAddr(a), 8081)
		serveTCPInfo(t, e.nat.RS[i], ap)
		method := "-m"
		if fullnat {
			method = "-b"
		}
		e.adm1("-a", "-t", svc.String(), "-r", ap.String(), method)
	}
	// Our SYN/ACK's MSS: a 1500-byte path, less the TOA option for FULLNAT; the client's MSS is
	// passed on rounded down to the cookie's table (1460 and 1440 are in it).
	ourMSS, clientMSS := uint32(1460), uint32(1460)
	if v6 {
		ourMSS, clientMSS = 1440, 1440
	}
	if fullnat {
		ourMSS -= map[bool]uint32{false: 8, true: 20}[v6]
	}
	sysctl := func(ts, sack, ws int) {
		for k, v := range map[string]int{"net.ipv4.tcp_timestamps": ts, "net.ipv4.tcp_sack": sack, "net.ipv4.tcp_window_scaling": ws} {
			if out, err := e.clientNS.Exec("sysctl", "-qw", fmt.Sprintf("%s=%d", k, v)); err != nil {
				t.Fatalf("sysctl %s: %v %s", k, err, out)
			}
		}
	}
	defer sysctl(1, 1, 1)
	for _, v := range []struct {
		name         string
		ts, sack, ws int
	}{{"all", 1, 1, 1}, {"no timestamps", 0, 1, 1}, {"none", 0, 0, 0}} {
		sysctl(v.ts, v.sack, v.ws)
		for range 2 { // both real servers
			var c *net.TCPConn
			if err := e.clientNS.Do(func() error {
				conn, err := net.DialTimeout("tcp", svc.String(), 3*time.Second)
				if err == nil {
					c = conn.(*net.TCPConn)
				}
				return err
			}); err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			ci, err := getTCPInfo(c)
			c.SetDeadline(time.Now().Add(3 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			m := tcpInfoLine.FindStringSubmatch(strings.TrimSpace(line))
			if err != nil || rerr != nil || m == nil {
				t.Fatalf("%s: tcp_info %v, server said %q (%v)", v.name, err, line, rerr)
			}
			n := func(i int) uint32 { x, _ := strconv.Atoi(m[i]); return uint32(x) }
			si := tcpInfo{opts: uint8(n(1)), sndWS: uint8(n(2)), rcvWS: uint8(n(3)), sndMSS: n(4), advMSS: n(5)}
			want := uint8(v.ts*optTS | v.sack*optSACK | v.ws*optWS)
			tsLen := uint32(12 * v.ts)
			switch {
			case ci.opts&(optTS|optSACK|optWS) != want || si.opts&(optTS|optSACK|optWS) != want:
				t.Errorf("%s: options client %d server %d, want %d", v.name, ci.opts, si.opts, want)
			case v.ws == 1 && (ci.sndWS != 7 || si.sndWS != ci.rcvWS):
				t.Errorf("%s: window scale: client sends with %d (want ours, 7), server with %d (want the client's %d)", v.name, ci.sndWS, si.sndWS, ci.rcvWS)
			case ci.sndMSS != ourMSS-tsLen || si.sndMSS != clientMSS-tsLen:
				t.Errorf("%s: MSS: client sends %d (want %d), server %d (want %d)", v.name, ci.sndMSS, ourMSS-tsLen, si.sndMSS, clientMSS-tsLen)
			}
			t.Logf("%s: client %v; server %v", v.name, ci, si)
		}
	}
}

// rsSYNCounter counts, with nftables, the TCP SYNs (without ACK) the real server's kernel receives.
func rsSYNCounter(t *testing.T, ns *netns.NS) func() uint64 {
	t.Helper()
	for _, cmd := range [][]string{
		{"nft", "add", "table", "inet", "xdpvstest"},
		{"nft", "add", "chain", "inet", "xdpvstest", "in", "{ type filter hook input priority 0; }"},
		{"nft", "add", "rule", "inet", "xdpvstest", "in", "tcp", "flags", "&", "(syn|ack)", "==", "syn", "counter"},
	} {
		if out, err := ns.Exec(cmd...); err != nil {
			t.Fatalf("%v: %v %s", cmd, err, out)
		}
	}
	re := regexp.MustCompile(`counter packets (\d+)`)
	return func() uint64 {
		out, err := ns.Exec("nft", "list", "chain", "inet", "xdpvstest", "in")
		m := re.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("nft list: %v %s", err, out)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
}

// TestSynProxyFlood: a SYN flood from 16,384 spoofed sources (the project's generator), then a
// flood of ACKs with forged cookies, each bounded in count and time, while a real client makes
// connections: every real connection succeeds, the real servers receive exactly the real
// clients' SYNs, and the director's connection count stays with the real connections.
func TestSynProxyFlood(t *testing.T) {
	e := newEnv(t, "spflood", 1)
	e.synProxyService(false, false, "")
	var syns []func() uint64
	for _, rs := range e.nat.RS {
		syns = append(syns, rsSYNCounter(t, rs))
	}
	rsSYNs := func() (n uint64) {
		for _, f := range syns {
			n += f()
		}
		return n
	}
	c0 := testutil.Iface(t, e.nat.Client, "c0")
	// The prog-run engine, or the AF_XDP one where the kernel refuses live frames.
	engine := pktgen.EngineProgRun
	if err := pktgen.LiveFrames(); err != nil {
		engine = pktgen.EngineAFXDP
		t.Logf("generator: the AF_XDP engine (%v)", err)
	}
	flood := func(flags uint8, count uint64) pktgen.Result {
		t.Helper()
		cfg := pktgen.Config{SrcMAC: c0.HardwareAddr, DstMAC: testutil.Iface(t, e.nat.Director, "d0").HardwareAddr,
			Src: netip.MustParseAddr("198.18.128.1"), Addrs: 256, SrcPort: 1024, Flows: 64,
			Dst: netip.MustParseAddr(topo.VIP4), DstPort: 80, Size: 64, Proto: pktgen.TCP, TCPFlags: flags}
		g, err := pktgen.Open(cfg, engine)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		res, err := g.Run(e.nat.Client, c0.Index, count, pktgen.RunOptions{Rate: 100_000, Duration: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	var maxConns uint64
	real := 0 // the real client's connections
	before := rsSYNs()
	for _, f := range []struct {
		name  string
		flags uint8
	}{{"SYN", pktgen.FlagSYN}, {"forged ACK", pktgen.FlagACK}} {
		var wg sync.WaitGroup
		var res pktgen.Result
		done := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); defer close(done); res = flood(f.flags, 300_000) }()
		got := map[string]int{}
		go func() { // the real client, for as long as the flood lasts: every failure is counted
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
				body, server, err := topo.Get(e.client, topo.URL(topo.VIP4, 80, "/"))
				if err != nil || string(body) != server {
					server = fmt.Sprintf("error: %v", err)
				}
				got[server]++
			}
		}()
		for {
			select {
			case <-done:
			case <-time.After(200 * time.Millisecond):
				maxConns = max(maxConns, e.synProxyCounters()["conns"])
				continue
			}
			break
		}
		wg.Wait()
		c := e.synProxyCounters()
		maxConns = max(maxConns, c["conns"])
		t.Logf("%s flood: %d frames sent in %v; real connections %v\n%s", f.name, res.Sent, res.Elapsed, got, e.adm1("show", "synproxy"))
		if len(got) > 2 || got["rs0"]+got["rs1"] < 50 { // every answer from a real server, and enough of them
			t.Fatalf("%s flood: real connections %v", f.name, got)
		}
		real += got["rs0"] + got["rs1"]
		if res.Sent < 250_000 {
			t.Fatalf("%s flood: only %d frames sent", f.name, res.Sent)
		}
	}
	c := e.synProxyCounters()
	if n := rsSYNs() - before; n != uint64(real) {
		t.Errorf("the real servers received %d SYNs, want %d (the real connections')", n, real)
	}
	if maxConns > uint64(real)+10 {
		t.Errorf("the director held up to %d connections for %d real ones", maxConns, real)
	}
	// Frames may be lost before the director counts them (a full veth or AF_XDP ring on a busy
	// machine: `show queues`), never after: most must have been answered or dropped, each once.
	if c["synproxy_syn_answered"] < 150_000 || c["drop_synproxy_bad_cookie"] < 150_000 || c["synproxy_syn_bad_checksum"] != 0 ||
		c["synproxy_syn_answered"] > 300_000+uint64(real) || c["drop_synproxy_bad_cookie"] > 300_000 {
		t.Errorf("counters: %v\n%s", c, e.adm1("show", "queues"))
	}
	if c["synproxy_handshake_done"] != uint64(real) {
		t.Errorf("%d handshakes, want %d", c["synproxy_handshake_done"], real)
	}
}

// TestSynProxyPortReuse: a client that reconnects from the same port right after its previous
// connection ended (the server closed first; the director's entry is in TIME_WAIT, and so is the
// real server's socket) gets a new connection each time, scheduled afresh.
func TestSynProxyPortReuse(t *testing.T) {
	e := newEnv(t, "spreuse", 1)
	e.synProxyService(false, false, "")
	got := map[string]int{}
	for i := range 6 {
		var c net.Conn
		if err := e.clientNS.Do(func() (err error) {
			c, err = portDialer(nil, 45000, 3*time.Second).Dial("tcp", topo.VIP4+":80")
			return
		}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
		resp, err := io.ReadAll(c) // the server closes first
		c.Close()
		_, body, ok := strings.Cut(string(resp), "\r\n\r\n")
		if err != nil || !ok || (body != "rs0" && body != "rs1") {
			t.Fatalf("connection %d: %q %v", i, resp, err)
		}
		got[body]++
		time.Sleep(50 * time.Millisecond) // the last ACKs of the close
	}
	c := e.synProxyCounters()
	if got["rs0"] != 3 || got["rs1"] != 3 || c["conn_reopened"] < 5 || c["synproxy_handshake_done"] != 6 {
		t.Errorf("split %v, reopened %d, handshakes %d", got, c["conn_reopened"], c["synproxy_handshake_done"])
	}
}

// TestSynProxyServerFailures: the client's handshake completes with the director whatever the
// real server does; a server that refuses (RST: nothing listens) resets the client at once, and a
// server that never answers (its SYNs dropped) gets the SYN four times, then the client is reset
// (15 s). Both are counted.
func TestSynProxyServerFailures(t *testing.T) {
	e := newEnv(t, "spfail", 1)
	svc := netip.AddrPortFrom(netip.MustParseAddr(topo.VIP4), 82)
	e.adm1("-A", "-t", svc.String(), "-s", "rr", "-j")
	e.adm1("-a", "-t", svc.String(), "-r", topo.RS4(0)+":9", "-m") // nothing listens on rs0:9
	e.resolved(topo.RS4(0))
	// dial returns nil if the director's reset reached the client before the dial saw its
	// connection established: the handshake completed (a refused SYN gives ECONNREFUSED), and the
	// dial reports the reset itself.
	dial := func() *net.TCPConn {
		var c net.Conn
		err := e.clientNS.Do(func() (err error) { c, err = net.DialTimeout("tcp", svc.String(), 3*time.Second); return })
		if errors.Is(err, syscall.ECONNRESET) {
			return nil
		}
		if err != nil {
			t.Fatalf("the director did not complete the handshake: %v", err)
		}
		return c.(*net.TCPConn)
	}
	reset := func(c *net.TCPConn, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		c.SetDeadline(start.Add(within))
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read: %v, want a reset within %v", err, within)
		}
		return time.Since(start)
	}
	if c := dial(); c != nil {
		fmt.Fprintf(c, "hello")
		if d := reset(c, 2*time.Second); d > time.Second {
			t.Errorf("reset after %v", d)
		}
		c.Close()
	}

	// Now the server drops every SYN: four reach it (the first and three retries), then the
	// client is reset.
	syns := rsSYNCounter(t, e.nat.RS[0])
	if out, err := e.nat.RS[0].Exec("nft", "add", "rule", "inet", "xdpvstest", "in", "tcp", "dport", "9", "drop"); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	c := dial()
	if c == nil {
		t.Fatal("reset during the handshake although the server's SYNs are dropped")
	}
	d := reset(c, 20*time.Second)
	c.Close()
	if d < 14*time.Second || syns() != 4 {
		t.Errorf("reset after %v and %d SYNs at the server, want about 15 s and 4", d.Round(time.Millisecond), syns())
	}
	k := e.synProxyCounters()
	if k["synproxy_fail_server_rst"] != 1 || k["synproxy_fail_server_timeout"] != 1 || k["synproxy_syn_retried"] != 3 || k["conns"] != 0 {
		t.Errorf("counters: server rst %d, timeout %d, retried %d, connections %d", k["synproxy_fail_server_rst"],
			k["synproxy_fail_server_timeout"], k["synproxy_syn_retried"], k["conns"])
	}
}
