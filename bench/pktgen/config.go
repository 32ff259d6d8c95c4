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

// ErrNotSupported wraps a kernel that lacks what the generator or the sink needs (BPF_PROG_RUN
// live frames, bpf_xdp_store_bytes, native XDP).
var ErrNotSupported = errors.New("pktgen: not supported")

// Config describes the frames a Generator sends: one UDP datagram per frame from Src:SrcPort+i to
// Dst:DstPort, i stepping through 0..Flows-1 frame by frame.
type Config struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.Addr // both IPv4 or both IPv6
	SrcPort        uint16     // first source port
	DstPort        uint16
	Flows          int // source ports SrcPort .. SrcPort+Flows-1
	Size           int // Ethernet frame size with FCS, MinSize (MinSizeIPv6) .. MaxSize
}

// DefaultConfig returns 64-byte frames over 1024 flows from source port 1024 to port 9; the MACs
// and addresses are left for the caller.
func DefaultConfig() Config {
	return Config{SrcPort: 1024, DstPort: 9, Flows: 1024, Size: MinSize}
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
	lo := MinSize
	if !c.Src.Unmap().Is4() {
		lo = MinSizeIPv6
	}
	if c.Size < lo || c.Size > MaxSize {
		return fmt.Errorf("pktgen: frame size %d (with FCS) outside %d..%d", c.Size, lo, MaxSize)
	}
	return nil
}

// IPv6 reports whether c sends IPv6.
func (c Config) IPv6() bool { return !c.Src.Unmap().Is4() }

// udpOffset is the offset of the UDP header in a frame.
func (c Config) udpOffset() int {
	if c.IPv6() {
		return header.EthernetMinimumSize + header.IPv6MinimumSize
	}
	return header.EthernetMinimumSize + header.IPv4MinimumSize
}

// Frame returns the frame of flow 0 (source port SrcPort), Size-FCSSize bytes: the template the
// generator copies into every frame before it sets the flow's source port. The IPv4 header has
// DF set, ID 0, TTL 64 and its checksum; IPv4 UDP carries checksum 0 (none), IPv6 UDP a computed
// one. The payload bytes are 0, 1, 2, ... so a checksum covers something other than zeros.
func (c Config) Frame() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n := c.Size - FCSSize
	f := make([]byte, n)
	eth := header.Ethernet(f)
	eth.SetDestinationAddress(header.MAC(c.DstMAC))
	eth.SetSourceAddress(header.MAC(c.SrcMAC))
	off := c.udpOffset()
	udp := header.UDP(f[off:])
	for i := range f[off+header.UDPMinimumSize:] {
		f[off+header.UDPMinimumSize+i] = byte(i)
	}
	binary.BigEndian.PutUint16(udp[0:], c.SrcPort)
	binary.BigEndian.PutUint16(udp[2:], c.DstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	if !c.IPv6() {
		eth.SetType(header.EtherTypeIPv4)
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		ip[0] = 0x45
		ip.SetTotalLength(uint16(n - header.EthernetMinimumSize))
		ip[6] = 0x40 // DF
		ip.SetTTL(64)
		ip[9] = header.ProtocolUDP
		ip.SetSourceAddress(c.Src.Unmap().AsSlice())
		ip.SetDestinationAddress(c.Dst.Unmap().AsSlice())
		ip.FillChecksum()
		return f, nil
	}
	eth.SetType(header.EtherTypeIPv6)
	ip := f[header.EthernetMinimumSize:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
	ip[6] = header.ProtocolUDP
	ip[7] = 64
	src, dst := c.Src.As16(), c.Dst.As16()
	copy(ip[8:24], src[:])
	copy(ip[24:40], dst[:])
	udp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolUDP, src[:], dst[:], uint16(len(udp))))
	return f, nil
}
