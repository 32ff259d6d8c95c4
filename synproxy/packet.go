package synproxy

import (
	"encoding/binary"

	"github.com/xdpvs/xdpvs/header"
)

// maxIPv6Ext bounds the IPv6 extension-header walk, as in toa.
const maxIPv6Ext = 8

// segment locates the TCP segment of an IP packet.
type segment struct {
	v6  bool
	l4  int // offset of the TCP header in the packet
	end int // end of the IP packet (total length; bytes after it are link padding)
}

// parse checks that ip holds a complete, unfragmented IPv4 or IPv6 packet carrying a TCP segment whose
// header fits (TCPMinimumSize ≤ data offset ≤ segment length) and locates it. Options are not examined.
func parse(ip []byte) (s segment, r Result) {
	if len(ip) == 0 {
		return s, Malformed
	}
	switch ip[0] >> 4 {
	case header.IPv4Version:
		h := header.IPv4(ip)
		if !h.IsValid(len(ip)) || h.Protocol() != header.ProtocolTCP {
			return s, Malformed
		}
		if h.IsFragment() {
			return s, Fragment
		}
		s.l4, s.end = h.HeaderLength(), int(h.TotalLength())
	case header.IPv6Version:
		h := header.IPv6(ip)
		if !h.IsValid(len(ip)) {
			return s, Malformed
		}
		proto, off, frag, ok := h.TransportProtocol(maxIPv6Ext)
		switch {
		case !ok:
			return s, Malformed
		case frag.Present:
			return s, Fragment
		case proto != header.ProtocolTCP:
			return s, Malformed
		}
		s.v6, s.l4, s.end = true, off, header.IPv6MinimumSize+int(h.PayloadLength())
	default:
		return s, Malformed
	}
	if s.l4 > s.end {
		return s, Malformed
	}
	if tcp := header.TCP(ip[s.l4:s.end]); !tcp.IsValid(len(tcp)) {
		return s, Malformed
	}
	return s, OK
}

// addrs returns the source and destination addresses of the packet (slices of its header).
func addrs(ip []byte, v6 bool) (src, dst []byte) {
	if v6 {
		h := header.IPv6(ip)
		return h.SourceAddress(), h.DestinationAddress()
	}
	h := header.IPv4(ip)
	return h.SourceAddress(), h.DestinationAddress()
}

// pseudo returns the pseudo-header sum for a TCP segment of tcpLen bytes in ip.
func pseudo(ip []byte, v6 bool, tcpLen int) uint16 {
	src, dst := addrs(ip, v6)
	return header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint16(tcpLen))
}

// writeIPHeader writes a fresh IP header (IPv4 without options, DF set, ID 0; or IPv6 without extension
// headers) for a packet of total length n carrying TCP from src to dst (an IPv4 address in the first 4
// bytes), and returns its size. src and dst must not alias the bytes being written: pass copies.
func writeIPHeader(ip []byte, v6 bool, src, dst *[16]byte, n int, ttl uint8) int {
	if v6 {
		header.IPv6(ip).Encode(&header.IPv6Fields{PayloadLength: uint16(n - header.IPv6MinimumSize),
			NextHeader: header.ProtocolTCP, HopLimit: ttl, SrcAddr: src[:], DstAddr: dst[:]})
		return header.IPv6MinimumSize
	}
	header.IPv4(ip).Encode(&header.IPv4Fields{TotalLength: uint16(n), Flags: header.IPv4FlagDontFragment, // ID 0 with DF (RFC 6864 §4.1)
		TTL: ttl, Protocol: header.ProtocolTCP, SrcAddr: src[:4], DstAddr: dst[:4]})
	return header.IPv4MinimumSize
}

// setIPLength sets the length of a packet whose IP header is kept (IPv4 options and IPv6 extension
// headers included) to n, fixing the IPv4 header checksum.
func setIPLength(ip []byte, v6 bool, n int) {
	if v6 {
		header.IPv6(ip).SetPayloadLength(uint16(n - header.IPv6MinimumSize))
		return
	}
	h := header.IPv4(ip)
	h.SetTotalLength(uint16(n))
	h.FillChecksum()
}

// writeTCPHeader writes the fixed part of a TCP header, the options opts and a zero checksum.
func writeTCPHeader(tcp header.TCP, sport, dport uint16, seq, ack uint32, flags uint8, win uint16, opts []byte) {
	tcp.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ack,
		DataOffset: uint8(header.TCPMinimumSize + len(opts)), Flags: flags, WindowSize: win})
	copy(tcp[header.TCPMinimumSize:], opts)
}

// parseOptions is header.ParseTCPSynOptions with fast paths for the two layouts that matter under
// load: Linux's SYN (MSS, SACK-permitted, timestamps, NOP, window scale) and an established segment
// (NOP, NOP, timestamps). Anything else goes to the general parser; the results are the same.
func parseOptions(opts []byte) (o header.TCPSynOptions, ok bool) {
	switch len(opts) {
	case 0:
		return o, true
	case 12:
		if opts[0] == header.TCPOptionNOP && opts[1] == header.TCPOptionNOP &&
			opts[2] == header.TCPOptionTimestamps && opts[3] == header.TCPOptionTimestampsLength {
			o.HasTS, o.TSVal, o.TSEcr = true, binary.BigEndian.Uint32(opts[4:]), binary.BigEndian.Uint32(opts[8:])
			return o, true
		}
	case 20:
		if opts[0] == header.TCPOptionMSS && opts[1] == header.TCPOptionMSSLength &&
			opts[4] == header.TCPOptionSACKPermitted && opts[5] == header.TCPOptionSACKPermittedLength &&
			opts[6] == header.TCPOptionTimestamps && opts[7] == header.TCPOptionTimestampsLength &&
			opts[16] == header.TCPOptionNOP && opts[17] == header.TCPOptionWS && opts[18] == header.TCPOptionWSLength {
			o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(opts[2:])
			o.SACKPermitted = true
			o.HasTS, o.TSVal, o.TSEcr = true, binary.BigEndian.Uint32(opts[8:]), binary.BigEndian.Uint32(opts[12:])
			o.HasWS, o.WS = true, min(opts[19], header.TCPMaximumWSShift)
			return o, true
		}
	}
	return header.ParseTCPSynOptions(opts)
}
