// Package mgmttest holds what the tests of the mgmt packages share: the golden configuration, the
// golden-file helper and an in-memory network for the health checks. Only tests import it.
package mgmttest

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// GoldenConfig has v4 and v6 services with real servers of every forwarding method.
const GoldenConfig = `
-A -t 198.18.0.10:80 -s rr -j
-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m -w 3 -x 100 -y 10
-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m -w 1
-A -u 198.18.0.10:53 -s wrr -p -M 255.255.255.0 -o
-a -u 198.18.0.10:53 -r 198.18.1.4 -g -w 0
-A -t [2001:2::10]:443 -s wrr -p 600 -M 64
-a -t [2001:2::10]:443 -r [2001:2::1:2]:8443 -b -w 2
-a -t [2001:2::10]:443 -r 198.18.1.5:8443 --fullnat -w 1
-a -t [2001:2::10]:443 -r [2001:2::1:3] -i
--add-laddr -z 198.18.2.1 -t [2001:2::10]:443
--add-laddr -z 2001:2::2:1 -t [2001:2::10]:443
--set 3600 60 120
`

// Golden compares got with testdata/NAME.golden of the calling package's directory, or rewrites
// that file when the test runs with -update.
func Golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

// FakeNet is an in-memory network for the checkers: a dial to an address runs that address's
// handler on the far end of a net.Pipe; an address without a handler refuses.
type FakeNet struct {
	mu       sync.Mutex
	handlers map[string]func(net.Conn)
	dials    map[string]int
}

// NewFakeNet returns a network where every address refuses.
func NewFakeNet() *FakeNet {
	return &FakeNet{handlers: map[string]func(net.Conn){}, dials: map[string]int{}}
}

// Set makes h serve network/addr; a nil h makes it refuse.
func (n *FakeNet) Set(network, addr string, h func(net.Conn)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h == nil {
		delete(n.handlers, network+"/"+addr)
		return
	}
	n.handlers[network+"/"+addr] = h
}

// DialCount is how many times network/addr was dialled.
func (n *FakeNet) DialCount(network, addr string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials[network+"/"+addr]
}

// Dial is a health.DialFunc on the fake network.
func (n *FakeNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
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

// AcceptAll is a TCP handler that accepts and closes.
func AcceptAll(c net.Conn) {}
