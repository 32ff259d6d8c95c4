package header

import (
	"encoding/binary"
	"math/bits"
)

// TCP header (RFC 9293 §3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeqNum     = 4
	tcpAckNum     = 8
	tcpDataOffset = 12
	tcpFlags      = 13
	tcpWinSize    = 14
	tcpChecksum   = 16
	tcpUrgentPtr  = 18
)

const (
	// TCPMinimumSize is the size of a TCP header without options (data offset 5).
	TCPMinimumSize = 20
	// TCPMaximumSize is the size of a TCP header with data offset 15.
	TCPMaximumSize = 60
	// TCPMaximumOptionsSize is the room for options in a TCP header.
	TCPMaximumOptionsSize = TCPMaximumSize - TCPMinimumSize
)

// TCP flags, as returned by TCP.Flags (byte 13 of the header).
const (
	TCPFlagFin uint8 = 1 << iota
	TCPFlagSyn
	TCPFlagRst
	TCPFlagPsh
	TCPFlagAck
	TCPFlagUrg
	TCPFlagEce
	TCPFlagCwr
)

// TCP is a view of a TCP segment: header, options and payload.
type TCP []byte

// TCPFields are the fields of the fixed TCP header, which Encode writes (gVisor's
// header.TCPFields).
type TCPFields struct {
	SrcPort, DstPort uint16
	SeqNum, AckNum   uint32
	DataOffset       uint8 // header length in bytes, options included: a multiple of 4, 20 to 60
	Flags            uint8
	WindowSize       uint16
	Checksum         uint16 // usually 0, filled once the segment is complete (FillChecksum)
	UrgentPointer    uint16
}

// Encode writes f as the fixed 20 bytes of a TCP header at the start of b; the options, if
// DataOffset announces some, are the caller's to write after it.
func (b TCP) Encode(f *TCPFields) {
	_ = b[TCPMinimumSize-1]
	binary.BigEndian.PutUint16(b[tcpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], f.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeqNum:], f.SeqNum)
	binary.BigEndian.PutUint32(b[tcpAckNum:], f.AckNum)
	b[tcpDataOffset] = f.DataOffset / 4 << 4
	b[tcpFlags] = f.Flags
	binary.BigEndian.PutUint16(b[tcpWinSize:], f.WindowSize)
	binary.BigEndian.PutUint16(b[tcpChecksum:], f.Checksum)
	binary.BigEndian.PutUint16(b[tcpUrgentPtr:], f.UrgentPointer)
}

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }

// SetSourcePort sets the source port. It does not update the checksum.
func (b TCP) SetSourcePort(p uint16) { binary.BigEndian.PutUint16(b[tcpSrcPort:], p) }

// SetDestinationPort sets the destination port. It does not update the checksum.
func (b TCP) SetDestinationPort(p uint16) { binary.BigEndian.PutUint16(b[tcpDstPort:], p) }

// SequenceNumber returns the sequence number.
func (b TCP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[tcpSeqNum:]) }

// SetSequenceNumber sets the sequence number. It does not update the checksum.
func (b TCP) SetSequenceNumber(n uint32) { binary.BigEndian.PutUint32(b[tcpSeqNum:], n) }

// AckNumber returns the acknowledgment number.
func (b TCP) AckNumber() uint32 { return binary.BigEndian.Uint32(b[tcpAckNum:]) }

// SetAckNumber sets the acknowledgment number. It does not update the checksum.
func (b TCP) SetAckNumber(n uint32) { binary.BigEndian.PutUint32(b[tcpAckNum:], n) }

// DataOffset returns the header length in bytes (data offset × 4), options included.
func (b TCP) DataOffset() int { return int(b[tcpDataOffset]>>4) * 4 }

// Flags returns the flags byte (TCPFlagFin … TCPFlagCwr).
func (b TCP) Flags() uint8 { return b[tcpFlags] }

// SetFlags sets the flags byte. It does not update the checksum.
func (b TCP) SetFlags(f uint8) { b[tcpFlags] = f }

// WindowSize returns the (unscaled) window field.
func (b TCP) WindowSize() uint16 { return binary.BigEndian.Uint16(b[tcpWinSize:]) }

// SetWindowSize sets the window field. It does not update the checksum.
func (b TCP) SetWindowSize(w uint16) { binary.BigEndian.PutUint16(b[tcpWinSize:], w) }

// UrgentPointer returns the urgent pointer.
func (b TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(b[tcpUrgentPtr:]) }

// Checksum returns the checksum field (the stored, complemented value).
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksum:]) }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], v) }

// Options returns the options: a slice of the header between byte 20 and DataOffset.
func (b TCP) Options() []byte { return b[TCPMinimumSize:b.DataOffset()] }

// Payload returns the bytes after the header.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// IsValid reports whether b holds a well-formed TCP header for a segment of segLen bytes (the IP payload
// length): TCPMinimumSize ≤ DataOffset ≤ segLen ≤ len(b). It does not look at the options; see
// TCPOptionsValid.
func (b TCP) IsValid(segLen int) bool {
	if len(b) < TCPMinimumSize || segLen > len(b) {
		return false
	}
	doff := b.DataOffset()
	return doff >= TCPMinimumSize && doff <= segLen
}

// CalculateChecksum returns the sum (not complemented) of the whole of b, header and payload, with
// the checksum field as it stands, starting from pseudo, the pseudo-header sum
// (PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(b)))). b must be the segment exactly. With
// the field zeroed, the value to store is its complement (FillChecksum); with a correct checksum
// stored, the sum is 0xFFFF (IsChecksumValid).
func (b TCP) CalculateChecksum(pseudo uint16) uint16 { return Checksum(b, pseudo) }

// FillChecksum computes the checksum from scratch over the whole of b and stores it.
func (b TCP) FillChecksum(pseudo uint16) {
	b.SetChecksum(0)
	b.SetChecksum(^Checksum(b, pseudo))
}

// IsChecksumValid reports whether the stored checksum is right for the segment b and the pseudo-header
// sum pseudo.
func (b TCP) IsChecksumValid(pseudo uint16) bool { return Checksum(b, pseudo) == 0xFFFF }

// CompletePartialChecksum finishes a checksum left to transmit offload by a local sender (a
// container on a veth, some virtual NICs: Linux's CHECKSUM_PARTIAL), which holds only the
// pseudo-header sum pseudo, or its complement: if the stored checksum is one of those and does not
// verify, it computes and stores the full checksum and reports true. Any other segment, with a right
// checksum or a wrong one, is left unchanged (false). The cost is a comparison, and a full checksum
// only for a segment that needs one. b must be the segment exactly.
func (b TCP) CompletePartialChecksum(pseudo uint16) bool {
	return completePartial(b, tcpChecksum, pseudo, false)
}

// SetSourcePortWithChecksumUpdate sets the source port and updates the checksum incrementally.
func (b TCP) SetSourcePortWithChecksumUpdate(p uint16) {
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), b.SourcePort(), p))
	b.SetSourcePort(p)
}

// SetDestinationPortWithChecksumUpdate sets the destination port and updates the checksum incrementally.
func (b TCP) SetDestinationPortWithChecksumUpdate(p uint16) {
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), b.DestinationPort(), p))
	b.SetDestinationPort(p)
}

// SetSequenceNumberWithChecksumUpdate sets the sequence number and updates the checksum incrementally.
func (b TCP) SetSequenceNumberWithChecksumUpdate(n uint32) {
	b.SetChecksum(checksumUpdate32(b.Checksum(), b.SequenceNumber(), n))
	b.SetSequenceNumber(n)
}

// SetAckNumberWithChecksumUpdate sets the acknowledgment number and updates the checksum incrementally.
func (b TCP) SetAckNumberWithChecksumUpdate(n uint32) {
	b.SetChecksum(checksumUpdate32(b.Checksum(), b.AckNumber(), n))
	b.SetAckNumber(n)
}

// UpdateChecksumPseudoHeaderAddress updates the checksum incrementally for an address of the pseudo
// header (source or destination, 4 or 16 bytes) changing from old to new. Call it before rewriting the
// IP header: old is usually IPv4.SourceAddress(), a slice of the header.
func (b TCP) UpdateChecksumPseudoHeaderAddress(old, new []byte) {
	b.SetChecksum(ChecksumUpdateAddress(b.Checksum(), old, new))
}

// checksumUpdate32 is ChecksumUpdate16 for a 32-bit field at an even offset.
func checksumUpdate32(xsum uint16, old, new uint32) uint16 {
	s := ChecksumCombine(^xsum, ^uint16(old>>16))
	s = ChecksumCombine(s, ^uint16(old))
	s = ChecksumCombine(s, uint16(new>>16))
	return ^ChecksumCombine(s, uint16(new))
}

// MSS returns the value of the MSS option, if the options hold a well-formed one.
func (b TCP) MSS() (mss uint16, ok bool) {
	off := findTCPOption(b.Options(), TCPOptionMSS, TCPOptionMSSLength)
	if off < 0 {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[TCPMinimumSize+off+2:]), true
}

// SetMSSWithChecksumUpdate rewrites the value of the MSS option in place to mss and updates the checksum
// incrementally (the value may sit at an odd offset after a lone NOP). It returns the old value; ok is
// false, and nothing is written, if the options hold no well-formed MSS option.
func (b TCP) SetMSSWithChecksumUpdate(mss uint16) (old uint16, ok bool) {
	off := findTCPOption(b.Options(), TCPOptionMSS, TCPOptionMSSLength)
	if off < 0 {
		return 0, false
	}
	at := TCPMinimumSize + off + 2
	old = binary.BigEndian.Uint16(b[at:])
	o, n := old, mss
	if at&1 != 0 {
		o, n = bits.ReverseBytes16(o), bits.ReverseBytes16(n)
	}
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), o, n))
	binary.BigEndian.PutUint16(b[at:], mss)
	return old, true
}

// ClampMSSWithChecksumUpdate lowers the MSS option to max if it is larger, updating the checksum
// incrementally, and reports whether it changed anything.
func (b TCP) ClampMSSWithChecksumUpdate(max uint16) bool {
	if mss, ok := b.MSS(); !ok || mss <= max {
		return false
	}
	b.SetMSSWithChecksumUpdate(max)
	return true
}
