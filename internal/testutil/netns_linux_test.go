package testutil

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNetNSAndVeth(t *testing.T) {
	RequireRoot(t)
	a := NewNetNS(t, "a")
	b := NewNetNS(t, "b")
	if len(a.Name) > maxNameLen || a.Name == b.Name {
		t.Fatalf("bad names %q %q", a.Name, b.Name)
	}
	v := NewVethPair(t, a, "va", b, "vb", 2)
	t.Log(v)
	if q := strings.Fields(a.Run(t, "ls", "/sys/class/net/va/queues")); len(q) != 4 {
		t.Fatalf("va queues: %v, want rx-0 rx-1 tx-0 tx-1", q)
	}
	if out := b.Run(t, "ethtool", "-k", "vb"); !strings.Contains(out, "tx-checksumming: off") ||
		!strings.Contains(out, "generic-receive-offload: on") {
		t.Fatalf("offloads not set:\n%s", out)
	}
	a.Run(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "va")
	b.Run(t, "ip", "addr", "add", "198.18.0.2/24", "dev", "vb")

	// A UDP socket made inside b from this process, reached from a.
	var conn *net.UDPConn
	b.MustDo(t, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.18.0.2:9000")))
		return err
	})
	defer conn.Close()
	var client *net.UDPConn
	a.MustDo(t, func() error {
		var err error
		client, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.18.0.2:9000")))
		return err
	})
	defer client.Close()
	buf := make([]byte, 64)
	got := false
	for i := 0; i < 20 && !got; i++ { // bounded: ARP may take a moment
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		got = err == nil && string(buf[:n]) == "hello"
	}
	if !got {
		t.Fatal("no datagram across the veth pair")
	}
	if _, err := a.Exec("false"); err == nil {
		t.Fatal("Exec(false) returned nil error")
	}
}
