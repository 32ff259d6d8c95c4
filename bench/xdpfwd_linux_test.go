package bench

// The XDP ceilings of TestLB: a trivial XDP program on the director's client-side veth that
// rewrites the MACs and either redirects every frame to the first real server's veth
// (bpf_redirect, the bare XDP_REDIRECT forward, on the NAT layout) or sends it back out with
// XDP_TX (the bare XDP_TX forward, on the DR layout, toward the first real server through the
// bridge). A veth flushes XDP_TX frames to its peer only when the peer runs an XDP program of its
// own (veth_xdp_flush), so the XDP_TX row puts an XDP_PASS program on the bridge's end of the
// director's veth; xdpvs's fast path needs none (it redirects, also to the ingress veth).

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

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

// passXDPProgram returns XDP_PASS.
func passXDPProgram() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_pass", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
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
		rsMAC, _ := ifaceInfo(tb, e.dr.RS[0], "r0")
		d0MAC, _ := ifaceInfo(tb, e.dr.Director, "d0")
		prog, err = bareXDPProgram(rsMAC, d0MAC, 0)
		pass, perr := passXDPProgram()
		if perr != nil {
			tb.Fatal(perr)
		}
		s.undo = append(s.undo, func() { pass.Close() })
		s.undo = append(s.undo, attachXDP(tb, e.dr.Switch, "sd", pass))
		s.placement = "bare XDP_TX forward: an XDP program on d0 rewrites the MACs and returns XDP_TX, through the bridge (an XDP_PASS program on its end of d0) to real server 0, in the generator's NAPI on CPU 0"
	default:
		tb.Fatalf("unknown bare XDP forward %q", kind)
	}
	if err != nil {
		tb.Fatal(fmt.Errorf("bare XDP program: %w", err))
	}
	s.undo = append(s.undo, func() { prog.Close() })
	s.undo = append(s.undo, attachXDP(tb, s.director, "d0", prog))
}
