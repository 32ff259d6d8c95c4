package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestProxyProtocolNginx: nginx from Debian as the real server, `listen ... proxy_protocol` and
// logging $proxy_protocol_addr, behind FULLNAT services with --proxy-protocol v1 and v2, IPv4,
// IPv6 and NAT64 (IPv6 clients, IPv4 server): every request's logged client address and port are
// those of the client's own socket (while nginx's peer is the local address), and 50 MiB PUT
// through the service and read back arrive intact (SHA-256), also with the SYN proxy (-j) in front.
// The listing and -S show the option.
// Then the real server drops every connection's first data segment once (nftables): the client's
// retransmission carries the header again, and nginx still logs every client. Last, UDP: v2 goes
// in front of a flow's first datagram only.
func TestProxyProtocolNginx(t *testing.T) {
	e := newEnv(t, "pp", 1)
	dir := t.TempDir()
	ngx, err := topo.StartNginx(e.nat.RS[0], dir, topo.NginxProxyProtocol(dir, 8082, topo.RS4(0), topo.RS6(0)),
		hostPort(topo.RS4(0), 8082))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ngx.Stop)
	if err := os.WriteFile(filepath.Join(dir, "www", "ok"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range []ppService{
		{"v1_ipv4", "v1", topo.VIP4, lip4, topo.RS4(0), 82, topo.Client4, ""},
		{"v2_ipv4", "v2", topo.VIP4, lip4, topo.RS4(0), 83, topo.Client4, ""},
		{"v1_ipv6", "v1", topo.VIP6, lip6, topo.RS6(0), 82, topo.Client6, ""},
		{"v2_ipv6", "v2", topo.VIP6, lip6, topo.RS6(0), 83, topo.Client6, ""},
		{"v2_nat64", "v2", topo.VIP6, lip4, topo.RS4(0), 84, topo.Client6, ""},
		{"v1_ipv4_synproxy", "v1", topo.VIP4, lip4, topo.RS4(0), 86, topo.Client4, "-j"},
		{"v2_ipv6_synproxy", "v2", topo.VIP6, lip6, topo.RS6(0), 86, topo.Client6, "-j"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ran++
			e := *e
			e.t = t
			svc := c.add(&e)
			want := ppRequests(t, &e, svc, c.name, 10)
			size := int64(50 << 20)
			url := "http://" + svc + "/" + c.name
			hc := topo.HTTPClient(e.clientNS, false)
			req, _ := http.NewRequest("PUT", url, topo.Data(11, size))
			req.ContentLength = size
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 201 && resp.StatusCode != 204 {
				t.Fatalf("PUT: %s", resp.Status)
			}
			resp, err = hc.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			resp.Body.Close()
			if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != topo.DataSHA256(11, size) {
				t.Fatalf("50 MiB back: %d bytes (%v), sha256 %x, want %s", n, err, h.Sum(nil), topo.DataSHA256(11, size))
			}
			want["/"+c.name] = c.client // the PUT and the GET: the client's address (its ports are not known)
			checkNginxLog(t, ngx, want, c.lip)
			t.Logf("%s", e.adm1("-Ln", "--stats"))
		})
	}
	ev := e.events("proxy_protocol_ok")
	if ev["proxy_protocol_ok"] < uint64(ran*12) { // a header per connection
		t.Errorf("proxy_protocol_ok %d, want at least %d", ev["proxy_protocol_ok"], ran*12)
	}
	t.Run("resent", func(t *testing.T) {
		e := *e
		e.t = t
		c := ppService{"resent", "v1", topo.VIP4, lip4, topo.RS4(0), 85, topo.Client4, ""}
		svc := c.add(&e)
		rs := e.nat.RS[0]
		for _, cmd := range []string{
			"sysctl -qw net.netfilter.nf_conntrack_acct=1",
			"nft add table inet pptest",
			"nft add chain inet pptest in { type filter hook input priority 0 ; }",
			// The third packet of every connection from the director is its first data segment
			// (SYN, ACK, data): dropped once, so the client sends it again.
			"nft add rule inet pptest in ip saddr " + lip4 + " tcp dport 8082 ct original packets 3 counter drop",
		} {
			if out, err := rs.Exec(strings.Fields(cmd)...); err != nil {
				t.Fatalf("%s: %v %s", cmd, err, out)
			}
		}
		t.Cleanup(func() { rs.Exec("nft", "delete", "table", "inet", "pptest") })
		before := e.events("proxy_protocol_resent")["proxy_protocol_resent"]
		checkNginxLog(t, ngx, ppRequests(t, &e, svc, c.name, 5), c.lip)
		out, _ := rs.Exec("nft", "list", "table", "inet", "pptest")
		resent := e.events("proxy_protocol_resent")["proxy_protocol_resent"] - before
		if !strings.Contains(out, "counter packets 5 ") || resent < 5 {
			t.Fatalf("the real server dropped the first data segments (want 5): %s; headers resent: %d, want 5", out, resent)
		}
		t.Logf("headers resent: %d", resent)
	})
	t.Run("udp", func(t *testing.T) { ppUDP(t, e) })
}

// ppService is a FULLNAT service with --proxy-protocol to nginx.
type ppService struct {
	name, version string
	vip, lip, rs  string
	port          uint16
	client        string
	flags         string // more of -A's options: -j
}

// add configures the service and checks that the listing and -S show the option; it returns the
// service's address.
func (c *ppService) add(e *env) string {
	e.t.Helper()
	svc := hostPort(c.vip, c.port)
	e.adm1(append([]string{"-A", "-t", svc, "-s", "rr", "--proxy-protocol", c.version}, strings.Fields(c.flags)...)...)
	e.adm1("--add-laddr", "-z", c.lip, "-t", svc)
	e.adm1("-a", "-t", svc, "-r", hostPort(c.rs, 8082), "-b")
	if l := e.adm1("-Ln"); !strings.Contains(l, "proxy-protocol "+c.version) {
		e.t.Fatalf("the listing does not show the option:\n%s", l)
	}
	if s := e.adm1("-S", "-n"); !strings.Contains(s, "-A -t "+svc+" -s rr "+strings.TrimSpace(c.flags+" --proxy-protocol "+c.version)) {
		e.t.Fatalf("-S does not save the option:\n%s", s)
	}
	return svc
}

// ppRequests makes n requests of /ok, each on a new connection, and returns each request's URI
// with the client's socket address.
func ppRequests(t *testing.T, e *env, svc, tag string, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	hc := topo.HTTPClient(e.clientNS, false)
	for i := range n {
		uri := fmt.Sprintf("/ok?%s-%d", tag, i)
		var local net.Addr
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr() },
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+svc+uri, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Fatalf("request %d: %s %q", i, resp.Status, body)
		}
		want[uri] = netip.MustParseAddrPort(local.String()).String()
	}
	return want
}

// checkNginxLog checks that nginx logged every request of want (URI → client address and port, or
// address alone) with that client from the PROXY protocol header and the local address lip as its
// peer.
func checkNginxLog(t *testing.T, ngx *topo.Nginx, want map[string]string, lip string) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range ngx.AccessLog() {
		f := strings.Fields(line) // addr port peer method uri status
		if len(f) != 6 {
			continue
		}
		w, ok := want[f[4]]
		if !ok {
			continue
		}
		seen[f[4]] = true
		got := f[0]
		if _, err := netip.ParseAddrPort(w); err == nil { // an address and a port: compare both
			got = netip.AddrPortFrom(netip.MustParseAddr(f[0]), mustPort(t, f[1])).String()
		}
		if got != w || f[2] != lip || (f[5] != "200" && f[5] != "201" && f[5] != "204") {
			t.Errorf("nginx logged %q: client %s, want %s, peer the local address %s", line, got, w, lip)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("nginx logged %d of the %d requests:\n%s", len(seen), len(want), strings.Join(ngx.AccessLog(), "\n"))
	}
}

func mustPort(t *testing.T, s string) uint16 {
	t.Helper()
	var p uint16
	if _, err := fmt.Sscan(s, &p); err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return p
}

// ppUDP: a FULLNAT UDP service with --proxy-protocol v2 to a server that reads the header: the
// first datagram of a flow arrives with the client's address and port (DGRAM, IPv4), the next ones
// without, every payload intact.
func ppUDP(t *testing.T, e *env) {
	svc := hostPort(topo.VIP4, 5390)
	e.adm1("-A", "-u", svc, "-s", "rr", "--proxy-protocol", "v2")
	e.adm1("--add-laddr", "-z", lip4, "-u", svc)
	e.adm1("-a", "-u", svc, "-r", hostPort(topo.RS4(0), 5390), "-b")
	var pc net.PacketConn
	if err := e.nat.RS[0].Do(func() (err error) { pc, err = net.ListenPacket("udp", hostPort(topo.RS4(0), 5390)); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() { // answer "PP CLIENT PAYLOAD" or "NO PAYLOAD"
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			reply := append([]byte("NO "), b...)
			sig := []byte("\r\n\r\n\x00\r\nQUIT\n")
			if len(b) >= 28 && bytes.HasPrefix(b, sig) && b[12] == 0x21 && b[13] == 0x12 && binary.BigEndian.Uint16(b[14:]) == 12 {
				client := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), binary.BigEndian.Uint16(b[24:]))
				reply = append([]byte("PP "+client.String()+" "), b[28:]...)
			}
			pc.WriteTo(reply, from)
		}
	}()
	var c net.Conn
	if err := e.clientNS.Do(func() (err error) { c, err = net.Dial("udp", svc); return }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, want := range []string{"PP " + c.LocalAddr().String() + " ", "NO ", "NO "} {
		payload := fmt.Sprintf("datagram %d", i)
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte(payload)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got := string(buf[:n]); got != want+payload {
			t.Fatalf("datagram %d: the server saw %q, want %q", i, got, want+payload)
		}
	}
}
