package bench

// The XDP ceilings of TestLB: a trivial XDP program on the director's client-side veth d0 (the
// two-arm NAT layout) that rewrites the MACs and either redirects every frame to the first real
// server's veth (bpf_redirect, the bare XDP_REDIRECT forward) or sends it back out of d0 with
// XDP_TX, to the client's c0, where a sink counts (the bare XDP_TX forward). No bridge is on the
// way of either: on the one-arm DR layout the generator's frames crossed one, which held them to
// 0.1–1.3 Mpps. A veth flushes XDP_TX frames to its peer only when the peer runs an XDP program
// of its own (veth_xdp_flush): the sink on c0 is one.

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/xdpvs/xdpvs/bench/pktgen"
	"github.com/xdpvs/xdpvs/internal/netns"
)

// bareXDPProgram sets the destination and source MACs of every frame of at least 14 bytes and
// redirects it to ifindex, or (ifindex 0) returns XDP_TX; shorter frames pass.
func bareXDPProgram(dst, src net.HardwareAddr, ifindex int) (*ebpf.Program, error) {
	le32 := func(b []byte) int64 { return int64(int32(binary.LittleEndian.Uint32(b))) }
	le16 := func(b []byte) int64 { return int64(binary.LittleEndian.Uint16(b)) }
	macs := append(append([]byte(nil), dst...), src...)
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.StoreImm(asm.R2, 0, le32(macs[0:4]), asm.Word),
		asm.StoreImm(asm.R2, 4, le16(macs[4:6]), asm.Half),
		asm.StoreImm(asm.R2, 6, le16(macs[6:8]), asm.Half),
		asm.StoreImm(asm.R2, 8, le32(macs[8:12]), asm.Word),
	}
	if ifindex != 0 {
		insns = append(insns,
			asm.Mov.Imm(asm.R1, int32(ifindex)),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return())
	} else {
		insns = append(insns, asm.Mov.Imm(asm.R0, 3), asm.Return()) // XDP_TX
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), asm.Return())
	return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_fwd", Type: ebpf.XDP, License: "GPL", Instructions: insns})
}

// attachXDP attaches prog to iface in ns in native mode and returns the undo.
func attachXDP(tb testing.TB, ns *netns.NS, iface string, prog *ebpf.Program) func() {
	tb.Helper()
	var l link.Link
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		tb.Fatalf("attach XDP to %s: %v", iface, err)
	}
	return func() { l.Close() }
}

// startBareXDP makes s the bare XDP_REDIRECT forward (kind xdpredirect: d0 → d1 on the NAT
// layout) or the bare XDP_TX forward (kind xdptx: d0 back out to the bridge on the DR layout).
func (e *lbEnv) startBareXDP(s *setup, kind string) {
	tb := e.tb
	tb.Helper()
	var prog *ebpf.Program
	var err error
	switch kind {
	case "xdpredirect":
		rsMAC, _ := ifaceInfo(tb, e.nat.RS[0], "r0")
		d1MAC, d1 := ifaceInfo(tb, e.nat.Director, "d1")
		prog, err = bareXDPProgram(rsMAC, d1MAC, d1)
		s.placement = "bare XDP_REDIRECT forward: an XDP program on d0 rewrites the MACs and bpf_redirect()s to d1 (real server 0), in the generator's NAPI on CPU 0"
	case "xdptx":
		// Back out of d0 to the client, where a sink on c0 counts: no bridge on the way.
		c0MAC, _ := ifaceInfo(tb, e.nat.Client, "c0")
		d0MAC, _ := ifaceInfo(tb, e.nat.Director, "d0")
		prog, err = bareXDPProgram(c0MAC, d0MAC, 0)
		sink, serr := pktgen.AttachSink(e.nat.Client, "c0")
		if serr != nil {
			tb.Fatal(serr)
		}
		s.undo = append(s.undo, func() { sink.Close() })
		s.sinks = []*pktgen.Sink{sink}
		s.placement = "bare XDP_TX forward: an XDP program on d0 rewrites the MACs and returns XDP_TX, back to the client's c0 (a sink there counts), in the generator's NAPI on CPU 0"
	default:
		tb.Fatalf("unknown bare XDP forward %q", kind)
	}
	if err != nil {
		tb.Fatal(fmt.Errorf("bare XDP program: %w", err))
	}
	s.undo = append(s.undo, func() { prog.Close() })
	s.undo = append(s.undo, attachXDP(tb, s.director, "d0", prog))
}
