package pktgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/xdpvs/xdpvs/header"
)

// Frame sizes, FCS included (RFC 2544): the bytes on a veth are Size-FCSSize.
const (
	FCSSize = 4
	MinSize = 64
	MaxSize = 1518
	// MinSizeIPv6 is the smallest IPv6 UDP frame: 14 + 40 + 8 bytes of headers plus the FCS.
	MinSizeIPv6 = header.EthernetMinimumSize + header.IPv6MinimumSize + header.UDPMinimumSize + FCSSize
)

// RFC2544Sizes are the frame sizes of RFC 2544 section 9.1 for Ethernet.
var RFC2544Sizes = []int{64, 128, 256, 512, 1024, 1280, 1518}

// Stamp layout: the first StampSize bytes of a payload with room for them hold StampMagic, the flow
// number (big endian, 4 bytes) and the generation time (bpf_ktime_get_ns, CLOCK_MONOTONIC, big
// endian, 8 bytes); the sink turns it into a latency.
const (
	StampMagic = 0x58565047 // "XVPG"
	StampSize  = 16
)

// Proto is what a frame carries.
type Proto uint8

const (
	UDP Proto = iota
	TCP       // flags from Config.TCPFlags
)

func (p Proto) String() string {
	if p == TCP {
		return "tcp"
	}
	return "udp"
}

// TCP flags for Config.TCPFlags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)

// ErrNotSupported wraps a kernel that lacks what the generator or the sink needs (BPF_PROG_RUN
// live frames, bpf_xdp_store_bytes, native XDP).
var ErrNotSupported = errors.New("pktgen: not supported")

// Config describes the frames a Generator sends: one UDP datagram or TCP segment per frame to
// Dst:DstPort. Frame i belongs to flow i mod (Flows*Addrs); flow f comes from source port
// SrcPort + f mod Flows and source address Src + f / Flows (added to the address's last 32 bits):
// the ports step fastest.
type Config struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.Addr // both IPv4 or both IPv6
	SrcPort        uint16     // first source port
	DstPort        uint16
	Flows          int // source ports SrcPort .. SrcPort+Flows-1
	Addrs          int // source addresses Src .. Src+Addrs-1; 0 means 1
	Size           int // Ethernet frame size with FCS, MinSize (MinSizeIPv6) .. MaxSize
	Proto          Proto
	// TCPFlags are the flags of every TCP segment: FlagSYN for a SYN flood, FlagACK (|FlagPSH)
	// for established-flow traffic. The sequence number is the frame counter, the
	// acknowledgement number 1, the window 65535, no options.
	TCPFlags uint8
}

// DefaultConfig returns 64-byte UDP frames over 1024 flows from source port 1024 to port 9; the
// MACs and addresses are left for the caller.
func DefaultConfig() Config {
	return Config{SrcPort: 1024, DstPort: 9, Flows: 1024, Addrs: 1, Size: MinSize}
}

func (c Config) addrs() int { return max(c.Addrs, 1) }

// NumFlows is the number of distinct flows: source ports times source addresses.
func (c Config) NumFlows() int { return c.Flows * c.addrs() }

// FlowSource returns the source address and port of flow f (0 .. NumFlows-1).
func (c Config) FlowSource(f int) netip.AddrPort {
	return netip.AddrPortFrom(addAddr(c.Src.Unmap(), uint32(f/c.Flows)), c.SrcPort+uint16(f%c.Flows))
}

// addAddr adds n to the last 32 bits of a.
func addAddr(a netip.Addr, n uint32) netip.Addr {
	b := a.AsSlice()
	k := len(b) - 4
	binary.BigEndian.PutUint32(b[k:], binary.BigEndian.Uint32(b[k:])+n)
	out, _ := netip.AddrFromSlice(b)
	return out
}

func low32(a netip.Addr) uint32 {
	b := a.AsSlice()
	return binary.BigEndian.Uint32(b[len(b)-4:])
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if len(c.SrcMAC) != 6 || len(c.DstMAC) != 6 {
		return fmt.Errorf("pktgen: source and destination MACs must be 6 bytes (have %d and %d)", len(c.SrcMAC), len(c.DstMAC))
	}
	if !c.Src.IsValid() || !c.Dst.IsValid() {
		return errors.New("pktgen: source and destination addresses are required")
	}
	if c.Src.Unmap().Is4() != c.Dst.Unmap().Is4() {
		return fmt.Errorf("pktgen: source %s and destination %s are not of one family", c.Src, c.Dst)
	}
	if c.DstPort == 0 {
		return errors.New("pktgen: destination port 0")
	}
	if c.SrcPort == 0 {
		return errors.New("pktgen: source port 0")
	}
	if c.Flows < 1 || int(c.SrcPort)+c.Flows-1 > 65535 {
		return fmt.Errorf("pktgen: %d flows from source port %d do not fit in 1..65535", c.Flows, c.SrcPort)
	}
	if c.Addrs < 0 || uint64(low32(c.Src.Unmap()))+uint64(c.addrs())-1 > 0xffffffff || c.addrs() > 1<<24 {
		return fmt.Errorf("pktgen: %d source addresses from %s do not fit", c.Addrs, c.Src)
	}
	if c.Proto != UDP && c.Proto != TCP {
		return fmt.Errorf("pktgen: protocol %d", c.Proto)
	}
	lo := c.MinSize()
	if c.Size < lo || c.Size > MaxSize {
		return fmt.Errorf("pktgen: frame size %d (with FCS) outside %d..%d", c.Size, lo, MaxSize)
	}
	return nil
}

// MinSize is the smallest frame of c's family and protocol (with FCS).
func (c Config) MinSize() int {
	n := header.EthernetMinimumSize + c.l4HeaderSize() + FCSSize
	if c.IPv6() {
		n += header.IPv6MinimumSize
	} else {
		n += header.IPv4MinimumSize
	}
	return max(n, MinSize)
}

// IPv6 reports whether c sends IPv6.
func (c Config) IPv6() bool { return !c.Src.Unmap().Is4() }

func (c Config) l4HeaderSize() int {
	if c.Proto == TCP {
		return header.TCPMinimumSize
	}
	return header.UDPMinimumSize
}

// l4Offset is the offset of the UDP or TCP header in a frame.
func (c Config) l4Offset() int {
	if c.IPv6() {
		return header.EthernetMinimumSize + header.IPv6MinimumSize
	}
	return header.EthernetMinimumSize + header.IPv4MinimumSize
}

// PayloadOffset is the offset of the payload in a frame.
func (c Config) PayloadOffset() int { return c.l4Offset() + c.l4HeaderSize() }

// Stamped reports whether c's frames have room for the latency stamp.
func (c Config) Stamped() bool { return c.Size-FCSSize-c.PayloadOffset() >= StampSize }

// l4Checksummed reports whether the L4 checksum is set: TCP always, UDP over IPv6.
func (c Config) l4Checksummed() bool { return c.Proto == TCP || c.IPv6() }

// Frame returns the frame of flow 0 (source port SrcPort, address Src) at frame counter 0,
// Size-FCSSize bytes: the template the generator copies into every frame before it writes the
// flow, the sequence number and the stamp. The IPv4 header has DF set, ID 0, TTL 64 and its
// checksum; IPv4 UDP carries checksum 0 (none), IPv6 UDP and TCP a computed one. The payload
// starts with the stamp (magic, flow 0, time 0) when there is room; the rest of its bytes are
// their offset in the payload mod 256, so that a checksum covers something other than zeros.
func (c Config) Frame() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n := c.Size - FCSSize
	f := make([]byte, n)
	eth := header.Ethernet(f)
	eth.SetDestinationAddress(header.MAC(c.DstMAC))
	eth.SetSourceAddress(header.MAC(c.SrcMAC))
	off := c.l4Offset()
	l4 := f[off:]
	payload := f[c.PayloadOffset():]
	for i := range payload {
		payload[i] = byte(i)
	}
	if c.Stamped() {
		clear(payload[:StampSize])
		binary.BigEndian.PutUint32(payload, StampMagic)
	}
	proto := header.ProtocolUDP
	if c.Proto == TCP {
		proto = header.ProtocolTCP
		header.TCP(l4).Encode(&header.TCPFields{SrcPort: c.SrcPort, DstPort: c.DstPort, AckNum: 1,
			DataOffset: header.TCPMinimumSize, Flags: c.TCPFlags, WindowSize: 65535})
	} else {
		header.UDP(l4).Encode(&header.UDPFields{SrcPort: c.SrcPort, DstPort: c.DstPort, Length: uint16(len(l4))})
	}
	var src, dst []byte
	if !c.IPv6() {
		eth.SetType(header.EtherTypeIPv4)
		s4, d4 := c.Src.Unmap().As4(), c.Dst.Unmap().As4()
		src, dst = s4[:], d4[:]
		header.IPv4(f[header.EthernetMinimumSize:]).Encode(&header.IPv4Fields{TotalLength: uint16(n - header.EthernetMinimumSize),
			Flags: header.IPv4FlagDontFragment, TTL: 64, Protocol: proto, SrcAddr: src, DstAddr: dst})
	} else {
		eth.SetType(header.EtherTypeIPv6)
		s6, d6 := c.Src.As16(), c.Dst.As16()
		src, dst = s6[:], d6[:]
		header.IPv6(f[header.EthernetMinimumSize:]).Encode(&header.IPv6Fields{PayloadLength: uint16(len(l4)),
			NextHeader: proto, HopLimit: 64, SrcAddr: src, DstAddr: dst})
	}
	if c.l4Checksummed() {
		pseudo := header.PseudoHeaderChecksum(proto, src, dst, uint16(len(l4)))
		if c.Proto == TCP {
			header.TCP(l4).FillChecksum(pseudo)
		} else {
			header.UDP(l4).FillChecksum(pseudo)
		}
	}
	return f, nil
}
