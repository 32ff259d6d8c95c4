package proxyproto

import (
	"encoding/binary"
	"math/bits"
	"strconv"

	"github.com/xdpvs/xdpvs/header"
)

// Version is a PROXY protocol version: 0 (none), V1 or V2.
type Version uint8

// The versions.
const (
	None Version = iota
	V1
	V2
)

// String returns "v1", "v2" or "" (none), as --proxy-protocol takes them.
func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return ""
}

// Header sizes.
const (
	MaxV1Len = 107 // the specification's bound for a v1 line
	V2Len4   = 16 + 12
	V2Len6   = 16 + 36
	MaxLen   = MaxV1Len
)

var v2Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// Encode writes the header of version v for a flow of protocol proto (TCP or UDP) from src:sport to
// dst:dport into b (which must hold MaxLen bytes) and returns its length, or 0 when there is none
// to write: version None, or v1 for UDP (v1 is for TCP only, as DPVS has it). src and dst are of one
// family. It does not allocate.
func Encode(b []byte, v Version, proto uint8, src, dst header.Addr, sport, dport uint16) int {
	_ = b[MaxLen-1]
	switch {
	case v == V1 && proto == header.ProtocolTCP:
		return encodeV1(b, src, dst, sport, dport)
	case v == V2 && (proto == header.ProtocolTCP || proto == header.ProtocolUDP):
		return encodeV2(b, proto, src, dst, sport, dport)
	}
	return 0
}

func encodeV1(b []byte, src, dst header.Addr, sport, dport uint16) int {
	out := b[:0]
	if src.Is4() {
		out = append(out, "PROXY TCP4 "...)
	} else {
		out = append(out, "PROXY TCP6 "...)
	}
	out = src.Netip().AppendTo(out)
	out = append(out, ' ')
	out = dst.Netip().AppendTo(out)
	out = append(out, ' ')
	out = strconv.AppendUint(out, uint64(sport), 10)
	out = append(out, ' ')
	out = strconv.AppendUint(out, uint64(dport), 10)
	out = append(out, '\r', '\n')
	return len(out)
}

func encodeV2(b []byte, proto uint8, src, dst header.Addr, sport, dport uint16) int {
	copy(b, v2Signature[:])
	b[12] = 0x21 // version 2, PROXY
	fam, alen, n := byte(0x10), 4, V2Len4
	if !src.Is4() {
		fam, alen, n = 0x20, 16, V2Len6
	}
	if proto == header.ProtocolUDP {
		fam |= 0x02
	} else {
		fam |= 0x01
	}
	b[13] = fam
	binary.BigEndian.PutUint16(b[14:], uint16(n-16))
	copy(b[16:], src[16-alen:])
	copy(b[16+alen:], dst[16-alen:])
	binary.BigEndian.PutUint16(b[16+2*alen:], sport)
	binary.BigEndian.PutUint16(b[18+2*alen:], dport)
	return n
}

// Result is the outcome of Insert: OK, or the one reason the bytes were not inserted. The dataplane
// keeps a counter per value.
type Result uint8

const (
	// OK: inserted.
	OK Result = iota
	// NoTailroom: the buffer's capacity cannot hold the longer packet.
	NoTailroom
	// ExceedsMTU: the longer packet would exceed the MTU.
	ExceedsMTU
	// Malformed: not an IP packet of the given family carrying a complete, unfragmented TCP segment
	// or UDP datagram.
	Malformed

	// NumResults is the number of Result values, for counter arrays.
	NumResults = iota
)

var resultNames = [NumResults]string{"ok", "no_tailroom", "exceeds_mtu", "malformed"}

// String returns the counter name of r ("ok", "exceeds_mtu", ...).
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// maxIPv6Ext bounds the IPv6 extension headers Insert walks.
const maxIPv6Ext = 8

// Insert puts data at the start of the payload of the TCP segment or UDP datagram of the IP packet
// pkt[:n], in place, and returns the packet's new length; v6 says whether it is IPv6. The payload
// moves up by len(data). Updated: the IPv4 total length and header checksum or the IPv6 payload
// length, the UDP length, and the TCP or UDP checksum, incrementally (the pseudo header's length,
// the data's bytes, and the payload's sum, byte-swapped when it moves by an odd count: RFC 1071
// §2(B)), so that a wrong checksum stays exactly as wrong; an IPv4 UDP datagram without a checksum
// (0) keeps none.
//
// The packet ends where its IP header says. mtu is the largest IP packet allowed after insertion (0:
// no limit); the buffer needs cap(pkt) ≥ newLen. When r is not OK, pkt is unchanged and newLen is n.
// It does not allocate.
func Insert(pkt []byte, n int, v6 bool, data []byte, mtu int) (newLen int, r Result) {
	if n > len(pkt) || n < 0 {
		return n, Malformed
	}
	var ipLen, l4 int
	var proto uint8
	if v6 {
		ip := header.IPv6(pkt[:n])
		if !ip.IsValid(n) || ip.PayloadLength() == 0 {
			return n, Malformed
		}
		p, off, frag, ok := ip.TransportProtocol(maxIPv6Ext)
		if !ok || frag.Present {
			return n, Malformed
		}
		proto, ipLen, l4 = p, header.IPv6MinimumSize+int(ip.PayloadLength()), off
	} else {
		ip := header.IPv4(pkt[:n])
		if !ip.IsValid(n) || ip.IsFragment() {
			return n, Malformed
		}
		proto, ipLen, l4 = ip.Protocol(), int(ip.TotalLength()), ip.HeaderLength()
	}
	var hlen, sumOff int
	switch proto {
	case header.ProtocolTCP:
		tcp := header.TCP(pkt[l4:ipLen])
		if !tcp.IsValid(len(tcp)) {
			return n, Malformed
		}
		hlen, sumOff = tcp.DataOffset(), 16
	case header.ProtocolUDP:
		if ipLen-l4 < header.UDPMinimumSize || int(binary.BigEndian.Uint16(pkt[l4+4:])) != ipLen-l4 {
			return n, Malformed
		}
		hlen, sumOff = header.UDPMinimumSize, 6
	default:
		return n, Malformed
	}
	size := len(data)
	newLen = ipLen + size
	switch {
	case mtu > 0 && newLen > mtu, newLen > 0xFFFF:
		return n, ExceedsMTU
	case newLen > cap(pkt):
		return n, NoTailroom
	}
	pkt = pkt[:newLen]
	at := l4 + hlen
	old := binary.BigEndian.Uint16(pkt[l4+sumOff:])
	noSum := proto == header.ProtocolUDP && !v6 && old == 0
	// The running sum, RFC 1624 eqn. 3 form: out with the payload where it was and the old lengths.
	payload := header.Checksum(pkt[at:ipLen], 0)
	segLen := uint16(ipLen - l4)
	xsum := header.ChecksumCombine(^old, ^payload)
	xsum = header.ChecksumCombine(xsum, ^segLen)
	if proto == header.ProtocolUDP {
		xsum = header.ChecksumCombine(xsum, ^segLen) // the UDP length field, beside the pseudo header's
	}
	copy(pkt[at+size:], pkt[at:ipLen])
	copy(pkt[at:], data)
	if size%2 == 1 {
		payload = bits.ReverseBytes16(payload)
	}
	xsum = header.ChecksumCombine(xsum, header.Checksum(data, 0))
	xsum = header.ChecksumCombine(xsum, payload)
	xsum = header.ChecksumCombine(xsum, segLen+uint16(size))
	if proto == header.ProtocolUDP {
		binary.BigEndian.PutUint16(pkt[l4+4:], segLen+uint16(size))
		xsum = header.ChecksumCombine(xsum, segLen+uint16(size))
	}
	if !noSum {
		sum := ^xsum
		if proto == header.ProtocolUDP && sum == 0 {
			sum = 0xFFFF // RFC 768: a computed 0 is sent as all ones
		}
		binary.BigEndian.PutUint16(pkt[l4+sumOff:], sum)
	}
	if v6 {
		header.IPv6(pkt).SetPayloadLength(uint16(newLen - header.IPv6MinimumSize))
	} else {
		ip := header.IPv4(pkt)
		ip.SetChecksum(header.ChecksumUpdate16(ip.Checksum(), ip.TotalLength(), uint16(newLen)))
		ip.SetTotalLength(uint16(newLen))
	}
	return newLen, OK
}
