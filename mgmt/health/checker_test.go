package health

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
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

	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

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
	n := mgmttest.NewFakeNet()
	rs := "198.18.1.2:8080"
	svc := model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}

	// TCP connect.
	tcp := New(&model.HealthSpec{Check: model.CheckTCP}, svc, n.Dial, "")
	if err := check(t, tcp, rs, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("tcp to nothing: %v", err)
	}
	n.Set("tcp", rs, mgmttest.AcceptAll)
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
	n.Set("tcp", rs, httpHandler(mux, nil))
	for _, tc := range []struct {
		spec model.HealthSpec
		want string
	}{
		{model.HealthSpec{Check: model.CheckHTTP, Path: "/health", Expect: 200}, ""},
		{model.HealthSpec{Check: model.CheckHTTP, Path: "/", Expect: 200}, "status 503, want 200"},
		{model.HealthSpec{Check: model.CheckHTTP, Path: "/moved", Expect: 301}, ""},
		{model.HealthSpec{Check: model.CheckHTTP, Path: "/moved", Expect: 200}, "status 301, want 200"},
		{model.HealthSpec{Check: model.CheckHTTP, Path: "/health", Host: "www.example", Expect: 200}, ""},
	} {
		err := check(t, New(&tc.spec, svc, n.Dial, ""), rs, time.Second)
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
	n.Set("tcp", rs, httpHandler(mux, selfSigned(t)))
	https := New(&model.HealthSpec{Check: model.CheckHTTPS, Path: "/health", Expect: 200}, svc, n.Dial, "")
	if err := check(t, https, rs, 2*time.Second); err != nil {
		t.Errorf("https: %v", err)
	}
	// An HTTP check against a silent server times out.
	n.Set("tcp", rs, func(c net.Conn) { time.Sleep(time.Second) })
	if err := check(t, New(&model.HealthSpec{Check: model.CheckHTTP, Path: "/", Expect: 200}, svc, n.Dial, ""), rs, 50*time.Millisecond); err == nil {
		t.Error("http to a silent server passed")
	}

	// UDP: a reply that must contain the text, or just no error.
	udpSvc := model.ServiceKey{Protocol: model.UDP, Address: svc.Address, Port: 53}
	echo := func(prefix string) func(net.Conn) {
		return func(c net.Conn) {
			b := make([]byte, 100)
			k, err := c.Read(b)
			if err == nil {
				c.Write(append([]byte(prefix), b[:k]...))
			}
		}
	}
	n.Set("udp", rs, echo("pong:"))
	if err := check(t, New(&model.HealthSpec{Check: model.CheckUDP, Send: "ping", Receive: "pong:ping"}, udpSvc, n.Dial, ""), rs, time.Second); err != nil {
		t.Errorf("udp reply: %v", err)
	}
	if err := check(t, New(&model.HealthSpec{Check: model.CheckUDP, Send: "ping", Receive: "nope"}, udpSvc, n.Dial, ""), rs, 100*time.Millisecond); err == nil {
		t.Error("udp: a wrong reply passed")
	}
	n.Set("udp", rs, func(c net.Conn) { c.Read(make([]byte, 100)); time.Sleep(time.Second) })
	if err := check(t, New(&model.HealthSpec{Check: model.CheckUDP}, udpSvc, n.Dial, ""), rs, 100*time.Millisecond); err != nil {
		t.Errorf("udp, silence is no error: %v", err)
	}
	n.Set("udp", rs, func(c net.Conn) { c.Read(make([]byte, 100)) }) // closes: the read fails like an ICMP error
	if err := check(t, New(&model.HealthSpec{Check: model.CheckUDP}, udpSvc, n.Dial, ""), rs, time.Second); err == nil {
		t.Error("udp: an error passed")
	}
}

// writeScript writes an executable shell script NAME into dir.
func writeScript(t *testing.T, dir ScriptDir, name, body string) string {
	t.Helper()
	p := filepath.Join(string(dir), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScriptChecker(t *testing.T) {
	svc := model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}
	out := filepath.Join(t.TempDir(), "args")
	dir := ScriptDir(t.TempDir())
	ok := writeScript(t, dir, "ok", `echo "$1 $2 $XDPVS_VIP $XDPVS_VPORT $XDPVS_PROTOCOL" > `+out+`; exit 0`)
	if err := check(t, New(&model.HealthSpec{Check: model.CheckScript, Script: ok}, svc, nil, dir), "198.18.1.2:8080", 5*time.Second); err != nil {
		t.Fatalf("script: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "198.18.1.2 8080 198.18.0.10 80 TCP\n" {
		t.Errorf("script saw %q", b)
	}
	bad := writeScript(t, dir, "bad", `echo "no backend"; exit 3`)
	err := check(t, New(&model.HealthSpec{Check: model.CheckScript, Script: bad}, svc, nil, dir), "198.18.1.2:8080", 5*time.Second)
	if err == nil || err.Error() != "exit status 3: no backend" {
		t.Errorf("failing script: %v", err)
	}
	// Without a directory of scripts, or outside it, nothing runs.
	if err := check(t, New(&model.HealthSpec{Check: model.CheckScript, Script: ok}, svc, nil, ""), "198.18.1.2:8080", 5*time.Second); !errors.Is(err, ErrScriptsNotAllowed) {
		t.Errorf("no directory: %v", err)
	}
	if err := check(t, New(&model.HealthSpec{Check: model.CheckScript, Script: ok}, svc, nil, ScriptDir(t.TempDir())), "198.18.1.2:8080", 5*time.Second); err == nil || !strings.Contains(err.Error(), "is not under the health-scripts directory") {
		t.Errorf("another directory: %v", err)
	}
	// A script that hangs, with a child holding its output, is killed with its group on timeout.
	slow := writeScript(t, dir, "slow", `sleep 30 & sleep 30`)
	start := time.Now()
	err = check(t, New(&model.HealthSpec{Check: model.CheckScript, Script: slow}, svc, nil, dir), "198.18.1.2:8080", 200*time.Millisecond)
	if err == nil || err.Error() != "script timed out" || time.Since(start) > 3*time.Second {
		t.Errorf("slow script: %v after %v", err, time.Since(start))
	}
}
