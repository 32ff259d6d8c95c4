package header

import "encoding/binary"

// UDP header (RFC 768):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            Length             |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A checksum field of 0 means "no checksum" over IPv4; a computed checksum of 0 is sent as 0xFFFF.
// Over IPv6 the checksum is mandatory (RFC 8200 §8.1), so a 0 there is an invalid packet, which
// Packet.Parse rejects (ParseUDPv6ZeroChecksum).
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDPMinimumSize is the size of a UDP header.
const UDPMinimumSize = 8

// UDP is a view of a UDP datagram: header and payload.
type UDP []byte

// UDPFields are the fields of a UDP header, which Encode writes (gVisor's header.UDPFields).
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16 // header plus payload, in bytes
	Checksum         uint16 // 0 (none, or to be filled by FillChecksum)
}

// Encode writes f as the 8-byte UDP header at the start of b.
func (b UDP) Encode(f *UDPFields) {
	_ = b[UDPMinimumSize-1]
	binary.BigEndian.PutUint16(b[udpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[udpDstPort:], f.DstPort)
	binary.BigEndian.PutUint16(b[udpLength:], f.Length)
	binary.BigEndian.PutUint16(b[udpChecksum:], f.Checksum)
}

// SourcePort returns the source port.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// SetSourcePort sets the source port. It does not update the checksum.
func (b UDP) SetSourcePort(p uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], p) }

// SetDestinationPort sets the destination port. It does not update the checksum.
func (b UDP) SetDestinationPort(p uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], p) }

// Length returns the length field: header plus payload, in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// SetLength sets the length field. It does not update the checksum.
func (b UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(b[udpLength:], n) }

// Checksum returns the checksum field (the stored value; 0 means none).
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], v) }

// Payload returns the bytes after the header up to Length (or the end of b, if shorter).
func (b UDP) Payload() []byte {
	end := min(int(b.Length()), len(b))
	return b[min(UDPMinimumSize, end):end]
}

// IsValid reports whether b holds a well-formed UDP header for a datagram of segLen bytes (the IP
// payload length): UDPMinimumSize ≤ Length ≤ segLen ≤ len(b). Length may be less than segLen (Linux
// trims the rest).
func (b UDP) IsValid(segLen int) bool {
	if len(b) < UDPMinimumSize || segLen > len(b) {
		return false
	}
	l := int(b.Length())
	return l >= UDPMinimumSize && l <= segLen
}

// CalculateChecksum returns the sum (not complemented) of the whole of b with the checksum field as it
// stands, starting from pseudo (PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(b)))). b must
// be the datagram exactly (Length bytes).
func (b UDP) CalculateChecksum(pseudo uint16) uint16 { return Checksum(b, pseudo) }

// FillChecksum computes the checksum from scratch over the whole of b and stores it, 0xFFFF for a
// computed 0.
func (b UDP) FillChecksum(pseudo uint16) {
	b.SetChecksum(0)
	b.SetChecksum(udpFieldFromSum(Checksum(b, pseudo)))
}

// IsChecksumValid reports whether the stored checksum is right for the datagram b and the pseudo-header
// sum pseudo. A stored 0 ("none", IPv4 only) is reported valid.
func (b UDP) IsChecksumValid(pseudo uint16) bool {
	return b.Checksum() == 0 || Checksum(b, pseudo) == 0xFFFF
}

// CompletePartialChecksum is TCP.CompletePartialChecksum for a UDP datagram: a stored 0 ("none",
// IPv4) is left alone, and a computed 0 is stored as 0xFFFF. b must be the datagram exactly.
func (b UDP) CompletePartialChecksum(pseudo uint16) bool {
	return b.Checksum() != 0 && completePartial(b, udpChecksum, pseudo, true)
}

func udpFieldFromSum(sum uint16) uint16 {
	if v := ^sum; v != 0 {
		return v
	}
	return 0xFFFF
}

// udpUpdate applies an incremental update to the field value xsum, keeping the UDP rules: a 0 ("none")
// stays 0 and a computed 0 becomes 0xFFFF.
func udpUpdate(xsum, update uint16) uint16 {
	if xsum == 0 {
		return 0
	}
	if update == 0 {
		return 0xFFFF
	}
	return update
}

// SetSourcePortWithChecksumUpdate sets the source port and updates the checksum incrementally, keeping
// a 0 ("none") checksum 0.
func (b UDP) SetSourcePortWithChecksumUpdate(p uint16) {
	x := b.Checksum()
	b.SetChecksum(udpUpdate(x, ChecksumUpdate16(x, b.SourcePort(), p)))
	b.SetSourcePort(p)
}

// SetDestinationPortWithChecksumUpdate sets the destination port and updates the checksum
// incrementally, keeping a 0 ("none") checksum 0.
func (b UDP) SetDestinationPortWithChecksumUpdate(p uint16) {
	x := b.Checksum()
	b.SetChecksum(udpUpdate(x, ChecksumUpdate16(x, b.DestinationPort(), p)))
	b.SetDestinationPort(p)
}

// UpdateChecksumPseudoHeaderAddress updates the checksum incrementally for an address of the pseudo
// header changing from old to new (4 or 16 bytes), keeping a 0 ("none") checksum 0. Call it before
// rewriting the IP header.
func (b UDP) UpdateChecksumPseudoHeaderAddress(old, new []byte) {
	x := b.Checksum()
	b.SetChecksum(udpUpdate(x, ChecksumUpdateAddress(x, old, new)))
}
