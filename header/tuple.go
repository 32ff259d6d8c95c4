package header

import (
	"crypto/rand"
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

// Is4 reports whether a is an IPv4 address. It reads the address in the words parseFast writes
// it in (see Tuple.Equal).
func (a *Addr) Is4() bool {
	le := binary.LittleEndian
	return le.Uint64(a[0:8]) == 0 && le.Uint32(a[8:12]) == 0xffff0000
}

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

// Equal reports whether t and u are the same tuple. It reads each address as two 8-byte words and
// the ports and protocol one by one, the pieces parseFast writes: a load that spans two recent
// stores waits for both to retire (no store forwarding, a dozen cycles), and the tuple of the
// packet in hand was just written. (Comparing with == reads 16 bytes at a time.)
func (t *Tuple) Equal(u *Tuple) bool {
	le := binary.LittleEndian
	return le.Uint64(t.SrcAddr[0:8]) == le.Uint64(u.SrcAddr[0:8]) && le.Uint64(t.SrcAddr[8:16]) == le.Uint64(u.SrcAddr[8:16]) &&
		le.Uint64(t.DstAddr[0:8]) == le.Uint64(u.DstAddr[0:8]) && le.Uint64(t.DstAddr[8:16]) == le.Uint64(u.DstAddr[8:16]) &&
		t.SrcPort == u.SrcPort && t.DstPort == u.DstPort && t.Proto == u.Proto
}

// Reverse returns the tuple of the opposite direction.
func (t Tuple) Reverse() Tuple {
	return Tuple{SrcAddr: t.DstAddr, DstAddr: t.SrcAddr, SrcPort: t.DstPort, DstPort: t.SrcPort, Proto: t.Proto}
}

// Is4 reports whether the tuple is IPv4.
func (t *Tuple) Is4() bool { return t.SrcAddr.Is4() }

// HashKey is the secret key of Tuple.Hash. Every table an attacker's packets reach is indexed with
// a key of its own drawn at random (NewHashKey), so that nobody outside the process can choose
// tuples that collide.
type HashKey struct{ k0, k1 uint64 }

// NewHashKey returns a random key from the operating system's generator.
func NewHashKey() HashKey {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux (crypto/rand documents it)
	return HashKey{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// HashKeyOf returns a fixed key, for tests and benchmarks that need the same hashes every run.
func HashKeyOf(k0, k1 uint64) HashKey { return HashKey{k0, k1} }

// Hash returns a 64-bit hash of the tuple under key k: SipHash-1-3 (the kernel's hsiphash on a
// 64-bit machine, the family Linux's connection tracking uses) over the tuple as little-endian
// words: for an IPv4 tuple (both addresses IPv4-mapped) the 13 bytes of the two IPv4 addresses, the
// ports and the protocol, in two words; for any other, the 37 bytes of the tuple in five. (The
// lengths differ, so the two forms never collide by construction, and a tuple with one address of
// each family takes the long form.) It is a keyed pseudo-random function, so collisions cannot be
// found without the key, whatever addresses and ports an attacker controls. It does not allocate.
func (t *Tuple) Hash(k *HashKey) uint64 {
	le := binary.LittleEndian
	// XOR, not OR, of bits that do not overlap: the compiler merges an OR of adjacent loads into
	// one wide load, and one 4-byte load of the two ports, each just written by its own store
	// (Packet.Parse, or the caller building a reply tuple), waits for both to retire.
	ports := uint64(t.SrcPort) ^ uint64(t.DstPort)<<16 ^ uint64(t.Proto)<<32
	if t.SrcAddr.Is4() && t.DstAddr.Is4() {
		return sipHash13x2(k.k0, k.k1, uint64(le.Uint32(t.SrcAddr[12:]))|uint64(le.Uint32(t.DstAddr[12:]))<<32, ports)
	}
	return sipHash13x5(k.k0, k.k1,
		le.Uint64(t.SrcAddr[0:8]), le.Uint64(t.SrcAddr[8:16]),
		le.Uint64(t.DstAddr[0:8]), le.Uint64(t.DstAddr[8:16]), ports)
}
