package header

import (
	"encoding/binary"
	"strconv"
)

// Packet records where the layers of a frame are; Parse fills it without allocating.
type Packet struct {
	L3Offset, L4Offset, PayloadOffset int // offsets into the frame
	// L3Length is the IP packet's length, header included (IPv4: total length; IPv6: 40 + payload
	// length), at most len(frame)-L3Offset. Bytes after L3Offset+L3Length are link-layer padding.
	L3Length  int
	EtherType uint16 // of the IP layer (after VLAN tags)
	// VLANID is the ID of the outer tag, InnerVLANID that of the inner one of a QinQ frame.
	VLANID, InnerVLANID uint16
	HasVLAN             bool
	VLANCount           uint8
	Proto               uint8 // transport protocol, after IPv6 extension headers
	IsIPv6              bool
	// Fragment is set for an IPv4 packet with MF set or a non-zero offset, and for an IPv6 packet with a
	// fragment header. FragmentOffset (bytes) is non-zero for a fragment other than the first, which
	// carries no L4 header: then L4Offset = PayloadOffset = the start of the fragment data and the
	// tuple's ports are 0.
	Fragment       bool
	FragmentOffset uint16
	// Tuple holds the addresses and the protocol, and the ports for TCP and UDP, the identifier (in both
	// ports) for ICMP and ICMPv6 echo request and reply, and zero ports otherwise.
	Tuple Tuple
	// TCPFlags is the TCP header's flags byte (TCPFlagSyn, ...), read once here so that the
	// pipeline's decisions need not read the header again; 0 for anything but a TCP header.
	TCPFlags uint8
}

// NonFirstFragment reports whether the packet is a fragment other than the first (no L4 header).
func (p *Packet) NonFirstFragment() bool { return p.FragmentOffset != 0 }

// ParseResult is the outcome of Packet.Parse: ParseOK, or the first fault found. Each value is meant to
// have its own drop counter.
type ParseResult uint8

const (
	ParseOK                ParseResult = iota
	ParseTooShort                      // frame shorter than an Ethernet header
	ParseBadVLAN                       // VLAN tag truncated, or more than two tags
	ParseNotIP                         // EtherType (after tags) neither IPv4 nor IPv6: ARP, LLDP, ...
	ParseBadIPv4Header                 // truncated header, version ≠ 4, IHL < 5 or header past the frame
	ParseBadIPv6Header                 // truncated fixed header or version ≠ 6
	ParseBadLength                     // IPv4 total length < header or > frame; IPv6 payload length > frame
	ParseExtHeaderChain                // IPv6 extension header truncated, misplaced, duplicated or too many
	ParseBadTCPHeader                  // TCP header truncated, data offset < 5 or past the segment
	ParseBadUDPHeader                  // UDP header truncated, length < 8 or past the datagram
	ParseUDPv6ZeroChecksum             // UDP over IPv6 with a zero checksum (RFC 8200 §8.1)
	ParseBadICMP                       // ICMP/ICMPv6 header truncated

	// NumParseResults is the number of ParseResult values, for arrays of counters.
	NumParseResults
)

var parseResultNames = [NumParseResults]string{
	ParseOK:                "OK",
	ParseTooShort:          "TooShort",
	ParseBadVLAN:           "BadVLAN",
	ParseNotIP:             "NotIP",
	ParseBadIPv4Header:     "BadIPv4Header",
	ParseBadIPv6Header:     "BadIPv6Header",
	ParseBadLength:         "BadLength",
	ParseExtHeaderChain:    "ExtHeaderChain",
	ParseBadTCPHeader:      "BadTCPHeader",
	ParseBadUDPHeader:      "BadUDPHeader",
	ParseUDPv6ZeroChecksum: "UDPv6ZeroChecksum",
	ParseBadICMP:           "BadICMP",
}

func (r ParseResult) String() string {
	if r < NumParseResults {
		return parseResultNames[r]
	}
	return "ParseResult(" + strconv.Itoa(int(r)) + ")"
}

// Parse parses an Ethernet frame in one pass: up to two VLAN tags, IPv4 (with options) or IPv6 (with
// extension headers), and the TCP, UDP, ICMP or ICMPv6 header. It fills p (overwriting all of it) and
// returns ParseOK, or the first fault found, in which case p holds what was parsed before it. Trailing
// bytes after the IP packet are allowed (see L3Length). Parse neither allocates nor panics, and it
// does not verify checksums.
func (p *Packet) Parse(frame []byte) ParseResult {
	if p.parseFast(frame) {
		return ParseOK
	}
	return p.parseGeneric(frame)
}

// parseFast parses the common frame (untagged IPv4 without options, not a fragment, carrying a
// TCP or UDP segment) with the same checks as parseGeneric, in a third of the time. It reports
// false, and leaves p to parseGeneric, for anything else, including every malformed frame.
func (p *Packet) parseFast(frame []byte) bool {
	if len(frame) < EthernetMinimumSize+IPv4MinimumSize+UDPMinimumSize ||
		frame[ethType] != 0x08 || frame[ethType+1] != 0x00 || frame[EthernetMinimumSize] != 0x45 {
		return false
	}
	ip := frame[EthernetMinimumSize:]
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or a fragment offset
		return false
	}
	tlen := int(binary.BigEndian.Uint16(ip[2:]))
	if tlen < IPv4MinimumSize+UDPMinimumSize || tlen > len(ip) {
		return false
	}
	seg := ip[IPv4MinimumSize:tlen]
	var hdr int
	var flags uint8
	switch ip[9] {
	case ProtocolTCP:
		if len(seg) < TCPMinimumSize {
			return false
		}
		if hdr = int(seg[12]>>4) * 4; hdr < TCPMinimumSize || hdr > len(seg) {
			return false
		}
		flags = seg[tcpFlags]
	case ProtocolUDP:
		if ulen := int(binary.BigEndian.Uint16(seg[4:])); ulen < UDPMinimumSize || ulen > len(seg) {
			return false
		}
		hdr = UDPMinimumSize
	default:
		return false
	}
	const l4 = EthernetMinimumSize + IPv4MinimumSize
	// Field by field into the zeroed packet: a composite literal is built on the stack and copied
	// 16 bytes at a time, each copy waiting on the small stores it spans (no store forwarding).
	*p = Packet{}
	p.L3Offset, p.L4Offset, p.PayloadOffset, p.L3Length = EthernetMinimumSize, l4, l4+hdr, tlen
	p.EtherType, p.Proto, p.TCPFlags = EtherTypeIPv4, ip[9], flags
	// Each address in two 8-byte words, as Tuple.Equal, Addr.Is4 and Tuple.Hash read it.
	t, le := &p.Tuple, binary.LittleEndian
	le.PutUint64(t.SrcAddr[0:8], 0)
	le.PutUint64(t.SrcAddr[8:16], 0xffff0000|uint64(le.Uint32(ip[12:16]))<<32)
	le.PutUint64(t.DstAddr[0:8], 0)
	le.PutUint64(t.DstAddr[8:16], 0xffff0000|uint64(le.Uint32(ip[16:20]))<<32)
	t.SrcPort = binary.BigEndian.Uint16(seg[0:])
	t.DstPort = binary.BigEndian.Uint16(seg[2:])
	t.Proto = ip[9]
	return true
}

// parseGeneric is Parse for every frame: the reference parseFast must agree with.
func (p *Packet) parseGeneric(frame []byte) ParseResult {
	*p = Packet{}
	if len(frame) < EthernetMinimumSize {
		return ParseTooShort
	}
	et := binary.BigEndian.Uint16(frame[ethType:])
	off := EthernetMinimumSize
	for IsVLANType(et) {
		if p.VLANCount == 2 || len(frame) < off+VLANTagSize {
			return ParseBadVLAN
		}
		vid := binary.BigEndian.Uint16(frame[off:]) & VLANIDMask
		if p.VLANCount == 0 {
			p.VLANID = vid
		} else {
			p.InnerVLANID = vid
		}
		p.VLANCount++
		p.HasVLAN = true
		et = binary.BigEndian.Uint16(frame[off+2:])
		off += VLANTagSize
	}
	p.EtherType = et
	p.L3Offset = off

	var l4 int
	switch et {
	case EtherTypeIPv4:
		ip := IPv4(frame[off:])
		if len(ip) < IPv4MinimumSize || ip.Version() != IPv4Version {
			return ParseBadIPv4Header
		}
		hlen := ip.HeaderLength()
		if hlen < IPv4MinimumSize || hlen > len(ip) {
			return ParseBadIPv4Header
		}
		tlen := int(ip.TotalLength())
		if tlen < hlen || tlen > len(ip) {
			return ParseBadLength
		}
		p.L3Length = tlen
		p.Proto = ip.Protocol()
		p.Tuple.SrcAddr = AddrFrom4(ip.SourceAddress())
		p.Tuple.DstAddr = AddrFrom4(ip.DestinationAddress())
		p.Fragment = ip.IsFragment()
		p.FragmentOffset = ip.FragmentOffset()
		l4 = off + hlen
	case EtherTypeIPv6:
		ip := IPv6(frame[off:])
		if len(ip) < IPv6MinimumSize || ip.Version() != IPv6Version {
			return ParseBadIPv6Header
		}
		tlen := IPv6MinimumSize + int(ip.PayloadLength())
		if tlen > len(ip) {
			return ParseBadLength
		}
		p.L3Length = tlen
		p.IsIPv6 = true
		p.Tuple.SrcAddr = AddrFrom16(ip.SourceAddress())
		p.Tuple.DstAddr = AddrFrom16(ip.DestinationAddress())
		proto, l4rel, frag, ok := ip[:tlen].TransportProtocol(IPv6DefaultMaxExtHeaders)
		p.Proto = proto
		p.Fragment = frag.Present
		p.FragmentOffset = frag.Offset
		if !ok {
			return ParseExtHeaderChain
		}
		l4 = off + l4rel
	default:
		return ParseNotIP
	}
	p.Tuple.Proto = p.Proto
	p.L4Offset = l4
	p.PayloadOffset = l4
	if p.FragmentOffset != 0 {
		return ParseOK
	}
	end := off + p.L3Length
	seg := frame[l4:end]
	switch p.Proto {
	case ProtocolTCP:
		if len(seg) < TCPMinimumSize {
			return ParseBadTCPHeader
		}
		doff := TCP(seg).DataOffset()
		if doff < TCPMinimumSize || doff > len(seg) {
			return ParseBadTCPHeader
		}
		p.PayloadOffset = l4 + doff
		p.TCPFlags = TCP(seg).Flags()
	case ProtocolUDP:
		if len(seg) < UDPMinimumSize {
			return ParseBadUDPHeader
		}
		// In a first fragment the length covers the whole datagram, not just this fragment.
		ulen := int(UDP(seg).Length())
		if ulen < UDPMinimumSize || (ulen > len(seg) && !p.Fragment) {
			return ParseBadUDPHeader
		}
		if p.IsIPv6 && UDP(seg).Checksum() == 0 {
			return ParseUDPv6ZeroChecksum
		}
		p.PayloadOffset = l4 + UDPMinimumSize
	case ProtocolICMP, ProtocolICMPv6:
		if (p.Proto == ProtocolICMPv6) != p.IsIPv6 {
			return ParseOK // ICMP over IPv6 or ICMPv6 over IPv4: an opaque protocol
		}
		if len(seg) < ICMPv4MinimumSize {
			return ParseBadICMP
		}
		p.PayloadOffset = l4 + ICMPv4MinimumSize
		if isICMPEcho(seg[icmpType], p.IsIPv6) {
			id := ICMPv4(seg).Ident()
			p.Tuple.SrcPort, p.Tuple.DstPort = id, id
		}
		return ParseOK
	default:
		return ParseOK
	}
	p.Tuple.SrcPort = binary.BigEndian.Uint16(seg[0:])
	p.Tuple.DstPort = binary.BigEndian.Uint16(seg[2:])
	return ParseOK
}

// IsICMPError reports whether the parsed packet is an ICMP or ICMPv6 error message that quotes a packet
// (ICMPv4TypeIsError, ICMPv6TypeIsError). frame must be the frame p was parsed from.
func (p *Packet) IsICMPError(frame []byte) bool {
	if p.NonFirstFragment() || p.L4Offset+ICMPv4MinimumSize > p.L3Offset+p.L3Length || p.L3Offset+p.L3Length > len(frame) {
		return false
	}
	switch {
	case p.Proto == ProtocolICMP && !p.IsIPv6:
		return ICMPv4TypeIsError(frame[p.L4Offset])
	case p.Proto == ProtocolICMPv6 && p.IsIPv6:
		return ICMPv6TypeIsError(frame[p.L4Offset])
	}
	return false
}

// ParseICMPError parses the packet quoted by an ICMP or ICMPv6 error, p having been filled by Parse
// from frame with ParseOK. The quoted packet is one this side sent (or one sent through it), so inner
// is that packet's tuple as it stands, in its own direction: the tuple of the flow is inner.Reverse()
// as seen from the error's receiver when the quoted packet went the other way.
//
// It reads the quoted IP header (IPv4 inside ICMP, IPv6 inside ICMPv6, with extension headers) and the
// first 8 bytes of the L4 header: TCP and UDP ports, or the identifier of a quoted echo. The quote may be
// truncated after those 8 bytes. innerL3Offset and innerL4Offset are offsets into frame, for rewriting
// the quoted addresses and ports.
//
// ok is false if p is not an ICMP error, or the quote is truncated or malformed, is a non-first
// fragment, or is itself an ICMP error or non-echo message. Quoted protocols other than TCP, UDP and
// ICMP are returned with zero ports.
func (p *Packet) ParseICMPError(frame []byte) (inner Tuple, innerL3Offset, innerL4Offset int, ok bool) {
	if !p.IsICMPError(frame) {
		return Tuple{}, 0, 0, false
	}
	end := p.L3Offset + p.L3Length
	q := p.L4Offset + ICMPv4MinimumSize
	quote := frame[q:end]
	var l4 int
	if !p.IsIPv6 {
		ip := IPv4(quote)
		if len(ip) < IPv4MinimumSize || ip.Version() != IPv4Version {
			return Tuple{}, 0, 0, false
		}
		hlen := ip.HeaderLength()
		if hlen < IPv4MinimumSize || int(ip.TotalLength()) < hlen || ip.FragmentOffset() != 0 {
			return Tuple{}, 0, 0, false
		}
		inner.SrcAddr = AddrFrom4(ip.SourceAddress())
		inner.DstAddr = AddrFrom4(ip.DestinationAddress())
		inner.Proto = ip.Protocol()
		l4 = hlen
	} else {
		ip := IPv6(quote)
		if len(ip) < IPv6MinimumSize || ip.Version() != IPv6Version {
			return Tuple{}, 0, 0, false
		}
		proto, l4rel, frag, extOK := ip.TransportProtocol(IPv6DefaultMaxExtHeaders)
		if !extOK || frag.NonFirst() {
			return Tuple{}, 0, 0, false
		}
		inner.SrcAddr = AddrFrom16(ip.SourceAddress())
		inner.DstAddr = AddrFrom16(ip.DestinationAddress())
		inner.Proto = proto
		l4 = l4rel
	}
	if l4+ICMPErrorQuoteMinimum > len(quote) {
		return Tuple{}, 0, 0, false
	}
	h := quote[l4 : l4+ICMPErrorQuoteMinimum]
	switch inner.Proto {
	case ProtocolTCP, ProtocolUDP:
		inner.SrcPort = binary.BigEndian.Uint16(h[0:])
		inner.DstPort = binary.BigEndian.Uint16(h[2:])
	case ProtocolICMP, ProtocolICMPv6:
		if (inner.Proto == ProtocolICMPv6) != p.IsIPv6 {
			break
		}
		if !isICMPEcho(h[icmpType], p.IsIPv6) {
			return Tuple{}, 0, 0, false
		}
		id := binary.BigEndian.Uint16(h[icmpIdent:])
		inner.SrcPort, inner.DstPort = id, id
	}
	return inner, q, q + l4, true
}

// isICMPEcho reports whether t is an echo request or reply type of ICMPv6 (v6) or ICMP.
func isICMPEcho(t uint8, v6 bool) bool {
	if v6 {
		return t == ICMPv6EchoRequest || t == ICMPv6EchoReply
	}
	return t == ICMPv4Echo || t == ICMPv4EchoReply
}
