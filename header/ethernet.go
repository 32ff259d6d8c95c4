package header

import "encoding/binary"

// Ethernet II frame header (IEEE 802.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Destination MAC address                      |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                    Source MAC address                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An 802.1Q (or 802.1ad S-) tag sits between the source address and the EtherType:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    TPID (0x8100 / 0x88A8)     | PCP |D|        VLAN ID        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ethDstAddr = 0
	ethSrcAddr = 6
	ethType    = 12
)

const (
	// EthernetMinimumSize is the size of an untagged Ethernet II header.
	EthernetMinimumSize = 14
	// EthernetAddressSize is the size of a MAC address.
	EthernetAddressSize = 6
	// VLANTagSize is the size of one 802.1Q/802.1ad tag (TPID + TCI).
	VLANTagSize = 4
	// VLANIDMask masks the VLAN identifier out of a tag control information word.
	VLANIDMask = 0x0FFF
)

// EtherType values (IEEE registry).
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // 802.1Q C-tag
	EtherTypeIPv6 uint16 = 0x86DD
	EtherTypeQinQ uint16 = 0x88A8 // 802.1ad S-tag
)

// MAC is an Ethernet address.
type MAC [EthernetAddressSize]byte

// String formats m as six colon-separated lowercase hex pairs (net.HardwareAddr style).
func (m MAC) String() string {
	const hexdigits = "0123456789abcdef"
	var s [3*EthernetAddressSize - 1]byte
	for i, b := range m {
		if i > 0 {
			s[3*i-1] = ':'
		}
		s[3*i] = hexdigits[b>>4]
		s[3*i+1] = hexdigits[b&0xF]
	}
	return string(s[:])
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// IsMulticast reports whether the group bit of m is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// Ethernet is a view of an Ethernet II header at the start of a frame.
type Ethernet []byte

// DestinationAddress returns the destination MAC address.
func (b Ethernet) DestinationAddress() MAC {
	return MAC(b[ethDstAddr : ethDstAddr+EthernetAddressSize])
}

// SourceAddress returns the source MAC address.
func (b Ethernet) SourceAddress() MAC { return MAC(b[ethSrcAddr : ethSrcAddr+EthernetAddressSize]) }

// SetDestinationAddress sets the destination MAC address.
func (b Ethernet) SetDestinationAddress(m MAC) {
	copy(b[ethDstAddr:ethDstAddr+EthernetAddressSize], m[:])
}

// SetSourceAddress sets the source MAC address.
func (b Ethernet) SetSourceAddress(m MAC) { copy(b[ethSrcAddr:ethSrcAddr+EthernetAddressSize], m[:]) }

// Type returns the outer EtherType (the TPID of the first tag for a tagged frame).
func (b Ethernet) Type() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// SetType sets the outer EtherType.
func (b Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(b[ethType:], t) }

// IsVLANType reports whether t is the TPID of an 802.1Q or 802.1ad tag.
func IsVLANType(t uint16) bool { return t == EtherTypeVLAN || t == EtherTypeQinQ }
