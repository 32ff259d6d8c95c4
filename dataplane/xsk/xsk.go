package xsk

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrNotSupported wraps kernel or platform gaps (no AF_XDP, no such
// socket option, not Linux).
var ErrNotSupported = errors.New("not supported")

// XDPPacketHeadroom is the kernel's XDP_PACKET_HEADROOM: received packets
// start this far into their frame.
const XDPPacketHeadroom = 256

// Desc is one RX or TX descriptor, laid out as struct xdp_desc. Addr is a
// UMEM offset (for received packets it points XDPPacketHeadroom bytes into
// a frame), Len the packet length.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// BindMode selects zero-copy or copy mode for the UMEM owner's bind.
type BindMode int

const (
	// BindAuto tries zero-copy and falls back to copy mode.
	BindAuto BindMode = iota
	// BindCopy forces copy mode (XDP_COPY).
	BindCopy
	// BindZeroCopy requires zero-copy (XDP_ZEROCOPY) and fails without it.
	BindZeroCopy
)

func (m BindMode) String() string {
	switch m {
	case BindAuto:
		return "auto"
	case BindCopy:
		return "copy"
	case BindZeroCopy:
		return "zerocopy"
	}
	return fmt.Sprintf("BindMode(%d)", int(m))
}

// Options sizes a UMEM and the rings of its sockets.
type Options struct {
	NumFrames int // UMEM frames, default 4096
	FrameSize int // 2048 or 4096, default 4096
	// Ring sizes, powers of two, default 2048 each. CompletionSize must be
	// at least TXSize so that every TX descriptor can complete.
	FillSize, CompletionSize, RXSize, TXSize int
	// TXBudget is requested with XDP_MAX_TX_SKB_BUDGET: in copy mode the
	// kernel sends at most this many descriptors per sendto. Default 64;
	// 0 leaves the kernel default (32). Kernels without the option, or
	// values it refuses, keep the default (see Socket.TXBudget).
	TXBudget int
	// Mode is the bind mode of the UMEM owner; sockets sharing the UMEM
	// inherit it. Default BindAuto.
	Mode BindMode
}

// DefaultOptions returns 4096 frames of 4096 bytes, 2048-entry rings and a
// TX budget of 64.
func DefaultOptions() Options {
	return Options{
		NumFrames:      4096,
		FrameSize:      4096,
		FillSize:       2048,
		CompletionSize: 2048,
		RXSize:         2048,
		TXSize:         2048,
		TXBudget:       64,
		Mode:           BindAuto,
	}
}

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

// Validate reports the first problem with o.
func (o Options) Validate() error {
	if o.NumFrames <= 0 || o.NumFrames > 1<<20 {
		return fmt.Errorf("xsk: NumFrames %d out of range 1..%d", o.NumFrames, 1<<20)
	}
	if o.FrameSize != 2048 && o.FrameSize != 4096 {
		return fmt.Errorf("xsk: FrameSize %d: must be 2048 or 4096", o.FrameSize)
	}
	for _, r := range []struct {
		name string
		n    int
	}{{"FillSize", o.FillSize}, {"CompletionSize", o.CompletionSize}, {"RXSize", o.RXSize}, {"TXSize", o.TXSize}} {
		if !isPow2(r.n) || r.n > 1<<20 {
			return fmt.Errorf("xsk: %s %d: must be a power of two <= %d", r.name, r.n, 1<<20)
		}
	}
	if o.CompletionSize < o.TXSize {
		return fmt.Errorf("xsk: CompletionSize %d < TXSize %d: every TX descriptor needs a completion slot", o.CompletionSize, o.TXSize)
	}
	if o.TXBudget < 0 || o.TXBudget > o.TXSize {
		return fmt.Errorf("xsk: TXBudget %d out of range 0..TXSize (%d)", o.TXBudget, o.TXSize)
	}
	if o.Mode < BindAuto || o.Mode > BindZeroCopy {
		return fmt.Errorf("xsk: unknown bind mode %d", int(o.Mode))
	}
	return nil
}

// Statistics is struct xdp_statistics (getsockopt XDP_STATISTICS).
type Statistics struct {
	RxDropped            uint64 // dropped for other reasons (e.g. packet too big)
	RxInvalidDescs       uint64 // dropped due to invalid fill descriptors
	TxInvalidDescs       uint64 // invalid TX descriptors
	RxRingFull           uint64 // dropped because the RX ring was full
	RxFillRingEmptyDescs uint64 // times the fill ring was empty when needed
	TxRingEmptyDescs     uint64 // times the TX ring was empty when kicked
}

// Endpoint is (protocol, address, port); Port 0 in a service means all
// ports.
type Endpoint struct {
	Proto uint8 // 6 TCP, 17 UDP
	Addr  netip.Addr
	Port  uint16
}

// Rules is the content of the steering maps the control plane sets (the NAT connections' reply
// tuples are the workers', through Steering.AddFlows and DeleteFlows).
type Rules struct {
	Services   []Endpoint   // VIP:vport (Port 0: all ports)
	LocalAddrs []netip.Addr // FULLNAT LIPs
	// Fragments carry no ports after the first, so they are steered by address: to a VIP (or a
	// local address), or from a NAT real server (its replies).
	FragmentTo   []netip.Addr // VIPs
	FragmentFrom []netip.Addr // NAT real servers
}

// AttachMode selects how the steering program is attached.
type AttachMode int

const (
	// AttachAuto attaches in native (driver) mode, falling back to
	// generic (skb) mode.
	AttachAuto AttachMode = iota
	// AttachNative requires native XDP.
	AttachNative
	// AttachGeneric uses generic (skb) XDP.
	AttachGeneric
)

func (m AttachMode) String() string {
	switch m {
	case AttachAuto:
		return "auto"
	case AttachNative:
		return "native"
	case AttachGeneric:
		return "generic"
	}
	return fmt.Sprintf("AttachMode(%d)", int(m))
}

// Stat names reported by Steering.Stats, in the order of the program's
// per-CPU stats array (enum stat in bpf/steer.c).
var StatNames = []string{
	"packets",            // every frame seen by the program
	"redirected",         // returned XDP_REDIRECT
	"redirect_no_socket", // matched, but no socket on the receiving queue: passed
	"passed",             // returned XDP_PASS (all reasons)
	"passed_fragment",    // IP fragment: passed
	"passed_not_ip",      // not IPv4/IPv6 (ARP, ...): passed
	"parse_error",        // truncated or malformed: passed
	"match_service",      // to a service VIP:vport
	"match_real_server",  // reply of a NAT connection of the workers
	"match_local_addr",   // to a local (FULLNAT) address
	"match_icmp_error",   // ICMP error quoting one of our flows
	"passed_vlan",        // VLAN-tagged (the workers do not handle tags yet): passed
	"match_fragment",     // TCP/UDP fragment to a VIP or local address, or from a NAT real server
	"fast_tx",            // fast path: forwarded by the program back out of the receiving interface
	"fast_redirect",      // fast path: forwarded by the program to the egress port
	"fast_to_worker",     // a fast-path connection's packet the worker must see (SYN/FIN/RST, lengths)
	"fast_too_big",       // a fast-path tunnel's packet too big for the tunnel: to the worker
	"fast_no_port",       // a fast-path record's egress port missing: to the worker
	"fast_aborted",       // a fast-path rewrite failed half way: dropped
}
