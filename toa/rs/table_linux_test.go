package rs

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

// These tests fill a map of the agent's layout themselves (the BPF program's side is tested in
// cmd/xdpvs-rs, with BPF_PROG_TEST_RUN and end to end) and read it through the package's API.

func newPinnedMap(t *testing.T, dir string) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.LRUHash, KeySize: KeySize, ValueSize: ValueSize, MaxEntries: 64})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := m.Pin(filepath.Join(dir, MapTOA)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unpin(); m.Close() })
	return m
}

func put(t *testing.T, m *ebpf.Map, local, remote, client string) {
	t.Helper()
	k := MakeKey(netip.MustParseAddrPort(local), netip.MustParseAddrPort(remote))
	v := MakeValue(netip.MustParseAddrPort(client), monotonic()-time.Second)
	if err := m.Put(&k, &v); err != nil {
		t.Fatal(err)
	}
}

// fakeConn is a net.Conn with given addresses.
type fakeConn struct {
	net.Conn
	local, remote net.Addr
}

func (c fakeConn) LocalAddr() net.Addr  { return c.local }
func (c fakeConn) RemoteAddr() net.Addr { return c.remote }

func tcpConn(local, remote string) net.Conn {
	return fakeConn{
		local:  net.TCPAddrFromAddrPort(netip.MustParseAddrPort(local)),
		remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(remote)),
	}
}

func TestTable(t *testing.T) {
	dir := filepath.Join(testutil.PrivateBPFFS(t), "xdpvs-rs")
	if _, err := Open(dir); err == nil {
		t.Fatal("Open without a map succeeded")
	}
	m := newPinnedMap(t, dir)
	put(t, m, "198.18.2.2:80", "198.18.1.1:5001", "198.18.0.7:4660")
	put(t, m, "[2001:2:0:2::2]:443", "[2001:2:0:1::1]:5002", "[2001:2::7]:65000")
	put(t, m, "198.18.2.2:80", "198.18.1.1:5003", "[2001:2::8]:1") // NAT64

	tb, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	cases := []struct {
		conn net.Conn
		want string
	}{
		{tcpConn("198.18.2.2:80", "198.18.1.1:5001"), "198.18.0.7:4660"},
		// A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
		{tcpConn("[::ffff:198.18.2.2]:80", "[::ffff:198.18.1.1]:5001"), "198.18.0.7:4660"},
		{tcpConn("[2001:2:0:2::2]:443", "[2001:2:0:1::1]:5002"), "[2001:2::7]:65000"},
		{tcpConn("198.18.2.2:80", "198.18.1.1:5003"), "[2001:2::8]:1"},
		{tcpConn("198.18.2.2:80", "198.18.1.1:5009"), ""},
		{fakeConn{local: &net.UDPAddr{}, remote: &net.UDPAddr{}}, ""},
	}
	for _, tc := range cases {
		got, ok := tb.ClientAddr(tc.conn)
		if tc.want == "" {
			if ok {
				t.Errorf("%v: found %v", tc.conn.RemoteAddr(), got)
			}
			continue
		}
		if !ok || got.String() != tc.want {
			t.Errorf("%v: got %v %v, want %s", tc.conn.RemoteAddr(), got, ok, tc.want)
		}
	}
	es, err := tb.Entries()
	if err != nil || len(es) != 3 {
		t.Fatalf("Entries: %v %v", es, err)
	}
	if es[0].Remote.String() != "198.18.1.1:5001" || es[0].Age < time.Second || es[0].Age > time.Minute {
		t.Errorf("first entry %+v", es[0])
	}

	// The agent restarts: a new map replaces the pin. A miss reopens it.
	reopenEvery = 0
	defer func() { reopenEvery = time.Second }()
	m.Unpin()
	m2 := newPinnedMap(t, dir)
	put(t, m2, "198.18.2.2:80", "198.18.1.1:6000", "198.18.0.9:9")
	if got, ok := tb.Lookup(netip.MustParseAddrPort("198.18.2.2:80"), netip.MustParseAddrPort("198.18.1.1:6000")); !ok || got.String() != "198.18.0.9:9" {
		t.Fatalf("after the pin was replaced: %v %v", got, ok)
	}

	// The package-level ClientAddr and the HTTP helpers, through $XDPVS_RS_PIN.
	t.Setenv(PinDirEnv, dir)
	c := tcpConn("198.18.2.2:80", "198.18.1.1:6000")
	if got, ok := ClientAddr(c); !ok || got.String() != "198.18.0.9:9" {
		t.Fatalf("ClientAddr: %v %v", got, ok)
	}
	ctx := ConnContext(context.Background(), c)
	if got, ok := ClientFromContext(ctx); !ok || got.String() != "198.18.0.9:9" {
		t.Fatalf("ClientFromContext: %v %v", got, ok)
	}
	if _, ok := ClientFromContext(ConnContext(context.Background(), tcpConn("198.18.2.2:80", "198.18.1.1:1"))); ok {
		t.Fatal("ClientFromContext found a client for a connection without TOA")
	}
	defaultMu.Lock()
	if defaultTable != nil {
		defaultTable.Close()
		defaultTable = nil
	}
	defaultMu.Unlock()
}

func TestOpenWrongLayout(t *testing.T) {
	dir := filepath.Join(testutil.PrivateBPFFS(t), "x")
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	os.MkdirAll(dir, 0o700)
	if err := m.Pin(filepath.Join(dir, MapTOA)); err != nil {
		t.Fatal(err)
	}
	defer m.Unpin()
	if _, err := Open(dir); err == nil {
		t.Fatal("opened a map of another layout")
	}
}
