package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the one's-complement sum of buf, taken as 16-bit big-endian words (an odd final byte
// is padded with a zero byte), added to initial. The result is a sum, not complemented (gVisor
// checksum.Checksum semantics): it is 0 only if initial and every byte of buf are 0. To fill a header's
// checksum field, zero the field, sum the covered bytes and store the complement; a buffer whose stored
// checksum is right sums to 0xFFFF.
//
// The loop adds 8 bytes at a time into a 64-bit accumulator with end-around carry. The words are loaded
// little-endian and the result swapped once at the end: the one's-complement sum commutes with swapping
// the bytes of every word (RFC 1071 §2(B)).
func Checksum(buf []byte, initial uint16) uint16 {
	acc := uint64(bits.ReverseBytes16(initial))
	var c uint64
	for len(buf) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(buf[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(buf[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(buf[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(buf[24:32]), c)
		buf = buf[32:]
	}
	for len(buf) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(buf), c)
		buf = buf[8:]
	}
	if len(buf) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(buf)), c)
		buf = buf[4:]
	}
	if len(buf) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(buf)), c)
		buf = buf[2:]
	}
	if len(buf) == 1 {
		// Big-endian word buf[0]<<8, little-endian-loaded as buf[0].
		acc, c = bits.Add64(acc, uint64(buf[0]), c)
	}
	acc, c = bits.Add64(acc, 0, c)
	acc += c // acc was at most 2^64-2 after a carry, so this cannot overflow
	return bits.ReverseBytes16(fold64(acc))
}

// fold64 folds a 64-bit one's-complement accumulator to 16 bits with end-around carry.
func fold64(acc uint64) uint16 {
	hi, lo := acc>>32, acc&0xFFFFFFFF
	s := hi + lo // at most 33 bits
	s = (s & 0xFFFFFFFF) + s>>32
	s = (s & 0xFFFF) + s>>16 // at most 17 bits
	s = (s & 0xFFFF) + s>>16
	s = (s & 0xFFFF) + s>>16
	return uint16(s)
}

// ChecksumCombine returns the one's-complement sum of two sums a and b (not complemented).
func ChecksumCombine(a, b uint16) uint16 {
	v := uint32(a) + uint32(b)
	return uint16(v + v>>16)
}

// PseudoHeaderChecksum returns the sum (not complemented) of the TCP/UDP/ICMPv6 pseudo header: src and
// dst (both 4 bytes for IPv4, RFC 793 §3.1, or both 16 bytes for IPv6, RFC 8200 §8.1), the protocol
// number, and length, the length of the transport header plus payload. Pass it as the initial value
// of Checksum over the transport segment.
func PseudoHeaderChecksum(proto uint8, src, dst []byte, length uint16) uint16 {
	xsum := Checksum(src, uint16(proto))
	xsum = Checksum(dst, xsum)
	return ChecksumCombine(xsum, length)
}

// ChecksumUpdate16 returns the checksum field value after the 16-bit word old, at an even offset of the
// covered bytes, has been replaced by new. xsum and the result are field values (the complemented form
// stored in the header), updated by RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
//
// For a 16-bit value at an odd offset, pass both words byte-swapped (bits.ReverseBytes16). The result
// is the same as a full recompute, except for the 0x0000/0xFFFF ambiguity of one's-complement zero,
// which cannot arise for headers that carry a non-zero protocol or version field. UDP's "0 means no
// checksum" rule is applied by the UDP methods, not here.
func ChecksumUpdate16(xsum, old, new uint16) uint16 {
	return ^ChecksumCombine(ChecksumCombine(^xsum, ^old), new)
}

// ChecksumUpdateAddress returns the checksum field value after the address old, at an even offset of the
// covered bytes (or of the pseudo header), has been replaced by new. old and new have the same length,
// 4 or 16 bytes (any even length works). xsum and the result are field values (RFC 1624 eqn. 3, as
// ChecksumUpdate16).
//
// old must still hold the old address: call it before writing new over the header, or pass a copy.
func ChecksumUpdateAddress(xsum uint16, old, new []byte) uint16 {
	if len(old) == 4 && len(new) == 4 {
		// IPv4, the common case: the two 16-bit words of each address, without the loop.
		s := uint32(^xsum) + uint32(^binary.BigEndian.Uint16(old)) + uint32(^binary.BigEndian.Uint16(old[2:])) +
			uint32(binary.BigEndian.Uint16(new)) + uint32(binary.BigEndian.Uint16(new[2:]))
		s = s&0xffff + s>>16
		s = s&0xffff + s>>16
		return ^uint16(s)
	}
	return ^ChecksumCombine(ChecksumCombine(^xsum, ^Checksum(old, 0)), Checksum(new, 0))
}

// completePartial finishes the checksum field at offset field of a TCP or UDP segment seg whose
// sender left it to transmit checksum offload (Linux's CHECKSUM_PARTIAL): such a field holds only
// the pseudo-header sum pseudo (the kernel's convention) or its complement (some senders'), and the
// device that should have added the rest never saw the packet. Only when the field is one of those
// two and does not verify is the full checksum computed and stored (as a field; UDP's computed 0 as
// 0xFFFF); it reports whether it did. A right checksum, and any other wrong one, stay as they are.
func completePartial(seg []byte, field int, pseudo uint16, udp bool) bool {
	x := binary.BigEndian.Uint16(seg[field:])
	if x != pseudo && x != ^pseudo {
		return false
	}
	if Checksum(seg, pseudo) == 0xFFFF { // a right checksum that happens to equal the pseudo sum
		return false
	}
	seg[field], seg[field+1] = 0, 0
	v := ^Checksum(seg, pseudo)
	if udp && v == 0 {
		v = 0xFFFF
	}
	binary.BigEndian.PutUint16(seg[field:], v)
	return true
}
