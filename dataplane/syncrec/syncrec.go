package syncrec

import (
	"encoding/binary"

	"github.com/xdpvs/xdpvs/header"
)

// Size is the encoded size of a record.
const Size = 112

// Kind says what a record tells.
type Kind uint8

const (
	KindConn   Kind = 1 // the connection exists in this state (opened, changed or refreshed)
	KindClosed Kind = 2 // the connection is gone before its time (removed, replaced)
)

// Flags are a record's yes-or-no facts.
type Flags uint8

const (
	FlagTOADone  Flags = 1 << iota // FULLNAT: the TOA option has reached the real server
	FlagAssured                    // UDP: traffic both ways, or a second packet
	FlagSynProxy                   // SYN-proxied: SP holds the deltas
	FlagTemplate                   // TemplateMs is the remaining time of its persistence template
	FlagPP                         // FULLNAT: the client's stream starts with a PROXY protocol header at PPAt
	FlagPPSent                     // the PROXY protocol header has gone out
	flagsAll     = FlagTOADone | FlagAssured | FlagSynProxy | FlagTemplate | FlagPP | FlagPPSent
)

// Limits Decode checks.
const (
	maxMethod = 3  // control.ForwardFullNAT
	maxState  = 11 // conntrack.StateUDP
	maxWS     = 14 // RFC 7323's largest window scale
)

// SP are the SYN proxy's deltas of a connection, as synproxy.Delta holds them.
type SP struct {
	Seq, TS                     uint32
	Flags                       uint8
	ClientWS, ProxyWS, ServerWS uint8
}

// Record is one connection as it travels.
type Record struct {
	Kind        Kind
	Orig, Reply header.Tuple // Reply.Proto is Orig.Proto
	Method      uint8
	State       uint8
	Flags       Flags
	TimeoutMs   uint32
	TemplateMs  uint32
	SP          SP
	Exported    int64  // Unix ns
	PPAt        uint32 // FlagPP: the client's ISN + 1, where its stream and the header begin
}

// Encode writes r into b, which must hold Size bytes.
func (r *Record) Encode(b []byte) {
	b = b[:Size]
	b[0], b[1], b[2], b[3], b[4], b[5] = uint8(r.Kind), r.Orig.Proto, r.Method, r.State, uint8(r.Flags), r.SP.Flags
	b[6], b[7], b[8] = r.SP.ClientWS, r.SP.ProxyWS, r.SP.ServerWS
	b[9], b[10], b[11] = 0, 0, 0
	binary.BigEndian.PutUint32(b[12:], r.TimeoutMs)
	binary.BigEndian.PutUint32(b[16:], r.TemplateMs)
	binary.BigEndian.PutUint32(b[20:], r.SP.Seq)
	binary.BigEndian.PutUint32(b[24:], r.SP.TS)
	copy(b[28:44], r.Orig.SrcAddr[:])
	copy(b[44:60], r.Orig.DstAddr[:])
	copy(b[60:76], r.Reply.SrcAddr[:])
	copy(b[76:92], r.Reply.DstAddr[:])
	binary.BigEndian.PutUint16(b[92:], r.Orig.SrcPort)
	binary.BigEndian.PutUint16(b[94:], r.Orig.DstPort)
	binary.BigEndian.PutUint16(b[96:], r.Reply.SrcPort)
	binary.BigEndian.PutUint16(b[98:], r.Reply.DstPort)
	binary.BigEndian.PutUint64(b[100:], uint64(r.Exported))
	binary.BigEndian.PutUint32(b[108:], r.PPAt)
}

// Result says whether Decode took a record, and if not, why.
type Result uint8

const (
	OK        Result = iota
	Short            // fewer than Size bytes
	BadKind          // an unknown kind
	BadProto         // neither TCP nor UDP
	BadFamily        // a tuple mixing IPv4 and IPv6, or an IPv4 client with an IPv6 server
	BadMethod        // an unknown forwarding method, or NAT64 without FULLNAT
	BadState         // an unknown state, or one of the other protocol
	BadField         // reserved bytes set, unknown flags, a window scale beyond 14
	NumResults
)

var resultNames = [NumResults]string{"ok", "short", "bad_kind", "bad_proto", "bad_family", "bad_method", "bad_state", "bad_field"}

func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return "unknown"
}

// Decode reads a record from b[:Size] into r and checks it.
func Decode(b []byte, r *Record) Result {
	if len(b) < Size {
		return Short
	}
	b = b[:Size]
	*r = Record{Kind: Kind(b[0]), Method: b[2], State: b[3], Flags: Flags(b[4]),
		SP: SP{Flags: b[5], ClientWS: b[6], ProxyWS: b[7], ServerWS: b[8]}}
	r.Orig.Proto, r.Reply.Proto = b[1], b[1]
	r.TimeoutMs = binary.BigEndian.Uint32(b[12:])
	r.TemplateMs = binary.BigEndian.Uint32(b[16:])
	r.SP.Seq = binary.BigEndian.Uint32(b[20:])
	r.SP.TS = binary.BigEndian.Uint32(b[24:])
	r.Orig.SrcAddr = header.Addr(b[28:44])
	r.Orig.DstAddr = header.Addr(b[44:60])
	r.Reply.SrcAddr = header.Addr(b[60:76])
	r.Reply.DstAddr = header.Addr(b[76:92])
	r.Orig.SrcPort = binary.BigEndian.Uint16(b[92:])
	r.Orig.DstPort = binary.BigEndian.Uint16(b[94:])
	r.Reply.SrcPort = binary.BigEndian.Uint16(b[96:])
	r.Reply.DstPort = binary.BigEndian.Uint16(b[98:])
	r.Exported = int64(binary.BigEndian.Uint64(b[100:]))
	r.PPAt = binary.BigEndian.Uint32(b[108:])
	return r.check(b)
}

func (r *Record) check(b []byte) Result {
	switch {
	case r.Kind != KindConn && r.Kind != KindClosed:
		return BadKind
	case r.Orig.Proto != header.ProtocolTCP && r.Orig.Proto != header.ProtocolUDP:
		return BadProto
	case r.Orig.SrcAddr.Is4() != r.Orig.DstAddr.Is4() || r.Reply.SrcAddr.Is4() != r.Reply.DstAddr.Is4() ||
		r.Orig.SrcAddr.Is4() && !r.Reply.SrcAddr.Is4():
		return BadFamily
	case r.Method > maxMethod || r.Orig.SrcAddr.Is4() != r.Reply.SrcAddr.Is4() && r.Method != maxMethod:
		return BadMethod
	case r.State > maxState || (r.State == maxState) != (r.Orig.Proto == header.ProtocolUDP):
		return BadState
	case b[9]|b[10]|b[11] != 0 || r.Flags&^flagsAll != 0 || r.Flags&FlagPP == 0 && r.PPAt != 0 ||
		r.SP.ClientWS > maxWS || r.SP.ProxyWS > maxWS || r.SP.ServerWS > maxWS:
		return BadField
	}
	return OK
}
