package toa

import (
	"encoding/binary"
	"strconv"

	"github.com/xdpvs/xdpvs/header"
)

// Option kind and sizes (DPVS kmod/toa/toa.h TCPOPT_TOA, TCPOLEN_IP4_TOA, TCPOLEN_IP6_TOA).
const (
	Kind   = header.TCPOptionTOA // 254
	Size4  = 8                   // kind, length, port, IPv4 address
	Size6  = 20                  // kind, length, port, IPv6 address
	MaxLen = Size6
)

// tcpMaxHeader is the largest TCP header: a data offset of 15 words.
const tcpMaxHeader = 60

// Result is the outcome of Insert: OK, or the one reason the option was not added. The dataplane keeps
// a counter per value.
type Result uint8

const (
	// OK: the option was added.
	OK Result = iota
	// NoTailroom: the buffer's capacity cannot hold the longer packet.
	NoTailroom
	// OptionsFull: the TCP header would exceed 60 bytes (data offset 15).
	OptionsFull
	// ExceedsMTU: the longer packet would exceed the MTU.
	ExceedsMTU
	// Malformed: not an IP packet of the given family carrying a complete, unfragmented TCP segment
	// with a well-formed option list.
	Malformed
	// AlreadyPresent: the segment already carries a TOA option (it is left as it is).
	AlreadyPresent

	// NumResults is the number of Result values, for counter arrays.
	NumResults = iota
)

var resultNames = [NumResults]string{"ok", "no_tailroom", "options_full", "exceeds_mtu", "malformed", "already_present"}

// String returns the counter name of r ("ok", "no_tailroom", ...).
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// OptionSize returns the size of the option for client: Size4 for an IPv4 address, Size6 otherwise.
// It is also by how much the dataplane lowers an MSS option in the handshake so that the option
// always fits. client's family sets the size, not the packet's: NAT64 needs 20.
//
// Why: TOA rides client → real server on the connection's first ACK or data segment. The client sizes
// its data segments from the MSS the other end advertised in the SYN-ACK, so a full-sized segment plus
// the option would exceed the path MTU toward the real server (and Insert would refuse it with
// ExceedsMTU, or, with a tighter real-server link, it would be dropped there). Lowering the MSS
// advertised to the client by the option's size keeps every client segment at least that many bytes
// short of the MTU, so the option fits whichever segment carries it. The option space is the other
// limit: an MSS cannot help with OptionsFull, which happens only when the segment already carries 33 or
// more bytes of options (SACK blocks beside timestamps), never on a first ACK. DPVS applies the
// reduction to the client's SYN (tcp_in_adjust_mss), which bounds the real server's segments toward
// the client; applying it to the SYN-ACK toward the client (or to the SYN-ACK a SYN proxy sends)
// bounds the client's own segments, the direction that carries TOA. The reduction is small (at most
// 20 of 1460 bytes), so doing both costs little.
func OptionSize(client header.Addr) int {
	if client.Is4() {
		return Size4
	}
	return Size6
}

// Encode writes the option for client:port into b and returns its size (OptionSize(client)). b must
// have room for it.
func Encode(b []byte, client header.Addr, port uint16) int {
	if client.Is4() {
		_ = b[Size4-1]
		b[0], b[1] = Kind, Size4
		binary.BigEndian.PutUint16(b[2:], port)
		copy(b[4:8], client[12:16])
		return Size4
	}
	_ = b[Size6-1]
	b[0], b[1] = Kind, Size6
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:20], client[:])
	return Size6
}

// Decode returns the client address and port of the first TOA option in tcpOptions (a TCP option list,
// as header.TCP.Options returns it). ok is false when there is none, when the first one has a length
// other than 8 or 20, or when the list is malformed before it. IPv4 addresses come back in header.Addr's
// IPv4-mapped form.
func Decode(tcpOptions []byte) (addr header.Addr, port uint16, ok bool) {
	it := header.NewTCPOptionIterator(tcpOptions)
	for opt, more := it.Next(); more; opt, more = it.Next() {
		if opt.Kind != Kind {
			continue
		}
		switch len(opt.Data) {
		case Size4 - 2:
			return header.AddrFrom4(opt.Data[2:6]), binary.BigEndian.Uint16(opt.Data), true
		case Size6 - 2:
			return header.AddrFrom16(opt.Data[2:18]), binary.BigEndian.Uint16(opt.Data), true
		}
		return header.Addr{}, 0, false
	}
	return header.Addr{}, 0, false
}

// maxIPv6Ext bounds the IPv6 extension headers Insert walks.
const maxIPv6Ext = 8

// Insert adds the TOA option for client:cport to the TCP segment of the IP packet pkt[:n], in place,
// and returns the packet's new length. pkt starts at the IP header; v6 says whether it is IPv6 (the
// version nibble must agree). The option goes after the existing options, before the payload, which
// moves up by the option's size (OptionSize(client)); an EOL and the padding after it become NOPs so
// the option is not hidden behind the end of the list. The data offset stays a multiple of 4 because
// both option sizes are.
//
// Updated: the TCP data offset; the IPv4 total length and header checksum, or the IPv6 payload length;
// the TCP checksum, incrementally (RFC 1624: the pseudo header's length, the data-offset word and the
// option's bytes; the payload moves by a multiple of 2, so its sum does not change). A wrong TCP
// checksum stays exactly as wrong.
//
// The packet ends where its IP header says (bytes of pkt[:n] past it, such as link padding, are
// overwritten or dropped). mtu is the largest IP packet allowed after insertion (0: no limit); the
// buffer needs cap(pkt) ≥ newLen. When r is not OK, pkt is unchanged and newLen is n. The checks run in
// the order Malformed, AlreadyPresent, OptionsFull, ExceedsMTU, NoTailroom. Insert does not allocate.
func Insert(pkt []byte, n int, v6 bool, client header.Addr, cport uint16, mtu int) (newLen int, r Result) {
	if n > len(pkt) || n < 0 {
		return n, Malformed
	}
	var ipLen, l4 int
	if v6 {
		ip := header.IPv6(pkt[:n])
		if !ip.IsValid(n) || ip.PayloadLength() == 0 {
			return n, Malformed
		}
		proto, off, frag, ok := ip.TransportProtocol(maxIPv6Ext)
		if !ok || proto != header.ProtocolTCP || frag.Present {
			return n, Malformed
		}
		ipLen, l4 = header.IPv6MinimumSize+int(ip.PayloadLength()), off
	} else {
		ip := header.IPv4(pkt[:n])
		if !ip.IsValid(n) || ip.Protocol() != header.ProtocolTCP || ip.IsFragment() {
			return n, Malformed
		}
		ipLen, l4 = int(ip.TotalLength()), ip.HeaderLength()
	}
	tcp := header.TCP(pkt[l4:ipLen])
	if !tcp.IsValid(len(tcp)) {
		return n, Malformed
	}
	doff := tcp.DataOffset()
	opts := tcp[header.TCPMinimumSize:doff]
	eol := len(opts)
	for i := 0; i < len(opts); {
		switch kind := opts[i]; kind {
		case header.TCPOptionEOL:
			eol = i
			i = len(opts)
		case header.TCPOptionNOP:
			i++
		default:
			if i+1 >= len(opts) {
				return n, Malformed
			}
			l := int(opts[i+1])
			if l < 2 || i+l > len(opts) {
				return n, Malformed
			}
			if kind == Kind {
				return n, AlreadyPresent
			}
			i += l
		}
	}
	size := OptionSize(client)
	newLen = ipLen + size
	switch {
	case doff+size > tcpMaxHeader:
		return n, OptionsFull
	case mtu > 0 && newLen > mtu, newLen > 0xFFFF:
		return n, ExceedsMTU
	case newLen > cap(pkt):
		return n, NoTailroom
	}

	pkt = pkt[:newLen]
	at := l4 + doff
	copy(pkt[at+size:], pkt[at:ipLen])
	tcp = header.TCP(pkt[l4:newLen])
	xsum := ^tcp.Checksum() // the running sum, RFC 1624 eqn. 3 form
	if eol < len(opts) {
		// Turn EOL and its padding into NOPs; the option list starts at an even offset.
		region := tcp[header.TCPMinimumSize:doff]
		xsum = header.ChecksumCombine(xsum, ^header.Checksum(region, 0))
		for i := eol; i < len(region); i++ {
			region[i] = header.TCPOptionNOP
		}
		xsum = header.ChecksumCombine(xsum, header.Checksum(region, 0))
	}
	Encode(tcp[doff:], client, cport)
	xsum = header.ChecksumCombine(xsum, header.Checksum(tcp[doff:doff+size], 0))
	oldWord := binary.BigEndian.Uint16(tcp[12:])
	tcp[12] = byte((doff+size)/4)<<4 | tcp[12]&0x0F
	xsum = header.ChecksumCombine(xsum, ^oldWord)
	xsum = header.ChecksumCombine(xsum, binary.BigEndian.Uint16(tcp[12:]))
	segLen := uint16(ipLen - l4)
	xsum = header.ChecksumCombine(xsum, ^segLen)
	xsum = header.ChecksumCombine(xsum, segLen+uint16(size))
	tcp.SetChecksum(^xsum)

	if v6 {
		ip := header.IPv6(pkt)
		ip.SetPayloadLength(uint16(newLen - header.IPv6MinimumSize))
	} else {
		ip := header.IPv4(pkt)
		ip.SetChecksum(header.ChecksumUpdate16(ip.Checksum(), ip.TotalLength(), uint16(newLen)))
		ip.SetTotalLength(uint16(newLen))
	}
	return newLen, OK
}
