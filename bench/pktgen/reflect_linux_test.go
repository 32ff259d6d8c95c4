package pktgen

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/internal/testutil"
)

// reflectFrame is a UDP/IPv4 frame (TTL ttl) with valid checksums: 02:..:01 198.18.0.1:1000 →
// 02:..:02 198.18.0.2:53.
func reflectFrame(ttl, proto uint8) []byte {
	f := make([]byte, 14+20+8+18)
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, ttl, proto
	binary.BigEndian.PutUint16(ip[2:], 20+8+18)
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ^header.Checksum(ip, 0))
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], 1000)
	binary.BigEndian.PutUint16(u[2:], 53)
	binary.BigEndian.PutUint16(u[4:], 8+18)
	copy(u[8:], "the reflected load")
	binary.BigEndian.PutUint16(u[6:], ^header.Checksum(u, header.PseudoHeaderChecksum(proto, ip[12:16], ip[16:20], uint16(len(u)))))
	return f
}

// TestReflector runs the reflector through BPF_PROG_RUN: a UDP frame comes back as the other
// end's answer (MACs, addresses, ports swapped; TTL 64) with both checksums still right, and is
// counted; past the limit frames are dropped and counted; anything else passes untouched.
func TestReflector(t *testing.T) {
	testutil.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	var r Reflector
	if err := loadReflectObjects(&r.objs, nil); err != nil {
		t.Fatal(err)
	}
	defer r.objs.Close()
	run := func(in []byte) (uint32, []byte) {
		t.Helper()
		out := make([]byte, len(in)+256)
		opts := &ebpf.RunOptions{Data: in, DataOut: out, Repeat: 1}
		ret, err := r.objs.XdpvsReflect.Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		return ret, opts.DataOut
	}
	if err := r.SetLimit(2); err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []uint8{1, 63} {
		in := reflectFrame(ttl, 17)
		ret, out := run(in)
		if ret != 3 {
			t.Fatalf("TTL %d: returned %d, want XDP_TX", ttl, ret)
		}
		want := reflectFrame(64, 17)
		copy(want[0:6], in[6:12])
		copy(want[6:12], in[0:6])
		copy(want[26:30], in[30:34])
		copy(want[30:34], in[26:30])
		copy(want[34:36], in[36:38])
		copy(want[36:38], in[34:36])
		if !bytes.Equal(out[:34], want[:34]) || !bytes.Equal(out[34:36], want[34:36]) || !bytes.Equal(out[36:38], want[36:38]) {
			t.Errorf("TTL %d: got\n% x\nwant\n% x", ttl, out, want)
		}
		if c := header.Checksum(out[14:34], 0); c != 0xffff {
			t.Errorf("TTL %d: the IP header's checksum is wrong (sum %#04x)", ttl, c)
		}
		u := out[34:]
		if c := header.Checksum(u, header.PseudoHeaderChecksum(17, out[26:30], out[30:34], uint16(len(u)))); c != 0xffff {
			t.Errorf("TTL %d: the UDP checksum is wrong (sum %#04x)", ttl, c)
		}
	}
	if ret, _ := run(reflectFrame(64, 17)); ret != 1 {
		t.Fatalf("past the limit: returned %d, want XDP_DROP", ret)
	}
	frag := reflectFrame(64, 17)
	frag[20] |= 0x20 // MF
	arp := reflectFrame(64, 17)
	arp[12], arp[13] = 0x08, 0x06
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"TCP", reflectFrame(64, 6)}, {"a fragment", frag}, {"ARP", arp}, {"a truncated frame", reflectFrame(64, 17)[:36]}} {
		if ret, out := run(c.frame); ret != 2 || !bytes.Equal(out, c.frame) {
			t.Fatalf("%s: returned %d (changed: %v), want XDP_PASS untouched", c.name, ret, !bytes.Equal(out, c.frame))
		}
	}
	if n, d, err := r.Counts(); err != nil || n != 2 || d != 1 {
		t.Fatalf("counts: %d reflected, %d dropped, %v; want 2, 1", n, d, err)
	}
	if err := r.Reset(); err != nil {
		t.Fatal(err)
	}
	if ret, _ := run(reflectFrame(64, 17)); ret != 3 {
		t.Fatalf("after Reset: returned %d, want XDP_TX", ret)
	}
}
