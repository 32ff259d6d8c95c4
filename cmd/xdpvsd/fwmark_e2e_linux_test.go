package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// fromClient returns an HTTP client in ns whose connections (one per request) leave from src.
func fromClient(ns *netns.NS, src string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() (err error) {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
				c, err = d.DialContext(ctx, network, addr)
				return
			})
			return c, err
		}}}
}

// fwmarkSetup is the configuration TestFWMarkE2E makes, as -S writes it: mark 1 is HTTP and HTTPS
// (8080 and 8443) of the VIP, persistent; mark 2 a VIP range (198.18.0.12/30) by a port range
// (30000-30009), TCP only; mark 3 the IPv6 VIP's 8080. The real servers answer on the client's
// port (:0).
const fwmarkSetup = `--add-mark -f 1 --proto tcp --dst 198.18.0.10/32 --dport 8080
--add-mark -f 1 --proto tcp --dst 198.18.0.10/32 --dport 8443
--add-mark -f 2 --proto tcp --dst 198.18.0.12/30 --dport 30000-30009
--add-mark -f 3 --dst 2001:2::10/128 --dport 8080
-A -f 1 -s rr -p 60
-a -f 1 -r 198.18.1.2:0 -m -w 1
-a -f 1 -r 198.18.2.2:0 -m -w 1
-A -f 2 -s rr
-a -f 2 -r 198.18.1.2:0 -m -w 1
-a -f 2 -r 198.18.2.2:0 -m -w 1
-A -f 3 -6 -s rr
-a -f 3 -6 -r [2001:2:0:1::2]:0 -m -w 1
-a -f 3 -6 -r [2001:2:0:2::2]:0 -m -w 1
`

// TestFWMarkE2E: firewall-mark services through the daemon and the kernel's TCP, two workers:
// HTTP and HTTPS (two ports, one mark) with -p: each of two clients has all its connections, to
// both ports, on one real server; a VIP range by a port range splits by rr, and a port outside
// the range stays the director kernel's (refused); the IPv6 mark; -L in ipvsadm's format
// ("FWM  1 rr persistent 60"), -S | -C | -R gives back the same and the services answer again.
func TestFWMarkE2E(t *testing.T) {
	e := newEnv(t, "fwm", 2)
	for _, p := range []uint16{8443, 30000, 30005, 30009, 30010} {
		serve(t, e.nat.RS, func(i int) []string { return []string{topo.RS4(i), topo.RS6(i)} }, p, p)
	}
	for _, a := range []string{"198.18.0.12", "198.18.0.13", "198.18.0.14", "198.18.0.15"} {
		if _, err := e.nat.Director.Exec("ip", "addr", "add", a+"/32", "dev", "d0"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.clientNS.Exec("ip", "addr", "add", "198.18.0.3/24", "dev", "c0"); err != nil {
		t.Fatal(err)
	}
	restore := func(rules string) {
		t.Helper()
		cmd := exec.Command(e.adm, "--socket", e.d.Socket, "-R")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("-R: %v\n%s", err, out)
		}
	}
	restore(fwmarkSetup)
	e.resolved(topo.RS4(0), topo.RS4(1), topo.RS6(0), topo.RS6(1))
	get := func(c *http.Client, url string) (string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Header.Get("X-Server"), nil
	}
	traffic := func() {
		t.Helper()
		for _, src := range []string{topo.Client4, "198.18.0.3"} {
			c := fromClient(e.clientNS, src)
			got := map[string]int{}
			for i := range 20 {
				port := []uint16{8080, 8443}[i%2]
				server, err := get(c, topo.URL(topo.VIP4, port, "/"))
				if err != nil {
					t.Fatalf("client %s, request %d to :%d: %v", src, i, port, err)
				}
				got[server]++
			}
			if len(got) != 1 {
				t.Fatalf("client %s: HTTP and HTTPS went to %v, want one server (-p on the mark)", src, got)
			}
			t.Logf("client %s: %v", src, got)
		}
		got := map[string]int{}
		c := topo.HTTPClient(e.clientNS, false)
		for i := range 20 {
			a := fmt.Sprintf("198.18.0.%d", 12+i%4)
			port := []uint16{30000, 30005, 30009}[i%3]
			server, err := get(c, topo.URL(a, port, "/"))
			if err != nil {
				t.Fatalf("%s:%d: %v", a, port, err)
			}
			got[server]++
		}
		if got["rs0"] != 10 || got["rs1"] != 10 {
			t.Fatalf("the VIP range by the port range split %v, want 10/10 (rr)", got)
		}
		if _, err := get(c, topo.URL("198.18.0.12", 30010, "/")); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("a port outside the range: %v, want the director's kernel to refuse it", err)
		}
		got = map[string]int{}
		for range 4 {
			server, err := get(c, topo.URL(topo.VIP6, 8080, "/"))
			if err != nil {
				t.Fatal(err)
			}
			got[server]++
		}
		if got["rs0"] != 2 || got["rs1"] != 2 {
			t.Fatalf("the IPv6 mark split %v, want 2/2", got)
		}
	}
	traffic()
	list := e.adm1("-Ln")
	for _, want := range []string{"\nFWM  1 rr persistent 60\n  -> 198.18.1.2:0                 Masq    1      ",
		"\nFWM  2 rr\n", "\nFWM  3 IPv6 rr\n  -> [2001:2:0:1::2]:0"} {
		if !strings.Contains(list, want) {
			t.Fatalf("-Ln lacks %q:\n%s", want, list)
		}
	}
	stats := e.adm1("-Ln", "--stats", "--exact")
	if !strings.Contains(stats, "FWM  1                                  40") {
		t.Fatalf("-Ln --stats --exact: mark 1 should count 40 connections:\n%s", stats)
	}
	saved := e.adm1("-S", "-n")
	if saved != fwmarkSetup {
		t.Fatalf("-S:\n%s\nwant:\n%s", saved, fwmarkSetup)
	}
	e.adm1("-C")
	restore(saved)
	if again := e.adm1("-S", "-n"); again != saved {
		t.Fatalf("-S after -C, -R:\n%s", again)
	}
	traffic()
}
