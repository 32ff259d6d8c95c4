package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// mapAddresses replaces whole words of a keepalived configuration by the map's (an address of the
// sample by the test's); nothing else of the file changes.
func mapAddresses(conf string, m map[string]string) string {
	lines := strings.Split(conf, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		for j, w := range f {
			if to, ok := m[w]; ok {
				f[j] = to
			}
		}
		if len(f) > 0 {
			lines[i] = strings.Join(f, " ")
		}
	}
	return strings.Join(lines, "\n")
}

// serveAnyPath answers every GET with 200 and its name (X-Server too), whatever the path: the
// samples' HTTP_GET checks ask for pages such as /testurl3/test.jsp.
func serveAnyPath(t *testing.T, ns *netns.NS, addr netip.AddrPort, name string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Server", name)
		io.WriteString(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestImportKeepalivedSamples: keepalived's own samples (doc/samples) and DPVS's copy of its
// etc/keepalived.conf, as in mgmt/cli/testdata/keepalived, each with its addresses mapped to the test's and nothing else
// changed, imported with --apply and served: the client's connections through the VIP reach the
// sample's real server once its check passes (HTTP_GET on its page, the inhibit sample, SSL_GET
// over TLS with status_code ranges and with connect_port, UDP_CHECK's UDP service, the IPv6
// sample's SMTP_CHECK as a TCP check, the fwmark sample with the mark rules it needs, each with
// its persistence).
func TestImportKeepalivedSamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sample string
		addrs  map[string]string
		serve  func(t *testing.T, e *env)
		check  func(t *testing.T, e *env) string // the real server that answered
	}{
		{"keepalived.conf.sample", map[string]string{"10.10.10.2": topo.VIP4, "192.168.200.2": topo.RS4(0), "192.168.200.200": topo.RS4(1)},
			func(t *testing.T, e *env) {
				serveAnyPath(t, e.nat.RS[0], netip.MustParseAddrPort(topo.RS4(0)+":1358"), "rs0")
				serveAnyPath(t, e.nat.RS[1], netip.MustParseAddrPort(topo.RS4(1)+":1358"), "sorry")
			}, httpVia(topo.VIP4, 1358)},
		{"keepalived.conf.inhibit", map[string]string{"10.10.10.2": topo.VIP4, "192.168.200.2": topo.RS4(0)},
			func(t *testing.T, e *env) {
				serveAnyPath(t, e.nat.RS[0], netip.MustParseAddrPort(topo.RS4(0)+":1358"), "rs0")
			},
			httpVia(topo.VIP4, 1358)},
		{"keepalived.conf.IPv6", map[string]string{"ae00::1": topo.VIP6, "ae00::10": topo.RS6(0)},
			func(t *testing.T, e *env) {
				serveAnyPath(t, e.nat.RS[0], netip.MustParseAddrPort("["+topo.RS6(0)+"]:25"), "rs0")
			},
			httpVia(topo.VIP6, 80)},
		{"keepalived.conf.status_code", map[string]string{"192.168.200.100": topo.VIP4, "192.168.201.100": topo.RS4(0)},
			func(t *testing.T, e *env) { serveTLS(t, e.nat.RS[0], topo.RS4(0)+":443", "rs0") },
			httpsVia(topo.VIP4, 443)},
		{"keepalived.conf.HTTP_GET.port", map[string]string{"192.168.200.100": topo.VIP4, "192.168.201.100": topo.RS4(0)},
			func(t *testing.T, e *env) {
				serveTLS(t, e.nat.RS[0], topo.RS4(0)+":443", "rs0")
				serveTLS(t, e.nat.RS[0], topo.RS4(0)+":444", "rs0 checked") // connect_port 444
			}, httpsVia(topo.VIP4, 443)},
		{"keepalived.conf.SSL_GET", map[string]string{"192.168.200.100": topo.VIP4, "192.168.201.100": topo.RS4(0)},
			func(t *testing.T, e *env) {
				serveTLS(t, e.nat.RS[0], topo.RS4(0)+":443", "rs0")
				serveAnyPath(t, e.nat.RS[0], netip.MustParseAddrPort(topo.RS4(0)+":80"), "rs0")
			}, func(t *testing.T, e *env) string {
				if a, b := httpsVia(topo.VIP4, 443)(t, e), httpVia(topo.VIP4, 80)(t, e); a != b {
					return a + " and " + b
				}
				return httpVia(topo.VIP4, 80)(t, e)
			}},
		{"keepalived.conf.misc_check", map[string]string{"10.10.10.2": topo.VIP4, "192.168.200.6": topo.RS4(0)},
			func(t *testing.T, e *env) {
				serveAnyPath(t, e.nat.RS[0], netip.MustParseAddrPort(topo.RS4(0)+":1358"), "rs0")
			}, httpVia(topo.VIP4, 1358)},
		// DPVS's copy of keepalived's etc/keepalived.conf: three services (SSL_GET; HTTP_GET with
		// a sorry server; HTTP_GET), the second VIP added to the director.
		{"dpvs.etc.keepalived.conf", map[string]string{"192.168.200.100": topo.VIP4, "10.10.10.2": topo.VIP4, "10.10.10.3": vip4b,
			"192.168.201.100": topo.RS4(0), "192.168.200.2": topo.RS4(0), "192.168.200.3": topo.RS4(1),
			"192.168.200.4": topo.RS4(0), "192.168.200.5": topo.RS4(1), "192.168.200.200": topo.RS4(2)},
			func(t *testing.T, e *env) {
				if out, err := e.nat.Director.Exec("ip", "addr", "add", vip4b+"/32", "dev", "d0"); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				serveTLS(t, e.nat.RS[0], topo.RS4(0)+":443", "rs0")
				serveAnyPath(t, e.nat.RS[0], netip.MustParseAddrPort(topo.RS4(0)+":1358"), "rs0")
				serveAnyPath(t, e.nat.RS[1], netip.MustParseAddrPort(topo.RS4(1)+":1358"), "rs1")
				serveAnyPath(t, e.nat.RS[2], netip.MustParseAddrPort(topo.RS4(2)+":1358"), "sorry")
			}, func(t *testing.T, e *env) string {
				got := httpsVia(topo.VIP4, 443)(t, e) + " " + httpVia(topo.VIP4, 1358)(t, e) + " " + httpVia(vip4b, 1358)(t, e)
				if f := strings.Fields(got); f[0] == "rs0" && strings.HasPrefix(f[1], "rs") && strings.HasPrefix(f[2], "rs") {
					return "rs0"
				}
				return got
			}},
		// Ten real servers, five addresses on each of two hosts, checked on port 80, serving 8080.
		{"keepalived.conf.quorum", quorumAddrs(),
			func(t *testing.T, e *env) {
				if out, err := e.nat.Director.Exec("ip", "addr", "add", vip4b+"/32", "dev", "d0"); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				for h := range 2 {
					for i := range 5 {
						a := fmt.Sprintf("198.18.%d.%d", h+1, 10+i)
						if out, err := e.nat.RS[h].Exec("ip", "addr", "add", a+"/24", "dev", "r0"); err != nil {
							t.Fatalf("%v: %s", err, out)
						}
					}
					for _, port := range []string{":80", ":8080"} {
						serveAnyPath(t, e.nat.RS[h], netip.MustParseAddrPort("0.0.0.0"+port), fmt.Sprintf("rs%d", h))
					}
				}
			}, func(t *testing.T, e *env) string {
				if got := httpVia(vip4b, 80)(t, e); got != "rs0" && got != "rs1" {
					return got
				}
				return "rs0"
			}},
		// fwmark 1 with persistence, NAT to both real servers' own ports (TCP_CHECK on 80): the
		// mark rules, which keepalived.conf does not hold, are the two the import's example names
		// (the VIP's ports 80 and 443); one persistence template for both ports.
		{"keepalived.conf.fwmark", map[string]string{"192.168.201.100": topo.RS4(0), "192.168.201.101": topo.RS4(1)},
			func(t *testing.T, e *env) {
				for i := range 2 {
					for _, port := range []string{":80", ":443"} {
						serveAnyPath(t, e.nat.RS[i], netip.MustParseAddrPort(topo.RS4(i)+port), fmt.Sprintf("rs%d", i))
					}
				}
				for _, port := range []string{"80", "443"} {
					e.adm1("--add-mark", "-f", "1", "--proto", "tcp", "--dst", topo.VIP4, "--dport", port)
				}
			}, func(t *testing.T, e *env) string {
				a, b := httpVia(topo.VIP4, 80)(t, e), httpVia(topo.VIP4, 443)(t, e)
				if a != b || !strings.HasPrefix(a, "rs") {
					return a + " and " + b // not one template for the mark's ports
				}
				return "rs0"
			}},
		{"keepalived.conf.UDP_CHECK", map[string]string{"10.10.10.2": topo.VIP4, "192.168.200.6": topo.RS4(0)},
			func(t *testing.T, e *env) {
				u, err := topo.ServeUDPEcho(e.nat.RS[0], netip.MustParseAddrPort(topo.RS4(0)+":1358"), "rs0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { u.Close() })
			}, udpVia(topo.VIP4, 1358)},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			t.Parallel()
			// A MISC_CHECK's script is mapped to one of the test's (a TCP connection to RIP:RPORT)
			// in the daemon's --health-scripts directory.
			var flags []string
			if script, ok := miscScripts[tc.sample]; ok {
				dir := t.TempDir()
				ours := filepath.Join(dir, "check.sh")
				os.WriteFile(ours, []byte("#!/bin/bash\nexec 3<>/dev/tcp/$1/$2\n"), 0o755)
				tc.addrs[script] = ours
				flags = append(flags, "--health-scripts", dir)
			}
			servers := 2
			if strings.HasPrefix(tc.sample, "dpvs.") {
				servers = 3 // its sorry server
			}
			e := newOpsEnv(t, "ks"+strings.TrimPrefix(tc.sample, "keepalived.conf.")[:3], servers, flags...)
			e.client.Timeout = 10 * time.Second
			tc.serve(t, e)
			sample, err := os.ReadFile("../../mgmt/cli/testdata/keepalived/" + tc.sample) // as copied, unchanged
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "keepalived.conf")
			os.WriteFile(path, []byte(mapAddresses(string(sample), tc.addrs)), 0o644)
			out, err := exec.Command(e.adm, "--socket", e.d.Socket, "import-keepalived", path, "--apply").CombinedOutput()
			if err != nil {
				t.Fatalf("import-keepalived --apply: %v\n%s", err, out)
			}
			t.Logf("-S after the import:\n%s", e.adm1("-S"))
			// The sample's first check is due after its delay_loop (6 s) at most.
			e.waitUntil("every real server checked and up", 20*time.Second, func() bool {
				for _, svc := range e.listJSON() {
					for _, d := range svc.RealServers {
						if d.Health == nil || !d.Health.Up || d.Health.Successes < 1 {
							return false
						}
					}
				}
				return true
			})
			for range 10 {
				if got := tc.check(t, e); got != "rs0" {
					t.Fatalf("answered by %q, want the sample's real server rs0", got)
				}
			}
		})
	}
}

// serveTLS is serveAnyPath over TLS with a self-signed certificate (SSL_GET does not verify).
func serveTLS(t *testing.T, ns *netns.NS, addr, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rs"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatal(err)
	}
	ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Server", name)
		io.WriteString(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// httpsVia is httpVia over TLS (the test's certificate is not verified).
func httpsVia(vip string, port uint16) func(t *testing.T, e *env) string {
	return func(t *testing.T, e *env) string {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: topo.DialContext(e.nat.Client),
			DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own certificate
		resp, err := c.Get("https://" + netip.AddrPortFrom(netip.MustParseAddr(vip), port).String() + "/")
		if err != nil {
			t.Fatalf("GET through https %s:%d: %v", vip, port, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != resp.Header.Get("X-Server") {
			t.Fatalf("GET through https %s:%d: %q", vip, port, body)
		}
		return string(body)
	}
}

// vip4b is a second VIP on the director, for samples with two.
const vip4b = "198.18.0.11"

// quorumAddrs maps the quorum sample's VIP and its ten real servers (10.0.0.1-10) to five
// addresses on each of the test's two real servers.
func quorumAddrs() map[string]string {
	m := map[string]string{"10.0.1.1": vip4b}
	for i := range 10 {
		m[fmt.Sprintf("10.0.0.%d", i+1)] = fmt.Sprintf("198.18.%d.%d", i%2+1, 10+i/2)
	}
	return m
}

// miscScripts are the MISC_CHECK scripts of the samples.
var miscScripts = map[string]string{"keepalived.conf.misc_check": "/usr/local/bin/script.sh"}

// httpVia is a GET through vip:port from the client; it returns the server that answered.
func httpVia(vip string, port uint16) func(t *testing.T, e *env) string {
	return func(t *testing.T, e *env) string {
		t.Helper()
		body, server, err := topo.Get(e.client, topo.URL(vip, port, "/"))
		if err != nil || string(body) != server {
			t.Fatalf("GET through %s:%d: %q %v", vip, port, body, err)
		}
		return server
	}
}

// udpVia is a datagram through vip:port from the client; it returns the server that echoed it.
func udpVia(vip string, port uint16) func(t *testing.T, e *env) string {
	return func(t *testing.T, e *env) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := topo.DialContext(e.nat.Client)(ctx, "udp", netip.AddrPortFrom(netip.MustParseAddr(vip), port).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The first datagram toward a real server whose neighbour the director has not resolved
		// yet is dropped (neigh_miss, by design): resend, as a UDP client does.
		buf := make([]byte, 64)
		n := 0
		for try := 0; ; try++ {
			fmt.Fprint(c, "ping")
			c.SetReadDeadline(time.Now().Add(time.Second))
			if n, err = c.Read(buf); err == nil {
				break
			}
			if try == 4 {
				t.Fatalf("UDP through %s:%d: %v\n%s", vip, port, err, e.adm1("show", "drops"))
			}
		}
		name, rest, _ := strings.Cut(string(buf[:n]), ":")
		if rest != "ping" {
			t.Fatalf("UDP through %s:%d: %q", vip, port, buf[:n])
		}
		return name
	}
}
