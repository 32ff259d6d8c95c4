package main

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// keepalivedConf is a keepalived configuration in the shape of keepalived's own
// doc/samples/keepalived.conf.sample and .inhibit (the VRRP instance, the HTTP_GET checker, the
// sorry server, inhibit_on_failure), with the test's addresses, two real servers of weights 1 and
// 3, the check on / (what the test's servers answer) and a one-second delay_loop so that the test
// is short; the second service, without inhibit_on_failure and with a TCP_CHECK, comes from an
// included file.
func keepalivedConf(dir string) string {
	main := fmt.Sprintf(`! Configuration File for keepalived

global_defs {
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 50
    priority 100
    virtual_ipaddress {
        %[1]s
    }
}

virtual_server %[1]s 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP

    sorry_server %[4]s 8080

    real_server %[2]s 8080 {
        weight 1
        inhibit_on_failure        ! set weight to 0 instead of removing service
        HTTP_GET {
            url {
              path /
              status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server %[3]s 8080 {
        weight 3
        inhibit_on_failure
        HTTP_GET {
            url {
              path /
              status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}

include conf.d/*.conf
`, topo.VIP4, topo.RS4(0), topo.RS4(1), topo.RS4(2))
	included := fmt.Sprintf(`virtual_server %[1]s 81 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server %[2]s 8080 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server %[3]s 8080 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
`, topo.VIP4, topo.RS4(0), topo.RS4(1))
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "port81.conf"), []byte(included), 0o644)
	path := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(path, []byte(main), 0o644)
	return path
}

// TestImportKeepalivedServed: a keepalived configuration imported with `import-keepalived
// --apply` serves as keepalived's LVS would: new connections split 1:3 by the weights, each
// answer's data intact (SHA-256); a stopped real server is quiesced (weight 0) on the service
// with inhibit_on_failure and removed on the other; the sorry server answers while every real
// server is down.
func TestImportKeepalivedServed(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t, "kaimp", 3)
	e.client.Timeout = 10 * time.Second // a busy machine: a request that fails is a finding, a slow one is not
	rs0 := e.serveHTTP(0)
	rs1 := e.serveHTTP(1)
	e.serveHTTP(2) // the sorry server
	conf := keepalivedConf(t.TempDir())
	cmd := exec.Command(e.adm, "--socket", e.d.Socket, "import-keepalived", conf, "--apply")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("import-keepalived --apply: %v\n%s", err, out)
	}
	t.Logf("import-keepalived --apply:\n%s", out)
	for _, want := range []string{conf + ":3: global_defs not translated", conf + ":7: vrrp_instance not translated",
		": 2 services, 4 real servers, 2 health checks translated"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("import notes lack %q", want)
		}
	}
	saved := e.adm1("-S")
	for _, want := range []string{
		"-a -t " + topo.VIP4 + ":80 -r " + topo.RS4(1) + ":8080 -m -w 3\n",
		"--health -t " + topo.VIP4 + ":80 --check http --path / --expect 200 --interval 1s --timeout 1s --rise 1 --fall 2 --on-fail quiesce --sorry " + topo.RS4(2) + ":8080 -m\n",
		"--health -t " + topo.VIP4 + ":81 --check tcp --interval 1s --timeout 1s --rise 1 --fall 2 --on-fail remove\n",
	} {
		if !strings.Contains(saved, want) {
			t.Errorf("-S lacks %q:\n%s", want, saved)
		}
	}
	e.waitUntil("first checks", 10*time.Second, func() bool {
		for _, s := range e.listJSON() {
			for _, d := range s.RealServers {
				if d.Health == nil || !d.Health.Up {
					return false
				}
			}
		}
		return true
	})

	// The weights: 40 new connections to each service go 10 and 30 (wrr 1:3).
	for _, port := range []uint16{80, 81} {
		if got := e.requestsTo(port, 40); got["rs0"] != 10 || got["rs1"] != 30 {
			t.Errorf(":%d: 40 new connections went %v, want rs0 10, rs1 30 (weights 1 and 3)\nshow drops:\n%s",
				port, got, e.adm1("show", "drops"))
		}
		e.checkData(port, 7, 1<<20)
	}
	e.reusedClientPort(80, 81)

	// rs1 stops: quiesced on :80 (inhibit_on_failure), removed from :81.
	rs1.Close()
	e.waitUntil("rs1 down on both services", 10*time.Second, func() bool { return e.downOnAll(topo.RS4(1)) })
	list := e.adm1("-Ln")
	if !strings.Contains(list, "  -> "+topo.RS4(1)+":8080              Masq    0 ") {
		t.Errorf("-Ln does not show rs1 quiesced on :80:\n%s", list)
	}
	t.Logf("-Ln with rs1 down:\n%s", list)
	for _, port := range []uint16{80, 81} {
		if got := e.requestsTo(port, 20); got["rs0"] != 20 {
			t.Errorf(":%d with rs1 down: %v, want every connection on rs0", port, got)
		}
	}

	// rs0 stops too: the sorry server answers :80; :81 has none.
	rs0.Close()
	e.waitUntil("rs0 down on both services", 10*time.Second, func() bool { return e.downOnAll(topo.RS4(0)) })
	e.waitUntil("sorry server", 10*time.Second, func() bool {
		for _, s := range e.listJSON() {
			if s.Port == 80 {
				return s.SorryActive
			}
		}
		return false
	})
	if got := e.requestsTo(80, 10); got["rs2"] != 10 {
		t.Errorf(":80 with every real server down: %v, want the sorry server rs2", got)
	}
	e.checkData(80, 8, 1<<20)
}

// downOnAll tells whether the health checks of every service find real server addr down.
func (e *env) downOnAll(addr string) bool {
	e.t.Helper()
	for _, s := range e.listJSON() {
		for _, d := range s.RealServers {
			if d.Address.String() == addr && (d.Health == nil || d.Health.Up) {
				return false
			}
		}
	}
	return true
}

// reusedClientPort has the client open a connection to VIP:port1 and then, from the same client
// port, one to VIP:port2, until three such pairs have gone to the same real server. The second
// connection's reply tuple (server to client port) is then that of the first, finished one: it
// must take it, without a tuple_taken drop (which would cost a retransmitted SYN and a
// scheduler turn).
func (e *env) reusedClientPort(port1, port2 uint16) {
	t := e.t
	t.Helper()
	before := e.drops()["tuple_taken"]
	same := 0
	const ports = 20 // a pair goes to one server with p = 10/16 (wrr 1:3): 3 of 20 all but surely
	for lport := 41000; lport < 41000+ports && same < 3; lport++ {
		s1, err := e.getFrom(lport, port1)
		if err != nil {
			t.Fatalf("client port %d to :%d: %v", lport, port1, err)
		}
		time.Sleep(100 * time.Millisecond) // the last ACK through the director: TIME_WAIT there
		s2, err := e.getFrom(lport, port2)
		if err != nil {
			t.Fatalf("client port %d to :%d, after :%d: %v", lport, port2, port1, err)
		}
		if s1 == s2 {
			same++
		}
	}
	after := e.drops()["tuple_taken"]
	if same < 3 {
		t.Fatalf("only %d of %d client ports went to the same real server on :%d and :%d (%d SYNs dropped as tuple_taken)",
			same, ports, port1, port2, after-before)
	}
	if after != before {
		t.Errorf("a client port reused towards :%d: %d SYNs dropped as tuple_taken:\n%s", port2, after-before, e.adm1("show", "drops"))
	}
}

// getFrom makes an HTTP/1.0 request to VIP:port from the client's port lport and returns the
// server that answered.
func (e *env) getFrom(lport int, port uint16) (string, error) {
	var c net.Conn
	err := e.clientNS.Do(func() (err error) {
		c, err = portDialer(net.ParseIP(topo.Client4), lport, 10*time.Second).Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr(topo.VIP4), port).String())
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if server := resp.Header.Get("X-Server"); string(body) != server || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s, body %q from %q", resp.Status, body, server)
	}
	return string(body), nil
}

// portDialer dials from (ip, port) with SO_REUSEADDR, so that a client can reconnect from the port
// of a connection just closed.
func portDialer(ip net.IP, port int, timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: ip, Port: port},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
			return cmp.Or(err, serr)
		}}
}

// requestsTo makes n HTTP requests to VIP:port, each on a new connection, and counts the answers
// by server ("error" for failures).
func (e *env) requestsTo(port uint16, n int) map[string]int {
	e.t.Helper()
	got := map[string]int{}
	for range n {
		body, server, err := topo.Get(e.client, topo.URL(topo.VIP4, port, "/"))
		switch {
		case err != nil:
			got["error"]++
			e.t.Logf(":%d: %v", port, err)
		case string(body) != server:
			e.t.Fatalf("body %q from %q", body, server)
		default:
			got[server]++
		}
	}
	return got
}

// checkData fetches n bytes of seed's data through VIP:port and checks their SHA-256.
func (e *env) checkData(port uint16, seed uint64, n int64) {
	e.t.Helper()
	body, server, err := topo.Get(e.client, topo.URL(topo.VIP4, port, fmt.Sprintf("/data?n=%d&seed=%d", n, seed)))
	if err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if got, want := hex.EncodeToString(sum[:]), topo.DataSHA256(seed, n); got != want {
		e.t.Errorf(":%d: %d bytes from %s with SHA-256 %s, want %s", port, len(body), server, got, want)
	}
}

// TestImportDPVSExampleServed: DPVS's own keepalived example (doc/containerized/keepalived.conf,
// as in mgmt/cli/testdata/keepalived), its addresses and interface mapped to the test's and
// nothing else changed, imported with --apply and served: FULLNAT from the IPv4 VIP through the
// two local addresses of its local_address_group (added on the interface by the daemon), rr over
// two servers of weight 100 (20 and 20 of 40 connections), the IPv6 VIP's conhash service (mh)
// to three IPv4 servers (NAT64), data intact; a stopped server is quiesced (inhibit_on_failure)
// and the other takes every connection.
func TestImportDPVSExampleServed(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t, "kadpvs", 2)
	e.client.Timeout = 10 * time.Second
	var stops []func()
	for i := range 2 {
		for _, port := range []uint16{80, 8080} {
			s, err := topo.ServeHTTP(e.nat.RS[i], netip.AddrPortFrom(netip.MustParseAddr(topo.RS4(i)), port), fmt.Sprintf("rs%d:%d", i, port))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			stops = append(stops, func() { s.Close() })
		}
	}
	sample, err := os.ReadFile("../../mgmt/cli/testdata/keepalived/dpvs.containerized.keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(
		"192.168.88.240", "198.18.9.1", "192.168.88.241", "198.18.9.2", // the local addresses
		"192.168.88.130", topo.RS4(1), "192.168.88.30", topo.RS4(0), "192.168.88.1", topo.VIP4, "2001::1", topo.VIP6,
		"dpdk0.102", "d1",
	).Replace(string(sample))
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	os.WriteFile(path, []byte(conf), 0o644)
	out, err := exec.Command(e.adm, "--socket", e.d.Socket, "import-keepalived", path, "--apply").CombinedOutput()
	if err != nil {
		t.Fatalf("import-keepalived --apply: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), ": 2 services, 5 real servers, 2 health checks translated; 10 notes") {
		t.Errorf("the import:\n%s", out)
	}
	t.Logf("-S after the import:\n%s", e.adm1("-S"))
	e.waitUntil("first checks", 10*time.Second, func() bool {
		for _, s := range e.listJSON() {
			for _, d := range s.RealServers {
				if d.Health == nil || !d.Health.Up {
					return false
				}
			}
		}
		return true
	})
	if got := e.requestsTo(80, 40); got["rs0:80"] != 20 || got["rs1:80"] != 20 {
		t.Errorf("%s:80 (rr, weights 100 and 100): 40 new connections went %v, want 20 and 20", topo.VIP4, got)
	}
	e.checkData(80, 9, 1<<20)
	for range 4 { // the real servers see the connections come from a local address of the group
		body, _, err := topo.Get(e.client, topo.URL(topo.VIP4, 80, "/whoami"))
		peer, perr := netip.ParseAddrPort(string(body))
		if err != nil || perr != nil || (peer.Addr().String() != "198.18.9.1" && peer.Addr().String() != "198.18.9.2") {
			t.Fatalf("the real server saw the connection from %q (%v), want a local address", body, err)
		}
	}
	got6 := map[string]int{}
	for range 20 {
		body, server, err := topo.Get(e.client, topo.URL(topo.VIP6, 80, "/"))
		if err != nil || string(body) != server {
			t.Fatalf("%s:80: %q %v", topo.VIP6, body, err)
		}
		got6[server]++
	}
	t.Logf("[%s]:80 (mh over rs0:80, rs1:8080, rs0:8080; one client): %v", topo.VIP6, got6)

	// rs0:80 stops: quiesced, rs1 takes the IPv4 VIP's connections. rs0:80 is a real server of the
	// IPv6 VIP too, whose checker may see it down first: wait for the IPv4 VIP's.
	stops[0]()
	e.waitUntil("rs0:80 down on the IPv4 VIP", 10*time.Second, func() bool {
		for _, s := range e.listJSON() {
			if s.Address.String() != topo.VIP4 || s.Port != 80 {
				continue
			}
			for _, d := range s.RealServers {
				if d.Address.String() == topo.RS4(0) && d.Port == 80 && d.Health != nil && !d.Health.Up && d.Health.Weight == 0 {
					return true
				}
			}
		}
		return false
	})
	if list := e.adm1("-Ln"); !strings.Contains(list, "  -> "+topo.RS4(0)+":80                FullNat 0 ") {
		t.Errorf("-Ln does not show rs0:80 quiesced:\n%s", list)
	}
	if got := e.requestsTo(80, 20); got["rs1:80"] != 20 {
		t.Errorf("%s:80 with rs0:80 down: %v, want every connection on rs1:80", topo.VIP4, got)
	}
}
