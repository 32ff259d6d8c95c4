package main

import (
	"context"
	"crypto/sha256"
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

	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestProxyProtocolNginx: nginx from Debian as the real server, `listen ... proxy_protocol` and
// logging $proxy_protocol_addr, behind FULLNAT services with --proxy-protocol v1 and v2, IPv4,
// IPv6 and NAT64 (IPv6 clients, IPv4 server): every request's logged client address and port are
// those of the client's own socket (while nginx's peer is the local address), and 50 MiB PUT
// through the service and read back arrive intact (SHA-256). The listing and -S show the option.
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
	for _, c := range []struct {
		name, version string
		vip, lip, rs  string
		port          uint16
		client        string
	}{
		{"v1_ipv4", "v1", topo.VIP4, lip4, topo.RS4(0), 82, topo.Client4},
		{"v2_ipv4", "v2", topo.VIP4, lip4, topo.RS4(0), 83, topo.Client4},
		{"v1_ipv6", "v1", topo.VIP6, lip6, topo.RS6(0), 82, topo.Client6},
		{"v2_ipv6", "v2", topo.VIP6, lip6, topo.RS6(0), 83, topo.Client6},
		{"v2_nat64", "v2", topo.VIP6, lip4, topo.RS4(0), 84, topo.Client6},
	} {
		t.Run(c.name, func(t *testing.T) {
			ran++
			e := *e
			e.t = t
			svc := hostPort(c.vip, c.port)
			e.adm1("-A", "-t", svc, "-s", "rr", "--proxy-protocol", c.version)
			e.adm1("--add-laddr", "-z", c.lip, "-t", svc)
			e.adm1("-a", "-t", svc, "-r", hostPort(c.rs, 8082), "-b")
			if l := e.adm1("-Ln"); !strings.Contains(l, "proxy-protocol "+c.version) {
				t.Fatalf("the listing does not show the option:\n%s", l)
			}
			if s := e.adm1("-S", "-n"); !strings.Contains(s, "-A -t "+svc+" -s rr --proxy-protocol "+c.version) {
				t.Fatalf("-S does not save the option:\n%s", s)
			}
			want := map[string]string{} // request URI → the client's socket address
			hc := topo.HTTPClient(e.clientNS, false)
			for i := range 10 {
				uri := fmt.Sprintf("/ok?%s-%d", c.name, i)
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
			size := int64(50 << 20)
			url := "http://" + svc + "/" + c.name
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
			seen := 0
			for _, line := range ngx.AccessLog() {
				f := strings.Fields(line) // addr port peer method uri status
				if len(f) != 6 {
					continue
				}
				if w, ok := want[f[4]]; ok {
					seen++
					got := netip.AddrPortFrom(netip.MustParseAddr(f[0]), mustPort(t, f[1])).String()
					if got != w || f[2] != c.lip || f[5] != "200" {
						t.Errorf("nginx logged %q: client %s, want %s, peer the local address %s", line, got, w, c.lip)
					}
				}
				if f[4] == "/"+c.name && f[0] != c.client {
					t.Errorf("nginx logged the transfer %q from another client than %s", line, c.client)
				}
			}
			if seen != len(want) {
				t.Fatalf("nginx logged %d of the %d requests:\n%s", seen, len(want), strings.Join(ngx.AccessLog(), "\n"))
			}
			t.Logf("%s", e.adm1("-Ln", "--stats"))
		})
	}
	ev := e.events("proxy_protocol_ok")
	if ev["proxy_protocol_ok"] < uint64(ran*12) { // a header per connection
		t.Errorf("proxy_protocol_ok %d, want at least %d", ev["proxy_protocol_ok"], ran*12)
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
