package header

import "encoding/binary"

// TCP option kinds (IANA "TCP Option Kind Numbers"). Every option but EOL and NOP is
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - -
//	|     Kind      |    Length     |  Data ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - -
//
// with Length counting the kind and length bytes (RFC 9293 §3.2).
const (
	TCPOptionEOL           uint8 = 0
	TCPOptionNOP           uint8 = 1
	TCPOptionMSS           uint8 = 2 // RFC 9293 §3.7.1
	TCPOptionWS            uint8 = 3 // window scale, RFC 7323 §2
	TCPOptionSACKPermitted uint8 = 4 // RFC 2018 §2
	TCPOptionSACK          uint8 = 5 // RFC 2018 §3
	TCPOptionTimestamps    uint8 = 8 // RFC 7323 §3
	TCPOptionTOA           uint8 = 254
)

// Lengths of the fixed-size options, kind and length bytes included.
const (
	TCPOptionMSSLength           = 4
	TCPOptionWSLength            = 3
	TCPOptionSACKPermittedLength = 2
	TCPOptionTimestampsLength    = 10
	// TCPOptionSACKBlockSize is the size of one SACK block; a SACK option is 2 + 8n bytes, 1 ≤ n ≤ 4.
	TCPOptionSACKBlockSize = 8
	// TCPMaximumSACKBlocks is the most SACK blocks that fit in the option space.
	TCPMaximumSACKBlocks = 4
	// TCPMaximumWSShift is the largest meaningful window-scale shift (RFC 7323 §2.3).
	TCPMaximumWSShift = 14
)

// TCPOption is one option found by TCPOptionIterator. Data aliases the options buffer.
type TCPOption struct {
	Kind   uint8
	Offset int    // offset of the kind byte in the options buffer
	Data   []byte // the value: Length-2 bytes after the kind and length bytes
}

// Length returns the option's length byte: len(Data) + 2.
func (o TCPOption) Length() int { return len(o.Data) + 2 }

// TCPOptionIterator walks a TCP option list without allocating:
//
//	it := NewTCPOptionIterator(tcp.Options())
//	for opt, ok := it.Next(); ok; opt, ok = it.Next() { ... }
//	if it.Malformed() { ... }
//
// NOPs are skipped; EOL ends the walk (what follows it is padding). Options of every kind are returned,
// unknown ones included, with their length checked only against the buffer (see TCPOptionsValid for the
// lengths of the known kinds).
type TCPOptionIterator struct {
	opts      []byte
	off       int
	malformed bool
}

// NewTCPOptionIterator returns an iterator over opts, which is usually TCP.Options().
func NewTCPOptionIterator(opts []byte) TCPOptionIterator { return TCPOptionIterator{opts: opts} }

// Next returns the next option. ok is false at the end of the list, at EOL, or at a malformed option:
// a length byte missing, below 2, or running past the end of the buffer (then Malformed reports true).
func (it *TCPOptionIterator) Next() (opt TCPOption, ok bool) {
	for it.off < len(it.opts) {
		off := it.off
		kind := it.opts[off]
		switch kind {
		case TCPOptionEOL:
			it.off = len(it.opts)
			return TCPOption{}, false
		case TCPOptionNOP:
			it.off++
			continue
		}
		if off+1 >= len(it.opts) {
			return it.fail()
		}
		l := int(it.opts[off+1])
		if l < 2 || off+l > len(it.opts) {
			return it.fail()
		}
		it.off = off + l
		return TCPOption{Kind: kind, Offset: off, Data: it.opts[off+2 : off+l : off+l]}, true
	}
	return TCPOption{}, false
}

func (it *TCPOptionIterator) fail() (TCPOption, bool) {
	it.malformed = true
	it.off = len(it.opts)
	return TCPOption{}, false
}

// Malformed reports whether the walk stopped at a malformed option.
func (it *TCPOptionIterator) Malformed() bool { return it.malformed }

// tcpOptionLengthOK reports whether l is a valid length byte for an option of kind k.
func tcpOptionLengthOK(k uint8, l int) bool {
	switch k {
	case TCPOptionMSS:
		return l == TCPOptionMSSLength
	case TCPOptionWS:
		return l == TCPOptionWSLength
	case TCPOptionSACKPermitted:
		return l == TCPOptionSACKPermittedLength
	case TCPOptionTimestamps:
		return l == TCPOptionTimestampsLength
	case TCPOptionSACK:
		n := l - 2
		return n >= TCPOptionSACKBlockSize && n <= TCPMaximumSACKBlocks*TCPOptionSACKBlockSize && n%TCPOptionSACKBlockSize == 0
	}
	return true
}

// TCPOptionsValid reports whether opts is a well-formed option list: every option has a length byte of
// at least 2 that stays within opts, and MSS, WS, SACK-permitted, SACK and Timestamps have their
// specified lengths. Bytes after an EOL are not examined.
func TCPOptionsValid(opts []byte) bool {
	it := NewTCPOptionIterator(opts)
	for opt, ok := it.Next(); ok; opt, ok = it.Next() {
		if !tcpOptionLengthOK(opt.Kind, opt.Length()) {
			return false
		}
	}
	return !it.Malformed()
}

// findTCPOption returns the offset in opts of the first option of the given kind and length, or -1 if
// there is none or the list is malformed before it.
func findTCPOption(opts []byte, kind uint8, length int) int {
	it := NewTCPOptionIterator(opts)
	for opt, ok := it.Next(); ok; opt, ok = it.Next() {
		if opt.Kind == kind {
			if opt.Length() != length {
				return -1
			}
			return opt.Offset
		}
	}
	return -1
}

// TCPSynOptions holds the options a SYN or SYN-ACK negotiates.
type TCPSynOptions struct {
	MSS           uint16
	WS            uint8 // window-scale shift count
	SACKPermitted bool
	TSVal, TSEcr  uint32
	HasMSS        bool
	HasWS         bool
	HasTS         bool
}

// ParseTCPSynOptions reads the negotiated options out of opts. Options of a known kind with a wrong
// length are ignored (as Linux does); ok is false if the list is structurally malformed, in which case
// o holds what was found before the fault.
func ParseTCPSynOptions(opts []byte) (o TCPSynOptions, ok bool) {
	it := NewTCPOptionIterator(opts)
	for opt, more := it.Next(); more; opt, more = it.Next() {
		if !tcpOptionLengthOK(opt.Kind, opt.Length()) {
			continue
		}
		switch opt.Kind {
		case TCPOptionMSS:
			o.MSS, o.HasMSS = binary.BigEndian.Uint16(opt.Data), true
		case TCPOptionWS:
			o.WS, o.HasWS = min(opt.Data[0], TCPMaximumWSShift), true
		case TCPOptionSACKPermitted:
			o.SACKPermitted = true
		case TCPOptionTimestamps:
			o.TSVal, o.TSEcr, o.HasTS = binary.BigEndian.Uint32(opt.Data), binary.BigEndian.Uint32(opt.Data[4:]), true
		}
	}
	return o, !it.Malformed()
}

// EncodeNOPOption writes a NOP into b and returns 1.
func EncodeNOPOption(b []byte) int {
	b[0] = TCPOptionNOP
	return 1
}

// EncodeMSSOption writes an MSS option into b and returns its length, 4.
func EncodeMSSOption(mss uint16, b []byte) int {
	_ = b[3]
	b[0], b[1] = TCPOptionMSS, TCPOptionMSSLength
	binary.BigEndian.PutUint16(b[2:], mss)
	return TCPOptionMSSLength
}

// EncodeWSOption writes a window-scale option into b and returns its length, 3.
func EncodeWSOption(shift uint8, b []byte) int {
	_ = b[2]
	b[0], b[1], b[2] = TCPOptionWS, TCPOptionWSLength, shift
	return TCPOptionWSLength
}

// EncodeSACKPermittedOption writes a SACK-permitted option into b and returns its length, 2.
func EncodeSACKPermittedOption(b []byte) int {
	_ = b[1]
	b[0], b[1] = TCPOptionSACKPermitted, TCPOptionSACKPermittedLength
	return TCPOptionSACKPermittedLength
}

// EncodeTimestampsOption writes a timestamps option into b and returns its length, 10.
func EncodeTimestampsOption(tsVal, tsEcr uint32, b []byte) int {
	_ = b[9]
	b[0], b[1] = TCPOptionTimestamps, TCPOptionTimestampsLength
	binary.BigEndian.PutUint32(b[2:], tsVal)
	binary.BigEndian.PutUint32(b[6:], tsEcr)
	return TCPOptionTimestampsLength
}

// TCPSynOptionsMaxSize is the most bytes EncodeTCPSynOptions writes.
const TCPSynOptionsMaxSize = 20

// EncodeTCPSynOptions writes o into b in Linux's SYN layout, 32-bit aligned (MSS; SACK-permitted and
// Timestamps, or NOP NOP Timestamps, or NOP NOP SACK-permitted; NOP WS) and returns the length written,
// a multiple of 4 and at most TCPSynOptionsMaxSize. b must have room for it.
func EncodeTCPSynOptions(o TCPSynOptions, b []byte) int {
	n := 0
	if o.HasMSS {
		n += EncodeMSSOption(o.MSS, b[n:])
	}
	switch {
	case o.HasTS:
		if o.SACKPermitted {
			n += EncodeSACKPermittedOption(b[n:])
		} else {
			n += EncodeNOPOption(b[n:])
			n += EncodeNOPOption(b[n:])
		}
		n += EncodeTimestampsOption(o.TSVal, o.TSEcr, b[n:])
	case o.SACKPermitted:
		n += EncodeNOPOption(b[n:])
		n += EncodeNOPOption(b[n:])
		n += EncodeSACKPermittedOption(b[n:])
	}
	if o.HasWS {
		n += EncodeNOPOption(b[n:])
		n += EncodeWSOption(o.WS, b[n:])
	}
	return n
}
