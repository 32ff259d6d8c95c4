package header

import (
	"encoding/binary"
	"net/netip"
)

// Addr is an IPv4 or IPv6 address as 16 bytes, IPv4 in its IPv4-mapped form (::ffff:a.b.c.d).
// It holds no pointer, so tables of millions of them cost the garbage collector nothing
// (netip.Addr holds one).
type Addr [16]byte

var v4InV6Prefix = [12]byte{10: 0xff, 11: 0xff}

// AddrFrom4 returns the Addr for an IPv4 address given as 4 bytes.
func AddrFrom4(b []byte) Addr {
	var a Addr
	copy(a[:12], v4InV6Prefix[:])
	copy(a[12:], b[:4])
	return a
}

// AddrFrom16 returns the Addr for an IPv6 address given as 16 bytes.
func AddrFrom16(b []byte) Addr {
	var a Addr
	copy(a[:], b[:16])
	return a
}

// AddrFromNetip converts a netip.Addr (IPv4, IPv4-mapped or IPv6; zone dropped).
func AddrFromNetip(ip netip.Addr) Addr { return Addr(ip.As16()) }

// Is4 reports whether a is an IPv4 address.
func (a Addr) Is4() bool { return [12]byte(a[:12]) == v4InV6Prefix }

// Bytes returns the address in its wire length: 4 bytes for IPv4, 16 for IPv6.
func (a *Addr) Bytes() []byte {
	if a.Is4() {
		return a[12:]
	}
	return a[:]
}

// Netip converts back to a netip.Addr (unmapped for IPv4).
func (a Addr) Netip() netip.Addr { return netip.AddrFrom16(a).Unmap() }

// String formats the address as netip does.
func (a Addr) String() string { return a.Netip().String() }

// Tuple is the key of a flow: addresses, ports (ICMP: identifier in both) and L4 protocol.
type Tuple struct {
	SrcAddr, DstAddr Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Reverse returns the tuple of the opposite direction.
func (t Tuple) Reverse() Tuple {
	return Tuple{SrcAddr: t.DstAddr, DstAddr: t.SrcAddr, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto}
}

// Is4 reports whether the tuple is IPv4.
func (t *Tuple) Is4() bool { return t.SrcAddr.Is4() }

// Hash returns a 64-bit hash of the tuple, keyed by seed. It does not allocate. The five words are
// multiplied by independent odd constants (the multiplications run in parallel), summed and
// finished with a 64-bit avalanche, so every input bit reaches every output bit.
func (t *Tuple) Hash(seed uint64) uint64 {
	le := binary.LittleEndian
	h := seed +
		le.Uint64(t.SrcAddr[0:8])*0x9e3779b97f4a7c15 +
		le.Uint64(t.SrcAddr[8:16])*0xc2b2ae3d27d4eb4f +
		le.Uint64(t.DstAddr[0:8])*0x165667b19e3779f9 +
		le.Uint64(t.DstAddr[8:16])*0x85ebca77c2b2ae63 +
		(uint64(t.SrcPort)|uint64(t.DstPort)<<16|uint64(t.Proto)<<32)*0x27d4eb2f165667c5
	return fmix(h)
}

func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
