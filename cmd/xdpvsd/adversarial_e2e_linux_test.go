package main

import (
	"context"
	"encoding/binary"

	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestAdversarialFloods: three attacks, each at a bounded rate, while a legitimate client makes
// 1,000 connections through the attacked service; at least 99.9 % of them must succeed, and the
// attack is counted under its own reason.
//
//   - a spoofed SYN flood (sources routed through the client: the internet behind a router)
//     against a NAT service without -j: the defence evicts the flood's unassured connections for
//     the client's (conn_evicted);
//   - a flood crafted against the old connection hash (sources of one IPv6 /64 whose interface
//     identifiers and ports made every tuple's hash equal): under the keyed hash its tuples spread
//     like any others;
//   - idle handshakes against a -j service: real TCP connections that complete their handshake and
//     never send (the server waits for a request), 1,500 of them, more than a worker's 1,024
//     pending slots: the replay frees each slot, so they take none.
func TestAdversarialFloods(t *testing.T) {
	t.Run("spoofed_syn_flood", func(t *testing.T) {
		e, syn := adversaryEnv(t)
		var frames [][]byte
		for i := range 20000 {
			src := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
			frames = append(frames, syn(src, uint16(1024+i%50000), netip.MustParseAddr(topo.VIP4), 81))
		}
		ok := underFlood(t, e, frames, 5000, topo.URL(topo.VIP4, 81, "/"), 1000)
		evicted := e.events("conn_evicted")["conn_evicted"]
		t.Logf("spoofed SYN flood at 5,000/s into a 4,096-connection table: %d/1000 connections, %d flood connections evicted", ok, evicted)
		if ok < 999 {
			t.Errorf("%d of 1,000 legitimate connections succeeded", ok)
		}
		if evicted == 0 {
			t.Error("the flood filled the table without the defence evicting anything")
		}
	})

	t.Run("old_hash_collisions", func(t *testing.T) {
		e, syn := adversaryEnv(t)
		const c2, c5 = 0xc2b2ae3d27d4eb4f, 0x27d4eb2f165667c5 // the old hash's multipliers
		inv := uint64(1)
		for range 6 {
			inv *= 2 - c2*inv
		}
		base := netip.MustParseAddr("2001:2:1::").As16()
		var frames [][]byte
		for p := range 20000 {
			a := base
			binary.LittleEndian.PutUint64(a[8:], (0x1234-uint64(1024+p)*c5)*inv) // one sum for every tuple
			frames = append(frames, syn(netip.AddrFrom16(a), uint16(1024+p), netip.MustParseAddr(topo.VIP6), 80))
		}
		ok := underFlood(t, e, frames, 5000, topo.URL(topo.VIP6, 80, "/"), 1000)
		t.Logf("colliding-tuple flood at 5,000/s: %d/1000 connections; drops %v", ok, nonZero(e.drops()))
		if ok < 999 {
			t.Errorf("%d of 1,000 legitimate connections succeeded", ok)
		}
		if d := e.drops()["probe_limit"]; d != 0 {
			t.Errorf("probe_limit drops %d: the keyed hash let the tuples collide", d)
		}
	})

	t.Run("idle_handshakes", func(t *testing.T) {
		e, _ := adversaryEnv(t)
		dial := topo.DialContext(e.nat.Client)
		var idle []net.Conn
		defer func() {
			for _, c := range idle {
				c.Close()
			}
		}()
		var mu sync.Mutex
		var wg sync.WaitGroup
		failedIdle := 0
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 150 {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					c, err := dial(ctx, "tcp", topo.VIP4+":80")
					cancel()
					mu.Lock()
					if err != nil {
						failedIdle++
					} else {
						idle = append(idle, c)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		ok := 0
		for range 1000 {
			if _, _, err := topo.Get(e.client, topo.URL(topo.VIP4, 80, "/")); err == nil {
				ok++
			}
		}
		sp := e.synProxyCounters()
		t.Logf("%d idle handshakes held open (%d failed), then %d/1000 connections; synproxy: %v; drops %v",
			len(idle), failedIdle, ok, nonZero(sp), nonZero(e.drops()))
		if ok < 999 || len(idle) < 1400 {
			t.Errorf("%d idle connections, %d of 1,000 legitimate connections succeeded", len(idle), ok)
		}
		if d := e.drops()["synproxy_no_slot"]; d != 0 {
			t.Errorf("synproxy_no_slot drops %d: idle handshakes held pending slots", d)
		}
	})
}

// adversaryEnv is the NAT layout with a 4,096-connection table, the networks 198.19.0.0/16 and
// 2001:2:1::/64 routed through the client (the internet behind a router, where spoofed sources come
// from), and three services: 198.18.0.10:80 with -j, 198.18.0.10:81 and [2001:2::10]:80 without.
// It returns a maker of SYN frames from the client's interface to the director's.
func adversaryEnv(t *testing.T) (*env, func(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte) {
	t.Helper()
	e := newEnv(t, "adversary", 1, "--conns", "4096")
	dir := e.nat.Director
	for _, c := range [][]string{
		{"ip", "route", "add", "198.19.0.0/16", "via", topo.Client4},
		{"ip", "-6", "route", "add", "2001:2:1::/64", "via", topo.Client6},
	} {
		if out, err := dir.Exec(c...); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	e.synProxyService(false, false, "")
	e.natService("-t", true)
	plain := topo.VIP4 + ":81"
	e.adm1("-A", "-t", plain, "-s", "rr")
	for i := range 2 {
		e.adm1("-a", "-t", plain, "-r", topo.RS4(i)+":8080", "-m")
	}
	c0, d0 := testutil.Iface(t, e.nat.Client, "c0"), testutil.Iface(t, dir, "d0")
	return e, func(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
		return synFrame(t, c0.HardwareAddr, d0.HardwareAddr, src, sport, dst, dport)
	}
}

// underFlood sends frames from the client's interface at pps, cycling, while it makes n requests
// to url one after another; it returns how many succeeded. The flood stops when they are done.
func underFlood(t *testing.T, e *env, frames [][]byte, pps int, url string, n int) int {
	t.Helper()
	ifindex := testutil.Iface(t, e.nat.Client, "c0").Index
	fd := sendSocket(t, e.nat.Client, ifindex)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		sent, tick := 0, time.NewTicker(10*time.Millisecond)
		defer tick.Stop()
		sa := &unix.SockaddrLinklayer{Ifindex: ifindex}
		for i := 0; ; {
			select {
			case <-stop:
				done <- sent
				return
			case <-tick.C:
			}
			for range pps / 100 {
				if unix.Sendto(fd, frames[i%len(frames)], 0, sa) == nil {
					sent++
				}
				i++
			}
		}
	}()
	time.Sleep(2 * time.Second) // the flood fills the table first
	ok := 0
	for range n {
		if _, _, err := topo.Get(e.client, url); err == nil {
			ok++
		}
	}
	close(stop)
	t.Logf("flood: %d frames sent", <-done)
	return ok
}

// sendSocket opens an AF_PACKET socket for sending on interface ifindex of ns.
func sendSocket(t *testing.T, ns *netns.NS, ifindex int) int {
	t.Helper()
	var fd int
	if err := ns.Do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// synFrame is a TCP SYN with valid checksums from src:sport to dst:dport, as an Ethernet frame.
func synFrame(t *testing.T, srcMAC, dstMAC net.HardwareAddr, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: uint32(sport) << 16, SYN: true, Window: 64240,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
	var ip gopacket.SerializableLayer
	if src.Is4() {
		v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v4)
		ip = v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(v6)
		ip = v6
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// nonZero keeps the counts that are not zero.
func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
